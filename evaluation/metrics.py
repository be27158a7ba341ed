"""Per-head quality figures: accuracy, macro/micro precision-recall-F1, per-class table, confusion, ECE."""

from __future__ import annotations

import numpy as np
from sklearn.metrics import confusion_matrix, precision_recall_fscore_support

from xinfang.heads import decisions
from xinfang.schema import Head, HeadKind


def expected_calibration_error(confidence: np.ndarray, correct: np.ndarray, bins: int = 10) -> float:
    """ECE: |accuracy - confidence| averaged over equal-width confidence bins, weighted by bin size."""
    confidence = np.asarray(confidence, dtype=np.float64)
    correct = np.asarray(correct, dtype=np.float64)
    if len(confidence) == 0:
        return float("nan")
    edges = np.linspace(0.0, 1.0, bins + 1)
    which = np.clip(np.digitize(confidence, edges[1:-1]), 0, bins - 1)
    ece = 0.0
    for b in range(bins):
        sel = which == b
        if sel.any():
            ece += sel.mean() * abs(correct[sel].mean() - confidence[sel].mean())
    return float(ece)


def head_metrics(head: Head, y_true: np.ndarray, probs: np.ndarray, thresholds: list[float] | None = None
                 ) -> dict:
    """Figures for one head on letters with a label: y_true is the 0/1 target matrix."""
    y_true = np.asarray(y_true, dtype=np.int8)
    y_pred = decisions(probs, head.kind, thresholds)
    n = len(y_true)
    out: dict = {"n": int(n)}
    if n == 0:
        return out
    ids = head.class_ids
    if head.kind is HeadKind.single_label:
        t, p = y_true.argmax(1), y_pred.argmax(1)
        out["accuracy"] = float((t == p).mean())
        conf = probs.max(axis=1)
        out["ece"] = expected_calibration_error(conf, t == p)
        labels = list(range(len(ids)))
        pr, rc, f1, sup = precision_recall_fscore_support(t, p, labels=labels, zero_division=0)
        for avg in ("macro", "micro"):
            a = precision_recall_fscore_support(t, p, labels=labels, average=avg, zero_division=0)
            out[avg] = {"precision": float(a[0]), "recall": float(a[1]), "f1": float(a[2])}
        out["confusion"] = confusion_matrix(t, p, labels=labels).tolist()
    else:
        out["accuracy"] = float((y_true == y_pred).all(axis=1).mean())  # exact match for multi-label
        if y_true.shape[1] == 1:
            # one yes/no column: scikit-learn reads it as a 0/1 class vector and would report class 0
            # first, so ask for the positive class; its F1 is the figure that matters for a rare class
            pr, rc, f1, sup = precision_recall_fscore_support(y_true[:, 0], y_pred[:, 0], labels=[1],
                                                              zero_division=0)
            positive = {"precision": float(pr[0]), "recall": float(rc[0]), "f1": float(f1[0])}
            out["macro"], out["micro"] = positive, dict(positive)
        else:
            pr, rc, f1, sup = precision_recall_fscore_support(y_true, y_pred, zero_division=0)
            for avg in ("macro", "micro"):
                a = precision_recall_fscore_support(y_true, y_pred, average=avg, zero_division=0)
                out[avg] = {"precision": float(a[0]), "recall": float(a[1]), "f1": float(a[2])}
        side = np.where(y_pred == 1, probs, 1 - probs)
        out["ece"] = expected_calibration_error(side.ravel(), (y_pred == y_true).ravel())
        if head.kind is HeadKind.binary:
            out["confusion"] = confusion_matrix(y_true[:, 0], y_pred[:, 0], labels=[0, 1]).tolist()
    out["per_class"] = {c: {"precision": float(pr[i]), "recall": float(rc[i]), "f1": float(f1[i]),
                            "support": int(sup[i])} for i, c in enumerate(ids)}
    return out
