"""Window length and overlap by measurement on real letters: work and time per letter, and real-letter quality.

    .venv/bin/python benchmarks/window_length.py --n 300 --repeat 2  # writes benchmarks/results/window_length.json

For each window setting (tokens per window with specials / overlap), with the shipped model at the precision
it is served at (--precision auto):

1. Cost on --n real backlog letters (a seeded sample of the `classify --sample` backlog, tipdm2020
   unlabeled.jsonl, read as `classify` reads it): windows and tokens scored per letter (overlap and specials
   included), padded tokens of the engine's length-sorted batches, encoder seconds (the engine's own ONNX
   batches: the private `Engine._run`, as no public method runs only the model), whole `Engine.score()`
   seconds and letters/s. The letters are timed in --slices slices; within a slice every setting runs back to
   back (order rotated), so each ratio to the model's own setting is paired under nearly the same load on the
   shared machine (median and quartiles over slices and --repeat rounds), with the load average of each round.
2. Quality on the jijian letters the model never trained on (xinfang.evaluation.sets.jijian_set, the set
   `xinfang evaluate --default` uses for them) through `Engine.probabilities`: in-scope and primary topic
   accuracy, credibility micro-F1, sector accuracy (xinfang.evaluation.real_metrics) and the served evidence's
   overlap F1 with the annotated credibility spans (through `Engine.score`), over all of them and
   over the letters that need more than one window at the model's own setting, plus each letter whose answer
   changes against the model's own setting (right to wrong, wrong to right).
3. Tokenising: the per-letter path (`LetterTokenizer.windows`) against the batch path (`windows_batch`, one
   `encode_batch`), timed, and checked to give identical windows on every backlog and jijian letter.

The engine takes its window setting from the model folder (inference.json); here each setting is applied by
giving the engine a LetterTokenizer cut at that setting (`Engine.tokenizer`, its public attribute). The model
was trained on one window of `max_length` tokens per letter (quick: 128): a longer inference window is a
distribution shift for it, and its calibration (thresholds, blend weights, temperatures) was fitted on the
jijian dev letters at its own setting, which favours that setting in the quality figures.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort
import tokenizers

from xinfang.config import get_settings
from xinfang.cpus import usable_cpus
from xinfang.engine import Engine, LetterIn
from xinfang.evaluation.predictors import ModelPredictor
from xinfang.evaluation.real_metrics import head_figures, primary_topics, span_overlap, topic_figures
from xinfang.evaluation.sets import jijian_set
from xinfang.heads import decisions
from xinfang.labels import LabelledLetter
from xinfang.model_folder import ModelFolder
from xinfang.sources import JIJIAN_LETTERS, find_data_file, load_jijian
from xinfang.text import LetterTokenizer, normalise
from xinfang.training.sample_backlog import REAL
from xinfang.window_batches import run_length_sorted

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_SETTINGS = "128/0,128/16,128/32,128/64,256/32,256/64,512/64"


def parse_settings(text: str) -> list[tuple[int, int]]:
    out = []
    for part in text.split(","):
        size, _, overlap = part.strip().partition("/")
        out.append((int(size), int(overlap or 0)))
    return out


def label(setting: tuple[int, int]) -> str:
    return f"{setting[0]}/{setting[1]}"


def backlog_letters(path: Path, n: int, seed: int) -> list[LetterIn]:
    """A seeded sample of n backlog letters (the `text` field, as `classify` reads the file), in file order."""
    rows = [json.loads(line) for line in path.open(encoding="utf-8") if line.strip()]
    rows = [r for r in rows if (r.get("text") or "").strip()]
    keep = sorted(random.Random(seed).sample(range(len(rows)), min(n, len(rows))))
    return [LetterIn(str(rows[i]["id"]), rows[i]["text"]) for i in keep]


def timing(engine: Engine, toks: dict[tuple[int, int], LetterTokenizer], own: tuple[int, int],
           letters: list[LetterIn], n_slices: int, repeat: int, rows: dict[str, dict[str, Any]]) -> list[dict]:
    """Encoder and whole-score seconds of every setting, slice by slice: within a slice the settings run back
    to back (in an order rotated per slice and round), so that each ratio to the model's own setting is taken
    under nearly the same load; adds a `time` entry to each setting's row and returns the rounds' loads."""
    grid = list(toks)
    step = -(-len(letters) // n_slices)
    slices = [letters[i:i + step] for i in range(0, len(letters), step)]
    ids = {s: [[w.ids for ws in t.windows_batch([normalise(x.text) for x in sl]) for w in ws] for sl in slices]
           for s, t in toks.items()}
    engine.tokenizer = toks[own]
    engine.score(letters[:16])  # warm-up
    enc = {s: np.zeros((repeat, len(slices))) for s in grid}
    score = {s: np.zeros((repeat, len(slices))) for s in grid}
    rounds = []
    for r in range(repeat):
        rounds.append({"round": r, "loadavg_start": loadavg()})
        for k, sl in enumerate(slices):
            shift = (k + r) % len(grid)
            for s in grid[shift:] + grid[:shift]:
                engine.tokenizer = toks[s]
                enc[s][r, k] = seconds(lambda s=s, k=k: engine._run(ids[s][k]))
                score[s][r, k] = seconds(lambda sl=sl: engine.score(sl))
        rounds[-1]["loadavg_end"] = loadavg()
    engine.tokenizer = toks[own]
    for s in grid:
        w = rows[label(s)]["work"]
        e_best, s_best = float(enc[s].sum(1).min()), float(score[s].sum(1).min())
        rows[label(s)]["time"] = {
            "encoder_s_best_round": round(e_best, 2), "score_s_best_round": round(s_best, 2),
            "letters_per_s": round(len(letters) / s_best, 2), "encoder_tokens_per_s": round(w["tokens"] / e_best),
            "encoder_ms_per_1k_tokens": round(1e6 * e_best / w["tokens"], 1),
            "paired_encoder_vs_own": paired(enc[s], enc[own]), "paired_score_vs_own": paired(score[s], score[own]),
        }
    return rounds


def paired(t: np.ndarray, base: np.ndarray) -> dict[str, float]:
    """Ratios of seconds slice by slice (same slice, same round, back to back): median and quartiles."""
    r = (t / base).ravel()
    return {"median": round(float(np.median(r)), 3), "q25": round(float(np.quantile(r, 0.25)), 3),
            "q75": round(float(np.quantile(r, 0.75)), 3), "pairs": int(r.size)}


def command(args: argparse.Namespace) -> str:
    """The command line that reproduces this run (flags set to True as bare flags)."""
    parts = [f"--{k.replace('_', '-')}" + ("" if v is True else f" {v}")
             for k, v in vars(args).items() if k != "out" and v is not False]
    return ".venv/bin/python benchmarks/window_length.py " + " ".join(parts)


def finite(x: float | None) -> float | None:
    return None if x is None or x != x else x


def seconds(fn: Callable[[], Any]) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def loadavg() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def work(engine: Engine, normalised: Sequence[str]) -> dict[str, Any]:
    """Windows, tokens and padded tokens the engine computes for these letters at its current setting."""
    wins = [w.ids for ws in engine.tokenizer.windows_batch(normalised) for w in ws]
    padded = [0]

    def count(ids: np.ndarray, mask: np.ndarray) -> dict[str, np.ndarray]:
        padded[0] += ids.size
        return {}

    run_length_sorted(wins, engine.pad_id, count, engine.max_batch, engine.batch_tokens)
    n = len(normalised)
    tokens = sum(map(len, wins))
    return {"windows": len(wins), "tokens": tokens, "padded_tokens": padded[0],
            "windows_per_letter": round(len(wins) / n, 3), "tokens_per_letter": round(tokens / n, 1),
            "mean_window_tokens": round(tokens / len(wins), 1), "padded_tokens_per_letter": round(padded[0] / n, 1),
            # the window length a token sees on average (attention work per token grows with it)
            "token_weighted_window": round(sum(len(w) ** 2 for w in wins) / tokens, 1)}


def flops_per_token(config: dict, window: float) -> dict[str, float]:
    """Encoder FLOPs per token from the config: the layers' matrix multiplies, and attention scores and
    weighted sums (4·S·H per layer for an S-token window), whose share grows with the window."""
    h, i, layers = config["hidden_size"], config["intermediate_size"], config["num_hidden_layers"]
    linear = 2 * (4 * h * h + 2 * h * i) * layers
    attention = 4 * window * h * layers
    total = linear + attention
    return {"mflops_per_token": round(total / 1e6, 2), "attention_share": round(attention / total, 3)}


def length_profile(tok: LetterTokenizer, texts: Sequence[str]) -> dict[str, Any]:
    """Token counts of letters (without specials): quantiles and the share longer than one window of each size."""
    n = np.array([len(e.ids) for e in tok.tokenizer.encode_batch(list(texts), add_special_tokens=False)])
    return {"letters": len(n), "mean": round(float(n.mean()), 1),
            "quantiles": {q: int(np.quantile(n, float(q))) for q in ("0.5", "0.75", "0.9", "0.95", "0.99")},
            "share_over": {str(s): round(float((n > s - tok.n_specials).mean()), 4) for s in (128, 256, 512)}}


def training_tokens(tok: LetterTokenizer, texts: Sequence[str], sizes: Sequence[int]) -> dict[str, Any]:
    """Tokens of one training epoch with one window per letter (as the quick profile trains) at each window
    size, relative to the smallest: the first-order cost of training at a longer window."""
    n = np.array([len(e.ids) for e in tok.tokenizer.encode_batch(list(texts), add_special_tokens=False)])
    tokens = {s: int((np.minimum(n, s - tok.n_specials) + tok.n_specials).sum()) for s in sorted(set(sizes))}
    low = tokens[min(tokens)]
    return {"letters": len(n), "tokens": {str(s): t for s, t in tokens.items()},
            "ratio": {str(s): round(t / low, 3) for s, t in tokens.items()}}


def tokenising(tok: LetterTokenizer, texts: Sequence[str], repeat: int) -> dict[str, Any]:
    """Seconds of the per-letter and the batch path over the same letters (best of `repeat`)."""
    per = min(seconds(lambda: [tok.windows(t) for t in texts]) for _ in range(repeat))
    batch = min(seconds(lambda: tok.windows_batch(texts)) for _ in range(repeat))
    return {"letters": len(texts), "per_letter_s": round(per, 4), "batch_s": round(batch, 4),
            "speedup": round(per / batch, 2), "per_letter_ms": round(1000 * per / len(texts), 3),
            "batch_ms": round(1000 * batch / len(texts), 3)}


def quality(engine: Engine, letters: list[LabelledLetter], subset: Sequence[int]) -> dict[str, Any]:
    """The real-letter figures of one setting over all letters and over `subset` (row numbers), and each
    letter's answers (to compare settings letter by letter)."""
    schema, cal = engine.schema, engine.calibration
    probs = engine.probabilities([x.text for x in letters])
    primary = primary_topics(schema.head("topic"), probs["topic"], cal.get("topic") or {})
    sector = schema.head("sector")
    chosen = decisions(probs["sector"], sector.kind, (cal.get("sector") or {}).get("decision_thresholds"))
    answers = {"primary": primary, "sector": [sector.class_ids[j] for j in chosen.argmax(1)]}
    rows = list(subset)
    out = {"all": figures(engine, letters, probs, primary),
           "subset": figures(engine, [letters[i] for i in rows], {h: p[rows] for h, p in probs.items()},
                             [primary[i] for i in rows]) if rows else None,
           "answers": answers}
    # the served evidence against the hand-annotated credibility spans (as `xinfang evaluate` measures it)
    spanned = [i for i, x in enumerate(letters) if isinstance((x.extra or {}).get("spans"), dict)
               and "credibility" in x.labels]
    found = dict(zip(spanned, ModelPredictor(engine.folder, engine, "model").evidence(
        [letters[i].id for i in spanned], [letters[i].text for i in spanned]), strict=True))
    for key, part in (("all", spanned), ("subset", [i for i in rows if i in found])):
        if out[key] is not None and part:
            out[key]["credibility_span_f1"] = span_overlap([letters[i] for i in part], [found[i] for i in part])["f1"]
    return out


