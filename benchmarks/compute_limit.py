"""How close the encoder runs to this machine's matrix-multiply limit, fp32 and int8, measured in one run.

    .venv/bin/python benchmarks/compute_limit.py --n 200          # writes benchmarks/results/compute_limit.json

1. Work per token from the ONNX graph: 2·K·N FLOPs for every MatMul (and fused Attention QKV projection) whose
   weight is a K×N initializer (directly, or behind a DequantizeLinear of an 8-bit initializer: integer work),
   plus attention scores 4·S·H per token of an S-token window per attention layer; the heads' Gemms run once
   per window. Cross-checked against the config (layers × hidden × intermediate sizes).
2. Tokens/s of the model folder through xinfang.engine.Engine on the first --n real letters of
   jijian/letters.jsonl, cut into the engine's windows: the encoder alone (the engine's length-sorted ONNX
   runs) and the whole `score()` (tokenising, rules, calibration, answers).
3. Matrix-multiply peaks in the same run and threads: numpy sgemm (its BLAS), onnxruntime's own MatMul as a
   one-node ONNX model, and onnxruntime's integer MatMul (MatMulInteger u8×s8, QLinearMatMul) one-node models;
   at the graph's own K×N shapes with M = --rows rows (the engine's batches), and at 2048³.
4. Achieved / peak: fp32 encoder GFLOP/s against the best fp32 kernel at each of the graph's shapes; int8 against
   the peak of the graph's mix (its integer FLOPs at the best integer kernel, its float FLOPs at the best float
   kernel). The letters are timed in --slices slices, each followed by one timing of every kernel: the paired
   ratio (median over slices) sets each slice against kernels run under the same load; the best-peak ratio sets
   the whole run against the best kernel timing of the run.

The load average is recorded at start and end: on a shared machine every figure is lower and noisier.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper

from xinfang.config import get_settings
from xinfang.cpus import usable_cpus
from xinfang.engine import Engine, LetterIn
from xinfang.model_folder import ModelFolder
from xinfang.text import normalise_with_map

ROOT = Path(__file__).resolve().parent.parent
INT8_TYPES = {TensorProto.INT8, TensorProto.UINT8}


@dataclass
class GraphWork:
    """FLOPs of one ONNX graph: per token (float and integer MatMuls), per window (heads), attention layers."""

    float_per_token: int = 0
    int_per_token: int = 0
    per_window: int = 0
    attention_hidden: list[int] = field(default_factory=list)  # H of each attention layer (scores: 4·S·H/token)
    shapes: dict[str, int] = field(default_factory=dict)  # "KxN" -> float FLOPs per token at that weight shape
    int_shapes: dict[str, int] = field(default_factory=dict)  # "KxN" -> integer FLOPs per token

    def flops(self, window_lengths: list[int]) -> dict[str, float]:
        """Total FLOPs over windows of the given lengths, float and integer."""
        tokens = sum(window_lengths)
        scores = sum(4 * s * s * h for s in window_lengths for h in self.attention_hidden)
        fl = self.float_per_token * tokens + scores + self.per_window * len(window_lengths)
        return {"float": float(fl), "int": float(self.int_per_token * tokens)}


def graph_work(path: Path) -> GraphWork:
    model = onnx.load(str(path), load_external_data=False)
    inits = {i.name: (list(i.dims), i.data_type) for i in model.graph.initializer}
    producer = {o: n for n in model.graph.node for o in n.output}

    def weight(name: str) -> tuple[list[int], bool] | None:
        if name in inits:
            dims, dtype = inits[name]
            return dims, dtype in INT8_TYPES
        node = producer.get(name)
        if node is not None and node.op_type == "DequantizeLinear" and node.input[0] in inits:
            dims, dtype = inits[node.input[0]]
            return dims, dtype in INT8_TYPES
        return None

    work = GraphWork()
    for node in model.graph.node:
        if node.op_type not in {"MatMul", "Attention", "Gemm", "MatMulInteger", "QLinearMatMul"}:
            continue
        w = weight(node.input[3 if node.op_type == "QLinearMatMul" else 1])
        if w is None or len(w[0]) != 2:
            continue
        (k, n), integer = w
        if node.op_type == "Gemm":
            work.per_window += 2 * k * n
            continue
        if node.op_type == "Attention":
            work.attention_hidden.append(k)
        f = 2 * k * n
        if integer:
            work.int_per_token += f
        else:
            work.float_per_token += f
        kind = work.int_shapes if integer else work.shapes
        kind[f"{k}x{n}"] = kind.get(f"{k}x{n}", 0) + f
    return work


def config_flops_per_token(config: dict[str, Any], seq: float) -> float:
    """The textbook count: per layer 2·(4·H² + 2·H·I) for the projections and FFN, 4·S·H for attention."""
    layers, h, i = config["num_hidden_layers"], config["hidden_size"], config["intermediate_size"]
    return float(layers * (2 * (4 * h * h + 2 * h * i) + 4 * seq * h))


# ---- peaks -------------------------------------------------------------------------------------------------

FLOAT_PEAKS, INT_PEAKS = ("numpy_sgemm", "ort_MatMul"), ("ort_MatMulInteger", "ort_QLinearMatMul")
Table = dict[str, dict[str, float]]  # "MxKxN" -> kernel -> GFLOP/s


def seconds_of(fn: Callable[[], Any]) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def ort_session(model: onnx.ModelProto, threads: int) -> ort.InferenceSession:
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    opts.log_severity_level = 3
    return ort.InferenceSession(model.SerializeToString(), opts, providers=["CPUExecutionProvider"])


def one_node(op: str, m: int, k: int, n: int, rng: np.random.Generator) -> tuple[onnx.ModelProto, dict]:
    """A one-node ONNX model multiplying an M×K input by a K×N initializer, and its feed."""
    if op == "MatMul":
        inputs = [helper.make_tensor_value_info("a", TensorProto.FLOAT, [m, k])]
        inits = [numpy_helper.from_array(rng.standard_normal((k, n), dtype=np.float32), "b")]
        out = helper.make_tensor_value_info("y", TensorProto.FLOAT, [m, n])
        node = helper.make_node("MatMul", ["a", "b"], ["y"])
        feed = {"a": rng.standard_normal((m, k), dtype=np.float32)}
    else:
        inputs = [helper.make_tensor_value_info("a", TensorProto.UINT8, [m, k])]
        b = rng.integers(-127, 128, (k, n), dtype=np.int8)
        inits = [numpy_helper.from_array(b, "b"), numpy_helper.from_array(np.array(128, np.uint8), "a_zp"),
                 numpy_helper.from_array(np.array(0, np.int8), "b_zp"),
                 numpy_helper.from_array(np.array(0.02, np.float32), "a_s"),
                 numpy_helper.from_array(np.array(0.01, np.float32), "b_s"),
                 numpy_helper.from_array(np.array(0.5, np.float32), "y_s"),
                 numpy_helper.from_array(np.array(128, np.uint8), "y_zp")]
        if op == "MatMulInteger":
            node = helper.make_node("MatMulInteger", ["a", "b", "a_zp", "b_zp"], ["y"])
            out = helper.make_tensor_value_info("y", TensorProto.INT32, [m, n])
        else:
            node = helper.make_node("QLinearMatMul", ["a", "a_s", "a_zp", "b", "b_s", "b_zp", "y_s", "y_zp"], ["y"])
            out = helper.make_tensor_value_info("y", TensorProto.UINT8, [m, n])
        feed = {"a": rng.integers(0, 256, (m, k), dtype=np.uint8)}
    graph = helper.make_graph([node], op, inputs, [out], inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]), feed


class Kernels:
    """numpy sgemm and onnxruntime's MatMul, MatMulInteger and QLinearMatMul (one-node models) at the graph's
    K×N shapes with M = rows, and at 2048³; `sample()` times each (a few seconds in all)."""

    def __init__(self, shapes: list[tuple[int, int]], rows: int, threads: int):
        rng = np.random.default_rng(0)
        self.calls: dict[str, dict[str, Callable[[], Any]]] = {}
        self.flops: dict[str, float] = {}
        for m, k, n in [(rows, k, n) for k, n in shapes] + [(2048, 2048, 2048)]:
            key = f"{m}x{k}x{n}"
            a, b = rng.standard_normal((m, k), dtype=np.float32), rng.standard_normal((k, n), dtype=np.float32)
            self.calls[key] = {"numpy_sgemm": lambda a=a, b=b: a @ b}
            for op in ("MatMul", "MatMulInteger", "QLinearMatMul"):
                model, feed = one_node(op, m, k, n, rng)
                sess = ort_session(model, threads)
                self.calls[key][f"ort_{op}"] = lambda s=sess, f=feed: s.run(None, f)
            self.flops[key] = 2.0 * m * k * n
        self.sample()  # warm-up

    def sample(self, min_time: float = 0.25) -> Table:
        """GFLOP/s of each kernel over calls for at least `min_time` seconds: a mean over a stretch of time like
        the encoder's own timing (the best single call of a short kernel dodges a busy machine's load, which the
        encoder's seconds-long runs cannot)."""
        out: Table = {}
        for key, kernels in self.calls.items():
            out[key] = {}
            for name, fn in kernels.items():
                calls, t0 = 0, time.perf_counter()
                while (elapsed := time.perf_counter() - t0) < min_time or not calls:
                    fn()
                    calls += 1
                out[key][name] = self.flops[key] * calls / elapsed / 1e9
        return out


