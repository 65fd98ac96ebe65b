"""The engine's commands on real SQLite and PostgreSQL: intake, fire, permissions, guards,
required fields, optimistic concurrency, atomicity, host transactions, audit and pinning."""

from __future__ import annotations

import datetime as dt
import threading
from typing import Any

import pytest
import sqlalchemy as sa

from casework import (
    Actor,
    CaseNotFound,
    ConfigurationError,
    Engine,
    GuardRejected,
    InvalidInput,
    MissingField,
    PermissionDenied,
    StaleCase,
    TriggerNotAllowed,
)
from casework.loading import load_workflow_text
from casework.testing import captured
from tests.conftest import SHANGHAI, WORKFLOWS, Backend

CLERK = Actor("li.clerk", {"clerk"})
AGENT = Actor("wang.agent", {"agent"})
SUPERVISOR = Actor("zhao.sup", {"supervisor"})


def counts(engine: Engine) -> tuple[int, int, int]:
    t = engine.store.tables

    def work(conn: sa.Connection) -> tuple[int, int, int]:
        n = [
            conn.execute(sa.select(sa.func.count()).select_from(tb)).scalar_one()
            for tb in (t.cases, t.events, t.outbox)
        ]
        return n[0], n[1], n[2]

    return engine.store.run(work, read=True)


def test_intake_opens_case_in_initial_state_with_event_and_notification(engine: Engine) -> None:
    with captured(engine) as seen:
        case = engine.intake(
            "consumer_complaint",
            channel="hotline",
            category="after_sales",
            summary="洗衣机漏水，商家拒绝维修",
            complainant={"name": "张三", "contact": "13812345678"},
            respondent="某电器店",
            amount="2999.00",
        )
    assert case.state == "received"
    assert case.version == 1
    assert case.workflow_version == 1
    assert str(case.amount) == "2999.00"
    assert case.complainant.masked().contact == "138*****678"
    [event] = engine.history(case.id)
    assert event.kind == "opened" and event.to_state == "received"
    assert "13812345678" not in str(event.data), "personal data stays out of the audit trail"
    assert "case.opened" in [p.topic for p in seen]


def test_intake_is_idempotent_on_channel_and_external_id(engine: Engine) -> None:
    first = engine.intake("consumer_complaint", channel="website", external_id="W-1")
    before = counts(engine)
    again = engine.intake("consumer_complaint", channel="website", external_id="W-1")
    assert again.id == first.id
    assert counts(engine) == before, "a repeated key writes nothing"
    other = engine.intake("consumer_complaint", channel="email", external_id="W-1")
    assert other.id != first.id, "the key is per channel"


def test_full_lifecycle_reaches_archived_and_closes(engine: Engine, clock: Any) -> None:
    case = engine.intake("consumer_complaint", channel="offline")
    steps = [
        ("accept", CLERK),
        ("investigate", AGENT),
        ("handle", AGENT),
        ("respond", AGENT),
        ("archive", SUPERVISOR),
    ]
    for trigger, actor in steps:
        clock.advance(hours=2)
        if trigger == "archive":  # the follow-up visit comes first (see test_followups)
            engine.record_followup(case.id, "satisfied", SUPERVISOR, score=5)
        case = engine.fire(case.id, trigger, actor)
    assert case.state == "archived"
    assert case.closed_at is not None
    assert case.accepted_at is not None
    assert [e.trigger for e in engine.history(case.id) if e.kind == "transition"] == [
        t for t, _ in steps
    ]


def test_permission_denied_names_roles_and_writes_nothing(engine: Engine) -> None:
    case = engine.intake("consumer_complaint", channel="hotline")
    before = counts(engine)
    with pytest.raises(PermissionDenied) as err:
        engine.fire(case.id, "accept", AGENT)
    assert err.value.trigger == "accept"
    assert set(err.value.allowed_roles) == {"clerk", "supervisor"}
    assert counts(engine) == before
    assert engine.get(case.id).version == 1


def test_trigger_not_allowed_lists_allowed_triggers(engine: Engine) -> None:
    case = engine.intake("consumer_complaint", channel="hotline")
    with pytest.raises(TriggerNotAllowed) as err:
        engine.fire(case.id, "archive", SUPERVISOR)
    assert err.value.state == "received"
    assert {"accept", "reject", "transfer", "withdraw"} <= set(err.value.allowed)


