"""Row-level reads and writes for cases, events and the outbox (SQLAlchemy Core)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any

import sqlalchemy as sa

from casework.audit import event_hash
from casework.records import Case, Complainant, Event
from casework.store.fast import FAST
from casework.store.schema import Tables


class Statements:
    """Statements built once per set of tables and executed with parameters.

    Building a statement with literal values costs far more than running it (SQLAlchemy
    coerces every value and recomputes the cache key); these are built once, bound by name.
    """

    def __init__(self, t: Tables) -> None:
        c, d, f = t.cases.c, t.deadlines.c, t.followups.c
        bp = sa.bindparam
        self.get_case = sa.select(t.cases).where(c.id == bp("_id"))
        self.case_by_external_id = sa.select(t.cases).where(
            c.channel == bp("_channel"), c.external_id == bp("_external_id")
        )
        self.insert_case = sa.insert(t.cases).returning(c.id)
        self.set_case = sa.update(t.cases).where(c.id == bp("_id"))
        self.update_case = sa.update(t.cases).where(c.id == bp("_id"), c.version == bp("_expected"))
        self.case_version = sa.select(c.version).where(c.id == bp("_id"))
        self.insert_event = sa.insert(t.events)
        self.case_events = (
            sa.select(t.events).where(t.events.c.case_id == bp("_id")).order_by(t.events.c.seq)
        )
        self.insert_deadline = sa.insert(t.deadlines)
        self.get_deadline = sa.select(t.deadlines).where(d.id == bp("_id"))
        self.update_deadline = (
            sa.update(t.deadlines).where(d.id == bp("_id")).values(version=d.version + 1)
        )
        self.active_deadlines = (
            sa.select(t.deadlines)
            .where(
                d.case_id == bp("_case_id"),
                sa.or_(d.status == "running", d.status == "paused", d.status == "breached"),
            )
            .order_by(d.id)
        )
        self.case_deadlines = (
            sa.select(t.deadlines).where(d.case_id == bp("_case_id")).order_by(d.id)
        )
        self.min_fire_at = sa.select(sa.func.min(d.fire_at))
        self.insert_followup = sa.insert(t.followups).returning(f.id)
        self.get_followup = sa.select(t.followups).where(f.id == bp("_id"))
        self.update_followup = (
            sa.update(t.followups).where(f.id == bp("_id")).values(version=f.version + 1)
        )
        self.open_followups = (
            sa.select(t.followups)
            .where(f.case_id == bp("_case_id"), sa.or_(f.status == "scheduled", f.status == "due"))
            .order_by(f.id)
        )
        self._outbox: dict[str, Any] = {}
        self._t = t

    def insert_outbox(self, dialect: str) -> Any:
        """``INSERT ... ON CONFLICT (key) DO NOTHING`` for the outbox, per dialect."""
        stmt = self._outbox.get(dialect)
        if stmt is None:
            stmt = self._outbox[dialect] = _insert_ignore_stmt(dialect, self._t.outbox, ["key"])
        return stmt


_STATEMENTS: dict[int, tuple[Tables, Statements]] = {}


def stmts(t: Tables) -> Statements:
    """The prepared statements for ``t`` (built on first use)."""
    hit = _STATEMENTS.get(id(t))
    if hit is None or hit[0] is not t:
        hit = _STATEMENTS[id(t)] = (t, Statements(t))
    return hit[1]


def case_from_row(row: Any) -> Case:
    m = row._mapping
    return Case(
        id=m["id"],
        workflow=m["workflow"],
        workflow_version=m["workflow_version"],
        state=m["state"],
        version=m["version"],
        channel=m["channel"],
        received_at=m["received_at"],
        category=m["category"],
        external_id=m["external_id"],
        summary=m["summary"],
        description=m["description"],
        complainant=Complainant(m["complainant_name"], m["complainant_contact"]),
        respondent=m["respondent"],
        product=m["product"],
        amount=m["amount"],
        remedy=m["remedy"],
        department=m["department"],
        assignee=m["assignee"],
        data=m["data"] or {},
        accepted_at=m["accepted_at"],
        closed_at=m["closed_at"],
        updated_at=m["updated_at"],
        rehandle_count=m["rehandle_count"],
        escalation_count=m["escalation_count"],
    )


def event_from_row(row: Any) -> Event:
    m = row._mapping
    return Event(
        id=m["id"],
        case_id=m["case_id"],
        seq=m["seq"],
        kind=m["kind"],
        occurred_at=m["occurred_at"],
        recorded_at=m["recorded_at"],
        actor=m["actor"],
        roles=tuple(m["roles"] or ()),
        trigger=m["trigger"],
        from_state=m["from_state"],
        to_state=m["to_state"],
        data=m["data"] or {},
        prev_hash=m["prev_hash"],
        hash=m["hash"],
    )


def insert_case(conn: sa.Connection, t: Tables, values: Mapping[str, Any]) -> int:
    return int(FAST.execute(conn, stmts(t).insert_case, values).fetchone()[0])


def find_case_by_external_id(
    conn: sa.Connection, t: Tables, channel: str, external_id: str
) -> Any | None:
    return FAST.first(
        conn, stmts(t).case_by_external_id, {"_channel": channel, "_external_id": external_id}
    )


def get_case_row(conn: sa.Connection, t: Tables, case_id: int) -> Any | None:
    return FAST.first(conn, stmts(t).get_case, {"_id": case_id})


def update_case(
    conn: sa.Connection, t: Tables, case_id: int, expected_version: int, values: Mapping[str, Any]
) -> bool:
    """Compare-and-set on ``version``: ``False`` when another writer got there first."""
    params = {
        **values,
        "version": expected_version + 1,
        "_id": case_id,
        "_expected": expected_version,
    }
    return bool(FAST.execute(conn, stmts(t).update_case, params).rowcount == 1)


def set_case_fields(
    conn: sa.Connection, t: Tables, case_id: int, values: Mapping[str, Any]
) -> None:
    """Update columns of a case without the version check (the caller holds the row)."""
    FAST.execute(conn, stmts(t).set_case, {**values, "_id": case_id})


def current_version(conn: sa.Connection, t: Tables, case_id: int) -> int | None:
    v = FAST.scalar(conn, stmts(t).case_version, {"_id": case_id})
    return None if v is None else int(v)


def build_event(
    *,
    case_id: int,
    seq: int,
    prev_hash: str,
    kind: str,
    actor: str,
    roles: Sequence[str],
    occurred_at: dt.datetime,
    recorded_at: dt.datetime,
    trigger: str | None = None,
    from_state: str | None = None,
    to_state: str | None = None,
    data: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The row of one event chained to ``prev_hash`` (its ``hash`` computed, nothing written)."""
    row: dict[str, Any] = {
        "case_id": case_id,
        "seq": seq,
        "kind": kind,
        "trigger": trigger,
        "from_state": from_state,
        "to_state": to_state,
        "actor": actor,
        "roles": sorted(roles),
        "data": dict(data or {}),
        "occurred_at": occurred_at,
        "recorded_at": recorded_at,
        "prev_hash": prev_hash,
    }
    row["hash"] = event_hash(**row)
    return row


