"""A character range of the original letter, with the rule that found it."""

from __future__ import annotations

from typing import NamedTuple


class Span(NamedTuple):
    """A [start, end) character range of the original letter and the rule that found it."""

    start: int
    end: int
    rule: str
