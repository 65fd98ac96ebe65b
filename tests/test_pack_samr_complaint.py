"""Scenario tests of workflows/samr_complaint.yaml (SAMR complaints: 暂行办法 v1, 令121 v2).

Every expected date is derived by hand in the test's docstring from the counting rules
(start day not counted; working days skip weekends and holiday blocks and count 调休 make-up
days; calendar-day last days roll over per the clock's ``rollover``) and the State Council
schedules in ``shared/realdata/holidays_cn/2025.json`` / ``2026.json``:

* 2025 Spring Festival: 01-28..02-04 off, 01-26 (Sun) and 02-08 (Sat) worked.
* 2025 清明 04-04..06 off; 劳动节 05-01..05 off, 04-27 (Sun) worked.
* 2025 National Day: 10-01..10-08 off, 09-28 (Sun) and 10-11 (Sat) worked.
* 2026 劳动节 05-01..05 off, 05-09 (Sat) worked; 端午 06-19..21 off.
* 2026 中秋 09-25..27 off, 09-20 (Sun) worked; National Day 10-01..07 off, 10-10 (Sat) worked.

``due_at`` is always 00:00 Asia/Shanghai of the day after ``due_on`` (24:00 of the last day).
Runs on real SQLite and real PostgreSQL (the ``backend`` fixture).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from casework import (
    Actor,
    CaseNotFound,
    Engine,
    InvalidInput,
    MissingField,
    PermissionDenied,
    TriggerNotAllowed,
)
from casework.clock import FrozenClock
from casework.diagram import to_mermaid
from casework.loading import load_workflows
from casework.testing import outbox_payloads
from tests.conftest import WORKFLOWS, Backend
from tests.packs import at, clocks, day, midnight_after, step

PACK = WORKFLOWS / "samr_complaint.yaml"
CLERK = Actor("li.clerk", {"clerk"})
MEDIATOR = Actor("zhou.mediator", {"mediator"})
INVESTIGATOR = Actor("wu.investigator", {"investigator"})
HEAD = Actor("zheng.head", {"head"})


@pytest.fixture
def engine(backend: Backend, clock: FrozenClock) -> Iterator[Engine]:
    eng = backend.open(workflows=PACK, clock=clock)
    try:
        yield eng
    finally:
        eng.close()


def intake(engine: Engine, clock: FrozenClock, when: str) -> Any:
    clock.set(at(when))
    return engine.intake("samr_complaint", channel="hotline_12315", received_at=at(when))


# ---------------------------------------------------------------- v1 (暂行办法, 令第20号)


def test_v1_acceptance_counts_make_up_days_across_spring_festival_2025(
    engine: Engine, clock: FrozenClock
) -> None:
    """Received Fri 2025-01-24 → 7 working days (暂行办法 第14条) end Mon 2025-02-10.

    01-24 (start) not counted; 01-25 Sat skipped; 01-26 Sun make-up = wd1; 01-27 Mon = wd2;
    01-28..02-04 Spring Festival skipped; 02-05 Wed wd3, 02-06 wd4, 02-07 Fri wd5;
    02-08 Sat make-up = wd6; 02-09 Sun skipped; 02-10 Mon = wd7.
    """
    case = intake(engine, clock, "2025-01-24 10:00")
    assert case.workflow_version == 1
    acc = clocks(engine, case.id)["acceptance"]
    assert acc.period == "7 working days"
    assert acc.due_on == day("2025-02-10")
    assert acc.due_at == midnight_after("2025-02-10")
    assert acc.data["legal_basis"].endswith("第14条") and acc.data["basis"] == "law"
    step(clock, engine, case.id, "accept", CLERK, "2025-02-10 17:00")
    assert clocks(engine, case.id)["acceptance"].status == "met"


def test_v1_mediation_45_working_days_appraisal_time_excluded_ends_on_make_up_sunday(
    engine: Engine, clock: FrozenClock
) -> None:
    """Accepted Mon 2025-02-10 → 45 working days (暂行办法 第21条(五)) end Tue 2025-04-15.

    Counting from 02-11: Feb 11–14 (wd1–4), 17–21 (5–9), 24–28 (10–14); Mar 3–7 (15–19),
    10–14 (20–24), 17–21 (25–29), 24–28 (30–34), 31 (35); Apr 1–3 (36–38), 04–06 清明 skipped,
    7–11 (39–43), 14 (44), 15 (45).

    Testing (第20条) commissioned Mon 03-03, result Fri 03-14: excluded = working days in
    (03-03, 03-14] = 03-04..03-07 (4) + 03-10..03-14 (5) = 9 → 54 working days:
    04-16 (46), 17 (47), 18 Fri (48), 21–25 (49–53), 26 Sat skipped, 04-27 Sun make-up
    (劳动节 调休) = wd54 → due Sun 2025-04-27, a working day.
    """
    case = intake(engine, clock, "2025-02-08 11:00")
    step(clock, engine, case.id, "accept", CLERK, "2025-02-10 09:00")
    got = clocks(engine, case.id)
    assert got["mediation"].period == "45 working days"
    assert got["mediation"].due_on == day("2025-04-15")
    step(clock, engine, case.id, "mediate", MEDIATOR, "2025-02-11 09:00")
    with pytest.raises(MissingField):
        step(clock, engine, case.id, "commission_appraisal", MEDIATOR, "2025-03-03 10:00")
    step(
        clock,
        engine,
        case.id,
        "commission_appraisal",
        MEDIATOR,
        "2025-03-03 10:00",
        reason="送检：电热水器漏电检测",
    )
    paused = clocks(engine, case.id)["mediation"]
    assert paused.status == "paused"
    step(clock, engine, case.id, "receive_appraisal", MEDIATOR, "2025-03-14 16:00")
    med = clocks(engine, case.id)["mediation"]
    assert med.status == "running"
    assert med.due_on == day("2025-04-27")
    assert med.due_at == midnight_after("2025-04-27")
    assert any("paused" in line for line in engine.explain(case.id, "mediation"))


def test_v1_termination_notice_across_national_day_2025(engine: Engine, clock: FrozenClock) -> None:
    """Mediation terminated Fri 2025-09-26 → notice due in 7 working days: Mon 2025-10-13.

    09-26 (decision) not counted; 09-27 Sat skipped; 09-28 Sun make-up = wd1; 09-29 wd2;
    09-30 wd3; 10-01..10-08 National Day skipped; 10-09 Thu wd4; 10-10 Fri wd5;
    10-11 Sat make-up = wd6; 10-12 Sun skipped; 10-13 Mon = wd7.
    The mediation clock stops as met (terminated before its due date).
    """
    case = intake(engine, clock, "2025-09-15 09:30")
    step(clock, engine, case.id, "accept", CLERK, "2025-09-16 10:00")
    step(clock, engine, case.id, "mediate", MEDIATOR, "2025-09-17 10:00")
    step(
        clock,
        engine,
        case.id,
        "terminate",
        MEDIATOR,
        "2025-09-26 15:00",
        reason="第21条(二)：被投诉人拒绝调解",
    )
    got = clocks(engine, case.id)
    assert got["mediation"].status == "met"
    notice = got["termination_notice"]
    assert notice.status == "running"
    assert notice.due_on == day("2025-10-13")
    assert notice.due_at == midnight_after("2025-10-13")
    step(clock, engine, case.id, "notify_termination", CLERK, "2025-10-13 16:00")
    assert clocks(engine, case.id)["termination_notice"].status == "met"
    assert engine.get(case.id).state == "closed"


# ---------------------------------------------------------------- the 2026-04-15 switch


def test_received_before_accepted_after_2026_04_15_runs_on_order_121(
    engine: Engine, clock: FrozenClock
) -> None:
    """Received Fri 2026-04-10 (暂行办法 in force), accepted Thu 2026-04-16 (令121 in force).

    Intake pins v1 (receipt date): acceptance 7 wd from 04-10 = 04-13..04-17 (wd1–5), 04-20
    (6), 04-21 (7) → Tue 2026-04-21. ``accept`` re-pins to v2 (pin_by: accepted), so mediation
    is 60 calendar days from 04-16: 04-16 + 14 = 04-30, + 31 = 05-31 (45), + 15 = 06-15 (60),
    a Monday → due 2026-06-15, no rollover.
    """
    case = intake(engine, clock, "2026-04-10 10:00")
    assert case.workflow_version == 1
    assert clocks(engine, case.id)["acceptance"].due_on == day("2026-04-21")
    after = step(clock, engine, case.id, "accept", CLERK, "2026-04-16 10:00")
    assert after.workflow_version == 2
    got = clocks(engine, case.id)
    assert got["acceptance"].status == "met"
    med = got["mediation"]
    assert med.period == "60 days"
    assert "第121号" in med.data["legal_basis"]
    assert med.due_on == day("2026-06-15")
    assert med.due_at == midnight_after("2026-06-15")


def test_accepted_on_2026_04_14_stays_on_45_working_days(
    engine: Engine, clock: FrozenClock
) -> None:
    """Received 2026-04-10, accepted Tue 2026-04-14 (last day of 暂行办法) → v1, 45 wd.

    From 04-15: Apr 15–17 (wd1–3), 20–24 (4–8), 27–30 (9–12); May 1–5 劳动节 skipped;
    May 6–8 (13–15), 05-09 Sat make-up (16), 11–15 (17–21), 18–22 (22–26), 25–29 (27–31);
    Jun 1–5 (32–36), 8–12 (37–41), 15–18 (42–45) → Thu 2026-06-18 (端午 starts 06-19).
    """
    case = intake(engine, clock, "2026-04-10 11:00")
    after = step(clock, engine, case.id, "accept", HEAD, "2026-04-14 16:00")
    assert after.workflow_version == 1
    med = clocks(engine, case.id)["mediation"]
    assert med.period == "45 working days"
    assert "第20号" in med.data["legal_basis"]
    assert med.due_on == day("2026-06-18")
    assert med.due_at == midnight_after("2026-06-18")


# ---------------------------------------------------------------- v2 (令121)


def test_v2_appraisal_excluded_in_calendar_days_and_suspension_counts(
    engine: Engine, clock: FrozenClock
) -> None:
    """Accepted Wed 2026-05-06 → 60 days (第23条(五)) = 07-05, a Sunday → Mon 2026-07-06.

    Testing (第22条) commissioned Mon 05-11, result Thu 05-21: 21 − 11 = 10 days excluded →
    70 days: 05-06 + 70 = 07-15 (Wed), a working day.
    A 回避 suspension (第21条) 06-01..06-05 is NOT excluded (setting: suspended time counts),
    so the due date stays 07-15.
    """
    case = intake(engine, clock, "2026-04-29 10:00")
    step(clock, engine, case.id, "accept", CLERK, "2026-05-06 09:00")
    assert clocks(engine, case.id)["mediation"].due_on == day("2026-07-06")
    step(clock, engine, case.id, "mediate", MEDIATOR, "2026-05-07 09:00")
    step(
        clock,
        engine,
        case.id,
        "commission_appraisal",
        MEDIATOR,
        "2026-05-11 10:00",
        reason="委托检测",
    )
    step(clock, engine, case.id, "receive_appraisal", MEDIATOR, "2026-05-21 15:00")
    assert clocks(engine, case.id)["mediation"].due_on == day("2026-07-15")
    step(clock, engine, case.id, "suspend", MEDIATOR, "2026-06-01 10:00", reason="申请调解员回避")
    assert clocks(engine, case.id)["mediation"].status == "running"
    step(clock, engine, case.id, "resume", HEAD, "2026-06-05 10:00")
    med = clocks(engine, case.id)["mediation"]
    assert (med.status, med.due_on) == ("running", day("2026-07-15"))
    assert med.due_at == midnight_after("2026-07-15")


def _variant(tmp_path: Path, rollover: str) -> Path:
    """The shipped pack with v2's mediation rollover set to ``rollover``."""
    text = PACK.read_text(encoding="utf-8")
    old = "period: 60 days\n    calendar: cn\n    rollover: non_working_day\n"
    assert text.count(old) == 1
    path = tmp_path / "samr_complaint.yaml"
    path.write_text(text.replace(old, old.replace("non_working_day", rollover)), "utf-8")
    return path


