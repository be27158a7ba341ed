"""Each stored result names the API key (by label) that submitted it; JSON documents become JSONB on
PostgreSQL.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

_JSON_COLUMNS = ("scores", "metadata")


def upgrade() -> None:
    with op.batch_alter_table("scored_letters") as batch:
        batch.add_column(sa.Column("api_key_label", sa.String(64), nullable=True))
    if op.get_bind().dialect.name == "postgresql":
        for name in _JSON_COLUMNS:
            op.alter_column("scored_letters", name, type_=postgresql.JSONB(), postgresql_using=f'"{name}"::jsonb')


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for name in _JSON_COLUMNS:
            op.alter_column("scored_letters", name, type_=sa.JSON(), postgresql_using=f'"{name}"::json')
    with op.batch_alter_table("scored_letters") as batch:
        batch.drop_column("api_key_label")
