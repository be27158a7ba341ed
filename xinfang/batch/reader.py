"""Lazy reading of JSONL and CSV letter files, one line decoded at a time, into letters and rejections;
a malformed CSV record is an error row for its first line and reading resumes on the line after it."""

from __future__ import annotations

import csv
import json
import re
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from xinfang.batch.records import Letter, Reason, Rejected
from xinfang.errors import InputFileError

FORMATS = ("jsonl", "csv")
_SURROGATE = re.compile("[\ud800-\udfff]")
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")
_CSV_FIELD_LIMIT = 1 << 26  # characters; longer CSV fields are malformed rows, shorter ones may be too_long


@dataclass(frozen=True)
class Columns:
    """Field (JSONL key or CSV header) names of the id, the text and the optional submitter."""

    id: str = "id"
    text: str = "text"
    submitter: str | None = "submitter"


@dataclass(frozen=True)
class Limits:
    max_chars: int = 20_000
    max_id_chars: int = 128

    @property
    def max_record_lines(self) -> int:
        """Lines one CSV record may span: only its text may break lines, and each break is a character."""
        return self.max_chars + 1


def detect_format(path: Path, fmt: str | None = None) -> str:
    """'jsonl' or 'csv': `fmt` when given, else from the suffix (.csv/.tsv is CSV, anything else JSONL)."""
    if fmt:
        fmt = fmt.lower().lstrip(".")
        fmt = "jsonl" if fmt in {"json", "ndjson"} else fmt
        if fmt not in FORMATS:
            raise InputFileError(path, f"unknown format '{fmt}' (use jsonl or csv)")
        return fmt
    return "csv" if path.suffix.lower() == ".csv" else "jsonl"


def count_rows(path: Path, fmt: str) -> int:
    """A cheap estimate of the number of rows (lines; the CSV header left out), for a progress bar."""
    lines, last = 0, b"\n"
    with path.open("rb") as f:
        while block := f.read(1 << 20):
            lines += block.count(b"\n")
            last = block[-1:]
    lines += last != b"\n"
    return max(0, lines - (fmt == "csv"))


def read_letters(path: Path, fmt: str, columns: Columns = Columns(), limits: Limits = Limits()
                 ) -> Iterator[Letter | Rejected]:
    """Every row of the file in order, as a Letter or a Rejected; blank lines are not rows."""
    if fmt == "csv":
        yield from _read_csv(path, columns, limits)
    else:
        yield from _read_jsonl(path, columns, limits)


# --- field checks shared by both formats ------------------------------------------------------------------

def _kind(value: Any) -> str:
    return type(value).__name__


def _check_id(value: Any, limits: Limits) -> tuple[str | None, Rejected | None, str]:
    """(id, None, '') for a good id, else (None, reason, message)."""
    if value is None:
        return None, Reason.missing_id, "no id"
    if isinstance(value, bool) or not isinstance(value, str | int):
        return None, Reason.invalid_id, f"id is a {_kind(value)}, not a string or integer"
    text = str(value)
    if not text.strip():
        return None, Reason.missing_id, "empty id"
    if _SURROGATE.search(text):
        return None, Reason.invalid_encoding, "id is not valid UTF-8"
    if len(text) > limits.max_id_chars:
        return None, Reason.invalid_id, f"id has {len(text)} characters, more than {limits.max_id_chars}"
    if _CONTROL.search(text):
        return None, Reason.invalid_id, "id contains control characters or line breaks"
    return text, None, ""


def _make(line: int, raw_id: Any, raw_text: Any, raw_sub: Any, has_text: bool, limits: Limits
          ) -> Letter | Rejected:
    letter_id, reason, message = _check_id(raw_id, limits)
    if reason is not None:
        return Rejected(line, reason, message)
    if not has_text or raw_text is None:
        return Rejected(line, Reason.missing_text, "no text field", letter_id)
    if not isinstance(raw_text, str):
        return Rejected(line, Reason.missing_text, f"text is a {_kind(raw_text)}, not a string", letter_id)
    if _SURROGATE.search(raw_text):
        return Rejected(line, Reason.invalid_encoding, "text is not valid UTF-8", letter_id)
    if not raw_text.strip():
        return Rejected(line, Reason.empty_text, "text is empty or whitespace", letter_id)
    if len(raw_text) > limits.max_chars:
        return Rejected(line, Reason.too_long,
                        f"text has {len(raw_text)} characters, more than {limits.max_chars}", letter_id)
    submitter = None
    if isinstance(raw_sub, str | int) and not isinstance(raw_sub, bool):
        sub = str(raw_sub).strip()
        submitter = sub if sub and not _SURROGATE.search(sub) else None
    return Letter(line, letter_id, raw_text, submitter)


# --- JSONL ------------------------------------------------------------------------------------------------

def _salvage_id(raw: bytes, columns: Columns, limits: Limits) -> str | None:
    """The id of a line that is not valid UTF-8, when the id itself is clean."""
    try:
        obj = json.loads(raw.decode("utf-8", errors="replace"))
    except ValueError:
        return None
    if not isinstance(obj, dict):
        return None
    letter_id, reason, _ = _check_id(obj.get(columns.id), limits)
    return letter_id if reason is None and "\ufffd" not in letter_id else None


