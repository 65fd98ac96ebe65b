"""Scenario tests of workflows/samr_report.yaml (SAMR 举报: filing decision and case decision).

Every expected date is derived by hand in the test's docstring from the counting rules
(start day not counted; working days skip weekends and holiday blocks and count 调休 make-up
days; calendar-day last days roll over per the clock's ``rollover``) and the State Council
schedules in ``shared/realdata/holidays_cn/2025.json`` / ``2026.json``:

* 2025 National Day: 10-01..10-08 off, 09-28 (Sun) and 10-11 (Sat) worked.
* 2026 Spring Festival: 02-15..02-23 off, 02-14 (Sat) and 02-28 (Sat) worked.
* 2026 National Day: 10-01..10-07 off, 10-10 (Sat) worked.

``due_at`` is always 00:00 Asia/Shanghai of the day after ``due_on`` (24:00 of the last day).
Runs on real SQLite and real PostgreSQL (the ``backend`` fixture).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from casework import Actor, Engine, PermissionDenied, TriggerNotAllowed
from casework.clock import FrozenClock
from casework.diagram import to_mermaid
from casework.loading import load_workflows
from casework.testing import outbox_payloads
from tests.conftest import WORKFLOWS, Backend
from tests.packs import at, clocks, day, midnight_after, step

PACK = WORKFLOWS / "samr_report.yaml"
CLERK = Actor("li.clerk", {"clerk"})
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
    return engine.intake("samr_report", channel="platform_12315", received_at=at(when))


def test_filing_decision_testing_excluded_and_extended_by_the_head(
    engine: Engine, clock: FrozenClock
) -> None:
    """Materials received Mon 2025-09-22 → 15 wd (处罚程序规定 第18条) end Fri 2025-10-17.

    09-23..26 (wd1–4); 09-27 Sat skipped; 09-28 Sun make-up (5); 09-29 (6); 09-30 (7);
    10-01..08 National Day skipped; 10-09 (8); 10-10 (9); 10-11 Sat make-up (10); 10-12 Sun
    skipped; 10-13..17 (11–15) → 10-17.
    Testing commissioned Mon 09-29, result Fri 10-10: excluded = working days in
    (09-29, 10-10] = 09-30, 10-09, 10-10 = 3 → 18 wd: 10-20 (16), 10-21 (17), 10-22 (18)
    → Wed 2025-10-22.
    Extended to 30 wd by the head (an investigator may not): 30 + 3 = 33 wd: 10-23 (19),
    10-24 (20), 10-27..31 (21–25), 11-03..07 (26–30), 11-10 (31), 11-11 (32), 11-12 (33)
    → Wed 2025-11-12.
    """
    case = intake(engine, clock, "2025-09-22 10:00")
    dl = clocks(engine, case.id)["filing_decision"]
    assert (dl.due_on, dl.due_at) == (day("2025-10-17"), midnight_after("2025-10-17"))
    step(
        clock,
        engine,
        case.id,
        "commission_testing",
        INVESTIGATOR,
        "2025-09-29 10:00",
        reason="抽样送检",
    )
    assert clocks(engine, case.id)["filing_decision"].status == "paused"
    step(clock, engine, case.id, "receive_testing", INVESTIGATOR, "2025-10-10 15:00")
    dl = clocks(engine, case.id)["filing_decision"]
    assert (dl.status, dl.due_on) == ("running", day("2025-10-22"))
    assert dl.due_at == midnight_after("2025-10-22")
    clock.set(at("2025-10-15 10:00"))
    with pytest.raises(PermissionDenied):
        engine.extend(case.id, "filing_decision", INVESTIGATOR, reason="情况复杂")
    granted = engine.extend(case.id, "filing_decision", HEAD, reason="情况复杂")
    assert (granted.due_on, granted.due_at) == (day("2025-11-12"), midnight_after("2025-11-12"))
    extended = [p for _, p in outbox_payloads(engine) if p.topic == "deadline.extended"]
    assert [p.notify_consumer for p in extended] == [False]  # type: ignore[attr-defined]
    step(clock, engine, case.id, "accept", HEAD, "2025-11-10 10:00")
    got = clocks(engine, case.id)
    assert got["filing_decision"].status == "met"
    # 立案 Mon 2025-11-10 + 90 days: 11-30 (20), 12-31 (51), 2026-01-31 (82), 02-08 (90),
    # an ordinary Sunday → Mon 2026-02-09 (non_working_day).
    assert got["case_decision"].due_on == day("2026-02-09")


def test_repeat_report_with_new_facts_restarts_across_spring_festival_2026(
    engine: Engine, clock: FrozenClock
) -> None:
    """Received Tue 2026-02-10 → 15 wd end Mon 2026-03-09; new facts Mon 03-02 → Mon 03-23.

    First run: 02-11 (1), 02-12 (2), 02-13 Fri (3), 02-14 Sat make-up (4), 02-15..23 Spring
    Festival skipped, 02-24..27 (5–8), 02-28 Sat make-up (9), 03-01 Sun skipped, 03-02..06
    (10–14), 03-09 Mon (15).
    New facts from the same reporter on 03-02 (第35条第2款) restart the count from 03-02:
    03-03..06 (1–4), 03-09..13 (5–9), 03-16..20 (10–14), 03-23 (15).
    While testing is under way new_facts is not allowed (setting; see the pack's metadata).
    """
    case = intake(engine, clock, "2026-02-10 09:00")
    assert clocks(engine, case.id)["filing_decision"].due_on == day("2026-03-09")
    step(clock, engine, case.id, "new_facts", CLERK, "2026-03-02 14:00", reason="补充购货凭证")
    runs = [d for d in engine.deadlines(case.id) if d.clock == "filing_decision"]
    assert [r.status for r in runs] == ["cancelled", "running"]
    assert runs[1].started_at == at("2026-03-02 14:00")
    assert runs[1].data["restarted_by"] == "new_facts"
    assert (runs[1].due_on, runs[1].due_at) == (day("2026-03-23"), midnight_after("2026-03-23"))
    step(
        clock,
        engine,
        case.id,
        "commission_testing",
        INVESTIGATOR,
        "2026-03-04 10:00",
        reason="送检",
    )
    with pytest.raises(TriggerNotAllowed):
        step(clock, engine, case.id, "new_facts", CLERK, "2026-03-05 10:00", reason="再次补充")


def _variant(tmp_path: Path, rollover: str) -> Path:
    """The shipped pack with case_decision's rollover set to ``rollover``."""
    text = PACK.read_text(encoding="utf-8")
    old = "period: 90 days\n    calendar: cn\n    rollover: non_working_day\n"
    assert text.count(old) == 1
    path = tmp_path / "samr_report.yaml"
    path.write_text(text.replace(old, old.replace("non_working_day", rollover)), "utf-8")
    return path


@pytest.mark.parametrize(
    ("rollover", "extended_due"),
    [("non_working_day", "2026-11-16"), ("statutory_holiday_block", "2026-11-14")],
)
def test_case_decision_hearing_excluded_extension_and_rollover(
    backend: Backend, clock: FrozenClock, tmp_path: Path, rollover: str, extended_due: str
) -> None:
    """立案 Tue 2026-07-07 → 90 days (处罚程序规定 第64条).

    07-07 + 24 = 07-31, + 31 = 08-31 (55), + 30 = 09-30 (85), + 5 = 10-05 (90): inside the
    National Day block 10-01..07 → first day after the block, Thu 2026-10-08, under BOTH
    policies.
    Hearing 08-10 → 08-20: 20 − 10 = 10 days excluded → 100 days = 10-15 (Thu), a working day.
    Extended by the head to 120 days (+ the 10 excluded = 130): 10-05 + 40 = 11-14, an
    ordinary Saturday → non_working_day: Mon 2026-11-16; statutory_holiday_block: Sat 11-14.
    """
    path = PACK if rollover == "non_working_day" else _variant(tmp_path, rollover)
    engine = backend.open(workflows=path, clock=clock)
    try:
        case = intake(engine, clock, "2026-06-29 09:00")
        step(clock, engine, case.id, "accept", HEAD, "2026-07-07 10:00")
        dl = clocks(engine, case.id)["case_decision"]
        assert (dl.due_on, dl.due_at) == (day("2026-10-08"), midnight_after("2026-10-08"))
        step(
            clock,
            engine,
            case.id,
            "hold_hearing",
            INVESTIGATOR,
            "2026-08-10 09:00",
            reason="当事人申请听证",
        )
        assert clocks(engine, case.id)["case_decision"].status == "paused"
        step(clock, engine, case.id, "end_hearing", INVESTIGATOR, "2026-08-20 17:00")
        dl = clocks(engine, case.id)["case_decision"]
        assert (dl.due_on, dl.due_at) == (day("2026-10-15"), midnight_after("2026-10-15"))
        clock.set(at("2026-10-09 10:00"))
        with pytest.raises(PermissionDenied):
            engine.extend(case.id, "case_decision", INVESTIGATOR, reason="案情复杂")
        granted = engine.extend(case.id, "case_decision", HEAD, reason="案情复杂")
        assert granted.due_on == day(extended_due)
        assert granted.due_at == midnight_after(extended_due)
        step(clock, engine, case.id, "decide", HEAD, "2026-11-13 15:00")
        assert clocks(engine, case.id)["case_decision"].status == "met"
    finally:
        engine.close()


# ---------------------------------------------------------------- pauses that meet other steps


def _with_transition(tmp_path: Path, line: str) -> Path:
    """The shipped pack with one more transition (appended to the transitions list)."""
    text = PACK.read_text(encoding="utf-8")
    assert text.count("\nclocks:\n") == 1
    path = tmp_path / "samr_report.yaml"
    path.write_text(text.replace("\nclocks:\n", f"  {line}\n\nclocks:\n"), "utf-8")
    return path


def test_moving_between_two_pause_states_keeps_the_clock_paused(
    backend: Backend, clock: FrozenClock, tmp_path: Path
) -> None:
    """立案 Tue 2026-07-07 → 90 days = 10-05 → 10-08 (block). Testing from Mon 08-03, a
    hearing requested while testing (08-10), hearing ends 08-20: the whole span 08-03 → 08-20
    is excluded, 17 days → 107 days: 10-05 + 17 = Thu 2026-10-22.
    """
    path = _with_transition(
        tmp_path,
        "- {trigger: hold_hearing, source: case_testing, dest: hearing, "
        "roles: [investigator, head], requires: [reason]}",
    )
    engine = backend.open(workflows=path, clock=clock)
    try:
        case = intake(engine, clock, "2026-06-29 09:00")
        step(clock, engine, case.id, "accept", HEAD, "2026-07-07 10:00")
        step(
            clock,
            engine,
            case.id,
            "commission_testing",
            INVESTIGATOR,
            "2026-08-03 10:00",
            reason="送检",
        )
        step(
            clock,
            engine,
            case.id,
            "hold_hearing",
            INVESTIGATOR,
            "2026-08-10 10:00",
            reason="当事人申请听证",
        )
        assert clocks(engine, case.id)["case_decision"].status == "paused"
        step(clock, engine, case.id, "end_hearing", INVESTIGATOR, "2026-08-20 17:00")
        assert clocks(engine, case.id)["case_decision"].due_on == day("2026-10-22")
    finally:
        engine.close()


def test_new_facts_during_testing_restart_a_paused_run(
    backend: Backend, clock: FrozenClock, tmp_path: Path
) -> None:
    """Received Mon 2026-03-02; testing from Wed 03-04; new facts Thu 03-05 restart the count
    from 03-05 but the run must stay paused until the result arrives Thu 03-12.
    15 wd from 03-05: 03-06 (1), 03-09..13 (2–6), 03-16..20 (7–11), 03-23..26 (12–15) = 03-26;
    excluded = working days in (03-05, 03-12] = 03-06, 09, 10, 11, 12 = 5 → 03-27 (16),
    03-30 (17), 03-31 (18), 04-01 (19), 04-02 (20) → Thu 2026-04-02.
    """
    path = _with_transition(
        tmp_path,
        "- {trigger: new_facts, source: awaiting_testing, dest: awaiting_testing, "
        "roles: [clerk, investigator], requires: [reason]}",
    )
    engine = backend.open(workflows=path, clock=clock)
    try:
        case = intake(engine, clock, "2026-03-02 09:00")
        step(
            clock,
            engine,
            case.id,
            "commission_testing",
            INVESTIGATOR,
            "2026-03-04 10:00",
            reason="送检",
        )
        step(clock, engine, case.id, "new_facts", CLERK, "2026-03-05 10:00", reason="新的事实")
        assert clocks(engine, case.id)["filing_decision"].status == "paused"
        step(clock, engine, case.id, "receive_testing", INVESTIGATOR, "2026-03-12 16:00")
        assert clocks(engine, case.id)["filing_decision"].due_on == day("2026-04-02")
    finally:
        engine.close()


def test_docs_show_the_current_diagram() -> None:
    """docs/packs.md carries this pack's Mermaid diagram as `casework diagram` draws it now."""
    latest = max(load_workflows(PACK), key=lambda s: s.version)
    docs = (WORKFLOWS.parent / "docs" / "packs.md").read_text(encoding="utf-8")
    assert f"```mermaid\n{to_mermaid(latest).strip()}\n```" in docs
