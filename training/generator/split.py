"""Held-out templates: a deterministic ~20% of every template family is used only by split="test".

Within a family, templates are ordered by the SHA-1 of their id and the first
``max(1, round(TEST_FRACTION * n))`` are test-only; the rest serve "train" and "dev". The choice
depends only on the ids (not on file order or hash randomisation), so it is stable across runs and
only changes for a family whose templates are added, removed or re-worded.
"""

from __future__ import annotations

import hashlib

TEST_FRACTION = 0.2
SPLITS = ("train", "dev", "test")


def template_side(split: str) -> str:
    """Which half of the templates a split draws from: "test" or "train" (dev shares train's)."""
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
    return "test" if split == "test" else "train"


def _key(template_id: str) -> str:
    return hashlib.sha1(template_id.encode("utf-8")).hexdigest()


def held_out_ids(ids: list[str], fraction: float = TEST_FRACTION) -> set[str]:
    """The held-out ids of one family; a family needs at least two templates."""
    if len(ids) < 2:
        raise ValueError(f"a template family needs at least 2 templates to hold one out: {ids}")
    k = max(1, round(len(ids) * fraction))
    return set(sorted(ids, key=_key)[:k])