@pytest.mark.parametrize(
    ("rollover", "weekend_due"),
    [("non_working_day", "2026-07-06"), ("statutory_holiday_block", "2026-07-05")],
)
def test_v2_rollover_setting_weekend_vs_holiday_block(
    backend: Backend, clock: FrozenClock, tmp_path: Path, rollover: str, weekend_due: str
) -> None:
    """The open point of 第45条 ("法定节假日"), on the 60-day mediation ceiling.

    Weekend: accepted 2026-05-06 → 05-06 + 60 = 07-05, an ordinary Sunday.
      non_working_day moves it to Mon 07-06; statutory_holiday_block keeps Sun 07-05.
    Holiday block: accepted Tue 2026-08-04 → 08-04 + 27 = 08-31, + 30 = 09-30 (57),
      + 3 = 10-03 (60), inside National Day 10-01..07 → both policies move it to the first
      day after the block, Thu 2026-10-08.
    """
    path = PACK if rollover == "non_working_day" else _variant(tmp_path, rollover)
    engine = backend.open(workflows=path, clock=clock)
    try:
        weekend = intake(engine, clock, "2026-05-06 08:00")
        step(clock, engine, weekend.id, "accept", CLERK, "2026-05-06 09:00")
        block = intake(engine, clock, "2026-08-03 08:00")
        step(clock, engine, block.id, "accept", CLERK, "2026-08-04 09:00")
        w = clocks(engine, weekend.id)["mediation"]
        b = clocks(engine, block.id)["mediation"]
        assert (w.due_on, w.due_at) == (day(weekend_due), midnight_after(weekend_due))
        assert (b.due_on, b.due_at) == (day("2026-10-08"), midnight_after("2026-10-08"))
    finally:
        engine.close()


