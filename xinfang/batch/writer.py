"""Append-only output, error and signature files (or standard output): one line a row, flushed and fsync'd per chunk."""

from __future__ import annotations

import csv
import io
import json
import os
import sys
from pathlib import Path
from typing import Any, TextIO

from pydantic import ValidationError

from xinfang.batch.choices import OutputFormat
from xinfang.errors import XinfangError
from xinfang.result import (
    BinaryAnswer,
    CredibilityAnswer,
    LetterResult,
    MultiLabelAnswer,
    SingleLabelAnswer,
    answer_model,
)
from xinfang.schema import HeadKind, Schema

OUTPUT_FORMATS = tuple(OutputFormat)


def output_format(path: Path, fmt: str | None = None) -> str:
    """'csv' for --output-format csv or a .csv path, else 'jsonl'."""
    if fmt:
        fmt = "jsonl" if fmt.lower() in {"json", "ndjson"} else fmt.lower()
        if fmt not in OUTPUT_FORMATS:
            raise ValueError(f"unknown output format '{fmt}' (use jsonl or csv)")
        return fmt
    return "csv" if path.suffix.lower() == ".csv" else "jsonl"


def _dumps(obj: Any) -> str:
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":"))


class ResultCodec:
    """One result as one line and back. JSONL: the result's JSON. CSV: flattened key columns (per head
    kind: label/confidence, labels/primary, probability/flag, credibility's score) then `result`, the full
    JSON."""

    def __init__(self, fmt: str, schema: Schema):
        self.fmt = fmt
        self.heads = list(schema.heads)
        cols = ["id"]
        for h in self.heads:
            if h.kind is HeadKind.single_label:
                cols += [h.name, f"{h.name}_confidence"]
            elif h.kind is HeadKind.multi_label:
                cols += [h.name, f"{h.name}_primary"]
                cols += [f"{h.name}_score"] if answer_model(h) is CredibilityAnswer else []
            else:
                cols += [f"{h.name}_probability", f"{h.name}_flag"]
        self.columns = cols + ["route", "duplicates", "result"]

    @property
    def header(self) -> str | None:
        """The CSV header, after a byte order mark so that Excel shows the Chinese as Chinese."""
        return "\ufeff" + self._csv_line(self.columns) if self.fmt == "csv" else None

    @staticmethod
    def _csv_line(values: list[Any]) -> str:
        buf = io.StringIO()
        csv.writer(buf, lineterminator="\n").writerow(values)
        return buf.getvalue()

    def encode(self, result: LetterResult) -> str:
        data = result.to_json()
        if self.fmt == "jsonl":
            return _dumps(data) + "\n"
        row: list[Any] = [result.id]
        for h in self.heads:
            a = result.heads.get(h.name)
            if isinstance(a, SingleLabelAnswer):
                row += [a.label, a.confidence]
            elif isinstance(a, MultiLabelAnswer):
                row += ["|".join(a.labels), a.primary or ""]
                row += [a.score] if isinstance(a, CredibilityAnswer) else []
            elif isinstance(a, BinaryAnswer):
                row += [a.probability, int(a.flag)]
            else:  # a head this result lacks
                row += ["", ""] + ([""] if answer_model(h) is CredibilityAnswer else [])
        duplicates = "|".join(d.id for d in result.duplicates)
        row += [result.route.decision, duplicates, _dumps(data)]
        return self._csv_line(row)

    def decode(self, line: str) -> LetterResult:
        """The result of one line written by encode. ValueError if the line is not a result row (a torn or
        foreign line); XinfangError if it is one this version cannot read (another result layout)."""
        if self.fmt == "jsonl":
            obj = json.loads(line)
        else:
            rows = list(csv.reader([line]))
            if len(rows) != 1 or len(rows[0]) != len(self.columns):
                raise ValueError("not a result row")
            obj = json.loads(rows[0][-1])
        if not isinstance(obj, dict) or not isinstance(obj.get("id"), str):
            raise ValueError("not a result row")
        try:
            return LetterResult.model_validate(obj)
        except ValidationError as exc:
            where = ".".join(map(str, exc.errors()[0]["loc"]))
            raise XinfangError(f"the output holds a result (result_version {obj.get('result_version', 1)}) "
                               f"this version cannot read ({where}: {exc.errors()[0]['msg']}); use --restart "
                               "or another output file") from None


def error_line(record: dict) -> str:
    """An error-file line: {"id", "line", "reason", "message"} (never the letter text)."""
    return _dumps(record) + "\n"


def sig_line(letter_id: str, submitter_key: str | None, sig_b64: str) -> str:
    """A signature side-file line: the letter id, the hashed submitter and the MinHash signature."""
    return _dumps({"id": letter_id, "sub": submitter_key, "sig": sig_b64}) + "\n"


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


class LineFile:
    """A UTF-8 text file opened for appending whole lines; `commit` flushes and fsyncs them."""

    def __init__(self, path: Path, header: str | None = None):
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        fresh = not path.exists() or path.stat().st_size == 0
        self._f = path.open("a", encoding="utf-8", newline="")
        if fresh:
            if header:
                self._f.write(header)
            self.commit()
            _fsync_dir(path.parent)

    def write(self, lines: list[str]) -> None:
        if lines:
            self._f.write("".join(lines))

    def commit(self) -> None:
        self._f.flush()
        os.fsync(self._f.fileno())

    def close(self) -> None:
        if not self._f.closed:
            self.commit()
            self._f.close()

    def __enter__(self) -> LineFile:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class StreamLines:
    """Whole lines to standard output or standard error (looked up when written, as tests swap them);
    nothing is fsync'd and nothing can be resumed. A CSV header goes out without a byte order mark."""

    def __init__(self, name: str, header: str | None = None):
        self.path = Path("-")
        self._name = name
        if header:
            self.write([header.lstrip("\ufeff")])

    @property
    def _stream(self) -> TextIO:
        return getattr(sys, self._name)

    def write(self, lines: list[str]) -> None:
        if lines:
            self._stream.write("".join(lines))

    def commit(self) -> None:
        self._stream.flush()

    def close(self) -> None:
        self.commit()

    def __enter__(self) -> StreamLines:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class NullLines(StreamLines):
    """A side file that is not kept (the signatures of a run to standard output)."""

    def __init__(self) -> None:
        self.path = Path("-")

    def write(self, lines: list[str]) -> None:
        pass

    def commit(self) -> None:
        pass
