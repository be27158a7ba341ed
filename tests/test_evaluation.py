"""Evaluation building blocks on known inputs: curves, confusions, comparisons, label noise, baseline."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from xinfang.evaluation.compare import agreement, regressions, side_by_side, verdict
from xinfang.evaluation.confusions import top_confusions
from xinfang.evaluation.curves import (
    at_threshold,
    coverage_curve,
    letter_confidence_correct,
    reliability_bins,
)
from xinfang.evaluation.label_noise import class_thresholds, find_label_issues, head_label_issues
from xinfang.evaluation.real_metrics import span_overlap
from xinfang.heads import target_matrix
from xinfang.labels import LabelledLetter
from xinfang.metrics import head_metrics
from xinfang.schema import load_schema

SCHEMA = load_schema()
SECTOR = SCHEMA.head("sector")
TOPIC = SCHEMA.head("topic")
MALICIOUS = SCHEMA.head("malicious")


def onehot(idx: list[int], k: int = 7) -> np.ndarray:
    y = np.zeros((len(idx), k), dtype=np.int8)
    y[np.arange(len(idx)), idx] = 1
    return y


def test_reliability_and_coverage_on_known_inputs() -> None:
    conf = np.array([0.95, 0.92, 0.85, 0.65, 0.55, 0.35])
    correct = np.array([1, 1, 0, 1, 0, 0], dtype=bool)
    bins = reliability_bins(conf, correct, bins=10)
    assert [(round(b["lo"], 2), b["n"]) for b in bins] == [(0.3, 1), (0.5, 1), (0.6, 1), (0.8, 1), (0.9, 2)]
    top = bins[-1]
    assert top["accuracy"] == 1.0 and top["confidence"] == pytest.approx(0.935)
    curve = {round(c["threshold"], 2): c for c in coverage_curve(conf, correct, steps=11)}
    assert curve[0.0]["coverage"] == 1.0 and curve[0.0]["accuracy"] == pytest.approx(0.5)
    assert curve[0.8]["coverage"] == pytest.approx(0.5) and curve[0.8]["accuracy"] == pytest.approx(2 / 3)
    assert curve[1.0]["coverage"] == 0.0 and curve[1.0]["accuracy"] is None
    assert at_threshold(conf, correct, 0.9) == {
        "threshold": 0.9,
        "coverage": pytest.approx(2 / 6),
        "accuracy": 1.0,
    }


def test_head_metrics_and_letter_confidence_single_label() -> None:
    y = onehot([0, 0, 1, 2])
    probs = np.full((4, 7), 0.01)
    probs[0, 0], probs[1, 1], probs[2, 1], probs[3, 2] = 0.9, 0.6, 0.8, 0.7  # letter 1 is wrong
    m = head_metrics(SECTOR, y, probs)
    assert m["accuracy"] == 0.75 and m["confusion"][0][1] == 1
    assert m["per_class"]["urban_construction"] == {
        "precision": 1.0,
        "recall": 0.5,
        "f1": pytest.approx(2 / 3),
        "support": 2,
    }
    conf, correct = letter_confidence_correct(SECTOR, y, probs)
    assert conf.tolist() == [0.9, 0.6, 0.8, 0.7] and correct.tolist() == [True, False, True, True]


def test_top_confusions_with_rows() -> None:
    y = onehot([0, 0, 0, 1, 1])
    probs = np.full((5, 7), 0.01)
    probs[0, 1], probs[1, 1], probs[2, 0], probs[3, 0], probs[4, 1] = 0.6, 0.9, 0.9, 0.7, 0.9
    found = top_confusions(SECTOR, y, probs)
    assert found[0] == {
        "kind": "confused",
        "true": "urban_construction",
        "pred": "environment",
        "count": 2,
        "rows": [1, 0],
    }  # most confident wrong answer first
    assert found[1]["count"] == 1 and found[1]["true"] == "environment"
    yt = target_matrix(TOPIC, [["integrity"], ["mass"]])
    pt = np.zeros((2, TOPIC.n_outputs))
    pt[0, TOPIC.index("integrity")] = 0.9
    pt[0, TOPIC.index("work")] = 0.8
    kinds = {(c["kind"], c["true"] or c["pred"]) for c in top_confusions(TOPIC, yt, pt)}
    assert kinds == {("extra", "work"), ("missed", "mass")}


def test_regressions_flag_head_and_class_drops_beyond_tolerance() -> None:
    ref = {
        "n": 50,
        "accuracy": 0.80,
        "macro": {"f1": 0.70},
        "micro": {"f1": 0.80},
        "per_class": {
            "a": {"f1": 0.9, "support": 20},
            "b": {"f1": 0.6, "support": 20},
            "c": {"f1": 0.8, "support": 1},
        },
    }
    new = {
        "n": 50,
        "accuracy": 0.79,
        "macro": {"f1": 0.60},
        "micro": {"f1": 0.79},
        "per_class": {
            "a": {"f1": 0.89, "support": 20},
            "b": {"f1": 0.40, "support": 20},
            "c": {"f1": 0.0, "support": 1},
        },
    }
    found = regressions(new, ref, tolerance=0.02, class_tolerance=0.05, min_support=3)
    assert [(f["level"], f["figure"], f["class"]) for f in found] == [
        ("head", "macro-f1", None),
        ("class", "f1", "b"),
    ]
    assert found[0]["delta"] == pytest.approx(-0.10)
    assert regressions(ref, ref) == []
    rows = {r["figure"]: r for r in side_by_side(new, ref)}
    assert rows["accuracy"]["delta"] == pytest.approx(-0.01) and rows["ece"]["new"] is None
    assert verdict(new, ref) == "loses" and verdict(ref, new) == "beats" and verdict(ref, ref) == "ties"
    assert verdict(ref, None) == ""


def test_agreement_between_two_probability_sets() -> None:
    a = np.array([[0.9], [0.4], [0.7]])
    b = np.array([[0.85], [0.6], [0.7]])
    ag = agreement(MALICIOUS, a, b)
    assert ag["agreement"] == pytest.approx(2 / 3) and ag["max_abs_diff"] == pytest.approx(0.2)


def test_confident_learning_flags_a_planted_mislabel() -> None:
    rng = np.random.default_rng(0)
    labels = np.array([0] * 20 + [1] * 20)
    probs = np.where(labels[:, None] == np.arange(2)[None, :], 0.85, 0.15) + rng.uniform(
        -0.05, 0.05, (40, 1)
    ) * [1, -1]
    planted = 7
    probs[planted] = [0.05, 0.95]  # labelled 0, the model is sure it is 1
    t = class_thresholds(labels, probs)
    assert 0.8 < t[1] < 0.9
    issues = find_label_issues(labels, probs)
    assert [d["row"] for d in issues] == [planted]
    assert issues[0]["given"] == 0 and issues[0]["suggested"] == 1
    y = target_matrix(MALICIOUS, [bool(v) for v in labels])
    flagged = head_label_issues(MALICIOUS, y, probs[:, 1:2])
    assert [(d["row"], d["given"], d["suggested"]) for d in flagged] == [
        (planted, "not malicious", "malicious")
    ]
    flat = np.tile([0.49, 0.51], (40, 1)) + rng.uniform(-0.005, 0.005, (40, 1)) * [1, -1]
    assert find_label_issues(labels, flat) == []  # an uninformative predictor accuses no one


def test_tfidf_cross_validation_finds_a_planted_mislabel() -> None:
    from xinfang.evaluation.baseline import cv_probabilities

    env = [
        "小区旁边工厂排放污水，河水发黑发臭，环保部门不管",
        "工地夜间施工噪音扰民，粉尘污染严重",
        "化工厂偷排废气，空气污染，居民咳嗽",
        "垃圾焚烧厂污染环境，臭味熏天",
        "河道污水直排，鱼都死了，环境污染",
    ]
    bus = [
        "公交车站取消后居民出行不便，希望恢复公交线路",
        "道路坑洼不平，交通拥堵，公交车绕行",
        "出租车拒载，公交班次太少，出行难",
        "路口红绿灯坏了，交通混乱，公交车晚点",
        "公交线路调整后，道路交通不便",
    ]
    texts = [t + f"（第{i}封）" for i in range(3) for t in env + bus]
    labels = np.array(([0] * 5 + [1] * 5) * 3)
    planted = 15  # a transport letter labelled environment
    assert "公交" in texts[planted]
    labels[planted] = 0
    oof = cv_probabilities(texts, labels, 2, folds=3, seed=1)
    rows = [d["row"] for d in find_label_issues(labels, oof)]
    assert rows[0] == planted


def test_tfidf_baseline_heads_share_the_model_layout() -> None:
    from xinfang.evaluation.baseline import TfidfBaseline

    letters = [
        LabelledLetter(id=str(i), text=t, labels=lab)
        for i, (t, lab) in enumerate(
            [
                ("工厂排放污水，环境污染", {"sector": "环境保护", "abusive": False}),
                ("公交线路取消，交通不便", {"sector": "交通运输", "abusive": False}),
                ("你这个傻逼滚", {"abusive": True}),
                ("村干部收受红包五万元", {"topic": ["integrity"], "malicious": False}),
                ("听说所有干部都贪污，无恶不作", {"topic": ["duty_crime"], "malicious": True}),
            ]
        )
    ]
    b = TfidfBaseline(SCHEMA).fit(letters, letters)
    assert set(b.heads) == {"sector", "abusive", "topic", "malicious"}  # credibility: no labels
    p = b.probabilities(["工厂污水", "傻逼"])
    assert p["sector"].shape == (2, 7) and np.allclose(p["sector"].sum(1), 1.0)
    assert p["topic"].shape == (2, TOPIC.n_outputs) and p["abusive"].shape == (2, 1)
    assert b.thresholds("topic") is not None and len(b.thresholds("topic")) == TOPIC.n_outputs


def test_cv_sector_imports_the_moved_baseline() -> None:
    text = (
        Path(__file__)
        .resolve()
        .parent.parent.joinpath("benchmarks", "cv_sector.py")
        .read_text(encoding="utf-8")
    )
    assert "from xinfang.evaluation.baseline import tfidf_baseline" in text and "def tfidf_baseline" not in text
    from xinfang.evaluation.baseline import tfidf_baseline

    pred = tfidf_baseline(
        ["污水 污染", "公交 道路", "污染 环境", "公交 交通"], [0, 1, 0, 1], ["污染", "公交"]
    )
    assert pred.tolist() == [0, 1]


def test_letter_view_masks_pii_and_keeps_signal_offsets() -> None:
    from xinfang.evaluation.letter_view import masked_letter_html

    text = "本人实名举报，电话13812345678。某街道办副主任王某某在2019年3月收受红包5万元，有转账记录为证。听说他还赌博。"
    view = masked_letter_html(text, SCHEMA)
    assert "13812345678" not in view["html"] and "***********" in view["html"]
    assert 'title="具体金额 (specific_amount)">5万元</mark>' in view["html"]
    assert "2019年3月</mark>" in view["html"] and "t-hearsay" in view["html"]
    assert ("evidence", "提供证据材料", "cred") in view["signals"] and ("hearsay", "道听途说", "ind") in view[
        "signals"
    ]
    long = masked_letter_html("污染" * 400, SCHEMA, limit=100)
    assert long["truncated"] and "已截断" in long["html"]


def test_tipdm_set_uses_splits_json_or_says_all_may_be_seen(tiny_model_dir: Path, tmp_path: Path) -> None:
    from xinfang.config import Settings
    from xinfang.evaluation.sets import tipdm_set
    from xinfang.model_folder import ModelFolder

    settings = Settings(models_dir=tmp_path)
    if (
        not (Path(settings.shared_data_dir) / "tipdm2020" / "labeled.jsonl").is_file()
        and not (Path(settings.data_dir) / "tipdm2020" / "labeled.jsonl").is_file()
    ):
        pytest.skip("tipdm2020 data not present")
    folder = tmp_path / "m" / "v1"
    shutil.copytree(tiny_model_dir, folder)
    s = tipdm_set(ModelFolder(folder), settings)
    assert s is not None and not s.held_out and "no splits.json" in s.notes[0] and len(s.letters) == 348
    ids = [x.id for x in s.letters]
    (folder / "splits.json").write_text(json.dumps({"tipdm2020": {"train": ids[:300], "dev": ids[300:320]}}))
    s = tipdm_set(ModelFolder(folder), settings)
    assert (
        s.held_out
        and [x.id for x in s.letters] == ids[300:]
        and "20 of them were the dev split" in s.notes[0]
    )


def test_binary_head_metrics_are_those_of_the_positive_class() -> None:
    y = np.array([[1], [1], [0], [0], [0], [0]], dtype=np.int8)
    p = np.array([[0.9], [0.2], [0.1], [0.1], [0.1], [0.1]])
    m = head_metrics(MALICIOUS, y, p)
    assert m["macro"] == {"precision": 1.0, "recall": 0.5, "f1": pytest.approx(2 / 3)} == m["micro"]
    assert m["per_class"]["malicious"]["support"] == 2 and m["confusion"] == [[4, 0], [1, 1]]
    assert m["accuracy"] == pytest.approx(5 / 6)


def _card_folder(tiny_model_dir: Path, tmp_path: Path) -> Path:
    folder = tmp_path / "models" / "tiny" / "v1"
    shutil.copytree(tiny_model_dir, folder)
    from xinfang.training.profiles import get_profile

    card = {
        "name": "tiny",
        "version": "v1",
        "profile": get_profile("tiny").model_dump(),
        "data": {
            "sources": {
                "generated": {"kind": "generated"},
                "tipdm2020": {"kind": "real"},
                "cold": {"kind": "real"},
            }
        },
    }
    (folder / "model_card.json").write_text(json.dumps(card), encoding="utf-8")
    return folder


def test_model_training_data_follows_card_and_splits(tiny_model_dir: Path, tmp_path: Path) -> None:
    from xinfang.config import Settings
    from xinfang.evaluation.training_data import model_training_data
    from xinfang.model_folder import ModelFolder

    settings = Settings(models_dir=tmp_path / "models")
    if not (Path(settings.shared_data_dir) / "tipdm2020" / "labeled.jsonl").is_file():
        pytest.skip("tipdm2020 data not present")
    folder = _card_folder(tiny_model_dir, tmp_path)
    data = model_training_data(ModelFolder(folder), settings)
    assert data.sources["generated"] == 24 and data.sources["cold"] == 12 and data.sources["tipdm2020"] == 278
    assert any("no splits.json" in n for n in data.notes)
    tipdm_ids = sorted(x.id for x in data.train + data.dev if x.source == "tipdm2020")
    (folder / "splits.json").write_text(
        json.dumps({"tipdm2020": {"train": tipdm_ids[:100], "dev": tipdm_ids[100:120]}})
    )
    data = model_training_data(ModelFolder(folder), settings)
    assert data.sources["tipdm2020"] == 100 and sum(x.source == "tipdm2020" for x in data.dev) == 20
    assert any("recorded ids are used" in n for n in data.notes)


def test_core_metrics_and_thresholds_match_scikit_learn() -> None:
    """xinfang.metrics and xinfang.thresholds are numpy only; they give scikit-learn's figures."""
    sk = pytest.importorskip("sklearn.metrics")
    from xinfang.thresholds import roc_auc

    rng = np.random.default_rng(0)
    for trial in range(40):
        n = int(rng.integers(3, 40))
        y = (rng.random((n, TOPIC.n_outputs)) < 0.3).astype(np.int8)
        p = rng.random((n, TOPIC.n_outputs))
        m = head_metrics(TOPIC, y, p)
        pred = (p >= 0.5).astype(int)
        for avg in ("macro", "micro"):
            ref = sk.precision_recall_fscore_support(y, pred, average=avg, zero_division=0)
            assert [m[avg][k] for k in ("precision", "recall", "f1")] == pytest.approx(list(ref[:3]))
        ys = rng.integers(0, 7 if trial % 2 else 2, n)
        ps = rng.random((n, 7))
        ms = head_metrics(SECTOR, onehot(list(ys)), ps)
        ref = sk.precision_recall_fscore_support(ys, ps.argmax(1), labels=list(range(7)), average="macro",
                                                 zero_division=0)
        assert ms["macro"]["f1"] == pytest.approx(ref[2])
        assert ms["confusion"] == sk.confusion_matrix(ys, ps.argmax(1), labels=list(range(7))).tolist()
        yb = y[:, 0]
        if 0 < yb.sum() < n:
            scores = np.round(p[:, 0], 1)  # ties
            assert roc_auc(yb, scores) == pytest.approx(sk.roc_auc_score(yb, scores))


