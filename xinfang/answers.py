"""The head answers of one letter: from calibrated probabilities, with the credibility score and evidence and
the malicious indicators from the rule signals."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from xinfang.credibility import present_signals, span
from xinfang.heads import confidence, decisions, multi_label_answer, primary_rank
from xinfang.ngram_model import NgramModel
from xinfang.result import (
    Answer,
    BinaryAnswer,
    CredibilityAnswer,
    MaliciousAnswer,
    MultiLabelAnswer,
    SingleLabelAnswer,
    answer_model,
)
from xinfang.schema import Head, HeadKind, Schema
from xinfang.signals import MALICIOUS_INDICATORS, Signal
from xinfang.span_decoding import ModelSpans

DIGITS = 4  # probabilities, scores and confidences in a result are rounded to this many decimals


def _r(x: float) -> float:
    return round(float(x), DIGITS)


def head_answer(head: Head, p: np.ndarray, cal: Mapping) -> tuple[Answer, float]:
    """A head's plain answer (label(s), scores, flag) from its calibrated probabilities for one letter, and its
    unrounded confidence (what routing compares with the head's threshold)."""
    thresholds = cal.get("decision_thresholds") or None
    row = p[None, :]
    chosen = decisions(row, head.kind, thresholds)[0]
    conf = float(confidence(row, head.kind, thresholds)[0])
    scores = {c: _r(v) for c, v in zip(head.class_ids, p, strict=True)}
    if head.kind is HeadKind.single_label:
        return SingleLabelAnswer(label=head.class_ids[int(p.argmax())], scores=scores, confidence=_r(conf)), conf
    if head.kind is HeadKind.binary:
        return BinaryAnswer(probability=_r(p[0]), flag=bool(chosen[0]), confidence=_r(conf)), conf
    labels, primary = multi_label_answer(p, chosen, head.class_ids, {c.id for c in head.classes if c.exclusive},
                                         primary_rank(p, cal.get("primary")))
    return MultiLabelAnswer(labels=labels, primary=primary, scores=scores, confidence=_r(conf)), conf


def credibility_answer(head: Head, plain: MultiLabelAnswer, p: np.ndarray, text: str,
                       signals: Sequence[Signal] | None, ngram: NgramModel | None,
                       model_spans: ModelSpans | None = None) -> CredibilityAnswer:
    """The plain answer with the weighted score and an evidence span per signal; a signal without evidence is
    dropped, and `primary` is then the likeliest signal kept. With `signals` None (evidence not computed),
    the labels stay and no span is given."""
    weights = {c.id: (c.weight if c.weight is not None else 1.0) for c in head.classes}
    score = _r(sum(weights[c] * plain.scores[c] for c in weights) / (sum(weights.values()) or 1.0))
    labels, primary, spans = plain.labels, plain.primary, []
    if signals is not None:
        labels, spans = present_signals(plain.labels, text, signals, head.class_ids, ngram, head.name, model_spans)
        primary = next((head.class_ids[j] for j in np.argsort(-p, kind="stable") if head.class_ids[j] in labels),
                       None)
    return CredibilityAnswer(labels=labels, primary=primary, scores=plain.scores, confidence=plain.confidence,
                             score=score, signals=spans)


def letter_answers(schema: Schema, calibration: Mapping[str, Mapping], probs: Mapping[str, np.ndarray],
                   text: str = "", signals: Sequence[Signal] | None = None, ngram: NgramModel | None = None,
                   spans: Mapping[str, ModelSpans] | None = None) -> tuple[dict[str, Answer], dict[str, float]]:
    """Every head's answer for one letter (`probs`: one probability row per head), in schema order, and the
    unrounded confidences. `signals` None: no evidence (credibility spans, malicious indicators) is given.
    `spans`: the span heads' best span per class (xinfang.span_decoding), preferred as evidence."""
    answers: dict[str, Answer] = {}
    confidences: dict[str, float] = {}
    for head in schema.heads:
        p = np.asarray(probs[head.name])
        plain, confidences[head.name] = head_answer(head, p, calibration.get(head.name, {}))
        kind = answer_model(head)
        if kind is CredibilityAnswer:
            answers[head.name] = credibility_answer(head, plain, p, text, signals, ngram,
                                                    (spans or {}).get(head.name))
        elif kind is MaliciousAnswer:
            indicators = [span(s) for s in signals or () if s.type in MALICIOUS_INDICATORS]
            answers[head.name] = MaliciousAnswer(**dict(plain), indicators=indicators)
        else:
            answers[head.name] = plain
    return answers, confidences