def test_reject_requires_a_reason(engine: Engine) -> None:
    case = engine.intake("consumer_complaint", channel="hotline")
    with pytest.raises(MissingField) as err:
        engine.fire(case.id, "reject", CLERK)
    assert err.value.missing == ("reason",)
    done = engine.fire(case.id, "reject", CLERK, data={"reason": "超过三年"})
    assert done.state == "rejected" and done.closed_at is not None


def test_unknown_case_is_reported(engine: Engine) -> None:
    with pytest.raises(CaseNotFound):
        engine.fire(987654, "accept", CLERK)
    with pytest.raises(CaseNotFound):
        engine.get(987654)


def test_naive_datetimes_and_unknown_channels_are_refused(engine: Engine) -> None:
    with pytest.raises(InvalidInput, match="naive"):
        engine.intake("consumer_complaint", channel="hotline", received_at=dt.datetime(2026, 5, 1))
    with pytest.raises(InvalidInput, match="did you mean 'hotline'"):
        engine.intake("consumer_complaint", channel="hotlin")
    assert counts(engine) == (0, 0, 0)


def test_backdated_step_records_business_and_system_time(engine: Engine, clock: Any) -> None:
    case = engine.intake("consumer_complaint", channel="hotline")
    clock.advance(days=2)
    when = dt.datetime(2026, 5, 6, 15, 30, tzinfo=SHANGHAI)
    engine.fire(case.id, "accept", CLERK, at=when)
    event = engine.history(case.id)[-1]
    assert event.occurred_at == when
    assert event.recorded_at == clock.now()


def test_stale_expected_version_is_refused(engine: Engine) -> None:
    case = engine.intake("consumer_complaint", channel="hotline")
    engine.fire(case.id, "accept", CLERK, expected_version=1)
    with pytest.raises(StaleCase) as err:
        engine.fire(case.id, "investigate", AGENT, expected_version=1)
    assert err.value.actual_version == 2


def test_two_concurrent_writers_on_one_version_exactly_one_wins(
    backend: Backend, clock: Any
) -> None:
    """Threads (SQLite) or separate engines/pools (PostgreSQL) race on the same row version."""
    engines = [backend.open(clock=clock) for _ in range(2)]
    try:
        case = engines[0].intake("consumer_complaint", channel="hotline")
        barrier = threading.Barrier(2)
        results: list[str] = []

        def race(eng: Engine) -> None:
            barrier.wait()
            try:
                eng.fire(case.id, "accept", CLERK, expected_version=1)
                results.append("won")
            except (StaleCase, TriggerNotAllowed):
                results.append("lost")

        threads = [threading.Thread(target=race, args=(e,)) for e in engines]
        for th in threads:
            th.start()
        for th in threads:
            th.join()
        assert sorted(results) == ["lost", "won"]
        final = engines[0].get(case.id)
        assert final.version == 2
        assert len(engines[0].history(case.id)) == 2
    finally:
        for e in engines:
            e.close()


class _Explodes:
    """An effect that fails after the case row and event were written."""

    def on_open(self, conn: sa.Connection, spec: Any, case: Any, at: Any) -> None:
        pass

    def on_fire(self, conn: sa.Connection, *args: Any) -> None:
        raise RuntimeError("disk full")


def test_a_command_that_fails_midway_leaves_nothing_behind(engine: Engine) -> None:
    case = engine.intake("consumer_complaint", channel="hotline")
    before = counts(engine)
    engine.add_effects(_Explodes())
    with pytest.raises(RuntimeError):
        engine.fire(case.id, "accept", CLERK)
    assert counts(engine) == before
    assert engine.get(case.id).state == "received"
    assert engine.verify_audit().ok


def test_host_transaction_rollback_discards_casework_step_too(backend: Backend, clock: Any) -> None:
    """Given a host Connection, casework joins its transaction: both roll back or commit."""
    backend.open(clock=clock).close()  # casework's tables exist already
    host = backend.sa_engine()
    md = sa.MetaData(schema=backend.schema)
    tickets = sa.Table("host_tickets", md, sa.Column("id", sa.Integer, primary_key=True))
    try:
        with host.connect() as conn:
            with conn.begin():
                md.create_all(conn)
            eng = Engine.open(
                conn, workflows=WORKFLOWS, clock=clock, schema=backend.schema, create=False
            )
            tx = conn.begin()
            conn.execute(sa.insert(tickets).values(id=1))
            eng.intake("consumer_complaint", channel="hotline", external_id="T-1")
            tx.rollback()
            tx = conn.begin()
            conn.execute(sa.insert(tickets).values(id=2))
            eng.intake("consumer_complaint", channel="hotline", external_id="T-2")
            tx.commit()
            with conn.begin():
                assert conn.execute(sa.select(tickets.c.id)).scalars().all() == [2]
        reader = backend.open(clock=clock)
        assert [c.external_id for c in reader.list_cases()] == ["T-2"]
        reader.close()
    finally:
        host.dispose()


