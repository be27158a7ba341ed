"""Shared fixtures: a tiny random BERT base, settings pointing at temporary folders."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from tiny import build_tiny_base  # noqa: E402


@pytest.fixture(scope="session")
def tiny_base(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_base(tmp_path_factory.mktemp("tiny-base"))


@pytest.fixture()
def settings(tmp_path: Path):
    from xinfang.config import Settings

    return Settings(models_dir=tmp_path / "models", cache_dir=tmp_path / "cache")
