"""The review queues: letters routed to a person, letters where the model and a human label disagree, and
the uncertain letters picked for labelling (xinfang.uncertainty, the same choice as `review export`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from xinfang.schema import Schema
from xinfang.serving.review.answers import label_text, model_value, probabilities, same_label
from xinfang.serving.review.models import ReviewCorrection, ReviewLetter
from xinfang.uncertainty import select_uncertain

QUEUES = {
    "human": "转人工 (routed to a person)",
    "disagree": "模型与人工标注不一致 (model and human label disagree)",
    "uncertain": "待标注：模型最不确定 (uncertain, to label next)",
}


@dataclass
class QueueItem:
    letter_id: str
    reasons: list[str]
    reviewed: bool
    route: str
    added_at: Any = None
    extra: dict[str, Any] = field(default_factory=dict)


def disagreements(schema: Schema, letter: ReviewLetter, current: list[ReviewCorrection]) -> list[str]:
    """Where a human label (the one the letter came with, or a reviewer's current one) differs from the
    model's answer; a letter stays in the queue once reviewed, so the queue's order holds."""
    given = letter.given_labels or {}
    corrected = {c.head: c.value for c in current}
    out = []
    for head in schema.heads:
        model = model_value(head, letter.result.get(head.name))
        for who, labels in (("标注", given), ("审阅", corrected)):
            if head.name in labels and not same_label(head, labels[head.name], model):
                out.append(f"{head.name}: {who} {label_text(head, labels[head.name])} / 模型 {label_text(head, model)}")
    return out


def build_queue(name: str, schema: Schema, calibration: dict, letters: list[ReviewLetter],
                corrections: list[ReviewCorrection], n_uncertain: int = 20) -> list[QueueItem]:
    """The letters of one queue with their reasons, in a stable order (reviewing a letter leaves it in place,
    so next/previous keep working); the uncertain letters are chosen among those that came without labels."""
    by_letter: dict[str, list[ReviewCorrection]] = {}
    for c in corrections:
        by_letter.setdefault(c.letter_id, []).append(c)
    items: list[QueueItem] = []
    if name == "human":
        items = [QueueItem(x.letter_id, list(x.result.get("route", {}).get("reasons") or []),
                           x.letter_id in by_letter, x.route, x.added_at) for x in letters if x.route == "human"]
    elif name == "disagree":
        for x in letters:
            why = disagreements(schema, x, by_letter.get(x.letter_id, []))
            if why:
                items.append(QueueItem(x.letter_id, why, x.letter_id in by_letter, x.route, x.added_at))
    elif name == "uncertain":
        pool = [x for x in letters if not x.given_labels]
        if pool:
            probs = {h.name: np.stack([probabilities(h, x.result.get(h.name)) for x in pool]) for h in schema.heads}
            items = [QueueItem(pool[i].letter_id, [why], pool[i].letter_id in by_letter, pool[i].route,
                               pool[i].added_at)
                     for i, why in select_uncertain(schema, probs, calibration, n_uncertain)]
    else:
        raise KeyError(name)
    return items
