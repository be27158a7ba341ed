"""Top confusions of a head, each with the rows of the letters behind it (most confident first)."""

from __future__ import annotations

import numpy as np

from xinfang.heads import decisions
from xinfang.schema import Head, HeadKind


def top_confusions(
    head: Head, y_true: np.ndarray, probs: np.ndarray, thresholds: list[float] | None = None, limit: int = 8
) -> list[dict]:
    """Most frequent errors. Single-label: (true, predicted) class pairs. Multi-label and binary: per
    class, 'missed' (labelled, not predicted) and 'extra' (predicted, not labelled). Each entry has
    its count and the rows of its letters, ordered by the model's probability for the wrong answer."""
    y_true = np.asarray(y_true)
    pred = decisions(probs, head.kind, thresholds)
    ids = head.class_ids
    found: list[dict] = []
    if head.kind is HeadKind.single_label:
        t, p = y_true.argmax(1), pred.argmax(1)
        for a in range(len(ids)):
            for b in range(len(ids)):
                rows = np.nonzero((t == a) & (p == b))[0]
                if a != b and len(rows):
                    order = rows[np.argsort(-probs[rows, b], kind="stable")]
                    found.append(
                        {
                            "kind": "confused",
                            "true": ids[a],
                            "pred": ids[b],
                            "count": int(len(rows)),
                            "rows": order.tolist(),
                        }
                    )
    else:
        for j, c in enumerate(ids):
            missed = np.nonzero((y_true[:, j] == 1) & (pred[:, j] == 0))[0]
            extra = np.nonzero((y_true[:, j] == 0) & (pred[:, j] == 1))[0]
            if len(missed):
                order = missed[np.argsort(probs[missed, j], kind="stable")]
                found.append(
                    {
                        "kind": "missed",
                        "true": c,
                        "pred": None,
                        "count": int(len(missed)),
                        "rows": order.tolist(),
                    }
                )
            if len(extra):
                order = extra[np.argsort(-probs[extra, j], kind="stable")]
                found.append(
                    {
                        "kind": "extra",
                        "true": None,
                        "pred": c,
                        "count": int(len(extra)),
                        "rows": order.tolist(),
                    }
                )
    found.sort(key=lambda f: (-f["count"], f["true"] or "", f["pred"] or ""))
    return found[:limit]