def test_v2_clue_check_extension_needs_the_head(engine: Engine, clock: FrozenClock) -> None:
    """Clue flagged Fri 2026-09-18 → 15 wd (第27条) end Thu 2026-10-15; + 15 → Thu 2026-11-05.

    09-19 Sat skipped; 09-20 Sun make-up = wd1; 09-21..09-24 (2–5); 09-25..27 中秋 skipped;
    09-28..30 (6–8); 10-01..07 National Day skipped; 10-08 Thu (9), 10-09 Fri (10);
    10-10 Sat make-up (11); 10-11 Sun skipped; 10-12..15 (12–15) → 10-15.
    Extended to 30 wd (head only): 10-16 (16), 10-19..23 (17–21), 10-26..30 (22–26),
    11-02..05 (27–30) → 11-05. A mediator may not grant it; the rung does not notify the
    consumer (an internal enforcement check).
    """
    case = intake(engine, clock, "2026-09-14 09:00")
    step(clock, engine, case.id, "accept", CLERK, "2026-09-15 09:00")
    step(clock, engine, case.id, "mediate", MEDIATOR, "2026-09-16 09:00")
    step(clock, engine, case.id, "flag_clue", MEDIATOR, "2026-09-18 10:00", reason="疑似虚假宣传")
    assert engine.get(case.id).state == "mediating"
    clue = clocks(engine, case.id)["clue_check"]
    assert (clue.due_on, clue.due_at) == (day("2026-10-15"), midnight_after("2026-10-15"))
    clock.set(at("2026-10-09 10:00"))
    with pytest.raises(PermissionDenied):
        engine.extend(case.id, "clue_check", MEDIATOR, reason="需调取平台数据")
    assert clocks(engine, case.id)["clue_check"].due_on == day("2026-10-15")
    granted = engine.extend(case.id, "clue_check", HEAD, reason="需调取平台数据")
    assert granted.period == "30 working days"
    assert (granted.due_on, granted.due_at) == (day("2026-11-05"), midnight_after("2026-11-05"))
    with pytest.raises(InvalidInput, match="cannot be extended further"):
        engine.extend(case.id, "clue_check", HEAD, reason="again")
    extended = [p for _, p in outbox_payloads(engine) if p.topic == "deadline.extended"]
    assert [p.notify_consumer for p in extended] == [False]  # type: ignore[attr-defined]
    # the mediation clock of the same case is untouched: 09-15 + 60 = 11-14 (Sat) → Mon 11-16
    assert clocks(engine, case.id)["mediation"].due_on == day("2026-11-16")
    step(clock, engine, case.id, "complete_clue_check", INVESTIGATOR, "2026-11-02 10:00")
    assert clocks(engine, case.id)["clue_check"].status == "met"


