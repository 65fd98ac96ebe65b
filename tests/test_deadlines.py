"""Deadline clocks: start/stop/pause/restart/extend, ladders, exactly-once firing, catch-up,
hook delivery, time zones — on real SQLite and PostgreSQL, driven by a frozen clock."""

from __future__ import annotations

import datetime as dt
import json
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from casework import Actor, Engine, InvalidInput, MissingField, PermissionDenied
from casework.calendars import default_registry
from casework.clock import FrozenClock
from casework.hooks import HookRegistry
from casework.loading import load_workflow_text
from casework.testing import outbox_payloads
from tests.conftest import SHANGHAI, Backend

CLERK = Actor("li.clerk", {"clerk"})
AGENT = Actor("wang.agent", {"agent"})
SUPERVISOR = Actor("zhao.sup", {"supervisor"})
SENIOR = Actor("qian.senior", {"senior"})


def at(text: str) -> dt.datetime:
    """A Shanghai wall-clock time: ``at("2026-09-28 10:00")``."""
    return dt.datetime.fromisoformat(text).replace(tzinfo=SHANGHAI)


def clocks(engine: Engine, case_id: int) -> dict[str, Any]:
    return {d.clock: d for d in engine.deadlines(case_id)}


def topics(engine: Engine) -> list[tuple[str, str]]:
    return [(p.topic, p.idempotency_key) for _, p in outbox_payloads(engine)]


# ---------------------------------------------------------------- the default workflow's clocks


def test_acceptance_clock_counts_working_days_across_national_day(
    engine: Engine, clock: FrozenClock
) -> None:
    """Received Mon 2026-09-28: 7 working days skip 10-01..07 and count make-up day 10-10."""
    clock.set(at("2026-09-28 10:00"))
    case = engine.intake("consumer_complaint", channel="hotline")
    acc = clocks(engine, case.id)["acceptance"]
    assert acc.status == "running"
    assert acc.due_on == dt.date(2026, 10, 13)
    assert acc.due_at == at("2026-10-14 00:00")
    assert not acc.provisional


def test_accept_stops_acceptance_as_met_and_starts_handling(
    engine: Engine, clock: FrozenClock
) -> None:
    clock.set(at("2026-09-28 10:00"))
    case = engine.intake("consumer_complaint", channel="hotline")
    engine.fire(case.id, "accept", CLERK, at=at("2026-09-30 09:00"))
    got = clocks(engine, case.id)
    assert got["acceptance"].status == "met"
    handling = got["handling"]
    assert handling.status == "running"
    # 30 calendar days after 09-30 is 10-30 (a Friday, a working day): no rollover.
    assert handling.due_on == dt.date(2026, 10, 30)


def test_ladder_warns_then_breaches_once_each(engine: Engine, clock: FrozenClock) -> None:
    clock.set(at("2026-09-28 10:00"))
    case = engine.intake("consumer_complaint", channel="hotline")
    (dl,) = engine.deadlines(case.id)
    clock.set(at("2026-10-09 12:00"))
    first = engine.run_due()
    assert (first.warnings, first.breaches) == (1, 0)
    clock.set(at("2026-10-20 12:00"))
    second = engine.run_due()
    assert (second.warnings, second.breaches) == (1, 1)
    assert engine.run_due().steps == 0, "nothing fires twice"
    keys = [k for topic, k in topics(engine) if topic.startswith("deadline.")]
    assert keys == [
        f"deadline:{dl.id}:at_50",
        f"deadline:{dl.id}:before_1_working_day",
        f"deadline:{dl.id}:breach",
    ]
    assert clocks(engine, case.id)["acceptance"].status == "breached"
    assert engine.history(case.id)[-1].kind == "deadline_breached"


def test_handling_breach_plus_one_working_day_escalates_as_system(
    engine: Engine, clock: FrozenClock
) -> None:
    clock.set(at("2026-05-06 09:00"))
    case = engine.intake("consumer_complaint", channel="website")
    engine.fire(case.id, "accept", CLERK)
    engine.fire(case.id, "investigate", AGENT)
    handling = clocks(engine, case.id)["handling"]
    assert handling.due_on == dt.date(2026, 6, 5)  # 05-06 + 30 days, a Friday
    clock.set(at("2026-06-06 08:00"))  # breached, but not yet "breach + 1 working day"
    engine.run_due()
    assert engine.get(case.id).state == "investigating"
    clock.set(at("2026-06-09 00:30"))  # after 24:00 of Mon 06-08, the next working day
    report = engine.run_due()
    assert report.triggers_fired == 1
    case = engine.get(case.id)
    assert case.state == "escalated"
    last = engine.history(case.id)[-1]
    assert (last.trigger, last.actor) == ("escalate", "system")
    assert clocks(engine, case.id)["task_group"].status == "running"
    assert ("case.escalated", f"case:{case.id}:event:{last.seq}:escalated") in topics(engine)


