"""The tables (SQLAlchemy Core). Every name can carry a prefix and live in a schema, so casework
can share a host's database. The Alembic migrations in ``casework/migrations`` create exactly
these tables; a test keeps the two in step."""

from __future__ import annotations

import datetime as dt
import functools
from typing import Any

import attrs
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

# BIGINT on PostgreSQL; INTEGER on SQLite so that it aliases ROWID and autoincrements.
BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


class UTCDateTime(sa.TypeDecorator[dt.datetime]):
    """Aware datetimes in, aware UTC datetimes out, on every backend.

    SQLite has no time zone type: values are stored as naive UTC text. Naive input is a bug
    upstream (the engine validates at its boundary), so it is refused here too.
    """

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: sa.Dialect) -> Any:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value.isoformat()} cannot be stored")
        value = value.astimezone(dt.UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: sa.Dialect) -> dt.datetime | None:
        if value is None:
            return None
        assert isinstance(value, dt.datetime)
        if value.tzinfo is None:
            return value.replace(tzinfo=dt.UTC)
        return value.astimezone(dt.UTC)


Instant = UTCDateTime()


@attrs.frozen
class Tables:
    metadata: sa.MetaData
    cases: sa.Table
    events: sa.Table
    outbox: sa.Table
    deadlines: sa.Table
    followups: sa.Table
    prefix: str = ""
    schema: str | None = None


