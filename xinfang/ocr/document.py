"""One scanned letter (image or PDF bytes) to its text, pages and per-line OCR confidences."""

from __future__ import annotations

import statistics
from dataclasses import dataclass

from xinfang.ocr.layout import (
    PageLines,
    Placed,
    TextBuilder,
    drop_margins,
    join_pages,
    join_text_layer,
    upright,
)
from xinfang.ocr.limits import ScanError, ScanLimits
from xinfang.ocr.pages import read_pages
from xinfang.ocr.recognizer import Recognizer, get_recognizer
from xinfang.result import OcrInfo, OcrLine

LOW_CONFIDENCE = 0.85  # default threshold under which a line is listed for the reviewer


@dataclass(frozen=True)
class ScanText:
    """The text of a scanned letter as the encoder and the reviewer see it, and where each line lies in it."""

    text: str
    pages: int
    ocr_pages: int  # pages that were OCR'd (the others had a PDF text layer)
    lines: list[Placed]

    @property
    def confidences(self) -> list[float]:
        return [ln.confidence for ln in self.lines if ln.confidence is not None]

    def info(self, low_confidence: float = LOW_CONFIDENCE) -> OcrInfo:
        """What the result records: source, pages, mean and lowest line confidence, the doubtful lines."""
        conf = self.confidences
        low = [OcrLine(page=ln.page, start=ln.start, end=ln.end, confidence=round(ln.confidence, 4))
               for ln in self.lines if ln.confidence is not None and ln.confidence < low_confidence]
        return OcrInfo(source="ocr" if self.ocr_pages else "pdf_text", pages=self.pages,
                       lines=len(self.lines),
                       mean_confidence=round(statistics.fmean(conf), 4) if conf else None,
                       min_confidence=round(min(conf), 4) if conf else None,
                       low_confidence_threshold=low_confidence, low_confidence_lines=low)


def read_scan(data: bytes, limits: ScanLimits | None = None, recognizer: Recognizer | None = None) -> ScanText:
    """OCR a scanned letter (PNG, JPEG, TIFF or PDF bytes). ScanTooLarge over a limit (checked before
    decoding), ScanError for a file that is unreadable or holds no text."""
    limits = limits or ScanLimits()
    builder = TextBuilder()
    run: list[PageLines] = []  # consecutive OCR'd pages, cleaned and joined together
    pages = ocr_pages = 0
    for page in read_pages(data, limits):
        pages += 1
        if page.text is not None:
            join_pages(drop_margins(run), builder)
            run = []
            join_text_layer(page.number, page.text, builder)
            continue
        ocr_pages += 1
        recognizer = recognizer or get_recognizer()
        height, width = page.image.shape[:2]
        run.append(upright(PageLines(page.number, width, height, recognizer(page.image))))
    join_pages(drop_margins(run), builder)
    if not builder.text.strip():
        raise ScanError(f"no text found on {pages} page(s)")
    return ScanText(builder.text, pages, ocr_pages, builder.placed)
