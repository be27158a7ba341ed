"""The review store: letters to review, corrections (append-only), unmasked views and login sessions."""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.engine import Engine as SqlEngine
from sqlalchemy.orm import Session, defer

from xinfang.serving.review.models import ReviewCorrection, ReviewLetter, ReviewSession, UnmaskedView
from xinfang.serving.store import utcnow


def _aware(t: datetime) -> datetime:
    """SQLite gives naive datetimes back; every time this store writes is UTC."""
    return t if t.tzinfo else t.replace(tzinfo=UTC)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class Change:
    """A reviewer's answer for one head: the label, whether it accepts the model's, and the model's."""

    head: str
    value: Any
    action: str
    model_value: Any


class ReviewStore:
    """Reads and writes the review tables through the results store's SQLAlchemy engine."""

    def __init__(self, engine: SqlEngine):
        self.engine = engine  # its tables are made by the results store's migrations
        self._letters: tuple[int | None, list[ReviewLetter]] | None = None

    def _session(self) -> Session:
        return Session(self.engine, expire_on_commit=False)

    # --- letters -------------------------------------------------------------------------------------
    def add_letters(self, rows: Sequence[ReviewLetter]) -> None:
        with self._session() as s, s.begin():
            s.add_all(rows)

    def letters(self) -> list[ReviewLetter]:
        """The newest row of every letter id, oldest letter first, without their texts (for the queues).
        The table is append-only, so the list is kept until a row is added (by any process)."""
        newest = select(func.max(ReviewLetter.row_id)).group_by(ReviewLetter.letter_id)
        stmt = (select(ReviewLetter).options(defer(ReviewLetter.text, raiseload=True))
                .where(ReviewLetter.row_id.in_(newest)).order_by(ReviewLetter.row_id))
        with self._session() as s:
            last = s.scalar(select(func.max(ReviewLetter.row_id)))
            cached = self._letters
            if cached is not None and cached[0] == last:
                return cached[1]
            rows = list(s.scalars(stmt))
        self._letters = (last, rows)
        return rows

    def letter(self, letter_id: str) -> ReviewLetter | None:
        stmt = (select(ReviewLetter).where(ReviewLetter.letter_id == letter_id)
                .order_by(ReviewLetter.row_id.desc()).limit(1))
        with self._session() as s:
            return s.scalars(stmt).first()

    def by_submitter(self, submitter_hash: str, other_than: str) -> list[str]:
        """Ids of the other letters of the same (pseudonymous) submitter."""
        stmt = (select(ReviewLetter.letter_id).where(ReviewLetter.submitter_hash == submitter_hash,
                                                     ReviewLetter.letter_id != other_than)
                .distinct().order_by(ReviewLetter.letter_id))
        with self._session() as s:
            return list(s.scalars(stmt))

    def known(self, letter_ids: Sequence[str]) -> set[str]:
        if not letter_ids:
            return set()
        stmt = select(ReviewLetter.letter_id).where(ReviewLetter.letter_id.in_(list(letter_ids))).distinct()
        with self._session() as s:
            return set(s.scalars(stmt))

    # --- corrections ---------------------------------------------------------------------------------
    def corrections(self, letter_id: str | None = None, current: bool = True) -> list[ReviewCorrection]:
        """Corrections, oldest first: only those no later one supersedes (current), or the whole trail."""
        stmt = select(ReviewCorrection).order_by(ReviewCorrection.row_id)
        if letter_id is not None:
            stmt = stmt.where(ReviewCorrection.letter_id == letter_id)
        if current:
            later = select(ReviewCorrection.supersedes).where(ReviewCorrection.supersedes.is_not(None))
            stmt = stmt.where(ReviewCorrection.row_id.not_in(later))
        with self._session() as s:
            return list(s.scalars(stmt))

    def correct(self, letter_id: str, changes: Sequence[Change], reviewer: str, role: str, model: str) -> int:
        """Store the changes that differ from the letter's current corrections, each superseding the one
        before it; returns how many were stored."""
        now = utcnow()
        with self._session() as s, s.begin():
            later = select(ReviewCorrection.supersedes).where(ReviewCorrection.supersedes.is_not(None))
            current = {c.head: c for c in s.scalars(select(ReviewCorrection).where(
                ReviewCorrection.letter_id == letter_id, ReviewCorrection.row_id.not_in(later)))}
            added = 0
            for ch in changes:
                before = current.get(ch.head)
                if before is not None and before.value == ch.value and before.action == ch.action:
                    continue
                s.add(ReviewCorrection(letter_id=letter_id, head=ch.head, value=ch.value, action=ch.action,
                                       model_value=ch.model_value, model=model, reviewer=reviewer, role=role,
                                       created_at=now, supersedes=before.row_id if before else None))
                added += 1
        return added

    # --- audit of unmasked views ---------------------------------------------------------------------
    def log_unmasked(self, key_label: str, letter_id: str) -> None:
        with self._session() as s, s.begin():
            s.add(UnmaskedView(key_label=key_label, letter_id=letter_id, viewed_at=utcnow()))

    def unmasked_views(self) -> list[UnmaskedView]:
        with self._session() as s:
            return list(s.scalars(select(UnmaskedView).order_by(UnmaskedView.row_id)))

    # --- login sessions ------------------------------------------------------------------------------
    def open_session(self, key_digest: str, hours: float) -> tuple[str, ReviewSession]:
        """A new session for a key: (the cookie's token, which is stored only hashed; the session)."""
        token, now = secrets.token_urlsafe(32), utcnow()
        row = ReviewSession(token_hash=token_hash(token), key_digest=key_digest, csrf=secrets.token_urlsafe(32),
                            created_at=now, expires_at=now + timedelta(hours=hours))
        with self._session() as s, s.begin():
            s.execute(delete(ReviewSession).where(ReviewSession.expires_at < now))
            s.add(row)
        return token, row

    def session(self, token: str) -> ReviewSession | None:
        """The live session of a cookie's token, else None."""
        with self._session() as s:
            row = s.get(ReviewSession, token_hash(token))
        if row is None or _aware(row.expires_at) <= utcnow():
            return None
        return row

    def close_session(self, token: str) -> None:
        with self._session() as s, s.begin():
            s.execute(delete(ReviewSession).where(ReviewSession.token_hash == token_hash(token)))
