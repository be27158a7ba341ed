"""benchmarks/compute_limit.py counts the encoder's work from the ONNX graph as the config's sizes say it should,
and times one-node matrix-multiply kernels that compute what they claim."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent


def _bench():
    spec = importlib.util.spec_from_file_location("compute_limit", ROOT / "benchmarks" / "compute_limit.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    return module


def test_graph_flops_match_the_config(tiny_model_dir: Path, tiny_base: Path):
    bench = _bench()
    config = json.loads((tiny_base / "config.json").read_text(encoding="utf-8"))
    work = bench.graph_work(tiny_model_dir / "model.onnx")
    layers, h, i = config["num_hidden_layers"], config["hidden_size"], config["intermediate_size"]
    encoder = {f"{h}x{3 * h}", f"{h}x{h}", f"{h}x{i}", f"{i}x{h}"}
    per_token_heads = {shape: f for shape, f in work.shapes.items() if shape not in encoder}  # span heads
    assert all(shape.startswith(f"{h}x") for shape in per_token_heads)
    assert work.float_per_token - sum(per_token_heads.values()) == layers * 2 * (4 * h * h + 2 * h * i)
    assert work.int_per_token == 0
    assert work.per_window > 0  # the heads
    assert work.attention_hidden == [h] * layers  # fused Attention nodes: scores 4·S·H per token each
    one = work.flops([20])["float"] - work.per_window - 20 * sum(per_token_heads.values())
    assert one == bench.config_flops_per_token(config, 20) * 20
    two = work.flops([10, 20])["float"]
    assert two == work.flops([10])["float"] + work.flops([20])["float"]


def test_one_node_kernels_compute_a_matrix_product():
    bench = _bench()
    rng = np.random.default_rng(1)
    for op in ("MatMul", "MatMulInteger"):
        model, feed = bench.one_node(op, 8, 16, 4, rng)
        b = next(np.asarray(bench.numpy_helper.to_array(t)) for t in model.graph.initializer if t.name == "b")
        got = bench.ort_session(model, 1).run(None, feed)[0]
        a = feed["a"].astype(np.float64) - (128 if op == "MatMulInteger" else 0)
        assert np.allclose(got, a @ b.astype(np.float64), rtol=1e-4, atol=1e-3)
