"""Micro-batching: letters from concurrent requests are queued and scored together off the event loop."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Generic, TypeVar

T = TypeVar("T")
R = TypeVar("R")
log = logging.getLogger("serving.batcher")


class QueueFull(Exception):
    """The queue has no room for the submitted items; the client should retry later."""


class BatcherClosed(Exception):
    """The batcher is not running (not started yet, or shutting down)."""


class MicroBatcher(Generic[T, R]):
    """Collects items in an asyncio queue for up to `max_wait_ms` or `max_batch` items, runs
    `process(items) -> results` (same order) in one worker thread and hands each waiting caller
    its result. `submit` raises QueueFull at once when the queue lacks room for all its items."""

    def __init__(self, process: Callable[[list[T]], list[R]], max_batch: int = 16, max_wait_ms: float = 2.0,
                 queue_size: int = 256):
        if max_batch < 1 or queue_size < 1:
            raise ValueError("max_batch and queue_size must be positive")
        self.process = process
        self.max_batch = max_batch
        self.max_wait = max_wait_ms / 1000
        self.queue_size = queue_size
        self._queue: asyncio.Queue[tuple[T, asyncio.Future[R]]] | None = None
        self._task: asyncio.Task[None] | None = None
        self._executor: ThreadPoolExecutor | None = None
        self.batches = 0  # micro-batches run so far
        self.items = 0  # items scored so far

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    def qsize(self) -> int:
        return self._queue.qsize() if self._queue is not None else 0

    async def start(self) -> None:
        self._queue = asyncio.Queue(maxsize=self.queue_size)
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="xinfang-score")
        self._task = asyncio.create_task(self._run(), name="xinfang-microbatcher")

    async def close(self) -> None:
        """Stop the worker; callers still waiting get BatcherClosed."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if self._queue is not None:
            while not self._queue.empty():
                _fail([self._queue.get_nowait()], BatcherClosed("the server is shutting down"))
        if self._executor is not None:
            self._executor.shutdown(wait=True)
            self._executor = None

    async def submit(self, items: Sequence[T]) -> list[R]:
        """Queue all items (or none: QueueFull) and wait for their results, in order."""
        if not self.running or self._queue is None:
            raise BatcherClosed("the scorer is not running")
        if self._queue.maxsize - self._queue.qsize() < len(items):
            raise QueueFull(f"{self._queue.qsize()} letters waiting; no room for {len(items)} more")
        loop = asyncio.get_running_loop()
        futures: list[asyncio.Future[R]] = []
        for item in items:  # no await between the room check and these puts: they cannot fail
            fut: asyncio.Future[R] = loop.create_future()
            self._queue.put_nowait((item, fut))
            futures.append(fut)
        results = await asyncio.gather(*futures, return_exceptions=True)  # every exception retrieved
        for r in results:
            if isinstance(r, BaseException):
                raise r
        return results  # type: ignore[return-value]

    async def _collect(self) -> list[tuple[T, asyncio.Future[R]]]:
        assert self._queue is not None
        batch = [await self._queue.get()]
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.max_wait
        try:
            while len(batch) < self.max_batch:
                if not self._queue.empty():
                    batch.append(self._queue.get_nowait())
                    continue
                remaining = deadline - loop.time()
                if remaining <= 0:
                    break
                try:
                    async with asyncio.timeout(remaining):  # Queue.get is cancel-safe: no item is lost
                        batch.append(await self._queue.get())
                except TimeoutError:
                    break
        except asyncio.CancelledError:
            _fail(batch, BatcherClosed("the server is shutting down"))
            raise
        return batch

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            batch = [(item, fut) for item, fut in await self._collect() if not fut.done()]  # skip abandoned
            if not batch:
                continue
            try:
                results = await loop.run_in_executor(self._executor, self.process, [item for item, _ in batch])
                if len(results) != len(batch):
                    raise RuntimeError(f"process returned {len(results)} results for {len(batch)} items")
            except asyncio.CancelledError:
                _fail(batch, BatcherClosed("the server is shutting down"))
                raise
            except Exception as exc:
                log.error("micro-batch of %d failed: %s", len(batch), type(exc).__name__, exc_info=exc)
                _fail(batch, exc)
                continue
            self.batches += 1
            self.items += len(batch)
            for (_, fut), result in zip(batch, results, strict=True):
                if not fut.done():
                    fut.set_result(result)


def _fail(batch: Sequence[tuple[object, asyncio.Future]], exc: BaseException) -> None:
    for _, fut in batch:
        if not fut.done():
            fut.set_exception(exc)
