"""Scenario tests of workflows/petition.yaml (信访工作条例 2022).

Every expected date is derived by hand in the test's docstring from the counting rules
(start day not counted; calendar-day last day = start + N, then rolled over per the clock's
``rollover``; excluded days added before rollover; a 调休 make-up day never moves) and the
State Council schedules in ``shared/realdata/holidays_cn/2026.json``:

* 2026 Spring Festival: 02-15..02-23 off, 02-14 (Sat) and 02-28 (Sat) worked.
* 2026 清明 04-04..04-06 off.
* 2026 National Day: 10-01..10-07 off, 10-10 (Sat) worked.

``due_at`` is always 00:00 Asia/Shanghai of the day after ``due_on`` (24:00 of the last day).
Runs on real SQLite and real PostgreSQL (the ``backend`` fixture).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from casework import Actor, Engine, InvalidInput, PermissionDenied
from casework.clock import FrozenClock
from casework.diagram import to_mermaid
from casework.loading import load_workflows
from casework.testing import outbox_payloads
from tests.conftest import WORKFLOWS, Backend
from tests.packs import at, clocks, day, midnight_after, step

PACK = WORKFLOWS / "petition.yaml"
CLERK = Actor("li.clerk", {"clerk"})
HANDLER = Actor("wang.handler", {"handler"})
HEAD = Actor("zheng.head", {"head"})
REVIEWER = Actor("sun.reviewer", {"reviewer"})
RE_REVIEWER = Actor("zhou.rereviewer", {"re_reviewer"})


@pytest.fixture
def engine(backend: Backend, clock: FrozenClock) -> Iterator[Engine]:
    eng = backend.open(workflows=PACK, clock=clock)
    try:
        yield eng
    finally:
        eng.close()


def intake(engine: Engine, clock: FrozenClock, when: str) -> Any:
    clock.set(at(when))
    return engine.intake("petition", channel="letter", received_at=at(when))


def _variant(tmp_path: Path, rollover: str) -> Path:
    text = PACK.read_text(encoding="utf-8")
    old = "period: 15 days\n    calendar: cn\n    rollover: non_working_day\n"
    assert text.count(old) == 1
    path = tmp_path / "petition.yaml"
    path.write_text(text.replace(old, old.replace("non_working_day", rollover)), "utf-8")
    return path


@pytest.mark.parametrize(
    ("rollover", "weekend_due"),
    [("non_working_day", "2026-07-20"), ("statutory_holiday_block", "2026-07-18")],
)
def test_registration_15_days_weekend_vs_national_day_block(
    backend: Backend, clock: FrozenClock, tmp_path: Path, rollover: str, weekend_due: str
) -> None:
    """Register and route within 15 days of receipt (第22条).

    Holiday block: received Wed 2026-09-16 → 09-16 + 14 = 09-30, + 1 = 10-01, inside
      National Day 10-01..07 → both policies: Thu 2026-10-08.
    Weekend: received Fri 2026-07-03 → 07-18, an ordinary Saturday → non_working_day:
      Mon 2026-07-20; statutory_holiday_block: Sat 07-18.
    Routing (accept) stops the clock as met.
    """
    path = PACK if rollover == "non_working_day" else _variant(tmp_path, rollover)
    engine = backend.open(workflows=path, clock=clock)
    try:
        block = intake(engine, clock, "2026-09-16 10:00")
        weekend = intake(engine, clock, "2026-07-03 10:00")
        b = clocks(engine, block.id)["registration"]
        w = clocks(engine, weekend.id)["registration"]
        assert (b.due_on, b.due_at) == (day("2026-10-08"), midnight_after("2026-10-08"))
        assert (w.due_on, w.due_at) == (day(weekend_due), midnight_after(weekend_due))
        step(clock, engine, block.id, "accept", CLERK, "2026-09-29 10:00")
        assert clocks(engine, block.id)["registration"].status == "met"
    finally:
        engine.close()


def test_handling_60_days_across_spring_festival_and_an_extension_of_up_to_30(
    engine: Engine, clock: FrozenClock
) -> None:
    """Accepted Thu 2025-12-18 → 60 days (第34条): 12-18 + 13 = 12-31, + 31 = 2026-01-31 (44),
    + 16 = 02-16 (60), inside Spring Festival 02-15..23 → Tue 2026-02-24.

    The head extends by 20 days (to 80): 02-16 + 12 = 02-28, + 8 = 03-08, a Sunday →
    Mon 2026-03-09; then by the remaining 10 (to 90): 02-16 + 30 = Wed 2026-03-18. A handler may
    not extend; nothing beyond 90 days is possible. The petitioner is told each time.
    """
    case = intake(engine, clock, "2025-12-15 10:00")
    step(clock, engine, case.id, "accept", CLERK, "2025-12-18 10:00")
    dl = clocks(engine, case.id)["handling"]
    assert (dl.due_on, dl.due_at) == (day("2026-02-24"), midnight_after("2026-02-24"))
    clock.set(at("2026-02-10 10:00"))
    with pytest.raises(PermissionDenied):
        engine.extend(case.id, "handling", HANDLER, reason="需多部门会商", to="80 days")
    first = engine.extend(case.id, "handling", HEAD, reason="需多部门会商", to="80 days")
    assert (first.due_on, first.due_at) == (day("2026-03-09"), midnight_after("2026-03-09"))
    clock.set(at("2026-03-05 10:00"))
    second = engine.extend(case.id, "handling", HEAD, reason="仍需现场核实", to="90 days")
    assert (second.due_on, second.due_at) == (day("2026-03-18"), midnight_after("2026-03-18"))
    with pytest.raises(InvalidInput):
        engine.extend(case.id, "handling", HEAD, reason="再延长")
    extended = [p for _, p in outbox_payloads(engine) if p.topic == "deadline.extended"]
    assert [p.notify_consumer for p in extended] == [True, True]  # type: ignore[attr-defined]
    step(clock, engine, case.id, "respond", HANDLER, "2026-03-16 10:00")
    assert clocks(engine, case.id)["handling"].status == "met"


def test_review_and_re_review_with_hearing_excluded(engine: Engine, clock: FrozenClock) -> None:
    """复查 / 复核 (第35–36条), 30 days each to ask and to decide.

    Reply Mon 2026-01-05 → 复查 window 01-05 + 30 = Wed 2026-02-04.
    复查 requested Tue 01-20 → decision 01-20 + 11 = 01-31, + 19 = 02-19, inside Spring
      Festival → Tue 2026-02-24.
    复查 decided Tue 02-24 → 复核 window 02-24 + 4 = 02-28, + 26 = Thu 2026-03-26.
    复核 requested Mon 03-02 → decision 03-02 + 30 = Wed 2026-04-01; hearing 03-10 → 03-13
      excludes 3 days → 33 days = 04-04, inside 清明 04-04..06 → Tue 2026-04-07.
    """
    case = intake(engine, clock, "2025-10-20 10:00")
    step(clock, engine, case.id, "accept", CLERK, "2025-10-21 10:00")
    step(clock, engine, case.id, "respond", HANDLER, "2026-01-05 10:00")
    window = clocks(engine, case.id)["review_request"]
    assert (window.due_on, window.due_at) == (day("2026-02-04"), midnight_after("2026-02-04"))
    step(clock, engine, case.id, "request_review", CLERK, "2026-01-20 10:00")
    review = clocks(engine, case.id)["review"]
    assert (review.due_on, review.due_at) == (day("2026-02-24"), midnight_after("2026-02-24"))
    step(clock, engine, case.id, "decide_review", REVIEWER, "2026-02-24 10:00")
    got = clocks(engine, case.id)
    assert got["review"].status == "met"
    assert got["re_review_request"].due_on == day("2026-03-26")
    step(clock, engine, case.id, "request_re_review", CLERK, "2026-03-02 10:00")
    assert clocks(engine, case.id)["re_review"].due_on == day("2026-04-01")
    step(clock, engine, case.id, "hold_hearing", RE_REVIEWER, "2026-03-10 09:00", reason="公开听证")
    assert clocks(engine, case.id)["re_review"].status == "paused"
    step(clock, engine, case.id, "end_hearing", RE_REVIEWER, "2026-03-13 17:00")
    rr = clocks(engine, case.id)["re_review"]
    assert (rr.status, rr.due_on) == ("running", day("2026-04-07"))
    assert rr.due_at == midnight_after("2026-04-07")
    step(clock, engine, case.id, "decide_re_review", RE_REVIEWER, "2026-04-07 16:00")
    assert clocks(engine, case.id)["re_review"].status == "met"
    assert engine.get(case.id).state == "closed"


def test_lapsed_re_review_window_closes_the_case(engine: Engine, clock: FrozenClock) -> None:
    """复查 decided Tue 2026-02-24 → 复核 window ends Thu 03-26 (24:00).

    Close step: 5 working days after 03-26: 03-27 (1), 03-30 (2), 03-31 (3), 04-01 (4),
    04-02 (5) → 24:00 of Thu 04-02 = 2026-04-03 00:00, fired as system.
    """
    case = intake(engine, clock, "2025-10-20 10:00")
    step(clock, engine, case.id, "accept", CLERK, "2025-10-21 10:00")
    step(clock, engine, case.id, "respond", HANDLER, "2026-01-05 10:00")
    step(clock, engine, case.id, "request_review", CLERK, "2026-01-20 10:00")
    step(clock, engine, case.id, "decide_review", REVIEWER, "2026-02-24 10:00")
    clock.set(at("2026-04-02 23:59"))
    engine.run_due()
    assert engine.get(case.id).state == "reviewed"
    clock.set(at("2026-04-03 00:30"))
    assert engine.run_due().triggers_fired == 1
    assert engine.get(case.id).state == "closed"
    last = engine.history(case.id)[-1]
    assert (last.trigger, last.actor) == ("close", "system")


# ---------------------------------------------------------------- extensions of up to 30 days


def test_an_up_to_rung_allows_any_shorter_extension(engine: Engine, clock: FrozenClock) -> None:
    """Accepted Thu 2025-12-18 → 60 days = 02-16 → Tue 2026-02-24 (Spring Festival); the one
    'up to 90 days' rung granted as 80 days: 02-16 + 20 = 03-08 (Sun) → Mon 2026-03-09; 95 days
    or a shortening to 70 are refused; without `to` the rung grants its full 90 days:
    02-16 + 30 = Wed 2026-03-18."""
    case = intake(engine, clock, "2025-12-15 10:00")
    step(clock, engine, case.id, "accept", CLERK, "2025-12-18 10:00")
    granted = engine.extend(case.id, "handling", HEAD, reason="需多部门会商", to="80 days")
    assert granted.due_on == day("2026-03-09")
    for bad in ("95 days", "70 days"):
        with pytest.raises(InvalidInput):
            engine.extend(case.id, "handling", HEAD, reason="再延长", to=bad)
    full = engine.extend(case.id, "handling", HEAD, reason="仍需现场核实")
    assert (full.period, full.due_on) == ("90 days", day("2026-03-18"))


def test_docs_show_the_current_diagram() -> None:
    """docs/packs.md carries this pack's Mermaid diagram as `casework diagram` draws it now."""
    latest = max(load_workflows(PACK), key=lambda s: s.version)
    docs = (WORKFLOWS.parent / "docs" / "packs.md").read_text(encoding="utf-8")
    assert f"```mermaid\n{to_mermaid(latest).strip()}\n```" in docs