def test_v2_mediation_limit_reached_terminates_as_system(
    engine: Engine, clock: FrozenClock
) -> None:
    """Accepted Wed 2026-05-06: mediation due Mon 2026-07-06 (07-05 Sun rolled), due_at
    2026-07-07 00:00. The ladder warns 3 working days before (24:00 of Wed 07-01: 07-03 is
    wd −1, 07-02 −2, 07-01 −3), breaches at due_at, and 1 hour later fires ``terminate`` as
    ``system`` (第23条(五)). The termination decision is then dated 2026-07-07 (the worker's
    run at 01:30), so the notice is due 7 wd later: 07-08 (1), 07-09 (2), 07-10 Fri (3),
    07-13..07-16 (4–7) → Thu 2026-07-16.
    """
    case = intake(engine, clock, "2026-04-30 10:00")
    step(clock, engine, case.id, "accept", CLERK, "2026-05-06 09:00")
    step(clock, engine, case.id, "mediate", MEDIATOR, "2026-05-07 09:00")
    clock.set(at("2026-07-02 08:00"))
    first = engine.run_due()
    assert (first.warnings, first.breaches, first.triggers_fired) == (1, 0, 0)
    clock.set(at("2026-07-07 00:30"))
    second = engine.run_due()
    assert (second.breaches, second.triggers_fired) == (1, 0)
    assert engine.get(case.id).state == "mediating"
    clock.set(at("2026-07-07 01:30"))
    third = engine.run_due()
    assert third.triggers_fired == 1
    case = engine.get(case.id)
    assert case.state == "terminated"
    last = engine.history(case.id)[-1]
    assert (last.trigger, last.actor) == ("terminate", "system")
    got = clocks(engine, case.id)
    assert got["mediation"].status == "breached"
    notice = got["termination_notice"]
    assert notice.started_at == at("2026-07-07 01:30")
    assert (notice.due_on, notice.due_at) == (day("2026-07-16"), midnight_after("2026-07-16"))
    assert engine.run_due().steps == 0


