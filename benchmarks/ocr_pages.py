"""Letter texts rendered to A4 page images with a CJK font, and scan-like damage for the OCR benchmark:
skew, blur, salt-and-pepper noise, a photocopy threshold and JPEG quality 40."""

from __future__ import annotations

import io
import random
import re
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageFont

FONT = Path("/usr/share/fonts/truetype/wqy/wqy-microhei.ttc")  # Debian fonts-wqy-microhei
PAGE = (1240, 1754)  # A4 at 150 dpi
MARGIN_X, MARGIN_TOP, MARGIN_BOTTOM = 110, 130, 150
SIZE = 28  # pixels: about 13.5 pt at 150 dpi
LEADING = 1.65


def paragraphs(text: str) -> list[str]:
    """The letter's paragraphs, runs of blanks inside one shown as a single space."""
    return [p for p in (re.sub(r"\s+", " ", line).strip() for line in text.splitlines()) if p]


def _wrap(para: str, font: ImageFont.FreeTypeFont, width: float) -> list[str]:
    """A paragraph broken into lines that fit `width`, the first indented by two characters."""
    lines, line, indent = [], "", 2 * SIZE
    for ch in para:
        if font.getlength(line + ch) > width - indent and line:
            lines.append(line)
            line, indent = "", 0
        line += ch
    lines.append(line)
    return lines


def render_letter(text: str) -> list[Image.Image]:
    """The letter on as many pages as it needs, a page number ('第 n 页 共 m 页') at the foot of each."""
    if not FONT.is_file():
        raise SystemExit("no CJK font: apt-get install fonts-wqy-microhei")
    font = ImageFont.truetype(str(FONT), SIZE)
    width = PAGE[0] - 2 * MARGIN_X
    rows: list[tuple[int, str]] = []  # (indent in pixels, text)
    for para in paragraphs(text):
        for i, line in enumerate(_wrap(para, font, width)):
            rows.append((2 * SIZE if i == 0 else 0, line))
    per_page = int((PAGE[1] - MARGIN_TOP - MARGIN_BOTTOM) // (SIZE * LEADING))
    chunks = [rows[i:i + per_page] for i in range(0, len(rows), per_page)] or [[]]
    pages = []
    for n, chunk in enumerate(chunks, start=1):
        img = Image.new("L", PAGE, 255)
        draw = ImageDraw.Draw(img)
        for k, (indent, line) in enumerate(chunk):
            draw.text((MARGIN_X + indent, MARGIN_TOP + k * SIZE * LEADING), line, font=font, fill=0)
        foot = f"第 {n} 页 共 {len(chunks)} 页"
        draw.text(((PAGE[0] - font.getlength(foot)) / 2, PAGE[1] - MARGIN_BOTTOM / 2), foot, font=font, fill=0)
        pages.append(img)
    return pages


def damage(page: Image.Image, rng: random.Random) -> Image.Image:
    """A scan-like copy: skew of up to ±3°, blur, salt-and-pepper noise and a photocopy threshold."""
    img = page.rotate(rng.uniform(-3, 3), resample=Image.Resampling.BICUBIC, expand=True, fillcolor=255)
    img = img.filter(ImageFilter.GaussianBlur(radius=rng.uniform(0.6, 1.2)))
    arr = np.asarray(img).copy()
    noise = np.random.default_rng(rng.randrange(1 << 30)).random(arr.shape)
    arr[noise < 0.002] = 0
    arr[noise > 0.998] = 255
    threshold = rng.uniform(150, 190)  # photocopier: grey becomes black or white
    arr = np.where(arr < threshold, 0, 255).astype(np.uint8)
    return Image.fromarray(arr)


def encode(page: Image.Image, damaged: bool) -> bytes:
    """PNG for a clean page, JPEG quality 40 for a damaged one."""
    buf = io.BytesIO()
    page.save(buf, "JPEG", quality=40) if damaged else page.save(buf, "PNG")
    return buf.getvalue()


def to_pdf(pages: list[bytes]) -> bytes:
    """The pages of a letter as one PDF (images only, no text layer), as a scanner would give them."""
    images = [Image.open(io.BytesIO(p)).convert("RGB") for p in pages]
    buf = io.BytesIO()
    images[0].save(buf, "PDF", save_all=True, append_images=images[1:], resolution=150)
    return buf.getvalue()
