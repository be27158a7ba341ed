"""Rule-based credibility signals and malicious-report indicators, each with its span in the letter."""

from __future__ import annotations

from xinfang.chinese.lexicon import Lexicon, load_lexicon
from xinfang.chinese.names import named_subjects
from xinfang.chinese.places import place_spans
from xinfang.chinese.segment import fold_width, pos_tokens, warm_up
from xinfang.chinese.span import Span
from xinfang.pii import find_pii
from xinfang.signals.base import (
    CREDIBILITY_SIGNALS,
    MALICIOUS_INDICATORS,
    SIGNAL_TYPES,
    Signal,
    credibility_evidence,
    drop_overlaps,
    group_signals,
    make_signal,
    malicious_evidence,
    signal_types,
)
from xinfang.signals.rules import amount_spans, cue_spans, evidence_spans, signed_spans, time_spans

__all__ = [
    "CREDIBILITY_SIGNALS", "MALICIOUS_INDICATORS", "SIGNAL_TYPES", "Lexicon", "Signal",
    "credibility_evidence", "extract_signals", "group_signals", "load_lexicon", "malicious_evidence",
    "signal_types", "warm_up",
]

_CONTACT_TYPES = frozenset({"phone", "landline", "id_number", "email"})


def extract_signals(text: str, lexicon: Lexicon | None = None) -> list[Signal]:
    """All rule signals of one letter, sorted by position; `s.text == text[s.start:s.end]` for each.

    Works on the original text (no normalisation): full-width digits are folded one-for-one, so
    offsets never move. Overlapping spans of one type are reduced to the longest.
    """
    if not text or not text.strip():
        return []
    lex = lexicon or load_lexicon()
    folded = fold_width(text)
    tokens = pos_tokens(folded)
    contacts = [Span(p.start, p.end, p.type) for p in find_pii(text, types=_CONTACT_TYPES)]
    found: list[tuple[str, list[Span]]] = [
        ("named_subject", named_subjects(folded, lex, tokens)),
        ("specific_time", time_spans(folded, lex)),
        ("specific_place", place_spans(folded, lex, tokens)),
        ("specific_amount", amount_spans(folded, lex)),
        ("evidence", evidence_spans(folded, lex, tokens)),
        ("first_hand", cue_spans(folded, lex, "first_hand")),
        ("signed", signed_spans(folded, lex, tokens, contacts)),
    ]
    found += [(t, cue_spans(folded, lex, t)) for t in MALICIOUS_INDICATORS]
    return drop_overlaps(make_signal(text, t, s.start, s.end, s.rule) for t, spans in found for s in spans)
