"""Real-letter quality by grouped k-fold cross-validation on the hand-labelled jijian letters.

Each fold runs the whole training pipeline of a profile (data, training, n-gram blend, calibration, ONNX
export) without the held-out letters (nor any tipdm2020 letter of their submitter/near-duplicate groups),
then scores the held-out letters through the served engine. The tipdm2020 labelled letters (sector, original
labels) share the folds: each fold's held-out tipdm2020 letters are scored for sector the same way, which gives
the sector head's grouped 5-fold figure on tipdm2020. A TF-IDF + linear baseline is trained on the same real
training letters and scored on the same folds. Figures are *real* (cross-validated).

    .venv/bin/python benchmarks/cv_jijian.py --profile quick --folds 5 --out benchmarks/results/cv_jijian.json
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np
from rich.console import Console

from xinfang.config import get_settings
from xinfang.engine import Engine, LetterIn
from xinfang.evaluation.baseline import TfidfBaseline
from xinfang.evaluation.real_metrics import head_figures, primary_topics, span_overlap, topic_figures
from xinfang.letter_groups import grouped_folds, letter_groups
from xinfang.schema import load_schema
from xinfang.training.data import build_corpus, real_letters, stratum
from xinfang.training.pipeline import LETTER_SOURCES, train_and_export
from xinfang.training.profiles import get_profile


def figures(schema, letters, probs, calibration, spans=None, primary=None) -> dict:  # noqa: ANN001
    """Figures on held-out letters; `primary` (each fold's own primary topics) overrides the ones computed
    here with `calibration`."""
    if primary is None:
        primary = primary_topics(schema.head("topic"), probs["topic"], calibration.get("topic") or {})
    out = {"topic": topic_figures(letters, primary),
           "heads": head_figures(schema, letters, probs, calibration)}
    if spans is not None:
        out["credibility_spans"] = span_overlap(letters, spans)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--profile", default="quick")
    ap.add_argument("--folds", type=int, default=5)
    ap.add_argument("--only", type=int, nargs="*", default=None, help="run only these folds (0-based)")
    ap.add_argument("--out", type=Path, default=None, help="write the figures as JSON here")
    ap.add_argument("--save-probs", type=Path, default=None,
                    help="also save the held-out jijian letters' probabilities per head (npz, with ids and folds), "
                         "to study decision policies without retraining")
    ap.add_argument("--time-budget", type=float, default=None,
                    help="seconds of training per fold before the safety net stops it (default: the profile's); "
                         "raise it on a busy machine so that every fold runs its whole schedule")
    args = ap.parse_args()
    console = Console(stderr=True)
    schema = load_schema()
    prof = get_profile(args.profile)
    if args.time_budget is not None:
        prof = prof.model_copy(update={"time_budget_s": args.time_budget})
    real, _ = real_letters(prof, schema, get_settings())
    folds = grouped_folds(letter_groups(real), [stratum(x) for x in real], args.folds, prof.seed)
    is_jijian = np.array([x.source == "jijian" for x in real])
    held_all: list = []
    tipdm_all: list = []  # held-out tipdm2020 letters (sector only)
    tipdm_model: list = []
    tipdm_base: list = []
    model_probs: dict[str, list] = {}
    base_probs: dict[str, list] = {}
    spans: list = []
    rule_spans: list = []
    primaries: list[str] = []
    plain_primaries: list[str] = []  # the likeliest chosen class as primary, without the prior correction
    calibrations, timings = [], []

    def pooled() -> dict:
        """Figures over the folds run so far; written after every fold, so a long run cut short keeps them."""
        mp = {h: np.concatenate(v) for h, v in model_probs.items()}
        bp = {h: np.concatenate(v) for h, v in base_probs.items()}
        # thresholds differ per fold: the pooled primary topics are each fold's own; pooled head figures take the
        # first fold's thresholds only as an approximation for ECE and macro-F1
        result = {
            "data": "real: jijian letters (hand-labelled), grouped k-fold CV (submitter and near-duplicate groups)",
            "profile": prof.model_dump(), "folds": args.folds, "folds_run": [t["fold"] for t in timings],
            "n": len(held_all), "seconds": round(time.monotonic() - start, 1), "timings": timings,
            "model": figures(schema, held_all, mp, calibrations[0], spans, primaries),
            "tfidf": figures(schema, held_all, bp, {}),
            "credibility_spans_without_span_head": span_overlap(held_all, rule_spans),
            "credibility_spans_on_agreed_signals": span_overlap(held_all, spans, agreed_only=True),
            "topic_without_primary_ranking": topic_figures(held_all, plain_primaries),
        }
        if tipdm_all:
            result["tipdm2020_sector"] = {
                "n": len(tipdm_all),
                "model": head_figures(schema, tipdm_all, {"sector": np.concatenate(tipdm_model)},
                                      calibrations[0])["sector"],
                "tfidf": head_figures(schema, tipdm_all, {"sector": np.concatenate(tipdm_base)}, {})["sector"]}
        if args.save_probs:
            fold_of = dict(zip((x.id for x in real), folds, strict=True))
            np.savez_compressed(args.save_probs, ids=np.array([x.id for x in held_all]),
                                folds=np.array([fold_of[x.id] for x in held_all]), **{f"model_{h}": v for h, v in mp.items()},
                                **{f"tfidf_{h}": v for h, v in bp.items()})
        if args.out:
            args.out.write_text(json.dumps(result, ensure_ascii=False, indent=1, default=float), encoding="utf-8")
        return result

    start = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="cv-jijian-") as tmp:
        settings = get_settings().model_copy(update={"models_dir": Path(tmp)})
        for k in args.only if args.only is not None else range(args.folds):
            held = [x for x, f, j in zip(real, folds, is_jijian, strict=True) if f == k and j]
            excluded = {x.id for x, f in zip(real, folds, strict=True) if f == k}
            corpus = build_corpus(prof, schema, settings, exclude=excluded)
            folder = train_and_export(prof, schema_path="default", name="cv", version=f"fold{k}",
                                      set_current=False, console=console, settings=settings, corpus=corpus)
            engine = Engine(folder)
            texts = [x.text for x in held]
            probs = engine.probabilities(texts)
            results = engine.score([LetterIn(x.id, x.text) for x in held])
            span_heads, engine.span_heads = engine.span_heads, []  # the same model with rule/n-gram evidence only
            rule_spans += [r.to_json()["credibility"]["signals"]
                           for r in engine.score([LetterIn(x.id, x.text) for x in held])]
            engine.span_heads = span_heads
            card = json.loads((folder / "model_card.json").read_text(encoding="utf-8"))
            timings.append({"fold": k, **card["timings_s"], "steps": card["training"]["steps"],
                            "stopped_by_time_budget": card["training"]["stopped_by_time_budget"]})
            calibrations.append(engine.calibration)
            baseline = TfidfBaseline(schema).fit([x for x in corpus.train if x.source in LETTER_SOURCES],
                                                 [x for x in corpus.dev if x.source in LETTER_SOURCES])
            bprobs = baseline.probabilities(texts)
            held_all += held
            tipdm = [x for x, f, j in zip(real, folds, is_jijian, strict=True) if f == k and not j]
            if tipdm:
                tipdm_all += tipdm
                tipdm_model.append(engine.probabilities([x.text for x in tipdm])["sector"])
                tipdm_base.append(baseline.probabilities([x.text for x in tipdm])["sector"])
            spans += [r.to_json()["credibility"]["signals"] for r in results]
            for h in schema.head_names:
                model_probs.setdefault(h, []).append(probs[h])
                if h in bprobs:
                    base_probs.setdefault(h, []).append(bprobs[h])
            topic_cal = engine.calibration["topic"]
            primaries += primary_topics(schema.head("topic"), probs["topic"], topic_cal)
            plain_primaries += primary_topics(schema.head("topic"), probs["topic"],
                                              {k: v for k, v in topic_cal.items() if k != "primary"})
            fold_fig = figures(schema, held, probs, engine.calibration)
            console.print(f"fold {k}: {json.dumps(fold_fig['topic'], ensure_ascii=False)}")
            pooled()
    result = pooled()
    print(json.dumps({"model": result["model"]["topic"], "tfidf": result["tfidf"]["topic"]}, ensure_ascii=False))
    if tipdm_all:
        print(json.dumps({k: result["tipdm2020_sector"][k]["macro"] for k in ("model", "tfidf")}))


if __name__ == "__main__":
    main()
