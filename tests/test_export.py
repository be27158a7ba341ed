"""ONNX export: every head is an output, dynamic batch and sequence, parity with torch, int8 copy."""

from __future__ import annotations

import numpy as np
import onnxruntime as ort
import torch

from training.export import export_onnx, onnx_window_logits, parity
from training.model import MultiHeadModel, load_encoder
from xinfang.schema import load_schema


def test_export_parity_and_dynamic_axes(tiny_base, tmp_path):
    torch.manual_seed(0)
    model = MultiHeadModel(load_encoder(tiny_base), load_schema()).eval()
    result = export_onnx(model, tmp_path)
    sess = ort.InferenceSession(str(result.fp32_path), providers=["CPUExecutionProvider"])
    assert [o.name for o in sess.get_outputs()] == model.schema.head_names
    rng = np.random.default_rng(0)
    windows = [rng.integers(5, 60, size=n).tolist() for n in (3, 17, 40, 9, 64)]
    par = parity(model, result, windows, pad_id=0)
    assert par["fp32_vs_torch_max_abs"] <= 1e-3
    assert set(par["heads"]) == set(model.schema.head_names)
    assert par["size_bytes"]["int8"] < par["size_bytes"]["fp32"]
    # different batch and sequence sizes run, and padding does not change a window's logits
    alone = onnx_window_logits(result.fp32_path, [windows[1]], pad_id=0)
    batched = onnx_window_logits(result.fp32_path, windows, pad_id=0)
    for h in model.schema.head_names:
        assert np.allclose(alone[h][0], batched[h][1], atol=1e-4)
        assert batched[h].shape[0] == len(windows)
    assert torch.__version__  # the export ran on this torch


def test_int8_keeps_gelu_fed_matmuls_in_float(tiny_base, tmp_path):
    import onnx

    from training.export import gelu_fed_matmuls

    torch.manual_seed(0)
    model = MultiHeadModel(load_encoder(tiny_base), load_schema()).eval()
    result = export_onnx(model, tmp_path)
    fp32 = onnx.load(str(result.fp32_path))
    kept = gelu_fed_matmuls(fp32)
    assert len(kept) == model.encoder.config.num_hidden_layers  # one FFN down-projection per layer
    q8 = onnx.load(str(result.int8_path))
    names = {n.name: n.op_type for n in q8.graph.node}
    assert all(names.get(k) == "MatMul" for k in kept)
    assert sum(op == "MatMulInteger" for op in names.values()) > 0


def test_parity_on_letters_uses_calibration(tiny_base, tmp_path):
    torch.manual_seed(1)
    model = MultiHeadModel(load_encoder(tiny_base), load_schema()).eval()
    result = export_onnx(model, tmp_path)
    rng = np.random.default_rng(1)
    windows = [rng.integers(5, 60, size=20).tolist() for _ in range(6)]
    rows = [0, 0, 1, 2, 2, 2]
    par = parity(model, result, windows, 0, rows, {"topic": {"temperature": 1.0, "decision_thresholds": [0.0] * 9}})
    assert par["n_letters"] == 3
    # a threshold of 0 makes every topic decision "yes" on both graphs: full agreement
    assert par["heads"]["topic"]["int8_label_agreement"] == 1.0
    assert 0.0 <= par["int8_min_agreement"] <= 1.0
