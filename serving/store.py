"""The results store (SQLAlchemy 2.0): one row per scored letter; SQLite by default, PostgreSQL by URL."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import (
    JSON,
    DateTime,
    Integer,
    LargeBinary,
    String,
    Text,
    create_engine,
    event,
    func,
    select,
    text,
)
from sqlalchemy.engine import Engine as SqlEngine
from sqlalchemy.engine import make_url
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column


class Base(DeclarativeBase):
    pass


class ScoredLetter(Base):
    """A letter as scored: ids, model, time, the result JSON, route and MinHash signature; the text
    and metadata only when the server was told to store them."""

    __tablename__ = "scored_letters"

    row_id: Mapped[int] = mapped_column("id", Integer, primary_key=True, autoincrement=True)
    letter_id: Mapped[str] = mapped_column(String(128), index=True)
    model_name: Mapped[str] = mapped_column(String(128))
    model_version: Mapped[str] = mapped_column(String(128))
    precision: Mapped[str] = mapped_column(String(8))
    scored_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    route: Mapped[str] = mapped_column(String(16))
    scores: Mapped[dict[str, Any]] = mapped_column(JSON)
    signature: Mapped[bytes] = mapped_column(LargeBinary)
    submitter_hash: Mapped[str | None] = mapped_column(String(64), index=True)
    text: Mapped[str | None] = mapped_column(Text)
    meta: Mapped[dict[str, Any] | None] = mapped_column("metadata", JSON)


@dataclass(frozen=True)
class StoredSignature:
    letter_id: str
    signature: bytes
    submitter_hash: str | None


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")  # readers do not block the writer
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.close()


class ResultsStore:
    """Writes scored letters and reads their signatures back (thread-safe: a session per call)."""

    def __init__(self, url: str):
        parsed = make_url(url)
        kwargs: dict[str, Any] = {"pool_pre_ping": True}
        is_sqlite = parsed.get_backend_name() == "sqlite"
        if is_sqlite:
            kwargs["connect_args"] = {"check_same_thread": False, "timeout": 30}
            if parsed.database and parsed.database != ":memory:":
                Path(parsed.database).expanduser().parent.mkdir(parents=True, exist_ok=True)
        self.url = parsed.render_as_string(hide_password=True)
        self.engine: SqlEngine = create_engine(parsed, **kwargs)
        if is_sqlite and parsed.database not in (None, "", ":memory:"):
            event.listen(self.engine, "connect", _sqlite_pragmas)
        Base.metadata.create_all(self.engine)

    def add_many(self, rows: Sequence[ScoredLetter]) -> None:
        """Insert rows in one transaction."""
        with Session(self.engine) as session, session.begin():
            session.add_all(rows)

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

    def count(self) -> int:
        with Session(self.engine) as session:
            return int(session.scalar(select(func.count()).select_from(ScoredLetter)) or 0)

    def ping(self) -> bool:
        """True when the database answers."""
        try:
            with self.engine.connect() as conn:
                conn.execute(text("SELECT 1"))
            return True
        except Exception:
            return False

    def close(self) -> None:
        self.engine.dispose()


def utcnow() -> datetime:
    return datetime.now(UTC)
