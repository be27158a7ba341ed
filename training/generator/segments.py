"""Letter text as segments, some marked as signal spans, joined into text plus exact span offsets."""

from __future__ import annotations

from dataclasses import dataclass

from xinfang.training.generator.model import SignalSpan

# Characters never kept at the edge of a span (moved outside it).
EDGE_CHARS = " \t\n\u3000，,。.！!？?：:；;、"


@dataclass(frozen=True)
class Segment:
    """A piece of letter text; ``span`` names the credibility signal it shows, or None."""

    text: str
    span: str | None = None


def span_segments(text: str, span_type: str) -> list[Segment]:
    """Mark ``text`` as a span, moving edge whitespace/punctuation outside it."""
    core = text.strip(EDGE_CHARS)
    if not core:
        return [Segment(text)] if text else []
    start = text.index(core)
    out = []
    if start:
        out.append(Segment(text[:start]))
    out.append(Segment(core, span_type))
    if start + len(core) < len(text):
        out.append(Segment(text[start + len(core):]))
    return out


def as_span(segments: list[Segment], span_type: str) -> list[Segment]:
    """Flatten rendered segments into one span of ``span_type`` (inner spans are absorbed)."""
    return span_segments("".join(s.text for s in segments), span_type)


def merge(segments: list[Segment]) -> list[Segment]:
    """Drop empty segments and merge neighbouring plain ones."""
    out: list[Segment] = []
    for s in segments:
        if not s.text:
            continue
        if s.span is None and out and out[-1].span is None:
            out[-1] = Segment(out[-1].text + s.text)
        else:
            out.append(s)
    return out


def join(segments: list[Segment]) -> tuple[str, list[SignalSpan]]:
    """Concatenate segments; spans get exact offsets and are checked against the text."""
    parts: list[str] = []
    spans: list[SignalSpan] = []
    pos = 0
    for s in segments:
        if s.span is not None:
            for piece in span_segments(s.text, s.span):
                if piece.span is not None:
                    spans.append(SignalSpan(piece.span, pos, pos + len(piece.text), piece.text))
                parts.append(piece.text)
                pos += len(piece.text)
            continue
        parts.append(s.text)
        pos += len(s.text)
    text = "".join(parts)
    for sp in spans:
        if text[sp.start:sp.end] != sp.text:  # pragma: no cover - guarded by construction
            raise AssertionError(f"span {sp} does not match the text")
    return text, spans
