"""README.md of a model folder: Hugging Face metadata header and body, from a model_card.json."""

from __future__ import annotations

from huggingface_hub import ModelCard

from xinfang.schema import load_schema
from xinfang.training.model_card import hf_licence, readme


def _card(licences: dict[str, str], base_licence: str = "MIT") -> dict:
    sources = {name: {"kind": "generated" if name == "generated" else "real", "licence": lic}
               for name, lic in licences.items()}
    sector = {"data": "real", "sources": ["jijian"], "n": 40, "accuracy": 0.8, "macro": {"f1": 0.75},
              "micro": {"f1": 0.8}, "ece": 0.03}
    return {
        "name": "xinfang", "version": "v3", "created": "2026-12-01T00:00:00+00:00",
        "base": {"name": "multilingual-e5-small", "licence": base_licence, "upstream": "intfloat/multilingual-e5-small",
                 "pooling": "mean", "production_use_allowed": True},
        "started_from": {"from": "base"}, "profile": {"name": "quick", "encoder_layers": 6},
        "data": {"sources": sources, "counts": {"train": {"jijian": 30}, "dev": {"jijian": 10}}},
        "training": {"seconds": 1.0, "steps": 2, "epochs": 1.0},
        "timings_s": {"train_s": 1.0, "total_s": 2.0},
        "metrics": {"dev": {"sector": sector}, "test": {"generated": {"topic": {
            "data": "generated", "sources": ["generated"], "n": 12, "accuracy": float("nan"),
            "macro": {"f1": 0.5}}}}, "note": "real vs generated"},
    }


def test_licence_is_the_base_s_only_when_every_source_is_open():
    assert hf_licence(_card({"cold": "Apache-2.0", "generated": "project's own generator"})) == ("mit", None)
    assert hf_licence(_card({"tipdm2020": "none stated (evaluation/demo)"})) == ("other", "xinfang-mixed")
    assert hf_licence(_card({"cold": "Apache-2.0"}, base_licence="non-commercial research only"))[0] == "other"


def test_readme_header_parses_as_a_hugging_face_card():
    text = readme(_card({"jijian": "labels: the project's own", "generated": "project's own generator"}),
                  load_schema())
    card = ModelCard(text)
    data = card.data.to_dict()
    assert data["language"] == "zh" and data["base_model"] == "intfloat/multilingual-e5-small"
    assert data["license"] == "other" and data["license_name"] == "xinfang-mixed"
    results = card.data.eval_results
    assert {(r.metric_name, r.metric_value, r.dataset_split) for r in results} == {
        ("sector accuracy", 0.8, "validation"), ("sector macro-F1", 0.75, "validation"),
        ("topic macro-F1", 0.5, "test")}  # NaN accuracy left out
    assert "| jijian | real | 30 | 10 | labels: the project's own |" in card.text
    assert "Training started from the base encoder's weights" in card.text
    assert "`malicious` (binary)" in card.text and "6 layers" in card.text