def best_table(samples: list[Table]) -> Table:
    return {key: {name: round(max(s[key][name] for s in samples), 2) for name in samples[0][key]}
            for key in samples[0]}


def ideal_seconds(work: GraphWork, tokens: int, flops: dict[str, float], rows: int, table: Table) -> float:
    """Time the graph's FLOPs take at the measured peaks: each weight shape's float FLOPs at the best float
    kernel at that shape (numpy or onnxruntime), its integer FLOPs at the best integer kernel; attention scores
    and heads (the rest) at the float rate of the graph's float shapes (of its integer ones when every weight
    MatMul is integer)."""
    def best(shape: str, columns: tuple[str, ...]) -> float:
        return max(table[f"{rows}x{shape}"][c] for c in columns) * 1e9

    float_s = sum(f / best(s, FLOAT_PEAKS) for s, f in work.shapes.items())
    int_s = sum(f / best(s, INT_PEAKS) for s, f in work.int_shapes.items())
    rest = flops["float"] - work.float_per_token * tokens
    rate_shapes = work.shapes or work.int_shapes
    float_s_per_flop = sum(f / best(s, FLOAT_PEAKS) for s, f in rate_shapes.items()) / sum(rate_shapes.values())
    return tokens * (float_s + int_s) + rest * float_s_per_flop


