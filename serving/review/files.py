"""The review store's files: `xinfang review load` brings a batch output in (texts joined by id), and
`xinfang review corrections` writes the current corrections where `xinfang train` reads reviews."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from xinfang.config import Settings
from xinfang.errors import InputFileError
from xinfang.labels import iter_records, parse_label
from xinfang.result import LetterResult
from xinfang.schema import Schema
from xinfang.serving.review.models import ReviewCorrection, ReviewLetter, review_letter
from xinfang.serving.review.store import ReviewStore
from xinfang.serving.store import utcnow
from xinfang.submitters import SubmitterKeyer

EXPORT_NAME = "review-page.jsonl"  # one file, rewritten whole: the current corrections, never twice a letter
CHUNK = 500


@dataclass
class LoadResult:
    loaded: int = 0
    without_text: list[str] = field(default_factory=list)  # result ids the texts file lacks
    bad_labels: int = 0


def _given_labels(record: dict[str, Any], schema: Schema) -> tuple[dict[str, Any], int]:
    """The labels an input record carries for the schema's heads (as training stores them), and how many
    of its label fields could not be read (left out)."""
    labels, bad = {}, 0
    for head in schema.heads:
        value = record.get(head.name)
        if value is None or (isinstance(value, str) and not value.strip()):
            continue
        try:
            parsed = parse_label(head, value)
        except ValueError:
            bad += 1
            continue
        labels[head.name] = list(parsed) if isinstance(parsed, list) else parsed
    return labels, bad


def load_batch(output: Path, texts: Path, settings: Settings, schema: Schema, store: ReviewStore) -> LoadResult:
    """Add the results of a `classify` output file to the review store, each with its letter's text (and
    submitter and labels) from the input file, joined by id. A result line that is not a result raises
    InputFileError naming the line; a result whose id the input lacks is counted and left out."""
    records = {str(rec["id"]): rec for _, rec in iter_records(texts) if rec.get("id") not in (None, "")}
    keyer = SubmitterKeyer.from_settings(settings)
    res, rows, now = LoadResult(), [], utcnow()
    for line, obj in iter_records(output):
        try:
            result = LetterResult.model_validate(obj)
        except ValidationError as exc:
            raise InputFileError(output, f"not a result of `xinfang classify`: {exc.errors()[0]['msg']}",
                                 line=line) from None
        rec = records.get(result.id)
        if rec is None or not isinstance(rec.get("text"), str):
            res.without_text.append(result.id)
            continue
        labels, bad = _given_labels(rec, schema)
        res.bad_labels += bad
        sub = rec.get("submitter")
        rows.append(review_letter(result, rec["text"], "batch", keyer(str(sub) if sub is not None else None),
                                  now, source_file=output.name, given_labels=labels))
        if len(rows) >= CHUNK:
            store.add_letters(rows)
            res.loaded, rows = res.loaded + len(rows), []
    store.add_letters(rows)
    res.loaded += len(rows)
    return res


def _record(letter: ReviewLetter, current: list[ReviewCorrection]) -> dict[str, Any]:
    """A labelled letter as `xinfang review import` writes it: text, one field per corrected head, provenance."""
    return {
        "id": letter.letter_id,
        "text": letter.text,
        "source": "review",
        **{c.head: c.value for c in current},
        "provenance": {
            "reviewer": ", ".join(sorted({c.reviewer for c in current})),
            "reviewed_at": max(c.created_at for c in current).isoformat(timespec="seconds"),
            "imported_at": utcnow().isoformat(timespec="seconds"),
            "model": current[-1].model,
            "review_file": "review page",
            "previous": {c.head: c.model_value for c in current},
            "reasons": "; ".join((letter.result.get("route") or {}).get("reasons") or []),
            "note": "",
            "text": "original",
            "corrections": [c.row_id for c in current],  # rows of review_corrections (the audit trail)
        },
    }


def export_corrections(store: ReviewStore, out_dir: Path) -> tuple[Path, int]:
    """Write every letter's current corrections to out_dir/review-page.jsonl (replaced atomically); returns
    the path and the number of letters."""
    by_letter: dict[str, list[ReviewCorrection]] = {}
    for c in store.corrections():
        by_letter.setdefault(c.letter_id, []).append(c)
    lines = []
    for letter_id, current in by_letter.items():
        letter = store.letter(letter_id)
        if letter is not None:
            lines.append(json.dumps(_record(letter, current), ensure_ascii=False) + "\n")
    out_dir.mkdir(parents=True, exist_ok=True)
    target = out_dir / EXPORT_NAME
    tmp = target.with_suffix(".tmp")
    tmp.write_text("".join(lines), encoding="utf-8")
    tmp.replace(target)
    return target, len(lines)