def figures(engine: Engine, letters: list[LabelledLetter], probs: dict[str, np.ndarray],
            primary: list[str]) -> dict[str, Any]:
    """In-scope and primary topic accuracy, credibility micro-F1, sector accuracy, rare-head AUCs."""
    heads = head_figures(engine.schema, letters, probs, engine.calibration)
    topic = topic_figures(letters, primary)
    return {"n": len(letters), "in_scope_accuracy": topic.get("in_scope_accuracy"),
            "primary_accuracy": topic.get("primary_accuracy"),
            "primary_macro_f1": finite(topic.get("primary_macro_f1")),
            "credibility_micro_f1": round(heads["credibility"]["micro"]["f1"], 4),
            "credibility_macro_f1": round(heads["credibility"]["macro"]["f1"], 4),
            "sector_accuracy": round(heads["sector"]["accuracy"], 4), "sector_n": heads["sector"]["n"],
            **{f"{h}_auc": heads[h]["ranking"]["auc"] for h in ("malicious", "abusive") if h in heads}}


def changes(letters: list[LabelledLetter], ref: dict[str, list], other: dict[str, list]) -> dict[str, Any]:
    """Letters whose answer differs from the reference setting's, and whether the change fixed or broke it."""
    gold = {"primary": [(x.extra or {}).get("topic_primary") for x in letters],
            "sector": [x.labels.get("sector") for x in letters]}
    out = {}
    for key in ("primary", "sector"):
        moved = [(g, a, b) for g, a, b in zip(gold[key], ref[key], other[key], strict=True) if a != b]
        known = [(g, a, b) for g, a, b in moved if g]
        out[key] = {"changed": len(moved), "right_to_wrong": sum(a == g for g, a, _ in known),
                    "wrong_to_right": sum(b == g for g, _, b in known)}
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", default="current", help="'current', name/version or a model folder")
    ap.add_argument("--precision", default="auto", help="graph to run: auto (as served), int8 or fp32")
    ap.add_argument("--settings", default=DEFAULT_SETTINGS, help="window tokens/overlap, comma-separated")
    ap.add_argument("--n", type=int, default=300, help="backlog letters to time")
    ap.add_argument("--repeat", type=int, default=2, help="timing rounds over all settings")
    ap.add_argument("--slices", type=int, default=10, help="slices of the letters, each timed at every setting")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=0, help="onnxruntime threads; 0 = its own choice")
    ap.add_argument("--skip-timing", action="store_true", help="quality and token counts only")
    ap.add_argument("--skip-quality", action="store_true")
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "window_length.json")
    args = ap.parse_args()

    settings = get_settings()
    load_start = loadavg()
    folder = ModelFolder.resolve(settings.models_dir, args.model)
    engine = Engine(folder, precision=args.precision, threads=args.threads)
    own = (int(folder.inference["max_length"]), int(folder.inference["overlap"]))
    grid = parse_settings(args.settings)
    grid = grid if own in grid else [own, *grid]
    toks = {s: LetterTokenizer.from_file(folder.path / "tokenizer.json", max_length=s[0], overlap=s[1]) for s in grid}
    config = json.loads((folder.path / "config.json").read_text(encoding="utf-8"))

    backlog = backlog_letters(settings.shared_data_dir / REAL, args.n, args.seed)
    normalised = [normalise(x.text) for x in backlog]
    all_backlog = [normalise(x.text) for x in backlog_letters(settings.shared_data_dir / REAL, 10**9, args.seed)]
    unseen = jijian_set(folder, settings)
    jijian = unseen.letters if unseen is not None and not args.skip_quality else []
    jijian_texts = [normalise(x.text) for x in jijian]
    jijian_file = find_data_file(settings, JIJIAN_LETTERS)
    jijian_all = [normalise(x.text) for x in load_jijian(jijian_file, folder.schema)] if jijian_file else []

    identical = {label(s): all(t.windows_batch(texts) == [t.windows(x) for x in texts]
                               for texts in (all_backlog, jijian_texts)) for s, t in toks.items()}
    out: dict[str, Any] = {
        "command": command(args),
        "model": {"name": folder.name, "version": folder.version, "precision": engine.precision,
                  "own_setting": label(own), "trained_window": (folder.card.get("profile") or {}).get("max_length"),
                  "layers": config.get("num_hidden_layers")},
        "machine": {"platform": platform.platform(), "usable_cpus": usable_cpus(), "threads": args.threads,
                    "onnxruntime": ort.__version__, "tokenizers": tokenizers.__version__},
        "letters": {"backlog": f"{len(backlog)} of {len(all_backlog)} tipdm2020 unlabeled letters, seed {args.seed}",
                    "backlog_tokens": length_profile(toks[own], all_backlog),
                    "jijian_unseen": len(jijian), "jijian_tokens": length_profile(toks[own], jijian_texts)
                    if jijian_texts else None,
                    "training_epoch_tokens_jijian_all": training_tokens(toks[own], jijian_all, [s for s, _ in grid])
                    if jijian_all else None},
        "tokenising": {"identical_windows_batch_vs_per_letter": identical,
                       "backlog_all": tokenising(toks[own], all_backlog, 3)},
        "settings": {},
    }
    rows: dict[str, dict[str, Any]] = out["settings"]
    for s in grid:
        engine.tokenizer = toks[s]
        w = work(engine, normalised)
        flops = flops_per_token(config, w["token_weighted_window"])
        flops["gflops_per_letter"] = round(flops["mflops_per_token"] * w["tokens_per_letter"] / 1e3, 3)
        rows[label(s)] = {"max_length": s[0], "overlap": s[1], "work": w, "flops": flops}

    if not args.skip_timing:
        out["timing_rounds"] = timing(engine, toks, own, backlog, args.slices, args.repeat, rows)

    if jijian:
        ref: dict[str, list] | None = None
        long_rows = [i for i, t in enumerate(jijian_texts) if len(toks[own].windows(t)) > 1]
        for s in [own, *[g for g in grid if g != own]]:
            engine.tokenizer = toks[s]
            q = quality(engine, jijian, long_rows)
            rows[label(s)]["quality"] = {"all": q["all"], "multi_window_letters": q["subset"]}
            ref = ref or q["answers"]
            if s != own:
                rows[label(s)]["quality"]["changes_vs_own"] = changes(jijian, ref, q["answers"])
        out["quality_note"] = (
            f"jijian letters the model did not train on ({len(jijian)}; its dev split, which also fitted its "
            f"calibration at {label(own)}); multi_window_letters: the {len(long_rows)} that need more than one "
            f"window at {label(own)}, the only ones a setting can change")
    engine.tokenizer = toks[own]
    out["machine"]["loadavg_start"] = load_start
    out["machine"]["loadavg_end"] = loadavg()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(out, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    summary = {k: {"tokens_per_letter": v["work"]["tokens_per_letter"],
                   **{m: v.get("time", {}).get(m) for m in ("letters_per_s", "encoder_vs_own")},
                   **{m: (v.get("quality") or {}).get("all", {}).get(m)
                      for m in ("in_scope_accuracy", "primary_accuracy", "credibility_micro_f1", "sector_accuracy")}}
               for k, v in rows.items()}
    print(json.dumps({"settings": summary, "loadavg": [load_start, out["machine"]["loadavg_end"]]}, indent=1))


if __name__ == "__main__":
    main()