def _read_jsonl(path: Path, columns: Columns, limits: Limits) -> Iterator[Letter | Rejected]:
    with path.open("rb") as f:
        for line_no, raw in enumerate(f, start=1):
            if line_no == 1 and raw.startswith(b"\xef\xbb\xbf"):
                raw = raw[3:]
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                message = f"byte {exc.start} of the line is not valid UTF-8"
                yield Rejected(line_no, Reason.invalid_encoding, message, _salvage_id(raw, columns, limits))
                continue
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except ValueError as exc:
                where = f" at column {exc.colno}" if isinstance(exc, json.JSONDecodeError) else ""
                yield Rejected(line_no, Reason.malformed_row, f"invalid JSON{where}")
                continue
            if not isinstance(obj, dict):
                yield Rejected(line_no, Reason.malformed_row, f"a JSON {_kind(obj)}, not an object")
                continue
            submitter = obj.get(columns.submitter) if columns.submitter else None
            yield _make(line_no, obj.get(columns.id), obj.get(columns.text), submitter, columns.text in obj,
                        limits)


# --- CSV --------------------------------------------------------------------------------------------------

def _decoded_lines(path: Path) -> Iterator[str]:
    """Lines decoded one by one; undecodable bytes become lone surrogates, which the row checks catch."""
    with path.open("rb") as f:
        for i, raw in enumerate(f):
            if i == 0 and raw.startswith(b"\xef\xbb\xbf"):
                raw = raw[3:]
            yield raw.decode("utf-8", errors="surrogateescape")


class _Lookahead:
    """Numbered physical lines (from 1) held from the start of the record being read, so that a record
    which turns out malformed can be read again from the line after its start."""

    def __init__(self, lines: Iterator[str]):
        self._lines = lines
        self._held: deque[str] = deque()
        self._first = 1  # the number of _held[0]

    def line(self, n: int) -> str | None:
        """Line n (not yet released), or None past the end of the file."""
        while n >= self._first + len(self._held):
            nxt = next(self._lines, None)
            if nxt is None:
                return None
            self._held.append(nxt)
        return self._held[n - self._first]

    def release(self, n: int) -> None:
        """Forget the lines before n."""
        while self._first < n and self._held:
            self._held.popleft()
            self._first += 1


@dataclass(frozen=True)
class _Record:
    """One CSV record read from line `start` to line `end`; fields None when it does not parse."""

    start: int
    end: int
    fields: list[str] | None
    problem: str = ""


def _record_at(lines: _Lookahead, start: int, max_lines: int) -> _Record | None:
    """The record that starts on line `start` (None at the end of the file). Quoting is strict: a quote
    left open to the end of the file or past max_lines, or text after a closing quote, make the record
    malformed rather than let it swallow the rows that follow."""
    used, cut = 0, False

    def feed() -> Iterator[str]:
        nonlocal used, cut
        while (text := lines.line(start + used)) is not None:
            if used == max_lines:
                cut = True
                return
            used += 1
            yield text

    reader = csv.reader(feed(), strict=True)
    try:
        fields = next(reader)
    except StopIteration:
        return None
    except csv.Error as exc:
        end = start + used - 1
        if cut:
            problem = f"a quoted field opened here is not closed within {max_lines} lines"
        elif lines.line(end + 1) is None and "end of data" in str(exc):
            problem = "a quoted field opened here is never closed (the file ends inside it)"
        else:
            problem = f"CSV parse error on line {end}: {exc}"
        return _Record(start, end, None, problem)
    return _Record(start, start + used - 1, fields)


def _read_csv(path: Path, columns: Columns, limits: Limits) -> Iterator[Letter | Rejected]:
    csv.field_size_limit(max(csv.field_size_limit(), _CSV_FIELD_LIMIT))
    lines = _Lookahead(_decoded_lines(path))
    head = _record_at(lines, 1, limits.max_record_lines)
    if head is None:
        return
    if head.fields is None:
        raise InputFileError(path, f"unreadable CSV header: {head.problem}", line=1)
    header = head.fields
    if any(_SURROGATE.search(h) for h in header):
        raise InputFileError(path, "the CSV header is not valid UTF-8", line=1)
    header = [h.strip() for h in header]
    for need in (columns.id, columns.text):
        if need not in header:
            raise InputFileError(path, f"no column '{need}' in the header (columns: {', '.join(header)})",
                                 line=1)
    id_at, text_at = header.index(columns.id), header.index(columns.text)
    sub_at = header.index(columns.submitter) if columns.submitter and columns.submitter in header else None
    start = head.end + 1
    while (rec := _record_at(lines, start, limits.max_record_lines)) is not None:
        if rec.fields is None:  # an error row for its first line (no id: the line may be a letter's text);
            # the next line may start a good record
            start = rec.start + 1
            lines.release(start)
            yield Rejected(rec.start, Reason.malformed_row, rec.problem)
            continue
        start = rec.end + 1
        lines.release(start)
        row = rec.fields
        if not row or (len(row) == 1 and not row[0].strip() and len(header) > 1):
            continue
        if len(row) != len(header):
            span = f" (lines {rec.start}-{rec.end})" if rec.end > rec.start else ""
            yield Rejected(rec.start, Reason.malformed_row,
                           f"{len(row)} fields, the header has {len(header)}{span}")
            continue
        raw_id = row[id_at]
        if _SURROGATE.search(row[text_at]) or _SURROGATE.search(raw_id):
            letter_id, reason, _ = _check_id(raw_id, limits)
            yield Rejected(rec.start, Reason.invalid_encoding, "the row is not valid UTF-8",
                           letter_id if reason is None else None)
            continue
        yield _make(rec.start, raw_id if raw_id.strip() else None, row[text_at],
                    row[sub_at] if sub_at is not None else None, True, limits)
