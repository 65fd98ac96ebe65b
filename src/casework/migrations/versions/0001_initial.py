"""Initial schema: cases, events (hash-chained audit trail), outbox, deadlines,
follow-up visits.

Revision ID: 0001
Revises:
Create Date: 2026-11-28
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import context, op
from sqlalchemy.dialects import postgresql

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def _where() -> tuple[str, str | None]:
    """casework's table prefix and schema, as :func:`casework.migrations.upgrade` passed them."""
    attributes = context.config.attributes
    return attributes.get("prefix", ""), attributes.get("schema")


BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    PREFIX, SCHEMA = _where()
    op.create_table(
        f"{PREFIX}cases",
        sa.Column("id", BIG_ID, primary_key=True, autoincrement=True),
        sa.Column("workflow", sa.String(64), nullable=False),
        sa.Column("workflow_version", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(64), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("channel", sa.String(64), nullable=False),
        sa.Column("category", sa.String(64)),
        sa.Column("external_id", sa.String(200)),
        sa.Column("summary", sa.Text()),
        sa.Column("description", sa.Text()),
        sa.Column("complainant_name", sa.String(200)),
        sa.Column("complainant_contact", sa.String(200)),
        sa.Column("respondent", sa.String(300)),
        sa.Column("product", sa.String(300)),
        sa.Column("amount", sa.Numeric(18, 2)),
        sa.Column("remedy", sa.Text()),
        sa.Column("department", sa.String(100)),
        sa.Column("assignee", sa.String(100)),
        sa.Column("data", JSON, nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("accepted_at", sa.DateTime(timezone=True)),
        sa.Column("closed_at", sa.DateTime(timezone=True)),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("rehandle_count", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("escalation_count", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("last_seq", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("head_hash", sa.String(64), nullable=False, server_default=""),
        sa.UniqueConstraint("channel", "external_id", name=f"{PREFIX}uq_cases_channel_external_id"),
        schema=SCHEMA,
    )
    op.create_index(
        f"{PREFIX}ix_cases_state", f"{PREFIX}cases", ["workflow", "state"], schema=SCHEMA
    )
    op.create_index(
        f"{PREFIX}ix_cases_received_at", f"{PREFIX}cases", ["received_at"], schema=SCHEMA
    )
    op.create_table(
        f"{PREFIX}deadlines",
        sa.Column("id", BIG_ID, primary_key=True, autoincrement=True),
        sa.Column("case_id", BIG_ID, nullable=False),
        sa.Column("clock", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False, server_default="clock"),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("period", sa.String(64), nullable=False),
        sa.Column("calendar", sa.String(100), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("due_on", sa.Date()),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("fire_at", sa.DateTime(timezone=True)),
        sa.Column("next_step", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("paused_at", sa.DateTime(timezone=True)),
        sa.Column("excluded_days", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("paused_seconds", sa.BigInteger(), nullable=False, server_default="0"),
        sa.Column("extensions", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("provisional", sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.Column("fingerprint", sa.String(64), nullable=False, server_default=""),
        sa.Column("stopped_at", sa.DateTime(timezone=True)),
        sa.Column("breached_at", sa.DateTime(timezone=True)),
        sa.Column("data", JSON, nullable=False),
        sa.Column("version", sa.Integer(), nullable=False, server_default="1"),
        schema=SCHEMA,
    )
    op.create_index(
        f"{PREFIX}ix_deadlines_fire_at", f"{PREFIX}deadlines", ["fire_at"], schema=SCHEMA
    )
    op.create_index(
        f"{PREFIX}ix_deadlines_case", f"{PREFIX}deadlines", ["case_id", "clock"], schema=SCHEMA
    )
    op.create_table(
        f"{PREFIX}events",
        sa.Column("id", BIG_ID, primary_key=True, autoincrement=True),
        sa.Column("case_id", BIG_ID, nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("trigger", sa.String(64)),
        sa.Column("from_state", sa.String(64)),
        sa.Column("to_state", sa.String(64)),
        sa.Column("actor", sa.String(100), nullable=False),
        sa.Column("roles", JSON, nullable=False),
        sa.Column("data", JSON, nullable=False),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("prev_hash", sa.String(64), nullable=False),
        sa.Column("hash", sa.String(64), nullable=False),
        sa.UniqueConstraint("case_id", "seq", name=f"{PREFIX}uq_events_case_seq"),
        schema=SCHEMA,
    )
    op.create_table(
        f"{PREFIX}followups",
        sa.Column("id", BIG_ID, primary_key=True, autoincrement=True),
        sa.Column("case_id", BIG_ID, nullable=False),
        sa.Column("policy", sa.String(64), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("selected_because", sa.String(32), nullable=False),
        sa.Column("channel", sa.String(32), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("max_attempts", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("deadline_at", sa.DateTime(timezone=True)),
        sa.Column("fire_at", sa.DateTime(timezone=True)),
        sa.Column("outcome", sa.String(32)),
        sa.Column("score", sa.Integer()),
        sa.Column("comment", sa.Text()),
        sa.Column("recorded_by", sa.String(100)),
        sa.Column("recorded_at", sa.DateTime(timezone=True)),
        sa.Column("data", JSON, nullable=False),
        sa.Column("version", sa.Integer(), nullable=False, server_default="1"),
        schema=SCHEMA,
    )
    op.create_index(
        f"{PREFIX}ix_followups_fire_at", f"{PREFIX}followups", ["fire_at"], schema=SCHEMA
    )
    op.create_index(f"{PREFIX}ix_followups_case", f"{PREFIX}followups", ["case_id"], schema=SCHEMA)
    op.create_table(
        f"{PREFIX}outbox",
        sa.Column("id", BIG_ID, primary_key=True, autoincrement=True),
        sa.Column("key", sa.String(200), nullable=False),
        sa.Column("topic", sa.String(64), nullable=False),
        sa.Column("case_id", BIG_ID),
        sa.Column("payload", JSON, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("delivered_at", sa.DateTime(timezone=True)),
        sa.Column("dead_at", sa.DateTime(timezone=True)),
        sa.Column("last_error", sa.Text()),
        sa.UniqueConstraint("key", name=f"{PREFIX}uq_outbox_key"),
        schema=SCHEMA,
    )
    op.create_index(
        f"{PREFIX}ix_outbox_pending",
        f"{PREFIX}outbox",
        ["delivered_at", "dead_at", "next_attempt_at"],
        schema=SCHEMA,
    )


def downgrade() -> None:
    PREFIX, SCHEMA = _where()
    op.drop_table(f"{PREFIX}outbox", schema=SCHEMA)
    op.drop_table(f"{PREFIX}followups", schema=SCHEMA)
    op.drop_table(f"{PREFIX}events", schema=SCHEMA)
    op.drop_table(f"{PREFIX}deadlines", schema=SCHEMA)
    op.drop_table(f"{PREFIX}cases", schema=SCHEMA)
