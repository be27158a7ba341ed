"""The review page's store: letters to review, corrections (an append-only audit trail), unmasked views and
login sessions (xinfang.serving.review.models).

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def _json() -> sa.types.TypeEngine:
    return sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def _indexes(table: str, *columns: str) -> None:
    for column in columns:
        op.create_index(op.f(f"ix_{table}_{column}"), table, [column])


def upgrade() -> None:
    op.create_table(
        "review_corrections",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("letter_id", sa.String(128), nullable=False),
        sa.Column("head", sa.String(64), nullable=False),
        sa.Column("value", _json(), nullable=False),
        sa.Column("action", sa.String(8), nullable=False),
        sa.Column("model_value", _json(), nullable=False),
        sa.Column("model", sa.String(256), nullable=False),
        sa.Column("reviewer", sa.String(64), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("supersedes", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(["supersedes"], ["review_corrections.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("supersedes"),
    )
    _indexes("review_corrections", "created_at", "letter_id")
    op.create_table(
        "review_letters",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("letter_id", sa.String(128), nullable=False),
        sa.Column("added_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("source_file", sa.String(512), nullable=True),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("result", _json(), nullable=False),
        sa.Column("route", sa.String(16), nullable=False),
        sa.Column("submitter_hash", sa.String(64), nullable=True),
        sa.Column("given_labels", _json(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    _indexes("review_letters", "added_at", "letter_id", "route", "submitter_hash")
    op.create_table(
        "review_sessions",
        sa.Column("token_hash", sa.String(64), nullable=False),
        sa.Column("key_digest", sa.String(64), nullable=False),
        sa.Column("csrf", sa.String(64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("token_hash"),
    )
    _indexes("review_sessions", "expires_at")
    op.create_table(
        "review_unmasked_views",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("key_label", sa.String(64), nullable=False),
        sa.Column("letter_id", sa.String(128), nullable=False),
        sa.Column("viewed_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    _indexes("review_unmasked_views", "key_label", "letter_id")


def downgrade() -> None:
    for table in ("review_unmasked_views", "review_sessions", "review_letters", "review_corrections"):
        op.drop_table(table)
