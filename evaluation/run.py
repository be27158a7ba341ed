"""Assemble an evaluation from a model reference (sets, predictors, baseline, CV) and write the report."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from xinfang.config import Settings, get_settings
from xinfang.errors import XinfangError
from xinfang.evaluation.evaluate import Options, evaluate
from xinfang.evaluation.predictors import BaselinePredictor, load_model
from xinfang.evaluation.sets import EvalSet, default_sets, file_set, ordered, unique_ids
from xinfang.evaluation.training_data import TrainingData
from xinfang.labels import LabelledLetter
from xinfang.model_folder import ModelFolder
from xinfang.precision import Precision


@dataclass
class RunConfig:
    """What to evaluate and where to write it."""

    model_ref: str = "current"
    data: Path | None = None
    encoding: str | None = None  # of `data`; default detected (UTF-8, UTF-8 with BOM, GB18030)
    default_sets: bool = False
    against: str | None = None
    out_dir: Path = Path("reports")
    cv_results: Path | None = None
    with_baseline: bool = True
    with_fp32: bool = True
    max_per_set: int | None = None
    folds: int = 5
    options: Options = field(default_factory=Options)


def _model_info(folder: ModelFolder) -> dict[str, Any]:
    card = folder.card
    base = card.get("base", {}) if isinstance(card.get("base"), dict) else {}
    return {
        "name": folder.name,
        "version": folder.version,
        "path": str(folder.path),
        "created": card.get("created"),
        "base": base.get("name"),
        "base_licence": base.get("licence"),
        "schema": f"{folder.schema.name} v{folder.schema.version}",
        "profile": (card.get("profile") or {}).get("name"),
    }


def _fit_baseline(
    folder: ModelFolder,
    settings: Settings,
    data: TrainingData | None,
    notes: list[str],
    say: Callable[[str], None],
) -> tuple[BaselinePredictor | None, dict[str, Any], TrainingData | None]:
    from xinfang.evaluation.baseline import DESCRIPTION, TfidfBaseline

    info: dict[str, Any] = {"description": DESCRIPTION, "trained": False, "notes": []}
    if data is None:
        try:
            from xinfang.evaluation.training_data import model_training_data

            say("baseline: rebuilding the model's training data")
            data = model_training_data(folder, settings)
        except ImportError as exc:
            notes.append(f"baseline skipped: the training extras are not installed ({exc.name})")
            info["notes"].append(
                "skipped: training extras (pip install -e '.[train]') are needed to rebuild "
                "the model's training data"
            )
            return None, info, None
    say(f"baseline: fitting TF-IDF on {len(data.train)} training letters")
    baseline = TfidfBaseline(folder.schema).fit(data.train, data.dev)
    info.update(
        {
            "trained": True,
            "sources": data.sources,
            "n_train": len(data.train),
            "n_dev": len(data.dev),
            "per_head": baseline.counts,
            "notes": list(data.notes),
        }
    )
    return BaselinePredictor(baseline), info, data


def run_evaluation(
    cfg: RunConfig,
    settings: Settings | None = None,
    baseline_data: TrainingData | None = None,
    say: Callable[[str], None] = lambda _m: None,
) -> Path:
    """Evaluate, write report.html and metrics.json under cfg.out_dir; returns the report's path.
    Bad labels files raise InputFileError (naming row and value) before any model runs."""
    from xinfang.evaluation.report import write_report

    start = time.monotonic()
    outer = say

    def say(message: str) -> None:
        outer(f"[{time.monotonic() - start:5.1f}s] {message}")

    settings = settings or get_settings()
    folder = ModelFolder.resolve(Path(settings.models_dir), cfg.model_ref)
    notes: list[str] = []
    sets: list[EvalSet] = []
    if cfg.data is not None:
        sets.append(file_set(Path(cfg.data), folder, cfg.encoding))
    if cfg.default_sets:
        found, more = default_sets(folder, settings, cfg.max_per_set)
        sets += found
        notes += more
    if not sets:
        raise XinfangError(
            "nothing to evaluate: give a labelled-letters file or use --default"
            + "".join(f"; {n}" for n in notes)
        )
    sets = ordered(sets)

    model = load_model(folder, Precision.int8, "model", settings.threads)
    fp32 = load_model(folder, Precision.fp32, "fp32", settings.threads) if cfg.with_fp32 else None
    if model is None:
        model, fp32 = fp32, None
        model.role = "model"
        notes.append(
            "no int8 graph in the model folder: the fp32 graph is evaluated and int8 is not compared"
        )
    predictors: dict[str, Any] = {"model": model}
    if fp32 is not None:
        predictors["fp32"] = fp32
    against_info = None
    if cfg.against:
        other = ModelFolder.resolve(Path(settings.models_dir), cfg.against)
        predictors["against"] = load_model(other, Precision.int8, "against", settings.threads) or load_model(
            other, Precision.fp32, "against", settings.threads
        )
        against_info = {
            **_model_info(other),
            "precision": predictors["against"].engine.precision,
            "tolerance": cfg.options.tolerance,
            "class_tolerance": cfg.options.class_tolerance,
            "min_support": cfg.options.min_support,
        }
    baseline_info: dict[str, Any] = {"trained": False, "notes": ["not requested (--no-baseline)"]}
    if cfg.with_baseline:
        bp, baseline_info, baseline_data = _fit_baseline(folder, settings, baseline_data, notes, say)
        if bp is not None:
            predictors["baseline"] = bp

    letters: dict[str, dict[str, LabelledLetter]] = {s.name: {x.id: x for x in s.letters} for s in sets}
    n_letters = sum(len(s.letters) for s in sets)
    say(f"scoring {n_letters} letters in {len(sets)} sets with {', '.join(predictors)}")
    evaluated = evaluate(sets, predictors, cfg.options)

    cv: dict[str, Any] = {}
    training_noise: list[dict[str, Any]] = []
    if cfg.default_sets and cfg.with_baseline:
        try:
            cv, training_noise = _cross_validation(folder, settings, cfg, letters, baseline_data, say)
        except ImportError as exc:
            notes.append(f"cross-validation skipped: training extras missing ({exc.name})")
    if cfg.default_sets:
        from xinfang.evaluation.cv import jijian_cv, transformer_sector_cv

        cv["transformer"] = transformer_sector_cv(folder, cfg.cv_results)
        cv["jijian"] = jijian_cv(folder)
    result = {
        "title": "xinfang 模型评估报告",
        "generated_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "model": _model_info(folder),
        "notes": notes,
        "sets": evaluated,
        "baseline": baseline_info,
        "cv": cv,
        "training_label_issues": training_noise,
        "against": against_info,
        "options": vars(cfg.options),
    }
    say("writing the report")
    path = write_report(result, letters, folder.schema, Path(cfg.out_dir))
    say("done")
    return path


def _cross_validation(
    folder: ModelFolder,
    settings: Settings,
    cfg: RunConfig,
    letters: dict[str, dict[str, LabelledLetter]],
    data: TrainingData | None,
    say: Callable[[str], None],
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    from xinfang.evaluation.cv import baseline_sector_cv, training_label_issues

    cv: dict[str, Any] = {}
    noise: list[dict[str, Any]] = []
    say(f"cross-validating the TF-IDF baseline on tipdm2020 ({cfg.folds} folds)")
    found = baseline_sector_cv(settings, folder.schema, cfg.folds)
    if found is not None:
        cv["baseline"], tipdm = found
        letters["tipdm2020_all"] = {x.id: x for x in tipdm}
        noise.append(
            {
                "set": "tipdm2020_all",
                "title": "tipdm2020 全部标注留言（真实）",
                "head": "sector",
                "method": f"TF-IDF {cfg.folds}-fold out-of-fold probabilities",
                "n": cv["baseline"]["n"],
                "label_issues": cv["baseline"]["label_issues"],
                "label_issues_total": cv["baseline"]["label_issues_total"],
            }
        )
    cold, _ = unique_ids([x for x in data.train if x.source == "cold"] if data is not None else [])
    if cold and "abusive" in folder.schema.by_name:
        say(f"label noise: TF-IDF {cfg.folds}-fold on {len(cold)} COLD training comments")
        found_cold = training_label_issues(cold, folder.schema, "abusive", cfg.folds)
        if found_cold:
            letters["cold_train"] = {x.id: x for x in cold}
            noise.append(
                {
                    "set": "cold_train",
                    "title": "COLD 训练样本（真实）",
                    "method": f"TF-IDF {cfg.folds}-fold out-of-fold probabilities",
                    **found_cold,
                }
            )
    return cv, noise


def write_default_report(
    model_ref: str = "current",
    out_dir: Path | str = Path("reports"),
    settings: Settings | None = None,
    max_per_set: int | None = 1500,
    say: Callable[[str], None] = lambda _m: None,
) -> Path:
    """The report `make run` writes: the default sets (real first), baseline, CV; returns report.html."""
    cfg = RunConfig(model_ref=model_ref, default_sets=True, out_dir=Path(out_dir), max_per_set=max_per_set)
    return run_evaluation(cfg, settings=settings, say=say)
