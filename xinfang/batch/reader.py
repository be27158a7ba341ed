"""Lazy reading of letter files (JSONL, CSV, TSV, xlsx; encodings by xinfang.tables) into letters and
rejections; a malformed CSV record is an error row for its first line and reading resumes on the line after it."""

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
from xinfang.tables import (
    ENCODING_HINT,
    TableFormat,
    detect_encoding,
    has_surrogates,
    sheet_rows,
    table_format,
    text_lines,
)

_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")
_CSV_FIELD_LIMIT = 1 << 26  # characters; longer CSV fields are malformed rows, shorter ones may be too_long


@dataclass(frozen=True)
class Columns:
    """Field (JSONL key or CSV/xlsx header) names of the id, the text and the optional submitter."""

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


class LetterFile:
    """An input file of letters whose format, encoding and header are settled when it is opened (so that a
    file that cannot be read fails before any output is written); `rows()` reads it, as often as needed."""

    def __init__(self, path: Path, fmt: str | None = None, columns: Columns = Columns(),
                 limits: Limits = Limits(), encoding: str | None = None):
        if not path.is_file():
            raise InputFileError(path, "no such file")
        self.path, self.columns, self.limits = path, columns, limits
        self.format = table_format(path, fmt)
        self.encoding = None if self.format is TableFormat.xlsx else detect_encoding(path, encoding)
        if self.format is not TableFormat.jsonl:
            next(self._table(), None)  # reads and checks the header only

    def rows(self) -> Iterator[Letter | Rejected]:
        """Every row of the file in order, as a Letter or a Rejected; blank lines are not rows."""
        if self.format is TableFormat.jsonl:
            return self._jsonl()
        return self._table()

    def count(self) -> int:
        """A cheap estimate of the number of rows (lines; a header left out), for a progress bar."""
        if self.format is TableFormat.xlsx:
            return max(0, sum(1 for _ in sheet_rows(self.path)) - 1)
        lines, last = 0, b"\n"
        with self.path.open("rb") as f:
            while block := f.read(1 << 20):
                lines += block.count(b"\n")
                last = block[-1:]
        lines += last != b"\n"
        return max(0, lines - (self.format is not TableFormat.jsonl))

    def _table(self) -> Iterator[Letter | Rejected]:
        if self.format is TableFormat.xlsx:
            records = ((n, n, cells) for n, cells in sheet_rows(self.path))
        else:
            records = _csv_records(self.path, self.encoding or "utf-8", self.limits,
                                   "\t" if self.format is TableFormat.tsv else ",")
        yield from _table_rows(self.path, records, self.columns, self.limits, self.encoding or "utf-8")

    def _jsonl(self) -> Iterator[Letter | Rejected]:
        columns, limits = self.columns, self.limits
        for line_no, line in enumerate(text_lines(self.path, self.encoding or "utf-8"), start=1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except ValueError as exc:
                if has_surrogates(line):
                    yield Rejected(line_no, Reason.invalid_encoding, f"the line is not valid {self.encoding}")
                    continue
                where = f" at column {exc.colno}" if isinstance(exc, json.JSONDecodeError) else ""
                yield Rejected(line_no, Reason.malformed_row, f"invalid JSON{where}")
                continue
            if not isinstance(obj, dict):
                yield Rejected(line_no, Reason.malformed_row, f"a JSON {_kind(obj)}, not an object")
                continue
            if has_surrogates(line):  # the id is kept when it is itself clean
                letter_id, reason, _ = _check_id(obj.get(columns.id), limits)
                yield Rejected(line_no, Reason.invalid_encoding, f"the line is not valid {self.encoding}",
                               letter_id if reason is None else None)
                continue
            submitter = obj.get(columns.submitter) if columns.submitter else None
            yield _make(line_no, obj.get(columns.id), obj.get(columns.text), submitter, columns.text in obj,
                        limits)


def read_letters(path: Path, fmt: str | None = None, columns: Columns = Columns(), limits: Limits = Limits(),
                 encoding: str | None = None) -> Iterator[Letter | Rejected]:
    """Every row of the file in order, as a Letter or a Rejected (LetterFile(...).rows())."""
    return LetterFile(path, fmt, columns, limits, encoding).rows()


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
    if has_surrogates(text):
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
    if has_surrogates(raw_text):
        return Rejected(line, Reason.invalid_encoding, "text is not valid UTF-8", letter_id)
    if not raw_text.strip():
        return Rejected(line, Reason.empty_text, "text is empty or whitespace", letter_id)
    if len(raw_text) > limits.max_chars:
        return Rejected(line, Reason.too_long,
                        f"text has {len(raw_text)} characters, more than {limits.max_chars}", letter_id)
    submitter = None
    if isinstance(raw_sub, str | int) and not isinstance(raw_sub, bool):
        sub = str(raw_sub).strip()
        submitter = sub if sub and not has_surrogates(sub) else None
    return Letter(line, letter_id, raw_text, submitter)


# --- tables (CSV, TSV, sheets) ----------------------------------------------------------------------------

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


def _record_at(lines: _Lookahead, start: int, max_lines: int, delimiter: str = ",") -> _Record | None:
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

    reader = csv.reader(feed(), strict=True, delimiter=delimiter)
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
            problem = f"parse error on line {end}: {exc}"
        return _Record(start, end, None, problem)
    return _Record(start, start + used - 1, fields)


def _csv_records(path: Path, encoding: str, limits: Limits, delimiter: str
                 ) -> Iterator[tuple[int, int, list[str] | None | str]]:
    """(first line, last line, fields) of each record; a malformed record's fields are its problem (a
    string), and reading resumes on the line after its first."""
    csv.field_size_limit(max(csv.field_size_limit(), _CSV_FIELD_LIMIT))
    lines = _Lookahead(text_lines(path, encoding))
    start = 1
    while (rec := _record_at(lines, start, limits.max_record_lines, delimiter)) is not None:
        if rec.fields is None:  # the next line may start a good record
            if rec.start == 1:
                raise InputFileError(path, f"unreadable header: {rec.problem}", line=1)
            start = rec.start + 1
            lines.release(start)
            yield rec.start, rec.end, rec.problem
            continue
        start = rec.end + 1
        lines.release(start)
        yield rec.start, rec.end, rec.fields


def _table_rows(path: Path, records: Iterator[tuple[int, int, list[str] | None | str]], columns: Columns,
                limits: Limits, encoding: str) -> Iterator[Letter | Rejected]:
    """Letters and rejections from the records of a table whose first record is its header."""
    head = next(records, None)
    if head is None:
        return
    if not isinstance(head[2], list) or any(has_surrogates(h) for h in head[2]):
        raise InputFileError(path, f"the header is not valid {encoding}; {ENCODING_HINT}", line=head[0])
    header = [h.strip().lstrip("\ufeff") for h in head[2]]
    for need in (columns.id, columns.text):
        if need not in header:
            raise InputFileError(path, f"no column '{need}' in the header (columns: {', '.join(header)}); "
                                 "name yours with --id-column/--text-column", line=head[0])
    id_at, text_at = header.index(columns.id), header.index(columns.text)
    sub_at = header.index(columns.submitter) if columns.submitter and columns.submitter in header else None
    for start, end, row in records:
        if isinstance(row, str):  # an error row for its first line (no id: the line may be a letter's text)
            yield Rejected(start, Reason.malformed_row, row)
            continue
        if not row or (len(row) == 1 and not row[0].strip() and len(header) > 1):
            continue
        if len(row) != len(header):
            span = f" (lines {start}-{end})" if end > start else ""
            yield Rejected(start, Reason.malformed_row, f"{len(row)} fields, the header has {len(header)}{span}")
            continue
        raw_id = row[id_at]
        if has_surrogates(row[text_at]) or has_surrogates(raw_id):
            letter_id, reason, _ = _check_id(raw_id, limits)
            yield Rejected(start, Reason.invalid_encoding, f"the row is not valid {encoding}",
                           letter_id if reason is None else None)
            continue
        yield _make(start, raw_id if raw_id.strip() else None, row[text_at],
                    row[sub_at] if sub_at is not None else None, True, limits)
