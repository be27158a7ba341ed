"""Letters used to choose the trimmed vocabulary (tipdm2020 and COLD when present), minus a held-out tail."""

from __future__ import annotations

import csv
import hashlib
import json
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

from xinfang.text import normalise

HOLDOUT_FILE = "tipdm2020/unlabeled.jsonl"
HOLDOUT_LINES = 1000  # last lines of HOLDOUT_FILE, never used for trimming (benchmarks/bases_trim.py)
JSONL_FIELDS = ("title", "text")
CSV_SOURCES = (("cold/train.csv", "TEXT"),)
PREFIXES = ("passage: ", "query: ")  # e5 input prefixes, always kept


@dataclass
class CorpusSource:
    """One file that fed the trimming corpus, as recorded in base_card.json."""

    path: str  # relative to the shared data folder
    fields: str
    texts: int
    sha256: str
    excluded: str = ""

    def as_dict(self) -> dict[str, str | int]:
        return asdict(self)


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _jsonl_lines(path: Path) -> list[str]:
    return [ln for ln in path.read_text(encoding="utf-8").splitlines() if ln.strip()]


def _jsonl_texts(lines: list[str]) -> Iterator[str]:
    for line in lines:
        try:
            row = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(row, dict):
            for f in JSONL_FIELDS:
                if isinstance(row.get(f), str) and row[f].strip():
                    yield normalise(row[f])


def trim_corpus(shared_dir: Path) -> tuple[list[str], list[CorpusSource]]:
    """Normalised texts for trimming, and the sources they came from (missing files are skipped)."""
    texts: list[str] = list(PREFIXES)
    sources: list[CorpusSource] = []
    for path in sorted((shared_dir / "tipdm2020").glob("*.jsonl")):
        rel = path.relative_to(shared_dir).as_posix()
        lines = _jsonl_lines(path)
        excluded = ""
        if rel == HOLDOUT_FILE and len(lines) > HOLDOUT_LINES:
            lines = lines[:-HOLDOUT_LINES]
            excluded = f"last {HOLDOUT_LINES} non-empty lines (held out for evaluation)"
        got = list(_jsonl_texts(lines))
        texts += got
        sources.append(CorpusSource(rel, ",".join(JSONL_FIELDS), len(got), _sha256(path), excluded))
    for rel, column in CSV_SOURCES:
        path = shared_dir / rel
        if not path.is_file():
            continue
        with path.open(encoding="utf-8", newline="") as fh:
            got = [normalise(r[column]) for r in csv.DictReader(fh) if (r.get(column) or "").strip()]
        texts += got
        sources.append(CorpusSource(rel, column, len(got), _sha256(path)))
    return texts, sources


def heldout_letters(shared_dir: Path) -> list[str]:
    """Normalised letter bodies of the held-out tail (empty if the file is absent)."""
    path = shared_dir / HOLDOUT_FILE
    if not path.is_file():
        return []
    out = []
    for line in _jsonl_lines(path)[-HOLDOUT_LINES:]:
        try:
            row = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(row, dict) and isinstance(row.get("text"), str) and row["text"].strip():
            out.append(normalise(row["text"]))
    return out