@functools.cache
def build_tables(prefix: str = "", schema: str | None = None) -> Tables:
    """Table objects for ``prefix`` (e.g. ``"cw_"``) in ``schema`` (PostgreSQL) or the default.

    Built once per (prefix, schema): every engine on the same tables shares them and their
    prepared statements, however many engines a host opens."""
    md = sa.MetaData(schema=schema)
    p = prefix

    cases = sa.Table(
        f"{p}cases",
        md,
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("workflow", sa.String(64), nullable=False),
        sa.Column("workflow_version", sa.Integer, nullable=False),
        sa.Column("state", sa.String(64), nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("channel", sa.String(64), nullable=False),
        sa.Column("category", sa.String(64)),
        sa.Column("external_id", sa.String(200)),
        sa.Column("summary", sa.Text),
        sa.Column("description", sa.Text),
        sa.Column("complainant_name", sa.String(200)),
        sa.Column("complainant_contact", sa.String(200)),
        sa.Column("respondent", sa.String(300)),
        sa.Column("product", sa.String(300)),
        sa.Column("amount", sa.Numeric(18, 2)),
        sa.Column("remedy", sa.Text),
        sa.Column("department", sa.String(100)),
        sa.Column("assignee", sa.String(100)),
        sa.Column("data", JSON, nullable=False),
        sa.Column("received_at", Instant, nullable=False),
        sa.Column("accepted_at", Instant),
        sa.Column("closed_at", Instant),
        sa.Column("updated_at", Instant, nullable=False),
        sa.Column("rehandle_count", sa.Integer, nullable=False, server_default="0"),
        sa.Column("escalation_count", sa.Integer, nullable=False, server_default="0"),
        sa.Column("last_seq", sa.Integer, nullable=False, server_default="0"),
        sa.Column("head_hash", sa.String(64), nullable=False, server_default=""),
        sa.UniqueConstraint("channel", "external_id", name=f"{p}uq_cases_channel_external_id"),
        # The engine's lookups, widened so the period report reads them without the rows
        # (docs/reporting.md, "Indexes"): every report query is an index range or seek.
        sa.Index(f"{p}ix_cases_state", "workflow", "state", "closed_at", "received_at"),
        sa.Index(f"{p}ix_cases_received_at", "received_at", "accepted_at", "closed_at"),
        sa.Index(
            f"{p}ix_cases_closed_at", "closed_at", "received_at", "workflow", "workflow_version"
        ),
        sa.Index(f"{p}ix_cases_channel", "channel", "category", "received_at"),
    )
    # Hot-spot and repeat-complainant counts; most rows leave these columns empty.
    for column in ("respondent", "product", "complainant_contact"):
        sa.Index(
            f"{p}ix_cases_{column}",
            cases.c[column],
            cases.c.received_at,
            sqlite_where=cases.c[column].is_not(None),
            postgresql_where=cases.c[column].is_not(None),
        )
    sa.Index(
        f"{p}ix_cases_rehandled",
        cases.c.rehandle_count,
        sqlite_where=cases.c.rehandle_count > 0,
        postgresql_where=cases.c.rehandle_count > 0,
    )

    events = sa.Table(
        f"{p}events",
        md,
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("case_id", BigId, nullable=False),
        sa.Column("seq", sa.Integer, nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("trigger", sa.String(64)),
        sa.Column("from_state", sa.String(64)),
        sa.Column("to_state", sa.String(64)),
        sa.Column("actor", sa.String(100), nullable=False),
        sa.Column("roles", JSON, nullable=False),
        sa.Column("data", JSON, nullable=False),
        sa.Column("occurred_at", Instant, nullable=False),
        sa.Column("recorded_at", Instant, nullable=False),
        sa.Column("prev_hash", sa.String(64), nullable=False),
        sa.Column("hash", sa.String(64), nullable=False),
        sa.UniqueConstraint("case_id", "seq", name=f"{p}uq_events_case_seq"),
        # Report: escalations, extensions, and the cases that reached feedback (in case order).
        sa.Index(f"{p}ix_events_kind", "kind", "trigger", "to_state", "case_id", "occurred_at"),
    )

    # Hook notifications leave through here (guarantee 3): written in the command's transaction,
    # delivered afterwards at least once, keyed for the receiver's idempotency.
    outbox = sa.Table(
        f"{p}outbox",
        md,
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("key", sa.String(200), nullable=False),
        sa.Column("topic", sa.String(64), nullable=False),
        sa.Column("case_id", BigId),
        sa.Column("payload", JSON, nullable=False),
        sa.Column("created_at", Instant, nullable=False),
        sa.Column("next_attempt_at", Instant, nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
        sa.Column("delivered_at", Instant),
        sa.Column("dead_at", Instant),
        sa.Column("last_error", sa.Text),
        sa.UniqueConstraint("key", name=f"{p}uq_outbox_key"),
        sa.Index(f"{p}ix_outbox_pending", "delivered_at", "dead_at", "next_attempt_at"),
    )

    # One row per running clock instance and per pending ladder step / follow-up action is kept in
    # the deadlines table; `fire_at` is the instant the row is next due (guarantee 2).
    deadlines = sa.Table(
        f"{p}deadlines",
        md,
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("case_id", BigId, nullable=False),
        sa.Column("clock", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False, server_default="clock"),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("period", sa.String(64), nullable=False),
        sa.Column("calendar", sa.String(100), nullable=False),
        sa.Column("started_at", Instant, nullable=False),
        sa.Column("due_on", sa.Date),
        sa.Column("due_at", Instant, nullable=False),
        sa.Column("fire_at", Instant),
        sa.Column("next_step", sa.Integer, nullable=False, server_default="0"),
        sa.Column("paused_at", Instant),
        sa.Column("excluded_days", sa.Integer, nullable=False, server_default="0"),
        sa.Column("paused_seconds", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("extensions", sa.Integer, nullable=False, server_default="0"),
        sa.Column("provisional", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("fingerprint", sa.String(64), nullable=False, server_default=""),
        sa.Column("stopped_at", Instant),
        sa.Column("breached_at", Instant),
        sa.Column("data", JSON, nullable=False),
        sa.Column("version", sa.Integer, nullable=False, server_default="1"),
        sa.Index(f"{p}ix_deadlines_fire_at", "fire_at"),
        sa.Index(f"{p}ix_deadlines_case", "case_id", "clock"),
    )
    # Report: verdicts per clock (met at their stop, late at their due time), overdue cases.
    # Full indexes, not partial ones by status: with a partial pair every command cost more.
    sa.Index(
        f"{p}ix_deadlines_stopped",
        *(deadlines.c[k] for k in ("kind", "status", "clock", "stopped_at", "due_at")),
        *(deadlines.c[k] for k in ("started_at", "case_id")),
    )
    sa.Index(
        f"{p}ix_deadlines_due",
        *(deadlines.c[k] for k in ("kind", "status", "clock", "due_at")),
    )

    # Follow-up visits (回访): one row per scheduled visit; `fire_at` as for deadlines.
    followups = sa.Table(
        f"{p}followups",
        md,
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("case_id", BigId, nullable=False),
        sa.Column("policy", sa.String(64), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("selected_because", sa.String(32), nullable=False),
        sa.Column("channel", sa.String(32), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
        sa.Column("max_attempts", sa.Integer, nullable=False),
        sa.Column("created_at", Instant, nullable=False),
        sa.Column("due_at", Instant, nullable=False),
        sa.Column("deadline_at", Instant),
        sa.Column("fire_at", Instant),
        sa.Column("outcome", sa.String(32)),
        sa.Column("score", sa.Integer),
        sa.Column("comment", sa.Text),
        sa.Column("recorded_by", sa.String(100)),
        sa.Column("recorded_at", Instant),
        sa.Column("data", JSON, nullable=False),
        sa.Column("version", sa.Integer, nullable=False, server_default="1"),
        sa.Index(f"{p}ix_followups_fire_at", "fire_at"),
        sa.Index(f"{p}ix_followups_case", "case_id", "outcome"),
        sa.Index(f"{p}ix_followups_outcome", "outcome", "recorded_at"),
    )

    return Tables(md, cases, events, outbox, deadlines, followups, prefix, schema)
