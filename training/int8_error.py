"""Per-node int8 error of a QDQ graph against its fp32 source (activations and weights gathered with
onnxruntime's qdq_loss_debug tools)."""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import onnx
from onnx import numpy_helper
from onnxruntime.quantization import CalibrationDataReader
from onnxruntime.quantization.qdq_loss_debug import (
    collect_activations,
    compute_signal_to_quantization_noice_ratio,
    create_weight_matching,
    modify_model_output_intermediate_tensors,
)
from onnxruntime.quantization.quant_utils import DEQUANT_OUTPUT_SUFFIX

sqnr_db = compute_signal_to_quantization_noice_ratio  # 20 log10(|x| / |x - y|): higher is better


def quantised_nodes(qdq: onnx.ModelProto) -> dict[str, tuple[str, str, bool, float, int]]:
    """Quantised MatMul/Gemm nodes of a QDQ graph: name -> (activation tensor, weight tensor, weight transposed,
    activation scale, activation zero point), tensors under the names the fp32 graph gives them."""
    consts = {i.name: numpy_helper.to_array(i) for i in qdq.graph.initializer}
    dequant = {n.output[0]: n for n in qdq.graph.node if n.op_type == "DequantizeLinear"}
    out = {}
    for node in qdq.graph.node:
        if node.op_type in {"MatMul", "Gemm"} and all(i in dequant for i in node.input[:2]):
            a, w = (i[: -len(DEQUANT_OUTPUT_SUFFIX)] for i in node.input[:2])
            scale, zero = (consts[i] for i in dequant[node.input[0]].input[1:3])
            trans = node.op_type == "Gemm" and any(x.name == "transB" and x.i for x in node.attribute)
            out[node.name] = (a, w, trans, float(scale), int(zero))
    return out


def fake_quantise(x: np.ndarray, scale: float, zero: int) -> np.ndarray:
    """uint8 QuantizeLinear then DequantizeLinear (ONNX semantics: round half to even, saturate)."""
    return (np.clip(np.rint(x / scale) + zero, 0, 255) - zero) * scale


def _collect(path: Path, reader: CalibrationDataReader, op_types: list[str], tmp: Path) -> dict[str, list]:
    augmented = tmp / f"augmented-{path.stem}.onnx"
    modify_model_output_intermediate_tensors(str(path), str(augmented), op_types)
    reader.rewind()
    return collect_activations(str(augmented), reader)


def node_errors(fp32: Path, qdq: Path, reader: CalibrationDataReader) -> dict[str, dict[str, float]]:
    """For each quantised MatMul/Gemm, SQNR in dB on the reader's inputs:
    - `local_sqnr_db`: the node's own error: its fp32-graph input quantised with its calibrated scale, times its
      int8 weight, against the fp32 product (what this node adds, whatever the other nodes do);
    - `activation_sqnr_db` / `weight_sqnr_db`: the same for its input alone and its weight alone;
    - `output_sqnr_db`: its output in the whole int8 graph against the fp32 graph's (error accumulated up to here).
    `fp32` must carry types for every tensor (onnxruntime's quant_pre_process writes them)."""
    model = onnx.load(str(qdq), load_external_data=False)
    nodes = quantised_nodes(model)
    outputs = {n.name: n.output[0] for n in model.graph.node if n.name in nodes}
    with tempfile.TemporaryDirectory() as tmp:
        q_acts = _collect(qdq, reader, ["MatMul", "Gemm"], Path(tmp))
        f_acts = _collect(fp32, reader, ["MatMul", "Gemm"], Path(tmp))
    weights = create_weight_matching(str(fp32), str(qdq))
    out: dict[str, dict[str, float]] = {}
    for name, (a, w, trans, scale, zero) in nodes.items():
        if a not in f_acts or w not in weights:
            continue
        wf, wq = (weights[w][k].T if trans else weights[w][k] for k in ("float", "dequantized"))
        x = [v.reshape(-1, wf.shape[0]) for v in f_acts[a]]
        xq = [fake_quantise(v, scale, zero) for v in x]
        row = {"local_sqnr_db": sqnr_db([v @ wf for v in x], [v @ wq for v in xq]),
               "activation_sqnr_db": sqnr_db(x, xq), "weight_sqnr_db": sqnr_db(wf, wq)}
        if outputs[name] in f_acts and outputs[name] in q_acts:
            row["output_sqnr_db"] = sqnr_db(f_acts[outputs[name]], q_acts[outputs[name]])
        out[name] = {k: round(float(v), 2) for k, v in row.items()}
    return out


def sensitive_nodes(errors: dict[str, dict[str, float]], min_sqnr_db: float, limit: int | None = None) -> list[str]:
    """Nodes whose own int8 error is too large (local SQNR under `min_sqnr_db`), worst first, at most `limit`."""
    worst = sorted((e["local_sqnr_db"], n) for n, e in errors.items() if e["local_sqnr_db"] < min_sqnr_db)
    return [n for _, n in worst[:limit]]
