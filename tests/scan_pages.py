"""Small scanned pages for the OCR tests: a few lines of Chinese rendered in the installed CJK font, and a
PDF with a real text layer."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from PIL import Image, ImageDraw, ImageFont

FONT = Path("/usr/share/fonts/truetype/wqy/wqy-microhei.ttc")
LINES = ["尊敬的领导：", "我村土地被非法占用三年，", "请求有关部门调查处理。"]


def render(lines: list[str], size: tuple[int, int] = (560, 200), fmt: str = "PNG", footer: str = "") -> bytes:
    """A page image of a few lines of Chinese in the installed CJK font."""
    if not FONT.is_file():
        pytest.skip("no CJK font (fonts-wqy-microhei)")
    font = ImageFont.truetype(str(FONT), 26)
    img = Image.new("RGB", size, "white")
    draw = ImageDraw.Draw(img)
    for i, text in enumerate(lines):
        draw.text((30, 20 + 44 * i), text, font=font, fill="black")
    if footer:
        draw.text((size[0] // 2 - 30, size[1] - 34), footer, font=font, fill="black")
    buf = io.BytesIO()
    img.save(buf, fmt)
    return buf.getvalue()


def text_pdf(lines: list[str]) -> bytes:
    """A one-page PDF with a real text layer (Helvetica, one line each)."""
    ops = "".join(f"BT /F1 14 Tf 72 {720 - 20 * i} Td ({t}) Tj ET\n" for i, t in enumerate(lines)).encode()
    objs = [b"<< /Type /Catalog /Pages 2 0 R >>", b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
            b"/Resources << /Font << /F1 5 0 R >> >> >>",
            b"<< /Length %d >>\nstream\n" % len(ops) + ops + b"endstream",
            b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>"]
    out, offsets = bytearray(b"%PDF-1.4\n"), []
    for n, body in enumerate(objs, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % n + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objs) + 1)
    out += b"".join(b"%010d 00000 n \n" % o for o in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objs) + 1, xref)
    return bytes(out)


def render_vertical(columns: list[str]) -> bytes:
    """A page written in columns, read from the right."""
    if not FONT.is_file():
        pytest.skip("no CJK font (fonts-wqy-microhei)")
    font = ImageFont.truetype(str(FONT), 30)
    img = Image.new("RGB", (80 + 60 * len(columns), 40 + 36 * max(map(len, columns))), "white")
    draw = ImageDraw.Draw(img)
    for c, text in enumerate(columns):
        for i, ch in enumerate(text):
            draw.text((img.width - 80 - c * 60, 20 + i * 36), ch, font=font, fill="black")
    buf = io.BytesIO()
    img.save(buf, "PNG")
    return buf.getvalue()
