"""ONNX export: every head (and span head) is an output, dynamic batch and sequence, parity with torch, static int8 copy."""

from __future__ import annotations

import re

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


def _fp32_and_quantised(path):
    """(MatMul/Gemm nodes left fp32, nodes fed by DequantizeLinear) of an int8 graph, and the graph."""
    import onnx

    q8 = onnx.load(str(path))
    producer = {o: n for n in q8.graph.node for o in n.output}
    fed = {n.name: any(i in producer and producer[i].op_type == "DequantizeLinear" for i in n.input[:2])
           for n in q8.graph.node if n.op_type in {"MatMul", "Gemm"}}
    return {n for n, q in fed.items() if not q}, {n for n, q in fed.items() if q}, q8


def test_int8_is_static_and_quantises_every_matmul_q_k_v_included(tiny_base, tmp_path):
    from onnx import numpy_helper

    torch.manual_seed(0)
    model = MultiHeadModel(load_encoder(tiny_base), load_schema()).eval()
    result = export_onnx(model, tmp_path, sample_windows(tiny_base / "tokenizer.json"))
    float_nodes, quantised, q8 = _fp32_and_quantised(result.int8_path)
    assert result.int8["fp32_nodes"] == []  # a random tiny model has no node the int8 error rule rejects
    errors = result.int8["node_errors"]
    assert set(errors) == quantised
    layers = model.encoder.config.num_hidden_layers
    for part in ("attention/self/query", "attention/self/key", "attention/self/value", "attention/output/dense",
                 "intermediate/dense", "output/dense"):
        assert sum(bool(re.search(rf"layer\.\d+/{part}/MatMul", n)) for n in quantised) == layers, part
    assert all(e["local_sqnr_db"] > 20 and "output_sqnr_db" in e for e in errors.values())
    # the only MatMuls left in float are the attention products of two activations (inside MultiHeadAttention)
    assert not [n for n in float_nodes if "/attention/self/" not in n]
    # static: no op computes a scale at run time; every activation scale is a constant of the graph
    consts = {i.name: numpy_helper.to_array(i) for i in q8.graph.initializer}
    assert not [n for n in q8.graph.node if n.op_type.startswith("DynamicQuantize")]
    quant = [n for n in q8.graph.node if n.op_type == "QuantizeLinear"]
    assert quant and all(n.input[1] in consts and consts[n.input[1]].size == 1 for n in quant)


def test_node_with_large_int8_error_stays_fp32(tiny_base, tmp_path):
    torch.manual_seed(0)
    model = MultiHeadModel(load_encoder(tiny_base), load_schema()).eval()
    with torch.no_grad():  # the same function, but one weight column int8 per-channel scales cannot represent:
        norm = model.encoder.encoder.layer[0].attention.output.LayerNorm
        norm.weight[3], norm.bias[3] = 0.0, 0.0  # feature 3 is always 0 ...
        model.encoder.encoder.layer[0].intermediate.dense.weight[:, 3] = 1e3  # ... its huge weights sink the rest
    result = export_onnx(model, tmp_path, sample_windows(tiny_base / "tokenizer.json"))
    bad = "/encoder/encoder/layer.0/intermediate/dense/MatMul"
    assert result.int8["node_errors"][bad]["local_sqnr_db"] < result.int8["min_node_sqnr_db"]
    assert result.int8["fp32_nodes"] == [bad]  # that node alone: the error of the nodes after it is their own
    float_nodes, quantised, _ = _fp32_and_quantised(result.int8_path)
    assert bad in float_nodes and bad not in quantised
    windows = sample_windows(tiny_base / "tokenizer.json")
    fp = onnx_window_logits(result.fp32_path, windows, pad_id=0)
    q8 = onnx_window_logits(result.int8_path, windows, pad_id=0)
    assert all(np.abs(fp[h] - q8[h]).max() < 0.5 for h in model.schema.head_names)


def test_sensitive_nodes_worst_first_and_bounded():
    from xinfang.training.int8_error import sensitive_nodes

    errors = {"a": {"local_sqnr_db": 12.0}, "b": {"local_sqnr_db": 31.0}, "c": {"local_sqnr_db": 3.0}}
    assert sensitive_nodes(errors, 20.0) == ["c", "a"]
    assert sensitive_nodes(errors, 20.0, limit=1) == ["c"]
    assert sensitive_nodes(errors, 2.0) == []


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
