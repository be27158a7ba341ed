"""Calibration on dev: a temperature per head, per-class decision thresholds, and an auto-route
confidence threshold chosen so that routed-automatically letters meet a target precision."""

from __future__ import annotations

import numpy as np
from scipy.optimize import minimize_scalar

from xinfang.heads import confidence, decisions, probabilities
from xinfang.schema import Head, HeadKind
from xinfang.thresholds import fit_decision_thresholds


def _nll(head: Head, logits: np.ndarray, y: np.ndarray, temperature: float) -> float:
    p = np.clip(probabilities(logits, head.kind, temperature), 1e-7, 1 - 1e-7)
    if head.kind is HeadKind.single_label:
        return float(-np.log(p[np.arange(len(y)), y.argmax(1)]).mean())
    return float(-(y * np.log(p) + (1 - y) * np.log(1 - p)).mean())


def fit_temperature(head: Head, logits: np.ndarray, y: np.ndarray) -> float:
    """Temperature minimising dev negative log-likelihood (1.0 when there is nothing to fit)."""
    if len(y) < 5:
        return 1.0
    res = minimize_scalar(lambda lt: _nll(head, logits, y, float(np.exp(lt))), bounds=(-3.0, 3.0),
                          method="bounded")
    return float(np.exp(res.x))


def fit_route_threshold(head: Head, probs: np.ndarray, y: np.ndarray, thresholds: list[float],
                        target_precision: float) -> dict:
    """Lowest confidence at which letters above it are answered right at least `target_precision`
    of the time on dev; letters below go to a human. Returns the threshold and its dev coverage."""
    conf = confidence(probs, head.kind, thresholds)
    correct = (decisions(probs, head.kind, thresholds) == y).all(axis=1)
    order = np.argsort(-conf, kind="stable")
    cum_acc = np.cumsum(correct[order]) / np.arange(1, len(order) + 1)
    ok = np.nonzero(cum_acc >= target_precision)[0]
    if len(y) == 0 or len(ok) == 0:
        return {"threshold": 1.0, "coverage": 0.0, "precision": None, "target_precision": target_precision}
    k = int(ok.max())
    return {"threshold": round(float(conf[order][k]), 6), "coverage": round((k + 1) / len(y), 4),
            "precision": round(float(cum_acc[k]), 4), "target_precision": target_precision}


def calibrate_head(head: Head, logits: np.ndarray, y: np.ndarray, target_precision: float) -> dict:
    """Everything the engine needs to turn this head's logits into calibrated, routed answers."""
    temperature = fit_temperature(head, logits, y)
    probs = probabilities(logits, head.kind, temperature)
    thresholds = fit_decision_thresholds(head, probs, y)
    route = fit_route_threshold(head, probs, y, thresholds or None, target_precision)
    return {"temperature": round(temperature, 6), "decision_thresholds": thresholds, "route": route,
            "n_dev": int(len(y))}
