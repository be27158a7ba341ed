"""Scoring on Ray: one pool of long-lived Engine actors per job (each loads the model once), chunks sent to them
in turn with a bounded number in flight; the driver keeps reading, checking and writing, so the output, error
and resume contract is the local one."""

from __future__ import annotations

import logging
import shutil
import tempfile
from collections import Counter
from collections.abc import Iterator
from contextlib import suppress
from itertools import cycle
from pathlib import Path
from typing import Any

from xinfang.batch.chunks import Chunk, Outcome, counted, in_order, worker_outcomes
from xinfang.batch.dedup import new_hasher
from xinfang.batch.log import get_logger
from xinfang.cpus import CpuPlan, cpu_plan, usable_cpus
from xinfang.engine import Engine, LetterIn
from xinfang.errors import XinfangError
from xinfang.model_folder import REQUIRED, ModelFolder

log = get_logger()


def import_ray() -> Any:
    try:
        import ray
    except ImportError:
        raise XinfangError("--engine ray needs Ray: pip install -e '.[distributed]'") from None
    return ray

def pack_model(folder: ModelFolder, precision: str) -> dict[str, bytes]:
    """The files an Engine needs, for workers that cannot see this machine's disk."""
    names = list(REQUIRED) + (["model.int8.onnx"] if precision == "int8" else []) + ["model_card.json"]
    return {n: (folder.path / n).read_bytes() for n in names if (folder.path / n).is_file()}


def unpack_model(files: dict[str, bytes], dest: Path) -> Path:
    dest.mkdir(parents=True, exist_ok=True)
    for name, data in files.items():
        (dest / Path(name).name).write_bytes(data)
    return dest


class EngineActor:
    """A Ray actor for the whole job: loads one Engine (from files shipped through the object store when the
    workers cannot see this disk), then scores lists of letters into (its pid, outcomes)."""

    def __init__(self, model_path: str, precision: str, threads: int, provider: str = "cpu",
                 model_files: list | None = None):
        self._tmp: str | None = None
        if model_files:
            import ray

            self._tmp = tempfile.mkdtemp(prefix="xinfang-model-")
            model_path = str(unpack_model(ray.get(model_files[0]), Path(self._tmp) / "model"))
        self.engine = Engine(model_path, precision=precision, threads=threads, provider=provider)
        self.hasher = new_hasher()

    def score(self, letters: list[LetterIn]) -> tuple[int, list[Outcome]]:
        return worker_outcomes(self.engine, self.hasher.signature, letters)

    def close(self) -> None:
        """Remove the shipped model files (ray.kill runs no cleanup of its own)."""
        if self._tmp:
            shutil.rmtree(self._tmp, ignore_errors=True)


class RayScorer:
    """Scores chunks on Ray: a local Ray (num_cpus; 0 = the CPUs this process may use) or the cluster at
    `address`. One pool of `workers` EngineActors of `threads` CPUs each (0 = derived from the cluster's CPUs,
    xinfang.cpus.cpu_plan) lives for the whole job; chunks go to the actors in turn, two per actor in flight,
    and are handed back in input order."""

    def __init__(self, folder: ModelFolder, precision: str = "int8", threads: int = 0, workers: int = 0,
                 address: str | None = None, num_cpus: int = 0, ship_model: bool | None = None,
                 provider: str = "cpu"):
        self.folder, self.precision, self.provider = folder, precision, provider
        self.threads, self.workers = max(0, threads), max(0, workers)
        self.address, self.num_cpus = address, num_cpus or usable_cpus()
        self.ship_model = bool(address) if ship_model is None else ship_model
        self.chunks_by_pid: Counter[int] = Counter()  # chunks each actor's process scored

    def plan(self, cpus: int) -> CpuPlan:
        """Actors × threads for a Ray of `cpus` CPUs: never more CPUs than it has, or the actors never start."""
        plan = cpu_plan(self.workers, self.threads, cpus)
        threads = min(plan.threads, max(1, cpus))
        return CpuPlan(max(1, min(plan.workers, cpus // threads)), threads)

    def run(self, chunks: Iterator[Chunk]) -> Iterator[tuple[Chunk, list[Outcome]]]:
        ray = import_ray()
        started = not ray.is_initialized()
        if started:
            ray.init(address=self.address or None, num_cpus=None if self.address else self.num_cpus,
                     include_dashboard=False, log_to_driver=False, logging_level=logging.WARNING)
        plan = self.plan(int(ray.cluster_resources().get("CPU", 1)))
        log.info("ray: %s, %d actors x %d threads for the whole job", self.address or "local", plan.workers,
                 plan.threads)
        actors: list[Any] = []
        try:
            files = [ray.put(pack_model(self.folder, self.precision))] if self.ship_model else None
            actor_class = ray.remote(num_cpus=plan.threads)(EngineActor)
            actors = [actor_class.remote(str(self.folder.path), self.precision, plan.threads, self.provider, files)
                      for _ in range(plan.workers)]
            turn = cycle(actors)
            yield from in_order(chunks, lambda letters: counted(next(turn).score.remote(letters).future(),
                                                                self.chunks_by_pid), 2 * plan.workers)
        except ray.exceptions.RayError as exc:  # an actor died or failed to start; no letter text in the message
            log.error("ray scoring failed: %s", type(exc).__name__)
            raise XinfangError(f"scoring on Ray failed ({type(exc).__name__}); what was written is kept, "
                               "rerun to resume") from None
        finally:
            log.info("ray: chunks per actor %s", sorted(self.chunks_by_pid.values(), reverse=True))
            _end(ray, actors)
            if started:
                ray.shutdown()


def _end(ray: Any, actors: list[Any]) -> None:
    """The pool ends with the job, on a long-lived cluster too: shipped files removed, then the actors killed."""
    with suppress(ray.exceptions.RayError):  # an actor that died or hangs has nothing more to clean
        ray.get([a.close.remote() for a in actors], timeout=30)
    for actor in actors:
        ray.kill(actor)
