"""Trim a Unigram tokenizer.json to kept pieces and remap embedding rows to the new ids."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from tokenizers import Tokenizer

from xinfang.training.bases.errors import ConversionError
from xinfang.training.bases.vocab_rules import TrimRules, rule_class_counts, select_ids


@dataclass
class TrimResult:
    """The rewritten tokenizer.json and, for every new id, the old id whose embedding row it takes."""

    tokenizer_json: dict[str, Any]
    old_ids: np.ndarray
    reasons: dict[str, int] = field(default_factory=dict)
    classes: dict[str, int] = field(default_factory=dict)

    def new_id(self, old_id: int) -> int | None:
        hit = np.searchsorted(self.old_ids, old_id)
        return int(hit) if hit < len(self.old_ids) and self.old_ids[hit] == old_id else None


def seen_piece_ids(tokenizer: Tokenizer, texts: Iterable[str], batch: int = 2000) -> set[int]:
    """Ids of every piece the tokenizer produces on the texts (no special tokens)."""
    seen: set[int] = set()
    chunk: list[str] = []
    for text in texts:
        chunk.append(text)
        if len(chunk) == batch:
            for enc in tokenizer.encode_batch(chunk, add_special_tokens=False):
                seen.update(enc.ids)
            chunk = []
    for enc in tokenizer.encode_batch(chunk, add_special_tokens=False):
        seen.update(enc.ids)
    return seen


def _special_ids(tj: dict[str, Any]) -> list[int]:
    ids = [int(t["id"]) for t in tj.get("added_tokens", [])]
    unk = tj["model"].get("unk_id")
    return ids + ([int(unk)] if unk is not None else [])


def _remap_processor(node: Any, remap: dict[int, int]) -> None:
    """Rewrite special-token ids inside a post_processor (Template, Roberta, Bert, Sequence)."""
    if isinstance(node, list):
        for item in node:
            _remap_processor(item, remap)
        return
    if not isinstance(node, dict):
        return
    for spec in (node.get("special_tokens") or {}).values():
        spec["ids"] = [remap[int(i)] for i in spec.get("ids", [])]
    for key in ("sep", "cls"):
        pair = node.get(key)
        if isinstance(pair, list) and len(pair) == 2 and isinstance(pair[1], int):
            pair[1] = remap[pair[1]]
    _remap_processor(node.get("processors"), remap)  # Sequence post-processors


def rewrite_tokenizer(tj: dict[str, Any], keep: Sequence[int]) -> dict[str, Any]:
    """A copy of a Unigram tokenizer.json holding only the kept ids, in their old order."""
    model = tj.get("model", {})
    if model.get("type") != "Unigram":
        raise ConversionError(f"vocabulary trimming needs a Unigram tokenizer, got {model.get('type')!r}")
    remap = {old: new for new, old in enumerate(keep)}
    missing = [i for i in _special_ids(tj) if i not in remap]
    if missing:
        raise ConversionError(f"vocabulary trimming would drop special token ids {missing}")
    out = copy.deepcopy({k: v for k, v in tj.items() if k != "model"})
    out["model"] = {k: v for k, v in model.items() if k != "vocab"}
    out["model"]["vocab"] = [list(model["vocab"][i]) for i in keep]
    if model.get("unk_id") is not None:
        out["model"]["unk_id"] = remap[int(model["unk_id"])]
    for tok in out.get("added_tokens", []):
        tok["id"] = remap[int(tok["id"])]
    _remap_processor(out.get("post_processor"), remap)
    if isinstance(out.get("padding"), dict) and "pad_id" in out["padding"]:
        out["padding"]["pad_id"] = remap[int(out["padding"]["pad_id"])]
    return out


def trim_unigram(tj: dict[str, Any], texts: Iterable[str], rules: TrimRules | None = None) -> TrimResult:
    """Keep specials, pieces seen on texts and rule-selected pieces; returns new tokenizer + id map."""
    rules = rules or TrimRules()
    full = Tokenizer.from_str(json.dumps(tj))
    seen = seen_piece_ids(full, texts)
    vocab = tj["model"]["vocab"]
    keep, reasons = select_ids(vocab, _special_ids(tj), seen, rules)
    new = rewrite_tokenizer(tj, keep)
    try:
        Tokenizer.from_str(json.dumps(new))
    except Exception as exc:  # the tokenizers library raises plain Exception subclasses from Rust
        raise ConversionError(f"trimmed tokenizer.json does not load: {exc}") from exc
    return TrimResult(new, np.asarray(keep, dtype=np.int64), reasons, rule_class_counts(vocab, keep))


def trim_rows(weight: np.ndarray, old_ids: np.ndarray) -> np.ndarray:
    """Embedding matrix whose row i is the old row old_ids[i]."""
    if old_ids.size and int(old_ids.max()) >= weight.shape[0]:
        raise ConversionError(f"kept id {int(old_ids.max())} is outside the {weight.shape[0]}-row embedding")
    return np.ascontiguousarray(weight[old_ids])
