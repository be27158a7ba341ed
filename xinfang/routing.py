"""The routing rules: which answers send a letter to a person, and the reasons given (each names its head)."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from xinfang.answers import letter_answers
from xinfang.result import Answer, BinaryAnswer, MaliciousAnswer, Route
from xinfang.schema import Schema

LOW_CONFIDENCE = "below the auto-route threshold"
FLAG_REASONS = {
    "malicious": "possible false or malicious report; a person must review it",
    "abusive": "offensive language",
}
"""Binary heads whose flag sends a letter to a person, whatever the confidence (a malicious score never
discards a letter: it routes it, with its indicators)."""


def route_threshold(calibration: Mapping[str, Mapping], head: str) -> float | None:
    """The confidence below which a head sends a letter to a person (None: it never does by confidence)."""
    t = (calibration.get(head, {}).get("route") or {}).get("threshold")
    return float(t) if t is not None else None


def route(schema: Schema, calibration: Mapping[str, Mapping], answers: Mapping[str, Answer],
          confidences: Mapping[str, float]) -> Route:
    """The route of a letter: a person when a routing head (schema field `routes`) is less confident than
    its calibrated threshold, or a flag head (FLAG_REASONS) is raised; automatic otherwise."""
    reasons: list[str] = []
    for head in schema.heads:
        threshold = route_threshold(calibration, head.name)
        conf = confidences[head.name]
        if head.routes and threshold is not None and conf < threshold:
            reasons.append(f"{head.name}: confidence {conf:.2f} {LOW_CONFIDENCE} {threshold:.2f}")
    for name, why in FLAG_REASONS.items():
        answer = answers.get(name)
        if isinstance(answer, BinaryAnswer) and answer.flag:
            kinds = sorted({s.type for s in answer.indicators}) if isinstance(answer, MaliciousAnswer) else []
            reasons.append(f"{name}: {why}" + (f" (indicators: {', '.join(kinds)})" if kinds else ""))
    return Route(decision="human" if reasons else "auto", reasons=reasons)


def route_probabilities(schema: Schema, calibration: Mapping[str, Mapping], probs: Mapping[str, np.ndarray]
                        ) -> Route:
    """The route of a letter from its calibrated probabilities alone (one row per head; no evidence, so no
    indicators in the reasons): what evaluation reports."""
    answers, confidences = letter_answers(schema, calibration, probs)
    return route(schema, calibration, answers, confidences)


def reason_head(reason: str) -> str:
    """The head a reason names."""
    return reason.partition(":")[0]


def is_low_confidence(reason: str) -> bool:
    """Whether a reason is a head's low confidence (else it is a flag)."""
    return LOW_CONFIDENCE in reason.partition(":")[2]
