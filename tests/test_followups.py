"""Follow-up visits (回访): scheduling with quiet hours, sampling, retries, unreachable after K,
the dissatisfaction loop (reopen → escalate after N), archive refusal and waivers, the visit's
own deadline — on real SQLite and PostgreSQL with a frozen clock."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from click.testing import CliRunner

from casework import Actor, Engine, PermissionDenied
from casework.cli import main
from casework.clock import FrozenClock
from casework.followups import FollowUpPending, sample_point
from casework.loading import load_workflow
from casework.testing import outbox_payloads
from tests.conftest import SHANGHAI, WORKFLOWS, Backend

CLERK = Actor("li.clerk", {"clerk"})
AGENT = Actor("wang.agent", {"agent"})
SUPERVISOR = Actor("zhao.sup", {"supervisor"})
CALLER = Actor("hotline.7", {"agent"})


def at(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text).replace(tzinfo=SHANGHAI)


def responded(engine: Engine, clock: FrozenClock, **intake: Any) -> int:
    """A case answered on Wed 2026-05-06 15:00 (the visit is due 3 working days later)."""
    clock.set(at("2026-05-06 09:00"))
    case = engine.intake("consumer_complaint", channel="hotline", **intake)
    for trigger, actor in [("accept", CLERK), ("investigate", AGENT), ("handle", AGENT)]:
        engine.fire(case.id, trigger, actor)
    clock.set(at("2026-05-06 15:00"))
    engine.fire(case.id, "respond", AGENT)
    return case.id


def test_visit_is_due_on_the_third_working_day_outside_quiet_hours(
    engine: Engine, clock: FrozenClock
) -> None:
    """05-07 Thu, 05-08 Fri, 05-09 Sat (调休 make-up working day) → 05-09, after 08:00."""
    case_id = responded(engine, clock)
    (visit,) = engine.followups.list(case_id=case_id)
    assert visit.status == "scheduled" and visit.selected_because == "all"
    assert visit.due_at == at("2026-05-09 08:00")
    # 7 working days: 05-07, 05-08, 05-09 (make-up), 05-11 .. 05-14 → ends 24:00 on 05-14.
    assert visit.deadline_at == at("2026-05-15 00:00")
    clock.set(at("2026-05-09 07:59"))
    assert engine.run_due().visits == 0
    clock.set(at("2026-05-09 08:00"))
    assert engine.run_due().visits == 1
    (visit,) = engine.followups.list(case_id=case_id)
    assert (visit.status, visit.attempts) == ("due", 1)
    due = [p for _, p in outbox_payloads(engine) if p.topic == "followup.due"]
    assert [(p.attempt, p.channel) for p in due] == [(1, "phone")]  # type: ignore[attr-defined]
    assert engine.followups.list(due_only=True)[0].id == visit.id


def test_unreachable_is_retried_then_closed_after_k_attempts(
    engine: Engine, clock: FrozenClock
) -> None:
    case_id = responded(engine, clock)
    clock.set(at("2026-05-09 08:00"))
    engine.run_due()
    engine.record_followup(case_id, "unreachable", CALLER, at=at("2026-05-09 10:00"))
    (visit,) = engine.followups.list(case_id=case_id)
    # +1 day = Sunday 05-10, rolled to Monday 05-11, at the end of quiet hours.
    assert (visit.status, visit.due_at) == ("scheduled", at("2026-05-11 08:00"))
    clock.set(at("2026-05-11 08:00"))
    engine.run_due()
    engine.record_followup(case_id, "unreachable", CALLER, at=at("2026-05-11 09:00"))
    clock.set(at("2026-05-12 08:00"))
    engine.run_due()
    final = engine.record_followup(case_id, "unreachable", CALLER, at=at("2026-05-12 09:00"))
    assert (final.status, final.attempts) == ("unreachable", 3)
    keys = [p.idempotency_key for _, p in outbox_payloads(engine) if p.topic == "followup.due"]
    assert keys == [f"followup:{final.id}:attempt:{n}" for n in (1, 2, 3)]
    # An unreachable consumer does not block archiving.
    assert engine.fire(case_id, "archive", SUPERVISOR).state == "archived"


def test_dissatisfied_reopens_with_a_fresh_clock_then_escalates_after_n(
    engine: Engine, clock: FrozenClock
) -> None:
    case_id = responded(engine, clock)
    for round_ in (1, 2):
        case = engine.get(case_id)
        assert case.state == "feedback"
        engine.record_followup(case_id, "dissatisfied", CALLER, score=1, comment="没解决")
        case = engine.get(case_id)
        assert (case.state, case.rehandle_count) == ("handling", round_)
        runs = [d for d in engine.deadlines(case_id) if d.clock == "handling"]
        assert runs[-1].status == "running" and runs[-1].started_at == clock.now()
        clock.advance(days=1)
        engine.fire(case_id, "respond", AGENT)
        (pending,) = [v for v in engine.followups.list(case_id=case_id) if v.status == "scheduled"]
        assert pending.selected_because == "reopened"
    engine.record_followup(case_id, "dissatisfied", CALLER, score=1)
    case = engine.get(case_id)
    assert (case.state, case.rehandle_count) == ("escalated", 2), "escalated instead of a 3rd"
    assert engine.history(case_id)[-1].actor == "system"


def test_archive_is_refused_while_a_visit_is_pending_unless_waived(
    engine: Engine, clock: FrozenClock
) -> None:
    case_id = responded(engine, clock)
    with pytest.raises(FollowUpPending) as err:
        engine.fire(case_id, "archive", SUPERVISOR)
    assert "waive" in str(err.value)
    with pytest.raises(PermissionDenied):
        engine.waive_followup(case_id, AGENT, reason="consumer moved abroad")
    waived = engine.waive_followup(case_id, SUPERVISOR, reason="consumer moved abroad")
    assert waived.status == "waived"
    assert engine.history(case_id)[-1].kind == "followup_waived"
    assert engine.fire(case_id, "archive", SUPERVISOR).state == "archived"


def test_satisfied_allows_archiving(engine: Engine, clock: FrozenClock) -> None:
    case_id = responded(engine, clock)
    visit = engine.record_followup(case_id, "basically_satisfied", CALLER, score=4)
    assert (visit.status, visit.outcome, visit.score, visit.recorded_by) == (
        "completed",
        "basically_satisfied",
        4,
        "hotline.7",
    )
    assert engine.fire(case_id, "archive", SUPERVISOR).state == "archived"


def test_no_outcome_by_the_visit_deadline_breaches_its_clock(
    engine: Engine, clock: FrozenClock
) -> None:
    case_id = responded(engine, clock)
    clock.set(at("2026-05-20 10:00"))
    engine.run_due()
    visit_clock = [d for d in engine.deadlines(case_id) if d.clock == "followup:satisfaction"]
    assert visit_clock[-1].status == "breached"
    breached = [p for _, p in outbox_payloads(engine) if p.topic == "deadline.breached"]
    assert any(p.clock == "followup:satisfaction" for p in breached)  # type: ignore[attr-defined]
    engine.record_followup(case_id, "satisfied", CALLER)
    assert [d for d in engine.deadlines(case_id) if d.clock == "followup:satisfaction"][
        -1
    ].status == "breached"


SAMPLED = (
    (WORKFLOWS / "consumer_complaint.yaml")
    .read_text(encoding="utf-8")
    .replace("    sample: 100%", "    sample: 30%")
    .replace("on_satisfied: allow_archive", "on_satisfied: archive")
)


def test_sampling_is_deterministic_and_always_covers_flagged_cases(
    backend: Backend, clock: FrozenClock, tmp_path: Any
) -> None:
    path = tmp_path / "sampled.yaml"
    path.write_text(SAMPLED, encoding="utf-8")
    engine = backend.open(workflows=[load_workflow(path)], clock=clock)
    ids = [responded(engine, clock, category="after_sales") for _ in range(40)]
    visited = {v.case_id for v in engine.followups.list()}
    expected = {i for i in ids if sample_point("satisfaction", i) < 0.3}
    assert visited == expected and 0 < len(expected) < 40
    flagged = responded(engine, clock, category="product_quality_safety")
    assert {v.case_id for v in engine.followups.list()} - visited == {flagged}
    # on_satisfied: archive — a satisfied consumer closes the case automatically.
    engine.record_followup(flagged, "satisfied", CALLER)
    assert engine.get(flagged).state == "archived"
    engine.close()


def test_followup_cli_lists_and_records(sqlite_backend: Backend) -> None:
    clock = FrozenClock(at("2026-05-06 09:00"))
    engine = sqlite_backend.open(clock=clock)
    case_id = responded(engine, clock)
    engine.close()
    runner = CliRunner()
    base = ["--db", sqlite_backend.url, "--workflows", str(WORKFLOWS), "followup"]
    listed = runner.invoke(main, [*base, "list", "--json"])
    assert listed.exit_code == 0, listed.output
    import json

    (row,) = json.loads(listed.stdout)
    assert row["case_id"] == case_id and row["status"] == "scheduled"
    rec = runner.invoke(
        main,
        [
            *base,
            "record",
            str(case_id),
            "--outcome",
            "satisfied",
            "--score",
            "5",
            "--actor",
            "li",
            "--role",
            "agent",
            "--json",
        ],
    )
    assert rec.exit_code == 0, rec.output
    assert json.loads(rec.stdout)["outcome"] == "satisfied"
    bad = runner.invoke(
        main,
        [*base, "record", str(case_id), "--outcome", "happy", "--actor", "li", "--role", "agent"],
    )
    assert bad.exit_code == 2  # not one of the outcomes: a usage error
    none_left = runner.invoke(
        main,
        [
            *base,
            "record",
            str(case_id),
            "--outcome",
            "satisfied",
            "--actor",
            "li",
            "--role",
            "agent",
        ],
    )
    assert none_left.exit_code == 1 and "no pending follow-up" in none_left.stderr
