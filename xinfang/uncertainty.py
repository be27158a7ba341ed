"""Active learning: the letters whose labels would teach the next training run most — where the model is
least sure of a decision, and where it predicts a class it rarely predicts."""

from __future__ import annotations

import numpy as np

from xinfang.heads import decisions
from xinfang.schema import HeadKind, Schema

RARE_SHARE = 0.05  # a class predicted for fewer than this share of the letters is a rare prediction


def decision_margins(schema: Schema, probs: dict[str, np.ndarray], calibration: dict) -> dict[str, np.ndarray]:
    """Per head, each letter's distance from its nearest decision: the gap between the two likeliest classes
    (single-label), else the smallest |probability - threshold| over the classes."""
    out = {}
    for head in schema.heads:
        p = probs[head.name]
        if head.kind is HeadKind.single_label:
            top2 = np.sort(p, axis=1)[:, -2:] if p.shape[1] > 1 else np.c_[np.zeros(len(p)), p]
            out[head.name] = top2[:, 1] - top2[:, 0]
        else:
            thr = np.asarray((calibration.get(head.name) or {}).get("decision_thresholds") or [0.5] * p.shape[1])
            out[head.name] = np.abs(p - thr[None, :]).min(axis=1)
    return out


def rare_predictions(schema: Schema, probs: dict[str, np.ndarray], calibration: dict) -> list[list[str]]:
    """Per letter, the 'head=class' decisions that the model makes for fewer than RARE_SHARE of the letters."""
    out: list[list[str]] = [[] for _ in range(len(next(iter(probs.values()))) if probs else 0)]
    for head in schema.heads:
        thr = (calibration.get(head.name) or {}).get("decision_thresholds") or None
        chosen = decisions(probs[head.name], head.kind, thr)
        share = chosen.mean(axis=0)
        for j in np.nonzero((share > 0) & (share < RARE_SHARE))[0]:
            for i in np.nonzero(chosen[:, j])[0]:
                out[int(i)].append(f"{head.name}={head.class_ids[int(j)]}")
    return out


def select_uncertain(schema: Schema, probs: dict[str, np.ndarray], calibration: dict, n: int
                     ) -> list[tuple[int, str]]:
    """(letter row, reason) of the n letters to label next: half from rare predictions, least sure first,
    the rest by the smallest decision margin over all heads."""
    margins = decision_margins(schema, probs, calibration)
    names = list(margins)
    m = np.stack([margins[h] for h in names], axis=1)
    least = m.min(axis=1)
    which = m.argmin(axis=1)
    rare = rare_predictions(schema, probs, calibration)
    chosen: list[tuple[int, str]] = []
    taken: set[int] = set()
    for i in sorted((i for i, r in enumerate(rare) if r), key=lambda i: (least[i], i))[: n // 2]:
        chosen.append((i, f"rare prediction {', '.join(rare[i])}; margin {least[i]:.2f} ({names[which[i]]})"))
        taken.add(i)
    for i in np.argsort(least, kind="stable"):
        if len(chosen) >= n:
            break
        if int(i) not in taken:
            chosen.append((int(i), f"uncertain {names[which[i]]}: margin {least[i]:.2f}"))
    return chosen