# ---- the encoder --------------------------------------------------------------------------------------------

def load_letters(path: Path, n: int) -> list[LetterIn]:
    out: list[LetterIn] = []
    with path.open(encoding="utf-8") as fh:
        for line in fh:
            row = json.loads(line)
            if (row.get("text") or "").strip():
                out.append(LetterIn(str(row["id"]), row["text"]))
            if len(out) >= n:
                break
    return out


@dataclass
class Slice:
    """Some letters, their windows' token ids, and per precision its encoder and score() seconds with the
    kernel peaks sampled right after (the same load)."""

    letters: list[LetterIn]
    windows: list[list[int]]
    encoder_s: dict[str, float] = field(default_factory=dict)
    score_s: dict[str, float] = field(default_factory=dict)
    table: Table = field(default_factory=dict)

    @property
    def lengths(self) -> list[int]:
        return [len(w) for w in self.windows]


def measure(engines: dict[str, Engine], slices: list[Slice], kernels: Kernels) -> None:
    """Per slice and precision: the encoder alone (the engine's own length-sorted ONNX batches; a private method,
    as no public one runs only the model) and the whole score(); then the kernels, under the same load."""
    for sl in slices:
        for precision, engine in engines.items():
            sl.encoder_s[precision] = seconds_of(partial(engine._run, sl.windows))
            sl.score_s[precision] = seconds_of(partial(engine.score, sl.letters))
        sl.table = kernels.sample()


def summarise(precision: str, work: GraphWork, slices: list[Slice], rows: int, best: Table) -> dict[str, Any]:
    tokens = sum(sum(sl.lengths) for sl in slices)
    letters = sum(len(sl.letters) for sl in slices)
    fl = [work.flops(sl.lengths) for sl in slices]
    total = sum(f["float"] + f["int"] for f in fl)
    enc, whole = sum(sl.encoder_s[precision] for sl in slices), sum(sl.score_s[precision] for sl in slices)
    paired = [(f["float"] + f["int"]) / sl.encoder_s[precision]
              / ((f["float"] + f["int"]) / ideal_seconds(work, sum(sl.lengths), f, rows, sl.table))
              for sl, f in zip(slices, fl, strict=True)]
    all_fl = {"float": sum(f["float"] for f in fl), "int": sum(f["int"] for f in fl)}
    peak = total / ideal_seconds(work, tokens, all_fl, rows, best) / 1e9
    return {"letters": letters, "windows": sum(len(sl.windows) for sl in slices), "tokens": tokens,
            "flops_per_token": round(total / tokens), "int_share_of_flops": round(all_fl["int"] / total, 3),
            "encoder_seconds": round(enc, 2), "encoder_tokens_per_s": round(tokens / enc),
            "encoder_gflops": round(total / enc / 1e9, 2), "score_seconds": round(whole, 2),
            "score_letters_per_s": round(letters / whole, 2), "score_gflops": round(total / whole / 1e9, 2),
            "peak_gflops_best": round(peak, 2), "achieved_of_best_peak": round(total / enc / 1e9 / peak, 3),
            "achieved_of_peak_paired": {"median": round(float(np.median(paired)), 3),
                                        "min": round(min(paired), 3), "max": round(max(paired), 3)},
            "peak_is": "integer kernels for its int8 nodes, float kernels for the rest" if all_fl["int"]
            else "best of numpy sgemm and onnxruntime MatMul at the graph's shapes"}


