"""The files people bring and take (JSONL; CSV and TSV in UTF-8, UTF-8 with BOM or GB18030/GBK; xlsx): format, encoding, lines, sheet rows, records, tables."""

from __future__ import annotations

import codecs
import csv
import io
import json
import re
import shutil
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, datetime, time
from enum import StrEnum
from pathlib import Path
from typing import Any

from xinfang.errors import InputFileError, XinfangError

STDIO = "-"  # as an input path: standard input; as an output path: standard output
ENCODING_HINT = ("save it as UTF-8 (Excel: 'CSV UTF-8') or name its encoding with --encoding "
                 "(for example gb18030, big5, utf-16)")
_SNIFF_BYTES = 16 << 20  # encoding detection reads at most this much of a file
_SURROGATE = re.compile("[\ud800-\udfff]")


class TableFormat(StrEnum):
    """Input file formats: JSON lines, comma- or tab-separated values, a workbook (first sheet)."""

    jsonl = "jsonl"
    csv = "csv"
    tsv = "tsv"
    xlsx = "xlsx"


_SUFFIXES = {".jsonl": TableFormat.jsonl, ".json": TableFormat.jsonl, ".ndjson": TableFormat.jsonl,
             ".csv": TableFormat.csv, ".tsv": TableFormat.tsv, ".tab": TableFormat.tsv,
             ".xlsx": TableFormat.xlsx, ".xlsm": TableFormat.xlsx, ".xls": TableFormat.xlsx,
             ".xlsb": TableFormat.xlsx, ".ods": TableFormat.xlsx}
_ALIASES = {"json": "jsonl", "ndjson": "jsonl", "xls": "xlsx", "ods": "xlsx"}


def is_stdio(path: str | Path | None) -> bool:
    return path is not None and str(path) == STDIO


def table_format(path: Path, fmt: str | None = None) -> TableFormat:
    """`fmt` when given, else by suffix, else sniffed from the first bytes (zip or OLE: a workbook; '{': JSONL;
    a tab before any comma on the first line: TSV; otherwise CSV)."""
    if fmt:
        name = _ALIASES.get(fmt.lower().lstrip("."), fmt.lower().lstrip("."))
        try:
            return TableFormat(name)
        except ValueError:
            raise XinfangError(f"unknown format '{fmt}' (use {', '.join(TableFormat)})") from None
    if path.suffix.lower() in _SUFFIXES:
        return _SUFFIXES[path.suffix.lower()]
    with path.open("rb") as f:
        head = f.read(64 << 10)
    if head.startswith((b"PK\x03\x04", b"\xd0\xcf\x11\xe0")):
        return TableFormat.xlsx
    first = head.lstrip(b"\xef\xbb\xbf \t\r\n")
    if first.startswith(b"{") or not first:
        return TableFormat.jsonl
    line = first.split(b"\n", 1)[0]
    return TableFormat.tsv if b"\t" in line.split(b",", 1)[0] else TableFormat.csv


# --- encodings --------------------------------------------------------------------------------------------

def check_encoding(name: str) -> str:
    """The codec's canonical name; XinfangError for an unknown one."""
    try:
        return codecs.lookup(name).name
    except LookupError:
        raise XinfangError(f"unknown encoding '{name}' (for example utf-8, gb18030, big5, utf-16)") from None


def _decodes(data: bytes, encoding: str) -> bool:
    try:
        data.decode(encoding)
    except UnicodeDecodeError:
        return False
    return True


