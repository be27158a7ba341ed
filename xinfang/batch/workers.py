"""Scoring in worker processes on this machine: each process loads the Engine once for the whole job, chunks go
out two per worker and come back in input order (the local engine on a machine with more CPUs than one
process uses well)."""

from __future__ import annotations

import multiprocessing
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool

from xinfang.batch.chunks import Chunk, Outcome, counted, in_order, worker_outcomes
from xinfang.batch.log import get_logger
from xinfang.cpus import CpuPlan
from xinfang.duplicates import MinHasher
from xinfang.engine import Engine, LetterIn
from xinfang.errors import XinfangError
from xinfang.model_folder import ModelFolder
from xinfang.near_duplicates import new_hasher

log = get_logger()
_worker: tuple[Engine, MinHasher] | None = None  # this worker process's engine, loaded once


def _load(model_path: str, precision: str, threads: int, provider: str) -> None:
    global _worker
    _worker = (Engine(model_path, precision=precision, threads=threads, provider=provider), new_hasher())


def _score(letters: list[LetterIn]) -> tuple[int, list[Outcome]]:
    if _worker is None:
        raise RuntimeError("worker process has no engine")
    engine, hasher = _worker
    return worker_outcomes(engine, hasher.signature, letters)


class ProcessScorer:
    """Scores chunks in `plan.workers` spawned processes of `plan.threads` onnxruntime threads each."""

    def __init__(self, folder: ModelFolder, precision: str, plan: CpuPlan, provider: str = "cpu"):
        self.folder, self.precision, self.plan, self.provider = folder, precision, plan, provider
        self.chunks_by_pid: Counter[int] = Counter()  # chunks each worker process scored

    def run(self, chunks: Iterator[Chunk]) -> Iterator[tuple[Chunk, list[Outcome]]]:
        # spawn, not fork: this process may already run onnxruntime's or tokenizers' threads
        pool = ProcessPoolExecutor(self.plan.workers, multiprocessing.get_context("spawn"), initializer=_load,
                                   initargs=(str(self.folder.path), self.precision, self.plan.threads,
                                             self.provider))
        try:
            yield from in_order(chunks, lambda letters: counted(pool.submit(_score, letters), self.chunks_by_pid),
                                2 * self.plan.workers)
        except BrokenProcessPool:
            log.error("a scoring process died")
            raise XinfangError("a scoring process died or could not load the model (out of memory?); what was "
                               "written is kept, rerun to resume (--workers 1 scores in this process)") from None
        finally:
            pool.shutdown(wait=True, cancel_futures=True)
            log.info("local: chunks per worker process %s", sorted(self.chunks_by_pid.values(), reverse=True))
