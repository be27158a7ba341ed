"""Micro-batching: concurrent letters share engine calls, a full queue answers 503 with Retry-After."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest
from fastapi.testclient import TestClient

from xinfang.config import Settings
from xinfang.engine import Engine
from xinfang.serving.app import create_app
from xinfang.serving.batcher import MicroBatcher, QueueFull

LETTER = "我实名举报某街道办副主任王某某，2019年3月在某小区工地收受工程老板红包5万元，有转账记录和照片为证。"


def test_concurrent_items_are_batched_and_answered_in_order():
    sizes: list[int] = []

    def process(items: list[int]) -> list[int]:
        sizes.append(len(items))
        return [x * 10 for x in items]

    async def main() -> list[list[int]]:
        batcher = MicroBatcher(process, max_batch=4, max_wait_ms=20, queue_size=64)
        await batcher.start()
        try:
            return await asyncio.gather(*(batcher.submit([i, i + 100]) for i in range(5)))
        finally:
            await batcher.close()

    out = asyncio.run(main())
    assert out == [[i * 10, (i + 100) * 10] for i in range(5)]
    assert sum(sizes) == 10 and max(sizes) <= 4 and len(sizes) <= 4


def test_full_queue_refuses_at_once_and_errors_reach_every_caller():
    gate, entered = threading.Event(), threading.Event()

    def process(items: list[int]) -> list[int]:
        entered.set()
        gate.wait(5)
        if -1 in items:
            raise ValueError("bad batch")
        return items

    async def main() -> None:
        batcher = MicroBatcher(process, max_batch=2, max_wait_ms=0, queue_size=2)
        await batcher.start()
        try:
            busy = asyncio.create_task(batcher.submit([1]))
            while not entered.is_set():  # the worker has taken item 1 and waits at the gate
                await asyncio.sleep(0.001)
            waiting = asyncio.create_task(batcher.submit([-1, 2]))
            await asyncio.sleep(0.01)
            assert batcher.qsize() == 2
            with pytest.raises(QueueFull):
                await batcher.submit([3])
            gate.set()
            assert await busy == [1]
            with pytest.raises(ValueError, match="bad batch"):
                await waiting
            assert await batcher.submit([4]) == [4]  # the worker survives a failed batch
        finally:
            gate.set()
            await batcher.close()

    asyncio.run(main())


class GatedEngine:
    """The tiny engine, held at a gate so the queue behind it fills up."""

    def __init__(self, inner: Engine):
        self.inner, self.folder, self.model_ref = inner, inner.folder, inner.model_ref
        self.entered, self.release = threading.Event(), threading.Event()

    def score(self, letters):
        if letters[0].id != "warm-up":
            self.entered.set()
            assert self.release.wait(20)
        return self.inner.score(letters)


def test_full_queue_is_503_with_retry_after(tiny_model_dir, tmp_path):
    engine = GatedEngine(Engine(tiny_model_dir))
    settings = Settings(state_dir=tmp_path, auth_enabled=False, queue_size=1, microbatch_size=1,
                        microbatch_wait_ms=0, max_batch_letters=1)
    answers: dict[str, int] = {}
    with TestClient(create_app(settings, engine=engine)) as client:
        def post(letter_id: str) -> None:
            answers[letter_id] = client.post("/v1/letters:score", json={"id": letter_id, "text": LETTER}).status_code

        first = threading.Thread(target=post, args=("q-1",))
        first.start()
        assert engine.entered.wait(20)
        second = threading.Thread(target=post, args=("q-2",))
        second.start()
        batcher = client.app.state.xinfang.batcher
        deadline = time.monotonic() + 20
        while batcher.qsize() < 1 and time.monotonic() < deadline:
            time.sleep(0.005)
        r = client.post("/v1/letters:score", json={"id": "q-3", "text": LETTER})
        assert r.status_code == 503 and r.headers["Retry-After"] == "1"
        assert r.json()["error"]["code"] == "queue_full"
        engine.release.set()
        first.join(20)
        second.join(20)
    assert answers == {"q-1": 200, "q-2": 200}


def test_a_failing_item_fails_alone():
    calls: list[list[int]] = []

    def process(items: list[int]) -> list[int]:
        calls.append(list(items))
        if -1 in items:
            raise ValueError("bad item")
        return [x * 10 for x in items]

    async def main() -> list:
        batcher = MicroBatcher(process, max_batch=8, max_wait_ms=50, queue_size=16)
        await batcher.start()
        try:
            return await asyncio.gather(batcher.submit([1]), batcher.submit([-1]), batcher.submit([2, 3]),
                                        return_exceptions=True)
        finally:
            await batcher.close()

    good, bad, pair = asyncio.run(main())
    assert good == [10] and pair == [20, 30]
    assert isinstance(bad, ValueError)
    assert calls[0] == [1, -1, 2, 3]  # one micro-batch failed, then each letter was tried on its own


def test_a_shared_failure_fails_the_micro_batch_once_without_retries():
    calls: list[list[int]] = []

    class StoreDown(RuntimeError):
        pass

    def process(items: list[int]) -> list[int]:
        calls.append(list(items))
        raise StoreDown("database locked")

    async def main() -> list:
        batcher = MicroBatcher(process, max_batch=8, max_wait_ms=50, queue_size=16, shared_failures=(StoreDown,))
        await batcher.start()
        try:
            return await asyncio.gather(batcher.submit([1]), batcher.submit([2, 3]), return_exceptions=True)
        finally:
            await batcher.close()

    outcomes = asyncio.run(main())
    assert all(isinstance(o, StoreDown) for o in outcomes)
    assert calls == [[1, 2, 3]]  # no letter-by-letter retries: the store, not a letter, failed


def run_held(max_batch: int, submissions: list[tuple[list[str], list[int]]]) -> list[list[str]]:
    """The micro-batches a batcher (max_cost 100) forms when the first submission's first item holds the
    worker until all the others are queued."""
    gate, entered = threading.Event(), threading.Event()
    order: list[list[str]] = []

    def process(items: list[str]) -> list[str]:
        order.append(list(items))
        entered.set()
        gate.wait(5)
        return items

    async def main() -> None:
        batcher = MicroBatcher(process, max_batch=max_batch, max_wait_ms=0, queue_size=32, max_cost=100)
        await batcher.start()
        try:
            first, *rest = submissions
            tasks = [asyncio.create_task(batcher.submit(*first))]
            while not entered.is_set():
                await asyncio.sleep(0.001)
            tasks += [asyncio.create_task(batcher.submit(*sub)) for sub in rest]
            while batcher.qsize() < sum(len(items) for items, _ in submissions) - 1:
                await asyncio.sleep(0.001)
            gate.set()
            for task, (items, _) in zip(tasks, submissions, strict=True):
                assert await task == items
        finally:
            gate.set()
            await batcher.close()

    asyncio.run(main())
    return order


def test_a_short_request_does_not_wait_behind_long_letters():
    long = (["L1", "L2", "L3", "L4"], [150] * 4)  # each over max_cost: a micro-batch of its own
    order = run_held(16, [long, (["s1", "s2"], [5, 5])])
    assert order == [["L1"], ["s1", "s2"], ["L2"], ["L3"], ["L4"]]  # first in first out: s1, s2 came last


def test_long_letters_are_not_starved_by_short_ones():
    long = (["L1", "L2", "L3"], [150] * 3)
    order = run_held(2, [long, (["a1", "a2"], [5, 5]), (["b1", "b2"], [5, 5])])
    assert order == [["L1"], ["a1", "a2"], ["L2"], ["b1", "b2"], ["L3"]]  # passed over once, first next time


def test_a_withdrawn_request_frees_the_queue_and_is_never_processed():
    gate, entered = threading.Event(), threading.Event()
    seen: list[int] = []

    def process(items: list[int]) -> list[int]:
        seen.extend(items)
        entered.set()
        gate.wait(5)
        return items

    async def main() -> None:
        batcher = MicroBatcher(process, max_batch=4, max_wait_ms=0, queue_size=3)
        await batcher.start()
        try:
            first = asyncio.create_task(batcher.submit([1]))
            while not entered.is_set():
                await asyncio.sleep(0.001)
            gone = asyncio.create_task(batcher.submit([2, 3, 4]))
            while batcher.qsize() < 3:
                await asyncio.sleep(0.001)
            gone.cancel()
            with pytest.raises(asyncio.CancelledError):
                await gone
            assert batcher.qsize() == 0
            later = asyncio.create_task(batcher.submit([5, 6, 7]))  # room again at once
            gate.set()
            assert await first == [1] and await later == [5, 6, 7]
        finally:
            gate.set()
            await batcher.close()

    asyncio.run(main())
    assert seen == [1, 5, 6, 7]


def test_more_items_than_the_queue_holds_is_a_distinct_error():
    from xinfang.serving.batcher import TooManyItems

    async def main() -> None:
        batcher = MicroBatcher(lambda items: items, max_batch=4, max_wait_ms=0, queue_size=2)
        await batcher.start()
        try:
            with pytest.raises(TooManyItems):
                await batcher.submit([1, 2, 3])
        finally:
            await batcher.close()

    asyncio.run(main())
