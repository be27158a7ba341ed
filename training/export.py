"""ONNX export: one graph with every head as an output, onnxruntime's transformer optimizer where it
helps, an int8 statically quantised copy calibrated on letter windows (nodes too sensitive for int8, found by their
measured error, kept fp32), and parity checks against torch."""

from __future__ import annotations

import logging
import os
import tempfile
import time
import warnings
from collections import defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import torch
from onnxruntime.quantization import (
    CalibrationDataReader,
    CalibrationMethod,
    QuantFormat,
    QuantType,
    quant_pre_process,
    quantize_static,
)

from xinfang.schema import Schema
from xinfang.span_decoding import SPAN_MAX_TOKENS, best_token_spans, is_span_output, span_output, span_tokens
from xinfang.training.int8_error import node_errors, sensitive_nodes
from xinfang.training.model import MultiHeadModel, OnnxWrapper
from xinfang.training.trainer import torch_window_logits
from xinfang.window_batches import run_length_sorted

log = logging.getLogger(__name__)
OPSET = 17
TORCH_PARITY_WINDOWS = 128  # torch is the slow side; this many windows bound the max-abs check
CALIBRATION_WINDOWS = 128  # windows whose ranges fix the int8 scales (e5-small: about 0.2 s each on 2 cores)
CALIBRATION_BATCH = 16
ERROR_WINDOWS = 16  # windows on which each quantised node's own error is measured (a few seconds for e5-small)
# A node whose own int8 error (local SQNR, training/int8_error.py) is under this stays fp32. Measured on quick-v4
# (benchmarks/results/int8_nodes.json): all 42 MatMul/Gemm nodes, Q/K/V and FFN included, are >= 20.3 dB (the
# FFN down-projections are the worst, 20-26 dB) and quantising all of them keeps label agreement >= 0.995 on
# every head over 470 out-of-fold real letters. The floor sits below that, for outliers (a weight column or
# activation range int8 cannot hold reads ~0 dB); the parity gate at export still decides what is served.
INT8_MIN_NODE_SQNR_DB = 15.0
INT8_MAX_FP32_NODES: int | None = None
# The int8 graph's attention fusion (_optimize): "separate" keeps Q/K/V as quantisable MatMuls under a fused
# MultiHeadAttention. Encoder tokens/s, two runs under load 5-7 (benchmarks/int8_nodes.py): 7-9% faster than every
# MatMul quantised but Q/K/V fp32 inside the fused Attention op, 2-7% faster than no attention fusion, 35-40% faster
# than the old rule (GELU-fed MatMuls fp32 by guess). fp32 stays "fused" (5-22% faster than "separate").
INT8_ATTENTION = "separate"


@dataclass
class ExportResult:
    fp32_path: Path
    int8_path: Path
    optimized: bool
    seconds: float
    int8: dict = field(default_factory=dict)  # quantize_int8's report: the nodes kept fp32 and every node's error


def _session(path: Path) -> ort.InferenceSession:
    opts = ort.SessionOptions()
    opts.log_severity_level = 3
    return ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])


def _export_raw(model: MultiHeadModel, path: Path) -> None:
    wrapper = OnnxWrapper(model).eval()
    ids = torch.ones((2, 16), dtype=torch.long)
    mask = torch.ones((2, 16), dtype=torch.long)
    names = wrapper.output_names
    # eager attention exports the MatMul/Softmax pattern that onnxruntime fuses into one Attention op
    previous = model.encoder.config._attn_implementation
    model.encoder.set_attn_implementation("eager")
    try:
        _trace(wrapper, ids, mask, path, names)
    finally:
        model.encoder.set_attn_implementation(previous)


def _trace(wrapper: OnnxWrapper, ids: torch.Tensor, mask: torch.Tensor, path: Path, names: list[str]) -> None:
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            wrapper, (ids, mask), str(path), input_names=["input_ids", "attention_mask"], output_names=names,
            dynamic_axes={"input_ids": {0: "batch", 1: "sequence"}, "attention_mask": {0: "batch", 1: "sequence"},
                          **{n: {0: "batch"} for n in names},
                          **{span_output(h): {0: "batch", 1: "sequence"} for h in wrapper.model.span_heads}},
            opset_version=OPSET, dynamo=False, do_constant_folding=True,
        )