def detect_encoding(path: Path, encoding: str | None = None) -> str:
    """`encoding` when given, else from a byte order mark, else UTF-8 or GB18030 (a superset of GBK and
    GB2312), whichever decodes the file's non-ASCII lines (UTF-8 wins when it decodes at least half of them:
    its other lines become error rows). InputFileError, naming the first line UTF-8 cannot decode, when
    neither does."""
    if encoding:
        return check_encoding(encoding)
    with path.open("rb") as f:
        sample = f.read(_SNIFF_BYTES)
        if f.read(1):  # cut at a line end: a character may straddle the sample's end
            sample = sample[: sample.rfind(b"\n") + 1]
    if sample.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    if sample.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"
    if sample.isascii() or _decodes(sample, "utf-8"):
        return "utf-8"
    lines = [(n, raw) for n, raw in enumerate(sample.split(b"\n"), start=1) if not raw.isascii()]
    utf8_bad = [n for n, raw in lines if not _decodes(raw, "utf-8")]
    if 2 * len(utf8_bad) <= len(lines):
        return "utf-8"
    if 2 * sum(not _decodes(raw, "gb18030") for _, raw in lines) <= len(lines):
        return "gb18030"
    raise InputFileError(path, f"the file is neither UTF-8 nor GB18030/GBK; {ENCODING_HINT}", line=utf8_bad[0])


def text_lines(path: Path, encoding: str) -> Iterator[str]:
    """The file's lines (split at '\\n' only, line ends kept) decoded with `encoding`, a byte order mark
    dropped; bytes it cannot decode become lone surrogates (surrogateescape), which row checks reject."""
    with path.open("rb") as raw:
        head = raw.read(4)
        raw.seek(0)
        codec = "utf-8-sig" if encoding == "utf-8" and head.startswith(codecs.BOM_UTF8) else encoding
        yield from io.TextIOWrapper(raw, encoding=codec, errors="surrogateescape", newline="\n")


def has_surrogates(text: str) -> bool:
    """True when `text` holds bytes its file's encoding could not decode (or a lone surrogate escape)."""
    return _SURROGATE.search(text) is not None


# --- workbooks --------------------------------------------------------------------------------------------

def cell_text(value: Any) -> str:
    """A workbook cell as the text a CSV would hold: integral numbers without '.0', dates in ISO form."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() and abs(value) < 2**53 else repr(value)
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    return str(value)


def sheet_rows(path: Path) -> Iterator[tuple[int, list[str]]]:
    """(row number from 1, cells as text) of the workbook's first sheet; empty rows left out."""
    try:
        from python_calamine import CalamineWorkbook
    except ImportError:
        raise XinfangError("reading workbooks needs python-calamine: pip install python-calamine") from None
    try:
        book = CalamineWorkbook.from_path(str(path))
        sheet = book.get_sheet_by_index(0)
        rows = sheet.iter_rows()
    except Exception as exc:  # calamine raises its own error types for broken or encrypted files
        raise InputFileError(path, f"not a readable workbook ({type(exc).__name__}: {exc}); save it again as "
                             ".xlsx, or as CSV UTF-8") from None
    for n, row in enumerate(rows, start=1):
        cells = [cell_text(v) for v in row]
        if any(c.strip() for c in cells):
            yield n, cells


# --- records (labelled-letter and review files) -----------------------------------------------------------

def _split_rows(path: Path, fmt: TableFormat, encoding: str | None) -> Iterator[tuple[int, list[str]]]:
    """(first line, fields) of every non-empty CSV/TSV record or sheet row."""
    if fmt is TableFormat.xlsx:
        yield from sheet_rows(path)
        return
    enc = detect_encoding(path, encoding)
    line_no = 0

    def numbered() -> Iterator[str]:
        nonlocal line_no
        for line in text_lines(path, enc):
            line_no += 1
            yield line

    reader = csv.reader(numbered(), delimiter="\t" if fmt is TableFormat.tsv else ",")
    end = 0
    try:
        for fields in reader:
            start, end = end + 1, line_no
            if any(has_surrogates(f) for f in fields):
                raise InputFileError(path, f"line is not valid {enc}; {ENCODING_HINT}", line=start)
            if fields and any(f.strip() for f in fields):
                yield start, fields
    except csv.Error as exc:
        raise InputFileError(path, f"unreadable {fmt.value.upper()} record ({exc})", line=end + 1) from None


