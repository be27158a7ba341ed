"""A base folder on disk: write config + fp32 safetensors + tokenizer.json, stage it, check it loads."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from xinfang.training.bases.card import CARD, REQUIRED_KEYS, read_card
from xinfang.training.bases.errors import ConversionError

WEIGHTS = "model.safetensors"
FILES = ("config.json", WEIGHTS, "tokenizer.json", CARD)


def is_complete(folder: Path, name: str | None = None) -> bool:
    """True if every file is present and the card (written last) is whole and, if given, for `name`."""
    if not all((folder / f).is_file() for f in FILES):
        return False
    card = read_card(folder)
    return card is not None and all(k in card for k in REQUIRED_KEYS) and (name is None or card["name"] == name)


def _normal_permissions(folder: Path) -> None:
    """mkdtemp and some writers create owner-only files; give the cache the usual umask modes."""
    umask = os.umask(0)
    os.umask(umask)
    for path in [folder, *folder.rglob("*")]:
        path.chmod((0o777 if path.is_dir() else 0o666) & ~umask)


@contextmanager
def staging(target: Path) -> Iterator[Path]:
    """Build in a hidden sibling folder and swap it in only when the block succeeds."""
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.partial-", dir=target.parent))
    try:
        yield tmp
        _normal_permissions(tmp)
        if target.exists():
            old = target.with_name(f".{target.name}.old-{os.getpid()}")
            target.rename(old)
            tmp.rename(target)
            shutil.rmtree(old, ignore_errors=True)
        else:
            tmp.rename(target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def save_weights(folder: Path, state: Mapping[str, np.ndarray]) -> Path:
    """fp32 safetensors in the layout transformers reads."""
    from safetensors.numpy import save_file

    tensors = {k: np.ascontiguousarray(v, dtype=np.float32) for k, v in state.items()}
    path = folder / WEIGHTS
    save_file(tensors, str(path), metadata={"format": "pt"})
    return path


def save_config(folder: Path, config: Mapping[str, Any]) -> Path:
    """config.json through transformers' own config class, so the file matches the installed version."""
    from transformers import AutoConfig

    cfg = dict(config)
    model_type = cfg.pop("model_type", "bert")
    cfg.pop("_name_or_path", None)
    AutoConfig.for_model(model_type, **cfg).save_pretrained(str(folder))
    return folder / "config.json"


def save_tokenizer(folder: Path, tokenizer: bytes | Mapping[str, Any]) -> Path:
    path = folder / "tokenizer.json"
    if isinstance(tokenizer, bytes):
        path.write_bytes(tokenizer)
    else:
        path.write_text(json.dumps(tokenizer, ensure_ascii=False), encoding="utf-8")
    return path


def verify_folder(folder: Path) -> dict[str, Any]:
    """Load with AutoModel and tokenizers; ConversionError on missing/unexpected/mismatched weights."""
    from tokenizers import Tokenizer
    from transformers import AutoModel

    try:
        Tokenizer.from_file(str(folder / "tokenizer.json"))
    except Exception as exc:  # tokenizers raises bare Exception from Rust
        raise ConversionError(f"{folder}/tokenizer.json does not load: {exc}") from exc
    from transformers.utils import logging as hf_logging

    bars = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()
    try:
        model, info = AutoModel.from_pretrained(str(folder), output_loading_info=True)
    except Exception as exc:
        raise ConversionError(f"{folder}: transformers cannot load the converted model: {exc}") from exc
    finally:
        if bars:
            hf_logging.enable_progress_bar()
    problems = {k: list(v) for k, v in info.items() if k in ("missing_keys", "unexpected_keys", "mismatched_keys") and v}
    if problems:
        raise ConversionError(f"{folder}: converted weights do not fit the model: {problems}")
    return {"params": int(sum(p.numel() for p in model.parameters())), "class": type(model).__name__}
