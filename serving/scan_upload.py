"""POST /v1/letters:scan: a scanned letter (image or PDF) sent as multipart/form-data, checked against its
own limits before it is decoded (413 over them, a decompression bomb too), then OCR'd (xinfang.ocr)."""

from __future__ import annotations

from typing import Any

from fastapi import UploadFile
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, Field

from xinfang.config import Settings
from xinfang.result import LetterResult
from xinfang.serving.api_models import ErrorBody
from xinfang.serving.errors import ApiError

SCAN_PATH = "/v1/letters:scan"
MULTIPART_OVERHEAD = 64 * 1024  # bytes of form framing and small fields allowed besides the file itself

SCAN_ERRORS: dict[int | str, dict[str, Any]] = {
    413: {"model": ErrorBody, "description": "`body_too_large` (more than scan_max_bytes and the form's framing), "
          "`scan_too_large`: more than scan_max_bytes, scan_max_pages pages or scan_max_pixels pixels on a page "
          "(read from the headers before decoding: a decompression bomb)"},
    415: {"model": ErrorBody, "description": "`unsupported_media_type`: not multipart/form-data"},
    422: {"model": ErrorBody, "description": "`unreadable_scan` (not a PNG, JPEG, TIFF or PDF, or damaged), "
          "`empty_text` (no text found), `text_too_long`, `invalid_id`, `missing_id`, `invalid_request`"},
    503: {"model": ErrorBody, "description": "`ocr_unavailable`: the server lacks the ocr extra; `queue_full`, "
          "`store_unavailable` or `not_ready`"},
}


class ScannedLetter(BaseModel):
    """The text the OCR read (the spans and low-confidence lines of the result point into it) and the result."""

    text: str = Field(description="the letter as read: paragraphs joined, headers, footers and page numbers left out")
    result: LetterResult


def upload_limit(settings: Settings) -> int:
    """The most body bytes a scan request may send (checked as they arrive, before any parsing)."""
    return settings.scan_max_bytes + MULTIPART_OVERHEAD


async def read_upload(file: UploadFile, settings: Settings) -> Any:
    """The OCR'd scan (xinfang.ocr.document.ScanText); ApiError 413/422/503 with the reason."""
    try:
        from xinfang.ocr.document import read_scan
        from xinfang.ocr.limits import ScanError, ScanLimits, ScanTooLarge
        from xinfang.ocr.recognizer import get_recognizer
    except ImportError:
        raise ApiError(503, "ocr_unavailable", "this server cannot read scans: install the ocr extra") from None
    limits = ScanLimits.from_settings(settings)
    if file.size is not None and file.size > limits.max_bytes:
        raise ApiError(413, "scan_too_large", f"the file has {file.size} bytes, more than {limits.max_bytes}")
    data = await file.read(limits.max_bytes + 1)
    try:
        limits.check_bytes(len(data))
        return await run_in_threadpool(lambda: read_scan(data, limits, get_recognizer(settings.threads)))
    except ScanTooLarge as exc:
        raise ApiError(413, "scan_too_large", str(exc)) from None
    except ScanError as exc:
        code = "empty_text" if str(exc).startswith("no text") else "unreadable_scan"
        raise ApiError(422, code, str(exc)) from None
    except Exception as exc:  # noqa: BLE001  a decoder failing on hostile bytes is the client's problem
        raise ApiError(422, "unreadable_scan", f"the file cannot be read ({type(exc).__name__})") from None
