"""Paper letters (xinfang.ocr): limits before decoding, reading order and clean-up, and OCR end to end on
small generated page images (the PP-OCR models from the rapidocr wheel, loaded once per session)."""

from __future__ import annotations

import io
import re
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("rapidocr")
from PIL import Image  # noqa: E402
from scan_pages import LINES, render, render_vertical, text_pdf  # noqa: E402  (tests/ is on sys.path)

from xinfang.ocr.document import read_scan  # noqa: E402
from xinfang.ocr.layout import PageLines, TextBuilder, drop_margins, is_page_number, join_pages, upright  # noqa: E402
from xinfang.ocr.limits import ScanError, ScanLimits, ScanTooLarge  # noqa: E402
from xinfang.ocr.pages import read_pages  # noqa: E402
from xinfang.ocr.recognizer import Line  # noqa: E402
from xinfang.ocr.recognizer import _line as _quad_line  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent


def _chars(text: str) -> str:
    return re.sub(r"\s", "", text)


def test_a_page_image_is_read_with_confidences_and_spans() -> None:
    scan = read_scan(render(LINES, size=(560, 420), footer="- 1 -"))
    assert _chars(scan.text) == "".join(LINES)  # the page number in the footer is gone
    info = scan.info(low_confidence=1.0)  # every line counts as doubtful: each is listed with its span
    assert info.source == "ocr" and info.pages == 1 and info.lines == 3
    assert 0.5 < info.min_confidence <= info.mean_confidence <= 1
    assert [scan.text[x.start:x.end] for x in info.low_confidence_lines] == LINES
    assert scan.info().low_confidence_lines == []  # clean print: nothing under the default threshold


def test_a_vertical_page_is_read_column_by_column_from_the_right() -> None:
    columns = ["尊敬的领导您好", "我村土地被占用", "请求调查处理"]
    assert read_scan(render_vertical(columns)).text == "".join(columns)


def test_a_pdf_without_text_layer_is_rendered_and_read() -> None:
    pdf = render(LINES[:2], size=(560, 140), fmt="PDF")
    scan = read_scan(pdf)
    assert _chars(scan.text) == "".join(LINES[:2]) and scan.ocr_pages == 1


def test_a_pdf_with_a_text_layer_uses_its_text() -> None:
    scan = read_scan(text_pdf(["Dear office,", "the road is broken", "3"]))
    assert scan.text == "Dear office, the road is broken" and scan.ocr_pages == 0
    assert scan.info().source == "pdf_text" and scan.info().mean_confidence is None


def test_limits_are_checked_before_decoding() -> None:
    bomb = io.BytesIO()
    Image.new("1", (8000, 6000)).save(bomb, "PNG")  # 48 megapixels in a few kilobytes
    assert len(bomb.getvalue()) < 100_000
    with pytest.raises(ScanTooLarge, match="pixels"):
        list(read_pages(bomb.getvalue(), ScanLimits()))
    with pytest.raises(ScanTooLarge, match="bytes"):
        list(read_pages(b"\x89PNG\r\n\x1a\n" + b"0" * 2000, ScanLimits(max_bytes=1000)))
    tiff = io.BytesIO()
    Image.new("L", (20, 20)).save(tiff, "TIFF", save_all=True, append_images=[Image.new("L", (20, 20))] * 3)
    with pytest.raises(ScanTooLarge, match="4 pages"):
        list(read_pages(tiff.getvalue(), ScanLimits(max_pages=3)))
    with pytest.raises(ScanError, match="not a PNG"):
        list(read_pages(b"GIF89a....", ScanLimits()))
    with pytest.raises(ScanError, match="unreadable"):
        list(read_pages(b"\x89PNG\r\n\x1a\n" + b"\x00" * 50, ScanLimits()))


def test_a_photo_is_turned_upright_by_its_exif_orientation() -> None:
    photo = Image.new("RGB", (40, 20), "white")
    exif = Image.Exif()
    exif[0x0112] = 6  # orientation: rotate 90° clockwise to view
    buf = io.BytesIO()
    photo.save(buf, "JPEG", exif=exif)
    (page,) = read_pages(buf.getvalue(), ScanLimits())
    assert page.image.shape[:2] == (40, 20)


