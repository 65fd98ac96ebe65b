"""Helpers shared by the workflow-pack scenario tests (times are Asia/Shanghai wall clock)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from casework import Actor, Engine
from casework.clock import FrozenClock
from tests.conftest import SHANGHAI


def at(text: str) -> dt.datetime:
    """``at("2026-09-28 10:00")``: that Shanghai wall-clock time, aware."""
    return dt.datetime.fromisoformat(text).replace(tzinfo=SHANGHAI)


def day(text: str) -> dt.date:
    return dt.date.fromisoformat(text)


def midnight_after(text: str) -> dt.datetime:
    """24:00 of the given last day = 00:00 Shanghai of the next day."""
    return dt.datetime.combine(day(text) + dt.timedelta(days=1), dt.time(), SHANGHAI)


def clocks(engine: Engine, case_id: int) -> dict[str, Any]:
    """The latest run of each clock of a case, by clock name."""
    return {d.clock: d for d in engine.deadlines(case_id)}


def step(
    clock: FrozenClock,
    engine: Engine,
    case_id: int,
    trigger: str,
    actor: Actor,
    when: str,
    **data: Any,
) -> Any:
    """Fire ``trigger`` at Shanghai wall-clock ``when`` (the clock is moved there first)."""
    clock.set(at(when))
    return engine.fire(case_id, trigger, actor, data=data or None, at=at(when))
