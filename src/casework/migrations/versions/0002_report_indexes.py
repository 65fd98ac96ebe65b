"""Indexes for the period report: every figure becomes an index range, an index seek per
value, or a scan in index order, never a sort of the period's rows (docs/reporting.md).

Two of the engine's own indexes are widened (cases by state and by receipt, follow-ups by
case); the rest are new. On a large existing database the upgrade takes a while (about 20 s
per million cases on SQLite) and holds the write lock meanwhile.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-28
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import context, op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def _where() -> tuple[str, str | None]:
    """casework's table prefix and schema, as :func:`casework.migrations.upgrade` passed them."""
    attributes = context.config.attributes
    return attributes.get("prefix", ""), attributes.get("schema")


# (table, index, columns, partial condition) — widened indexes keep their names.
WIDENED = (
    (
        "cases",
        "ix_cases_state",
        ["workflow", "state", "closed_at", "received_at"],
        ["workflow", "state"],
    ),
    (
        "cases",
        "ix_cases_received_at",
        ["received_at", "accepted_at", "closed_at"],
        ["received_at"],
    ),
    ("followups", "ix_followups_case", ["case_id", "outcome"], ["case_id"]),
)
NEW: tuple[tuple[str, str, list[str], str | None], ...] = (
    (
        "cases",
        "ix_cases_closed_at",
        ["closed_at", "received_at", "workflow", "workflow_version"],
        None,
    ),
    ("cases", "ix_cases_channel", ["channel", "category", "received_at"], None),
    ("cases", "ix_cases_respondent", ["respondent", "received_at"], "respondent IS NOT NULL"),
    ("cases", "ix_cases_product", ["product", "received_at"], "product IS NOT NULL"),
    (
        "cases",
        "ix_cases_complainant_contact",
        ["complainant_contact", "received_at"],
        "complainant_contact IS NOT NULL",
    ),
    ("cases", "ix_cases_rehandled", ["rehandle_count"], "rehandle_count > 0"),
    ("events", "ix_events_kind", ["kind", "trigger", "to_state", "case_id", "occurred_at"], None),
    (
        "deadlines",
        "ix_deadlines_stopped",
        ["kind", "status", "clock", "stopped_at", "due_at", "started_at", "case_id"],
        None,
    ),
    ("deadlines", "ix_deadlines_due", ["kind", "status", "clock", "due_at"], None),
    ("followups", "ix_followups_outcome", ["outcome", "recorded_at"], None),
)


def _create(prefix: str, schema: str | None, table: str, name: str, columns: list[str],
            where: str | None) -> None:  # fmt: skip
    partial: dict[str, Any] = {}
    if where is not None:
        partial = {"sqlite_where": sa.text(where), "postgresql_where": sa.text(where)}
    op.create_index(f"{prefix}{name}", f"{prefix}{table}", columns, schema=schema, **partial)


def upgrade() -> None:
    PREFIX, SCHEMA = _where()
    for table, name, columns, _ in WIDENED:
        op.drop_index(f"{PREFIX}{name}", table_name=f"{PREFIX}{table}", schema=SCHEMA)
        _create(PREFIX, SCHEMA, table, name, columns, None)
    for table, name, columns, where in NEW:
        _create(PREFIX, SCHEMA, table, name, columns, where)


def downgrade() -> None:
    PREFIX, SCHEMA = _where()
    for table, name, _, _ in reversed(NEW):
        op.drop_index(f"{PREFIX}{name}", table_name=f"{PREFIX}{table}", schema=SCHEMA)
    for table, name, _, columns in reversed(WIDENED):
        op.drop_index(f"{PREFIX}{name}", table_name=f"{PREFIX}{table}", schema=SCHEMA)
        _create(PREFIX, SCHEMA, table, name, columns, None)
