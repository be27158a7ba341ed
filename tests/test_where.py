"""`xinfang where` (the end of `make run`): the report, the backlog with its counts, how to serve; and what is
still missing, with the command that makes it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from xinfang.cli import app
from xinfang.config import get_settings


@pytest.fixture()
def env(tmp_path: Path, tiny_model_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("XINFANG_MODELS_DIR", str(tiny_model_dir.parent.parent))
    monkeypatch.setenv("XINFANG_SERVE_MODEL", "tiny/v0")
    monkeypatch.setenv("XINFANG_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("XINFANG_SERVE_PORT", "8123")
    get_settings.cache_clear()
    yield tmp_path
    get_settings.cache_clear()


def test_where_after_a_run(env: Path):
    reports, backlog = env / "reports", env / "out" / "backlog.jsonl"
    reports.mkdir()
    (reports / "report.html").write_text("<html></html>")
    backlog.parent.mkdir()
    backlog.write_text("{}\n")
    Path(f"{backlog}.summary.json").write_text(json.dumps(
        {"letters": {"total": 7142, "results": 7140, "errors": 2}, "this_run": {"scored": 7142, "seconds": 600}}))
    runner = CliRunner()
    key = runner.invoke(app, ["apikey", "create", "--label", "me"])
    assert key.exit_code == 0
    got = runner.invoke(app, ["where", "--reports", str(reports), "--backlog", str(backlog)])
    assert got.exit_code == 0, got.output
    out = got.stdout
    assert f"report:  {reports / 'report.html'}" in out and str(reports / "metrics.json") in out
    assert f"backlog: {backlog} — 7,140 results, 2 error rows; last run 7,142 letters in 10.0 min" in out
    assert f"{backlog}.errors.jsonl" in out
    assert "model tiny/v0, int8" in out  # what `xinfang serve` would load, at the precision it would use
    assert f"1 key(s) in {env / 'state' / 'api_keys'}" in out
    assert "xinfang serve" in out and "http://127.0.0.1:8123/docs" in out and "Authorization: Bearer $KEY" in out


def test_where_before_a_run_says_what_to_run(env: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("XINFANG_SERVE_MODEL", "nobody/none")
    get_settings.cache_clear()
    got = CliRunner().invoke(app, ["where", "--reports", str(env / "r"), "--backlog", str(env / "b.jsonl")])
    assert got.exit_code == 0, got.output
    assert f"xinfang evaluate --default -o {env / 'r'}/" in got.stdout
    assert f"xinfang classify --sample -o {env / 'b.jsonl'}" in got.stdout
    assert "'nobody/none' is not there yet" in got.stdout and "no key yet" in got.stdout
