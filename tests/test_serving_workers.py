"""Several workers, one truth: `serve --workers N` on PostgreSQL (refused on SQLite), and the near-duplicate
index in the database, so a letter sent to any worker finds its near-copies sent to any other."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator

import httpx
import psutil
import pytest
from fastapi.testclient import TestClient
from pg_cluster import BACKENDS, backend_url
from test_serving_api import CAMPAIGN, LETTER, make_settings
from typer.testing import CliRunner

from xinfang.cli import app as cli
from xinfang.engine import Engine
from xinfang.near_duplicates import lsh_bands
from xinfang.serving.app import create_app
from xinfang.serving.shared_index import BandKey, IndexedLetter
from xinfang.serving.store import ResultsStore

SUBMITTER_KEY = "workers-test-secret"
COPY = CAMPAIGN.replace("恳请重视", "请求重视").replace("2万元", "3万元")


@pytest.fixture(scope="module")
def engine(tiny_model_dir):
    return Engine(tiny_model_dir, precision="fp32")


def test_bands_are_sized_from_the_threshold():
    assert lsh_bands(0.8) == 32 and lsh_bands(0.9) == 16 and lsh_bands(0.5) == 64
    for t in (0.5, 0.7, 0.8, 0.9, 0.95):  # a pair at the threshold is almost surely a candidate
        b = lsh_bands(t)
        assert 1 - (1 - t ** (128 // b)) ** b >= 0.999


def test_sqlite_refuses_more_than_one_worker(tmp_path, monkeypatch):
    monkeypatch.setenv("XINFANG_STATE_DIR", str(tmp_path))
    monkeypatch.delenv("XINFANG_STORE_URL", raising=False)
    from xinfang.config import get_settings
    get_settings.cache_clear()
    try:
        r = CliRunner().invoke(cli, ["serve", "--workers", "2", "--no-auth"])
    finally:
        get_settings.cache_clear()
    assert r.exit_code == 2, r.output
    assert "--workers 2 needs a PostgreSQL results store" in " ".join(r.output.split())


@pytest.mark.parametrize("backend", BACKENDS)
def test_two_apps_on_one_database_share_near_duplicates(request, tmp_path, engine, backend):
    """Two apps (two workers' worth of state: model, batcher, index) on one database: a letter scored by one
    finds near-copies scored by the other, both ways, and the index rows follow the first letter of an id."""
    url = backend_url(request, backend)
    one = make_settings(tmp_path, auth_enabled=False, store_url=url, submitter_key=SUBMITTER_KEY)
    two = one.with_overrides(store_url=one.results_store_url)  # the same database (SQLite: one's file)
    with TestClient(create_app(one, engine=engine)) as a, TestClient(create_app(two, engine=engine)) as b:
        assert a.post("/v1/letters:score", json={"id": "w-1", "text": CAMPAIGN}).json()["duplicates"] == []
        got = b.post("/v1/letters:score", json={"id": "w-2", "text": COPY, "submitter": "S"}).json()
        assert [d["id"] for d in got["duplicates"]] == ["w-1"]
        got = a.post("/v1/letters:score", json={"id": "w-3", "text": COPY + "。", "submitter": "S"}).json()
        assert {d["id"] for d in got["duplicates"]} == {"w-1", "w-2"}
        mass_copy = [i for i in got["malicious"]["indicators"] if i.get("source") == "duplicates"]
        assert len(mass_copy) == 1 and mass_copy[0]["same_submitter"] is True
        again = b.post("/v1/letters:score", json={"id": "w-1", "text": LETTER}).json()  # an id sent again
        assert {d["id"] for d in again["duplicates"]} == set()  # compared as a new text; itself left out
    store = ResultsStore(one.results_store_url)
    try:
        with store.engine.connect() as conn:
            ids = conn.execute(IndexedLetter.__table__.select().order_by(IndexedLetter.seq)).all()
            keys = conn.execute(BandKey.__table__.select()).all()
        assert [r.letter_id for r in ids] == ["w-1", "w-2", "w-3"]  # the first text of w-1 stays indexed
        assert len(keys) <= 3 * lsh_bands(0.8) and {k.bands for k in keys} == {32}
    finally:
        store.close()


def test_index_is_filled_from_rows_stored_before_it(tmp_path, engine):
    """A store whose rows predate the shared index (its rows lack index rows) is indexed at start-up."""
    settings = make_settings(tmp_path, auth_enabled=False, submitter_key=SUBMITTER_KEY)
    with TestClient(create_app(settings, engine=engine)) as a:
        a.post("/v1/letters:score", json={"id": "old-1", "text": CAMPAIGN})
    store = ResultsStore(settings.results_store_url)
    with store.engine.begin() as conn:
        conn.execute(BandKey.__table__.delete())
        conn.execute(IndexedLetter.__table__.delete())
    store.close()
    with TestClient(create_app(settings, engine=engine)) as b:
        assert b.get("/readyz").json()["queue"]["indexed_letters"] == 1
        got = b.post("/v1/letters:score", json={"id": "new-1", "text": COPY}).json()
        assert [d["id"] for d in got["duplicates"]] == ["old-1"]


# ---- real processes: `xinfang serve --workers 2` and a second server, one PostgreSQL ---------------------

def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _post(base: str, body: dict, deadline: float) -> dict:
    """POST a letter, retrying while the workers start (503 not_ready or refused connections)."""
    while True:
        try:
            r = httpx.post(f"{base}/v1/letters:score", json=body, timeout=60)
            if r.status_code != 503:
                assert r.status_code == 200, r.text
                return r.json()
        except httpx.TransportError:
            pass
        assert time.monotonic() < deadline, "the server did not answer in time"
        time.sleep(0.5)


def _spawned_workers(pid: int) -> list[int]:
    """The live worker processes of a `serve --workers N` (a killed one is a zombie until reaped)."""
    found = []
    for child in psutil.Process(pid).children():
        try:
            if child.status() != psutil.STATUS_ZOMBIE and "spawn_main" in " ".join(child.cmdline()):
                found.append(child.pid)
        except psutil.Error:
            continue
    return found


@pytest.fixture(scope="module")
def servers(request, tmp_path_factory, tiny_model_dir) -> Iterator[tuple[str, str, int, str]]:
    """Two servers on one new PostgreSQL database: `serve --workers 2` and `serve` (another 'machine')."""
    url = backend_url(request, "postgresql")
    tmp_path = tmp_path_factory.mktemp("workers")
    env = {**os.environ, "XINFANG_STATE_DIR": str(tmp_path), "XINFANG_STORE_URL": url,
           "XINFANG_SUBMITTER_KEY": SUBMITTER_KEY, "XINFANG_THREADS": "1", "XINFANG_LOG_FORMAT": "text"}
    procs, bases = [], []
    for workers in (2, 1):
        port = _free_port()
        cmd = [sys.executable, "-m", "xinfang.cli", "serve", "--no-auth", "--port", str(port),
               "--model", str(tiny_model_dir), "--workers", str(workers), "--log-level", "warning"]
        procs.append(subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE))
        bases.append(f"http://127.0.0.1:{port}")
    try:
        yield bases[0], bases[1], procs[0].pid, url
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            try:
                p.wait(timeout=30)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()


def test_worker_processes_share_near_duplicates(servers):
    multi, single, pid, _ = servers
    deadline = time.monotonic() + 300
    assert _post(single, {"id": "p-1", "text": CAMPAIGN}, deadline)["duplicates"] == []
    got = [_post(multi, {"id": f"p-{i}", "text": COPY + "。" * (i % 2)}, deadline) for i in range(2, 8)]
    for i, result in enumerate(got, start=2):  # whichever worker answered, every earlier copy is found
        assert {d["id"] for d in result["duplicates"]} == {f"p-{j}" for j in range(1, i)}
    back = _post(single, {"id": "p-8", "text": COPY}, deadline)
    assert {d["id"] for d in back["duplicates"]} == {f"p-{j}" for j in range(1, 8)}
    assert len(_spawned_workers(pid)) == 2  # `--workers 2` runs two worker processes


def test_a_killed_worker_loses_no_answered_letter(servers):
    """kill -9 one of two workers: the other goes on answering, uvicorn starts a new one, and every letter
    answered 200 has its row in the store."""
    multi, _, pid, url = servers
    deadline = time.monotonic() + 300
    _post(multi, {"id": "k-0", "text": LETTER}, deadline)  # both servers are up (the test may run alone)
    victim = _spawned_workers(pid)[0]
    os.kill(victim, signal.SIGKILL)
    answered = [_post(multi, {"id": f"k-{i}", "text": LETTER + str(i)}, deadline)["id"] for i in range(1, 9)]
    while not (len(now := _spawned_workers(pid)) == 2 and victim not in now):
        assert time.monotonic() < deadline, "uvicorn did not replace the killed worker"
        time.sleep(0.5)
    store = ResultsStore(url)
    try:
        stored = {row.letter_id for row in store.rows()}
    finally:
        store.close()
    assert {"k-0", *answered} <= stored
