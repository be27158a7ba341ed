"""Limits on a scanned letter, checked before anything is decoded, and the errors of an unreadable scan."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from xinfang.errors import XinfangError

if TYPE_CHECKING:
    from xinfang.config import Settings


class ScanError(XinfangError):
    """A file that is not a readable image or PDF, or holds no text; the message never quotes its text."""


class ScanTooLarge(ScanError):
    """A file over a limit: too many bytes, pages or pixels (a decompression bomb is one)."""


@dataclass(frozen=True)
class ScanLimits:
    """The most one scanned letter may have: bytes of the file, pages, and pixels of one decoded page."""

    max_bytes: int = 20 * 1024 * 1024
    max_pages: int = 20
    max_pixels: int = 40_000_000

    @classmethod
    def from_settings(cls, settings: Settings) -> ScanLimits:
        return cls(settings.scan_max_bytes, settings.scan_max_pages, settings.scan_max_pixels)

    def check_bytes(self, size: int) -> None:
        if size > self.max_bytes:
            raise ScanTooLarge(f"the file has {size} bytes, more than {self.max_bytes}")

    def check_pages(self, pages: int) -> None:
        if pages > self.max_pages:
            raise ScanTooLarge(f"the file has {pages} pages, more than {self.max_pages}")

    def check_page(self, number: int, width: int, height: int) -> None:
        """Refuse a page whose decoded size would pass the pixel limit (how a decompression bomb is caught)."""
        if width <= 0 or height <= 0:
            raise ScanError(f"page {number} has no pixels ({width}x{height})")
        if width * height > self.max_pixels:
            raise ScanTooLarge(f"page {number} is {width}x{height} pixels, more than {self.max_pixels}")
