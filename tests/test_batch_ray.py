"""Batch classify on a local Ray (one pool of long-lived Engine actors per job): same results, errors and resume
as locally; the actors score every chunk of the job."""

from __future__ import annotations

import io
import json
import random
import shutil
from pathlib import Path

import pytest
from rich.console import Console

ray = pytest.importorskip("ray", reason="Ray is not installed (pip install -e '.[distributed]')")
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")  # Ray's own deprecated settings

from xinfang.batch.chunks import Chunk, LocalScorer  # noqa: E402
from xinfang.batch.dedup import new_hasher  # noqa: E402
from xinfang.batch.job import ClassifyOptions, JobFiles, run_classify  # noqa: E402
from xinfang.batch.ray_runner import RayScorer  # noqa: E402
from xinfang.batch.records import Letter  # noqa: E402
from xinfang.config import Settings  # noqa: E402
from xinfang.engine import Engine  # noqa: E402
from xinfang.model_folder import ModelFolder  # noqa: E402


@pytest.fixture(scope="module", autouse=True)
def local_ray():
    """One local Ray for the module (starting one costs seconds); a scorer leaves a Ray it did not start up."""
    import logging

    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, logging_level=logging.WARNING)
    yield
    ray.shutdown()

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
                        ray_concurrency=2, ray_num_cpus=2, state_dir=tmp_path / "state")

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


def test_one_pool_of_actors_scores_the_whole_job(tiny_model_dir: Path):
    """Twelve chunks, two actors: each actor's process scores six chunks (no pool rebuilt, no model reloaded
    along the way), in input order, with the results of this process."""
    rows = _rows(36)
    parts = [Chunk([Letter(i + 1, r["id"], r["text"] or "空") for i, r in enumerate(rows[k:k + 3], start=k)])
             for k in range(0, 36, 3)]
    folder = ModelFolder(tiny_model_dir)
    want = [o for _, outs in LocalScorer(Engine(folder, precision="fp32", threads=1),
                                         new_hasher().signature).run(iter(parts)) for o in outs]
    scorer = RayScorer(folder, "fp32", threads=1, workers=2)
    got = list(scorer.run(iter(parts)))
    assert [c for c, _ in got] == parts
    outs = [o for _, chunk_outs in got for o in chunk_outs]
    assert [o.result.id for o in outs] == [o.result.id for o in want]
    for a, b in zip(outs, want, strict=True):
        assert a.result.malicious.probability == pytest.approx(b.result.malicious.probability, abs=1e-5)
        assert (a.sig == b.sig).all()
    assert sorted(scorer.chunks_by_pid.values()) == [6, 6]
    assert ray.is_initialized()  # the module's Ray, left running
