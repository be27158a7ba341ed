"""Span-head targets: a letter's annotated spans as characters of its normalised text, then per token window
the start and end token of each class's span, learned only where the span lies wholly inside the window (the
span head localises; whether a signal is present is the classification head's question)."""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Sequence

from xinfang.labels import LabelledLetter
from xinfang.schema import Head
from xinfang.text import Window, normalise_with_map

NO_SPAN = (-1, -1)


def letter_span_chars(letter: LabelledLetter, head: Head) -> tuple[list[tuple[int, int]], list[float]] | None:
    """Per class the annotated [start, end) in the normalised text (NO_SPAN when the class is absent) and
    whether the class can be learned from this letter; None when the letter carries no spans for the head."""
    annotated = (letter.extra or {}).get("spans")
    if head.name not in letter.labels or not isinstance(annotated, dict):
        return None
    present = set(letter.labels[head.name] if isinstance(letter.labels[head.name], list)
                  else head.class_ids[:1] if letter.labels[head.name] else [])
    _, back = normalise_with_map(letter.text)
    chars: list[tuple[int, int]] = []
    usable: list[float] = []
    for c in head.class_ids:
        where = annotated.get(c)
        if c not in present:
            chars.append(NO_SPAN)
            usable.append(1.0)
            continue
        if not isinstance(where, dict) or letter.text[where["start"]: where["end"]] != where.get("text"):
            chars.append(NO_SPAN)
            usable.append(0.0)  # present but not located: neither a span nor a "no span" to learn
            continue
        a, b = bisect_left(back, where["start"]), bisect_left(back, where["end"])
        chars.append((a, b) if b > a else NO_SPAN)
        usable.append(1.0 if b > a else 0.0)
    return chars, usable


def window_span_targets(window: Window, chars: Sequence[Sequence[int]]) -> tuple[list[int], list[int], list[float]]:
    """Start and end token per class inside `window`, and whether there is one to learn (0, 0 and 0 when the
    class's span is absent or not wholly inside the window)."""
    starts, ends, inside_mask = [], [], []
    content = [k for k, (a, b) in enumerate(window.offsets) if b > a]
    for a, b in chars:
        s = e = 0
        inside = bool(content) and window.offsets[content[0]][0] <= a and b <= window.offsets[content[-1]][1]
        if a >= 0 and inside:
            hit = [k for k in content if window.offsets[k][0] < b and window.offsets[k][1] > a]
            if hit:  # the tokens that cover the span (a token may reach past either end)
                s, e = hit[0], hit[-1]
        starts.append(s)
        ends.append(e)
        inside_mask.append(1.0 if s > 0 else 0.0)
    return starts, ends, inside_mask
