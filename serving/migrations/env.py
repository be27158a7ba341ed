"""Alembic's environment for the results store: runs on the connection xinfang.serving.migrations hands it."""

from __future__ import annotations

from alembic import context

from xinfang.serving.migrations import target_metadata

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run the migrations with xinfang.serving.migrations.upgrade or `xinfang db upgrade`")
context.configure(connection=connection, target_metadata=target_metadata(),
                  render_as_batch=connection.dialect.name == "sqlite")  # SQLite alters by copying a table
with context.begin_transaction():
    context.run_migrations()
