"""Delivering hook notifications from the outbox: at least once, retried with backoff.

A delivery run leases due rows (``FOR UPDATE SKIP LOCKED`` on PostgreSQL), commits the lease,
calls the host's hooks outside any transaction, then records the outcome. A crash after a hook
ran and before the outcome was recorded leaves the lease to expire, and the call repeats —
hence the payload's ``idempotency_key``. A hook that raises is retried with exponential backoff;
after ``max_attempts`` the row is marked dead (``casework outbox list --dead``) and can be retried
by hand. One failing hook never blocks other rows.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import attrs
import sqlalchemy as sa

from casework.hooks import payload_from_json

if TYPE_CHECKING:
    from casework.engine import Engine

log = logging.getLogger("casework.outbox")

LEASE = dt.timedelta(minutes=5)
MAX_ATTEMPTS = 8


def backoff(attempts: int) -> dt.timedelta:
    """30 s, 1 min, 2 min, ... capped at 1 hour."""
    return dt.timedelta(seconds=min(3600, 30 * 2 ** max(0, attempts - 1)))


@attrs.frozen
class DeliveryReport:
    delivered: int = 0
    failed: int = 0
    dead: int = 0

    def to_json(self) -> dict[str, int]:
        return attrs.asdict(self)


@attrs.frozen
class OutboxEntry:
    id: int
    key: str
    topic: str
    case_id: int | None
    created_at: dt.datetime
    next_attempt_at: dt.datetime
    attempts: int
    delivered_at: dt.datetime | None
    dead_at: dt.datetime | None
    last_error: str | None
    payload: dict[str, Any]

    @property
    def status(self) -> str:
        if self.delivered_at is not None:
            return "delivered"
        return "dead" if self.dead_at is not None else "pending"

    def to_json(self) -> dict[str, Any]:
        out = attrs.asdict(self)
        for k, v in out.items():
            if isinstance(v, dt.datetime):
                out[k] = v.isoformat()
        out["status"] = self.status
        return out


def _entry(row: Any) -> OutboxEntry:
    m = row._mapping
    return OutboxEntry(**{f.name: m[f.name] for f in attrs.fields(OutboxEntry)})


class Outbox:
    """The engine's outbox: delivery, listing and manual retry."""

    def __init__(self, engine: Engine, *, max_attempts: int = MAX_ATTEMPTS) -> None:
        self.engine = engine
        self.max_attempts = max_attempts

    def deliver(self, *, limit: int = 500) -> DeliveryReport:
        """Call the registered hooks for due notifications; rows for topics no hook in this
        process subscribes to are left for a process that has one."""
        topics = sorted(self.engine.hooks.topics)
        if not topics:
            return DeliveryReport()
        now = self.engine.clock.now()
        t = self.engine.store.tables.outbox

        def claim(conn: sa.Connection) -> list[Any]:
            query = (
                sa.select(t)
                .where(
                    t.c.delivered_at.is_(None),
                    t.c.dead_at.is_(None),
                    t.c.next_attempt_at <= now,
                    t.c.topic.in_(topics),
                )
                .order_by(t.c.id)
                .limit(limit)
            )
            if self.engine.store.is_postgres:
                query = query.with_for_update(skip_locked=True)
            rows = list(conn.execute(query))
            if rows:
                conn.execute(
                    sa.update(t)
                    .where(t.c.id.in_([r.id for r in rows]))
                    .values(next_attempt_at=now + LEASE, attempts=t.c.attempts + 1)
                )
            return rows

        rows = self.engine.store.run(claim)
        delivered: list[int] = []
        failures: list[tuple[int, int, str]] = []
        for row in rows:
            try:
                payload = payload_from_json(row.topic, row.payload)
                for hook in self.engine.hooks.for_topic(row.topic):
                    hook(payload)
            except Exception as exc:
                log.warning("hook for %s (%s) failed: %s", row.topic, row.key, exc)
                failures.append((row.id, row.attempts + 1, f"{type(exc).__name__}: {exc}"[:1000]))
            else:
                delivered.append(row.id)

        def record(conn: sa.Connection) -> int:
            dead = 0
            if delivered:
                conn.execute(sa.update(t).where(t.c.id.in_(delivered)).values(delivered_at=now))
            for row_id, attempts, error in failures:
                values: dict[str, Any] = {
                    "last_error": error,
                    "next_attempt_at": now + backoff(attempts),
                }
                if attempts >= self.max_attempts:
                    values["dead_at"] = now
                    dead += 1
                conn.execute(sa.update(t).where(t.c.id == row_id).values(**values))
            return dead

        dead = self.engine.store.run(record) if rows else 0
        return DeliveryReport(len(delivered), len(failures), dead)

    def entries(self, *, status: str | None = "pending", limit: int = 100) -> list[OutboxEntry]:
        """Notifications by status: ``pending`` (not yet delivered), ``dead``, ``delivered``
        or ``None`` for all; oldest first."""
        t = self.engine.store.tables.outbox
        query = sa.select(t).order_by(t.c.id).limit(limit)
        if status == "pending":
            query = query.where(t.c.delivered_at.is_(None), t.c.dead_at.is_(None))
        elif status == "dead":
            query = query.where(t.c.dead_at.is_not(None), t.c.delivered_at.is_(None))
        elif status == "delivered":
            query = query.where(t.c.delivered_at.is_not(None))
        rows = self.engine.store.run(lambda conn: list(conn.execute(query)), read=True)
        return [_entry(r) for r in rows]

    def retry(self, ids: Sequence[int] | None = None) -> int:
        """Make dead notifications (all, or ``ids``) due again now; returns how many."""
        t = self.engine.store.tables.outbox
        now = self.engine.clock.now()
        query = sa.update(t).where(t.c.dead_at.is_not(None), t.c.delivered_at.is_(None))
        if ids is not None:
            query = query.where(t.c.id.in_(list(ids)))
        query = query.values(dead_at=None, attempts=0, next_attempt_at=now)
        return int(self.engine.store.run(lambda conn: conn.execute(query).rowcount))

    def prune(self, older_than: dt.datetime) -> int:
        """Delete delivered notifications created before ``older_than``; returns how many."""
        t = self.engine.store.tables.outbox
        query = sa.delete(t).where(t.c.delivered_at.is_not(None), t.c.created_at < older_than)
        return int(self.engine.store.run(lambda conn: conn.execute(query).rowcount))
