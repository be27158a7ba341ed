"""Reading order and clean-up of OCR'd lines: rows top-to-bottom (columns right-to-left on a vertical page),
page headers, footers and page numbers dropped, lines re-joined into paragraphs, each line's span kept."""

from __future__ import annotations

import math
import re
import statistics
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, replace

from xinfang.ocr.recognizer import Line

MARGIN_TOP = 0.08  # share of the page height where a header may sit
MARGIN_BOTTOM = 0.10  # ... and a footer
MIN_SKEW = math.radians(0.2)  # less skew than this is left as it is
_PAGE_NUMBER = re.compile(
    r"^[\s\-—–_·.~〜]*(page\s*)?(第\s*)?[0-9０-９一二三四五六七八九十百]+\s*页?"
    r"(\s*([/／,，]|of)?\s*(共\s*)?[0-9０-９一二三四五六七八九十百]+\s*页?)?[\s\-—–_·.~〜]*$", re.IGNORECASE)
_DIGITS = re.compile(r"[0-9０-９]+")
_CJK = re.compile(r"[\u2e80-\u9fff\uf900-\ufaff\uff00-\uffef\u3000-\u303f]")
_STOP = "。！？!?：:；;」』”）)"


@dataclass(frozen=True)
class PageLines:
    """The OCR'd lines of one page and its size in pixels."""

    number: int
    width: float
    height: float
    lines: list[Line]


@dataclass(frozen=True)
class Placed:
    """A line's place in the joined text: [start, end) characters, its page and confidence."""

    page: int
    start: int
    end: int
    confidence: float | None


def is_page_number(text: str) -> bool:
    return bool(_PAGE_NUMBER.match(text.strip()))


def is_vertical(lines: Sequence[Line]) -> bool:
    """Whether most multi-character lines stand upright (a page written in columns)."""
    tall = sum(1 for ln in lines if len(ln.text) > 1 and ln.height > 1.5 * ln.width)
    wide = sum(1 for ln in lines if len(ln.text) > 1 and ln.width > 1.5 * ln.height)
    return tall > wide


def deskew(page: PageLines) -> PageLines:
    """A skewed page's lines moved as if the page were straight: each line's centre turned about the page's
    centre by the median slope of its wide lines (rows of a skewed page would otherwise interleave)."""
    slopes = [ln.angle for ln in page.lines if ln.width > 2 * ln.height]
    angle = statistics.median(slopes) if slopes else 0.0
    if abs(angle) < MIN_SKEW:
        return page
    cos, sin = math.cos(-angle), math.sin(-angle)
    ox, oy = page.width / 2, page.height / 2

    def turned(ln: Line) -> Line:
        cx, cy = (ln.x0 + ln.x1) / 2 - ox, (ln.y0 + ln.y1) / 2 - oy
        nx, ny = ox + cx * cos - cy * sin, oy + cx * sin + cy * cos
        return replace(ln, x0=nx - ln.width / 2, x1=nx + ln.width / 2, y0=ny - ln.height / 2,
                       y1=ny + ln.height / 2, angle=ln.angle - angle)

    return PageLines(page.number, page.width, page.height, [turned(ln) for ln in page.lines])


def upright(page: PageLines) -> PageLines:
    """A page made straight (deskew), and a vertical page turned so that its columns read as rows (the
    rightmost column first): the rest of the layout code only knows rows."""
    if not is_vertical(page.lines):
        return deskew(page)
    turned = [replace(ln, x0=ln.y0, x1=ln.y1, y0=page.width - ln.x1, y1=page.width - ln.x0) for ln in page.lines]
    return PageLines(page.number, page.height, page.width, turned)


def rows(lines: Sequence[Line]) -> list[list[Line]]:
    """Lines grouped into rows (a line whose vertical centre lies in a row's band joins it), top to bottom,
    each row left to right."""
    out: list[list[Line]] = []
    for ln in sorted(lines, key=lambda x: (x.y0 + x.y1) / 2):
        centre = (ln.y0 + ln.y1) / 2
        if out and out[-1][0].y0 <= centre <= out[-1][0].y1:
            out[-1].append(ln)
        else:
            out.append([ln])
    return [sorted(r, key=lambda x: x.x0) for r in out]


