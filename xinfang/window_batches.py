"""Running a model over token windows in length-sorted, padded batches; results come back in input order."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

BatchRunner = Callable[[np.ndarray, np.ndarray], dict[str, np.ndarray]]


def pad_windows(windows: Sequence[Sequence[int]], pad_id: int) -> tuple[np.ndarray, np.ndarray]:
    """(input_ids, attention_mask) int64 arrays, padded to the longest window."""
    n = max(len(w) for w in windows)
    ids = np.full((len(windows), n), pad_id, dtype=np.int64)
    mask = np.zeros((len(windows), n), dtype=np.int64)
    for r, w in enumerate(windows):
        ids[r, : len(w)] = w
        mask[r, : len(w)] = 1
    return ids, mask


def run_length_sorted(windows: Sequence[Sequence[int]], pad_id: int, run: BatchRunner, max_batch: int,
                      batch_tokens: int | None = None) -> dict[str, np.ndarray]:
    """Outputs of `run` for every window, batching windows of similar length so little padding is
    computed; with batch_tokens, a batch holds at most that many (padded) tokens."""
    order = np.argsort([len(w) for w in windows], kind="stable")
    parts: dict[str, list[np.ndarray]] = {}
    i = 0
    while i < len(order):
        size = max_batch
        if batch_tokens:
            longest = len(windows[order[min(i + max_batch, len(order)) - 1]])
            size = max(1, min(max_batch, batch_tokens // max(longest, 1)))
        idx = order[i: i + size]
        for name, out in run(*pad_windows([windows[j] for j in idx], pad_id)).items():
            parts.setdefault(name, []).append(out)
        i += len(idx)
    inverse = np.argsort(order, kind="stable")
    return {n: np.concatenate(p)[inverse] for n, p in parts.items()}
