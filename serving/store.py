"""The results store (SQLAlchemy 2.0): one row per scored letter; SQLite by default, PostgreSQL by URL; its
tables are made and upgraded by xinfang.serving.migrations."""

from __future__ import annotations

import contextlib
import logging
import math
import os
import sqlite3
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

from alembic.util.exc import CommandError
from sqlalchemy import (
    DateTime,
    Integer,
    LargeBinary,
    String,
    create_engine,
    event,
    func,
    select,
    text,
    update,
)
from sqlalchemy.engine import Engine as SqlEngine
from sqlalchemy.engine import make_url
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.orm import Mapped, Session, mapped_column

from xinfang.serving.migrations import upgrade as upgrade_schema
from xinfang.serving.orm import Base, JsonDoc, LetterText

log = logging.getLogger("xinfang.serving.store")
MIN_FREE_BYTES = 16 * 1024 * 1024  # below this much free disk space an SQLite store is not ready


class ScoredLetter(Base):
    """A letter as scored: ids, model, time, the result JSON, route, MinHash signature and the label of the
    API key that sent it; the text and metadata only when the server was told to store them."""

    __tablename__ = "scored_letters"

    row_id: Mapped[int] = mapped_column("id", Integer, primary_key=True, autoincrement=True)
    letter_id: Mapped[str] = mapped_column(String(128), index=True)
    model_name: Mapped[str] = mapped_column(String(128))
    model_version: Mapped[str] = mapped_column(String(128))
    precision: Mapped[str] = mapped_column(String(8))
    scored_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    route: Mapped[str] = mapped_column(String(16))
    scores: Mapped[dict[str, Any]] = mapped_column(JsonDoc)
    signature: Mapped[bytes] = mapped_column(LargeBinary)
    submitter_hash: Mapped[str | None] = mapped_column(String(64), index=True)
    text: Mapped[str | None] = mapped_column(LetterText)
    meta: Mapped[dict[str, Any] | None] = mapped_column("metadata", JsonDoc)
    api_key_label: Mapped[str | None] = mapped_column(String(64))


class Heartbeat(Base):
    """One row the readiness probe rewrites: proof that a write still commits to the real database."""

    __tablename__ = "store_heartbeat"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    beat_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class StoreUnavailable(SQLAlchemyError):
    """The results store did not durably take a write (file gone or replaced, locked, disk full, down).
    Its message names the failure, never the statement's parameters (they may hold letter text)."""


@dataclass(frozen=True)
class StoredSignature:
    letter_id: str
    signature: bytes
    submitter_hash: str | None


def db_error_reason(exc: BaseException) -> str:
    """A log-safe name of a database error: class and driver error code, never the message or parameters."""
    orig = getattr(exc, "orig", None) or exc
    code = getattr(orig, "sqlite_errorname", None) or getattr(orig, "sqlstate", None)
    return f"{type(orig).__name__}{f' {code}' if code else ''}"


class SqliteFile:
    """The SQLite file a store writes, opened only if it exists (mode=rw: a deleted file is an error, never
    silently recreated) and checked around each commit: a file deleted or replaced since the store opened
    it means committed rows went nowhere."""

    def __init__(self, database: str, busy_timeout_s: float, min_free_bytes: int = MIN_FREE_BYTES):
        self.path = Path(database).expanduser().resolve()
        self.busy_timeout_s = busy_timeout_s
        self.min_free_bytes = min_free_bytes
        if not self.path.exists():
            self.path.parent.mkdir(parents=True, exist_ok=True)
            sqlite3.connect(self.path).close()  # the one place the file is created
        self.identity = self._identity()
        if self.identity is None:
            raise StoreUnavailable(f"cannot open the results store {self.path}")

    def _identity(self) -> tuple[int, int] | None:
        try:
            st = os.stat(self.path)
        except OSError:
            return None
        return st.st_dev, st.st_ino

    def connect(self) -> sqlite3.Connection:
        uri = f"file:{quote(str(self.path))}?mode=rw"
        return sqlite3.connect(uri, uri=True, check_same_thread=False, timeout=self.busy_timeout_s)

    def check(self) -> None:
        """Raise StoreUnavailable unless the path is still the file this store opened."""
        if self._identity() != self.identity:
            raise StoreUnavailable(f"the results store {self.path} was deleted or replaced while serving; "
                                   "restart the service to open it again")


    def check_space(self) -> None:
        """Raise StoreUnavailable when the file system is nearly full: a small write (the heartbeat) can
        still reuse space a real letter's rows cannot."""
        st = os.statvfs(self.path.parent)
        free = st.f_bavail * st.f_frsize
        if free < self.min_free_bytes:
            raise StoreUnavailable(f"only {free // 1024} KiB free for the results store {self.path}")


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")  # readers do not block the writer
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.close()


