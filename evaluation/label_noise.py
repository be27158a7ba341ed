"""Confident learning: flag letters whose given label disagrees with confident out-of-sample predictions."""

from __future__ import annotations

import numpy as np

from xinfang.schema import Head, HeadKind


def class_thresholds(labels: np.ndarray, probs: np.ndarray) -> np.ndarray:
    """Per class j: the mean probability of j over the letters labelled j (its self-confidence);
    classes without letters get 1.0 (never confidently predicted)."""
    labels = np.asarray(labels, dtype=int)
    out = np.ones(probs.shape[1])
    for j in range(probs.shape[1]):
        sel = labels == j
        if sel.any():
            out[j] = float(probs[sel, j].mean())
    return out


def find_label_issues(labels: np.ndarray, probs: np.ndarray, min_margin: float = 0.1) -> list[dict]:
    """Letters likely mislabelled (the off-diagonal of the confident joint, Northcutt et al. 2021):
    among the classes whose probability reaches that class's threshold, the most probable one is not
    the given label, and it beats the given label by at least min_margin (so a predictor that says
    0.51 / 0.49 to everything flags nothing). Sorted by margin, largest first."""
    labels = np.asarray(labels, dtype=int)
    probs = np.asarray(probs, dtype=np.float64)
    t = class_thresholds(labels, probs)
    out = []
    for i in range(len(labels)):
        above = np.nonzero(probs[i] >= t - 1e-12)[0]
        if len(above) == 0:
            continue
        j = int(above[np.argmax(probs[i, above])])
        g = int(labels[i])
        if j != g and probs[i, j] - probs[i, g] >= min_margin:
            out.append(
                {
                    "row": i,
                    "given": g,
                    "suggested": j,
                    "given_prob": float(probs[i, g]),
                    "suggested_prob": float(probs[i, j]),
                    "margin": float(probs[i, j] - probs[i, g]),
                }
            )
    out.sort(key=lambda d: -d["margin"])
    return out


def head_label_issues(
    head: Head, y_true: np.ndarray, probs: np.ndarray, min_per_class: int = 2, min_margin: float = 0.1
) -> list[dict]:
    """find_label_issues for any head kind, with class ids: single-label as is; binary and each class
    of a multi-label head as a yes/no problem ('given'/'suggested' are the class id or 'not <id>')."""
    y_true = np.asarray(y_true)
    if len(y_true) == 0:
        return []
    if head.kind is HeadKind.single_label:
        labels = y_true.argmax(1)
        if np.bincount(labels).max() < min_per_class:
            return []
        issues = find_label_issues(labels, probs, min_margin)
        for d in issues:
            d["given"], d["suggested"] = head.class_ids[d["given"]], head.class_ids[d["suggested"]]
        return issues
    out: list[dict] = []
    for j, c in enumerate(head.class_ids):
        yj = y_true[:, j].astype(int)
        if min(int(yj.sum()), int(len(yj) - yj.sum())) < min_per_class:
            continue
        pj = np.stack([1 - probs[:, j], probs[:, j]], axis=1)
        for d in find_label_issues(yj, pj, min_margin):
            d["given"] = c if d["given"] else f"not {c}"
            d["suggested"] = c if d["suggested"] else f"not {c}"
            out.append(d)
    out.sort(key=lambda d: -d["margin"])
    return out