def test_late_stop_records_the_breach_and_notifies_once(engine: Engine, clock: FrozenClock) -> None:
    clock.set(at("2026-09-28 10:00"))
    case = engine.intake("consumer_complaint", channel="hotline")
    clock.set(at("2026-10-15 10:00"))  # the worker never ran
    engine.fire(case.id, "accept", CLERK)
    acc = clocks(engine, case.id)["acceptance"]
    assert acc.status == "breached" and acc.breached_at == at("2026-10-14 00:00")
    assert [k for t, k in topics(engine) if t == "deadline.breached"] == [
        f"deadline:{acc.id}:breach"
    ]
    engine.run_due()
    assert len([t for t, _ in topics(engine) if t == "deadline.breached"]) == 1


def test_restart_after_downtime_fires_every_missed_step_once(
    backend: Backend, clock: FrozenClock
) -> None:
    clock.set(at("2026-09-28 10:00"))
    first = backend.open(clock=clock)
    ids = [first.intake("consumer_complaint", channel="hotline").id for _ in range(5)]
    first.close()  # the worker process dies
    clock.set(at("2026-11-30 10:00"))
    second = backend.open(clock=clock)
    report = second.run_due()
    assert report.steps == 5 * 3 and report.breaches == 5
    assert second.run_due().steps == 0
    assert all(clocks(second, i)["acceptance"].status == "breached" for i in ids)
    second.close()


# ---------------------------------------------------------------- pause / restart / cancel

PAUSING = """
workflow: appraisal
version: 1
effective_from: 2020-01-01
timezone: Asia/Shanghai
calendar: cn
roles: [agent]
states:
  open: {initial: true}
  mediating: {}
  awaiting_appraisal: {}
  done: {final: true}
  dropped: {final: true}
transitions:
  - {trigger: accept, source: open, dest: mediating, roles: [agent]}
  - {trigger: commission, source: mediating, dest: awaiting_appraisal, roles: [agent]}
  - {trigger: receive_result, source: awaiting_appraisal, dest: mediating, roles: [agent]}
  - {trigger: new_facts, source: mediating, dest: mediating, roles: [agent]}
  - {trigger: settle, source: mediating, dest: done, roles: [agent]}
  - {trigger: drop, source: [open, mediating, awaiting_appraisal], dest: dropped, roles: [agent]}
clocks:
  mediation:
    period: 60 days
    start: {triggers: [accept]}
    stop: {triggers: [settle]}
    pause: [awaiting_appraisal]
    max_pause: {max_pause}
    restart: [new_facts]
    legal_basis: 市场监督管理投诉举报处理办法 第22–23条
"""


@pytest.fixture
def pausing(backend: Backend, clock: FrozenClock) -> Any:
    def open_(max_pause: str = "30 days") -> Engine:
        spec = load_workflow_text(PAUSING.replace("{max_pause}", max_pause))
        return backend.open(workflows=[spec], clock=clock)

    return open_


def test_pause_requires_a_reason_and_excludes_appraisal_days(
    pausing: Any, clock: FrozenClock
) -> None:
    engine = pausing()
    clock.set(at("2026-05-06 10:00"))
    case = engine.intake("appraisal", channel="web")
    engine.fire(case.id, "accept", AGENT)
    assert clocks(engine, case.id)["mediation"].due_on == dt.date(2026, 7, 6)  # 07-05 is Sunday
    with pytest.raises(MissingField):
        engine.fire(case.id, "commission", AGENT)
    engine.fire(case.id, "commission", AGENT, data={"reason": "送检"}, at=at("2026-05-10 10:00"))
    paused = clocks(engine, case.id)["mediation"]
    assert paused.status == "paused" and paused.fire_at is not None  # the max-pause watch
    engine.fire(case.id, "receive_result", AGENT, at=at("2026-05-20 10:00"))
    resumed = clocks(engine, case.id)["mediation"]
    assert resumed.status == "running"
    # 10 excluded days: 05-06 + 60 + 10 = 07-15 (a Wednesday).
    assert resumed.due_on == dt.date(2026, 7, 15)
    lines = engine.explain(case.id, "mediation")
    assert any("paused" in line for line in lines)
    engine.close()


