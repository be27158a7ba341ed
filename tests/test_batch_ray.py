"""Batch classify on a local Ray (Ray Data, Engine actors): same results, errors and resume as locally."""

from __future__ import annotations

import io
import json
import random
import shutil
from pathlib import Path

import pytest
from rich.console import Console

pytest.importorskip("ray.data", reason="Ray is not installed (pip install -e '.[distributed]')")
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")  # Ray Data's own deprecated settings

from xinfang.batch.job import ClassifyOptions, JobFiles, run_classify  # noqa: E402
from xinfang.config import Settings  # noqa: E402

PHRASES = ["我实名举报某街道办副主任", "收受工程老板红包", "低保补贴被克扣", "工程招投标围标串标",
           "校长违规收费", "医院院长收受回扣", "公交线路太少", "工地夜间施工扰民", "拆迁补偿不公开",
           "拖欠社保缴费", "公车私用", "村务财务不公开", "有转账记录为证", "请领导调查处理",
           "扶贫资金去向不明", "执法人员吃拿卡要"]


def _rows(n: int) -> list[dict]:
    rng = random.Random(5)
    rows = [{"id": f"R{i:03d}", "submitter": f"S{i % 7}",
             "text": "，".join(rng.sample(PHRASES, 6)) + f"，金额{rng.randint(100, 99999)}元。"}
            for i in range(n)]
    rows[7]["text"] = rows[3]["text"] + "再次反映。"
    rows[12]["text"] = ""
    return rows


def test_ray_engine_matches_local_and_resumes(tiny_model_dir: Path, tmp_path: Path):
    src = tmp_path / "in.jsonl"
    rows = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in _rows(44))
    src.write_text(rows + "{oops\n", encoding="utf-8")
    settings = Settings(models_dir=tiny_model_dir.parent.parent, cache_dir=tmp_path / "cache", batch_size=8,
                        ray_window=24, ray_concurrency=2, ray_num_cpus=2, state_dir=tmp_path / "state")

    def classify(out: Path, engine: str) -> dict:
        opts = ClassifyOptions(input=src, output=out, model="tiny/v0", precision="fp32", engine=engine,
                               threads=1, progress=False, ray_ship_model=engine == "ray")
        return run_classify(opts, settings, Console(file=io.StringIO()))

    local = tmp_path / "local.jsonl"
    classify(local, "local")
    expected = {json.loads(x)["id"]: json.loads(x) for x in local.read_text(encoding="utf-8").splitlines()}

    out = tmp_path / "ray.jsonl"  # an interrupted earlier run: 10 results, half a line, no error rows
    lines = local.read_bytes().splitlines(keepends=True)
    out.write_bytes(b"".join(lines[:10]) + lines[10][:25])
    shutil.copy(JobFiles.for_output(local).sigs, JobFiles.for_output(out).sigs)
    report = classify(out, "ray")

    got = [json.loads(x) for x in out.read_text(encoding="utf-8").splitlines()]
    assert [r["id"] for r in got] == list(expected)
    for r in got:
        want = expected[r["id"]]
        assert r["duplicates"] == want["duplicates"] and r["route"] == want["route"]
        assert r["sector"]["label"] == want["sector"]["label"]
        assert r["malicious"]["probability"] == pytest.approx(want["malicious"]["probability"], abs=1e-3)
    assert [d["id"] for d in {r["id"]: r for r in got}["R007"]["duplicates"]] == ["R003"]
    errors = [json.loads(x) for x in JobFiles.for_output(out).errors.read_text().splitlines()]
    assert sorted((e["line"], e["reason"]) for e in errors) == [(13, "empty_text"), (45, "malformed_row")]
    assert report["engine"] == "ray" and report["this_run"]["scored"] == 33
    assert report["letters"]["total"] == 45
