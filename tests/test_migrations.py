"""The Alembic migrations create exactly the tables the code uses, on every backend, with any
prefix, and running them again is a no-op."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from casework.migrations import current_revision, head_revision, upgrade
from casework.store import Store
from tests.conftest import Backend


@pytest.mark.parametrize("prefix", ["", "cw_"])
def test_migrations_match_the_table_definitions(backend: Backend, prefix: str) -> None:
    store = Store(backend.url, prefix=prefix, schema=backend.schema)
    try:
        upgrade(store)
        upgrade(store)  # idempotent
        assert current_revision(store) == head_revision()

        def diff(conn):  # type: ignore[no-untyped-def]
            ctx = MigrationContext.configure(
                conn,
                opts={
                    "include_schemas": backend.schema is not None,
                    "include_name": lambda name, type_, parent: (
                        name == backend.schema
                        if type_ == "schema"
                        else type_ != "table" or (name.startswith(prefix) and "alembic" not in name)
                    ),
                    "compare_type": False,
                },
            )
            return compare_metadata(ctx, store.tables.metadata)

        changes = store.run(diff, read=True)
        assert changes == [], f"migration and schema.py disagree: {changes}"
    finally:
        store.dispose()
