"""ONNX export: every head (and span head) is an output, dynamic batch and sequence, parity with torch, static int8 copy."""

from __future__ import annotations

import numpy as np
import onnxruntime as ort
import torch
from tiny import sample_windows

from xinfang.schema import load_schema
from xinfang.training.export import export_onnx, onnx_window_logits, parity
from xinfang.training.model import MultiHeadModel, load_encoder


def test_export_parity_and_dynamic_axes(tiny_base, tmp_path):
    torch.manual_seed(0)
    model = MultiHeadModel(load_encoder(tiny_base), load_schema()).eval()
    result = export_onnx(model, tmp_path, sample_windows(tiny_base / "tokenizer.json"))
    sess = ort.InferenceSession(str(result.fp32_path), providers=["CPUExecutionProvider"])
    assert [o.name for o in sess.get_outputs()] == model.schema.head_names + ["credibility.spans"]
    ids = np.array([[0, 7, 8, 9, 2], [0, 7, 8, 2, 1]], dtype=np.int64)
    spans = sess.run(["credibility.spans"], {"input_ids": ids, "attention_mask": np.ones_like(ids)})[0]
    with torch.no_grad():
        ref = model.all_logits(torch.from_numpy(ids), torch.ones_like(torch.from_numpy(ids)))[1]["credibility"]
    assert spans.shape == (2, 5, 2 * model.schema.head("credibility").n_outputs)  # per token, start/end per class
    assert np.abs(spans - ref.numpy()).max() <= 1e-3
    rng = np.random.default_rng(0)
    windows = [rng.integers(5, 60, size=n).tolist() for n in (3, 17, 40, 9, 64)]
    par = parity(model, result, windows, pad_id=0, specials=[2, 3])
    spans = par["span_heads"]["credibility"]
    assert 0.0 <= spans["int8_span_agreement"] <= 1.0 and spans["pointed"] >= 0
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


def test_int8_is_static_and_keeps_gelu_fed_matmuls_in_float(tiny_base, tmp_path):
    import onnx
    from onnx import numpy_helper

    from xinfang.training.export import gelu_fed_matmuls

    torch.manual_seed(0)
    model = MultiHeadModel(load_encoder(tiny_base), load_schema()).eval()
    result = export_onnx(model, tmp_path, sample_windows(tiny_base / "tokenizer.json"))
    kept = gelu_fed_matmuls(onnx.load(str(result.fp32_path)))
    assert len(kept) == model.encoder.config.num_hidden_layers  # one FFN down-projection per layer
    q8 = onnx.load(str(result.int8_path))
    producer = {o: n for n in q8.graph.node for o in n.output}
    consts = {i.name: numpy_helper.to_array(i) for i in q8.graph.initializer}
    ops = {n.name: n for n in q8.graph.node}
    assert all(ops[k].op_type == "MatMul" and not any(i in producer and producer[i].op_type == "DequantizeLinear"
                                                      for i in ops[k].input) for k in kept)
    quantised = [n for n in q8.graph.node if n.op_type in {"MatMul", "Gemm"} and n.name not in kept]
    assert quantised and all(producer[n.input[0]].op_type == "DequantizeLinear" for n in quantised)
    # static: no op computes a scale at run time; every activation scale is a constant of the graph
    assert not [n for n in q8.graph.node if n.op_type.startswith("DynamicQuantize")]
    quant = [n for n in q8.graph.node if n.op_type == "QuantizeLinear"]
    assert quant and all(n.input[1] in consts and consts[n.input[1]].size == 1 for n in quant)


def test_int8_rows_do_not_depend_on_batch_or_padding(tiny_base, tmp_path):
    torch.manual_seed(0)
    model = MultiHeadModel(load_encoder(tiny_base), load_schema()).eval()
    result = export_onnx(model, tmp_path, sample_windows(tiny_base / "tokenizer.json"))
    rng = np.random.default_rng(2)
    windows = [rng.integers(5, 60, size=n).tolist() for n in (3, 64, 17, 40, 9, 64, 2)]
    batched = onnx_window_logits(result.int8_path, windows, pad_id=0, batch_size=len(windows))
    # padded to 64 in one batch vs alone without padding, and with other company
    for j, w in enumerate(windows):
        alone = onnx_window_logits(result.int8_path, [w], pad_id=0)
        pair = onnx_window_logits(result.int8_path, [w, windows[1]], pad_id=0, batch_size=2)
        for h in model.schema.head_names:
            assert np.allclose(alone[h][0], batched[h][j], atol=1e-4)
            assert np.allclose(alone[h][0], pair[h][0], atol=1e-4)


def test_calibration_windows_prefer_real_letters():
    from xinfang.training.export import calibration_windows

    windows = [[1, i] for i in range(10)]
    rows = [0, 0, 1, 2, 2, 2, 3, 4, 5, 5]
    real = [False, True, False, True, False, False]
    picked = calibration_windows(windows, rows, real, limit=5)
    assert len(picked) == 5
    assert sorted(picked[:2]) == [[1, 2], [1, 6]]  # letters 1 and 3 (real) come first, then generated ones
    assert all(w not in picked[2:] for w in picked[:2])
    assert picked == calibration_windows(windows, rows, real, limit=5)  # seeded
    assert len(calibration_windows(windows, rows, real, limit=100)) == 10
    assert len(calibration_windows(windows, limit=3)) == 3


def test_parity_on_letters_uses_calibration(tiny_base, tmp_path):
    torch.manual_seed(1)
    model = MultiHeadModel(load_encoder(tiny_base), load_schema()).eval()
    result = export_onnx(model, tmp_path, sample_windows(tiny_base / "tokenizer.json"))
    rng = np.random.default_rng(1)
    windows = [rng.integers(5, 60, size=20).tolist() for _ in range(6)]
    rows = [0, 0, 1, 2, 2, 2]
    par = parity(model, result, windows, 0, rows, {"topic": {"temperature": 1.0, "decision_thresholds": [0.0] * 9}})
    assert par["n_letters"] == 3
    # a threshold of 0 makes every topic decision "yes" on both graphs: full agreement
    assert par["heads"]["topic"]["int8_label_agreement"] == 1.0
    assert 0.0 <= par["int8_min_agreement"] <= 1.0
