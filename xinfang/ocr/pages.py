"""Pages of a scanned letter: images (PNG, JPEG, TIFF) and PDFs, each page's size checked before it is
decoded; a PDF page with a text layer gives that text instead of an image."""

from __future__ import annotations

import io
import warnings
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageOps

from xinfang.ocr.limits import ScanError, ScanLimits, ScanTooLarge

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff")
PDF_SUFFIXES = (".pdf",)
SCAN_SUFFIXES = IMAGE_SUFFIXES + PDF_SUFFIXES
_FORMATS = ("PNG", "JPEG", "TIFF")  # JPEG opens a phone's MPO too
PDF_DPI = 200
MIN_TEXT_LAYER_CHARS = 8  # fewer non-blank characters on a PDF page: treat it as a scan and OCR it


@dataclass(frozen=True)
class Page:
    """One page: `image` (RGB, height x width x 3) to OCR, or `text` from a PDF's text layer."""

    number: int  # 1-based
    image: np.ndarray | None = None
    text: str | None = None


def kind_of(data: bytes) -> str:
    """'pdf' or 'image' by the file's first bytes (not its name); ScanError for anything else."""
    if data[:5] == b"%PDF-":
        return "pdf"
    if data[:8] == b"\x89PNG\r\n\x1a\n" or data[:3] == b"\xff\xd8\xff" or data[:4] in (b"II*\x00", b"MM\x00*"):
        return "image"
    raise ScanError("not a PNG, JPEG, TIFF or PDF file")


def read_pages(data: bytes, limits: ScanLimits) -> Iterator[Page]:
    """The pages of the file in order; limits are checked from headers before any page is decoded."""
    limits.check_bytes(len(data))
    if kind_of(data) == "pdf":
        yield from _pdf_pages(data, limits)
    else:
        yield from _image_pages(data, limits)


def _image_pages(data: bytes, limits: ScanLimits) -> Iterator[Page]:
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            img = Image.open(io.BytesIO(data), formats=_FORMATS)  # lazy: reads the header only
        except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
            raise ScanTooLarge(f"the image is a decompression bomb ({exc})") from None
        except (OSError, ValueError, SyntaxError) as exc:
            raise ScanError(f"unreadable image ({type(exc).__name__})") from None
        with img:
            frames = img.n_frames if img.format == "TIFF" else 1  # an MPO's further frames are previews
            limits.check_pages(frames)
            for i in range(frames):
                try:
                    img.seek(i)
                    limits.check_page(i + 1, *img.size)
                    rgb = ImageOps.exif_transpose(img).convert("RGB")  # a phone photo's orientation applied
                except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
                    raise ScanTooLarge(f"page {i + 1} is a decompression bomb ({exc})") from None
                except (OSError, ValueError, SyntaxError, EOFError) as exc:
                    raise ScanError(f"page {i + 1} cannot be decoded ({type(exc).__name__})") from None
                yield Page(i + 1, image=np.asarray(rgb))


def _pdf_pages(data: bytes, limits: ScanLimits) -> Iterator[Page]:
    import pypdfium2 as pdfium

    try:
        pdf = pdfium.PdfDocument(data)
    except pdfium.PdfiumError as exc:
        raise ScanError(f"unreadable PDF ({exc})") from None
    try:
        limits.check_pages(len(pdf))
        for i in range(len(pdf)):
            page = pdf[i]
            try:
                textpage = page.get_textpage()
                text = textpage.get_text_bounded()
                textpage.close()
                if sum(not c.isspace() for c in text) >= MIN_TEXT_LAYER_CHARS:
                    yield Page(i + 1, text=text)
                    continue
                width, height = page.get_size()  # points (1/72 inch)
                scale = min(PDF_DPI / 72, (limits.max_pixels / max(width * height, 1.0)) ** 0.5)
                limits.check_page(i + 1, int(width * scale), int(height * scale))
                image = page.render(scale=scale, grayscale=False).to_pil().convert("RGB")
            except pdfium.PdfiumError as exc:
                raise ScanError(f"page {i + 1} of the PDF cannot be read ({exc})") from None
            finally:
                page.close()
            yield Page(i + 1, image=np.asarray(image))
    finally:
        pdf.close()
