"""Cross-validated figures on real letters: sector CV (TF-IDF live, transformer from JSON), label issues."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from xinfang.config import Settings
from xinfang.evaluation.baseline import cv_probabilities
from xinfang.evaluation.label_noise import head_label_issues
from xinfang.heads import target_matrix
from xinfang.labels import LabelledLetter
from xinfang.metrics import head_metrics
from xinfang.model_folder import ModelFolder
from xinfang.schema import Schema
from xinfang.sources import TIPDM_LABELLED, find_data_file, load_tipdm


def baseline_sector_cv(
    settings: Settings, schema: Schema, folds: int = 5, seed: int = 13, noise_limit: int = 15
) -> tuple[dict[str, Any], list[LabelledLetter]] | None:
    """Stratified k-fold CV of the TF-IDF baseline on tipdm2020 labeled.jsonl (all letters), with the
    likely mislabelled letters its out-of-fold probabilities point at, and the letters; None without data."""
    from xinfang.evaluation.sets import unique_ids

    path = find_data_file(settings, TIPDM_LABELLED)
    if path is None or "sector" not in schema.by_name:
        return None
    head = schema.head("sector")
    letters, _ = unique_ids(load_tipdm(path, schema))  # one letter appears twice, with two labels
    y = target_matrix(head, [x.labels["sector"] for x in letters])
    oof = cv_probabilities([x.text for x in letters], y.argmax(1), head.n_outputs, folds, seed)
    issues = head_label_issues(head, y, oof)
    return {
        "data": "real: tipdm2020 labeled.jsonl",
        "n": len(letters),
        "folds": folds,
        "seed": seed,
        "baseline": head_metrics(head, y, oof),
        "label_issues": [
            {**{k: v for k, v in d.items() if k != "row"}, "id": letters[d["row"]].id}
            for d in issues[:noise_limit]
        ],
        "label_issues_total": len(issues),
        "set": "tipdm2020_all",
    }, letters


def transformer_sector_cv(folder: ModelFolder, path: Path | None = None) -> dict[str, Any] | None:
    """Figures written by benchmarks/cv_sector.py --out, from `path` or <model folder>/cv_sector.json."""
    p = Path(path) if path else folder.path / "cv_sector.json"
    if not p.is_file():
        return None
    data = json.loads(p.read_text(encoding="utf-8"))
    if not isinstance(data, dict):
        return None
    return {**data, "source": str(p), "written_by": "benchmarks/cv_sector.py"}


def training_label_issues(
    letters: list[LabelledLetter],
    schema: Schema,
    head_name: str,
    folds: int = 5,
    seed: int = 13,
    limit: int = 15,
) -> dict[str, Any] | None:
    """Likely mislabelled training letters of one head, from TF-IDF out-of-fold probabilities."""
    if head_name not in schema.by_name or len(letters) < 2 * folds:
        return None
    head = schema.head(head_name)
    y = target_matrix(head, [x.labels[head_name] for x in letters])
    if head.kind.value == "single_label":
        labels, n_classes = y.argmax(1), head.n_outputs
    elif head.kind.value == "binary":
        labels, n_classes = y[:, 0].astype(int), 2
    else:
        return None  # multi-label training letters are generated: their labels come from templates
    if len(np.unique(labels)) < 2:
        return None
    oof = cv_probabilities([x.text for x in letters], labels, n_classes, folds, seed)
    probs = oof if head.kind.value == "single_label" else oof[:, 1:2]
    issues = head_label_issues(head, y, probs)
    return {
        "head": head_name,
        "n": len(letters),
        "folds": folds,
        "label_issues": [
            {**{k: v for k, v in d.items() if k != "row"}, "id": letters[d["row"]].id} for d in issues[:limit]
        ],
        "label_issues_total": len(issues),
    }


JIJIAN_CV_DEFAULT = Path(__file__).resolve().parent.parent / "benchmarks" / "results" / "cv_jijian.json"


def jijian_cv(folder: ModelFolder, path: Path | None = None) -> dict[str, Any] | None:
    """Figures written by benchmarks/cv_jijian.py --out: <model folder>/cv_jijian.json, else the committed
    benchmarks/results/cv_jijian.json (a run of the same profile, not necessarily of this very model)."""
    for p in [Path(path)] if path else [folder.path / "cv_jijian.json", JIJIAN_CV_DEFAULT]:
        if p.is_file():
            data = json.loads(p.read_text(encoding="utf-8"))
            if isinstance(data, dict) and "model" in data:
                return {**data, "source": str(p), "written_by": "benchmarks/cv_jijian.py"}
    return None