def test_max_pause_caps_excluded_time(pausing: Any, clock: FrozenClock) -> None:
    engine = pausing("5 days")
    clock.set(at("2026-05-06 10:00"))
    case = engine.intake("appraisal", channel="web")
    engine.fire(case.id, "accept", AGENT)
    engine.fire(case.id, "commission", AGENT, data={"reason": "送检"}, at=at("2026-05-10 10:00"))
    clock.set(at("2026-05-16 10:00"))
    engine.run_due()
    dl = clocks(engine, case.id)["mediation"]
    assert dl.status == "running", "the clock runs again once the allowed pause is used"
    assert dl.due_on == dt.date(2026, 7, 10)  # 05-06 + 60 + 5
    engine.fire(case.id, "receive_result", AGENT, at=at("2026-05-30 10:00"))
    assert clocks(engine, case.id)["mediation"].due_on == dt.date(2026, 7, 10)
    engine.close()


def test_restart_trigger_cancels_the_run_and_starts_a_fresh_one(
    pausing: Any, clock: FrozenClock
) -> None:
    engine = pausing()
    clock.set(at("2026-05-06 10:00"))
    case = engine.intake("appraisal", channel="web")
    engine.fire(case.id, "accept", AGENT)
    engine.fire(case.id, "new_facts", AGENT, at=at("2026-05-20 10:00"))
    runs = engine.deadlines(case.id)
    assert [r.status for r in runs] == ["cancelled", "running"]
    assert runs[1].started_at == at("2026-05-20 10:00")
    assert runs[1].due_on == dt.date(2026, 7, 20)  # 07-19 is a Sunday
    engine.close()


def test_closing_the_case_cancels_pending_steps(pausing: Any, clock: FrozenClock) -> None:
    engine = pausing()
    clock.set(at("2026-05-06 10:00"))
    case = engine.intake("appraisal", channel="web")
    engine.fire(case.id, "accept", AGENT)
    engine.fire(case.id, "drop", AGENT)
    assert clocks(engine, case.id)["mediation"].status == "cancelled"
    clock.set(at("2026-09-01 10:00"))
    assert engine.run_due().steps == 0
    engine.close()


# A clock that outlives closure, with a ladder step that fires a trigger and a pause state.
LINGERING = """
workflow: lingering
version: 1
effective_from: 2020-01-01
timezone: Asia/Shanghai
calendar: cn
roles: [agent, inspector]
states:
  open: {initial: true}
  testing: {}
  done: {final: true}
transitions:
  - {trigger: flag, source: open, dest: open, roles: [agent]}
  - {trigger: send_to_test, source: open, dest: testing, roles: [agent]}
  - {trigger: settle, source: [open, testing], dest: done, roles: [agent]}
  - {trigger: remind, source: open, dest: open, roles: [system]}
  - {trigger: check_done, source: open, dest: open, roles: [inspector]}
clocks:
  check:
    period: 48 hours
    start: {triggers: [flag]}
    stop: {triggers: [check_done]}
    pause: [testing]
    outlives_closure: true
    ladder:
      - {after: 1 hour, fire: remind}
"""


@pytest.fixture
def lingering(backend: Backend, clock: FrozenClock) -> Any:
    engine = backend.open(workflows=[load_workflow_text(LINGERING)], clock=clock)
    yield engine
    engine.close()


def test_a_fire_step_of_an_outliving_clock_is_skipped_on_a_closed_case(
    lingering: Engine, clock: FrozenClock
) -> None:
    """The breach still notifies and is audited; the step's trigger is not fired (a final state
    has no exits) but counted as skipped, and the row is done — no crash, no retry loop."""
    engine = lingering
    clock.set(at("2026-05-06 10:00"))
    case = engine.intake("lingering", channel="web")
    engine.fire(case.id, "flag", AGENT)
    engine.fire(case.id, "settle", AGENT)
    (dl,) = engine.deadlines(case.id)
    assert (dl.status, dl.due_at) == ("running", at("2026-05-08 10:00"))
    clock.set(at("2026-05-08 12:00"))
    report = engine.run_due()
    assert (report.breaches, report.triggers_fired, report.triggers_skipped) == (1, 0, 1)
    assert report.trigger_failures == 0 and report.cancelled == 0
    assert engine.get(case.id).state == "done"
    assert engine.history(case.id)[-1].kind == "deadline_breached"
    assert [k for t, k in topics(engine) if t == "deadline.breached"] == [
        f"deadline:{dl.id}:breach",
        f"deadline:{dl.id}:after_1_hour",
    ]
    (after,) = engine.deadlines(case.id)
    assert (after.status, after.fire_at) == ("breached", None)
    assert engine.run_due().steps == 0


