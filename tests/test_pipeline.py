"""End to end on a tiny random BERT: data -> training -> calibration -> ONNX folder with a model card."""

from __future__ import annotations

import json
import os

import onnxruntime as ort
import pytest
from rich.console import Console

from training.pipeline import train_and_export
from xinfang.config import Settings

SECTORS = ["城乡建设", "环境保护", "交通运输", "教育文体", "劳动和社会保障", "商贸旅游", "卫生计生"]


@pytest.fixture()
def small_data(tmp_path):
    data = tmp_path / "data"
    (data / "cold").mkdir(parents=True)
    (data / "tipdm2020").mkdir(parents=True)
    rows = ["Unnamed: 0,split,topic,label,TEXT"]
    for i in range(40):
        rows.append(f"{i},train,race,{i % 2},{'傻逼滚' if i % 2 else '你好谢谢'}{i}")
    (data / "cold" / "train.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    (data / "cold" / "dev.csv").write_text("\n".join(rows[:15]) + "\n", encoding="utf-8")
    with (data / "tipdm2020" / "labeled.jsonl").open("w", encoding="utf-8") as fh:
        for i in range(35):
            fh.write(json.dumps({"id": f"t{i}", "title": "反映问题", "text": f"关于{SECTORS[i % 7]}的问题{i}",
                                 "sector": SECTORS[i % 7]}, ensure_ascii=False) + "\n")
    (data / "jijian").mkdir()
    with (data / "jijian" / "letters.jsonl").open("w", encoding="utf-8") as fh:
        for i in range(30):
            inscope = i % 3 == 0
            fh.write(json.dumps({
                "id": f"j{i}", "title": "举报村干部" if inscope else "咨询问题", "text": f"内容{i}" * 5,
                "submitter": f"s{i % 10}", "topic": ["mass"] if inscope else ["out_of_scope"],
                "topic_primary": "mass" if inscope else "out_of_scope", "sector": SECTORS[i % 7],
                "credibility": ["specific_place"] if i % 2 else [], "malicious": int(i == 4), "abusive": 0,
                "spans": {}, "provenance": {"malicious_level": "medium" if i == 4 else "low"}},
                ensure_ascii=False) + "\n")
    return data


def test_train_and_export_tiny(tiny_base, small_data, tmp_path):
    settings = Settings(models_dir=tmp_path / "models", cache_dir=tmp_path / "cache", data_dir=small_data,
                        shared_data_dir=tmp_path / "nothing")
    out = train_and_export(profile="tiny", base=str(tiny_base), version="v1", settings=settings,
                           console=Console(quiet=True))
    assert out == tmp_path / "models" / "xinfang" / "v1"
    for f in ("model.onnx", "model.int8.onnx", "tokenizer.json", "schema.yaml", "calibration.json",
              "inference.json", "model_card.json"):
        assert (out / f).is_file(), f
    current = tmp_path / "models" / "current"
    assert current.is_symlink() and os.path.samefile(current, out)

    card = json.loads((out / "model_card.json").read_text(encoding="utf-8"))
    assert card["base"]["name"] == "tiny-random-bert" and len(card["base"]["weights_sha256"]) == 64
    assert card["profile"]["name"] == "tiny"
    assert card["data"]["counts"]["train"]["generated"] == 24
    assert card["data"]["counts"]["train"]["cold"] == 12
    assert card["data"]["counts"]["train"]["jijian"] + card["data"]["counts"]["dev"]["jijian"] == 30
    assert card["metrics"]["dev"]["sector"]["data"] == "real"
    assert card["metrics"]["dev"]["topic"]["data"] == "generated+real"
    assert set(card["metrics"]["test"]) == {"generated", "cold_dev"}
    assert card["metrics"]["test"]["cold_dev"]["abusive"]["n"] == 14
    assert card["export"]["fp32_vs_torch_max_abs"] <= 1e-3
    assert card["training"]["steps"] >= 1

    cal = json.loads((out / "calibration.json").read_text(encoding="utf-8"))
    assert set(cal) == {"topic", "sector", "credibility", "malicious", "abusive"}
    assert all(c["temperature"] > 0 for c in cal.values())
    assert len(cal["topic"]["decision_thresholds"]) == 9
    # the n-gram partner is in the folder and every head has fitted blend weights
    assert (out / "ngram.npz").is_file()
    assert all(set(c["blend"]) == {"encoder", "ngram"} for c in cal.values() if c["n_dev"] >= 20)

    sess = ort.InferenceSession(str(out / "model.int8.onnx"), providers=["CPUExecutionProvider"])
    assert [o.name for o in sess.get_outputs()] == ["topic", "sector", "credibility", "malicious", "abusive"]

    # a second version keeps the first and moves `current`
    out2 = train_and_export(profile="tiny", base=str(tiny_base), version="v2", settings=settings,
                            console=Console(quiet=True))
    assert (out / "model.onnx").is_file() and os.path.samefile(current, out2)
