"""Command-line conventions: --version, choices that --help lists, and the exit codes the README documents
(0 done, 1 done with error rows, 2 usage error, 3 unreadable input, 4 no model)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from test_batch import make_letters, settings  # noqa: F401  (the batch fixture: the tiny model)
from typer.testing import CliRunner

from xinfang.cli import app
from xinfang.cli_support import ExitCode, TrainProfile, package_version
from xinfang.config import Settings


@pytest.fixture()
def cli(settings: Settings, tmp_path: Path, monkeypatch) -> Iterator[CliRunner]:  # noqa: F811
    """A runner whose commands see the tiny model (settings from the environment, cache cleared)."""
    from xinfang.config import get_settings

    monkeypatch.setenv("XINFANG_MODELS_DIR", str(settings.models_dir))
    monkeypatch.setenv("XINFANG_SHARED_DATA_DIR", str(tmp_path / "no-shared"))
    monkeypatch.setenv("XINFANG_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("COLUMNS", "300")
    monkeypatch.chdir(tmp_path)
    get_settings.cache_clear()
    yield CliRunner()
    get_settings.cache_clear()


def classify(cli: CliRunner, *args: str):
    return cli.invoke(app, ["classify", *args, "--model", "tiny/v0", "--precision", "fp32", "--no-progress"])


def letters_file(path: Path, n: int = 3, extra: str = "") -> Path:
    rows = [json.dumps(r, ensure_ascii=False) for r in make_letters(n)]
    path.write_text("\n".join(rows) + "\n" + extra, encoding="utf-8")
    return path


def test_version():
    res = CliRunner().invoke(app, ["--version"])
    assert res.exit_code == 0 and res.stdout.strip() == f"xinfang {package_version()}"
    assert package_version() != "unknown"


def test_help_lists_the_choices():
    def help_of(*cmd: str) -> str:
        return " ".join(CliRunner().invoke(app, [*cmd, "--help"], env={"COLUMNS": "300"}).output.split())

    classify_help = help_of("classify")
    for listed in ("jsonl|csv|tsv|xlsx", "local|ray", "auto|int8|fp32", "jsonl|csv"):
        assert listed in classify_help, listed
    assert "quick|full|tiny" in help_of("train")
    assert "debug|info|warning|error" in help_of("serve")
    assert "4 no model" in help_of()


def test_train_profiles_are_the_training_profiles():
    from xinfang.training.profiles import PROFILES

    assert {p.value for p in TrainProfile} == set(PROFILES)


def test_exit_codes(cli: CliRunner, tmp_path: Path):
    good = letters_file(tmp_path / "good.jsonl")
    assert classify(cli, str(good), "-o", "a.jsonl").exit_code == ExitCode.done == 0

    bad_row = letters_file(tmp_path / "bad_row.jsonl", extra='{"id": "x", "text": ""}\n')
    res = classify(cli, str(bad_row), "-o", "b.jsonl")
    assert res.exit_code == ExitCode.error_rows == 1, res.output

    for usage in (["--engine", "spark", str(good)], ["--format", "docx", str(good)], []):
        res = classify(cli, *usage)
        assert res.exit_code == ExitCode.usage == 2, (usage, res.output)

    res = classify(cli, str(tmp_path / "missing.csv"))
    assert res.exit_code == ExitCode.unreadable_input == 3 and "no such file" in res.output
    undecodable = tmp_path / "x.csv"
    undecodable.write_bytes(b"id,text\n" + b"x1,\xff\xfe\xfd\n" * 3)
    res = classify(cli, str(undecodable), "-o", "c.jsonl")
    assert res.exit_code == 3 and "x.csv:2" in res.output and "--encoding" in res.output
    assert not (tmp_path / "c.jsonl").exists()

    res = cli.invoke(app, ["classify", str(good), "--model", "no-such-model", "-o", "d.jsonl"])
    assert res.exit_code == ExitCode.no_model == 4 and "no model 'no-such-model'" in res.output
    res = cli.invoke(app, ["evaluate", str(good), "--model", "no-such-model"])
    assert res.exit_code == 4, res.output


def test_the_readme_documents_every_exit_code():
    readme = (Path(__file__).parent.parent / "README.md").read_text(encoding="utf-8")
    section = readme.split("### Exit codes", 1)[1].split("\n#", 1)[0]
    documented = {0: "done", 1: "done with error rows", 2: "usage error", 3: "unreadable input", 4: "no model"}
    assert {int(c) for c in ExitCode} == set(documented)
    for code, words in documented.items():
        assert f"`{code}` {words}" in " ".join(section.split()), code


@pytest.mark.parametrize(("words", "expected"), [
    ("xinfang classify --engine ", ["local", "ray"]),
    ("xinfang classify --format ", ["jsonl", "csv", "tsv", "xlsx"]),
    ("xinfang classify --precision ", ["auto", "int8", "fp32"]),
    ("xinfang train --profile ", ["quick", "full", "tiny"]),
])
def test_the_shell_completes_the_choices(words: str, expected: list[str]):
    res = CliRunner().invoke(app, [], prog_name="xinfang",
                             env={"_XINFANG_COMPLETE": "complete_bash", "COMP_WORDS": words, "COMP_CWORD": "3"})
    assert res.stdout.split() == expected, res.output