def test_a_fire_step_of_an_outliving_clock_fires_while_the_case_is_open(
    lingering: Engine, clock: FrozenClock
) -> None:
    """outlives_closure changes nothing before closure: the ladder fires its trigger."""
    engine = lingering
    clock.set(at("2026-05-06 10:00"))
    case = engine.intake("lingering", channel="web")
    engine.fire(case.id, "flag", AGENT)
    clock.set(at("2026-05-08 12:00"))
    report = engine.run_due()
    assert (report.triggers_fired, report.triggers_skipped) == (1, 0)
    assert engine.history(case.id)[-1].trigger == "remind"


def test_an_outliving_clock_paused_at_closure_resumes(
    lingering: Engine, clock: FrozenClock
) -> None:
    """Closing from a pause state leaves the pause state: the clock runs again, the paused
    time (05-06 12:00 → 05-07 12:00, 24 h) excluded, so due 05-08 10:00 + 24 h."""
    engine = lingering
    clock.set(at("2026-05-06 10:00"))
    case = engine.intake("lingering", channel="web")
    engine.fire(case.id, "flag", AGENT)
    engine.fire(case.id, "send_to_test", AGENT, data={"reason": "送检"}, at=at("2026-05-06 12:00"))
    assert engine.deadlines(case.id)[0].status == "paused"
    engine.fire(case.id, "settle", AGENT, at=at("2026-05-07 12:00"))
    (dl,) = engine.deadlines(case.id)
    assert (dl.status, dl.due_at) == ("running", at("2026-05-09 10:00"))
    stopped = engine.stop_clock(
        case.id, "check", Actor("he.inspector", {"inspector"}), at=at("2026-05-08 09:00")
    )
    assert stopped.status == "met"


# ---------------------------------------------------------------- extensions


def _handling_case(engine: Engine, clock: FrozenClock) -> int:
    clock.set(at("2026-05-06 09:00"))
    case = engine.intake("consumer_complaint", channel="website")
    engine.fire(case.id, "accept", CLERK)
    return case.id


def test_extensions_climb_the_ladder_with_the_right_approvers(
    engine: Engine, clock: FrozenClock
) -> None:
    case_id = _handling_case(engine, clock)
    with pytest.raises(PermissionDenied):
        engine.extend(case_id, "handling", AGENT, reason="需要补充材料", approve=True)
    pending = engine.extend(case_id, "handling", AGENT, reason="需要补充材料", approve=False)
    assert pending.data["pending_extension"]["to"] == "45 days"
    assert pending.due_on == dt.date(2026, 6, 5)
    granted = engine.decide_extension(case_id, "handling", SUPERVISOR, approve=True)
    assert granted.due_on == dt.date(2026, 6, 22)  # 05-06 + 45 = 06-20 (Sat) → Mon 06-22
    with pytest.raises(PermissionDenied):
        engine.extend(case_id, "handling", SUPERVISOR, reason="仍需鉴定", to="60 days")
    engine.extend(case_id, "handling", SUPERVISOR, reason="仍需鉴定", to="60 days", approve=False)
    final = engine.decide_extension(case_id, "handling", SENIOR, approve=True)
    assert final.due_on == dt.date(2026, 7, 6)  # 05-06 + 60 = 07-05 (Sun) → Mon 07-06
    with pytest.raises(InvalidInput, match="cannot be extended further"):
        engine.extend(case_id, "handling", SENIOR, reason="again")
    kinds = [e.kind for e in engine.history(case_id)]
    assert kinds.count("extension") == 2 and kinds.count("extension_requested") == 2
    extended = [p for _, p in outbox_payloads(engine) if p.topic == "deadline.extended"]
    assert [p.notify_consumer for p in extended] == [True, True]  # type: ignore[attr-defined]
    assert extended[0].previous_due_at == at("2026-06-06 00:00")  # type: ignore[attr-defined]


