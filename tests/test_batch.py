"""Batch classify: every row ends in one result or one error row (each reason), near-copies, CSV in and out,
resume after torn writes and after `kill -9`, the sample backlog, no letter text in errors or logs."""

from __future__ import annotations

import io
import json
import logging
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from rich.console import Console

from xinfang.batch.job import ClassifyOptions, JobFiles, run_classify
from xinfang.batch.reader import Columns, Limits, read_letters
from xinfang.batch.records import Letter, Reason
from xinfang.batch.resume import ResumeError
from xinfang.config import Settings
from xinfang.errors import InputFileError, XinfangError

PHRASES = [
    "我实名举报某街道办副主任", "在去年春节前收受工程老板红包", "村里的低保补贴被村干部克扣",
    "工程招投标存在围标串标", "学校校长违规收取补课费", "医院院长收受药品回扣", "公交线路太少出行不便",
    "小区旁工地夜间施工噪音扰民", "拆迁补偿标准不公开", "单位长期拖欠社保缴费", "领导公车私用接送家属",
    "违规大操大办婚宴", "景区门票乱收费", "河道被企业偷排污水", "村务财务多年不公开", "有转账记录和照片为证",
    "听说他还打击报复举报人", "请领导尽快调查处理", "食堂采购价格虚高", "扶贫项目资金去向不明",
    "安置房分配优亲厚友", "执法人员吃拿卡要",
]
MARK = "独特标记"  # in every generated text; must never reach an error row, a log line or the console


def letter_text(rng: random.Random, i: int) -> str:
    return f"{MARK}{i}号：" + "，".join(rng.sample(PHRASES, 7)) + f"，涉及金额{rng.randint(1000, 99999)}元。"


def make_letters(n: int, seed: int = 0) -> list[dict]:
    """Distinct letters; letters 10 and 11 are near-copies of 9 (a 3-copy campaign), 21 copies 20 from the
    same submitter."""
    rng = random.Random(seed)
    rows = [{"id": f"L{i:04d}", "text": letter_text(rng, i), "submitter": f"S{i % 37}"} for i in range(n)]
    if n > 21:
        for k in (10, 11):
            rows[k]["text"] = rows[9]["text"].replace("金额", "总金额") + ("请查。" if k == 11 else "")
        rows[21]["text"], rows[21]["submitter"] = rows[20]["text"] + "再次反映。", rows[20]["submitter"]
    return rows


def write_jsonl(path: Path, rows: list[dict], extra: list[bytes] = ()) -> Path:
    with path.open("wb") as f:
        for r in rows:
            f.write(json.dumps(r, ensure_ascii=False).encode() + b"\n")
        for raw in extra:
            f.write(raw + b"\n")
    return path


def jsonl_ids(path: Path) -> list[str]:
    return [json.loads(line)["id"] for line in path.read_text(encoding="utf-8").splitlines()]


