"""End to end on a tiny random BERT: data -> training -> calibration -> ONNX folder with a model card and torch
weights; a second run continuing from the first (`from_model`) and the errors of unusable earlier models."""

from __future__ import annotations

import json
import os
import shutil

import numpy as np
import onnxruntime as ort
import pytest
import torch
import yaml
from huggingface_hub import metadata_load
from rich.console import Console
from typer.testing import CliRunner

import xinfang.config
from xinfang.cli import app
from xinfang.config import Settings
from xinfang.model_folder import ModelNotFound
from xinfang.schema import Schema, load_schema
from xinfang.training.bases.wheels import sha256_file
from xinfang.training.model import MultiHeadModel, load_encoder
from xinfang.training.pipeline import train_and_export
from xinfang.training.profiles import get_profile
from xinfang.training.start_from import StartModel, StartModelError, schema_difference

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
    assert [o.name for o in sess.get_outputs()] == ["topic", "sector", "credibility", "malicious", "abusive",
                                                    "credibility.spans"]

    # the torch weights are kept (transformers layout) and reload as the model that was exported
    assert card["started_from"] == {"from": "base", "base": "tiny-random-bert",
                                    "weights_sha256": card["base"]["weights_sha256"]}
    for f in ("config.json", "model.safetensors", "heads.safetensors", "heads_config.json"):
        assert card["files"][f] == sha256_file(out / f)
    heads_cfg = json.loads((out / "heads_config.json").read_text(encoding="utf-8"))
    assert heads_cfg["heads"]["malicious"]["id2label"] == {"0": "malicious"}
    assert_reloads_as_exported(out, tiny_base)

    # README.md: Hugging Face metadata header and a body from the card
    meta = metadata_load(out / "README.md")
    assert meta["language"] == "zh" and meta["library_name"] == "transformers"
    assert meta["license"] == "other" and set(meta["datasets"]) == set(card["data"]["sources"])
    results = meta["model-index"][0]["results"]
    assert {"name": "sector macro-F1", "type": "f1",
            "value": round(card["metrics"]["dev"]["sector"]["macro"]["f1"], 4)} in [
        m for r in results for m in r["metrics"]]
    text = (out / "README.md").read_text(encoding="utf-8")
    assert "| jijian | real |" in text and "xinfang serve --model xinfang/v1" in text

    # a second version continues from the first's torch weights, keeps the first and moves `current`
    out2 = train_and_export(profile="tiny", base=str(tiny_base), version="v2", settings=settings,
                            console=Console(quiet=True), from_model="v1")
    assert (out / "model.onnx").is_file() and os.path.samefile(current, out2)
    card2 = json.loads((out2 / "model_card.json").read_text(encoding="utf-8"))
    assert card2["started_from"] == {
        "from": "model", "model": "xinfang/v1", "dev_letters_it_trained_on": 0,
        "weights_sha256": {f: card["files"][f] for f in ("model.safetensors", "heads.safetensors")}}
    assert "earlier model `xinfang/v1`" in (out2 / "README.md").read_text(encoding="utf-8")
    assert_reloads_as_exported(out2, tiny_base)


def assert_reloads_as_exported(folder, tiny_base):
    """The reloaded torch model gives the fp32 ONNX graph's logits (the graph exported from the trained model)."""
    from tiny import sample_windows

    model = MultiHeadModel.load(folder).eval()
    ids = torch.tensor([w[:20] for w in sample_windows(tiny_base / "tokenizer.json") if len(w) >= 20][:4])
    with torch.inference_mode():
        heads, spans = model.all_logits(ids, torch.ones_like(ids))
    torch_out = {**heads, **{f"{h}.spans": v for h, v in spans.items()}}
    sess = ort.InferenceSession(str(folder / "model.onnx"), providers=["CPUExecutionProvider"])
    names = [o.name for o in sess.get_outputs()]
    onnx_out = sess.run(names, {"input_ids": ids.numpy(), "attention_mask": np.ones_like(ids.numpy())})
    assert sorted(names) == sorted(torch_out)  # span heads included: they are saved and reloaded too
    for name, got in zip(names, onnx_out, strict=True):
        np.testing.assert_allclose(torch_out[name].numpy(), got, atol=1e-4)


def test_from_model_errors(tiny_base, tiny_model_dir, small_data, tmp_path, monkeypatch):
    """Unusable earlier models are refused before any data is built, with the reason."""
    settings = Settings(models_dir=tmp_path / "models", cache_dir=tmp_path / "cache", data_dir=small_data,
                        shared_data_dir=tmp_path / "nothing")
    quiet = Console(quiet=True)
    # a folder from before torch weights were kept (ONNX only)
    with pytest.raises(StartModelError, match=r"no torch weights .*heads\.safetensors"):
        train_and_export(profile="tiny", base=str(tiny_base), settings=settings, console=quiet,
                         from_model=str(tiny_model_dir))
    monkeypatch.setattr(xinfang.config, "get_settings", lambda: settings)
    done = CliRunner().invoke(app, ["train", "--profile", "tiny", "--base", str(tiny_base),
                                    "--from-model", str(tiny_model_dir)])
    assert done.exit_code == 2 and "has no torch weights" in " ".join(done.output.split())  # rich wraps lines
    assert not (tmp_path / "models" / "xinfang").exists()
    with pytest.raises(ModelNotFound):
        train_and_export(profile="tiny", base=str(tiny_base), settings=settings, console=quiet, from_model="v9")

    # an earlier model with torch weights, saved untrained (as a run's first step would leave it)
    earlier = tmp_path / "models" / "xinfang" / "v0"
    shutil.copytree(tiny_model_dir, earlier)
    saved = MultiHeadModel(load_encoder(tiny_base), load_schema())
    saved.save(earlier)
    start = StartModel.resolve("v0", settings.models_dir, load_schema(), get_profile("tiny"), tiny_base)
    loaded = start.load({"malicious": [2.0]}).state_dict()  # a run starts from exactly those weights
    assert all(torch.equal(v, loaded[k]) for k, v in saved.state_dict().items() if "class_weight" not in k)

    other = load_schema().model_dump(mode="json")
    other["heads"][1]["classes"] = other["heads"][1]["classes"][:-1]
    (tmp_path / "other.yaml").write_text(yaml.safe_dump(other, allow_unicode=True), encoding="utf-8")
    with pytest.raises(StartModelError, match=r"head 'sector' classes differ \(only in the model \['health"):
        train_and_export(profile="tiny", base=str(tiny_base), schema_path=tmp_path / "other.yaml",
                         settings=settings, console=quiet, from_model="v0")
    shallow = get_profile("tiny").model_copy(update={"encoder_layers": 1})
    with pytest.raises(StartModelError, match="encoder of 2 layers"):
        train_and_export(profile=shallow, base=str(tiny_base), settings=settings, console=quiet, from_model="v0")


def test_schema_difference_names_what_differs():
    schema = load_schema()
    assert schema_difference(schema, schema) == []
    data = schema.model_dump(mode="json")
    data["heads"][3]["kind"] = "multi_label"
    data["heads"][4], data["heads"][2] = data["heads"][2], data["heads"][4]
    other = Schema.model_validate(data)
    diffs = schema_difference(schema, other)
    assert any("heads ['topic', 'sector', 'credibility', 'malicious', 'abusive'] in the model" in d for d in diffs)
    assert "head 'malicious' is binary in the model, multi_label in this run" in diffs
