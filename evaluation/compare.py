"""Two predictors side by side: answer agreement, metric deltas and regressions beyond a tolerance."""

from __future__ import annotations

import numpy as np

from xinfang.heads import decisions
from xinfang.schema import Head

HEAD_FIGURES: tuple[tuple[str, ...], ...] = (("accuracy",), ("macro", "f1"), ("micro", "f1"))


def agreement(
    head: Head, probs_a: np.ndarray, probs_b: np.ndarray, thresholds: list[float] | None = None
) -> dict:
    """Share of letters where both give the same answer, and the largest probability difference."""
    if len(probs_a) == 0:
        return {"n": 0, "agreement": None, "max_abs_diff": None, "mean_abs_diff": None}
    da = decisions(probs_a, head.kind, thresholds)
    db = decisions(probs_b, head.kind, thresholds)
    diff = np.abs(np.asarray(probs_a) - np.asarray(probs_b))
    return {
        "n": int(len(probs_a)),
        "agreement": float((da == db).all(axis=1).mean()),
        "max_abs_diff": float(diff.max()),
        "mean_abs_diff": float(diff.mean()),
    }


def figure(metrics: dict | None, path: tuple[str, ...]) -> float | None:
    """A nested figure such as ('macro', 'f1'), or None when absent."""
    node = metrics
    for key in path:
        if not isinstance(node, dict) or key not in node:
            return None
        node = node[key]
    return float(node) if isinstance(node, int | float) else None


def regressions(
    new: dict, ref: dict, tolerance: float = 0.02, class_tolerance: float = 0.05, min_support: int = 1
) -> list[dict]:
    """Where `new` (one head's head_metrics) is worse than `ref` by more than the tolerance: head
    figures (accuracy, macro-F1, micro-F1) and per-class F1 (classes with at least min_support letters)."""
    out = []
    for path in HEAD_FIGURES:
        a, b = figure(new, path), figure(ref, path)
        if a is not None and b is not None and a < b - tolerance:
            out.append(
                {
                    "level": "head",
                    "figure": "-".join(path),
                    "class": None,
                    "new": a,
                    "ref": b,
                    "delta": a - b,
                    "support": new.get("n"),
                }
            )
    ref_classes = ref.get("per_class", {})
    for cls, row in new.get("per_class", {}).items():
        old = ref_classes.get(cls)
        if old is None or row.get("support", 0) < min_support:
            continue
        if row["f1"] < old["f1"] - class_tolerance:
            out.append(
                {
                    "level": "class",
                    "figure": "f1",
                    "class": cls,
                    "new": row["f1"],
                    "ref": old["f1"],
                    "delta": row["f1"] - old["f1"],
                    "support": row.get("support"),
                }
            )
    return out


def side_by_side(new: dict, ref: dict) -> list[dict]:
    """Rows of (figure, new, ref, delta) for the head figures and ECE."""
    rows = []
    for path in (*HEAD_FIGURES, ("macro", "precision"), ("macro", "recall"), ("ece",)):
        a, b = figure(new, path), figure(ref, path)
        rows.append(
            {"figure": "-".join(path), "new": a, "ref": b, "delta": None if a is None or b is None else a - b}
        )
    return rows


def verdict(model: dict | None, baseline: dict | None, margin: float = 0.005) -> str:
    """'beats', 'ties' or 'loses' on macro-F1 (the positive-class F1 for binary heads); '' if unknown."""
    a, b = figure(model, ("macro", "f1")), figure(baseline, ("macro", "f1"))
    if a is None or b is None:
        return ""
    return "beats" if a > b + margin else "loses" if a < b - margin else "ties"