def test_extension_needs_a_reason(engine: Engine, clock: FrozenClock) -> None:
    case_id = _handling_case(engine, clock)
    with pytest.raises(MissingField):
        engine.extend(case_id, "handling", SUPERVISOR, reason="  ")


# ---------------------------------------------------------------- hooks through the outbox


def test_hooks_receive_frozen_payloads_and_failures_are_retried(
    backend: Backend, clock: FrozenClock
) -> None:
    seen: list[Any] = []
    calls = Counter[str]()
    registry = HookRegistry()
    registry.register("case.opened", seen.append)

    def flaky(payload: Any) -> None:
        calls[payload.idempotency_key] += 1
        if calls[payload.idempotency_key] < 3:
            raise ConnectionError("SMS gateway down")
        seen.append(payload)

    registry.register("deadline.warning", flaky)
    engine = backend.open(clock=clock, hooks=registry)
    clock.set(at("2026-09-28 10:00"))
    case = engine.intake("consumer_complaint", channel="hotline")
    clock.set(at("2026-10-09 12:00"))
    engine.run_due()
    first = engine.deliver_hooks()
    assert (first.delivered, first.failed) == (1, 1), "one failing hook never blocks others"
    assert engine.outbox.entries()[0].last_error == "ConnectionError: SMS gateway down"
    clock.advance(minutes=1)
    engine.deliver_hooks()
    clock.advance(minutes=2)
    engine.deliver_hooks()
    assert [p.topic for p in seen] == ["case.opened", "deadline.warning"]
    warning = seen[1]
    assert warning.case_id == case.id and warning.clock == "acceptance"
    assert 0.4 < warning.elapsed_fraction < 0.6
    with pytest.raises(AttributeError):
        warning.clock = "x"  # frozen
    engine.close()


def test_undeliverable_notifications_go_dead_and_can_be_retried(
    engine: Engine, clock: FrozenClock
) -> None:
    def broken(payload: Any) -> None:
        raise RuntimeError("nope")

    engine.hooks.register("case.opened", broken)
    engine.outbox.max_attempts = 2
    engine.intake("consumer_complaint", channel="hotline")
    engine.deliver_hooks()
    clock.advance(hours=1)
    report = engine.deliver_hooks()
    assert report.dead == 1
    (dead,) = engine.outbox.entries(status="dead")
    assert dead.topic == "case.opened" and dead.attempts == 2
    assert engine.outbox.retry() == 1
    assert engine.outbox.entries(status="dead") == []


def test_hooks_named_in_workflow_files_must_be_registered(sqlite_backend: Backend) -> None:
    text = (
        PAUSING.replace("{max_pause}", "5 days")
        .replace("timezone: Asia/Shanghai", "timezone: Asia/Shanghai\nhooks: [notify_manager]")
        .replace(
            "    restart: [new_facts]\n",
            "    restart: [new_facts]\n    ladder:\n      - {at: 50%, hooks: [notify_manager]}\n",
        )
    )
    spec = load_workflow_text(text)
    from casework import ConfigurationError

    with pytest.raises(ConfigurationError, match="notify_manager"):
        sqlite_backend.open(workflows=[spec], hooks=HookRegistry())
    hooks = HookRegistry()
    got: list[Any] = []
    hooks.register_named("notify_manager", got.append)
    clock = FrozenClock(at("2026-05-06 10:00"))
    engine = sqlite_backend.open(workflows=[spec], hooks=hooks, clock=clock)
    case = engine.intake("appraisal", channel="web")
    engine.fire(case.id, "accept", AGENT)
    clock.set(at("2026-06-10 10:00"))
    engine.run_due()
    engine.deliver_hooks()
    assert [(p.hook, p.step) for p in got] == [("notify_manager", "at_50")]
    engine.close()


# ---------------------------------------------------------------- exactly once, concurrently

N_CASES = 700  # × 3 steps (50 %, 1 working day before, breach) = 2,100 due steps


def _seed(engine: Engine, clock: FrozenClock) -> None:
    clock.set(at("2026-09-28 10:00"))
    for i in range(N_CASES):
        engine.intake("consumer_complaint", channel="website", external_id=f"S{i}")
    clock.set(at("2026-11-30 10:00"))


