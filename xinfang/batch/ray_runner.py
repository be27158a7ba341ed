"""Scoring on Ray Data: windows of letters through map_batches with a pool of Engine actors; the driver
keeps reading, checking and writing, so the output, error and resume contract is the local one."""

from __future__ import annotations

import logging
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from xinfang.batch.chunks import Chunk, Failed, Outcome, Scored, score_texts
from xinfang.batch.dedup import new_hasher
from xinfang.batch.log import get_logger
from xinfang.batch.resume import decode_sig, encode_sig
from xinfang.engine import Engine, LetterIn
from xinfang.errors import XinfangError
from xinfang.model_folder import REQUIRED, ModelFolder
from xinfang.result import LetterResult

log = get_logger()


def import_ray() -> Any:
    try:
        import ray
        import ray.data  # noqa: F401
    except ImportError:
        raise XinfangError("--engine ray needs Ray Data: pip install -e '.[distributed]'") from None
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
    """Ray Data callable class: loads one Engine, then scores numpy batches {pos, id, text} into
    {pos, result (JSON), failed (exception class or ""), sig (base64 MinHash)}."""

    def __init__(self, model_path: str, precision: str, threads: int, model_files: list | None = None):
        self._tmp: str | None = None
        if model_files:
            import ray

            self._tmp = tempfile.mkdtemp(prefix="xinfang-model-")
            model_path = str(unpack_model(ray.get(model_files[0]), Path(self._tmp) / "model"))
        self.engine = Engine(model_path, precision=precision, threads=threads)
        self.hasher = new_hasher()

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        texts = [str(t) for t in batch["text"]]
        letters = [LetterIn(str(i), t) for i, t in zip(batch["id"], texts, strict=True)]
        results = score_texts(self.engine, letters)
        return {
            "pos": batch["pos"],
            "result": np.array([r.model_dump_json() if isinstance(r, LetterResult) else ""
                                for r in results], dtype=object),
            "failed": np.array([r.error if isinstance(r, Failed) else "" for r in results], dtype=object),
            "sig": np.array([encode_sig(self.hasher.signature(t)) for t in texts], dtype=object),
        }

    def __del__(self) -> None:
        if self._tmp:
            shutil.rmtree(self._tmp, ignore_errors=True)


class RayScorer:
    """Scores chunks on Ray: a local Ray (num_cpus) or the cluster at `address`. Chunks are gathered into
    windows of about `window` letters; each window is one Ray Data dataset (from_items) mapped by a pool
    of `concurrency` EngineActors and is handed back chunk by chunk, in input order."""

    def __init__(self, folder: ModelFolder, precision: str = "int8", threads: int = 1, batch_size: int = 64,
                 concurrency: int = 2, address: str | None = None, num_cpus: int = 2, window: int = 2048,
                 ship_model: bool | None = None):
        self.folder, self.precision, self.threads = folder, precision, max(1, threads)
        self.batch_size, self.concurrency, self.window = batch_size, max(1, concurrency), max(1, window)
        self.address, self.num_cpus = address, num_cpus
        if not address:  # ask a local Ray for no more CPUs than it has, or the actors never start
            self.threads = min(self.threads, max(1, num_cpus))
            self.concurrency = max(1, min(self.concurrency, num_cpus // self.threads))
        self.ship_model = bool(address) if ship_model is None else ship_model

    def run(self, chunks: Iterator[Chunk]) -> Iterator[tuple[Chunk, list[Outcome]]]:
        ray = import_ray()
        started = not ray.is_initialized()
        if started:
            ray.init(address=self.address or None, num_cpus=None if self.address else self.num_cpus,
                     include_dashboard=False, log_to_driver=False, logging_level=logging.WARNING)
        logging.getLogger("ray.data").setLevel(logging.ERROR)  # our own progress bar replaces its chatter
        ray.data.DataContext.get_current().enable_progress_bars = False
        log.info("ray: %s, %d actors, window %d letters", self.address or "local", self.concurrency,
                 self.window)
        try:
            files = [ray.put(pack_model(self.folder, self.precision))] if self.ship_model else None
            window: list[Chunk] = []
            size = 0
            for chunk in chunks:
                window.append(chunk)
                size += len(chunk.letters)
                if size >= self.window:
                    yield from self._score(ray, window, files)
                    window, size = [], 0
            if window:
                yield from self._score(ray, window, files)
        finally:
            if started:
                ray.shutdown()

    def _score(self, ray: Any, window: list[Chunk], files: list | None
               ) -> Iterator[tuple[Chunk, list[Outcome]]]:
        items = [{"pos": k, "id": x.id, "text": x.text}
                 for k, x in enumerate(x for chunk in window for x in chunk.letters)]
        outcomes: list[Outcome | None] = [None] * len(items)
        if items:
            n_batches = -(-len(items) // self.batch_size)
            ds = ray.data.from_items(items).map_batches(
                EngineActor, batch_size=self.batch_size, batch_format="numpy",
                compute=ray.data.ActorPoolStrategy(size=min(self.concurrency, n_batches)),
                num_cpus=self.threads,
                fn_constructor_kwargs={"model_path": str(self.folder.path), "precision": self.precision,
                                       "threads": self.threads, "model_files": files})
            try:
                for b in ds.iter_batches(batch_size=None, batch_format="numpy"):
                    for pos, res, failed, sig in zip(b["pos"].tolist(), b["result"], b["failed"], b["sig"],
                                                     strict=True):
                        outcomes[pos] = (Failed(str(failed)) if failed
                                         else Scored(LetterResult.model_validate_json(res), decode_sig(sig)))
            except Exception as exc:  # Ray wraps worker errors; keep letter text out of the message
                log.error("ray scoring failed: %s", type(exc).__name__)
                raise XinfangError(f"scoring on Ray failed ({type(exc).__name__}); what was written is kept, "
                                   "rerun to resume") from None
        if any(o is None for o in outcomes):
            raise XinfangError("Ray returned fewer results than letters sent; rerun to resume")
        k = 0
        for chunk in window:
            yield chunk, outcomes[k:k + len(chunk.letters)]  # type: ignore[misc]
            k += len(chunk.letters)
