"""Quickstart: open casework on a SQLite file, take in a complaint and walk it through the
default workflow, then read its audit trail, its deadline clocks and why the handling clock is
due when it is.

    python examples/quickstart.py

A frozen clock stands in for time so the steps can be days apart and the output is the same on
every run; a real host leaves ``clock`` out and gets the system clock.
"""

from __future__ import annotations

import datetime as dt
import json
import tempfile
from pathlib import Path

from casework import Actor, Engine, FrozenClock

WORKFLOWS = Path(__file__).resolve().parents[1] / "workflows"
SHANGHAI = dt.timezone(dt.timedelta(hours=8), "Asia/Shanghai")

CLERK = Actor("li.clerk", {"clerk"})
AGENT = Actor("wang.agent", {"agent"})

# (trigger, who, how long after the previous step, data the step records)
STEPS: list[tuple[str, Actor, dt.timedelta, dict[str, str]]] = [
    ("accept", CLERK, dt.timedelta(days=1), {}),
    ("investigate", AGENT, dt.timedelta(days=2), {"assignee": "wang.agent"}),
    ("handle", AGENT, dt.timedelta(days=5), {}),
    ("respond", AGENT, dt.timedelta(days=3), {"answer": "full refund agreed"}),
]


def main() -> int:
    # Wednesday 2026-05-06, 09:30 in Shanghai.
    clock = FrozenClock(dt.datetime(2026, 5, 6, 9, 30, tzinfo=SHANGHAI))
    with tempfile.TemporaryDirectory(prefix="casework-quickstart-") as tmp:
        url = f"sqlite:///{Path(tmp) / 'casework.db'}"
        with Engine.open(url, workflows=WORKFLOWS, clock=clock) as engine:
            case = engine.intake(
                "consumer_complaint",
                channel="hotline",
                category="after_sales",
                summary="Washing machine leaks; the shop refuses to repair it",
                complainant={"name": "张三", "contact": "13812345678"},
                respondent="某电器店",
                amount="2999.00",
            )
            print(f"case {case.id} opened: state={case.state},", end=" ")
            print(f"workflow {case.workflow} v{case.workflow_version}")
            for trigger, actor, wait, data in STEPS:
                clock.advance(wait)
                case = engine.fire(case.id, trigger, actor, data=data)
                print(f"  {trigger:<12} by {actor.id:<11} -> {case.state} (version {case.version})")

            print("\nhistory:")
            for event in engine.history(case.id):
                move = f"{event.from_state or '-'} -> {event.to_state}"
                print(
                    f"  #{event.seq} {event.occurred_at.astimezone(SHANGHAI):%Y-%m-%d %H:%M} "
                    f"{event.kind:<10} {event.trigger or '':<12} {move:<28} {event.actor:<11} "
                    f"{event.hash[:12]}"
                )
            print(f"  audit chain intact: {engine.verify_audit(case.id).ok}")

            print("\ndeadlines:")
            for deadline in engine.deadlines(case.id):
                print("  " + json.dumps(deadline.to_json(), ensure_ascii=False))

            print("\nexplain handling:")
            for line in engine.explain(case.id, "handling"):
                print(f"  {line}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
