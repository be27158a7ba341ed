"""Per-head quality figures in numpy: accuracy, macro/micro precision-recall-F1, per-class table, confusion, ECE."""

from __future__ import annotations

import numpy as np

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


def _ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    """num / den with 0 where den is 0 (scikit-learn's zero_division=0)."""
    num, den = np.asarray(num, dtype=np.float64), np.asarray(den, dtype=np.float64)
    return np.divide(num, den, out=np.zeros_like(num), where=den > 0)


def precision_recall_f1(y_true: np.ndarray, y_pred: np.ndarray) -> dict:
    """Per-class and macro/micro precision, recall, F1 and support from 0/1 matrices (one column per class);
    undefined ratios count as 0, as scikit-learn's precision_recall_fscore_support(zero_division=0)."""
    t, p = np.asarray(y_true, dtype=bool), np.asarray(y_pred, dtype=bool)
    tp, n_pred, n_true = (t & p).sum(axis=0), p.sum(axis=0), t.sum(axis=0)
    per = {"precision": _ratio(tp, n_pred), "recall": _ratio(tp, n_true), "f1": _ratio(2 * tp, n_pred + n_true),
           "support": n_true}
    micro = {"precision": float(_ratio(tp.sum(), n_pred.sum())), "recall": float(_ratio(tp.sum(), n_true.sum())),
             "f1": float(_ratio(2 * tp.sum(), n_pred.sum() + n_true.sum()))}
    macro = {k: float(per[k].mean()) for k in ("precision", "recall", "f1")}
    return {"per_class": per, "macro": macro, "micro": micro}


def confusion(true_idx: np.ndarray, pred_idx: np.ndarray, n_classes: int) -> list[list[int]]:
    """Counts of (true class row, predicted class column)."""
    m = np.zeros((n_classes, n_classes), dtype=np.int64)
    np.add.at(m, (np.asarray(true_idx, dtype=np.int64), np.asarray(pred_idx, dtype=np.int64)), 1)
    return m.tolist()


def head_metrics(head: Head, y_true: np.ndarray, probs: np.ndarray, thresholds: list[float] | None = None
                 ) -> dict:
    """Figures for one head on letters with a label: y_true is the 0/1 target matrix."""
    y_true = np.asarray(y_true, dtype=np.int8)
    y_pred = decisions(probs, head.kind, thresholds)
    n = len(y_true)
    out: dict = {"n": int(n)}
    if n == 0:
        return out
    prf = precision_recall_f1(y_true, y_pred)
    if head.kind is HeadKind.single_label:
        t, p = y_true.argmax(1), y_pred.argmax(1)
        out["accuracy"] = float((t == p).mean())
        out["ece"] = expected_calibration_error(probs.max(axis=1), t == p)
        out["macro"], out["micro"] = prf["macro"], prf["micro"]
        out["confusion"] = confusion(t, p, head.n_outputs)
    else:
        out["accuracy"] = float((y_true == y_pred).all(axis=1).mean())  # exact match for multi-label
        if head.kind is HeadKind.binary:
            # one yes/no column: the positive class's figures are the ones that matter for a rare class
            positive = {k: float(prf["per_class"][k][0]) for k in ("precision", "recall", "f1")}
            out["macro"], out["micro"] = positive, dict(positive)
        else:
            out["macro"], out["micro"] = prf["macro"], prf["micro"]
        side = np.where(y_pred == 1, probs, 1 - probs)
        out["ece"] = expected_calibration_error(side.ravel(), (y_pred == y_true).ravel())
        if head.kind is HeadKind.binary:
            out["confusion"] = confusion(y_true[:, 0], y_pred[:, 0], 2)
    per = prf["per_class"]
    out["per_class"] = {c: {"precision": float(per["precision"][i]), "recall": float(per["recall"][i]),
                            "f1": float(per["f1"][i]), "support": int(per["support"][i])}
                        for i, c in enumerate(head.class_ids)}
    return out
