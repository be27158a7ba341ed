"""The results store on SQLite and on a real PostgreSQL server alike: tables made and upgraded by the
migrations (a store made before them included), JSONB on PostgreSQL, the latest row of an id with the key
that sent it, `xinfang db upgrade`, and concurrent upgrades by workers starting together."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from pg_cluster import BACKENDS, backend_url
from sqlalchemy import create_engine, inspect, text
from typer.testing import CliRunner

from xinfang.cli import app as cli
from xinfang.serving.migrations import alembic_config, head_revision, target_metadata, upgrade
from xinfang.serving.store import ResultsStore, ScoredLetter, utcnow


@pytest.fixture(params=BACKENDS)
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    return backend_url(request, request.param) or f"sqlite:///{tmp_path / 'results.sqlite'}"


def row(letter_id: str, label: str | None = None, **kw: object) -> ScoredLetter:
    values: dict = {"letter_id": letter_id, "model_name": "m", "model_version": "v", "precision": "fp32",
                    "scored_at": utcnow(), "route": "auto", "scores": {"id": letter_id, "n": 1},
                    "signature": b"\1" * 8, "submitter_hash": None, "text": None, "meta": None,
                    "api_key_label": label}
    return ScoredLetter(**{**values, **kw})


def test_migrations_build_exactly_the_declared_tables(store_url: str):
    """A new database gets every migration, and the newest one matches the tables the code declares
    (a table or column added to the models without a migration fails here)."""
    store = ResultsStore(store_url)
    try:
        assert store.revisions == (None, head_revision())
        with store.engine.connect() as conn:
            assert compare_metadata(MigrationContext.configure(conn), target_metadata()) == []
            names = set(inspect(conn).get_table_names())
        assert {"scored_letters", "store_heartbeat", "api_rate_limits", "alembic_version"} <= names
        assert ResultsStore(store_url).revisions == (head_revision(), head_revision())  # opening again: no-op
    finally:
        store.close()


def test_store_made_before_migrations_is_upgraded_in_place(store_url: str):
    """A store that `create_all` made (no alembic_version table) is stamped as the baseline and upgraded,
    its rows kept; on PostgreSQL its JSON columns become JSONB."""
    engine = create_engine(store_url)
    upgrade(engine, "0001")
    with engine.begin() as conn:
        conn.execute(text("DROP TABLE alembic_version"))
        conn.execute(text("INSERT INTO scored_letters (letter_id, model_name, model_version, precision, scored_at, "
                          "route, scores, signature) VALUES ('old-1', 'm', 'v', 'fp32', :at, 'auto', :scores, :sig)"),
                     {"at": utcnow(), "scores": '{"id": "old-1"}', "sig": b"\0" * 8})
    engine.dispose()
    store = ResultsStore(store_url)
    try:
        assert store.revisions == ("0001", head_revision())
        old = store.latest("old-1")
        assert old is not None and old.scores == {"id": "old-1"} and old.api_key_label is None
        store.add_many([row("new-1", "clerk", meta={"k": ["值", 1]})])
        assert store.latest("new-1").meta == {"k": ["值", 1]}
        types = {c["name"]: type(c["type"]).__name__ for c in inspect(store.engine).get_columns("scored_letters")}
        if store.engine.dialect.name == "postgresql":
            assert types["scores"] == types["metadata"] == "JSONB"
    finally:
        store.close()


def test_every_migration_can_be_undone_and_redone(store_url: str):
    engine = create_engine(store_url)
    try:
        upgrade(engine)
        with engine.begin() as conn:
            command.downgrade(alembic_config(conn), "base")
            assert set(inspect(conn).get_table_names()) <= {"alembic_version"}
        assert upgrade(engine) == (None, head_revision())
    finally:
        engine.dispose()


def test_latest_row_of_an_id_names_its_key(store_url: str):
    store = ResultsStore(store_url)
    try:
        store.add_many([row("a/b 中", "clerk", scores={"v": 1}), row("other", "clerk")])
        store.add_many([row("a/b 中", "desk-2", scores={"v": 2})])
        latest = store.latest("a/b 中")
        assert latest is not None and latest.scores == {"v": 2} and latest.api_key_label == "desk-2"
        assert store.latest("missing") is None and store.count() == 3
    finally:
        store.close()


def test_db_upgrade_command(store_url: str):
    runner = CliRunner()
    first = runner.invoke(cli, ["db", "upgrade", "--url", store_url])
    assert first.exit_code == 0, first.output
    assert f"upgraded from an empty database to revision {head_revision()}" in first.output
    again = runner.invoke(cli, ["db", "upgrade", "--url", store_url])
    assert again.exit_code == 0 and f"already at revision {head_revision()}" in again.output
    bad = runner.invoke(cli, ["db", "upgrade", "--url", "postgresql+psycopg://nobody@/none?host=/nonexistent"])
    assert bad.exit_code == 2 and "cannot open the results store" in bad.output
    no_driver = runner.invoke(cli, ["db", "upgrade", "--url", "postgresql+pg8000://nobody@/none"])
    assert no_driver.exit_code == 2 and "no database driver 'pg8000'" in no_driver.output


def test_workers_starting_together_upgrade_once(postgres_cluster):
    """Several processes opening one new PostgreSQL database at once: one migrates (advisory lock), the
    others find it done; none fails on a half-made table."""
    url = postgres_cluster.new_database()
    results: list[object] = []

    def open_store() -> None:
        try:
            store = ResultsStore(url)
            results.append(store.revisions)
            store.close()
        except Exception as exc:  # collected, asserted below
            results.append(exc)

    threads = [threading.Thread(target=open_store) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    head = head_revision()
    assert sorted(results, key=str) == sorted([(None, head)] + [(head, head)] * 3, key=str), results


def test_nul_characters_are_stored_not_refused(store_url: str):
    """PostgreSQL refuses U+0000 in text and JSONB, and a refused row fails its whole micro-batch: there it is
    stored as U+FFFD; SQLite keeps it as it is."""
    store = ResultsStore(store_url)
    try:
        store.add_many([row("nul", text="举报\x00某某", meta={"k\x00": ["v\x00"]}, scores={"q": "a\x00"})])
        got = store.latest("nul")
        c = "\x00" if store.engine.dialect.name == "sqlite" else "\ufffd"
        assert got is not None and got.text == f"举报{c}某某"
        assert got.meta == {f"k{c}": [f"v{c}"]} and got.scores == {"q": f"a{c}"}
    finally:
        store.close()


def test_stored_rows_commit_durably_whatever_the_server_default(store_url: str):
    """A 200 means stored: on PostgreSQL the results' transaction commits with synchronous_commit on, even on
    a server whose default is off (as the test cluster's is)."""
    store = ResultsStore(store_url)
    seen: list[str] = []
    try:
        if store.postgres:
            with store.engine.connect() as conn:
                assert conn.execute(text("SHOW synchronous_commit")).scalar() == "off"
        store.add_many([row("d-1")], also=lambda session: seen.append(
            session.execute(text("SHOW synchronous_commit")).scalar() if store.postgres else "sqlite"))
        assert seen == (["on"] if store.postgres else ["sqlite"])
        assert store.latest("d-1") is not None
    finally:
        store.close()