def _optimize(model: MultiHeadModel, src: Path, dst: Path, attention: str = "fused") -> bool:
    """onnxruntime's BERT fusions (layer norm, GELU, attention); kept only if the graph still runs. `attention`:
    "fused" packs Q/K/V into one Attention op (its weight is not quantisable), "separate" keeps the Q/K/V
    MatMuls and fuses the rest into MultiHeadAttention, "none" leaves attention unfused."""
    from onnxruntime.transformers import optimizer
    from onnxruntime.transformers.fusion_options import FusionOptions

    cfg = model.encoder.config
    options = FusionOptions("bert")
    options.enable_attention = attention != "none"
    options.use_multi_head_attention = attention == "separate"
    try:
        opt = optimizer.optimize_model(str(src), model_type="bert", num_heads=cfg.num_attention_heads,
                                       hidden_size=cfg.hidden_size, opt_level=1, optimization_options=options)
        opt.save_model_to_file(str(dst))
        _session(dst)
        return True
    except Exception as exc:  # the optimizer is best-effort: fall back to the plain export
        log.warning("onnxruntime transformer optimizer skipped: %s", type(exc).__name__)
        return False


def calibration_windows(windows: Sequence[Sequence[int]], letter_rows: Sequence[int] | None = None,
                        real_letters: Sequence[bool] | None = None, limit: int = CALIBRATION_WINDOWS,
                        seed: int = 0) -> list[list[int]]:
    """Up to `limit` windows for int8 calibration, a seeded sample of whole letters: real letters first,
    generated ones only to fill up what real ones leave."""
    rows = list(letter_rows) if letter_rows is not None else list(range(len(windows)))
    by_letter: dict[int, list[list[int]]] = defaultdict(list)
    for w, r in zip(windows, rows, strict=True):
        by_letter[int(r)].append(list(w))
    rng = np.random.default_rng(seed)
    letters = rng.permutation(sorted(by_letter)).tolist()
    real = set(letters) if real_letters is None else {r for r in letters if real_letters[r]}
    out: list[list[int]] = []
    for r in [r for r in letters if r in real] + [r for r in letters if r not in real]:
        out += by_letter[r][: limit - len(out)]
        if len(out) >= limit:
            break
    return out


class WindowReader(CalibrationDataReader):
    """Calibration input for onnxruntime's quantizer: batches of windows of one length, so no padding
    enters the activation ranges."""

    def __init__(self, windows: Sequence[Sequence[int]], batch_size: int = CALIBRATION_BATCH):
        by_length: dict[int, list[Sequence[int]]] = defaultdict(list)
        for w in windows:
            by_length[len(w)].append(w)
        self.batches = [np.asarray(ws[i: i + batch_size], dtype=np.int64)
                        for _, ws in sorted(by_length.items()) for i in range(0, len(ws), batch_size)]
        self._it: Iterator[np.ndarray] = iter(self.batches)

    def get_next(self) -> dict[str, np.ndarray] | None:
        ids = next(self._it, None)
        return None if ids is None else {"input_ids": ids, "attention_mask": np.ones_like(ids)}

    def rewind(self) -> None:
        self._it = iter(self.batches)


def quantize_qdq(src: Path, dst: Path, windows: Sequence[Sequence[int]], exclude: Sequence[str]) -> None:
    """Static QDQ int8 of every MatMul/Gemm with a constant weight except `exclude` (see quantize_int8)."""
    quantize_static(str(src), str(dst), WindowReader(windows), quant_format=QuantFormat.QDQ,
                    op_types_to_quantize=["MatMul", "Gemm"], nodes_to_exclude=list(exclude), per_channel=True,
                    reduce_range=True, activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
                    calibrate_method=CalibrationMethod.MinMax, extra_options={"MatMulConstBOnly": True,
                                   "OpTypesToExcludeOutputQuantization": ["MatMul", "Gemm"]})