def cpu_flags() -> list[str]:
    """The matrix-multiply instruction sets of this CPU (AMX and VNNI make integer kernels far faster)."""
    try:
        text = Path("/proc/cpuinfo").read_text(encoding="utf-8")
    except OSError:
        return []
    flags = set(next((ln.split(":", 1)[1].split() for ln in text.splitlines() if ln.startswith("flags")), []))
    return sorted(f for f in flags if f.startswith(("amx", "avx512_vnni", "avx_vnni", "avx512f", "avx2", "fma")))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", default="current", help="'current', name/version or a model folder")
    ap.add_argument("--letters", type=Path, default=None, help="default shared_data_dir/jijian/letters.jsonl")
    ap.add_argument("--n", type=int, default=200, help="letters to score")
    ap.add_argument("--slices", type=int, default=8, help="slices of the letters, each timed beside the kernels")
    ap.add_argument("--threads", type=int, default=0, help="onnxruntime threads; 0 = the CPUs this process may use")
    ap.add_argument("--rows", type=int, default=2048, help="M of the model-shape matrix multiplies")
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "compute_limit.json")
    args = ap.parse_args()

    settings = get_settings()
    load_start = os.getloadavg()
    threads = args.threads or usable_cpus()
    folder = ModelFolder.resolve(settings.models_dir, args.model)
    letters = load_letters(args.letters or settings.shared_data_dir / "jijian" / "letters.jsonl", args.n)
    cfg_path = folder.path / "config.json"
    config = json.loads(cfg_path.read_text(encoding="utf-8")) if cfg_path.is_file() else {}
    graphs = {p: folder.path / ("model.onnx" if p == "fp32" else "model.int8.onnx") for p in ("fp32", "int8")}
    works = {p: graph_work(path) for p, path in graphs.items() if path.is_file()}
    engines = {p: Engine(folder, precision=p, threads=threads) for p in works}
    tokenizer = next(iter(engines.values())).tokenizer
    step = -(-len(letters) // max(1, args.slices))
    slices = [Slice(part, [w.ids for x in part for w in tokenizer.windows(normalise_with_map(x.text)[0])])
              for part in (letters[i:i + step] for i in range(0, len(letters), step))]
    for engine in engines.values():  # warm-up
        engine.score(letters[:8])
    shapes = sorted({tuple(map(int, s.split("x"))) for w in works.values() for s in [*w.shapes, *w.int_shapes]})
    kernels = Kernels(shapes, args.rows, threads)  # type: ignore[arg-type]
    measure(engines, slices, kernels)
    best = best_table([sl.table for sl in slices])
    rows = {p: summarise(p, works[p], slices, args.rows, best) for p in works}
    mean_len = float(np.mean([n for sl in slices for n in sl.lengths]))
    out = {
        "command": ".venv/bin/python benchmarks/compute_limit.py " + " ".join(
            f"--{k} {v}" for k, v in vars(args).items() if k not in {"out", "letters"}),
        "machine": {"platform": platform.platform(), "cpu_flags": cpu_flags(), "usable_cpus": usable_cpus(),
                    "threads": threads,
                    "onnxruntime": ort.__version__, "numpy": np.__version__,
                    "loadavg_start": [round(x, 2) for x in load_start],
                    "loadavg_end": [round(x, 2) for x in os.getloadavg()],
                    "note": "taken on a shared machine under load: compare the figures with the load average; "
                            "the paired ratio sets each slice against kernels timed right after it"},
        "model": {"name": folder.name, "version": folder.version, "layers": config.get("num_hidden_layers"),
                  "hidden": config.get("hidden_size"), "intermediate": config.get("intermediate_size"),
                  "mean_window_tokens": round(mean_len, 1),
                  "config_flops_per_token": round(config_flops_per_token(config, mean_len)) if config else None,
                  "graph": {p: asdict(w) for p, w in works.items()}},
        "encoder": rows, "peaks_gflops_best": best,
        "peaks_gflops_median": {key: {name: round(float(np.median([sl.table[key][name] for sl in slices])), 2)
                                      for name in best[key]} for key in best},
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(out, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    print(json.dumps({p: {k: r[k] for k in ("encoder_gflops", "peak_gflops_best", "achieved_of_best_peak",
                                            "achieved_of_peak_paired")} for p, r in rows.items()}
                     | {"loadavg": out["machine"]["loadavg_start"]}, indent=1))


if __name__ == "__main__":
    main()
