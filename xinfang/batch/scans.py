"""Scanned letters as a `classify` input: a folder or a list of image (PNG, JPEG, TIFF) and PDF files, one
letter per file, id = the file name, OCR'd as they are read; an unreadable file is an error row naming it."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from xinfang.batch.records import Letter, Reason, Rejected
from xinfang.config import Settings
from xinfang.errors import InputFileError
from xinfang.result import LetterResult, OcrInfo
from xinfang.tables import is_stdio

SCAN_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".pdf")


@dataclass(frozen=True, slots=True)
class ScanLetter(Letter):
    """A letter read from a scan: `ocr` goes into its result."""

    ocr: OcrInfo | None = None


@dataclass(frozen=True, slots=True)
class ScanRejected(Rejected):
    """An error row for a file: it names the file; `line` is the file's place in this run's listing."""

    file: str = ""

    def to_dict(self) -> dict:
        return {"id": self.id, "file": self.file, "line": self.line, "reason": self.reason.value,
                "message": self.message}


def is_scan_input(paths: Sequence[Path]) -> bool:
    """Whether INPUT is scans: a folder, several files (one letter each), or one image or PDF file."""
    return len(paths) > 1 or any(p.is_dir() or p.suffix.lower() in SCAN_SUFFIXES for p in paths)


def annotate(letter: Letter, result: LetterResult) -> None:
    """Put a scanned letter's OCR record into its result (typed letters have none)."""
    if isinstance(letter, ScanLetter):
        result.ocr = letter.ocr


class ScanFolder:
    """The scans of a job: every file of a folder (not recursive, hidden files left out: one that is not an
    image or PDF is an error row) and files named one by one, in name order; `rows()` OCRs each file not
    marked done by `resume`."""

    def __init__(self, paths: Sequence[Path], settings: Settings):
        from xinfang.ocr.limits import ScanLimits

        missing = [p for p in paths if not p.exists()]
        if missing:
            raise InputFileError(missing[0], "no such file or folder")
        self.paths = list(paths)
        self.files = sorted(_listing(paths), key=lambda p: (p.name, str(p)))
        self.limits = ScanLimits.from_settings(settings)
        self.max_chars = settings.max_text_chars
        self.low_confidence = settings.ocr_low_confidence
        self.threads = settings.threads
        self.texts: Path | None = None
        self._skip: frozenset[str] = frozenset()
        self._on_skip: Callable[[], None] = lambda: None

    @property
    def path(self) -> Path:
        return self.paths[0]

    def count(self) -> int:
        return len(self.files)

    def texts_beside(self, output: Path, written: Iterable[Path]) -> None:
        """Append each OCR'd text to OUTPUT.texts.jsonl as {id, text} (what `xinfang review load --texts`
        reads; the spans of the results point into these texts; the last line of an id wins), and leave
        the job's own files out of the listing."""
        self.texts = None if is_stdio(output) else Path(f"{output}.texts.jsonl")
        self.leave_out([*written, *([self.texts] if self.texts else [])])

    def leave_out(self, paths: Iterable[Path]) -> None:
        """Files that are not letters (the job's own output written into a scans folder)."""
        gone = {p.resolve() for p in paths}
        self.files = [f for f in self.files if f.resolve() not in gone]

    def resume(self, done: Iterable[str], errors: Path, on_skip: Callable[[], None]) -> set[int]:
        """Files (by name) with a result, or an error row in `errors`, are skipped before they are read (no
        second OCR). Returns the error lines for the job: line numbers no row has, one per earlier error row,
        so that its count of rows done is right while its own skip by line does not apply (a file's place in
        the listing may have changed since)."""
        names = set()
        if errors.is_file():
            for line in errors.read_text(encoding="utf-8").splitlines():
                with contextlib.suppress(ValueError):
                    rec = json.loads(line)
                    name = rec.get("file") or rec.get("id") if isinstance(rec, dict) else None
                    if isinstance(name, str):
                        names.add(name)
        self._skip, self._on_skip = frozenset(done) | names, on_skip
        return set(range(-len(names), 0))

    def rows(self) -> Iterator[Letter | Rejected]:
        for line, path in enumerate(self.files, start=1):
            if path.name in self._skip:
                self._on_skip()
                continue
            row = self._read(line, path)
            if self.texts is not None and isinstance(row, ScanLetter):
                with self.texts.open("a", encoding="utf-8") as f:
                    f.write(json.dumps({"id": row.id, "text": row.text}, ensure_ascii=False) + "\n")
            yield row

    def _read(self, line: int, path: Path) -> Letter | Rejected:
        from xinfang.ocr.document import read_scan
        from xinfang.ocr.limits import ScanError, ScanTooLarge
        from xinfang.ocr.recognizer import get_recognizer

        name = path.name

        def reject(reason: Reason, message: str) -> ScanRejected:
            return ScanRejected(line, reason, message, name, file=name)

        try:
            self.limits.check_bytes(path.stat().st_size)
            scan = read_scan(path.read_bytes(), self.limits, get_recognizer(self.threads))
        except ScanTooLarge as exc:
            return reject(Reason.scan_too_large, str(exc))
        except ScanError as exc:
            reason = Reason.empty_text if str(exc).startswith("no text") else Reason.unreadable_scan
            return reject(reason, str(exc))
        except OSError as exc:
            return reject(Reason.unreadable_scan, f"cannot read the file ({exc.strerror or type(exc).__name__})")
        except Exception as exc:  # noqa: BLE001  a decoder or OCR failure costs this file only
            return reject(Reason.unreadable_scan, f"the OCR raised {type(exc).__name__}")
        if len(scan.text) > self.max_chars:
            return reject(Reason.too_long, f"text has {len(scan.text)} characters, more than {self.max_chars}")
        return ScanLetter(line, name, scan.text, None, ocr=scan.info(self.low_confidence))


def _listing(paths: Sequence[Path]) -> Iterator[Path]:
    for p in paths:
        if p.is_dir():
            yield from (f for f in p.iterdir() if f.is_file() and not f.name.startswith("."))
        else:
            yield p