def quantize_int8(src: Path, dst: Path, windows: Sequence[Sequence[int]], min_sqnr_db: float = INT8_MIN_NODE_SQNR_DB,
                  max_fp32_nodes: int | None = INT8_MAX_FP32_NODES) -> dict:
    """Static int8: fixed activation scales calibrated (min/max) on `windows`, so a window's scores do not
    depend on the other windows of its batch; per-channel int8 weights. Every MatMul/Gemm with a constant
    weight is quantised first; then each one's own error is measured on the first ERROR_WINDOWS windows
    (training/int8_error.py) and the nodes under `min_sqnr_db` (worst first, at most `max_fp32_nodes`) are
    kept fp32 in the graph written. Activations are uint8 and weights 7-bit (reduce_range) so no CPU's int8
    kernels saturate. Returns the fp32 nodes and every node's error."""
    if not windows:
        raise ValueError("int8 calibration needs at least one letter window")
    with tempfile.TemporaryDirectory() as tmp:
        # symbolic shape inference types the outputs of the fused (com.microsoft) ops for the quantizer
        typed = Path(tmp) / "typed.onnx"
        quant_pre_process(str(src), str(typed), skip_optimization=True, auto_merge=True)
        quantize_qdq(typed, dst, windows, [])
        errors = node_errors(typed, dst, WindowReader(windows[:ERROR_WINDOWS]))
        keep = sensitive_nodes(errors, min_sqnr_db, max_fp32_nodes)
        if keep:
            quantize_qdq(typed, dst, windows, keep)
    return {"fp32_nodes": keep, "min_node_sqnr_db": min_sqnr_db, "node_errors": errors}


def export_onnx(model: MultiHeadModel, out_dir: Path, calibration: Sequence[Sequence[int]]) -> ExportResult:
    """Write model.onnx (fp32, optimised when that helps) and model.int8.onnx (static int8 calibrated on
    the `calibration` windows, see calibration_windows; quantised from the INT8_ATTENTION fusion) into out_dir."""
    start = time.monotonic()
    out_dir.mkdir(parents=True, exist_ok=True)
    model = model.eval().float()
    fp32 = out_dir / "model.onnx"
    int8 = out_dir / "model.int8.onnx"
    with tempfile.TemporaryDirectory() as tmp:
        raw = Path(tmp) / "raw.onnx"
        _export_raw(model, raw)
        onnx.checker.check_model(str(raw))
        optimized = _optimize(model, raw, Path(tmp) / "opt.onnx")
        source = Path(tmp) / "int8-source.onnx"
        if not (optimized and INT8_ATTENTION != "fused" and _optimize(model, raw, source, INT8_ATTENTION)):
            source = fp32
        os.replace(Path(tmp) / "opt.onnx" if optimized else raw, fp32)
        report = quantize_int8(source, int8, calibration)
    return ExportResult(fp32, int8, optimized, time.monotonic() - start, report)


def onnx_window_logits(path: Path, windows: list[list[int]], pad_id: int, batch_size: int = 32
                       ) -> dict[str, np.ndarray]:
    """Raw window logits per head from an ONNX file (length-sorted batches); span outputs are left out."""
    sess = _session(path)
    names = [o.name for o in sess.get_outputs() if not is_span_output(o.name)]

    def run(ids: np.ndarray, mask: np.ndarray) -> dict[str, np.ndarray]:
        return dict(zip(names, sess.run(names, {"input_ids": ids, "attention_mask": mask}), strict=True))

    return run_length_sorted(windows, pad_id, run, batch_size)


def onnx_window_spans(path: Path, heads: list[str], windows: list[list[int]], pad_id: int, specials: list[int],
                      batch_size: int = 32) -> dict[str, np.ndarray]:
    """Each span head's best span per window and class (xinfang.span_decoding.best_token_spans)."""
    sess = _session(path)
    names = [span_output(h) for h in heads]

    def run(ids: np.ndarray, mask: np.ndarray) -> dict[str, np.ndarray]:
        content = span_tokens(ids, mask, specials)
        outs = sess.run(names, {"input_ids": ids, "attention_mask": mask})
        return {h: best_token_spans(o, content, SPAN_MAX_TOKENS) for h, o in zip(heads, outs, strict=True)}

    return run_length_sorted(windows, pad_id, run, batch_size)


def span_agreement(model: MultiHeadModel, result: ExportResult, windows: list[list[int]], pad_id: int,
                   specials: list[int]) -> dict[str, dict[str, float]]:
    """int8 vs fp32 per span head: the share of (window, class) pairs whose best span is the same tokens,
    among those where fp32 points at a span rather than at nothing."""
    heads = list(model.span_heads)
    if not heads or not len(windows):
        return {}
    fp = onnx_window_spans(result.fp32_path, heads, windows, pad_id, specials)
    q8 = onnx_window_spans(result.int8_path, heads, windows, pad_id, specials)
    out = {}
    for h in heads:
        pointed = fp[h][..., 0] > 0
        same = (fp[h][..., 1:] == q8[h][..., 1:]).all(axis=-1)
        out[h] = {"int8_span_agreement": float(same[pointed].mean()) if pointed.any() else 1.0,
                  "pointed": int(pointed.sum())}
    return out


