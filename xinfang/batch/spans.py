"""Evidence spans of a result (signals, indicators) and their personal data masked for batch output."""

from __future__ import annotations

from collections.abc import Iterator

from xinfang.pii import find_pii, mask_pii


def evidence_spans(result: dict) -> Iterator[dict]:
    """Every span dict of a result: a dict with start and end in a list under one head's answer."""
    for answer in result.values():
        if isinstance(answer, dict):
            for value in answer.values():
                if isinstance(value, list):
                    yield from (s for s in value if isinstance(s, dict) and {"start", "end"} <= s.keys())


def mask_span_texts(result: dict, text: str) -> dict:
    """The result with the personal data in its span texts (ID, phone, card numbers, names, addresses,
    found in the whole letter) replaced by '*' one for one, so texts keep their length and offsets stay
    valid; changed in place and returned."""
    spans = [s for s in evidence_spans(result) if isinstance(s.get("text"), str) and s["text"]]
    pii = find_pii(text) if spans else []
    masked = mask_pii(text, keep_length=True, spans=pii) if pii else text
    for s in spans:
        start, end = s["start"], s["end"]
        quotes = isinstance(start, int) and isinstance(end, int) and s["text"] == text[start:end] and start >= 0
        # a span that does not quote the letter where it says keeps nothing of its text
        s["text"] = masked[start:end] if quotes else "*" * len(s["text"])
    return result
