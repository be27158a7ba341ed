"""Per-class decision thresholds that maximise dev F1, in numpy; used by training's calibration and the baselines."""

from __future__ import annotations

import numpy as np

from xinfang.schema import Head, HeadKind


def roc_auc(y: np.ndarray, scores: np.ndarray) -> float:
    """Area under the ROC curve of one 0/1 column (rank statistic, ties counted half); needs both classes."""
    y = np.asarray(y).astype(bool)
    n_pos = int(y.sum())
    n_neg = len(y) - n_pos
    if n_pos == 0 or n_neg == 0:
        raise ValueError("roc_auc needs positive and negative examples")
    _, inverse, counts = np.unique(np.asarray(scores, dtype=np.float64), return_inverse=True, return_counts=True)
    ranks = (np.cumsum(counts) - (counts - 1) / 2.0)[inverse]  # 1-based, ties get their average rank
    return float((ranks[y].sum() - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg))


def fit_decision_thresholds(head: Head, probs: np.ndarray, y: np.ndarray, min_positives: int = 5,
                            min_auc: float = 0.6) -> list[float]:
    """Per-class probability thresholds maximising dev F1; 0.5 where dev has too few positives or the
    class is not separated at all (AUC < min_auc), where an F1-optimal threshold would flag everything."""
    if head.kind is HeadKind.single_label:
        return []
    grid = np.linspace(0.1, 0.9, 33)
    out = []
    for j in range(head.n_outputs):
        pos = y[:, j].sum()
        if pos < min_positives or pos == len(y) or roc_auc(y[:, j], probs[:, j]) < min_auc:
            out.append(0.5)
            continue
        best, best_t = -1.0, 0.5
        for t in grid:
            pred = probs[:, j] >= t
            tp = float((pred & (y[:, j] == 1)).sum())
            f1 = 2 * tp / max(pred.sum() + pos, 1.0)
            if f1 > best + 1e-9:
                best, best_t = f1, float(t)
        out.append(round(best_t, 4))
    return out
