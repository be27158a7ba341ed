"""Reliability bins and coverage-against-accuracy curves from a head's confidences."""

from __future__ import annotations

import numpy as np

from xinfang.heads import confidence, decisions
from xinfang.schema import Head, HeadKind


def calibration_points(
    head: Head, y_true: np.ndarray, probs: np.ndarray, thresholds: list[float] | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """(confidence, correct) pairs as xinfang.metrics' ECE counts them: one per letter for a
    single-label head (top probability), one per letter and class otherwise (probability of the
    side chosen)."""
    y_true = np.asarray(y_true)
    pred = decisions(probs, head.kind, thresholds)
    if head.kind is HeadKind.single_label:
        return probs.max(axis=1), y_true.argmax(1) == pred.argmax(1)
    side = np.where(pred == 1, probs, 1 - probs)
    return side.ravel(), (pred == y_true).ravel()


def letter_confidence_correct(
    head: Head, y_true: np.ndarray, probs: np.ndarray, thresholds: list[float] | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Per letter: the head's confidence in its whole answer, and whether the whole answer is right
    (the quantities behind the auto-route threshold)."""
    pred = decisions(probs, head.kind, thresholds)
    return confidence(probs, head.kind, thresholds), (pred == np.asarray(y_true)).all(axis=1)


def reliability_bins(conf: np.ndarray, correct: np.ndarray, bins: int = 10) -> list[dict]:
    """Equal-width confidence bins: count, mean confidence and accuracy of each non-empty bin."""
    conf = np.asarray(conf, dtype=np.float64)
    correct = np.asarray(correct, dtype=np.float64)
    edges = np.linspace(0.0, 1.0, bins + 1)
    which = np.clip(np.digitize(conf, edges[1:-1]), 0, bins - 1)
    out = []
    for b in range(bins):
        sel = which == b
        if sel.any():
            out.append(
                {
                    "lo": float(edges[b]),
                    "hi": float(edges[b + 1]),
                    "n": int(sel.sum()),
                    "confidence": float(conf[sel].mean()),
                    "accuracy": float(correct[sel].mean()),
                }
            )
    return out


def coverage_curve(conf: np.ndarray, correct: np.ndarray, steps: int = 21) -> list[dict]:
    """As the auto-route threshold t moves from 0 to 1: the share of letters with confidence >= t
    (routed automatically) and the accuracy among them."""
    conf = np.asarray(conf, dtype=np.float64)
    correct = np.asarray(correct, dtype=np.float64)
    out = []
    for t in np.linspace(0.0, 1.0, steps):
        sel = conf >= t - 1e-12
        out.append(
            {
                "threshold": round(float(t), 4),
                "coverage": float(sel.mean()) if len(conf) else 0.0,
                "accuracy": float(correct[sel].mean()) if sel.any() else None,
                "n": int(sel.sum()),
            }
        )
    return out


def at_threshold(conf: np.ndarray, correct: np.ndarray, threshold: float | None) -> dict | None:
    """Coverage and accuracy at one threshold (the calibrated auto-route one)."""
    if threshold is None or len(conf) == 0:
        return None
    sel = np.asarray(conf) >= threshold
    return {
        "threshold": float(threshold),
        "coverage": float(sel.mean()),
        "accuracy": float(np.asarray(correct)[sel].mean()) if sel.any() else None,
    }