def _line(text: str, x0: float, y0: float, x1: float, y1: float) -> Line:
    return Line(text, 0.9, x0, y0, x1, y1)


def test_rows_paragraphs_and_margins() -> None:
    """Two pages: the header recurs on both and goes, so do the page numbers; an indented row starts a
    paragraph, a full row continues across the page break, a short row ends its paragraph."""
    def page(n: int, body: list[Line]) -> PageLines:
        return PageLines(n, 1000, 1000, [_line("某市来信", 400, 20, 600, 50), *body,
                                          _line(f"第{n}页", 450, 950, 550, 980)])

    pages = [page(1, [_line("来信人：张三", 100, 200, 400, 230),  # short: its own paragraph
                      _line("我反映一件事情，", 160, 250, 900, 280),  # indented: a new paragraph
                      _line("路坏了很久", 100, 300, 900, 330)]),   # full width: runs on to page 2
             page(2, [_line("没人修。", 100, 200, 300, 230), _line("谢谢", 160, 250, 300, 280)])]
    builder = TextBuilder()
    join_pages(drop_margins(pages), builder)
    assert builder.text == "来信人：张三\n我反映一件事情，路坏了很久没人修。\n谢谢"
    assert [(p.page, builder.text[p.start:p.end]) for p in builder.placed][-2:] == [(2, "没人修。"), (2, "谢谢")]


def test_a_skewed_page_keeps_its_rows_and_paragraphs() -> None:
    """Scanned 3° askew: rows turned straight before they are grouped, so they do not interleave and the
    indents still start paragraphs (regression: a -3° page came out with rows mixed)."""
    rows = [(156, 900, "甲一"), (100, 900, "甲二"), (100, 500, "甲三。"),  # paragraph 1 ends short
            (156, 480, "乙一"), (520, 900, "乙二"), (100, 900, "乙三")]  # row 4: two pieces of one line
    ys = {0: 200, 1: 246, 2: 292, 3: 338, 4: 338, 5: 384}
    turn = np.radians(-3)

    def quad(x0: float, x1: float, y: float) -> np.ndarray:
        pts = np.array([[x0, y], [x1, y], [x1, y + 28], [x0, y + 28]]) - 700
        rot = np.array([[np.cos(turn), -np.sin(turn)], [np.sin(turn), np.cos(turn)]])
        return pts @ rot.T + 700

    lines = [_quad_line(t, 0.9, quad(x0, x1, ys[i])) for i, (x0, x1, t) in enumerate(rows)]
    builder = TextBuilder()
    join_pages([upright(PageLines(1, 1400, 1400, lines[::-1]))], builder)
    assert builder.text == "甲一甲二甲三。\n乙一乙二乙三"


def test_a_vertical_page_reads_columns_right_to_left() -> None:
    cols = [_line("第一列文字", 800, 100, 840, 500), _line("第二列文字", 700, 100, 740, 500)]
    builder = TextBuilder()
    join_pages([upright(PageLines(1, 1000, 800, list(reversed(cols))))], builder)
    assert builder.text == "第一列文字第二列文字"


@pytest.mark.parametrize("text", ["3", "- 2 -", "第 4 页", "第1页 共3页", "Page 2 of 5", "２/３"])
def test_page_numbers(text: str) -> None:
    assert is_page_number(text)


@pytest.mark.parametrize("text", ["2024年3月", "电话13800138000转", "一、基本情况"])
def test_not_page_numbers(text: str) -> None:
    assert not is_page_number(text)


def test_only_the_ocr_package_imports_the_ocr_libraries() -> None:
    pattern = re.compile(r"^\s*(import|from)\s+(rapidocr|pypdfium2)\b", re.MULTILINE)
    users = {p.relative_to(ROOT).as_posix() for folder in ("xinfang", "serving", "training", "evaluation")
             for p in (ROOT / folder).rglob("*.py") if pattern.search(p.read_text(encoding="utf-8"))}
    assert users and all(u.startswith("xinfang/ocr/") for u in users)
