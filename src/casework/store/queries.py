"""Row-level reads and writes for cases, events and the outbox (SQLAlchemy Core)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any

import sqlalchemy as sa

from casework.audit import event_hash
from casework.records import Case, Complainant, Event
from casework.store.schema import Tables


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
    result = conn.execute(sa.insert(t.cases).values(**values).returning(t.cases.c.id))
    return int(result.scalar_one())


def find_case_by_external_id(
    conn: sa.Connection, t: Tables, channel: str, external_id: str
) -> Any | None:
    c = t.cases.c
    return conn.execute(
        sa.select(t.cases).where(c.channel == channel, c.external_id == external_id)
    ).first()


def get_case_row(conn: sa.Connection, t: Tables, case_id: int) -> Any | None:
    return conn.execute(sa.select(t.cases).where(t.cases.c.id == case_id)).first()


def update_case(
    conn: sa.Connection, t: Tables, case_id: int, expected_version: int, values: Mapping[str, Any]
) -> bool:
    """Compare-and-set on ``version``: ``False`` when another writer got there first."""
    c = t.cases.c
    result = conn.execute(
        sa.update(t.cases)
        .where(c.id == case_id, c.version == expected_version)
        .values(version=expected_version + 1, **values)
    )
    return result.rowcount == 1


def current_version(conn: sa.Connection, t: Tables, case_id: int) -> int | None:
    v = conn.execute(sa.select(t.cases.c.version).where(t.cases.c.id == case_id)).scalar()
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
    conn.execute(sa.insert(t.events).values(**row))


def case_events(conn: sa.Connection, t: Tables, case_id: int) -> list[Event]:
    rows = conn.execute(
        sa.select(t.events).where(t.events.c.case_id == case_id).order_by(t.events.c.seq)
    )
    return [event_from_row(r) for r in rows]


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
    values = {
        "key": key,
        "topic": topic,
        "case_id": case_id,
        "payload": dict(payload),
        "created_at": now,
        "next_attempt_at": not_before or now,
    }
    conn.execute(_insert_ignore(conn, t.outbox, ["key"]).values(**values))


def _insert_ignore(conn: sa.Connection, table: sa.Table, keys: list[str]) -> Any:
    if conn.dialect.name == "postgresql":
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
