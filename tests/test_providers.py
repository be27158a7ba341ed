"""Execution providers: CUDA when onnxruntime has it and starts it, else CPU with a warning; /v1/model says which."""

from __future__ import annotations

import logging
import warnings

import onnxruntime as ort
import pytest
from fastapi.testclient import TestClient
from pydantic import ValidationError
from test_serving_api import LETTER, auth, make_settings

from xinfang.config import Settings
from xinfang.engine import Engine, LetterIn
from xinfang.model_folder import ModelFolder
from xinfang.providers import CPU, PROVIDERS, create_session, provider_of
from xinfang.serving.app import create_app
from xinfang.serving.keys import create_key

CUDA = PROVIDERS["cuda"]


def _quiet_session(*args, **kwargs):
    with warnings.catch_warnings():  # onnxruntime's own UserWarning about a provider it lacks
        warnings.simplefilter("ignore")
        return create_session(*args, **kwargs)


def test_cpu_is_the_default(tiny_model_dir):
    assert Settings().execution_provider == "cpu"
    assert provider_of(Engine(tiny_model_dir, precision="int8")) == CPU
    assert provider_of(object()) is None  # a stand-in engine without a session


def test_unknown_providers_are_refused(tiny_model_dir):
    with pytest.raises(ValidationError):
        Settings(execution_provider="rocm")
    with pytest.raises(ValueError, match="unknown execution provider"):
        create_session(tiny_model_dir / "model.int8.onnx", ort.SessionOptions(), "rocm")


def test_cuda_on_an_onnxruntime_without_it_runs_on_cpu(tiny_model_dir, caplog):
    if CUDA in ort.get_available_providers():
        pytest.skip("this onnxruntime has CUDA: the fall-back of a CPU-only build cannot be shown here")
    with caplog.at_level(logging.WARNING, logger="xinfang.providers"):
        engine = Engine(tiny_model_dir, precision="int8", provider="cuda")
    assert provider_of(engine) == CPU
    assert CUDA in caplog.text and "onnxruntime-gpu" in caplog.text and "running on CPU" in caplog.text
    letter = [LetterIn("p-1", LETTER)]
    assert engine.score(letter) == Engine(tiny_model_dir, precision="int8").score(letter)  # scores as on CPU


def test_cuda_that_fails_to_start_falls_back_to_cpu(tiny_model_dir, monkeypatch, caplog):
    real = ort.InferenceSession

    def session(path, options, providers):
        if CUDA in providers:
            raise RuntimeError("libcudnn.so.9: cannot open shared object file")
        return real(path, options, providers=providers)

    monkeypatch.setattr(ort, "get_available_providers", lambda: [CUDA, CPU])
    monkeypatch.setattr(ort, "InferenceSession", session)
    with caplog.at_level(logging.WARNING, logger="xinfang.providers"):
        s = create_session(tiny_model_dir / "model.int8.onnx", ort.SessionOptions(), "cuda")
    assert s.get_providers() == [CPU]
    assert "failed to start" in caplog.text and "libcudnn" in caplog.text and "RuntimeError" in caplog.text


def test_cuda_left_out_by_onnxruntime_is_reported(tiny_model_dir, monkeypatch, caplog):
    """onnxruntime itself drops a provider it cannot start (no GPU) and runs on the rest: that is said too."""
    monkeypatch.setattr(ort, "get_available_providers", lambda: [CUDA, CPU])
    with caplog.at_level(logging.WARNING, logger="xinfang.providers"):
        s = _quiet_session(tiny_model_dir / "model.int8.onnx", ort.SessionOptions(), "cuda")
    if s.get_providers()[0] == CUDA:
        pytest.skip("CUDA started: a GPU is present")
    assert s.get_providers()[0] == CPU
    assert "did not start execution provider CUDAExecutionProvider" in caplog.text


def test_model_endpoint_records_the_provider_used(tiny_model_dir, tmp_path, caplog):
    if CUDA in ort.get_available_providers():
        pytest.skip("this onnxruntime has CUDA")
    settings = make_settings(tmp_path, execution_provider="cuda", serve_precision="int8")
    key = create_key(settings.api_keys_path, "tests")
    with caplog.at_level(logging.WARNING), TestClient(create_app(settings, folder=ModelFolder(tiny_model_dir))) as c:
        info = c.get("/v1/model", headers=auth(key))
        metrics = c.get("/metrics", headers=auth(key)).text
    assert info.status_code == 200, info.text
    assert info.json()["execution_provider"] == CPU  # asked for cuda, runs on CPU, and says so
    assert f'provider="{CPU}"' in metrics
    assert "running on CPU" in caplog.text
