"""Multi-head model: masked loss, a training step, window aggregation, calibration maths."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from xinfang.heads import aggregate_windows, confidence, probabilities
from xinfang.schema import HeadKind, load_schema
from xinfang.training.calibrate import calibrate_head, fit_route_threshold, fit_temperature
from xinfang.training.model import MultiHeadModel, label_key, load_encoder, mask_key


@pytest.fixture()
def model(tiny_base):
    torch.manual_seed(0)
    return MultiHeadModel(load_encoder(tiny_base), load_schema())


def _batch(schema, n=4, length=12):
    ids = torch.randint(5, 50, (n, length))
    labels = {}
    for h in schema.heads:
        y = torch.zeros((n, h.n_outputs))
        y[:, 0] = 1.0
        labels[label_key(h.name)] = y
        labels[mask_key(h.name)] = torch.ones(n)
    return ids, torch.ones_like(ids), labels


def test_outputs_one_logit_block_per_head(model):
    schema = model.schema
    ids, att, _ = _batch(schema)
    out = model(ids, att)
    assert list(out) == schema.head_names
    for h in schema.heads:
        assert out[h.name].shape == (4, h.n_outputs)


def test_loss_is_masked_per_example(model):
    model.eval()
    ids, att, labels = _batch(model.schema)
    base = model(ids, att, **labels)["loss"].item()
    # change the sector target of an example whose sector mask is 0: the loss must not move
    labels[mask_key("sector")] = torch.tensor([1.0, 1.0, 1.0, 0.0])
    masked = model(ids, att, **labels)["loss"].item()
    labels[label_key("sector")][3] = torch.tensor([0, 0, 0, 0, 0, 0, 1.0])
    assert model(ids, att, **labels)["loss"].item() == pytest.approx(masked, abs=1e-6)
    # ... while changing a labelled example's target does move it
    labels[label_key("sector")][0] = torch.tensor([0, 0, 0, 0, 0, 0, 1.0])
    assert model(ids, att, **labels)["loss"].item() != pytest.approx(masked, abs=1e-6)
    assert base > 0


def test_head_without_labels_contributes_nothing(model):
    model.eval()
    ids, att, labels = _batch(model.schema)
    for h in model.schema.head_names:
        labels[mask_key(h)] = torch.zeros(4)
    assert model(ids, att, **labels)["loss"].item() == 0.0


def test_training_step_reduces_loss(model):
    ids, att, labels = _batch(model.schema, n=8)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-2)
    model.train()
    first = None
    for _ in range(15):
        loss = model(ids, att, **labels)["loss"]
        first = loss.item() if first is None else first
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert loss.item() < first * 0.5


def test_save_and_load_roundtrip(model, tmp_path):
    model.eval()
    ids, att, _ = _batch(model.schema)
    before = model(ids, att)
    model.save(tmp_path / "m")
    again = MultiHeadModel.load(tmp_path / "m").eval()
    after = again(ids, att)
    for h in model.schema.head_names:
        assert torch.allclose(before[h], after[h], atol=1e-5)


def test_saved_folder_is_a_transformers_folder_that_says_it_was_cut(tiny_base, tmp_path):
    """config.json + model.safetensors (save_pretrained), heads in safetensors, id2label per head."""
    from transformers import AutoModel

    torch.manual_seed(1)
    schema = load_schema()
    cut = MultiHeadModel(load_encoder(tiny_base, layers=1), schema, class_weights={"malicious": [3.0]}).eval()
    cut.save(tmp_path / "m")
    for f in ("config.json", "model.safetensors", "heads.safetensors", "heads_config.json", "schema.yaml"):
        assert (tmp_path / "m" / f).is_file(), f
    assert not list((tmp_path / "m").glob("*.pt")) and not list((tmp_path / "m").glob("*.bin"))
    cfg = json.loads((tmp_path / "m" / "heads_config.json").read_text(encoding="utf-8"))
    assert cfg["encoder"]["num_hidden_layers"] == 1 and cfg["encoder"]["base_num_hidden_layers"] == 2
    encoder_cfg = json.loads((tmp_path / "m" / "config.json").read_text(encoding="utf-8"))
    assert encoder_cfg["num_hidden_layers"] == 1 and encoder_cfg["base_num_hidden_layers"] == 2
    sector = cfg["heads"]["sector"]
    assert sector["kind"] == "single_label" and sector["problem_type"] == "single_label_classification"
    assert sector["id2label"]["0"] == schema.head("sector").class_ids[0] and len(sector["id2label"]) == 7
    assert sector["label2id"] == {c: i for i, c in enumerate(schema.head("sector").class_ids)}
    assert cfg["heads"]["topic"]["problem_type"] == "multi_label_classification"
    # plain transformers reads the encoder with its one layer; the whole model reloads exactly
    assert AutoModel.from_pretrained(tmp_path / "m").config.num_hidden_layers == 1
    ids, att, _ = _batch(schema)
    again = MultiHeadModel.load(tmp_path / "m").eval()
    assert len(again.encoder.encoder.layer) == 1
    before, after = cut(ids, att), again(ids, att)
    for h in schema.head_names:
        assert torch.equal(before[h], after[h])
    assert again.class_weight_malicious.tolist() == [3.0]
    # a new run replaces the class weights, keeps the weights
    fresh = MultiHeadModel.load(tmp_path / "m", class_weights={"malicious": [5.0]})
    assert fresh.class_weight_malicious.tolist() == [5.0]
    assert torch.equal(fresh.heads["sector"].weight, cut.heads["sector"].weight)


def test_aggregation_max_for_presence_mean_for_single():
    logits = np.array([[1.0, -2.0], [3.0, -5.0], [0.0, 0.0]])
    rows = np.array([0, 0, 1])
    agg = aggregate_windows(logits, rows, 2, HeadKind.multi_label)
    assert agg.tolist() == [[3.0, -2.0], [0.0, 0.0]]
    agg = aggregate_windows(logits, rows, 2, HeadKind.single_label)
    assert agg.tolist() == [[2.0, -3.5], [0.0, 0.0]]


def test_temperature_fixes_overconfidence():
    rng = np.random.default_rng(0)
    head = load_schema().head("malicious")
    y = rng.integers(0, 2, size=(400, 1))
    # logits point the right way but are 5x too large
    true_logit = np.where(y == 1, 1.0, -1.0) + rng.normal(0, 1.5, size=y.shape)
    t = fit_temperature(head, true_logit * 5.0, y)
    assert 3.0 < t < 8.0


def test_route_threshold_meets_target_precision():
    head = load_schema().head("sector")
    rng = np.random.default_rng(1)
    n = 500
    y = np.eye(7, dtype=np.int8)[rng.integers(0, 7, n)]
    conf_right = rng.random(n) > 0.3
    logits = rng.normal(0, 1, (n, 7)) + np.where(conf_right[:, None], 4.0 * y, 0.0)
    probs = probabilities(logits, head.kind)
    route = fit_route_threshold(head, probs, y, [], 0.9)
    sel = confidence(probs, head.kind) >= route["threshold"]
    assert ((probs.argmax(1) == y.argmax(1))[sel]).mean() >= 0.9
    assert 0 < route["coverage"] < 1
    cal = calibrate_head(head, logits, y, 0.9)
    assert set(cal) == {"temperature", "decision_thresholds", "route", "n_dev", "n_dev_real"}


def test_rare_head_flag_rate_is_capped_on_real_letters():
    head = load_schema().head("malicious")
    rng = np.random.default_rng(3)
    y = (rng.random((400, 1)) < 0.3).astype(int)  # a dev set rich in positives (e.g. generated letters)
    logits = (y * 2.0 - 1.0) + rng.normal(0, 1.0, size=(400, 1))
    real = np.arange(400) < 200
    free = calibrate_head(head, logits, y, 0.9, real)
    capped = calibrate_head(head, logits, y, 0.9, real, max_flag_rate=0.02)
    p = probabilities(logits, head.kind, capped["temperature"])
    assert (p[real, 0] >= capped["decision_thresholds"][0]).mean() <= 0.02
    assert capped["decision_thresholds"][0] > free["decision_thresholds"][0]
    assert capped["max_flag_rate"] == 0.02 and capped["n_dev_real"] == 200


def test_decision_threshold_falls_back_when_class_is_not_separated():
    from xinfang.training.calibrate import fit_decision_thresholds

    head = load_schema().head("abusive")
    rng = np.random.default_rng(2)
    y = rng.integers(0, 2, size=(300, 1))
    noise = rng.random((300, 1)) * 0.02 + 0.49  # a collapsed model: ~0.5 for everything
    assert fit_decision_thresholds(head, noise, y) == [0.5]
    good = np.clip(y * 0.6 + rng.random((300, 1)) * 0.4, 0, 1)
    t = fit_decision_thresholds(head, good, y)[0]
    assert 0.3 <= t <= 0.7


def test_training_makes_openmp_threads_wait_passively_unless_told_otherwise():
    import os
    import subprocess
    import sys

    code = "import os, xinfang.training; print(os.environ['OMP_WAIT_POLICY'])"
    env = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "PASSIVE"
    out = subprocess.run([sys.executable, "-c", code], env={**env, "OMP_WAIT_POLICY": "ACTIVE"},
                         capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "ACTIVE"
