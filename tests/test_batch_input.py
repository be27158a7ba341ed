"""Batch classify on hostile and faulty input: malformed CSV records and JSONL lines lose no row, and
personal data in evidence span texts is masked in every file unless --unmasked-spans."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from test_batch import error_rows, jsonl_ids, run, settings  # noqa: F401  (settings: the batch fixture)

from xinfang.batch.job import JobFiles
from xinfang.batch.reader import Columns, Limits, read_letters
from xinfang.batch.records import Letter
from xinfang.config import Settings


def shapes(path: Path, limits: Limits | None = None) -> list[tuple[int, str]]:
    """(line, id or reason) of every record the reader yields."""
    return [(r.line, r.id if isinstance(r, Letter) else r.reason.value)
            for r in read_letters(path, path.suffix.lstrip("."), Columns(), limits or Limits())]


# --- malformed records ------------------------------------------------------------------------------------

def test_unclosed_csv_quote_swallows_no_row(settings: Settings, tmp_path: Path):  # noqa: F811
    src = tmp_path / "x.csv"
    src.write_text('id,text\ne1,a\ne2,"b\ne3,c\ne4,d\n', encoding="utf-8")
    report, _ = run(settings, src, tmp_path / "out.jsonl")
    assert jsonl_ids(tmp_path / "out.jsonl") == ["e1", "e3", "e4"]
    errors = error_rows(JobFiles.for_output(tmp_path / "out.jsonl").errors)
    assert [(e["line"], e["reason"]) for e in errors] == [(3, "malformed_row")]
    assert "never closed" in errors[0]["message"] and errors[0]["id"] is None
    assert report["letters"] == {"total": 4, "results": 3, "errors": 1}


def test_malformed_csv_shapes_each_become_an_error_row_for_their_line(tmp_path: Path):
    src = tmp_path / "in.csv"
    src.write_text(
        "id,text\n"
        "e1,a\n"  # 2
        'e2,"b\n'  # 3: its quote is closed on line 5, then text follows the closing quote
        "e3,c\n"  # 4
        'e4,"d"x\n'  # 5: text after a closing quote
        'e5,"两行\n正文"\n'  # 6-7: a good record over two lines
        'e6,"x"",y"\n'  # 8: an escaped quote
        "e7,ok,extra\n"  # 9: three fields
        "\n"  # 10: blank, not a row
        'e8,"开了没关\n'  # 11: a quote open to the end of the file
        "e9,z",  # 12: no final newline
        encoding="utf-8")
    assert shapes(src) == [(2, "e1"), (3, "malformed_row"), (4, "e3"), (5, "malformed_row"), (6, "e5"),
                           (8, "e6"), (9, "malformed_row"), (11, "malformed_row"), (12, "e9")]
    letters = {r.id: r.text for r in read_letters(src, "csv") if isinstance(r, Letter)}
    assert letters["e5"] == "两行\n正文" and letters["e6"] == 'x",y' and letters["e9"] == "z"


def test_a_quote_open_past_the_record_line_limit_resynchronises(tmp_path: Path):
    src = tmp_path / "in.csv"
    src.write_text('id,text\ne1,"' + "行\n" * 8 + '"\ne2,ok\ne3,"短\n信"\n', encoding="utf-8")
    limits = Limits(max_chars=5)  # a record may span 6 lines: its text may hold at most 5 line breaks
    got = shapes(src, limits)
    assert got[0] == (2, "malformed_row")
    assert [x for x in got if x[1] != "malformed_row"] == [(11, "e2"), (12, "e3")]
    assert [line for line, _ in got] == list(range(2, 13))  # every line up to e2 has its own row
    assert shapes(src, Limits(max_chars=15))[0] == (2, "too_long")  # room for its 9 lines: read whole
    assert shapes(src)[:2] == [(2, "e1"), (11, "e2")]


def test_jsonl_broken_lines_lose_nothing_else(settings: Settings, tmp_path: Path):  # noqa: F811
    src = tmp_path / "in.jsonl"
    src.write_bytes(
        b'{"id": "j1", "text": "\xe7\xac\xac\xe4\xb8\x80"}\n'
        b'{"id": "j2", "text": "cut off\n'  # 2: broken mid-string
        b'{"id": "j3", "text": "ok"}\n'
        b'{"id": "j4", "text": "x"}{"id": "j5", "text": "y"}\n'  # 4: two objects on one line
        b'{"id": "j6", "text": "a \\" quote, and \\n"}\n'
        b'"id,text"\n'  # 6: a JSON string
        b'{"id": "j7", "text": "last line, no newline"}')
    assert shapes(src) == [(1, "j1"), (2, "malformed_row"), (3, "j3"), (4, "malformed_row"), (5, "j6"),
                           (6, "malformed_row"), (7, "j7")]
    out = tmp_path / "out.jsonl"
    report, _ = run(settings, src, out)
    assert jsonl_ids(out) == ["j1", "j3", "j6", "j7"]
    assert [e["line"] for e in error_rows(JobFiles.for_output(out).errors)] == [2, 4, 6]
    assert report["letters"] == {"total": 7, "results": 4, "errors": 3}


# --- personal data in span texts --------------------------------------------------------------------------

PHONE, ID_NUMBER, NAME = "13912345678", "110101199003074514", "张伟"
TEXT = (f"我实名举报某街道办副主任王某某，2019年3月在某小区工地收受红包5万元，有转账记录为证。"
        f"联系电话{PHONE}，身份证号{ID_NUMBER}，举报人{NAME}。")


@pytest.fixture()
def signals_settings(settings: Settings, tmp_path: Path) -> Settings:  # noqa: F811
    """Settings whose tiny/v0 marks every credibility signal present (decision thresholds 0) and takes its
    evidence from the rules (no span head), so that the rules' spans (the signed ones quote the phone and ID
    numbers) are in the result whatever the random weights of the tiny model say."""
    import shutil

    folder = tmp_path / "signals-models" / "tiny" / "v0"
    shutil.copytree(settings.models_dir / "tiny" / "v0", folder)
    schema = (folder / "schema.yaml").read_text(encoding="utf-8")
    assert "spans: true" in schema
    (folder / "schema.yaml").write_text(schema.replace("spans: true", "spans: false"), encoding="utf-8")
    cal = json.loads((folder / "calibration.json").read_text(encoding="utf-8"))
    cal["credibility"]["decision_thresholds"] = [0.0] * len(cal["credibility"]["decision_thresholds"])
    (folder / "calibration.json").write_text(json.dumps(cal), encoding="utf-8")
    return settings.model_copy(update={"models_dir": folder.parent.parent})


def spans_of(result: dict) -> list[dict]:
    from xinfang.result import LetterResult

    return [s.model_dump() for s in LetterResult.model_validate(result).spans() if s.start >= 0]


@pytest.mark.parametrize("suffix", ["jsonl", "csv"])
def test_span_texts_are_masked_in_every_file(signals_settings: Settings, tmp_path: Path, suffix: str):
    settings = signals_settings  # noqa: F811
    src = tmp_path / "in.jsonl"
    src.write_text(json.dumps({"id": "p1", "text": TEXT, "submitter": PHONE}, ensure_ascii=False) + "\n",
                   encoding="utf-8")
    out = tmp_path / f"out.{suffix}"
    report, shown = run(settings, src, out)
    files = JobFiles.for_output(out)
    for f in (out, files.errors, files.summary, files.sigs):
        written = f.read_text(encoding="utf-8")
        assert PHONE not in written and ID_NUMBER not in written and NAME not in written, f
    assert report["span_texts"] == "masked" and "unmasked" not in shown
    if suffix == "jsonl":
        result = json.loads(out.read_text(encoding="utf-8"))
    else:
        with out.open(encoding="utf-8", newline="") as fh:
            result = json.loads(next(csv.DictReader(fh))["result"])
    spans = spans_of(result)
    signed = [s["text"] for s in spans if s["type"] == "signed"]
    assert "联系电话" + "*" * len(PHONE) in signed and "身份证号" + "*" * len(ID_NUMBER) in signed
    for s in spans:  # offsets unchanged: each text is the letter's slice with personal data starred
        assert len(s["text"]) == s["end"] - s["start"]
        original = TEXT[s["start"]: s["end"]]
        assert all(a == b or a == "*" for a, b in zip(s["text"], original, strict=True))
    assert any(s["text"] == TEXT[s["start"]: s["end"]] for s in spans)  # spans without personal data stay


def test_unmasked_spans_by_option_setting_and_cli(signals_settings: Settings, tmp_path: Path):
    from typer.testing import CliRunner

    from xinfang.cli import app
    from xinfang.config import get_settings

    settings = signals_settings  # noqa: F811

    src = tmp_path / "in.jsonl"
    src.write_text(json.dumps({"id": "p1", "text": TEXT}, ensure_ascii=False) + "\n", encoding="utf-8")
    report, shown = run(settings, src, tmp_path / "a.jsonl", unmasked_spans=True)
    assert PHONE in (tmp_path / "a.jsonl").read_text(encoding="utf-8")
    assert report["span_texts"] == "unmasked" and "span texts unmasked" in shown
    summary = json.loads(JobFiles.for_output(tmp_path / "a.jsonl").summary.read_text(encoding="utf-8"))
    assert summary["span_texts"] == "unmasked"

    report, _ = run(settings.model_copy(update={"batch_unmasked_spans": True}), src, tmp_path / "b.jsonl")
    assert report["span_texts"] == "unmasked" and PHONE in (tmp_path / "b.jsonl").read_text(encoding="utf-8")

    env = {"XINFANG_MODELS_DIR": str(settings.models_dir), "XINFANG_STATE_DIR": str(settings.state_dir)}
    base = ["classify", str(src), "--model", "tiny/v0", "--precision", "fp32", "--no-progress"]
    get_settings.cache_clear()
    try:
        runner = CliRunner()
        ok = runner.invoke(app, [*base, "-o", str(tmp_path / "c.jsonl"), "--unmasked-spans"], env=env)
        assert ok.exit_code == 0, ok.output
        assert PHONE in (tmp_path / "c.jsonl").read_text(encoding="utf-8")
        ok = runner.invoke(app, [*base, "-o", str(tmp_path / "d.jsonl")], env=env)
        assert ok.exit_code == 0, ok.output
        assert PHONE not in (tmp_path / "d.jsonl").read_text(encoding="utf-8")
    finally:
        get_settings.cache_clear()