class ResultsStore:
    """Writes scored letters and reads their signatures back (thread-safe: a session per call).

    `add_many` either commits to the real database or raises StoreUnavailable: a caller answers 200 only
    after it returns. `ping` is the readiness probe: it commits a heartbeat row, so it fails when writes do.
    """

    def __init__(self, url: str, busy_timeout_s: float = 5.0, probe_timeout_s: float = 1.0):
        parsed = make_url(url)
        self.url = parsed.render_as_string(hide_password=True)
        self.probe_timeout_s = probe_timeout_s
        # never put bound parameters (letter text, metadata) into exception messages, hence into logs
        kwargs: dict[str, Any] = {"pool_pre_ping": True, "hide_parameters": True}
        self.file: SqliteFile | None = None
        is_sqlite = parsed.get_backend_name() == "sqlite"
        if is_sqlite and parsed.database not in (None, "", ":memory:"):
            self.file = SqliteFile(parsed.database, busy_timeout_s)
            kwargs["creator"] = self.file.connect
        elif is_sqlite:
            kwargs["connect_args"] = {"check_same_thread": False, "timeout": busy_timeout_s}
        elif parsed.get_backend_name() == "postgresql":  # a server away fails a request, never hangs it
            kwargs["connect_args"] = {"connect_timeout": max(2, math.ceil(busy_timeout_s))}
        self.postgres = parsed.get_backend_name() == "postgresql"
        try:
            self.engine: SqlEngine = create_engine(parsed, **kwargs)
        except ImportError as exc:  # the URL names a driver this environment lacks
            extra = "" if is_sqlite else " (the postgres extra installs psycopg 3: postgresql+psycopg://...)"
            raise StoreUnavailable(f"no database driver {exc.name!r} for the results store {self.url}{extra}") from None
        if self.file is not None:
            event.listen(self.engine, "connect", _sqlite_pragmas)
        try:
            self.revisions = upgrade_schema(self.engine)  # (before, after) this store opened it
            with contextlib.suppress(IntegrityError), Session(self.engine) as session, session.begin():
                if session.get(Heartbeat, 1) is None:  # another process may add it first
                    session.add(Heartbeat(id=1, beat_at=utcnow()))
        except SQLAlchemyError as exc:
            self.engine.dispose()
            raise StoreUnavailable(f"cannot open the results store {self.url}: {db_error_reason(exc)}") from None
        except CommandError as exc:  # e.g. a database migrated by a newer xinfang
            self.engine.dispose()
            raise StoreUnavailable(f"cannot upgrade the results store {self.url}: {exc}") from None

    def _check_file(self) -> None:
        if self.file is not None:
            self.file.check()

    def add_many(self, rows: Sequence[ScoredLetter], also: Callable[[Session], object] | None = None) -> None:
        """Insert rows in one transaction (with what `also` writes in it, e.g. the near-duplicate index's
        rows); raises StoreUnavailable unless they are committed to the real database (checked before the
        commit, and after it, in case the file went while it ran)."""
        try:
            with Session(self.engine) as session, session.begin():
                if self.postgres:  # a 200 means stored: durable even where the server's default is not
                    session.execute(text("SET LOCAL synchronous_commit TO ON"))
                session.add_all(rows)
                session.flush()
                if also is not None:
                    also(session)
                self._check_file()
            self._check_file()
        except StoreUnavailable:
            raise
        except SQLAlchemyError as exc:
            raise StoreUnavailable(f"the results store did not take {len(rows)} rows: {db_error_reason(exc)}") from None

    def signatures(self, batch: int = 2000) -> Iterator[StoredSignature]:
        """(letter id, signature, submitter hash) of every stored row, oldest first."""
        stmt = (select(ScoredLetter.letter_id, ScoredLetter.signature, ScoredLetter.submitter_hash)
                .order_by(ScoredLetter.row_id).execution_options(yield_per=batch))
        with Session(self.engine) as session:
            for letter_id, sig, sub in session.execute(stmt):
                yield StoredSignature(letter_id, bytes(sig), sub)

    def rows(self, letter_id: str | None = None) -> list[ScoredLetter]:
        """Stored rows (all, or of one letter id), oldest first; detached from the session."""
        stmt = select(ScoredLetter).order_by(ScoredLetter.row_id)
        if letter_id is not None:
            stmt = stmt.where(ScoredLetter.letter_id == letter_id)
        with Session(self.engine, expire_on_commit=False) as session:
            return list(session.scalars(stmt))

    def latest(self, letter_id: str) -> ScoredLetter | None:
        """The newest stored row of a letter id (None if there is none); detached from the session."""
        stmt = (select(ScoredLetter).where(ScoredLetter.letter_id == letter_id)
                .order_by(ScoredLetter.row_id.desc()).limit(1))
        with Session(self.engine, expire_on_commit=False) as session:
            return session.scalars(stmt).first()

    def count(self) -> int:
        with Session(self.engine) as session:
            return int(session.scalar(select(func.count()).select_from(ScoredLetter)) or 0)

    def _busy_timeout(self, conn: Any, seconds: float) -> None:
        """How long this SQLite connection waits for another writer's lock (per connection)."""
        if self.file is not None:
            conn.exec_driver_sql(f"PRAGMA busy_timeout = {int(seconds * 1000)}")
            conn.commit()

    def probe(self) -> str | None:
        """The readiness check: commit the heartbeat row (waiting at most probe_timeout_s for a lock) and
        check the file; None when that worked, else a log-safe reason."""
        try:
            self._check_file()
            if self.file is not None:
                self.file.check_space()
            with self.engine.connect() as conn:
                self._busy_timeout(conn, self.probe_timeout_s)
                try:
                    done = conn.execute(update(Heartbeat).where(Heartbeat.id == 1).values(beat_at=utcnow()))
                    if done.rowcount != 1:
                        raise StoreUnavailable("the heartbeat row is missing")
                    conn.commit()
                finally:
                    conn.rollback()
                    if self.file is not None:
                        self._busy_timeout(conn, self.file.busy_timeout_s)
            self._check_file()
        except StoreUnavailable as exc:
            return str(exc)
        except Exception as exc:  # any failure of the write path means not ready
            return db_error_reason(exc)
        return None

    def ping(self) -> bool:
        """True when a write commits to the real database (see probe)."""
        reason = self.probe()
        if reason is not None:
            log.warning("results store not writable: %s", reason)
        return reason is None

    def close(self) -> None:
        self.engine.dispose()


def utcnow() -> datetime:
    return datetime.now(UTC)
