"""Review loop: export letters worth a human look to CSV; import reviewers' corrections as training data."""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from xinfang.config import Settings
from xinfang.errors import InputFileError
from xinfang.labels import LabelValue, iter_records, parse_label
from xinfang.model_folder import ModelFolder, ModelNotFound
from xinfang.schema import Head, HeadKind, Schema
from xinfang.tables import Records, write_table

FIXED_COLUMNS = ("id", "reasons", "text_masked")
TAIL_COLUMNS = ("reviewer", "note", "model", "source_file", "text_sha256")


def sha256_text(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _label_cell(head: Head, value: LabelValue | None) -> str:
    if value is None:
        return ""
    if head.kind is HeadKind.binary:
        return "1" if value else "0"
    return "|".join(value) if isinstance(value, list) else str(value)


def _pred_cell(head: Head, chosen: np.ndarray) -> str:
    if head.kind is HeadKind.binary:
        return str(int(chosen[0]))
    return "|".join(c for c, on in zip(head.class_ids, chosen, strict=True) if on)


def _probs_cell(head: Head, p: np.ndarray) -> str:
    if head.kind is HeadKind.binary:
        return f"{head.classes[0].zh} {p[0]:.2f}"
    top = np.argsort(-p, kind="stable")[:3]
    return " | ".join(f"{head.classes[j].zh}({head.class_ids[j]}) {p[j]:.2f}" for j in top)


@dataclass
class ExportResult:
    path: Path
    n_letters: int
    n_rows: int
    reasons: dict[str, int] = field(default_factory=dict)


def export_review(
    folder: ModelFolder, data: Path, out: Path, limit: int | None = None, threads: int = 0,
    uncertain: int | None = None, encoding: str | None = None,
) -> ExportResult:
    """Write the letters of `data` worth a human look (model and label disagree, confidence below the
    route threshold, suspected label error) to CSV: masked text, the model's view and empty
    corrected_* columns. With `uncertain`, instead the letters whose labels would teach the next training
    run most (xinfang.evaluation.uncertainty), labelled or not."""
    from xinfang.engine import Engine
    from xinfang.evaluation.label_noise import head_label_issues
    from xinfang.heads import confidence, decisions, target_matrix
    from xinfang.labels import read_labelled
    from xinfang.pii import mask_pii
    from xinfang.precision import Precision

    schema = folder.schema
    letters = read_labelled(data, schema, encoding=encoding)
    engine = Engine(folder, precision=Precision.auto, threads=threads, with_signals=False)  # as served
    probs = engine.probabilities([x.text for x in letters]) if letters else {}
    reasons: list[list[str]] = [[] for _ in letters]
    counts: dict[str, int] = {}
    cells: dict[str, list[dict[str, str]]] = {}
    for head in schema.heads:
        cal = folder.calibration.get(head.name, {})
        thr = cal.get("decision_thresholds") or None
        p = probs[head.name]
        chosen = decisions(p, head.kind, thr)
        conf = confidence(p, head.kind, thr)
        route = cal.get("route", {}).get("threshold")
        rows = [i for i, x in enumerate(letters) if head.name in x.labels]
        y = target_matrix(head, [letters[i].labels[head.name] for i in rows]) if rows else None
        cells[head.name] = [
            {"pred": _pred_cell(head, chosen[i]), "conf": f"{conf[i]:.3f}", "probs": _probs_cell(head, p[i])}
            for i in range(len(letters))
        ]
        for k, i in enumerate(rows):
            if not np.array_equal(chosen[i], y[k]):
                reasons[i].append(
                    f"confusion {head.name}: label {_label_cell(head, letters[i].labels[head.name])}"
                    f" / model {cells[head.name][i]['pred']}"
                )
                counts["confusion"] = counts.get("confusion", 0) + 1
        if route is not None:
            for i in np.nonzero(conf < float(route))[0]:
                reasons[int(i)].append(f"low confidence {head.name}: {conf[i]:.2f} < {float(route):.2f}")
                counts["low_confidence"] = counts.get("low_confidence", 0) + 1
        if rows:
            for d in head_label_issues(head, y, p[rows]):
                reasons[rows[d["row"]]].append(
                    f"suspected label error {head.name}: {d['given']} -> "
                    f"{d['suggested']} (p={d['suggested_prob']:.2f})"
                )
                counts["suspected_label_error"] = counts.get("suspected_label_error", 0) + 1
    order = sorted(
        (i for i, r in enumerate(reasons) if r),
        key=lambda i: (-any(r.startswith("suspected") for r in reasons[i]), -len(reasons[i]), i),
    )
    if uncertain is not None and letters:
        from xinfang.evaluation.uncertainty import select_uncertain

        picked = select_uncertain(schema, probs, folder.calibration, uncertain)
        reasons = [[] for _ in letters]
        for i, why in picked:
            reasons[i].append(why)
        order = [i for i, _ in picked]
        counts = {"uncertain": len(order)}
    if limit:
        order = order[:limit]
    columns = list(FIXED_COLUMNS)
    for head in schema.heads:
        columns += [
            f"label_{head.name}",
            f"pred_{head.name}",
            f"conf_{head.name}",
            f"probs_{head.name}",
            f"corrected_{head.name}",
        ]
    columns += list(TAIL_COLUMNS)
    model_ref = f"{folder.name}/{folder.version}"
    table: list[dict[str, Any]] = []
    for i in order:
        x = letters[i]
        row: dict[str, Any] = {
            "id": x.id,
            "reasons": "; ".join(reasons[i]),
            "text_masked": mask_pii(x.text),
            "reviewer": "",
            "note": "",
            "model": model_ref,
            "source_file": str(Path(data).resolve()),
            "text_sha256": sha256_text(x.text),
        }
        for head in schema.heads:
            c = cells[head.name][i]
            row.update(
                {
                    f"label_{head.name}": _label_cell(head, x.labels.get(head.name)),
                    f"pred_{head.name}": c["pred"],
                    f"conf_{head.name}": c["conf"],
                    f"probs_{head.name}": c["probs"],
                    f"corrected_{head.name}": "",
                }
            )
        table.append(row)
    write_table(out, columns, table)  # CSV with a BOM for Excel, or .xlsx
    return ExportResult(out, len(letters), len(order), counts)


@dataclass
class ImportResult:
    path: Path | None
    n_rows: int
    n_letters: int
    masked_text: int = 0
    reviewers: list[str] = field(default_factory=list)


def _schema_for(rows: list[dict[str, str]], settings: Settings, schema: Schema | None) -> Schema:
    if schema is not None:
        return schema
    from xinfang.schema import load_schema

    for ref in {r.get("model", "") for r in rows if r.get("model")}:
        try:
            return ModelFolder.resolve(Path(settings.models_dir), ref).schema
        except ModelNotFound:
            continue
    return load_schema(settings.schema_path)


def _source_texts(path: Path) -> dict[str, str]:
    return {
        str(rec.get("id")): str(rec.get("text")) for _, rec in iter_records(path) if rec.get("id") is not None
    }


def _json_label(value: LabelValue) -> Any:
    return list(value) if isinstance(value, list) else value


def import_review(
    csv_path: Path,
    settings: Settings,
    reviewer: str | None = None,
    data: Path | None = None,
    out_dir: Path | None = None,
    schema: Schema | None = None,
    encoding: str | None = None,
) -> ImportResult:
    """Turn the filled corrected_* cells of a review CSV into labelled letters (JSONL) under the reviews
    folder, each with provenance (reviewer, times, model version, review file and row, previous labels).
    The original letter text comes from the exported data file (checked by SHA-256); where that file
    is gone, the masked text is used and marked so. Bad cells raise InputFileError naming row and value."""
    csv_path = Path(csv_path)
    if not csv_path.is_file():
        raise InputFileError(csv_path, "file not found")
    raw = csv_path.read_bytes()
    table = Records(csv_path, encoding=encoding)  # CSV (UTF-8, UTF-8 with BOM, GB18030 as Excel saves it), TSV or xlsx
    rows = [(line, {k: "" if v is None else str(v) for k, v in r.items()}) for line, r in table]
    fields = table.columns or []
    if "id" not in fields:
        raise InputFileError(csv_path, "a review file needs an 'id' column", line=1, field="id")
    schema = _schema_for([r for _, r in rows], settings, schema)
    corrected = [c for c in fields if c.startswith("corrected_")]
    for col in corrected:
        if col[len("corrected_") :] not in schema.by_name:
            raise InputFileError(
                csv_path,
                f"unknown head '{col[len('corrected_') :]}' (schema has {schema.head_names})",
                line=1,
                field=col,
            )
    if not corrected:
        raise InputFileError(csv_path, "no corrected_<head> columns", line=1)
    texts_cache: dict[str, dict[str, str]] = {}
    now = datetime.now(UTC).isoformat(timespec="seconds")
    records: list[dict[str, Any]] = []
    masked = 0
    for line, row in rows:
        labels: dict[str, Any] = {}
        for col in corrected:
            value = (row.get(col) or "").strip()
            if not value:
                continue
            head = schema.head(col[len("corrected_") :])
            try:
                labels[head.name] = _json_label(parse_label(head, value))
            except ValueError as exc:
                raise InputFileError(csv_path, str(exc), line=line, field=col) from None
        if not labels:
            continue
        who = (row.get("reviewer") or "").strip() or (reviewer or "").strip()
        if not who:
            raise InputFileError(
                csv_path,
                "corrected labels without a reviewer: fill the 'reviewer' column or pass --reviewer",
                line=line,
                field="reviewer",
            )
        letter_id = (row.get("id") or "").strip()
        if not letter_id:
            raise InputFileError(csv_path, "missing id", line=line, field="id")
        text, text_kind = _original_text(csv_path, line, row, data, texts_cache)
        if text is None:
            text, text_kind = row.get("text_masked") or "", "masked"
            masked += 1
        if not text.strip():
            raise InputFileError(
                csv_path,
                "no letter text (neither the source file nor text_masked)",
                line=line,
                field="text_masked",
            )
        previous = {
            c[len("corrected_") :]: row.get(f"label_{c[len('corrected_') :]}", "")
            for c in corrected
            if c[len("corrected_") :] in labels
        }
        records.append(
            {
                "id": letter_id,
                "text": text,
                "source": "review",
                **labels,
                "provenance": {
                    "reviewer": who,
                    "reviewed_at": (row.get("reviewed_at") or "").strip() or now,
                    "imported_at": now,
                    "model": row.get("model", ""),
                    "review_file": csv_path.name,
                    "review_file_sha256": hashlib.sha256(raw).hexdigest(),
                    "row": line,
                    "previous": previous,
                    "reasons": row.get("reasons", ""),
                    "note": row.get("note", ""),
                    "text": text_kind,
                },
            }
        )
    if not records:
        return ImportResult(None, len(rows), 0)
    target_dir = Path(out_dir) if out_dir else settings.reviews_path
    target_dir.mkdir(parents=True, exist_ok=True)
    stem = re.sub(r"[^A-Za-z0-9_.-]+", "_", csv_path.stem) or "review"
    target = (
        target_dir / f"{stem}-{hashlib.sha256(raw).hexdigest()[:8]}.jsonl"
    )  # same file re-imported: replaced
    tmp = target.with_suffix(".tmp")
    tmp.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), encoding="utf-8")
    tmp.replace(target)
    return ImportResult(
        target, len(rows), len(records), masked, sorted({r["provenance"]["reviewer"] for r in records})
    )


def _original_text(
    csv_path: Path, line: int, row: dict[str, str], data: Path | None, cache: dict[str, dict[str, str]]
) -> tuple[str | None, str]:
    source = Path(data) if data else Path(row.get("source_file") or "")
    if not str(source) or not source.is_file():
        return None, "masked"
    key = str(source)
    if key not in cache:
        cache[key] = _source_texts(source)
    text = cache[key].get((row.get("id") or "").strip())
    if text is None:
        return None, "masked"
    expected = (row.get("text_sha256") or "").strip()
    if expected and sha256_text(text) != expected:
        raise InputFileError(
            csv_path,
            f"the letter's text in {source.name} differs from the exported one (text_sha256 mismatch)",
            line=line,
            field="text_sha256",
        )
    return text, "original"
