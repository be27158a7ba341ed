"""Micro-batching: concurrent letters share engine calls, a full queue answers 503 with Retry-After."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest
from fastapi.testclient import TestClient

from serving.app import create_app
from serving.batcher import MicroBatcher, QueueFull
from xinfang.config import Settings
from xinfang.engine import Engine

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
