"""The near-duplicate policy shared by the API and the batch job: MinHash parameters, what a result's
`duplicates` lists, and when the malicious head gets the `near_duplicate` indicator."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from xinfang.duplicates import DuplicateIndex, MinHasher
from xinfang.result import MALICIOUS_HEAD, Duplicate, LetterResult, MaliciousAnswer, NearDuplicateIndicator

HASHER_ARGS = {"num_perm": 128, "seed": 20240601, "ngram": 3}  # change them and stored signatures stop matching
MAX_LISTED = 20  # earlier near-copies listed in a result's `duplicates`, best first (the indicator counts all)
MASS_COPY_MIN = 2  # earlier near-copies that make a letter a mass copy, whoever sent them


def new_hasher() -> MinHasher:
    """A MinHasher with the policy's parameters (for workers that only hash)."""
    return MinHasher(**HASHER_ARGS)


LSH_RECALL = 0.999  # least chance that a pair at exactly the threshold shares a band (becomes a candidate)
MAX_BANDS = 64  # band keys carry the band number in 6 bits


def lsh_bands(threshold: float = 0.8, num_perm: int = HASHER_ARGS["num_perm"]) -> int:
    """LSH bands sized from the threshold: the fewest bands (the most rows per band, so the fewest unrelated
    candidates) for which a pair at Jaccard `threshold` shares a band with chance at least LSH_RECALL
    (0.8 -> 32 bands of 4 rows, 0.9 -> 16 of 8, 0.5 -> 64 of 2)."""
    for bands in (b for b in range(1, MAX_BANDS + 1) if num_perm % b == 0):
        rows = num_perm // bands
        if 1 - (1 - threshold ** rows) ** bands >= LSH_RECALL:
            return bands
    return max(b for b in range(1, MAX_BANDS + 1) if num_perm % b == 0)


def new_index(threshold: float = 0.8) -> DuplicateIndex:
    """An empty DuplicateIndex with the policy's parameters, its bands sized from the threshold."""
    return DuplicateIndex(bands=lsh_bands(threshold), **HASHER_ARGS)


def near_duplicate_indicator(count: int, same_submitter: bool) -> NearDuplicateIndicator:
    """The malicious-head indicator of a mass-copied letter. Same keys as a rule span, but it points at no
    text (text "", start = end = -1, source "duplicates"); `count` earlier near-copies were seen and
    `same_submitter` says whether one of them came from the same submitter."""
    return NearDuplicateIndicator(count=count, same_submitter=same_submitter)


@dataclass(frozen=True)
class Finding:
    """Earlier near-copies of one letter, best first (ties: the earlier letter first)."""

    hits: list[tuple[str, float]]
    same_submitter: bool

    @property
    def mass_copy(self) -> bool:
        return len(self.hits) >= MASS_COPY_MIN or self.same_submitter

    def apply(self, result: LetterResult) -> None:
        """Write the finding into a result: `duplicates` (at most MAX_LISTED, {id, similarity}) and, for a
        mass copy, the near_duplicate indicator appended to the malicious head's indicators."""
        result.duplicates = [Duplicate(id=i, similarity=s) for i, s in self.hits[:MAX_LISTED]]
        malicious = result.heads.get(MALICIOUS_HEAD)
        if self.mass_copy and isinstance(malicious, MaliciousAnswer):
            malicious.indicators.append(near_duplicate_indicator(len(self.hits), self.same_submitter))


class NearDuplicates:
    """The policy over one index: each letter is compared with every letter indexed before it.

    `annotate` finds and applies, then indexes the letter. A caller that must not index letters until they
    are durably stored (the API) passes `staged`, a second index holding the letters of the current batch:
    a letter is compared with both, as if they were one index, and `commit(staged)` moves them over later.
    """

    def __init__(self, threshold: float = 0.8, index: DuplicateIndex | None = None):
        self.threshold = threshold
        self.index = index if index is not None else new_index(threshold)

    def __len__(self) -> int:
        return len(self.index)

    def __contains__(self, letter_id: object) -> bool:
        return letter_id in self.index

    def signature(self, text: str) -> np.ndarray:
        return self.index.signature(text)

    def add(self, letter_id: str, sig: np.ndarray, sub_key: str | None) -> bool:
        """Index a letter unless its id is indexed already (the first letter of an id wins); True if added."""
        if letter_id in self.index:
            return False
        self.index.add_signature(letter_id, sig, sub_key)
        return True

    def find(self, letter_id: str, sig: np.ndarray, sub_key: str | None,
             staged: DuplicateIndex | None = None) -> Finding:
        """Earlier near-copies of a letter (itself, by id, left out) in the index and then in `staged`."""
        found: list[tuple[str, float, str | None]] = []
        for index in (self.index, staged):
            if index is not None:
                found += [(i, s, index.submitter_of(i))
                          for i, s in index.query_signature(sig, self.threshold, exclude=letter_id)]
        found.sort(key=lambda hit: -hit[1])  # stable: equal similarities keep the order letters were indexed
        same = sub_key is not None and any(sub == sub_key for _, _, sub in found)
        return Finding([(i, s) for i, s, _ in found], same)

    def annotate(self, result: LetterResult, sig: np.ndarray, sub_key: str | None,
                 staged: DuplicateIndex | None = None) -> Finding:
        """Find, apply to the result (keyed by its id) and index the letter (in `staged` if given)."""
        letter_id = result.id
        finding = self.find(letter_id, sig, sub_key, staged)
        finding.apply(result)
        if staged is None:
            self.add(letter_id, sig, sub_key)
        elif letter_id not in self.index and letter_id not in staged:
            staged.add_signature(letter_id, sig, sub_key)
        return finding

    def stage(self) -> DuplicateIndex:
        """An empty index for the letters of one batch, to pass to annotate and then commit."""
        return DuplicateIndex(self.index.hasher.num_perm, self.index.bands, self.index.hasher.seed,
                              self.index.hasher.ngram)

    def commit(self, staged: DuplicateIndex) -> None:
        """Index the staged letters, in the order they were staged."""
        for letter_id in staged.ids:
            self.add(letter_id, staged.signature_of(letter_id), staged.submitter_of(letter_id))