def _assert_exactly_once(engine: Engine, total_steps: int) -> None:
    assert total_steps == 3 * N_CASES, "zero duplicates and zero misses"
    d = engine.store.tables.deadlines
    rows = engine.store.run(lambda c: list(c.execute(sa.select(d.c.data, d.c.status))), read=True)
    assert all(sorted(r.data["fired"]) == sorted(set(r.data["fired"])) for r in rows)
    assert all(len(r.data["fired"]) == 3 and r.status == "breached" for r in rows)
    keys = [k for t, k in topics(engine) if t.startswith("deadline.")]
    assert len(keys) == len(set(keys)) == 3 * N_CASES


def test_four_threads_fire_each_step_exactly_once_on_sqlite(
    sqlite_backend: Backend, clock: FrozenClock
) -> None:
    import threading

    engines = [sqlite_backend.open(clock=clock) for _ in range(4)]
    _seed(engines[0], clock)
    barrier = threading.Barrier(4)
    totals: list[int] = []

    def work(eng: Engine) -> None:
        barrier.wait()
        totals.append(eng.run_due().steps)

    threads = [threading.Thread(target=work, args=(e,)) for e in engines]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    _assert_exactly_once(engines[0], sum(totals))
    for e in engines:
        e.close()


def _run_due_in_process(url: str, schema: str | None, now: str, go: Any, out: Any) -> None:
    from casework import Engine as _Engine
    from tests.conftest import WORKFLOWS as _WF

    eng = _Engine.open(url, workflows=_WF, schema=schema, create=False)
    go.wait()
    out.put(eng.run_due(now).steps)
    eng.close()


def test_four_processes_fire_each_step_exactly_once_on_postgres(
    pg_backend: Backend, clock: FrozenClock
) -> None:
    import multiprocessing as mp

    engine = pg_backend.open(clock=clock)
    _seed(engine, clock)
    ctx = mp.get_context("spawn")
    go, out = ctx.Event(), ctx.Queue()
    args = (pg_backend.url, pg_backend.schema, clock.now().isoformat(), go, out)
    procs = [ctx.Process(target=_run_due_in_process, args=args) for _ in range(4)]
    for p in procs:
        p.start()
    go.set()
    totals = [out.get(timeout=120) for _ in procs]
    for p in procs:
        p.join(timeout=60)
    assert sum(1 for t in totals if t > 0) >= 2, f"work was shared: {totals}"
    _assert_exactly_once(engine, sum(totals))
    engine.close()


def _killed_midway(url: str, now: str) -> None:
    """Run due steps and die by SIGKILL right after the second batch commits."""
    import os
    import signal

    from casework import Engine as _Engine
    from tests.conftest import WORKFLOWS as _WF

    eng = _Engine.open(url, workflows=_WF, create=False)
    commits = Counter[str]()

    @sa.event.listens_for(eng.store.engine, "commit")
    def _after(conn: Any) -> None:
        commits["n"] += 1
        if commits["n"] == 2:
            os.kill(os.getpid(), signal.SIGKILL)

    eng.clocks.run_due(dt.datetime.fromisoformat(now), batch=50)


def test_a_worker_killed_midway_loses_nothing(sqlite_backend: Backend, clock: FrozenClock) -> None:
    import multiprocessing as mp

    engine = sqlite_backend.open(clock=clock)
    _seed(engine, clock)
    proc = mp.get_context("spawn").Process(
        target=_killed_midway, args=(sqlite_backend.url, clock.now().isoformat())
    )
    proc.start()
    proc.join(timeout=120)
    assert proc.exitcode == -9
    done_before = engine.store.run(
        lambda c: c.execute(
            sa.select(sa.func.count()).where(engine.store.tables.deadlines.c.status == "breached")
        ).scalar_one(),
        read=True,
    )
    assert 0 < done_before < N_CASES, "the kill landed mid-run"
    rest = engine.run_due().steps
    assert rest + 3 * done_before == 3 * N_CASES
    _assert_exactly_once(engine, rest + 3 * done_before)
    engine.close()


# ---------------------------------------------------------------- time zones and DST

NEW_YORK = """
workflow: ny
version: 1
effective_from: 2020-01-01
timezone: America/New_York
calendar: weekends
roles: [agent]
states:
  open: {initial: true}
  done: {final: true}
transitions:
  - {trigger: close, source: open, dest: done, roles: [agent]}
clocks:
  reply:
    period: 48 hours
    start: {states: [open]}
    stop: {states: [done]}
  resolve:
    period: 2 days
    start: {states: [open]}
    stop: {states: [done]}
"""


