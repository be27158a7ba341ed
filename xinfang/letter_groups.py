"""Letters that must stay on one side of a split (same submitter, or near-duplicate text across any
source) and grouped, stratified splits and folds built on them."""

from __future__ import annotations

import random
from collections import Counter, defaultdict
from collections.abc import Sequence

import numpy as np

from xinfang.duplicates import UnionFind
from xinfang.labels import LabelledLetter
from xinfang.near_duplicates import new_index


def letter_groups(letters: Sequence[LabelledLetter], threshold: float = 0.8) -> np.ndarray:
    """A group number per letter: letters from one submitter, or whose texts are near-duplicates (MinHash
    Jaccard >= threshold), share a group, transitively. Submitters come from `extra["submitter"]`."""
    uf = UnionFind(len(letters))
    by_submitter: dict[str, int] = {}
    for i, x in enumerate(letters):
        sub = x.extra.get("submitter") if x.extra else None
        if sub:
            if sub in by_submitter:
                uf.union(by_submitter[sub], i)
            else:
                by_submitter[sub] = i
    index = new_index()
    keys = [f"{i}" for i in range(len(letters))]
    for key, x in zip(keys, letters, strict=True):
        index.add(key, x.text)
    for cluster in index.clusters(threshold=threshold, min_size=2):
        first = int(cluster[0])
        for other in cluster[1:]:
            uf.union(first, int(other))
    roots = [uf.find(i) for i in range(len(letters))]
    renumber = {r: n for n, r in enumerate(dict.fromkeys(roots))}
    return np.array([renumber[r] for r in roots], dtype=np.int64)


def grouped_folds(groups: np.ndarray, strata: Sequence[str], k: int, seed: int = 13) -> np.ndarray:
    """A fold number (0..k-1) per letter. Whole groups go to one fold; groups are dealt rarest stratum
    first to the fold that has the fewest letters of that stratum, so every fold sees the rare classes."""
    if k < 2:
        raise ValueError("k must be at least 2")
    members: dict[int, list[int]] = defaultdict(list)
    for i, g in enumerate(groups):
        members[int(g)].append(i)
    freq = Counter(strata)
    # a group's stratum: its rarest member's
    group_stratum = {g: min((strata[i] for i in idx), key=lambda s: (freq[s], s)) for g, idx in members.items()}
    order = list(members)
    random.Random(seed).shuffle(order)
    order.sort(key=lambda g: (freq[group_stratum[g]], -len(members[g])))
    per_stratum = np.zeros((k, len(freq)), dtype=np.int64)
    stratum_no = {s: n for n, s in enumerate(sorted(freq))}
    sizes = np.zeros(k, dtype=np.int64)
    out = np.empty(len(groups), dtype=np.int64)
    for g in order:
        s = stratum_no[group_stratum[g]]
        fold = min(range(k), key=lambda f: (per_stratum[f, s], sizes[f], f))
        per_stratum[fold, s] += len(members[g])
        sizes[fold] += len(members[g])
        out[members[g]] = fold
    return out


def grouped_split(groups: np.ndarray, strata: Sequence[str], fraction: float, seed: int = 13
                  ) -> tuple[np.ndarray, np.ndarray]:
    """(train rows, held-out rows) with about `fraction` of the letters held out, whole groups only."""
    if not 0 < fraction < 1:
        raise ValueError("fraction must be between 0 and 1")
    k = max(2, round(1 / fraction))
    folds = grouped_folds(groups, strata, k, seed)
    held = folds == 0
    return np.nonzero(~held)[0], np.nonzero(held)[0]
