"""base_card.json: what a base folder holds, where it came from, and whether production may use it."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from xinfang.training.bases.registry import BaseInfo

CARD = "base_card.json"
REQUIRED_KEYS = ("name", "licence", "licence_note", "source", "source_sha256", "pooling", "max_position",
                 "vocab", "production_use_allowed")


def make_card(info: BaseInfo, source: list[dict[str, Any]], source_sha256: dict[str, str],
              vocab_original: int, vocab_trimmed: int | None, max_position: int | None = None,
              **extra: Any) -> dict[str, Any]:
    """The card of a registered base; source lists {requirement, wheel, files}, sha256 is keyed by wheel.

    max_position is the converted model's own (position table rows), defaulting to the registry's.
    """
    return {
        "name": info.name,
        "licence": info.licence,
        "licence_note": info.licence_note,
        "source": source,
        "source_sha256": source_sha256,
        "pooling": info.pooling,
        "max_position": info.max_position if max_position is None else max_position,
        "vocab": {"original": vocab_original, "trimmed": vocab_trimmed},
        "production_use_allowed": info.production_use_allowed,
        "description": info.description,
        "created_utc": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        **extra,
    }


def write_card(folder: Path, card: dict[str, Any]) -> Path:
    missing = [k for k in REQUIRED_KEYS if k not in card]
    if missing:
        raise ValueError(f"base card lacks {missing}")
    path = folder / CARD
    path.write_text(json.dumps(card, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    return path


def read_card(folder: Path) -> dict[str, Any] | None:
    """The folder's card, or None when absent or unreadable."""
    try:
        card = json.loads((folder / CARD).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return card if isinstance(card, dict) else None
