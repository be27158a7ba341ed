"""The review store's tables, on the results store's declarative Base (one database, one set of migrations)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import DateTime, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from xinfang.result import LetterResult
from xinfang.serving.orm import Base, JsonDoc, LetterText


class ReviewLetter(Base):
    """A letter to review: its text, the model's result and any labels it came with. Append-only: a letter
    scored again gets a new row, and the newest row of a letter id is the one shown."""

    __tablename__ = "review_letters"

    row_id: Mapped[int] = mapped_column("id", Integer, primary_key=True, autoincrement=True)
    letter_id: Mapped[str] = mapped_column(String(128), index=True)
    added_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    source: Mapped[str] = mapped_column(String(16))  # "api" or "batch"
    source_file: Mapped[str | None] = mapped_column(String(512))
    text: Mapped[str] = mapped_column(LetterText)  # on PostgreSQL without U+0000
    result: Mapped[dict[str, Any]] = mapped_column(JsonDoc)  # LetterResult JSON, span quotes left out
    route: Mapped[str] = mapped_column(String(16), index=True)
    submitter_hash: Mapped[str | None] = mapped_column(String(64), index=True)
    given_labels: Mapped[dict[str, Any] | None] = mapped_column(JsonDoc)  # labels of the input file, by head


class ReviewCorrection(Base):
    """One reviewer's label for one head of one letter. Never updated: a later correction of the same letter
    and head names the one it supersedes, so the table is the audit trail."""

    __tablename__ = "review_corrections"

    row_id: Mapped[int] = mapped_column("id", Integer, primary_key=True, autoincrement=True)
    letter_id: Mapped[str] = mapped_column(String(128), index=True)
    head: Mapped[str] = mapped_column(String(64))
    value: Mapped[Any] = mapped_column(JsonDoc)  # class id, list of class ids, or bool
    action: Mapped[str] = mapped_column(String(8))  # "accept" (the model's answer) or "set"
    model_value: Mapped[Any] = mapped_column(JsonDoc)  # the model's answer when corrected
    model: Mapped[str] = mapped_column(String(256))  # name/version of that model
    reviewer: Mapped[str] = mapped_column(String(64))  # the key's label
    role: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    supersedes: Mapped[int | None] = mapped_column(ForeignKey("review_corrections.id"), unique=True)


class UnmaskedView(Base):
    """Who saw a letter's personal data unmasked, and when (never the text)."""

    __tablename__ = "review_unmasked_views"

    row_id: Mapped[int] = mapped_column("id", Integer, primary_key=True, autoincrement=True)
    key_label: Mapped[str] = mapped_column(String(64), index=True)
    letter_id: Mapped[str] = mapped_column(String(128), index=True)
    viewed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class ReviewSession(Base):
    """A login of the review page: the SHA-256 of the session cookie, the SHA-256 of the key it logged in
    with (so a revoked key ends its sessions), the CSRF token of its forms, and when it expires."""

    __tablename__ = "review_sessions"

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    key_digest: Mapped[str] = mapped_column(String(64))
    csrf: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)


def review_letter(result: LetterResult, text: str, source: str, submitter_hash: str | None, at: datetime,
                  source_file: str | None = None, given_labels: dict[str, Any] | None = None) -> ReviewLetter:
    """The review-store row of a scored letter (span quotes left out: the text is there, offsets suffice)."""
    return ReviewLetter(letter_id=result.id, added_at=at, source=source, source_file=source_file, text=text,
                        result=result.to_json(span_texts=False), route=result.route.decision,
                        submitter_hash=submitter_hash, given_labels=given_labels or None)
