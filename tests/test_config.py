"""Settings: one definition of the precisions, and command-line flags applied as validated settings."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from xinfang.config import Settings
from xinfang.errors import XinfangError
from xinfang.precision import GRAPHS, Precision, parse_precision


def test_precisions_are_defined_once() -> None:
    assert [p.value for p in Precision] == ["auto", "int8", "fp32"] and set(GRAPHS) == {"int8", "fp32"}
    assert parse_precision("fp32") is Precision.fp32
    with pytest.raises(ValueError, match="auto, int8, fp32"):
        parse_precision("int4")
    with pytest.raises(ValueError, match="int8, fp32"):
        parse_precision("auto", graphs_only=True)


def test_precision_setting_is_checked_like_every_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XINFANG_SERVE_PRECISION", "fp32")
    assert Settings().serve_precision is Precision.fp32
    monkeypatch.setenv("XINFANG_SERVE_PRECISION", "int4")
    with pytest.raises(ValueError, match="serve_precision"):
        Settings()


def test_model_folder_resolves_precision(tiny_model_dir: Path) -> None:
    from xinfang.model_folder import ModelFolder

    folder = ModelFolder(tiny_model_dir)
    assert folder.resolve_precision("fp32") == "fp32" and folder.onnx_path("fp32").name == "model.onnx"
    with pytest.raises(ValueError, match="precision"):
        folder.resolve_precision("half")
    with pytest.raises(ValueError, match="precision"):
        folder.onnx_path("auto")


def test_with_overrides_validates_and_keeps_the_rest(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XINFANG_THREADS", "3")
    base = Settings(models_dir=tmp_path, threads=1)
    new = base.with_overrides(serve_port=9001, serve_precision="int8", serve_host=None)
    assert (new.serve_port, new.serve_precision, new.serve_host) == (9001, Precision.int8, base.serve_host)
    assert new.threads == 1 and new.models_dir == tmp_path  # not read again from the environment
    assert base.serve_port != 9001  # a copy
    with pytest.raises(XinfangError, match="serve_port"):
        base.with_overrides(serve_port=0)
    with pytest.raises(ValueError, match="no such settings"):
        base.with_overrides(serve_prot=1)


def _cli_settings(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import xinfang.config

    monkeypatch.setattr(xinfang.config, "get_settings", lambda: Settings(models_dir=tmp_path / "models"))


def test_serve_flags_become_settings(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    pytest.importorskip("fastapi")
    import xinfang.serving.server
    from xinfang.cli import app

    _cli_settings(monkeypatch, tmp_path)
    seen: list[Settings] = []
    monkeypatch.setattr(xinfang.serving.server, "serve", lambda settings, log_level: seen.append(settings))
    runner = CliRunner()
    done = runner.invoke(app, ["serve", "--port", "8123", "--precision", "fp32", "--no-auth"])
    assert done.exit_code == 0, done.output
    s = seen[0]
    assert (s.serve_port, s.serve_precision, s.auth_enabled, s.store_text) == (8123, Precision.fp32, False, False)
    assert runner.invoke(app, ["serve", "--precision", "int4"]).exit_code == 2
    done = runner.invoke(app, ["serve", "--port", "70000"])  # checked as XINFANG_SERVE_PORT would be
    assert done.exit_code == 2 and "serve_port" in done.output and len(seen) == 1


def test_train_flags_become_settings(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import xinfang.training.pipeline
    from xinfang.cli import app

    _cli_settings(monkeypatch, tmp_path)
    seen: list[dict] = []
    monkeypatch.setattr(xinfang.training.pipeline, "train_and_export",
                        lambda **kw: seen.append(kw) or tmp_path / "models" / "x" / "v")
    done = CliRunner().invoke(app, ["train", "--base", "my-base", "--profile", "tiny"])
    assert done.exit_code == 0, done.output
    assert seen[0]["base"] == "my-base" and seen[0]["settings"].default_base == "my-base"
    assert seen[0]["settings"].models_dir == tmp_path / "models"


def test_classify_flags_become_settings(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import xinfang.batch.job
    from xinfang.cli import app

    _cli_settings(monkeypatch, tmp_path)
    seen: list[tuple] = []
    monkeypatch.setattr(xinfang.batch.job, "run_classify",
                        lambda opts, settings, console: seen.append((opts, settings)) or {})
    src = tmp_path / "in.jsonl"
    src.write_text('{"id": "a", "text": "x"}\n', encoding="utf-8")
    runner = CliRunner()
    done = runner.invoke(app, ["classify", str(src), "--threads", "2", "--batch-size", "5", "--concurrency", "3",
                               "--unmasked-spans", "--precision", "fp32"])
    assert done.exit_code == 0, done.output
    opts, s = seen[0]
    assert (s.threads, s.batch_size, s.ray_concurrency, s.batch_unmasked_spans) == (2, 5, 3, True)
    assert opts.precision is Precision.fp32 and s.models_dir == tmp_path / "models"
    done = runner.invoke(app, ["classify", str(src), "--batch-size", "0"])  # checked, not silently the default
    assert done.exit_code == 2 and "batch_size" in done.output and len(seen) == 1
