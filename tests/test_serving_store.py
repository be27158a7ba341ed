"""A 200 means stored: a deleted, replaced, locked or read-only SQLite store gives 503 and /readyz 503,
and no failed insert puts letter text (SQL parameters) into a log."""

from __future__ import annotations

import logging
import sqlite3
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import event
from sqlalchemy.exc import SQLAlchemyError

from xinfang.config import Settings
from xinfang.engine import Engine
from xinfang.serving.app import create_app
from xinfang.serving.store import ResultsStore, ScoredLetter, StoreUnavailable, utcnow

LETTER = "我实名举报某街道办副主任，2019年3月在某小区工地收受工程老板红包5万元，有转账记录和照片为证。"
MARK = "zxqv-ascii-letter-words"  # ASCII letter text survives log redaction: only not logging it helps


@pytest.fixture(scope="module")
def engine(tiny_model_dir: Path) -> Engine:
    return Engine(tiny_model_dir, precision="fp32")


def make_settings(tmp_path: Path, **kw: object) -> Settings:
    return Settings(state_dir=tmp_path / "state", models_dir=tmp_path / "models", auth_enabled=False,
                    microbatch_wait_ms=1.0, **kw)


def row(letter_id: str, text: str | None = None) -> ScoredLetter:
    return ScoredLetter(letter_id=letter_id, model_name="m", model_version="v", precision="fp32",
                        scored_at=utcnow(), route="auto", scores={}, signature=b"\0" * 8, submitter_hash=None,
                        text=text, meta=None)


def remove_sqlite(path: Path) -> None:
    for p in path.parent.glob(path.name + "*"):  # the file and its -wal and -shm companions
        p.unlink()


def test_deleted_store_file_is_503_never_a_silent_200(engine: Engine, tmp_path: Path):
    """Issue 7 item 2: with the SQLite file deleted while serving, letters were answered 200 and stored nowhere."""
    settings = make_settings(tmp_path)
    path = tmp_path / "state" / "results.sqlite"
    with TestClient(create_app(settings, engine=engine)) as client:
        assert client.post("/v1/letters:score", json={"id": "a", "text": LETTER}).status_code == 200
        assert client.get("/readyz").status_code == 200
        remove_sqlite(path)
        for attempt in range(2):  # the pooled connection, then a fresh one
            r = client.post("/v1/letters:score", json={"id": f"b{attempt}", "text": LETTER})
            assert r.status_code == 503, r.text
            assert r.json()["error"]["code"] == "store_unavailable" and int(r.headers["Retry-After"]) > 0
        r = client.get("/readyz")
        assert r.status_code == 503 and r.json()["checks"]["store"] is False
        assert not path.exists()  # not silently recreated empty


def test_locked_store_is_503_and_logs_no_letter_text(engine: Engine, tmp_path: Path, caplog):
    """Issue 7 items 2 and 9: a locked database fails the letters (503) and readiness; with --store-text the
    failed insert's SQL parameters, letter text included, never reach a log."""
    settings = make_settings(tmp_path, store_text=True)
    path = tmp_path / "state" / "results.sqlite"
    store = ResultsStore(settings.results_store_url, busy_timeout_s=0.2, probe_timeout_s=0.1)
    letter = {"id": "locked-1", "text": f"{LETTER}{MARK} 赵六挪用扶贫款", "metadata": {"note": MARK}}
    with caplog.at_level(logging.DEBUG), TestClient(create_app(settings, engine=engine, store=store)) as client:
        lock = sqlite3.connect(path, isolation_level=None)
        lock.execute("BEGIN EXCLUSIVE")
        try:
            r = client.post("/v1/letters:score", json=letter)
            assert r.status_code == 503 and r.json()["error"]["code"] == "store_unavailable", r.text
            assert client.get("/readyz").status_code == 503
        finally:
            lock.execute("ROLLBACK")
            lock.close()
        assert client.get("/readyz").status_code == 200
        assert client.post("/v1/letters:score", json=letter).status_code == 200
    assert [x.text for x in store.rows("locked-1")] == [letter["text"]]  # stored once, when it was answered 200
    store.close()
    assert "StoreUnavailable" in caplog.text  # the failure is logged ...
    assert MARK not in caplog.text and "赵六" not in caplog.text and "扶贫" not in caplog.text  # ... its text not


def test_readiness_probes_a_write_not_a_select(tmp_path: Path):
    """SELECT 1 answered while writes failed; the probe commits a heartbeat row instead."""
    store = ResultsStore(f"sqlite:///{tmp_path / 'r.sqlite'}")
    assert store.engine.hide_parameters and store.ping()
    event.listen(store.engine, "connect", lambda conn, _rec: conn.execute("PRAGMA query_only = ON"))
    store.engine.dispose()  # new connections refuse writes, reads still work
    assert store.count() == 0
    assert store.ping() is False and "SQLITE_READONLY" in (store.probe() or "")
    with pytest.raises(StoreUnavailable) as err:
        store.add_many([row("r1", text=MARK)])
    assert isinstance(err.value, SQLAlchemyError) and MARK not in str(err.value)
    store.close()


def test_replaced_file_and_missing_file_are_errors(tmp_path: Path):
    path = tmp_path / "r.sqlite"
    store = ResultsStore(f"sqlite:///{path}")
    store.add_many([row("x1")])
    remove_sqlite(path)
    sqlite3.connect(path).close()  # someone puts a new, empty file in its place
    with pytest.raises(StoreUnavailable, match="deleted or replaced"):
        store.add_many([row("x2")])
    assert store.ping() is False
    store.close()
    remove_sqlite(path)
    store.engine.dispose()
    with pytest.raises(StoreUnavailable):  # a fresh connection does not create a file either
        store.add_many([row("x3")])
    assert not path.exists()
    assert ResultsStore(f"sqlite:///{path}").count() == 0  # opening a store creates its file


def test_full_disk_fails_letters_and_readiness(tmp_path: Path):
    """A full database refuses letters (503 upstream); a nearly full disk makes the store not ready even
    though the small heartbeat write could still reuse space."""
    store = ResultsStore(f"sqlite:///{tmp_path / 'r.sqlite'}")
    assert store.file is not None and store.ping()
    store.file.min_free_bytes = 1 << 62  # no disk has this much free
    assert store.ping() is False and "free for the results store" in (store.probe() or "")
    store.file.min_free_bytes = 0
    with store.engine.connect() as conn:
        pages = conn.exec_driver_sql("PRAGMA page_count").scalar()
    event.listen(store.engine, "connect", lambda conn, _rec: conn.execute(f"PRAGMA max_page_count = {pages}"))
    store.engine.dispose()
    with pytest.raises(StoreUnavailable, match="SQLITE_FULL"):
        store.add_many([row(f"f{i}", text="x" * 4000) for i in range(50)])
    assert store.count() == 0
    store.close()