def error_rows(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


@pytest.fixture()
def settings(tiny_model_dir: Path, tmp_path: Path) -> Settings:
    return Settings(models_dir=tiny_model_dir.parent.parent, cache_dir=tmp_path / "cache", max_text_chars=400,
                    batch_size=8, shared_data_dir=tmp_path / "no-shared", state_dir=tmp_path / "state")


def run(settings: Settings, input_path: Path, output: Path, **kw) -> tuple[dict, str]:
    console = Console(file=io.StringIO(), width=120)
    kw = {"model": "tiny/v0", "precision": "fp32", "progress": False, **kw}
    opts = ClassifyOptions(input=input_path, output=output, **kw)
    report = run_classify(opts, settings, console)
    return report, console.file.getvalue()


# --- reading ----------------------------------------------------------------------------------------------

BAD_JSONL = [
    b'{"id": "a1", "text": "\xe5\x90\x88\xe6\xb3\x95"}',  # 1 good
    b"   ",  # blank: not a row
    b'{"id": "a2", "text": ',  # 3 malformed
    b"[1, 2]",  # 4 malformed (not an object)
    b'{"id": "a3", "text": "bad \xff\xfe bytes"}',  # 5 invalid encoding, id salvaged
    b'{"text": "no id"}',  # 6 missing id
    b'{"id": "  ", "text": "blank id"}',  # 7 missing id
    b'{"id": {"x": 1}, "text": "object id"}',  # 8 invalid id
    b'{"id": "a\\nb", "text": "newline id"}',  # 9 invalid id
    b'{"id": "a4"}',  # 10 missing text
    b'{"id": "a5", "text": 12}',  # 11 missing text (not a string)
    b'{"id": "a6", "text": " \\n\\t "}',  # 12 empty text
    b'{"id": "a7", "text": "' + b"x" * 60 + b'"}',  # 13 too long
    b'{"id": 8, "text": "int id"}',  # 14 good, id "8"
    b'{"id": "a9", "text": "lone \\ud800 surrogate"}',  # 15 invalid encoding
]


def test_jsonl_rows_become_letters_or_reasons(tmp_path: Path):
    path = tmp_path / "in.jsonl"
    path.write_bytes(b"\n".join(BAD_JSONL) + b"\n")
    got = list(read_letters(path, "jsonl", Columns(), Limits(max_chars=50)))
    summary = [(r.line, r.id if isinstance(r, Letter) else r.reason.value) for r in got]
    assert summary == [
        (1, "a1"), (3, "malformed_row"), (4, "malformed_row"), (5, "invalid_encoding"), (6, "missing_id"),
        (7, "missing_id"), (8, "invalid_id"), (9, "invalid_id"), (10, "missing_text"), (11, "missing_text"),
        (12, "empty_text"), (13, "too_long"), (14, "8"), (15, "invalid_encoding")]
    assert got[0].text == "合法" and got[0].submitter is None
    by_line = {r.line: r for r in got}
    assert by_line[5].id == "a3" and by_line[13].id == "a7" and by_line[8].id is None


def test_csv_rows_columns_and_line_numbers(tmp_path: Path):
    path = tmp_path / "in.csv"
    path.write_bytes(
        "\ufeffno,body,who\n"  # BOM and custom column names
        "c1,普通的一封信,U1\n"
        '"c2","跨行的\n一封信",U2\n'  # a quoted field over two lines
        "c3,字段太多,U3,extra\n"
        "\n"
        ",没有编号,U4\n"
        "c5,,U5\n".encode()
        + b"c6,\xff\xfe broken,U6\n"
        + "c7,最后一封,\n".encode())
    got = list(read_letters(path, "csv", Columns("no", "body", "who"), Limits()))
    summary = [(r.line, r.id if isinstance(r, Letter) else r.reason.value) for r in got]
    assert summary == [(2, "c1"), (3, "c2"), (5, "malformed_row"), (7, "missing_id"), (8, "empty_text"),
                       (9, "invalid_encoding"), (10, "c7")]
    assert got[1].text == "跨行的\n一封信" and got[0].submitter == "U1" and got[-1].submitter is None
    assert got[5].id == "c6"
    with pytest.raises(InputFileError, match="no column 'text'"):
        list(read_letters(path, "csv", Columns("no"), Limits()))


# --- the job ----------------------------------------------------------------------------------------------

def test_every_row_ends_in_one_result_or_one_error(settings: Settings, tmp_path: Path, monkeypatch, caplog):
    from xinfang.engine import Engine

    real_score = Engine.score

    def flaky(self, letters):  # the model raises on one letter: only that letter fails
        if any(x.id == "L0005" for x in letters):
            raise RuntimeError(f"cannot score {letters[0].text}")
        return real_score(self, letters)

    monkeypatch.setattr(Engine, "score", flaky)
    rows = make_letters(30)
    rows.append({"id": "L0003", "text": f"{MARK}重复编号的信"})  # duplicate id: line 31
    extra = [b'{"id": "E1", "text": "   "}', b'{"id": "E2", "text": "' + "长".encode() * 401 + b'"}',
             b'{"text": "' + MARK.encode() + b'"}', b'{"id": "E4", "text": "\xff' + MARK.encode() + b'"}',
             b'{"id": "E5", "text": "' + MARK.encode(), b'{"id": ["E6"], "text": "x"}', b'{"id": "E7"}']
    src = write_jsonl(tmp_path / "in.jsonl", rows, extra)
    out = tmp_path / "out" / "res.jsonl"
    caplog.set_level(logging.INFO, logger="xinfang.batch")
    report, shown = run(settings, src, out)

    files = JobFiles.for_output(out)
    ids = jsonl_ids(out)
    errors = error_rows(files.errors)
    assert sorted(ids) == sorted({r["id"] for r in rows} - {"L0005"}) and len(ids) == len(set(ids))
    assert sorted(e["line"] for e in errors) == [6, 31, 32, 33, 34, 35, 36, 37, 38]
    scan_only = {Reason.unreadable_scan.value, Reason.scan_too_large.value}  # tests/test_batch_scans.py
    assert {e["reason"] for e in errors} == {r.value for r in Reason} - scan_only
    assert {e["line"]: e["reason"] for e in errors}[31] == "duplicate_id"
    assert all(set(e) == {"id", "line", "reason", "message"} for e in errors)
    assert report["letters"] == {"total": 38, "results": 29, "errors": 9}
    assert report["errors_by_reason"]["scoring_failed"] == 1
    for where in (files.errors.read_text(encoding="utf-8"), shown, caplog.text,
                  files.summary.read_text(encoding="utf-8"), files.sigs.read_text(encoding="utf-8")):
        assert MARK not in where and "cannot score" not in where

    results = {r["id"]: r for r in map(json.loads, out.read_text(encoding="utf-8").splitlines())}
    near = {i: sorted(d["id"] for d in r["duplicates"]) for i, r in results.items() if r["duplicates"]}
    assert near == {"L0010": ["L0009"], "L0011": ["L0009", "L0010"], "L0021": ["L0020"]}
    flags = {i: [x for x in r["malicious"]["indicators"] if x["type"] == "near_duplicate"]
             for i, r in results.items()}
    assert flags["L0011"] == [{"type": "near_duplicate", "text": "", "start": -1, "end": -1,
                               "source": "duplicates", "count": 2, "same_submitter": False}]
    assert flags["L0021"][0]["same_submitter"] is True and flags["L0010"] == []
    nd = report["near_duplicates"]
    assert nd["clusters"] == 2 and nd["largest"][0] == {"size": 3, "ids": ["L0009", "L0010", "L0011"]}
    assert nd["mass_copy_indicators"] == 2
    assert report["repeat_submitters"] == {"submitters": 1, "letters": 2, "largest": [2]}  # S20: L0020, L0021
    assert sum(report["heads"]["sector"].values()) == 29

    # a rerun finds everything done and changes nothing
    before = out.read_bytes(), files.errors.read_bytes()
    report2, _ = run(settings, src, out)
    assert (out.read_bytes(), files.errors.read_bytes()) == before
    assert report2["this_run"]["skipped_already_done"] == 38 and report2["letters"] == report["letters"]


def test_resume_cuts_torn_lines_and_restores_signatures(settings: Settings, tmp_path: Path):
    rows = make_letters(40)
    src = write_jsonl(tmp_path / "in.jsonl", rows, [b'{"id": "E1", "text": ""}', b"nope", b'{"id": "E3"}'])
    full = tmp_path / "full.jsonl"
    run(settings, src, full)
    expected = {json.loads(x)["id"]: json.loads(x) for x in full.read_text(encoding="utf-8").splitlines()}

    out = tmp_path / "part.jsonl"
    files = JobFiles.for_output(out)
    shutil.copy(full, out)
    shutil.copy(JobFiles.for_output(full).errors, files.errors)
    shutil.copy(JobFiles.for_output(full).sigs, files.sigs)
    # the state a crash can leave: 15 results then half a line; one error row and a torn one; signatures
    # for the first 12 results, one of a letter whose result never got written, and a torn one
    lines = out.read_bytes().splitlines(keepends=True)
    out.write_bytes(b"".join(lines[:15]) + lines[15][:40])
    errs = files.errors.read_bytes().splitlines(keepends=True)
    files.errors.write_bytes(errs[0] + errs[1][:10])
    sigs = files.sigs.read_bytes().splitlines(keepends=True)
    files.sigs.write_bytes(b"".join(sigs[:12]) + sigs[20] + sigs[21][:30])

    report, _ = run(settings, src, out)
    got = [json.loads(x) for x in out.read_text(encoding="utf-8").splitlines()]
    assert [r["id"] for r in got] == list(expected)  # same ids, same order, each once
    for r in got:
        assert r["duplicates"] == expected[r["id"]]["duplicates"]
        assert r["malicious"]["indicators"] == expected[r["id"]]["malicious"]["indicators"]
    assert sorted(e["line"] for e in error_rows(files.errors)) == [41, 42, 43]
    assert sorted(json.loads(x)["id"] for x in files.sigs.read_text().splitlines()) == sorted(expected)
    assert report["this_run"]["scored"] == 25 and report["this_run"]["skipped_already_done"] == 16
    assert report["letters"]["results"] == 40 and report["near_duplicates"]["clusters"] == 2

    # corruption in the middle is not a crash: refuse instead of guessing
    lines = out.read_bytes().splitlines(keepends=True)
    out.write_bytes(b"".join(lines[:5]) + b"garbage\n" + b"".join(lines[5:]))
    with pytest.raises(ResumeError, match="line 6"):
        run(settings, src, out)


def test_csv_in_csv_out_resume_and_model_check(settings: Settings, tmp_path: Path, tiny_model_dir: Path):
    import csv

    rows = make_letters(24)
    src = tmp_path / "in.csv"
    with src.open("w", encoding="utf-8", newline="") as f:
        w = csv.writer(f)
        w.writerow(["编号", "内容", "来信人"])
        w.writerows([[r["id"], r["text"], r["submitter"]] for r in rows])
        w.writerow(["X1", "", "S0"])
    out = tmp_path / "res.csv"
    opts = {"columns": Columns("编号", "内容", "来信人")}
    report, _ = run(settings, src, out, **opts)
    assert out.read_bytes().startswith(b"\xef\xbb\xbfid,")  # a byte order mark: Excel shows the Chinese
    with out.open(encoding="utf-8-sig", newline="") as f:
        table = list(csv.DictReader(f))
    assert [r["id"] for r in table] == [r["id"] for r in rows]
    assert list(table[0])[:3] == ["id", "topic", "topic_primary"]
    assert list(table[0])[-3:] == ["route", "duplicates", "result"]
    for r in table:
        full = json.loads(r["result"])
        assert r["sector"] == full["sector"]["label"]
        assert float(r["malicious_probability"]) == full["malicious"]["probability"]
        assert r["route"] == full["route"]["decision"]
    assert sorted({r["id"]: r["duplicates"] for r in table}["L0011"].split("|")) == ["L0009", "L0010"]
    assert error_rows(JobFiles.for_output(out).errors)[0]["reason"] == "empty_text"

    data = out.read_bytes()
    out.write_bytes(data[: len(data) * 2 // 3])  # torn somewhere in a row
    run(settings, src, out, **opts)
    assert out.read_bytes() == data

    other = tmp_path / "models" / "tiny" / "v1"
    shutil.copytree(tiny_model_dir, other)
    with pytest.raises(ResumeError, match="tiny/v0"):
        run(settings, src, out, **opts, model=str(other))
    run(settings, src, out, **opts, model=str(other), restart=True)
    with out.open(encoding="utf-8", newline="") as f:
        assert {json.loads(r["result"])["model"]["version"] for r in csv.DictReader(f)} == {"v1"}


def test_sample_backlog(settings: Settings, tmp_path: Path, monkeypatch):
    from xinfang.training.sample_backlog import sample_input

    path, about = sample_input(settings, tmp_path / "out" / "backlog.jsonl")
    assert path == tmp_path / "out" / "generated_letters.jsonl" and "generated" in about
    letters = list(read_letters(path, "jsonl"))
    assert len(letters) == 2000 and all(isinstance(x, Letter) for x in letters)
    assert letters[0].id == "gen-test-7-000000"

    real = settings.shared_data_dir / "tipdm2020" / "unlabeled.jsonl"
    real.parent.mkdir(parents=True)
    real.write_text("", encoding="utf-8")
    assert sample_input(settings, tmp_path / "o.jsonl")[0] == real
    real.unlink()
    monkeypatch.setitem(sys.modules, "xinfang.training.generator", None)  # as if the training extras were missing
    with pytest.raises(XinfangError, match="training"):
        sample_input(settings, tmp_path / "elsewhere" / "o.jsonl")


def test_cli_needs_input_or_sample():
    from typer.testing import CliRunner

    from xinfang.cli import app

    result = CliRunner().invoke(app, ["classify", "-o", "x.jsonl"])
    assert result.exit_code == 2 and "INPUT or --sample" in result.output


# --- kill -9 ----------------------------------------------------------------------------------------------

def _lines(path: Path) -> int:
    return path.read_bytes().count(b"\n") if path.exists() else 0


def _start(args: list[str], env: dict) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "xinfang.cli", *args], env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)


def _kill_when(proc: subprocess.Popen, out: Path, lines: int, timeout: float = 60.0) -> bool:
    """SIGKILL the process once OUTPUT has `lines` complete lines; False if it ended first."""
    end = time.monotonic() + timeout
    while time.monotonic() < end and proc.poll() is None:
        if _lines(out) >= lines:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait()
            return True
        time.sleep(0.005)
    proc.wait()
    return False


def test_kill_9_and_rerun_loses_and_duplicates_nothing(tiny_model_dir: Path, tmp_path: Path):
    rows = make_letters(300, seed=3)
    for k in (50, 150, 250):
        rows[k]["text"] = "  "
    rows[200]["id"] = rows[100]["id"]
    src = write_jsonl(tmp_path / "in.jsonl", rows, [b"{broken"])
    out = tmp_path / "out.jsonl"
    files = JobFiles.for_output(out)
    env = {**os.environ, "XINFANG_MODELS_DIR": str(tiny_model_dir.parent.parent), "XINFANG_THREADS": "1",
           "XINFANG_STATE_DIR": str(tmp_path / "state")}
    args = ["classify", str(src), "-o", str(out), "--model", "tiny/v0", "--batch-size", "8", "--no-progress"]

    assert _kill_when(_start(args, env), out, 8), "the first run ended before its first chunk was killed"
    first = _lines(out)
    assert 8 <= first < 296
    killed_again = _kill_when(_start(args, env), out, first + 16)
    proc = _start(args, env)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 1, err.decode(errors="replace")[-2000:]  # done, with error rows

    out_ids = jsonl_ids(out)
    errors = error_rows(files.errors)
    input_ids = [r["id"] for r in rows]
    valid = [r["id"] for k, r in enumerate(rows) if k not in (50, 150, 250, 200)]
    assert out_ids == valid  # each once, in input order
    assert sorted(e["line"] for e in errors) == [51, 151, 201, 251, 301]
    assert sorted(out_ids + [e["id"] for e in errors if e["id"]]) == sorted(input_ids)
    assert sorted(jsonl_ids(files.sigs)) == sorted(valid)
    results = {json.loads(x)["id"]: json.loads(x) for x in out.read_text(encoding="utf-8").splitlines()}
    assert sorted(d["id"] for d in results["L0011"]["duplicates"]) == ["L0009", "L0010"]
    summary = json.loads(files.summary.read_text(encoding="utf-8"))
    assert summary["letters"] == {"total": 301, "results": 296, "errors": 5}
    assert summary["resumed"] is True
    assert killed_again or summary["this_run"]["skipped_already_done"] >= first
