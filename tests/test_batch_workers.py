"""Batch scoring on more CPUs: the workers × threads plan from the CPUs this process may use, worker processes that
load the engine once per job and give the in-process results, and the execution provider reaching the engine."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import pytest

from xinfang.batch.chunks import Chunk, LocalScorer, in_order
from xinfang.batch.dedup import new_hasher
from xinfang.batch.job import ClassifyOptions, _scorer
from xinfang.batch.records import Letter
from xinfang.batch.workers import ProcessScorer
from xinfang.config import Settings
from xinfang.cpus import CpuPlan, cpu_plan, usable_cpus
from xinfang.engine import Engine
from xinfang.model_folder import ModelFolder

TEXTS = ["我实名举报某街道办副主任收受工程老板红包，有转账记录为证。", "小区旁工地夜间施工噪音扰民，请领导调查处理。",
         "村里的低保补贴被村干部克扣", "扶贫项目资金去向不明，村务财务多年不公开。", "公交线路太少出行不便"]


def chunks(n_chunks: int, size: int) -> list[Chunk]:
    return [Chunk([Letter(k * size + i + 1, f"C{k}-{i}", TEXTS[(k + i) % len(TEXTS)] * (1 + i % 3))
                   for i in range(size)]) for k in range(n_chunks)]


@pytest.mark.parametrize(("cpus", "workers", "threads", "want"), [
    (1, 0, 0, (1, 1)), (2, 0, 0, (1, 2)), (6, 0, 0, (1, 6)), (8, 0, 0, (2, 4)), (16, 0, 0, (4, 4)),
    (16, 0, 2, (4, 2)), (16, 0, 8, (2, 8)), (16, 3, 0, (3, 5)), (2, 4, 0, (4, 1)), (16, 2, 3, (2, 3)),
    (2, 0, 4, (1, 4)), (2, 0, 1, (1, 1))])
def test_cpu_plan_splits_the_cpus(cpus: int, workers: int, threads: int, want: tuple[int, int]):
    assert cpu_plan(workers, threads, cpus) == CpuPlan(*want)


def test_usable_cpus_respects_affinity():
    n = usable_cpus()
    assert 1 <= n <= len(os.sched_getaffinity(0)) and cpu_plan().workers * cpu_plan().threads <= max(n, 1)
    with pytest.raises(ValueError):
        cpu_plan(-1, 0, 4)


def test_in_order_keeps_input_order_and_empty_chunks():
    from concurrent.futures import Future, ThreadPoolExecutor

    done_late: list[Future] = []
    with ThreadPoolExecutor(3) as pool:
        def submit(letters):  # the first chunk finishes last
            if letters[0].id == "C0-0":
                f: Future = Future()
                done_late.append(f)
                pool.submit(lambda: (__import__("time").sleep(0.2), f.set_result([x.id for x in letters])))
                return f
            return pool.submit(lambda: [x.id for x in letters])

        parts = chunks(4, 2)
        parts.insert(2, Chunk())  # only rejected rows: no worker needed
        got = list(in_order(iter(parts), submit, depth=3))
    assert [c for c, _ in got] == parts
    assert [ids for _, ids in got] == [[x.id for x in c.letters] for c in parts]


def test_worker_processes_load_once_and_match_this_process(tiny_model_dir: Path):
    folder = ModelFolder(tiny_model_dir)
    local = LocalScorer(Engine(folder, precision="fp32", threads=1), new_hasher().signature)
    want = [o for _, outs in local.run(iter(chunks(6, 3))) for o in outs]
    scorer = ProcessScorer(folder, "fp32", CpuPlan(2, 1))
    got = list(scorer.run(iter(chunks(6, 3))))
    assert [[x.id for x in c.letters] for c, _ in got] == [[x.id for x in c.letters] for c in chunks(6, 3)]
    outs = [o for _, chunk_outs in got for o in chunk_outs]
    for a, b in zip(outs, want, strict=True):
        assert a.result.id == b.result.id and a.result.route == b.result.route
        assert a.result.sector.label == b.result.sector.label
        assert a.result.malicious.probability == pytest.approx(b.result.malicious.probability, abs=1e-5)
        assert (a.sig == b.sig).all()
    # every chunk scored by one of two long-lived processes, none by this one
    assert sum(scorer.chunks_by_pid.values()) == 6 and 1 <= len(scorer.chunks_by_pid) <= 2
    assert os.getpid() not in scorer.chunks_by_pid


def test_classify_picks_workers_and_passes_the_execution_provider(tiny_model_dir: Path, tmp_path: Path,
                                                                   caplog: pytest.LogCaptureFixture):
    base = Settings(models_dir=tiny_model_dir.parent.parent, state_dir=tmp_path)
    opts = ClassifyOptions(input=tmp_path / "in.jsonl", output=tmp_path / "out.jsonl", precision="fp32")
    folder = ModelFolder(tiny_model_dir)
    scorer = _scorer(opts, base.with_overrides(batch_workers=2, threads=1), folder, None)  # type: ignore[arg-type]
    assert isinstance(scorer, ProcessScorer) and scorer.plan == CpuPlan(2, 1)
    assert scorer.provider == "cpu"
    with caplog.at_level(logging.WARNING, logger="xinfang.providers"):
        scorer = _scorer(opts, base.with_overrides(execution_provider="cuda"), folder,  # type: ignore[arg-type]
                         type("D", (), {"signature": staticmethod(new_hasher().signature)})())
    assert isinstance(scorer, LocalScorer)  # cuda: one process, whatever the CPUs
    import onnxruntime as ort

    if "CUDAExecutionProvider" not in ort.get_available_providers():  # asked for cuda, fell back with a warning
        assert "CUDAExecutionProvider" in caplog.text


def test_classify_workers_flag_is_the_setting(tiny_model_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """`--workers N` sets batch_workers (checked as XINFANG_BATCH_WORKERS is); the job runs N processes."""
    from typer.testing import CliRunner

    from xinfang.cli import app
    from xinfang.config import get_settings

    monkeypatch.setenv("XINFANG_MODELS_DIR", str(tiny_model_dir.parent.parent))
    monkeypatch.setenv("XINFANG_STATE_DIR", str(tmp_path / "state"))
    get_settings.cache_clear()
    src = tmp_path / "in.jsonl"
    src.write_text("".join(f'{{"id": "L{i}", "text": "{TEXTS[i % len(TEXTS)]}"}}\n' for i in range(6)), encoding="utf-8")
    try:
        bad = CliRunner().invoke(app, ["classify", str(src), "-o", str(tmp_path / "o.jsonl"), "--workers", "-1"])
        assert bad.exit_code == 2 and "batch_workers" in bad.output
        ok = CliRunner().invoke(app, ["classify", str(src), "-o", str(tmp_path / "o.jsonl"), "--model", "tiny/v0",
                                      "--precision", "fp32", "--workers", "2", "--threads", "1", "--no-progress",
                                      "--verbose"])
        assert ok.exit_code == 0, ok.output
        assert "local: 2 process(es) x 1 threads" in ok.output
        assert len((tmp_path / "o.jsonl").read_text(encoding="utf-8").splitlines()) == 6
    finally:
        get_settings.cache_clear()


def test_a_worker_that_cannot_load_the_model_is_a_clear_error(tiny_model_dir: Path, tmp_path: Path):
    import shutil

    from xinfang.errors import XinfangError

    broken = tmp_path / "tiny" / "v0"
    shutil.copytree(tiny_model_dir, broken)
    (broken / "model.onnx").write_bytes(b"not an onnx graph")
    scorer = ProcessScorer(ModelFolder(broken), "fp32", CpuPlan(2, 1))
    with pytest.raises(XinfangError, match="could not load the model"):
        list(scorer.run(iter(chunks(2, 2))))
