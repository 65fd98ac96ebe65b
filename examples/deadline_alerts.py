"""Deadline alerts: register hooks, let the clocks run, and watch warnings, a breach, the
automatic escalation and a retried delivery — on a temporary SQLite file, with a simulated clock.

    python examples/deadline_alerts.py

In production the same hooks are registered in the process that runs the scheduler
(`casework worker`, or `CaseworkScheduler(engine).start()` in your own app); an installed package
can also register them through the `casework.integrations` entry point group.
"""

from __future__ import annotations

import datetime as dt
import logging
import sys
import tempfile
from pathlib import Path
from typing import Any

from casework import Actor, Engine, FrozenClock, HookRegistry
from casework.hooks import DeadlineBreached, DeadlineWarning
from casework.scheduling import CaseworkScheduler

WORKFLOWS = Path(__file__).resolve().parents[1] / "workflows"
SHANGHAI = dt.timezone(dt.timedelta(hours=8))


def main() -> None:
    # The host configures logging (casework never does): show casework's warnings inline.
    logging.basicConfig(level=logging.WARNING, format="  log   %(message)s", stream=sys.stdout)
    seen: set[str] = set()
    sms_gateway_up = [False]

    def sms_supervisor(p: DeadlineWarning) -> None:
        # At-least-once delivery: a real host deduplicates on the idempotency key.
        if p.idempotency_key in seen:
            return
        if not sms_gateway_up[0]:
            raise ConnectionError("SMS gateway unreachable")
        seen.add(p.idempotency_key)
        print(
            f"  SMS   case {p.case_id}: {p.clock} at {p.elapsed_fraction:.0%}, due {p.due_at:%Y-%m-%d %H:%M} UTC"
        )

    def page_on_breach(p: DeadlineBreached) -> None:
        print(f"  PAGE  case {p.case_id}: {p.clock} breached ({p.step}), key {p.idempotency_key}")

    def task_group_board(p: Any) -> None:
        print(f"  BOARD case {p.case_id} escalated by {p.actor}: {p.reason}")

    hooks = HookRegistry()
    hooks.register("deadline.warning", sms_supervisor)
    hooks.register("deadline.breached", page_on_breach)
    hooks.register("case.escalated", task_group_board)

    clock = FrozenClock(dt.datetime(2026, 5, 6, 9, 0, tzinfo=SHANGHAI))
    with tempfile.TemporaryDirectory() as tmp:
        engine = Engine.open(
            f"sqlite:///{tmp}/alerts.db", workflows=WORKFLOWS, clock=clock, hooks=hooks
        )
        worker = CaseworkScheduler(engine)  # ticked by hand here; .start() in a real process
        case = engine.intake("consumer_complaint", channel="hotline", summary="空调不制冷")
        engine.fire(case.id, "accept", Actor("li", {"clerk"}))
        engine.fire(case.id, "investigate", Actor("wang", {"agent"}))
        for d in engine.deadlines(case.id):
            print(f"clock {d.clock:10} {d.status:8} due {d.due_on}")

        for when, note in [
            ("2026-05-31 09:00", "past 80 % of the handling clock (SMS gateway down)"),
            ("2026-05-31 09:05", "the gateway is back: the warning is retried"),
            ("2026-06-06 09:00", "the handling clock is breached"),
            ("2026-06-09 09:00", "breach + 1 working day: automatic escalation"),
        ]:
            clock.set(dt.datetime.fromisoformat(when).replace(tzinfo=SHANGHAI))
            if "back" in note:
                sms_gateway_up[0] = True
                clock.advance(minutes=1)  # past the retry backoff
            print(f"{when}  {note}")
            report = worker.tick()
            if report.steps:
                print(f"  fired {report.steps} step(s), {report.triggers_fired} trigger(s)")
        print(f"case {case.id} is now {engine.get(case.id).state!r}")
        mine = [e for e in engine.outbox.entries() if e.topic in hooks.topics]
        print(f"undelivered notifications for these hooks: {len(mine)}")
        engine.close()


if __name__ == "__main__":
    main()