def test_tampering_with_the_audit_trail_is_detected(engine: Engine) -> None:
    case = engine.intake("consumer_complaint", channel="hotline")
    engine.fire(case.id, "accept", CLERK)
    engine.fire(case.id, "investigate", AGENT)
    assert engine.verify_audit().ok
    ev = engine.store.tables.events

    def alter(conn: sa.Connection) -> None:
        conn.execute(
            sa.update(ev).where(ev.c.case_id == case.id, ev.c.seq == 2).values(actor="mallory")
        )

    engine.store.run(alter)
    report = engine.verify_audit()
    assert not report.ok
    assert any(f.seq == 2 and "altered" in f.message for f in report.findings)


def test_removing_the_last_event_is_detected(engine: Engine) -> None:
    case = engine.intake("consumer_complaint", channel="hotline")
    engine.fire(case.id, "accept", CLERK)
    ev = engine.store.tables.events
    engine.store.run(
        lambda conn: conn.execute(sa.delete(ev).where(ev.c.case_id == case.id, ev.c.seq == 2))
    )
    report = engine.verify_audit(case.id)
    assert not report.ok and any("removed" in f.message for f in report.findings)


GUARDED = """
workflow: guarded
version: 1
effective_from: 2020-01-01
roles: [agent]
guards: [merchant_known]
states:
  open: {initial: true}
  refunded: {final: true}
  closed: {final: true}
transitions:
  - trigger: refund
    source: open
    dest: refunded
    roles: [agent]
    guards:
      - merchant_known
      - {field: amount, op: "<=", value: 5000}
  - trigger: close
    source: open
    dest: closed
    roles: [agent]
"""


def test_guard_veto_names_the_guard(backend: Backend, clock: Any) -> None:
    spec = load_workflow_text(GUARDED)
    known = {"ACME"}
    eng = backend.open(
        workflows=[spec],
        clock=clock,
        guards={"merchant_known": lambda ctx: ctx.case.respondent in known},
    )
    try:
        unknown = eng.intake("guarded", channel="web", respondent="Nobody Ltd", amount=10)
        with pytest.raises(GuardRejected) as err:
            eng.fire(unknown.id, "refund", AGENT)
        assert err.value.guard == "merchant_known"
        big = eng.intake("guarded", channel="web", respondent="ACME", amount=9000)
        with pytest.raises(GuardRejected) as err:
            eng.fire(big.id, "refund", AGENT)
        assert err.value.guard == "amount <= 5000"
        ok = eng.intake("guarded", channel="web", respondent="ACME", amount=100)
        assert eng.fire(ok.id, "refund", AGENT).state == "refunded"
    finally:
        eng.close()


def test_unregistered_guard_is_a_setup_error(sqlite_backend: Backend) -> None:
    with pytest.raises(ConfigurationError, match="merchant_known"):
        sqlite_backend.open(workflows=[load_workflow_text(GUARDED)])


V1 = """
workflow: pinned
version: {version}
effective_from: {start}
roles: [clerk]
states:
  new: {{initial: true}}
  {extra}: {{}}
  done: {{final: true}}
transitions:
  - {{trigger: accept, source: new, dest: {extra}, roles: [clerk]}}
  - {{trigger: finish, source: {extra}, dest: done, roles: [clerk]}}
"""


def _pinned(pin_by: str | None = None) -> list[Any]:
    extra = f"pin_by: {pin_by}\n" if pin_by else ""
    return [
        load_workflow_text(extra + V1.format(version=1, start="2020-01-01", extra="old_step")),
        load_workflow_text(extra + V1.format(version=2, start="2026-04-15", extra="new_step")),
    ]


def test_cases_keep_the_version_in_force_when_received(backend: Backend, clock: Any) -> None:
    eng = backend.open(workflows=_pinned(), clock=clock)
    try:
        old = eng.intake("pinned", channel="web", received_at="2026-04-14T23:00:00+08:00")
        new = eng.intake("pinned", channel="web", received_at="2026-04-15T00:30:00+08:00")
        assert (old.workflow_version, new.workflow_version) == (1, 2)
        assert eng.fire(old.id, "accept", Actor("c", {"clerk"})).state == "old_step"
        assert eng.fire(new.id, "accept", Actor("c", {"clerk"})).state == "new_step"
    finally:
        eng.close()