# ---------------------------------------------------------------- the clue check outlives closure


def _settled_with_clue(engine: Engine, clock: FrozenClock) -> Any:
    """v2 case: clue flagged Fri 2026-09-18 (due Thu 2026-10-15, see the extension test), the
    parties settle on Thu 09-24."""
    case = intake(engine, clock, "2026-09-14 09:00")
    step(clock, engine, case.id, "accept", CLERK, "2026-09-15 09:00")
    step(clock, engine, case.id, "mediate", MEDIATOR, "2026-09-16 09:00")
    step(clock, engine, case.id, "flag_clue", MEDIATOR, "2026-09-18 10:00", reason="疑似虚假宣传")
    return step(clock, engine, case.id, "settle", MEDIATOR, "2026-09-24 10:00")


def test_clue_check_outlives_the_settlement(engine: Engine, clock: FrozenClock) -> None:
    """The 核查 of a violation clue (第27条) is a duty independent of the mediation outcome:
    settling closes the case and stops the mediation clock (met), the clue check runs on."""
    case = _settled_with_clue(engine, clock)
    assert case.state == "settled" and case.is_closed
    got = clocks(engine, case.id)
    assert got["mediation"].status == "met"
    clue = got["clue_check"]
    assert (clue.status, clue.due_on) == ("running", day("2026-10-15"))
    assert clue.fire_at is not None, "its ladder is still scheduled"