def test_clocks_are_right_across_a_dst_change(backend: Backend) -> None:
    from zoneinfo import ZoneInfo

    ny = ZoneInfo("America/New_York")
    clock = FrozenClock(dt.datetime(2026, 3, 7, 12, 0, tzinfo=ny))  # Saturday before DST starts
    engine = backend.open(workflows=[load_workflow_text(NEW_YORK)], clock=clock)
    case = engine.intake("ny", channel="web")
    got = clocks(engine, case.id)
    # 48 elapsed hours: 12:00 EST Saturday + 48 h = 13:00 EDT Monday (the night lost an hour).
    assert got["reply"].due_at == dt.datetime(2026, 3, 9, 13, 0, tzinfo=ny)
    # 2 calendar days from Saturday: Monday 03-09, ending at local midnight (EDT).
    assert got["resolve"].due_on == dt.date(2026, 3, 9)
    assert got["resolve"].due_at == dt.datetime(2026, 3, 10, 0, 0, tzinfo=ny)
    engine.close()


# ---------------------------------------------------------------- provisional dates


def test_provisional_dates_are_recomputed_when_year_data_arrives(
    backend: Backend, clock: FrozenClock, tmp_path: Path
) -> None:
    clock.set(at("2026-12-28 10:00"))
    engine = backend.open(clock=clock)
    case = engine.intake("consumer_complaint", channel="hotline")
    acc = clocks(engine, case.id)["acceptance"]
    assert acc.provisional, "2027 has no official schedule yet"
    engine.close()
    # The 2027 notice arrives: pretend 2027-01-04 (Mon) is an extra day off.
    days = [
        {"name": "元旦", "date": "2027-01-01", "isOffDay": True},
        {"name": "元旦", "date": "2027-01-04", "isOffDay": True},
    ]
    (tmp_path / "2027.json").write_text(json.dumps({"year": 2027, "days": days}))
    engine = backend.open(clock=clock, calendars=default_registry([tmp_path]))
    assert engine.clocks.recompute_provisional() == 1
    again = clocks(engine, case.id)["acceptance"]
    assert not again.provisional
    assert again.due_on > acc.due_on
    assert engine.history(case.id)[-1].kind == "deadline_recomputed"
    engine.close()


EXPLODING = """
workflow: fragile
version: 1
effective_from: 2020-01-01
roles: [agent]
guards: [flaky_check]
states:
  open: {initial: true}
  escalated: {}
  done: {final: true}
transitions:
  - {trigger: escalate, source: open, dest: escalated, roles: [agent, system], guards: [flaky_check]}
  - {trigger: close, source: [open, escalated], dest: done, roles: [agent]}
clocks:
  reply:
    period: 2 days
    start: {states: [open]}
    stop: {states: [done]}
    ladder:
      - {at: 50%, fire: escalate}
"""


def test_a_failing_row_is_deferred_and_never_blocks_the_batch(
    backend: Backend, clock: FrozenClock
) -> None:
    """A host guard that raises on one case: that row is retried later, the rest fire now."""
    bad: set[int] = set()

    def flaky_check(ctx: Any) -> bool:
        if ctx.case.id in bad:
            raise RuntimeError("CRM unreachable")
        return True

    spec = load_workflow_text(EXPLODING)
    engine = backend.open(workflows=[spec], clock=clock, guards={"flaky_check": flaky_check})
    ids = [engine.intake("fragile", channel="web").id for _ in range(5)]
    bad.add(ids[2])
    clock.advance(days=1, hours=8)  # past the 50 % point (05-07 16:30), before the breach
    report = engine.run_due()
    assert report.triggers_fired == 4
    states = {i: engine.get(i).state for i in ids}
    assert [states[i] for i in ids] == ["escalated", "escalated", "open", "escalated", "escalated"]
    (stuck,) = [d for d in engine.deadlines(ids[2])]
    assert stuck.data["errors"] == 1 and "CRM unreachable" in stuck.data["last_error"]
    assert stuck.fire_at is not None and stuck.fire_at > clock.now()
    bad.clear()
    clock.advance(minutes=2)
    assert engine.run_due().triggers_fired == 1
    assert engine.get(ids[2]).state == "escalated"
    engine.close()