def drop_margins(pages: Sequence[PageLines]) -> list[PageLines]:
    """Pages without their headers and footers: a page number in the top or bottom band, or a line that
    recurs (digits aside) in those bands on two or more pages."""
    def band(p: PageLines, ln: Line) -> bool:
        return ln.y1 <= p.height * MARGIN_TOP or ln.y0 >= p.height * (1 - MARGIN_BOTTOM)

    def key(ln: Line) -> str:
        return _DIGITS.sub("#", ln.text.replace(" ", ""))

    seen = Counter(k for p in pages for k in {key(ln) for ln in p.lines if band(p, ln)})
    return [PageLines(p.number, p.width, p.height,
                      [ln for ln in p.lines
                       if not (band(p, ln) and (is_page_number(ln.text) or (len(pages) > 1 and seen[key(ln)] > 1)))])
            for p in pages]


def _glue(left: str, right: str) -> str:
    """What joins two pieces of one paragraph: nothing beside Chinese, a space between Latin words."""
    if not left or not right or _CJK.match(left[-1]) or _CJK.match(right[0]):
        return ""
    return "" if left[-1] in "-/" else " "


class TextBuilder:
    """Joined text grown piece by piece, recording where each piece lands."""

    def __init__(self) -> None:
        self.parts: list[str] = []
        self.size = 0
        self.placed: list[Placed] = []
        self._last = ""

    def paragraph(self) -> None:
        if self.size:
            self._add("\n")
            self._last = ""

    def piece(self, text: str, page: int, confidence: float | None, sep: str | None = None) -> None:
        self._add(_glue(self._last, text) if sep is None else sep)
        self.placed.append(Placed(page, self.size, self.size + len(text), confidence))
        self._add(text)
        self._last = text

    def _add(self, text: str) -> None:
        if text:
            self.parts.append(text)
            self.size += len(text)

    @property
    def text(self) -> str:
        return "".join(self.parts)


def join_pages(pages: Sequence[PageLines], builder: TextBuilder) -> None:
    """OCR'd pages into paragraphs: a row starts one when it is indented, follows a short row or a gap."""
    prev_short = True
    for page in pages:
        page_rows = rows(page.lines)
        if not page_rows:
            continue
        left = min(r[0].x0 for r in page_rows)
        right = max(r[-1].x1 for r in page_rows)
        char = statistics.median(ln.height for r in page_rows for ln in r)
        prev_y1: float | None = None
        for row in page_rows:
            indented = row[0].x0 - left > 1.2 * char
            gap = prev_y1 is not None and row[0].y0 - prev_y1 > 1.5 * char
            if prev_short or indented or gap:
                builder.paragraph()
            for i, ln in enumerate(row):
                wide_gap = i > 0 and ln.x0 - row[i - 1].x1 > 1.5 * char
                builder.piece(ln.text, page.number, ln.confidence, " " if wide_gap else None)
            prev_short = row[-1].x1 < right - 2.5 * char or (
                row[-1].text[-1] in _STOP and row[-1].x1 < right - 1.0 * char)
            prev_y1 = max(ln.y1 for ln in row)


def join_text_layer(number: int, text: str, builder: TextBuilder) -> None:
    """A PDF page's own text: page numbers at its top and bottom dropped, a paragraph at each indented line
    or after a line that ends a sentence."""
    lines = [ln.rstrip() for ln in text.replace("\r\n", "\n").replace("\r", "\n").split("\n")]
    lines = [ln for ln in lines if ln.strip()]
    while lines and is_page_number(lines[-1]):
        lines.pop()
    while lines and is_page_number(lines[0]):
        lines.pop(0)
    prev_end = True
    for ln in lines:
        if prev_end or ln[:1] in (" ", "\u3000", "\t"):
            builder.paragraph()
        builder.piece(ln.strip(), number, None)
        prev_end = ln[-1] in _STOP