def test_v1_clue_check_outlives_the_termination_notice(engine: Engine, clock: FrozenClock) -> None:
    """v1 (暂行办法 第23条) too: clue flagged Mon 2025-06-09 → 15 wd (端午 05-31..06-02 is
    before it): 06-10..13 (1–4), 16–20 (5–9), 23–27 (10–14), 30 (15) → Mon 2025-06-30; the
    mediation ends by termination and notice (state closed), the clue check runs on."""
    case = intake(engine, clock, "2025-06-03 09:00")
    step(clock, engine, case.id, "accept", CLERK, "2025-06-04 09:00")
    assert engine.get(case.id).workflow_version == 1
    step(clock, engine, case.id, "mediate", MEDIATOR, "2025-06-05 09:00")
    step(clock, engine, case.id, "flag_clue", MEDIATOR, "2025-06-09 10:00", reason="疑似无证经营")
    step(clock, engine, case.id, "terminate", MEDIATOR, "2025-06-10 10:00", reason="拒绝调解")
    closed = step(clock, engine, case.id, "notify_termination", CLERK, "2025-06-11 10:00")
    assert closed.state == "closed"
    got = clocks(engine, case.id)
    assert got["termination_notice"].status == "met"
    assert (got["clue_check"].status, got["clue_check"].due_on) == ("running", day("2025-06-30"))


def test_stop_clock_on_the_closed_case_needs_a_stop_trigger_role(
    engine: Engine, clock: FrozenClock
) -> None:
    """Only the roles of complete_clue_check (investigator, head) may record the stop; a refusal
    writes nothing; the stop keeps the state, is audited and ends the run met (before due)."""
    case = _settled_with_clue(engine, clock)
    clock.set(at("2026-10-12 15:00"))
    with pytest.raises(PermissionDenied) as denied:
        engine.stop_clock(case.id, "clue_check", MEDIATOR, reason="核查完毕")
    assert denied.value.trigger == "complete_clue_check"
    assert denied.value.allowed_roles == ("investigator", "head")
    assert engine.get(case.id).version == case.version
    assert clocks(engine, case.id)["clue_check"].status == "running"
    stopped = engine.stop_clock(
        case.id, "clue_check", INVESTIGATOR, reason="核查完毕，移送稽查", at=at("2026-10-12 15:00")
    )
    assert (stopped.status, stopped.stopped_at) == ("met", at("2026-10-12 15:00"))
    assert stopped.fire_at is None
    after = engine.get(case.id)
    assert (after.state, after.closed_at, after.version) == (
        "settled",
        case.closed_at,
        case.version + 1,
    )
    last = engine.history(case.id)[-1]
    assert (last.kind, last.actor, last.trigger, last.to_state) == (
        "clock_stopped",
        INVESTIGATOR.id,
        None,
        None,
    )
    assert last.data["clock"] == "clue_check" and last.data["status"] == "met"
    assert last.data["reason"] == "核查完毕，移送稽查"
    assert engine.verify_audit(case.id).ok
    with pytest.raises(InvalidInput, match=r"is not running \(met since 2026-10-12"):
        engine.stop_clock(case.id, "clue_check", HEAD)
    clock.set(at("2026-12-01 09:00"))
    assert engine.run_due().steps == 0, "a stopped run has nothing left to fire"


def test_firing_the_stop_trigger_on_the_closed_case_points_to_stop_clock(
    engine: Engine, clock: FrozenClock
) -> None:
    """A final state has no exits, so fire refuses complete_clue_check — and says what to do."""
    case = _settled_with_clue(engine, clock)
    with pytest.raises(TriggerNotAllowed, match="outlives closure") as refused:
        engine.fire(case.id, "complete_clue_check", INVESTIGATOR)
    assert refused.value.hint is not None and "stop-clock" in refused.value.hint
    with pytest.raises(TriggerNotAllowed) as plain:
        engine.fire(case.id, "mediate", MEDIATOR)
    assert plain.value.hint is None


