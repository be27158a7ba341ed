"""One credibility answer per letter: the calibrated decision per signal (encoder, n-gram partner and rule
evidence fused at calibration), and for every signal marked present at least one span into the original text."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from xinfang.ngram_model import NgramModel
from xinfang.result import Span
from xinfang.schema import Schema
from xinfang.signals import CREDIBILITY_SIGNALS, Signal, extract_signals
from xinfang.span_decoding import ModelSpans


def rule_matrix(class_ids: Sequence[str], signals: Sequence[Sequence[Signal]]) -> np.ndarray:
    """0/1 (letters x classes): whether the rules found a span of each class in each letter."""
    col = {c: j for j, c in enumerate(class_ids)}
    out = np.zeros((len(signals), len(class_ids)))
    for i, found in enumerate(signals):
        for s in found:
            if s.type in col:
                out[i, col[s.type]] = 1.0
    return out


def rule_evidence(schema: Schema, texts: Sequence[str], signals: Sequence[Sequence[Signal]] | None = None
                  ) -> dict[str, np.ndarray]:
    """Rule-evidence matrices for the heads whose classes are rule signal types (credibility), for the blend."""
    heads = [h for h in schema.heads if set(h.class_ids) & set(CREDIBILITY_SIGNALS)]
    if not heads:
        return {}
    if signals is None:
        signals = [extract_signals(t) for t in texts]
    return {h.name: rule_matrix(h.class_ids, signals) for h in heads}


def span(s: Signal) -> Span:
    """A rule signal as a result's evidence span."""
    return Span(type=s.type, text=s.text, start=s.start, end=s.end, source=s.source)


def present_signals(labels: Sequence[str], text: str, signals: Sequence[Signal], class_ids: Sequence[str],
                    ngram: NgramModel | None, head: str = "credibility", model_spans: ModelSpans | None = None
                    ) -> tuple[list[str], list[Span]]:
    """The signals of `labels` that can be shown, and their evidence: the span the model's span head points at
    (one per signal, source "model"), else the rules' spans, else the stretch of text that most supports the
    signal in the n-gram model (source "model"). A signal for which no text can be shown is dropped from the
    labels: a reviewer must be able to check every signal."""
    spans: list[Span] = []
    kept: list[str] = []
    for signal in labels:
        pointed = model_spans[list(class_ids).index(signal)] if model_spans else None
        if pointed is not None:
            kept.append(signal)
            spans.append(Span(type=signal, text=text[pointed[1]: pointed[2]], start=pointed[1], end=pointed[2],
                              source="model"))
            continue
        found = [span(s) for s in signals if s.type == signal]
        if not found and ngram is not None:
            where = ngram.evidence(text, head, list(class_ids).index(signal))
            if where is not None:
                found = [Span(type=signal, text=text[where[0]: where[1]], start=where[0], end=where[1],
                              source="model")]
        if found:
            kept.append(signal)
            spans += found
    return kept, spans
