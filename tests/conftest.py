"""Shared fixtures: a tiny random BERT base, settings pointing at temporary folders."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from pg_cluster import postgres_cluster  # noqa: E402, F401  (a throw-away PostgreSQL, once per session)
from tiny import build_tiny_base, sample_windows  # noqa: E402


@pytest.fixture(scope="session")
def tiny_base(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_base(tmp_path_factory.mktemp("tiny-base"))


@pytest.fixture()
def settings(tmp_path: Path):
    from xinfang.config import Settings

    return Settings(models_dir=tmp_path / "models", cache_dir=tmp_path / "cache")


@pytest.fixture(scope="session")
def tiny_model_dir(tiny_base: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An exported, untrained tiny model folder (random weights, neutral calibration), seconds to build."""
    import torch

    from xinfang.schema import load_schema
    from xinfang.training.export import export_onnx
    from xinfang.training.model import MultiHeadModel, load_encoder
    from xinfang.training.pipeline import write_serving_files
    from xinfang.training.profiles import get_profile

    torch.manual_seed(0)
    schema = load_schema()
    model = MultiHeadModel(load_encoder(tiny_base), schema)
    folder = tmp_path_factory.mktemp("models") / "tiny" / "v0"
    export_onnx(model, folder, sample_windows(tiny_base / "tokenizer.json"))
    calibration = {h.name: {"temperature": 1.0, "decision_thresholds": [0.5] * h.n_outputs
                            if h.kind.value != "single_label" else [], "route": {"threshold": 0.5}}
                   for h in schema.heads}
    write_serving_files(folder, tiny_base / "tokenizer.json", schema, calibration, get_profile("tiny"), 0, "mean")
    return folder