def test_pin_by_accepted_moves_the_case_to_the_version_in_force_at_acceptance(
    backend: Backend, clock: Any
) -> None:
    eng = backend.open(workflows=_pinned("accepted"), clock=clock)
    try:
        case = eng.intake("pinned", channel="web", received_at="2026-04-10T10:00:00+08:00")
        assert case.workflow_version == 1
        accepted = eng.fire(
            case.id, "accept", Actor("c", {"clerk"}), at="2026-04-16T10:00:00+08:00"
        )
        assert accepted.workflow_version == 2 and accepted.state == "new_step"
    finally:
        eng.close()


def test_list_filters_by_state_channel_and_opening_time(engine: Engine) -> None:
    a = engine.intake("consumer_complaint", channel="hotline", received_at="2026-05-01T09:00+08:00")
    b = engine.intake("consumer_complaint", channel="email", received_at="2026-05-03T09:00+08:00")
    engine.fire(b.id, "accept", CLERK)
    assert [c.id for c in engine.list_cases(channel="hotline")] == [a.id]
    assert [c.id for c in engine.list_cases(state="accepted")] == [b.id]
    got = engine.list_cases(
        opened_from="2026-05-02T00:00+08:00", opened_to="2026-05-04T00:00+08:00"
    )
    assert [c.id for c in got] == [b.id]


def _fire_in_process(url: str, schema: str | None, case_id: int, go: Any, out: Any) -> None:
    from casework import Engine as _Engine
    from tests.conftest import WORKFLOWS as _WF

    eng = _Engine.open(url, workflows=_WF, schema=schema, create=False)
    go.wait()
    try:
        eng.fire(case_id, "accept", Actor("p", {"clerk"}), expected_version=1)
        out.put("won")
    except (StaleCase, TriggerNotAllowed):
        out.put("lost")
    finally:
        eng.close()


def test_two_processes_on_postgres_exactly_one_wins(pg_backend: Backend, clock: Any) -> None:
    import multiprocessing as mp

    eng = pg_backend.open(clock=clock)
    case = eng.intake("consumer_complaint", channel="hotline")
    ctx = mp.get_context("spawn")
    go, out = ctx.Event(), ctx.Queue()
    procs = [
        ctx.Process(
            target=_fire_in_process, args=(pg_backend.url, pg_backend.schema, case.id, go, out)
        )
        for _ in range(2)
    ]
    for p in procs:
        p.start()
    go.set()
    results = sorted(out.get(timeout=60) for _ in procs)
    for p in procs:
        p.join(timeout=60)
    assert results == ["lost", "won"]
    assert eng.get(case.id).version == 2
    eng.close()


def test_host_rollback_also_undoes_a_first_statement_on_plain_sqlite(
    tmp_path: Any, clock: Any
) -> None:
    """A host engine made with plain ``create_engine`` (pysqlite's lazy BEGIN): when
    casework's step is the first statement of the host's transaction, rollback still undoes it."""
    url = f"sqlite:///{tmp_path / 'host.db'}"
    Engine.open(url, workflows=WORKFLOWS, clock=clock).close()
    host = sa.create_engine(url)
    try:
        with host.connect() as conn:
            eng = Engine.open(conn, workflows=WORKFLOWS, clock=clock, create=False)
            tx = conn.begin()
            eng.intake("consumer_complaint", channel="hotline", external_id="FIRST")
            tx.rollback()
            with conn.begin():
                assert eng.list_cases() == []
    finally:
        host.dispose()


def test_opening_an_engine_per_host_connection_does_not_leak(sqlite_backend: Backend) -> None:
    """Hosts may open an engine per request on their own connection: memory stays flat."""
    import gc
    import tracemalloc

    from casework.loading import load_workflows

    specs = load_workflows(WORKFLOWS)
    sqlite_backend.open().close()
    host = sqlite_backend.sa_engine()
    tracemalloc.start()
    try:
        with host.connect() as conn:
            for _ in range(20):
                Engine.open(conn, workflows=specs, create=False)
            gc.collect()
            before = tracemalloc.get_traced_memory()[0]
            for _ in range(60):
                Engine.open(conn, workflows=specs, create=False)
            gc.collect()
            after = tracemalloc.get_traced_memory()[0]
    finally:
        tracemalloc.stop()
        host.dispose()
    assert (after - before) / 60 < 2048, f"{(after - before) / 60:.0f} bytes per open"
