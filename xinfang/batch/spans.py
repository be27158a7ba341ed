"""Evidence spans of a result (signals, indicators) with their personal data masked for batch output."""

from __future__ import annotations

from xinfang.pii import find_pii, mask_pii
from xinfang.result import LetterResult


def mask_span_texts(result: LetterResult, text: str) -> LetterResult:
    """The result with the personal data in its span texts (ID, phone, card numbers, names, addresses,
    found in the whole letter) replaced by '*' one for one, so texts keep their length and offsets stay
    valid; changed in place and returned."""
    spans = [s for s in result.spans() if s.text]
    pii = find_pii(text) if spans else []
    masked = mask_pii(text, keep_length=True, spans=pii) if pii else text
    for s in spans:
        quotes = s.start >= 0 and s.text == text[s.start:s.end]
        # a span that does not quote the letter where it says keeps nothing of its text
        s.text = masked[s.start:s.end] if quotes else "*" * len(s.text)
    return result
