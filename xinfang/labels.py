"""Labelled letters: read JSONL/CSV/TSV/xlsx files where any subset of the schema's heads is labelled."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from xinfang.errors import InputFileError
from xinfang.schema import Head, HeadKind, Schema
from xinfang.tables import Records

LabelValue = list[str] | str | bool

RESERVED = {"id", "text", "source", "title", "submitter", "time", "spans", "template_ids", "split",
            "topic_primary", "provenance"}


@dataclass
class LabelledLetter:
    """One letter with labels for some heads (class ids, validated against the schema)."""

    id: str
    text: str
    labels: dict[str, LabelValue]
    source: str = "user"
    extra: dict[str, Any] = field(default_factory=dict)


def _split_multi(value: Any) -> list[str]:
    if isinstance(value, list):
        return [str(v).strip() for v in value if str(v).strip()]
    return [p.strip() for p in str(value).replace("；", "|").replace(";", "|").split("|") if p.strip()]


def _parse_bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    s = str(value).strip().lower()
    if s in {"1", "true", "yes", "y", "是"}:
        return True
    if s in {"0", "false", "no", "n", "否"}:
        return False
    raise ValueError(f"expected 0/1 or true/false, got {value!r}")


def parse_label(head: Head, value: Any) -> LabelValue:
    """Turn a raw cell into a validated label (class ids); ValueError names the bad value."""
    if head.kind is HeadKind.binary:
        return _parse_bool(value)
    if head.kind is HeadKind.single_label:
        raw = str(value).strip()
        try:
            return head.class_ids[head.index(raw)]
        except KeyError:
            raise ValueError(f"unknown class {raw!r} for head '{head.name}' (known: {head.class_ids})") from None
    out = []
    for raw in _split_multi(value):
        try:
            out.append(head.class_ids[head.index(raw)])
        except KeyError:
            raise ValueError(f"unknown class {raw!r} for head '{head.name}' (known: {head.class_ids})") from None
    return out


def letter_from_record(record: dict[str, Any], schema: Schema, path: Path, line: int,
                       default_source: str = "user") -> LabelledLetter:
    """Validate one record; every problem raises InputFileError naming file, line and field."""
    text = record.get("text")
    if not isinstance(text, str) or not text.strip():
        raise InputFileError(path, "missing or empty text", line=line, field="text")
    rid = record.get("id")
    if rid is None or str(rid).strip() == "":
        raise InputFileError(path, "missing id", line=line, field="id")
    labels: dict[str, LabelValue] = {}
    nested = record.get("labels") if isinstance(record.get("labels"), dict) else {}
    flat = {k: v for k, v in record.items() if k not in RESERVED and k != "labels"}
    for key, value in {**flat, **nested}.items():
        if value is None or (isinstance(value, str) and value.strip() == ""):
            continue
        if key not in schema.by_name:
            raise InputFileError(path, f"unknown head '{key}' (schema has {schema.head_names})", line=line,
                                 field=key)
        try:
            labels[key] = parse_label(schema.head(key), value)
        except ValueError as exc:
            raise InputFileError(path, str(exc), line=line, field=key) from None
    extra = {k: record[k] for k in ("title", "submitter", "time", "spans", "provenance") if k in record}
    return LabelledLetter(id=str(rid), text=text, labels=labels,
                          source=str(record.get("source") or default_source), extra=extra)


def iter_records(path: str | Path, fmt: str | None = None, encoding: str | None = None
                 ) -> Iterator[tuple[int, dict[str, Any]]]:
    """(line number, record) from a JSONL, CSV, TSV or xlsx file (xinfang.tables.Records); undecodable or
    malformed lines raise InputFileError."""
    yield from Records(path, fmt, encoding)


def read_labelled(path: str | Path, schema: Schema, source: str = "user", encoding: str | None = None
                  ) -> list[LabelledLetter]:
    """Read and validate a labelled-letters file (JSONL, CSV, TSV or xlsx; `encoding` default detected)."""
    p = Path(path)
    return [letter_from_record(rec, schema, p, line, default_source=source)
            for line, rec in iter_records(p, encoding=encoding)]
