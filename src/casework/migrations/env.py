"""Alembic environment: always run on the connection casework hands in (never from a URL)."""

from __future__ import annotations

from alembic import context

config = context.config
connection = config.attributes["connection"]
prefix = config.attributes.get("prefix", "")
schema = config.attributes.get("schema")

context.configure(
    connection=connection,
    version_table=f"{prefix}alembic_version",
    version_table_schema=schema,
    transactional_ddl=True,
)
with context.begin_transaction():
    context.run_migrations()
