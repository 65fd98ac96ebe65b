"""Schema migrations (Alembic), run by ``casework db upgrade`` and by :meth:`Engine.open`.

The version table is ``<prefix>alembic_version`` so casework's history never collides with a
host application's own Alembic history in the same database.
"""

from __future__ import annotations

import zlib
from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

from casework.store import Store

HERE = Path(__file__).resolve().parent


def _config(store: Store) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(HERE))
    cfg.attributes["prefix"] = store.tables.prefix
    cfg.attributes["schema"] = store.tables.schema
    return cfg


def head_revision() -> str:
    head = ScriptDirectory.from_config(_config_for_scripts()).get_current_head()
    assert head is not None
    return head


def _config_for_scripts() -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(HERE))
    return cfg


def _version_table(store: Store) -> str:
    return f"{store.tables.prefix}alembic_version"


def _current(conn: sa.Connection, store: Store) -> str | None:
    ctx = MigrationContext.configure(
        conn,
        opts={
            "version_table": _version_table(store),
            "version_table_schema": store.tables.schema,
        },
    )
    return ctx.get_current_revision()


def current_revision(store: Store) -> str | None:
    """The revision the database is at (``None`` before the first upgrade)."""
    return store.run(lambda conn: _current(conn, store), read=True)


def upgrade(store: Store, revision: str = "head") -> None:
    """Bring casework's tables up to ``revision``; a no-op when they already are.

    Safe when several processes start at once: PostgreSQL takes an advisory lock, SQLite's
    ``BEGIN IMMEDIATE`` serialises the writers.
    """
    target = head_revision() if revision == "head" else revision

    def work(conn: sa.Connection) -> None:
        if store.is_postgres:
            key = zlib.crc32(f"casework-migrate:{store.tables.prefix}".encode())
            conn.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": key})
            if store.tables.schema:
                conn.execute(sa.text(f'CREATE SCHEMA IF NOT EXISTS "{store.tables.schema}"'))
        if _current(conn, store) == target:
            return
        cfg = _config(store)
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, revision)

    store.run(work)