class Records:
    """The records of a JSONL, CSV, TSV or workbook file as (line, dict); `columns` is the header of a
    table (None for JSONL). Lines that cannot be decoded or parsed raise InputFileError naming the line."""

    def __init__(self, path: str | Path, fmt: str | None = None, encoding: str | None = None):
        self.path = Path(path)
        if not self.path.is_file():
            raise InputFileError(self.path, "file not found")
        self.format = table_format(self.path, fmt)
        self.encoding = encoding
        self.columns: list[str] | None = None
        self._rows: Iterator[tuple[int, list[str]]] | None = None
        if self.format is not TableFormat.jsonl:
            self._rows = _split_rows(self.path, self.format, encoding)
            first = next(self._rows, None)
            self.columns = [c.strip().lstrip("\ufeff") for c in first[1]] if first else []

    def __iter__(self) -> Iterator[tuple[int, dict[str, Any]]]:
        if self._rows is None:
            yield from self._jsonl()
            return
        cols = self.columns or []
        for line, fields in self._rows:
            row: dict[str, Any] = dict.fromkeys(cols)
            row.update(zip(cols, fields, strict=False))
            yield line, row

    def _jsonl(self) -> Iterator[tuple[int, dict[str, Any]]]:
        enc = detect_encoding(self.path, self.encoding)
        for n, raw in enumerate(text_lines(self.path, enc), start=1):
            if not raw.strip():
                continue
            if has_surrogates(raw):
                raise InputFileError(self.path, f"line is not valid {enc}; {ENCODING_HINT}", line=n)
            try:
                record = json.loads(raw)
            except json.JSONDecodeError as exc:
                raise InputFileError(self.path, f"invalid JSON: {exc.msg}", line=n) from None
            if not isinstance(record, dict):
                raise InputFileError(self.path, "each line must be a JSON object", line=n)
            yield n, record


# --- tables for people --------------------------------------------------------------------------------------

def write_table(path: Path, columns: list[str], rows: list[dict[str, Any]]) -> None:
    """Rows for people: an .xlsx workbook (openpyxl; characters a workbook cannot hold dropped), a .tsv, or
    else CSV, both UTF-8 with a byte order mark so that Excel shows the Chinese."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fmt = _SUFFIXES.get(path.suffix.lower(), TableFormat.csv)
    if fmt is TableFormat.xlsx:
        try:
            from openpyxl import Workbook
            from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
        except ImportError:
            raise XinfangError("writing .xlsx needs openpyxl: pip install openpyxl") from None
        book = Workbook(write_only=True)
        sheet = book.create_sheet()
        sheet.append(columns)
        for row in rows:
            sheet.append([ILLEGAL_CHARACTERS_RE.sub("", v) if isinstance(v := row.get(c, ""), str) else v
                          for c in columns])
        book.save(path)
        return
    with path.open("w", encoding="utf-8-sig", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=columns, delimiter="\t" if fmt is TableFormat.tsv else ",")
        writer.writeheader()
        writer.writerows(rows)


# --- standard input and output ------------------------------------------------------------------------------

@contextmanager
def local_input(path: Path | None) -> Iterator[Path | None]:
    """`path` itself (None too); for '-', standard input copied to a temporary file first (the readers go
    over a file more than once: encoding, row count, letters)."""
    if not is_stdio(path):
        yield path
        return
    with tempfile.TemporaryDirectory(prefix="xinfang-stdin-") as tmp:
        copy = Path(tmp) / "stdin"
        with copy.open("wb") as f:
            shutil.copyfileobj(sys.stdin.buffer, f)
        yield copy


@contextmanager
def local_output(path: Path) -> Iterator[Path]:
    """`path` itself; for '-', a temporary file whose bytes go to standard output once it is written."""
    if not is_stdio(path):
        yield path
        return
    with tempfile.TemporaryDirectory(prefix="xinfang-stdout-") as tmp:
        out = Path(tmp) / "stdout"
        yield out
        if out.exists():
            with out.open("rb") as f:
                sys.stdout.flush()
                shutil.copyfileobj(f, sys.stdout.buffer)
                sys.stdout.buffer.flush()
