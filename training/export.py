"""ONNX export: one graph with every head as an output, onnxruntime's transformer optimizer where it
helps, an int8 dynamically quantised copy, and parity checks against torch."""

from __future__ import annotations

import logging
import os
import tempfile
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import torch

from training.model import MultiHeadModel, OnnxWrapper

log = logging.getLogger(__name__)
OPSET = 17


@dataclass
class ExportResult:
    fp32_path: Path
    int8_path: Path
    optimized: bool
    seconds: float


def _session(path: Path) -> ort.InferenceSession:
    opts = ort.SessionOptions()
    opts.log_severity_level = 3
    return ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])


def _export_raw(model: MultiHeadModel, path: Path) -> None:
    wrapper = OnnxWrapper(model).eval()
    ids = torch.ones((2, 16), dtype=torch.long)
    mask = torch.ones((2, 16), dtype=torch.long)
    names = model.schema.head_names
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
                          **{n: {0: "batch"} for n in names}},
            opset_version=OPSET, dynamo=False, do_constant_folding=True,
        )


def _optimize(model: MultiHeadModel, src: Path, dst: Path) -> bool:
    """onnxruntime's BERT fusions (attention, layer norm, GELU); kept only if the graph still runs."""
    from onnxruntime.transformers import optimizer

    cfg = model.encoder.config
    try:
        opt = optimizer.optimize_model(str(src), model_type="bert", num_heads=cfg.num_attention_heads,
                                       hidden_size=cfg.hidden_size, opt_level=1)
        opt.save_model_to_file(str(dst))
        _session(dst)
        return True
    except Exception as exc:  # the optimizer is best-effort: fall back to the plain export
        log.warning("onnxruntime transformer optimizer skipped: %s", type(exc).__name__)
        return False


def quantize_int8(src: Path, dst: Path) -> None:
    from onnxruntime.quantization import QuantType, quantize_dynamic

    # fused ops (com.microsoft domain) defeat ONNX shape inference: their outputs are float
    quantize_dynamic(str(src), str(dst), weight_type=QuantType.QInt8, per_channel=True,
                     op_types_to_quantize=["MatMul", "Gemm"],
                     extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT})


def export_onnx(model: MultiHeadModel, out_dir: Path) -> ExportResult:
    """Write model.onnx (fp32, optimised when that helps) and model.int8.onnx into out_dir."""
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
        chosen = Path(tmp) / "opt.onnx" if optimized else raw
        os.replace(chosen, fp32)
    quantize_int8(fp32, int8)
    return ExportResult(fp32, int8, optimized, time.monotonic() - start)


def _feeds(batch: list[list[int]], pad_id: int) -> dict[str, np.ndarray]:
    n = max(len(x) for x in batch)
    ids = np.full((len(batch), n), pad_id, dtype=np.int64)
    mask = np.zeros((len(batch), n), dtype=np.int64)
    for i, x in enumerate(batch):
        ids[i, : len(x)] = x
        mask[i, : len(x)] = 1
    return {"input_ids": ids, "attention_mask": mask}


def onnx_window_logits(path: Path, windows: list[list[int]], pad_id: int, batch_size: int = 32
                       ) -> dict[str, np.ndarray]:
    """Raw window logits per head from an ONNX file (length-sorted batches)."""
    sess = _session(path)
    names = [o.name for o in sess.get_outputs()]
    order = np.argsort([len(w) for w in windows], kind="stable")
    out: dict[str, np.ndarray] = {}
    parts: dict[str, list[np.ndarray]] = {n: [] for n in names}
    for s in range(0, len(order), batch_size):
        idx = order[s: s + batch_size]
        res = sess.run(names, _feeds([windows[i] for i in idx], pad_id))
        for n, r in zip(names, res, strict=True):
            parts[n].append(r)
    inverse = np.argsort(order, kind="stable")
    for n in names:
        out[n] = np.concatenate(parts[n])[inverse]
    return out


@torch.inference_mode()
def torch_window_logits(model: MultiHeadModel, windows: list[list[int]], pad_id: int, batch_size: int = 32
                        ) -> dict[str, np.ndarray]:
    model.eval()
    order = np.argsort([len(w) for w in windows], kind="stable")
    parts: dict[str, list[np.ndarray]] = {n: [] for n in model.schema.head_names}
    for s in range(0, len(order), batch_size):
        idx = order[s: s + batch_size]
        f = _feeds([windows[i] for i in idx], pad_id)
        res = model.logits(torch.from_numpy(f["input_ids"]), torch.from_numpy(f["attention_mask"]))
        for n in parts:
            parts[n].append(res[n].float().numpy())
    inverse = np.argsort(order, kind="stable")
    return {n: np.concatenate(p)[inverse] for n, p in parts.items()}


def parity(model: MultiHeadModel, result: ExportResult, windows: list[list[int]], pad_id: int) -> dict:
    """fp32 ONNX vs torch: max |logit difference|; int8 vs fp32: decision agreement per head."""
    from xinfang.heads import decisions, probabilities

    ref = torch_window_logits(model, windows, pad_id)
    fp = onnx_window_logits(result.fp32_path, windows, pad_id)
    q8 = onnx_window_logits(result.int8_path, windows, pad_id)
    out: dict = {"n_windows": len(windows), "heads": {}}
    for head in model.schema.heads:
        n = head.name
        a = decisions(probabilities(fp[n], head.kind), head.kind)
        b = decisions(probabilities(q8[n], head.kind), head.kind)
        out["heads"][n] = {
            "fp32_vs_torch_max_abs": float(np.abs(fp[n] - ref[n]).max()) if len(windows) else 0.0,
            "int8_vs_fp32_agreement": float((a == b).all(axis=1).mean()) if len(windows) else 1.0,
        }
    out["fp32_vs_torch_max_abs"] = max((h["fp32_vs_torch_max_abs"] for h in out["heads"].values()), default=0.0)
    out["int8_min_agreement"] = min((h["int8_vs_fp32_agreement"] for h in out["heads"].values()), default=1.0)
    out["size_bytes"] = {"fp32": result.fp32_path.stat().st_size, "int8": result.int8_path.stat().st_size}
    return out
