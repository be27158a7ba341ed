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
