"""Figures on hand-labelled real letters (jijian) in the terms of the real-letter quality targets: in scope
or not, primary topic, credibility signals and their spans, rare heads as rankings, calibration."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from xinfang.heads import decisions, multi_label_answer, primary_rank, target_matrix
from xinfang.labels import LabelledLetter
from xinfang.metrics import head_metrics, precision_recall_f1
from xinfang.schema import Head, HeadKind, Schema
from xinfang.thresholds import roc_auc

OUT_OF_SCOPE = "out_of_scope"
MIN_CLASS_LETTERS = 13  # primary-topic classes with fewer letters are left out of the macro-F1 target


def primary_topics(head: Head, probs: np.ndarray, calibration: Mapping) -> list[str]:
    """The engine's primary topic per letter (xinfang.heads.multi_label_answer with the head's calibrated
    thresholds and primary ranking); none chosen = out of scope."""
    chosen = decisions(probs, head.kind, calibration.get("decision_thresholds") or None)
    exclusive = {c.id for c in head.classes if c.exclusive}
    return [multi_label_answer(p, c, head.class_ids, exclusive, primary_rank(p, calibration.get("primary")))[1]
            or OUT_OF_SCOPE for p, c in zip(probs, chosen, strict=True)]


def topic_figures(letters: Sequence[LabelledLetter], predicted: Sequence[str]) -> dict[str, Any]:
    """In scope or not, and primary topic accuracy and macro-F1 over the classes with enough letters."""
    rows = [i for i, x in enumerate(letters) if (x.extra or {}).get("topic_primary")]
    gold = [letters[i].extra["topic_primary"] for i in rows]
    pred = [predicted[i] for i in rows]
    if not rows:
        return {}
    classes = sorted(c for c, n in Counter(gold).items() if n >= MIN_CLASS_LETTERS)
    per = precision_recall_f1(np.array([[x == c for c in classes] for x in gold]),
                              np.array([[x == c for c in classes] for x in pred]))["per_class"]["f1"]
    f1s = {c: round(float(f), 4) for c, f in zip(classes, per, strict=True)}
    in_g = np.array([x != OUT_OF_SCOPE for x in gold])
    in_p = np.array([x != OUT_OF_SCOPE for x in pred])
    return {"n": len(rows), "in_scope_accuracy": round(float((in_g == in_p).mean()), 4),
            "in_scope_majority": round(float(max(in_g.mean(), 1 - in_g.mean())), 4),
            "primary_accuracy": round(float(np.mean([a == b for a, b in zip(gold, pred, strict=True)])), 4),
            "primary_macro_f1": round(float(np.mean(list(f1s.values()))), 4), "primary_f1": f1s}


def span_overlap(letters: Sequence[LabelledLetter], spans: Sequence[Sequence[dict]], agreed_only: bool = False
                 ) -> dict[str, float]:
    """Character overlap between predicted and annotated credibility spans, per signal, micro-averaged.
    `agreed_only` counts only the signals both found and annotated: how well spans are placed, apart from
    whether the signal was detected."""
    tp = n_pred = n_gold = 0
    for x, found in zip(letters, spans, strict=True):
        gold = (x.extra or {}).get("spans") or {}
        if "credibility" not in x.labels:
            continue
        predicted = {s["type"] for s in found}
        for signal in (predicted & set(gold)) if agreed_only else (predicted | set(gold)):
            g = set(range(gold[signal]["start"], gold[signal]["end"])) if signal in gold else set()
            p = {i for s in found if s["type"] == signal for i in range(s["start"], s["end"])}
            tp += len(g & p)
            n_pred += len(p)
            n_gold += len(g)
    prec = tp / n_pred if n_pred else 0.0
    rec = tp / n_gold if n_gold else 0.0
    return {"precision": round(prec, 4), "recall": round(rec, 4),
            "f1": round(2 * prec * rec / (prec + rec), 4) if prec + rec else 0.0}


def rare_head_figures(y: np.ndarray, score: np.ndarray, flagged: np.ndarray, top_share: float = 0.1) -> dict:
    """A rare binary head as a ranking: flag rate, AUC and how many labelled positives rank in the top 10%."""
    y = np.asarray(y, dtype=bool)
    order = np.argsort(-score, kind="stable")
    top = np.zeros(len(y), dtype=bool)
    top[order[: max(1, int(np.ceil(top_share * len(y))))]] = True
    return {"n": int(len(y)), "positives": int(y.sum()), "flag_rate": round(float(np.mean(flagged)), 4),
            "auc": round(roc_auc(y, score), 4) if 0 < y.sum() < len(y) else None,
            "positives_in_top_10pct": int((top & y).sum()),
            "flagged_positives": int((np.asarray(flagged, dtype=bool) & y).sum())}


def head_figures(schema: Schema, letters: Sequence[LabelledLetter], probs: dict[str, np.ndarray],
                 calibration: dict) -> dict[str, Any]:
    """Per-head metrics (macro/micro-F1, ECE) and the rare-head rankings, each on the letters labelled for it."""
    out: dict[str, Any] = {}
    for head in schema.heads:
        if head.name not in probs:
            continue
        rows = [i for i, x in enumerate(letters) if head.name in x.labels]
        if not rows:
            continue
        y = target_matrix(head, [letters[i].labels[head.name] for i in rows])
        thr = (calibration.get(head.name) or {}).get("decision_thresholds") or None
        p = probs[head.name][rows]
        out[head.name] = head_metrics(head, y, p, thr)
        if head.kind is HeadKind.binary:
            out[head.name]["ranking"] = rare_head_figures(y[:, 0], p[:, 0], decisions(p, head.kind, thr)[:, 0])
    return out
