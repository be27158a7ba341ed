"""Micro-batching: letters from concurrent requests are queued and scored together off the event loop."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Generic, TypeVar

T = TypeVar("T")
R = TypeVar("R")
log = logging.getLogger("xinfang.serving.batcher")


class QueueFull(Exception):
    """The queue has no room for the submitted items now; the client should retry later."""


class TooManyItems(Exception):
    """More items in one submission than the queue can ever hold: retrying cannot help."""


class BatcherClosed(Exception):
    """The batcher is not running (not started yet, or shutting down)."""


@dataclass(eq=False)
class _Job(Generic[T, R]):
    item: T
    cost: int
    future: asyncio.Future[R]


@dataclass(eq=False)
class _Flow(Generic[T, R]):
    """The items of one submission still waiting, in order."""

    jobs: deque[_Job[T, R]]
    seq: int  # arrival order
    passed_over: int = 0  # micro-batches run since this submission last had an item in one


class MicroBatcher(Generic[T, R]):
    """Runs `process(items) -> results` (same order) in one worker thread on micro-batches of queued items
    and hands each waiting caller its results.

    A micro-batch holds up to `max_batch` items and `max_cost` cost (tokens), except that a single item
    always fits. It is filled with the cheapest next items of the waiting submissions first, so a short
    letter does not wait behind long ones; but a submission passed over by one micro-batch goes first in
    the next, so long letters are never starved either. `submit` raises QueueFull at once when the queue
    lacks room for all its items. An item whose caller has gone (its `submit` was cancelled) leaves the
    queue at once and is never processed. When a micro-batch fails, each of its items is processed again
    alone, so one bad item fails only its own caller; except for `shared_failures` (a store that is down),
    which no item causes: those fail the whole micro-batch at once, with no retries."""

    def __init__(self, process: Callable[[list[T]], list[R]], max_batch: int = 16, max_wait_ms: float = 2.0,
                 queue_size: int = 256, max_cost: int | None = None,
                 shared_failures: tuple[type[Exception], ...] = ()):
        if max_batch < 1 or queue_size < 1:
            raise ValueError("max_batch and queue_size must be positive")
        self.process = process
        self.max_batch = max_batch
        self.max_wait = max_wait_ms / 1000
        self.queue_size = queue_size
        self.max_cost = max_cost
        self.shared_failures = shared_failures
        self._flows: list[_Flow[T, R]] = []  # one per waiting submission
        self._arrivals = 0
        self._waiting = 0
        self._wake: asyncio.Event | None = None
        self._task: asyncio.Task[None] | None = None
        self._executor: ThreadPoolExecutor | None = None
        self.batches = 0  # micro-batches run so far
        self.items = 0  # items scored so far

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    def qsize(self) -> int:
        return self._waiting

    async def start(self) -> None:
        self._wake = asyncio.Event()
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="xinfang-score")
        self._task = asyncio.create_task(self._run(), name="xinfang-microbatcher")

    async def close(self) -> None:
        """Stop the worker; callers still waiting get BatcherClosed."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        for flow in self._flows:
            _fail(flow.jobs, BatcherClosed("the server is shutting down"))
        self._flows.clear()
        self._waiting = 0
        if self._executor is not None:
            self._executor.shutdown(wait=True)
            self._executor = None

    async def submit(self, items: Sequence[T], costs: Sequence[int] | None = None) -> list[R]:
        """Queue all items (or none: QueueFull, TooManyItems) and wait for their results, in order."""
        if not self.running or self._wake is None:
            raise BatcherClosed("the scorer is not running")
        if len(items) > self.queue_size:
            raise TooManyItems(f"{len(items)} items; the queue holds at most {self.queue_size}")
        if self.queue_size - self._waiting < len(items):
            raise QueueFull(f"{self._waiting} letters waiting; no room for {len(items)} more")
        loop = asyncio.get_running_loop()
        flow: _Flow[T, R] = _Flow(deque(
            _Job(item, max(1, int(cost)), loop.create_future())
            for item, cost in zip(items, costs if costs is not None else [1] * len(items), strict=True)),
            self._arrivals)
        self._arrivals += 1
        futures = [job.future for job in flow.jobs]
        self._flows.append(flow)
        self._waiting += len(flow.jobs)
        self._wake.set()
        try:
            results = await asyncio.gather(*futures, return_exceptions=True)  # every exception retrieved
        except asyncio.CancelledError:  # the caller has gone: what is still queued leaves the queue
            self._waiting -= len(flow.jobs)
            flow.jobs.clear()
            raise
        for r in results:
            if isinstance(r, BaseException):
                raise r
        return results  # type: ignore[return-value]

    @staticmethod
    def _priority(flow: _Flow[T, R], served: set[int]) -> tuple[int, int, int]:
        """A submission passed over last time first (oldest first, one item), then the cheapest next item."""
        if flow.passed_over and flow.seq not in served:
            return 0, 0, flow.seq
        return 1, flow.jobs[0].cost, flow.seq

    def _take(self) -> list[_Job[T, R]]:
        """The next micro-batch, within max_batch items and max_cost (see the class docstring)."""
        self._flows = [f for f in self._flows if f.jobs]
        waiting = list(self._flows)
        served: set[int] = set()
        batch: list[_Job[T, R]] = []
        cost = 0
        while len(batch) < self.max_batch:
            candidates = [f for f in waiting if f.jobs]
            if not candidates:
                break
            flow = min(candidates, key=lambda f: self._priority(f, served))
            job = flow.jobs[0]
            if batch and self.max_cost is not None and cost + job.cost > self.max_cost:
                break
            flow.jobs.popleft()
            self._waiting -= 1
            if job.future.done():
                continue
            batch.append(job)
            cost += job.cost
            served.add(flow.seq)
        for flow in waiting:
            flow.passed_over = 0 if flow.seq in served else flow.passed_over + 1
        return batch

    async def _collect(self) -> list[_Job[T, R]]:
        assert self._wake is not None
        while True:
            while not self._waiting:
                self._wake.clear()
                await self._wake.wait()
            loop = asyncio.get_running_loop()
            deadline = loop.time() + self.max_wait
            while self._waiting < self.max_batch and (remaining := deadline - loop.time()) > 0:
                self._wake.clear()
                try:
                    async with asyncio.timeout(remaining):
                        await self._wake.wait()
                except TimeoutError:
                    break
            batch = self._take()
            if batch:
                return batch

    async def _process(self, jobs: list[_Job[T, R]]) -> list[R]:
        assert self._executor is not None
        results = await asyncio.get_running_loop().run_in_executor(
            self._executor, self.process, [job.item for job in jobs])
        if len(results) != len(jobs):
            raise RuntimeError(f"process returned {len(results)} results for {len(jobs)} items")
        return results

    async def _run(self) -> None:
        while True:
            batch = await self._collect()
            try:
                outcome = await self._outcomes(batch)
            except asyncio.CancelledError:
                _fail(batch, BatcherClosed("the server is shutting down"))
                raise
            self.batches += 1
            self.items += len(batch)
            for job, result, error in outcome:
                if job.future.done():
                    continue
                if error is not None:
                    job.future.set_exception(error)
                else:
                    job.future.set_result(result)  # type: ignore[arg-type]

    async def _outcomes(self, batch: list[_Job[T, R]]) -> list[tuple[_Job[T, R], R | None, Exception | None]]:
        """(job, result, error) for each job: the micro-batch at once, or each job alone if that fails."""
        try:
            return [(job, result, None) for job, result in zip(batch, await self._process(batch), strict=True)]
        except Exception as exc:
            if len(batch) == 1 or isinstance(exc, self.shared_failures):
                log.error("%d item(s) failed: %s", len(batch), type(exc).__name__, exc_info=exc)
                return [(job, None, exc) for job in batch]
            log.warning("micro-batch of %d failed (%s); processing each item alone", len(batch), type(exc).__name__)
        outcome: list[tuple[_Job[T, R], R | None, Exception | None]] = []
        for job in batch:
            if job.future.done():  # its caller has gone
                continue
            try:
                (result,) = await self._process([job])
            except Exception as exc:
                log.error("an item failed on its own: %s", type(exc).__name__, exc_info=exc)
                outcome.append((job, None, exc))
            else:
                outcome.append((job, result, None))
        return outcome


def _fail(jobs: Sequence[_Job], exc: BaseException) -> None:
    for job in jobs:
        if not job.future.done():
            job.future.set_exception(exc)
