"""Requests per API key in fixed time windows, counted in the results store's database so that every worker
and machine shares one limit; over it, 429 `rate_limited` with Retry-After."""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends
from sqlalchemy import BigInteger, Integer, String, delete
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Mapped, mapped_column

from xinfang.serving.auth import require_api_key
from xinfang.serving.errors import ApiError
from xinfang.serving.orm import Base
from xinfang.serving.state import StateDep
from xinfang.serving.store import db_error_reason as reason

log = logging.getLogger("xinfang.serving.rate_limits")


class RateCounter(Base):
    """Requests one key made in the window starting at window_start (Unix seconds)."""

    __tablename__ = "api_rate_limits"

    key_label: Mapped[str] = mapped_column(String(64), primary_key=True)
    window_start: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    requests: Mapped[int] = mapped_column(Integer)


@dataclass(frozen=True)
class Verdict:
    allowed: bool
    requests: int  # counted in this window, this one included
    retry_after_s: int  # until the window ends


class RateLimiter:
    """`limit` requests per key per `window_s` seconds: one atomic upsert per request (INSERT ... ON CONFLICT
    DO UPDATE ... RETURNING, on SQLite and PostgreSQL alike); a key's older windows go when a new one opens."""

    def __init__(self, engine: Engine, limit: int, window_s: int, clock: Callable[[], float] = time.time):
        self.engine, self.limit, self.window_s, self.clock = engine, limit, window_s, clock
        self._insert = pg_insert if engine.dialect.name == "postgresql" else sqlite_insert

    def hit(self, label: str) -> Verdict:
        """Count one request of `label`; raises SQLAlchemyError when the database is away."""
        now = self.clock()
        start = int(now // self.window_s) * self.window_s
        table = RateCounter.__table__
        stmt = self._insert(table).values(key_label=label, window_start=start, requests=1)
        stmt = stmt.on_conflict_do_update(index_elements=[table.c.key_label, table.c.window_start],
                                          set_={"requests": table.c.requests + 1}).returning(table.c.requests)
        with self.engine.begin() as conn:
            if self._insert is pg_insert:  # a counter lost in a crash costs nothing: no WAL flush to wait for
                conn.exec_driver_sql("SET LOCAL synchronous_commit TO OFF")
            count = int(conn.execute(stmt).scalar_one())
            if count == 1:
                conn.execute(delete(table).where(table.c.key_label == label, table.c.window_start < start))
        return Verdict(count <= self.limit, count, max(1, math.ceil(start + self.window_s - now)))


def enforce_rate_limit(state: StateDep, label: Annotated[str, Depends(require_api_key)]) -> None:
    """The /v1 dependency: 429 over the key's limit. A request the database cannot count goes on (logged):
    the endpoint then meets the same database and answers 503 store_unavailable itself."""
    limiter = state.rate_limiter
    if limiter is None:
        return
    try:
        verdict = limiter.hit(label)
    except SQLAlchemyError as exc:
        log.warning("rate limit not counted for key=%s: %s", label, reason(exc))
        return
    if not verdict.allowed:
        log.info("rate limited key=%s requests=%d", label, verdict.requests)
        raise ApiError(429, "rate_limited", f"more than {limiter.limit} requests in {limiter.window_s} s with "
                       f"this API key; retry in {verdict.retry_after_s} s",
                       headers={"Retry-After": str(verdict.retry_after_s)})
