"""Near-copies across a run: a DuplicateIndex of signatures (never texts), per-letter duplicates and
the mass-copy indicator, restored from the signature side file on resume."""

from __future__ import annotations

import hashlib

import numpy as np

from xinfang.duplicates import DuplicateIndex, MinHasher, repeats_by_submitter

MAX_LISTED = 20  # earlier near-copies listed in a result's `duplicates` (the indicator counts them all)
_HASHER_ARGS = {"num_perm": 128, "seed": 20240601, "ngram": 3}  # DuplicateIndex defaults


def new_hasher() -> MinHasher:
    """A MinHasher with the parameters of RunDuplicates' index (for workers that only hash)."""
    return MinHasher(**_HASHER_ARGS)


def submitter_key(submitter: str | None) -> str | None:
    """A pseudonymous key for a submitter: only equality matters, so the id itself is never stored."""
    if submitter is None:
        return None
    return hashlib.sha256(f"xinfang-submitter:{submitter}".encode()).hexdigest()[:20]


def near_duplicate_indicator(count: int, same_submitter: bool) -> dict:
    """The malicious-head indicator of a mass-copied letter. Same keys as a rule span, but it points at no
    text (text "", start = end = -1, source "batch"); `count` earlier near-copies were seen in the run and
    `same_submitter` says whether one of them came from the same submitter."""
    return {"type": "near_duplicate", "text": "", "start": -1, "end": -1, "source": "batch",
            "count": count, "same_submitter": same_submitter}


class RunDuplicates:
    """Near-duplicate bookkeeping for one output file, in the order letters were written."""

    def __init__(self, threshold: float = 0.8):
        self.threshold = threshold
        self.index = DuplicateIndex(**_HASHER_ARGS)

    def __len__(self) -> int:
        return len(self.index)

    def signature(self, text: str) -> np.ndarray:
        return self.index.signature(text)

    def restore(self, letter_id: str, sub_key: str | None, sig: np.ndarray) -> None:
        """Re-index a letter written by an earlier run (its result already carries its duplicates)."""
        self.index.add_signature(letter_id, sig, sub_key)

    def annotate(self, result: dict, sig: np.ndarray, sub_key: str | None) -> None:
        """Fill result['duplicates'] with earlier near-copies, add the mass-copy indicator when the letter
        has at least two earlier near-copies or one from the same submitter, then index the letter."""
        hits = self.index.query_signature(sig, self.threshold, exclude=result["id"])
        result["duplicates"] = [{"id": i, "similarity": s} for i, s in hits[:MAX_LISTED]]
        same = sub_key is not None and any(self.index.submitter_of(i) == sub_key for i, _ in hits)
        if (len(hits) >= 2 or same) and isinstance(result.get("malicious"), dict):
            result["malicious"].setdefault("indicators", []).append(near_duplicate_indicator(len(hits), same))
        self.index.add_signature(result["id"], sig, sub_key)

    def clusters(self) -> list[list[str]]:
        return self.index.clusters(self.threshold)

    def repeat_counts(self) -> list[int]:
        """Letters per submitter who sent two or more, largest first (counts only, no submitter keys)."""
        records = ({"id": i, "submitter": self.index.submitter_of(i)} for i in self.index.ids)
        return [len(ids) for ids in repeats_by_submitter(records).values()]
