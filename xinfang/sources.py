"""Labelled data sources (tipdm2020 sector, COLD abusive, jijian real letters, imported reviews) as `LabelledLetter`s."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from xinfang.config import Settings
from xinfang.errors import InputFileError
from xinfang.labels import LabelledLetter, LabelValue, iter_records, parse_label
from xinfang.schema import Schema

TIPDM_LABELLED = "tipdm2020/labeled.jsonl"
COLD_TRAIN = "cold/train.csv"
COLD_DEV = "cold/dev.csv"
JIJIAN_LETTERS = "jijian/letters.jsonl"

# jijian fields that are heads of the default schema; each stays unlabelled when the record lacks it
JIJIAN_HEADS = ("topic", "sector", "credibility", "malicious", "abusive")


def find_data_file(settings: Settings, relative: str) -> Path | None:
    """A data file from the repository's data/ folder, else from the shared data folder."""
    for root in (settings.data_dir, settings.shared_data_dir):
        p = Path(root) / relative
        if p.is_file():
            return p
    return None


def review_files(settings: Settings) -> list[Path]:
    """Imported review files (labelled letters with provenance, `xinfang review import`), sorted: every
    later training run reads them."""
    d = Path(settings.reviews_path)
    return sorted(p for p in d.glob("*.jsonl") if p.is_file()) if d.is_dir() else []


def title_and_text(record: dict[str, Any]) -> str:
    """A letter's text as the model reads it: title, a newline, body (either may be missing)."""
    return "\n".join(t for t in (record.get("title"), record.get("text")) if t)


def load_tipdm(path: Path, schema: Schema) -> list[LabelledLetter]:
    """tipdm2020 labelled citizen messages: the `sector` head (first-level class in Chinese)."""
    head = schema.head("sector")
    out = []
    for n, rec in iter_records(path):
        try:
            sector = head.class_ids[head.index(rec["sector"])]
        except KeyError as exc:
            raise InputFileError(path, f"unknown sector {exc}", line=n, field="sector") from None
        out.append(LabelledLetter(id=str(rec["id"]), text=title_and_text(rec), labels={"sector": sector},
                                  source="tipdm2020", extra={"submitter": rec.get("submitter")}))
    return out


def load_cold(path: Path) -> list[LabelledLetter]:
    """COLD (Deng et al., 2022): short Chinese comments labelled 0 safe / 1 offensive -> `abusive`."""
    out = []
    for line, row in iter_records(path):
        if row.get("label") not in {"0", "1"} or not row.get("TEXT"):
            raise InputFileError(path, "expected label 0/1 and non-empty TEXT", line=line, field="label")
        # the file's own index column repeats, so ids come from line numbers
        out.append(LabelledLetter(id=f"cold-{path.stem}-{line}", text=row["TEXT"],
                                  labels={"abusive": row["label"] == "1"}, source="cold"))
    return out


def load_jijian(path: Path, schema: Schema) -> list[LabelledLetter]:
    """jijian: real letters labelled by hand (shared/docs/annotation-guide.md) for every head the schema
    and the record both have; `sector` by its Chinese name; span offsets point into title + "\\n" + text."""
    out = []
    for n, rec in iter_records(path):
        if rec.get("id") in (None, "") or not isinstance(rec.get("text"), str):
            raise InputFileError(path, "expected an id and a text", line=n, field="id")
        labels: dict[str, LabelValue] = {}
        for name in JIJIAN_HEADS:
            if name not in schema.by_name or rec.get(name) is None:
                continue
            try:
                labels[name] = parse_label(schema.head(name), rec[name])
            except ValueError as exc:
                raise InputFileError(path, str(exc), line=n, field=name) from None
        prov = rec.get("provenance") or {}
        extra = {"topic_primary": rec.get("topic_primary"), "spans": rec.get("spans") or {},
                 "submitter": rec.get("submitter"), "malicious_level": prov.get("malicious_level"),
                 "malicious_indicators": prov.get("malicious_indicators") or []}
        text = f"{rec.get('title') or ''}\n{rec['text']}"  # exactly what the span offsets count in
        out.append(LabelledLetter(id=str(rec["id"]), text=text, labels=labels, source="jijian", extra=extra))
    return out
