"""Bases that are not registered: a local model folder, or a hub id loaded through transformers."""

from __future__ import annotations

import hashlib
import json
import re
import shutil
from pathlib import Path
from typing import Any

from rich.console import Console

from xinfang.training.bases.card import write_card
from xinfang.training.bases.errors import UnknownBaseError
from xinfang.training.bases.folder import is_complete, staging

_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")
_UNKNOWN_LICENCE = "unknown (not a registered base; check the model's own licence before production use)"


def detect_pooling(folder: Path) -> str:
    """'cls' when a sentence-transformers pooling config asks for it, else 'mean'."""
    try:
        cfg = json.loads((folder / "1_Pooling" / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return "mean"
    return "cls" if cfg.get("pooling_mode_cls_token") and not cfg.get("pooling_mode_mean_tokens") else "mean"


def _card(name: str, source: dict[str, Any], folder: Path) -> dict[str, Any]:
    cfg = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    vocab = int(cfg.get("vocab_size", 0))
    return {
        "name": name, "licence": "unknown", "licence_note": _UNKNOWN_LICENCE, "source": [source],
        "source_sha256": {}, "pooling": detect_pooling(folder),
        "max_position": int(cfg.get("max_position_embeddings", 512)),
        "vocab": {"original": vocab, "trimmed": None}, "production_use_allowed": False,
    }


def _unknown(name: str, registered: list[str], why: str = "") -> UnknownBaseError:
    return UnknownBaseError(
        f"unknown base '{name}'{': ' + why if why else ''}. Registered bases: {', '.join(registered)}; "
        "or give a local model folder (with config.json) or a Hugging Face hub id 'org/name'")


def local_folder(path: Path, cache_root: Path, force: bool, console: Console) -> Path:
    """The folder itself when it has tokenizer.json; else a cached copy with tokenizer.json added."""
    if not (path / "config.json").is_file():
        raise UnknownBaseError(f"{path} is a folder but has no config.json, so it is not a model folder")
    if (path / "tokenizer.json").is_file():
        return path
    tag = hashlib.sha256(str(path.resolve()).encode()).hexdigest()[:10]
    target = cache_root / "local" / f"{path.name}-{tag}"
    if not force and is_complete(target):
        return target
    from transformers import AutoTokenizer

    try:
        tok = AutoTokenizer.from_pretrained(str(path))
    except Exception as exc:  # transformers raises many kinds here
        raise UnknownBaseError(f"{path} has no tokenizer.json and transformers cannot load its tokenizer: {exc}") from exc
    console.print(f"[dim]{path} has no tokenizer.json: copying to {target} and adding one[/dim]")
    with staging(target) as tmp:
        shutil.copytree(path, tmp, dirs_exist_ok=True)
        tok.save_pretrained(str(tmp))
        if not (tmp / "tokenizer.json").is_file():
            raise UnknownBaseError(f"{path}: its tokenizer has no fast (tokenizer.json) form")
        write_card(tmp, _card(path.name, {"path": str(path.resolve())}, tmp))
    return target


def hub_model(name: str, cache_root: Path, force: bool, console: Console, registered: list[str]) -> Path:
    """Download (or read from the local HF cache) a hub model and save it as a plain fp32 folder."""
    target = cache_root / "hub" / name.replace("/", "--")
    if not force and is_complete(target):
        return target
    try:
        import torch
        from transformers import AutoModel, AutoTokenizer

        try:  # the local HF cache first: instant, and works offline
            model = AutoModel.from_pretrained(name, dtype=torch.float32, local_files_only=True)
            tok = AutoTokenizer.from_pretrained(name, local_files_only=True)
        except OSError:
            console.print(f"[dim]{name} is not in the local HF cache; trying the hub[/dim]")
            model = AutoModel.from_pretrained(name, dtype=torch.float32)
            tok = AutoTokenizer.from_pretrained(name)
    except Exception as exc:  # offline, not found, gated: OSError, httpx and hub errors alike
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise _unknown(name, registered, f"not found on the Hugging Face hub or in the local HF cache ({first})") from exc
    console.print(f"[dim]saving {name} to {target}[/dim]")
    with staging(target) as tmp:
        model.save_pretrained(str(tmp), max_shard_size="100GB")
        tok.save_pretrained(str(tmp))
        if not (tmp / "tokenizer.json").is_file():
            raise UnknownBaseError(f"{name}: its tokenizer has no fast (tokenizer.json) form")
        write_card(tmp, _card(name, {"hub_id": name}, tmp))
    return target


def resolve_unregistered(name: str, cache_root: Path, force: bool, console: Console, registered: list[str]) -> Path:
    path = Path(name).expanduser()
    if path.is_dir():
        return local_folder(path, cache_root, force, console)
    if path.exists():
        raise _unknown(name, registered, "it is a file, not a model folder")
    if _HUB_ID.match(name):
        return hub_model(name, cache_root, force, console, registered)
    raise _unknown(name, registered)
