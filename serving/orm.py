"""The one SQLAlchemy declarative Base of the service's tables (one metadata, so one chain of migrations
covers them all) and the column types they share."""

from __future__ import annotations

from typing import Any

from sqlalchemy import JSON, Text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase
from sqlalchemy.types import TypeDecorator, TypeEngine


def without_nul(value: Any) -> Any:
    """PostgreSQL text and JSONB cannot hold U+0000: it becomes U+FFFD (in JSON keys and values too)."""
    if isinstance(value, str):
        return value.replace("\x00", "\ufffd")
    if isinstance(value, dict):
        return {without_nul(k): without_nul(v) for k, v in value.items()}
    if isinstance(value, list):
        return [without_nul(v) for v in value]
    return value


class LetterText(TypeDecorator[str]):
    """Text as a client sent it; on PostgreSQL without U+0000, which the server refuses (a letter holding
    one would otherwise fail its whole micro-batch)."""

    impl = Text
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Dialect) -> Any:
        return without_nul(value) if dialect.name == "postgresql" else value


class JsonDoc(TypeDecorator[Any]):
    """A JSON document: JSONB on PostgreSQL (compact, indexable; without U+0000), JSON text elsewhere."""

    impl = JSON
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        return dialect.type_descriptor(JSONB() if dialect.name == "postgresql" else JSON())

    def process_bind_param(self, value: Any, dialect: Dialect) -> Any:
        return without_nul(value) if dialect.name == "postgresql" else value


class Base(DeclarativeBase):
    """Every table of the results store derives from this; a new table also needs a migration
    (see xinfang.serving.migrations)."""
