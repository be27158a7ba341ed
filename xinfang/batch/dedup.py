"""Near-copies across a run: xinfang.near_duplicates' policy over the letters in the order they were written,
with clusters and repeat-submitter counts for the summary, restored from the signature side file on resume."""

from __future__ import annotations

import numpy as np

from xinfang.duplicates import repeats_by_submitter
from xinfang.near_duplicates import MAX_LISTED, NearDuplicates, near_duplicate_indicator, new_hasher
from xinfang.submitters import SubmitterKeyer

__all__ = ["MAX_LISTED", "RunDuplicates", "near_duplicate_indicator", "new_hasher"]


class RunDuplicates(NearDuplicates):
    """Near-duplicate bookkeeping for one output file; `key` turns submitter ids into keyed hashes."""

    def __init__(self, threshold: float, keyer: SubmitterKeyer):
        super().__init__(threshold)
        self.key = keyer  # submitter id -> keyed hash (HMAC under the deployment secret), None without one

    def restore(self, letter_id: str, sub_key: str | None, sig: np.ndarray) -> None:
        """Re-index a letter written by an earlier run (its result already carries its duplicates)."""
        self.index.add_signature(letter_id, sig, sub_key)

    def clusters(self) -> list[list[str]]:
        return self.index.clusters(self.threshold)

    def repeat_counts(self) -> list[int]:
        """Letters per submitter who sent two or more, largest first (counts only, no submitter keys)."""
        records = ({"id": i, "submitter": self.index.submitter_of(i)} for i in self.index.ids)
        return [len(ids) for ids in repeats_by_submitter(records).values()]

