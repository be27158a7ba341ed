"""Which nodes of the int8 graph to keep fp32, by measurement on real letters (not a test; figures depend on the
machine and its load).

    .venv/bin/python benchmarks/int8_nodes.py --model current --json benchmarks/results/int8_nodes.json \
        --save /tmp/int8-nodes/model.int8.onnx

On the model's own dev letters (jijian and tipdm2020 ids in its splits.json: out of its training fold), cut into
windows as the engine cuts them, with the engine's blend partner (n-gram model, rule hits) and calibration:
1. re-exports the model's torch weights to ONNX three ways (training/export.py `_optimize`): Q/K/V packed in one
   fused Attention op (the served fp32 graph; its Q/K/V weight cannot be quantised), Q/K/V as separate MatMuls
   under a fused MultiHeadAttention, and no attention fusion;
2. quantises variants with export.py's static QDQ recipe: the old rule (fused attention, GELU-fed MatMuls kept
   fp32 by guess), every MatMul of each graph, and greedy un-quantisation: the node with the worst own error
   (training/int8_error.py, onnxruntime's qdq_loss_debug) goes back to fp32 until label agreement with the
   fp32 graph is >= --target on every head; and the export's own rule (quantize_int8 as export_onnx runs it);
3. per variant: label agreement per head (export.letter_agreement, as the parity gate computes it), encoder
   speed (tokens/s, windows in length-sorted batches of 32) measured in turns with the fp32 graphs, and the
   per-node errors; the load average at start and end.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import onnx
from onnxruntime.quantization import quant_pre_process

from xinfang.config import get_settings
from xinfang.credibility import rule_evidence
from xinfang.evaluation.sets import jijian_set, tipdm_set
from xinfang.model_folder import ModelFolder
from xinfang.ngram_model import NGRAM_FILE, NgramModel
from xinfang.span_decoding import is_span_output
from xinfang.text import LetterTokenizer, normalise_with_map
from xinfang.training import export
from xinfang.training.int8_error import node_errors
from xinfang.training.model import MultiHeadModel
from xinfang.window_batches import run_length_sorted


def gelu_fed_matmuls(model: onnx.ModelProto) -> list[str]:
    """The old guess: MatMuls whose input is a GELU output (the feed-forward down-projections)."""
    producer = {out: node for node in model.graph.node for out in node.output}
    return [n.name for n in model.graph.node if n.op_type in {"MatMul", "Gemm"}
            and (src := producer.get(n.input[0])) is not None and "Gelu" in src.op_type]


def dev_letters(folder: ModelFolder) -> tuple[list[str], list[str]]:
    """(texts, sources) of the real letters the model did not train on (its dev split; xinfang.evaluation.sets)."""
    settings = get_settings()
    found = [s for s in (jijian_set(folder, settings), tipdm_set(folder, settings)) if s is not None and s.held_out]
    return [x.text for s in found for x in s.letters], [x.source for s in found for x in s.letters]


def encoder_runner(path: Path, windows: list[list[int]], pad: int) -> Callable[[], Any]:
    """One session over `path`; each call runs every window (length-sorted batches of 32, as onnx_window_logits)."""
    sess = export._session(path)
    names = [o.name for o in sess.get_outputs() if not is_span_output(o.name)]
    return lambda: run_length_sorted(windows, pad, lambda ids, mask: dict(zip(names, sess.run(
        names, {"input_ids": ids, "attention_mask": mask}), strict=True)), 32)


def timed(fn: Callable[[], Any]) -> tuple[Any, float]:
    t = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t


def main() -> None:
    settings = get_settings()
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", default="current")
    ap.add_argument("--target", type=float, default=0.98, help="label agreement every head must reach")
    ap.add_argument("--max-steps", type=int, default=8, help="greedy un-quantisation steps at most")
    ap.add_argument("--speed-windows", type=int, default=384, help="windows for the speed rows")
    ap.add_argument("--repeat", type=int, default=3, help="speed runs per graph (best kept), in turns")
    ap.add_argument("--error-windows", type=int, default=export.ERROR_WINDOWS, help="windows for per-node errors")
    ap.add_argument("--json", type=Path)
    ap.add_argument("--save", type=Path, help="copy the export rule's int8 graph here (for serving_speed.py --int8)")
    args = ap.parse_args()

    out: dict[str, Any] = {"command": "python benchmarks/int8_nodes.py " + " ".join(
        f"--{k.replace('_', '-')} {v}" for k, v in vars(args).items() if v is not None),
        "loadavg_start": os.getloadavg(), "cpus": os.cpu_count(), "target": args.target}
    folder = ModelFolder.resolve(settings.models_dir, args.model)
    cfg = folder.inference
    tok = LetterTokenizer.from_file(folder.path / "tokenizer.json", max_length=int(cfg["max_length"]),
                                    overlap=int(cfg["overlap"]))
    pad = int(cfg.get("pad_id", tok.pad_id))
    texts, sources = dev_letters(folder)
    normalised = [normalise_with_map(t)[0] for t in texts]
    windows, rows = [], []
    for i, t in enumerate(normalised):
        for w in tok.windows(t):
            windows.append(w.ids)
            rows.append(i)
    ngram = NgramModel.load(folder.path / NGRAM_FILE) if (folder.path / NGRAM_FILE).is_file() else None
    partner = ngram.logits(normalised) if ngram else None
    rules = rule_evidence(folder.schema, texts) if ngram else None
    calib = export.calibration_windows(windows, rows)
    out["model"] = f"{folder.name}/{folder.version}"
    out["letters"] = {"n": len(texts), "by_source": {s: sources.count(s) for s in set(sources)},
                      "windows": len(windows), "tokens": int(sum(map(len, windows))),
                      "calibration_windows": len(calib), "error_windows": args.error_windows}
    print(f"{out['model']}: {len(texts)} dev letters {out['letters']['by_source']}, {len(windows)} windows")

    model = MultiHeadModel.load(folder.path).eval()
    tmp = Path(tempfile.mkdtemp(prefix="int8-nodes-"))
    raw = tmp / "raw.onnx"
    export._export_raw(model, raw)
    graphs: dict[str, Path] = {}
    for attention in ("fused", "separate", "none"):
        typed = tmp / f"{attention}.onnx"
        assert export._optimize(model, raw, tmp / f"{attention}-opt.onnx", attention)
        quant_pre_process(str(tmp / f"{attention}-opt.onnx"), str(typed), skip_optimization=True, auto_merge=True)
        graphs[f"fp32 {attention}"] = typed
    fp = export.onnx_window_logits(graphs["fp32 fused"], windows, pad)

    def agreement(path: Path) -> dict[str, Any]:
        q8 = export.onnx_window_logits(path, windows, pad)
        heads = export.letter_agreement(folder.schema, fp, q8, rows, folder.calibration, partner, rules)
        return {"min_agreement": min(h["int8_label_agreement"] for h in heads.values()), "heads": heads,
                "max_abs_logit": max(float(np.abs(fp[h] - q8[h]).max()) for h in heads)}

    variants: dict[str, dict[str, Any]] = {}

    def variant(name: str, source: str, exclude: list[str]) -> dict[str, Any]:
        path = tmp / f"{name.replace(' ', '_')}.int8.onnx"
        _, secs = timed(lambda: export.quantize_qdq(graphs[f"fp32 {source}"], path, calib, exclude))
        row = {"graph": source, "fp32_nodes": exclude, "quantise_s": round(secs, 1), **agreement(path)}
        graphs[name] = path
        variants[name] = row
        print(f"{name}: min agreement {row['min_agreement']:.4f}, {len(exclude)} fp32 nodes, quantised in {secs:.0f}s")
        return row

    graphs["int8 shipped"] = folder.path / "model.int8.onnx"
    variants["int8 shipped"] = {"graph": "the model folder's own int8", **agreement(graphs["int8 shipped"])}
    print(f"shipped int8: min agreement {variants['int8 shipped']['min_agreement']:.4f}")
    variant("int8 old rule (gelu-fed fp32)", "fused", gelu_fed_matmuls(onnx.load(str(graphs["fp32 fused"]))))
    variant("int8 fused, all", "fused", [])
    variant("int8 none, all", "none", [])
    variant("int8 separate, all", "separate", [])
    errors, secs = timed(lambda: node_errors(graphs["fp32 separate"], graphs["int8 separate, all"],
                                             export.WindowReader(calib[: args.error_windows])))
    out["node_errors"] = {"graph": "separate", "seconds": round(secs, 1), "nodes": errors}
    ranked = [n for _, n in sorted((e["local_sqnr_db"], n) for n, e in errors.items())]
    print("worst nodes: " + ", ".join(f"{n} {errors[n]['local_sqnr_db']:.1f} dB" for n in ranked[:6]))
    greedy = []
    row = variants["int8 separate, all"]
    for k in range(1, args.max_steps + 1):
        if row["min_agreement"] >= args.target:
            break
        row = variant(f"int8 separate, {k} worst fp32", "separate", ranked[:k])
        greedy.append({"fp32_nodes": k, "last_sqnr_db": errors[ranked[k - 1]]["local_sqnr_db"],
                       "min_agreement": row["min_agreement"]})
    out["greedy"] = greedy

    # the export's own rule, timed as export_onnx runs it (pre-processing, calibration, errors, re-quantising)
    path = tmp / "export_rule.int8.onnx"
    report, secs = timed(lambda: export.quantize_int8(tmp / "separate-opt.onnx", path, calib))
    variants["int8 export rule"] = {"graph": "separate", "fp32_nodes": report["fp32_nodes"],
                                    "min_node_sqnr_db": report["min_node_sqnr_db"], "quantise_s": round(secs, 1),
                                    **agreement(path)}
    graphs["int8 export rule"] = path
    if args.save:
        args.save.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, args.save)
    print(f"export rule: {report['fp32_nodes']} fp32, min agreement {variants['int8 export rule']['min_agreement']:.4f}"
          f", {secs:.0f}s")

    speed = windows[:: max(1, len(windows) // args.speed_windows)][: args.speed_windows]
    n_tok = sum(map(len, speed))
    best = dict.fromkeys(graphs, float("inf"))
    runners = {name: encoder_runner(p, speed, pad) for name, p in graphs.items()}
    for _ in range(args.repeat):
        for name, run in runners.items():
            best[name] = min(best[name], timed(run)[1])
    out["speed"] = {"windows": len(speed), "tokens": n_tok, "note": "best of --repeat, graphs run in turns",
                    "tokens_per_s": {name: round(n_tok / s) for name, s in best.items()}}
    fused = best["fp32 fused"]
    for name, s in best.items():
        print(f"{name:<40}{n_tok / s:>10.0f} tokens/s{fused / s:>8.2f}x fp32 fused")
    out["variants"] = variants
    out["loadavg_end"] = os.getloadavg()
    if args.json:
        args.json.write_text(json.dumps(out, indent=1, ensure_ascii=False), encoding="utf-8")
    shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