def letter_agreement(schema: Schema, fp: dict[str, np.ndarray], q8: dict[str, np.ndarray], letter_rows: Sequence[int],
                     calibration: dict | None = None, ngram_logits: dict[str, np.ndarray] | None = None,
                     rules: dict[str, np.ndarray] | None = None) -> dict[str, dict[str, float]]:
    """Label agreement per head of two graphs' window logits on letters (windows aggregated, blended with the
    n-gram partner and rule hits where given, calibrated temperature and thresholds, as the engine decides):
    the share of (letter, class) decisions that agree (whole answers for single-label heads) and the share of
    letters whose whole answer agrees."""
    from xinfang.heads import aggregate_windows, blend_logits, decisions, probabilities

    rows = np.asarray(letter_rows)
    n_letters = int(rows.max()) + 1 if len(rows) else 0
    out = {}
    for head in schema.heads:
        n = head.name
        cal = (calibration or {}).get(n, {})
        temp, thr = cal.get("temperature", 1.0), cal.get("decision_thresholds") or None
        partner, weights, hits = (ngram_logits or {}).get(n), cal.get("blend"), (rules or {}).get(n)

        def letter_decisions(window_logits: np.ndarray, head=head, partner=partner, weights=weights, hits=hits,
                             temp=temp, thr=thr) -> np.ndarray:
            z = blend_logits(aggregate_windows(window_logits, rows, n_letters, head.kind), partner, weights, hits)
            return decisions(probabilities(z, head.kind, temp), head.kind, thr)

        a, b = letter_decisions(fp[n]), letter_decisions(q8[n])
        same = (a == b).all(axis=1) if head.kind.value == "single_label" else (a == b)
        out[n] = {"int8_label_agreement": float(same.mean()) if n_letters else 1.0,
                  "int8_letter_agreement": float((a == b).all(axis=1).mean()) if n_letters else 1.0}
    return out


def parity(model: MultiHeadModel, result: ExportResult, windows: list[list[int]], pad_id: int,
           letter_rows: list[int] | None = None, calibration: dict | None = None,
           ngram_logits: dict[str, np.ndarray] | None = None, rules: dict[str, np.ndarray] | None = None,
           specials: Sequence[int] = ()) -> dict:
    """fp32 ONNX vs torch: max |logit difference| over windows. int8 vs fp32: label agreement per head on
    letters (letter_agreement). With `ngram_logits` (letter logits of the blend partner), both graphs' letter
    logits are blended as the engine blends them. Span heads: how often int8 points at the same tokens
    (`specials`: the tokenizer's start/end ids, never part of a span). Also the int8 graph's fp32 nodes."""
    fp = onnx_window_logits(result.fp32_path, windows, pad_id)
    ref = torch_window_logits(model, windows[:TORCH_PARITY_WINDOWS], pad_id)
    q8 = onnx_window_logits(result.int8_path, windows, pad_id)
    rows = list(letter_rows if letter_rows is not None else range(len(windows)))
    agreement = letter_agreement(model.schema, fp, q8, rows, calibration, ngram_logits, rules)
    out: dict = {"n_windows": len(windows), "n_letters": max(rows, default=-1) + 1, "heads": {}}
    for n in model.schema.head_names:
        out["heads"][n] = {
            "fp32_vs_torch_max_abs": float(np.abs(fp[n][: len(ref[n])] - ref[n]).max()) if len(windows) else 0.0,
            "int8_vs_fp32_max_abs": float(np.abs(fp[n] - q8[n]).max()) if len(windows) else 0.0,
            **agreement[n],
        }
    out["span_heads"] = span_agreement(model, result, windows, pad_id, list(specials))
    heads = out["heads"].values()
    out["fp32_vs_torch_max_abs"] = max((h["fp32_vs_torch_max_abs"] for h in heads), default=0.0)
    out["int8_min_agreement"] = min((h["int8_label_agreement"] for h in heads), default=1.0)
    out["size_bytes"] = {"fp32": result.fp32_path.stat().st_size, "int8": result.int8_path.stat().st_size}
    if result.int8:
        out["int8_fp32_nodes"] = result.int8["fp32_nodes"]
        out["int8_min_node_sqnr_db"] = result.int8["min_node_sqnr_db"]
    return out
