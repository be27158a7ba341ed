"""Page layout of a letter: title line, paragraph separators and indentation, signature line."""

from __future__ import annotations

from random import Random

from xinfang.training.generator.segments import Segment

SEPARATORS = {"block": "", "lines": "\n", "indent": "\n\u3000\u3000", "blank": "\n\n", "inline_indent": "\u3000\u3000"}


def lay_out(rng: Random, layout: str, title: list[Segment], paragraphs: list[list[Segment]],
            signature: list[Segment]) -> list[Segment]:
    """Join rendered parts in one of the layouts seen in real letters (one block, lines, indents)."""
    out: list[Segment] = []
    if title:
        out += title + [Segment("\n")]
    if layout == "indent":
        out.append(Segment("\u3000\u3000"))
    first = True
    for para in paragraphs:
        if not any(s.text.strip() for s in para):
            continue
        if not first:
            out.append(Segment(SEPARATORS[layout]))
        out += para
        first = False
    if signature:
        out += [Segment("\n" if layout != "block" or rng.random() < 0.5 else "  ")] + signature
    return out