def insert_event(conn: sa.Connection, t: Tables, row: Mapping[str, Any]) -> None:
    FAST.execute(conn, stmts(t).insert_event, row)


def case_events(conn: sa.Connection, t: Tables, case_id: int) -> list[Event]:
    rows = FAST.all(conn, stmts(t).case_events, {"_id": case_id})
    return [event_from_row(r) for r in rows]


def outbox_row(
    key: str,
    topic: str,
    case_id: int | None,
    payload: Mapping[str, Any],
    now: dt.datetime,
    not_before: dt.datetime | None = None,
) -> dict[str, Any]:
    """The parameters of one outbox row (see :func:`insert_outbox_rows`)."""
    return {
        "key": key,
        "topic": topic,
        "case_id": case_id,
        "payload": dict(payload),
        "created_at": now,
        "next_attempt_at": not_before or now,
    }


def insert_outbox_rows(conn: sa.Connection, t: Tables, rows: Sequence[Mapping[str, Any]]) -> None:
    """Queue hook notifications; a row whose key is already queued is left as it is."""
    if len(rows) == 1:
        FAST.execute(conn, stmts(t).insert_outbox(conn.dialect.name), rows[0])
    elif rows:
        FAST.executemany(conn, stmts(t).insert_outbox(conn.dialect.name), list(rows))


def insert_outbox(
    conn: sa.Connection,
    t: Tables,
    *,
    key: str,
    topic: str,
    case_id: int | None,
    payload: Mapping[str, Any],
    now: dt.datetime,
    not_before: dt.datetime | None = None,
) -> None:
    """Queue one hook notification; a row with the same key already queued is left as it is."""
    insert_outbox_rows(conn, t, [outbox_row(key, topic, case_id, payload, now, not_before)])


def _insert_ignore_stmt(dialect: str, table: sa.Table, keys: list[str]) -> Any:
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        return pg_insert(table).on_conflict_do_nothing(index_elements=keys)
    from sqlalchemy.dialects.sqlite import insert as sqlite_insert

    return sqlite_insert(table).on_conflict_do_nothing(index_elements=keys)


def list_case_rows(
    conn: sa.Connection,
    t: Tables,
    *,
    workflow: str | None = None,
    state: str | Sequence[str] | None = None,
    channel: str | None = None,
    category: str | None = None,
    assignee: str | None = None,
    opened_from: dt.datetime | None = None,
    opened_to: dt.datetime | None = None,
    open_only: bool = False,
    ids: Sequence[int] | None = None,
    limit: int | None = None,
    offset: int = 0,
) -> list[Any]:
    c = t.cases.c
    q = sa.select(t.cases)
    if workflow is not None:
        q = q.where(c.workflow == workflow)
    if state is not None:
        q = q.where(c.state == state) if isinstance(state, str) else q.where(c.state.in_(state))
    if channel is not None:
        q = q.where(c.channel == channel)
    if category is not None:
        q = q.where(c.category == category)
    if assignee is not None:
        q = q.where(c.assignee == assignee)
    if opened_from is not None:
        q = q.where(c.received_at >= opened_from)
    if opened_to is not None:
        q = q.where(c.received_at < opened_to)
    if open_only:
        q = q.where(c.closed_at.is_(None))
    if ids is not None:
        q = q.where(c.id.in_(list(ids)))
    q = q.order_by(c.id).offset(offset)
    if limit is not None:
        q = q.limit(limit)
    return list(conn.execute(q))


def all_case_ids(conn: sa.Connection, t: Tables) -> list[int]:
    return [int(i) for i in conn.execute(sa.select(t.cases.c.id).order_by(t.cases.c.id)).scalars()]
