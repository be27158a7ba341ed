"""From letters to a versioned, calibrated ONNX model folder: fetch base, build data, train, calibrate,
export, check parity, measure on held-out sets and write the model card."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.table import Table

from xinfang.config import Settings, get_settings
from xinfang.credibility import rule_evidence
from xinfang.engine import Engine
from xinfang.heads import probabilities, target_matrix
from xinfang.labels import LabelledLetter
from xinfang.metrics import head_metrics
from xinfang.model_folder import TORCH_FILES
from xinfang.ngram_model import NGRAM_FILE
from xinfang.schema import Schema, load_schema
from xinfang.sources import review_files  # reviewers' corrections feed every later training run
from xinfang.span_decoding import SPAN_MAX_TOKENS
from xinfang.text import LetterTokenizer, normalise
from xinfang.training.bases.registry import BASES
from xinfang.training.bases.wheels import sha256_file
from xinfang.training.calibrate import calibrate_model
from xinfang.training.data import Corpus, build_corpus, letters_to_dataset, to_windows
from xinfang.training.export import calibration_windows, export_onnx, parity
from xinfang.training.model_card import readme
from xinfang.training.ngram import fit_ngram_model
from xinfang.training.profiles import Profile, get_profile
from xinfang.training.start_from import StartModel, start_weights
from xinfang.training.trainer import class_weights, fit, predict_letters

REAL_SOURCES = {"jijian", "tipdm2020", "cold"}
LETTER_SOURCES = {"jijian", "tipdm2020"}  # real letters (COLD holds short comments, not letters)


def resolve_base(base: str, console: Console) -> Path:
    from xinfang.training.bases import fetch_base

    return Path(fetch_base(base, console=console))


def read_base_card(base_dir: Path, base: str) -> dict:
    p = base_dir / "base_card.json"
    card = json.loads(p.read_text(encoding="utf-8")) if p.is_file() else {"name": base, "licence": "unknown"}
    if (info := BASES.get(card.get("name", ""))) is not None and info.upstream:
        card.setdefault("upstream", info.upstream)
    weights = next((base_dir / f for f in ("model.safetensors", "pytorch_model.bin") if (base_dir / f).is_file()),
                   None)
    if weights is not None:
        card["weights_sha256"] = sha256_file(weights)
    return card


def _labelled(head_name: str, letters: list[LabelledLetter]) -> np.ndarray:
    return np.array([head_name in x.labels for x in letters], dtype=bool)


def evaluate_logits(schema: Schema, letters: list[LabelledLetter], logits: dict[str, np.ndarray],
                    calibration: dict) -> dict:
    """Per-head metrics on the letters labelled for that head, split by data kind (real/generated)."""
    out = {}
    for head in schema.heads:
        sel = _labelled(head.name, letters)
        if not sel.any():
            continue
        cal = calibration.get(head.name, {})
        probs = probabilities(logits[head.name][sel], head.kind, cal.get("temperature", 1.0))
        chosen = [x for x, s in zip(letters, sel, strict=True) if s]
        y = target_matrix(head, [x.labels[head.name] for x in chosen])
        kinds = {"real" if x.source in REAL_SOURCES else "generated" if x.source == "generated" else "user"
                 for x in chosen}
        out[head.name] = {"data": "+".join(sorted(kinds)), "sources": sorted({x.source for x in chosen}),
                          **head_metrics(head, y, probs, cal.get("decision_thresholds") or None)}
    return out


def print_metrics(console: Console, title: str, metrics: dict) -> None:
    table = Table(title=title)
    for col in ("head", "data", "n", "accuracy", "macro-F1", "micro-F1", "ECE"):
        table.add_column(col)
    for name, m in metrics.items():
        table.add_row(name, m.get("data", ""), str(m.get("n", 0)), f"{m.get('accuracy', float('nan')):.3f}",
                      f"{m.get('macro', {}).get('f1', float('nan')):.3f}",
                      f"{m.get('micro', {}).get('f1', float('nan')):.3f}", f"{m.get('ece', float('nan')):.3f}")
    console.print(table)


def write_serving_files(folder: Path, tokenizer_json: Path, schema: Schema, calibration: dict, prof: Profile,
                        pad_id: int, pooling: str) -> None:
    """Everything the engine reads beside the ONNX graphs."""
    shutil.copy(tokenizer_json, folder / "tokenizer.json")
    (folder / "schema.yaml").write_text(schema.to_yaml(), encoding="utf-8")
    (folder / "calibration.json").write_text(json.dumps(calibration, indent=2), encoding="utf-8")
    inference = {"max_length": prof.max_length, "overlap": prof.overlap, "pad_id": pad_id, "pooling": pooling,
                 "outputs": schema.head_names, "span_max_tokens": SPAN_MAX_TOKENS,
                 "aggregation": {h.name: "mean" if h.kind.value == "single_label" else "max" for h in schema.heads}}
    (folder / "inference.json").write_text(json.dumps(inference, indent=2), encoding="utf-8")


def split_ids(corpus: Corpus) -> dict[str, dict[str, list[str]]]:
    """Letter ids per source and split, so evaluation can tell seen letters from held-out ones."""
    out: dict[str, dict[str, list[str]]] = {}
    for split, letters in (("train", corpus.train), ("dev", corpus.dev)):
        for x in letters:
            out.setdefault(x.source, {}).setdefault(split, []).append(x.id)
    for name, letters in corpus.tests.items():
        for x in letters:
            out.setdefault(x.source, {}).setdefault(f"test:{name}", []).append(x.id)
    return out


def _new_version() -> str:
    return datetime.now(UTC).strftime("%Y%m%d-%H%M%S")


def point_current(models_dir: Path, target: Path) -> None:
    """models/current -> the given version folder (atomic symlink swap)."""
    link = models_dir / "current"
    tmp = models_dir / ".current.tmp"
    if tmp.is_symlink() or tmp.exists():
        tmp.unlink()
    tmp.symlink_to(os.path.relpath(target, models_dir))
    os.replace(tmp, link)


def train_and_export(profile: str | Profile = "quick", base: str = "multilingual-e5-small",
                     schema_path: str | Path = "default", extra_data: list[Path] | None = None,
                     name: str = "xinfang", version: str | None = None, set_current: bool = True,
                     console: Console | None = None, settings: Settings | None = None,
                     corpus: Corpus | None = None, from_model: str | None = None) -> Path:
    """The whole training pipeline; returns the new model folder. `from_model` ('current', a version,
    name/version or a folder) starts from that model's torch weights instead of the base encoder."""
    console = console or Console(stderr=True)
    settings = settings or get_settings()
    prof = get_profile(profile) if isinstance(profile, str) else profile
    schema = load_schema(schema_path)
    t_start = time.monotonic()
    timings: dict[str, float] = {}

    base_dir = resolve_base(base, console)
    base_card = read_base_card(base_dir, base)
    if base_card.get("production_use_allowed") is False:
        console.print(f"[bold yellow]warning:[/] base '{base}' is licensed for non-commercial research only "
                      f"({base_card.get('licence')}); do not deploy this model in production.")
    tokenizer = LetterTokenizer.from_file(base_dir / "tokenizer.json", max_length=prof.max_length,
                                          overlap=prof.overlap)
    start = StartModel.resolve(from_model, Path(settings.models_dir), schema, prof, base_dir) if from_model else None
    timings["fetch_s"] = time.monotonic() - t_start

    t = time.monotonic()
    extra = list(extra_data or []) + [p for p in review_files(settings) if p not in (extra_data or [])]
    corpus = corpus or build_corpus(prof, schema, settings, extra)
    train_ds = to_windows(letters_to_dataset(corpus.train, schema), tokenizer, prof.max_windows_per_letter, prof.seed)
    dev_ds = to_windows(letters_to_dataset(corpus.dev, schema), tokenizer)
    timings["data_s"] = time.monotonic() - t
    console.print(f"data: {len(corpus.train)} train letters -> {len(train_ds)} windows; "
                  f"{len(corpus.dev)} dev letters -> {len(dev_ds)} windows ({timings['data_s']:.1f}s)")

    t = time.monotonic()
    ngram = fit_ngram_model(corpus.train, schema) if prof.ngram_blend else None
    timings["ngram_s"] = time.monotonic() - t

    model, started_from = start_weights(start, base_dir, base_card, schema, prof, class_weights(train_ds, schema),
                                        corpus.dev)
    console.print("weights start from " + (f"model {started_from['model']}" if start else f"base {base_card.get('name')}"))
    if started_from.get("dev_letters_it_trained_on"):
        console.print(f"[yellow]warning:[/] {started_from['dev_letters_it_trained_on']} dev letters were in the "
                      f"training set of {started_from['model']}: dev figures and calibration are optimistic")
    with tempfile.TemporaryDirectory(prefix="xinfang-train-") as work:
        result = fit(model, train_ds, dev_ds, prof, tokenizer.pad_id, Path(work), console)
    timings["train_s"] = result.seconds
    console.print(f"trained {result.steps} steps ({result.epochs} epochs) in {result.seconds:.0f}s"
                  + (" [yellow](stopped by the time budget)[/]" if result.stopped_by_budget else ""))

    t = time.monotonic()
    dev_logits = predict_letters(model, dev_ds, len(corpus.dev), tokenizer.pad_id)
    dev_partner = ngram.logits([normalise(x.text) for x in corpus.dev]) if ngram is not None else {}
    real = np.array([x.source in LETTER_SOURCES for x in corpus.dev], dtype=bool)
    dev_rules = rule_evidence(schema, [x.text for x in corpus.dev]) if ngram is not None else {}
    calibration, dev_logits = calibrate_model(schema, corpus.dev, dev_logits, dev_partner, prof.target_precision,
                                              real, prof.max_flag_rate, dev_rules, tuple(prof.primary_prior_alphas))
    dev_metrics = evaluate_logits(schema, corpus.dev, dev_logits, calibration)
    timings["calibrate_s"] = time.monotonic() - t
    print_metrics(console, "dev metrics per head (calibrated; dev is used for early stopping and calibration)",
                  dev_metrics)

    version = version or _new_version()
    models_dir = Path(settings.models_dir)
    final = models_dir / name / version
    staging = models_dir / name / f".{version}.tmp"
    if staging.exists():
        shutil.rmtree(staging)
    t = time.monotonic()
    # int8 scales calibrated on dev windows, real letters first
    calib = calibration_windows(dev_ds["input_ids"], dev_ds["letter_row"], [x.source != "generated" for x in corpus.dev])
    exported = export_onnx(model, staging, calib)
    par = parity(model, exported, dev_ds["input_ids"], tokenizer.pad_id, dev_ds["letter_row"], calibration,
                 dev_partner, dev_rules, [t for t in (tokenizer.bos_id, tokenizer.eos_id) if t is not None])
    timings["export_s"] = time.monotonic() - t
    console.print(f"export: fp32 vs torch max |Δlogit| {par['fp32_vs_torch_max_abs']:.2e}; int8 agreement "
                  f"on dev letters (min over heads) {par['int8_min_agreement']:.3f}; sizes {par['size_bytes']}")

    write_serving_files(staging, base_dir / "tokenizer.json", schema, calibration, prof, tokenizer.pad_id,
                        model.pooling)
    if ngram is not None:
        ngram.save(staging / NGRAM_FILE)
    model.save(staging)  # torch weights in the transformers layout, for `xinfang train --from-model`
    (staging / "splits.json").write_text(json.dumps(split_ids(corpus), indent=1), encoding="utf-8")

    t = time.monotonic()
    test_metrics = {}
    engine = Engine(staging, precision="int8", with_signals=False)  # the served path
    for test_name, letters in corpus.tests.items():
        logits = engine.letter_logits([x.text for x in letters])
        test_metrics[test_name] = evaluate_logits(schema, letters, logits, calibration)
        print_metrics(console, f"held-out '{test_name}' (int8 ONNX)", test_metrics[test_name])
    timings["test_s"] = time.monotonic() - t

    timings["total_s"] = time.monotonic() - t_start
    card = {
        "name": name, "version": version, "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "schema": {"name": schema.name, "version": schema.version},
        "base": base_card, "started_from": started_from, "profile": prof.model_dump(),
        "data": {"sources": corpus.sources, "counts": corpus.counts(),
                 "windows": {"train": len(train_ds), "dev": len(dev_ds)}},
        "training": {"seconds": round(result.seconds, 1), "steps": result.steps, "epochs": result.epochs,
                     "best_dev_loss": result.best_dev_loss, "stopped_by_time_budget": result.stopped_by_budget},
        "timings_s": {k: round(v, 1) for k, v in timings.items()},
        "metrics": {"dev": dev_metrics, "test": test_metrics,
                    "note": "'data' says whether figures come from real letters or generated ones; "
                            "generated figures measure the generator's held-out templates, not real intake."},
        "export": {"optimized": exported.optimized, "opset": 17, **par},
        "files": {f: sha256_file(staging / f) for f in ("model.onnx", "model.int8.onnx", "tokenizer.json",
                                                        *TORCH_FILES)},
    }
    (staging / "model_card.json").write_text(json.dumps(card, indent=2, ensure_ascii=False), encoding="utf-8")
    (staging / "README.md").write_text(readme(card, schema), encoding="utf-8")
    if final.exists():
        shutil.rmtree(final)
    os.replace(staging, final)
    if set_current:
        point_current(models_dir, final)
    console.print(f"total {timings['total_s']:.0f}s: " + ", ".join(f"{k} {v:.0f}s" for k, v in timings.items()))
    return final