def test_a_set_with_annotated_spans_reports_their_overlap_with_the_evidence(tiny_model_dir: Path) -> None:
    from xinfang.evaluation.evaluate import Options, evaluate_set
    from xinfang.evaluation.predictors import load_model
    from xinfang.evaluation.sets import EvalSet
    from xinfang.labels import LabelledLetter
    from xinfang.model_folder import ModelFolder
    from xinfang.precision import Precision

    text = "2018年12月7日，王主任收了3000元。举报人王刚"
    spans = {"specific_time": {"text": "2018年12月7日", "start": 0, "end": 10}}
    letters = [LabelledLetter(id=f"s{i}", text=text, labels={"credibility": ["specific_time"]}, source="jijian",
                              extra={"spans": spans}) for i in range(3)]
    model = load_model(ModelFolder(tiny_model_dir), Precision.fp32, "model")
    out = evaluate_set(EvalSet("spans", "spans", "real", letters), {"model": model}, Options())
    found = model.evidence([x.id for x in letters], [x.text for x in letters])
    assert any(found)  # the served evidence, spans included (the engine computes evidence for evaluation)
    expected = span_overlap(letters, found)
    assert out["credibility_spans"] == {**expected, "n": 3}
    assert 0.0 <= out["credibility_spans"]["f1"] <= 1.0
    # a set without annotated spans reports none
    plain = [LabelledLetter(id="p", text=text, labels={"credibility": []}, source="user")]
    assert "credibility_spans" not in evaluate_set(EvalSet("p", "p", "user", plain), {"model": model}, Options())