def test_clue_check_breach_after_closure_warns_breaches_and_is_audited(
    engine: Engine, clock: FrozenClock
) -> None:
    """After the settlement the ladder still runs: the warning 2 wd before due (24:00 of Tue
    10-13: the last day 10-15, −1 = 10-14, −2 = 10-13), the breach at 2026-10-16 00:00 (hook
    + audit event). A stop after that ends the run breached without a second breach notice."""
    case = _settled_with_clue(engine, clock)
    clock.set(at("2026-10-13 23:00"))
    assert engine.run_due().steps == 0
    clock.set(at("2026-10-14 08:00"))
    warned = engine.run_due()
    assert (warned.warnings, warned.breaches, warned.cancelled) == (1, 0, 0)
    clock.set(at("2026-10-16 09:00"))
    breached = engine.run_due()
    assert (breached.breaches, breached.cancelled) == (1, 0)
    payloads = [p for _, p in outbox_payloads(engine) if p.case_id == case.id]
    clue = [p for p in payloads if getattr(p, "clock", None) == "clue_check"]
    assert [(p.topic, p.state) for p in clue] == [  # type: ignore[attr-defined]
        ("deadline.warning", "settled"),
        ("deadline.breached", "settled"),
    ]
    assert clue[1].due_at == midnight_after("2026-10-15")  # type: ignore[attr-defined]
    events = engine.history(case.id)
    assert events[-1].kind == "deadline_breached" and events[-1].data["clock"] == "clue_check"
    assert clocks(engine, case.id)["clue_check"].status == "breached"
    late = engine.stop_clock(case.id, "clue_check", HEAD, at=at("2026-10-20 10:00"))
    assert (late.status, late.breached_at) == ("breached", midnight_after("2026-10-15"))
    breaches = [p for _, p in outbox_payloads(engine) if p.topic == "deadline.breached"]
    assert len(breaches) == 1, "the breach is notified once"


def test_an_ordinary_clock_is_still_cancelled_at_closure(
    engine: Engine, clock: FrozenClock
) -> None:
    """transfer closes the case on a route the acceptance clock does not stop on: cancelled,
    and stop_clock refuses it (it does not outlive closure)."""
    case = intake(engine, clock, "2026-09-14 09:00")
    step(clock, engine, case.id, "transfer", CLERK, "2026-09-15 09:00", reason="无管辖权")
    acceptance = clocks(engine, case.id)["acceptance"]
    assert (acceptance.status, acceptance.data["closed_by"]) == (
        "cancelled",
        "case closed by transfer",
    )
    with pytest.raises(InvalidInput, match="does not outlive closure"):
        engine.stop_clock(case.id, "acceptance", CLERK)


def test_stop_clock_refusals_are_clear_and_write_nothing(
    engine: Engine, clock: FrozenClock
) -> None:
    """Unknown clock, open case, a clock that never ran, a stop before the start: each one
    InvalidInput naming the problem; the case row is untouched."""
    case = intake(engine, clock, "2026-09-14 09:00")
    step(clock, engine, case.id, "accept", CLERK, "2026-09-15 09:00")
    step(clock, engine, case.id, "mediate", MEDIATOR, "2026-09-16 09:00")
    step(clock, engine, case.id, "flag_clue", MEDIATOR, "2026-09-18 10:00", reason="疑似虚假宣传")
    with pytest.raises(InvalidInput, match=r"is open .*'complete_clue_check'"):
        engine.stop_clock(case.id, "clue_check", INVESTIGATOR)
    settled = step(clock, engine, case.id, "settle", MEDIATOR, "2026-09-24 10:00")
    with pytest.raises(InvalidInput, match=r"no clock 'clue' \(clocks: acceptance, "):
        engine.stop_clock(case.id, "clue", INVESTIGATOR)
    with pytest.raises(InvalidInput, match="before clock 'clue_check' started"):
        engine.stop_clock(case.id, "clue_check", INVESTIGATOR, at=at("2026-09-17 10:00"))
    with pytest.raises(CaseNotFound):
        engine.stop_clock(999_999, "clue_check", INVESTIGATOR)
    assert engine.get(case.id).version == settled.version
    quiet = intake(engine, clock, "2026-09-14 10:00")
    step(clock, engine, quiet.id, "accept", CLERK, "2026-09-15 09:00")
    step(clock, engine, quiet.id, "mediate", MEDIATOR, "2026-09-16 09:00")
    step(clock, engine, quiet.id, "settle", MEDIATOR, "2026-09-24 10:00")
    with pytest.raises(InvalidInput, match=r"is not running \(it never started\)"):
        engine.stop_clock(quiet.id, "clue_check", INVESTIGATOR)


def test_docs_show_the_current_diagram() -> None:
    """docs/packs.md carries this pack's Mermaid diagram as `casework diagram` draws it now."""
    latest = max(load_workflows(PACK), key=lambda s: s.version)
    docs = (WORKFLOWS.parent / "docs" / "packs.md").read_text(encoding="utf-8")
    assert f"```mermaid\n{to_mermaid(latest).strip()}\n```" in docs
