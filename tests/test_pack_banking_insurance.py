"""Scenario tests of workflows/banking_insurance.yaml (银保监会令2020年第3号).

Every expected date is derived by hand in the test's docstring from the counting rules
(start day not counted; calendar-day last day = start + N, then rolled over per the clock's
``rollover``; excluded days added before rollover; a 调休 make-up day never moves) and the
State Council schedules in ``shared/realdata/holidays_cn/2025.json`` / ``2026.json``:

* 2025 National Day: 10-01..10-08 off, 09-28 (Sun) and 10-11 (Sat) worked.
* 2026 Spring Festival: 02-15..02-23 off, 02-14 (Sat) and 02-28 (Sat) worked.
* 2026 劳动节 05-01..05-05 off, 05-09 (Sat) worked.
* 2026 National Day: 10-01..10-07 off, 10-10 (Sat) worked.

``due_at`` is always 00:00 Asia/Shanghai of the day after ``due_on`` (24:00 of the last day).
Runs on real SQLite and real PostgreSQL (the ``backend`` fixture).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from casework import Actor, Engine, GuardRejected, PermissionDenied
from casework.clock import FrozenClock
from casework.diagram import to_mermaid
from casework.loading import load_workflows
from casework.testing import outbox_payloads
from tests.conftest import WORKFLOWS, Backend
from tests.packs import at, clocks, day, midnight_after, step

PACK = WORKFLOWS / "banking_insurance.yaml"
CLERK = Actor("li.clerk", {"clerk"})
HANDLER = Actor("wang.handler", {"handler"})
MANAGER = Actor("zhao.manager", {"manager"})
SENIOR = Actor("qian.senior", {"senior"})
SUPERIOR = Actor("sun.superior", {"superior"})
TASK_GROUP = Actor("task.group", {"task_group"})


@pytest.fixture
def engine(backend: Backend, clock: FrozenClock) -> Iterator[Engine]:
    eng = backend.open(workflows=PACK, clock=clock)
    try:
        yield eng
    finally:
        eng.close()


def intake(engine: Engine, clock: FrozenClock, when: str, **data: Any) -> Any:
    clock.set(at(when))
    return engine.intake(
        "banking_insurance", channel="counter", received_at=at(when), data=data or None
    )


def _variant(tmp_path: Path, rollover: str) -> Path:
    text = PACK.read_text(encoding="utf-8")
    old = "period: 15 days\n    calendar: cn\n    rollover: non_working_day\n"
    assert text.count(old) == 1
    path = tmp_path / "banking_insurance.yaml"
    path.write_text(text.replace(old, old.replace("non_working_day", rollover)), "utf-8")
    return path


@pytest.mark.parametrize(
    ("rollover", "weekend_due"),
    [("non_working_day", "2026-06-29"), ("statutory_holiday_block", "2026-06-27")],
)
def test_decision_rollover_weekend_holiday_block_and_make_up_day(
    backend: Backend, clock: FrozenClock, tmp_path: Path, rollover: str, weekend_due: str
) -> None:
    """15 days from receipt (第18条第1款), three last days, both rollover policies.

    Holiday block: received Sat 2025-09-20 → 09-20 + 15 = 10-05, inside National Day
      10-01..08 → both policies: first day after the block, Thu 2025-10-09.
    Make-up day: received Sat 2025-09-13 → 09-28, a Sunday worked (调休) → never moves.
    Weekend: received Fri 2026-06-12 → 06-27, an ordinary Saturday → non_working_day:
      Mon 2026-06-29; statutory_holiday_block: stays Sat 06-27.
    """
    path = PACK if rollover == "non_working_day" else _variant(tmp_path, rollover)
    engine = backend.open(workflows=path, clock=clock)
    try:
        expected = {
            "2025-09-20 10:00": "2025-10-09",
            "2025-09-13 10:00": "2025-09-28",
            "2026-06-12 10:00": weekend_due,
        }
        for received, due in expected.items():
            case = intake(engine, clock, received)
            dl = clocks(engine, case.id)["decision"]
            assert (dl.due_on, dl.due_at) == (day(due), midnight_after(due)), received
    finally:
        engine.close()


def test_decision_extensions_to_30_then_60_days_with_their_approvers(
    engine: Engine, clock: FrozenClock
) -> None:
    """Received Fri 2026-01-23 → 15 days = 02-07, an ordinary Saturday → Mon 2026-02-09.

    → 30 days (manager; a handler may not; no consumer notice): 01-23 + 30 = 02-22, inside
      Spring Festival 02-15..23 → Tue 2026-02-24.
    → 60 days (senior only, with notice to the complainant): 01-23 + 8 = 01-31, + 28 =
      02-28 (36), + 24 = 03-24 (60), a Tuesday → 2026-03-24.
    """
    case = intake(engine, clock, "2026-01-23 10:00")
    step(clock, engine, case.id, "accept", CLERK, "2026-01-23 11:00")
    dl = clocks(engine, case.id)["decision"]
    assert (dl.due_on, dl.due_at) == (day("2026-02-09"), midnight_after("2026-02-09"))
    clock.set(at("2026-02-05 10:00"))
    with pytest.raises(PermissionDenied):
        engine.extend(case.id, "decision", HANDLER, reason="情况复杂")
    first = engine.extend(case.id, "decision", MANAGER, reason="情况复杂")
    assert first.period == "30 days"
    assert (first.due_on, first.due_at) == (day("2026-02-24"), midnight_after("2026-02-24"))
    clock.set(at("2026-02-24 10:00"))
    with pytest.raises(PermissionDenied):
        engine.extend(case.id, "decision", MANAGER, reason="情况特别复杂")
    pending = engine.extend(case.id, "decision", MANAGER, reason="情况特别复杂", approve=False)
    assert pending.data["pending_extension"]["to"] == "60 days"
    second = engine.decide_extension(case.id, "decision", SENIOR, approve=True)
    assert (second.due_on, second.due_at) == (day("2026-03-24"), midnight_after("2026-03-24"))
    extended = [p for _, p in outbox_payloads(engine) if p.topic == "deadline.extended"]
    assert [p.notify_consumer for p in extended] == [False, True]  # type: ignore[attr-defined]
    assert extended[1].previous_due_at == midnight_after("2026-02-24")  # type: ignore[attr-defined]


def test_appraisal_and_mediation_time_are_excluded(engine: Engine, clock: FrozenClock) -> None:
    """Received Mon 2026-03-02 → 15 days = Tue 2026-03-17.

    External appraisal (第18条第2款) 03-05 → 03-12: 7 days excluded → 22 days = Tue 03-24.
    Mediation (第23条) 03-16 → 03-20: 4 more days → 26 days = 03-28, a Saturday →
    Mon 2026-03-30 (non_working_day).
    """
    case = intake(engine, clock, "2026-03-02 09:00")
    step(clock, engine, case.id, "accept", CLERK, "2026-03-02 10:00")
    assert clocks(engine, case.id)["decision"].due_on == day("2026-03-17")
    step(
        clock,
        engine,
        case.id,
        "commission_appraisal",
        HANDLER,
        "2026-03-05 10:00",
        reason="委托司法鉴定（已告知投诉人）",
    )
    assert clocks(engine, case.id)["decision"].status == "paused"
    step(clock, engine, case.id, "receive_appraisal", HANDLER, "2026-03-12 16:00")
    assert clocks(engine, case.id)["decision"].due_on == day("2026-03-24")
    step(clock, engine, case.id, "mediate", HANDLER, "2026-03-16 09:00", reason="委托调解组织")
    assert clocks(engine, case.id)["decision"].status == "paused"
    step(clock, engine, case.id, "end_mediation", HANDLER, "2026-03-20 17:00")
    dl = clocks(engine, case.id)["decision"]
    assert (dl.status, dl.due_on) == ("running", day("2026-03-30"))
    assert dl.due_at == midnight_after("2026-03-30")
    step(clock, engine, case.id, "decide", HANDLER, "2026-03-27 10:00")
    assert clocks(engine, case.id)["decision"].status == "met"


def test_new_facts_restart_the_decision_clock(engine: Engine, clock: FrozenClock) -> None:
    """Received Mon 2026-04-20 → 15 days = 05-05, inside 劳动节 05-01..05 → Wed 2026-05-06.

    New facts and reasons (第18条第3款) on Tue 04-28 restart it: 04-28 + 15 = Wed 05-13.
    Decided Tue 05-12 (met); new facts again on Wed 05-20 reopen handling and start a fresh
    run: 05-20 + 11 = 05-31, + 4 = Thu 2026-06-04; the 核查 window stops (met).
    """
    case = intake(engine, clock, "2026-04-20 09:00")
    assert clocks(engine, case.id)["decision"].due_on == day("2026-05-06")
    step(clock, engine, case.id, "accept", CLERK, "2026-04-20 10:00")
    step(clock, engine, case.id, "new_facts", CLERK, "2026-04-28 10:00", reason="补充交易流水")
    runs = [d for d in engine.deadlines(case.id) if d.clock == "decision"]
    assert [r.status for r in runs] == ["cancelled", "running"]
    assert (runs[1].due_on, runs[1].due_at) == (day("2026-05-13"), midnight_after("2026-05-13"))
    step(clock, engine, case.id, "decide", HANDLER, "2026-05-12 15:00")
    assert clocks(engine, case.id)["decision"].status == "met"
    step(clock, engine, case.id, "new_facts", CLERK, "2026-05-20 10:00", reason="新的证据")
    assert engine.get(case.id).state == "handling"
    runs = [d for d in engine.deadlines(case.id) if d.clock == "decision"]
    assert [r.status for r in runs] == ["cancelled", "met", "running"]
    assert runs[2].due_on == day("2026-06-04")
    assert clocks(engine, case.id)["review_request"].status == "met"


def test_review_window_and_review_decision(engine: Engine, clock: FrozenClock) -> None:
    """核查 (第20条): 30 days to ask, 30 days to decide.

    Decided Thu 2026-09-10 → window 09-10 + 20 = 09-30, + 10 = 10-10, a Saturday worked
    (调休) → no move: the window ends Sat 2026-10-10.
    Requested Fri 10-09 → review 10-09 + 22 = 10-31, + 8 = 11-08, a Sunday → Mon 2026-11-09.
    """
    case = intake(engine, clock, "2026-08-27 09:00")
    step(clock, engine, case.id, "accept", CLERK, "2026-08-27 10:00")
    step(clock, engine, case.id, "decide", HANDLER, "2026-09-10 15:00")
    window = clocks(engine, case.id)["review_request"]
    assert (window.due_on, window.due_at) == (day("2026-10-10"), midnight_after("2026-10-10"))
    step(clock, engine, case.id, "request_review", CLERK, "2026-10-09 10:00")
    got = clocks(engine, case.id)
    assert got["review_request"].status == "met"
    assert (got["review"].due_on, got["review"].due_at) == (
        day("2026-11-09"),
        midnight_after("2026-11-09"),
    )
    step(clock, engine, case.id, "decide_review", SUPERIOR, "2026-11-06 10:00")
    assert clocks(engine, case.id)["review"].status == "met"
    assert engine.get(case.id).state == "closed"


def test_lapsed_review_window_closes_the_case_as_system(engine: Engine, clock: FrozenClock) -> None:
    """Decided Thu 2026-09-10: the window ends Sat 10-10 (make-up day), i.e. 10-11 00:00.

    The close step is 5 working days after the last day: 10-12 (1), 10-13 (2), 10-14 (3),
    10-15 (4), 10-16 (5) → 24:00 of Fri 10-16 = 2026-10-17 00:00.
    """
    case = intake(engine, clock, "2026-08-27 09:00")
    step(clock, engine, case.id, "accept", CLERK, "2026-08-27 10:00")
    step(clock, engine, case.id, "decide", HANDLER, "2026-09-10 15:00")
    clock.set(at("2026-10-16 23:00"))
    engine.run_due()
    assert engine.get(case.id).state == "decided"
    assert clocks(engine, case.id)["review_request"].status == "breached"  # = window lapsed
    clock.set(at("2026-10-17 00:30"))
    report = engine.run_due()
    assert report.triggers_fired == 1
    assert engine.get(case.id).state == "closed"
    last = engine.history(case.id)[-1]
    assert (last.trigger, last.actor) == ("close", "system")


def test_twenty_or_more_complainants_go_to_the_task_group(
    engine: Engine, clock: FrozenClock
) -> None:
    """第29条: 20 or more complainants → emergency plan (task group); fewer are refused.

    The decision clock keeps running in task_group: received Mon 2026-03-02 → Tue 03-17.
    """
    big = intake(engine, clock, "2026-03-02 09:00", complainant_count=25)
    small = intake(engine, clock, "2026-03-02 09:05", complainant_count=19)
    step(clock, engine, big.id, "accept", CLERK, "2026-03-02 10:00")
    step(clock, engine, small.id, "accept", CLERK, "2026-03-02 10:00")
    with pytest.raises(GuardRejected):
        step(clock, engine, small.id, "escalate", HANDLER, "2026-03-02 11:00", reason="集体投诉")
    # the count may also be given when escalating (more complainants joined)
    step(
        clock,
        engine,
        small.id,
        "escalate",
        HANDLER,
        "2026-03-03 11:00",
        reason="集体投诉",
        complainant_count=21,
    )
    step(clock, engine, big.id, "escalate", HANDLER, "2026-03-02 11:00", reason="25人集体到场投诉")
    assert engine.get(big.id).state == "task_group"
    assert engine.get(small.id).state == "task_group"
    dl = clocks(engine, big.id)["decision"]
    assert (dl.status, dl.due_on) == ("running", day("2026-03-17"))
    other = intake(engine, clock, "2026-03-04 09:00")
    step(
        clock,
        engine,
        other.id,
        "escalate",
        MANAGER,
        "2026-03-04 10:00",
        reason="营业网点火灾",
        major_ground="safety_incident",
    )
    assert engine.get(other.id).state == "task_group"
    step(clock, engine, big.id, "decide", TASK_GROUP, "2026-03-16 10:00")
    assert clocks(engine, big.id)["decision"].status == "met"


def test_docs_show_the_current_diagram() -> None:
    """docs/packs.md carries this pack's Mermaid diagram as `casework diagram` draws it now."""
    latest = max(load_workflows(PACK), key=lambda s: s.version)
    docs = (WORKFLOWS.parent / "docs" / "packs.md").read_text(encoding="utf-8")
    assert f"```mermaid\n{to_mermaid(latest).strip()}\n```" in docs
