"""Helpers for testing code that embeds casework: a frozen clock, a throwaway engine, and a
way to capture the hook notifications a command emitted.

    from casework.testing import FrozenClock, make_engine, captured
    clock = FrozenClock("2026-05-06T09:00:00+08:00")
    with make_engine(clock=clock) as engine:
        case = engine.intake("consumer_complaint", channel="hotline")
        with captured(engine) as seen:
            engine.fire(case.id, "accept", Actor("li", {"clerk"}))
        assert [p.topic for p in seen] == ["case.transitioned"]
"""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from casework.clock import FrozenClock
from casework.engine import Engine, GuardFn
from casework.hooks import HookRegistry, Payload, payload_from_json
from casework.spec import WorkflowSpec

__all__ = ["FrozenClock", "captured", "default_workflows_dir", "make_engine", "outbox_payloads"]


def default_workflows_dir() -> Path:
    """The ``workflows/`` folder of a source checkout (for casework's own tests and examples)."""
    return Path(__file__).resolve().parents[2] / "workflows"


def make_engine(
    db: str | sa.Engine | sa.Connection = "sqlite://",
    *,
    workflows: str | Path | Iterable[WorkflowSpec] | None = None,
    clock: FrozenClock | None = None,
    guards: Mapping[str, GuardFn] | None = None,
    hooks: HookRegistry | None = None,
    **kwargs: Any,
) -> Engine:
    """An engine for tests: in-memory SQLite and a frozen clock unless told otherwise.

    In-memory SQLite is one shared connection, fine for single-threaded tests; give a
    ``sqlite:///path`` URL for tests that use threads.
    """
    return Engine.open(
        db,
        workflows=workflows if workflows is not None else default_workflows_dir(),
        clock=clock or FrozenClock(dt.datetime(2026, 5, 6, 1, 0, tzinfo=dt.UTC)),
        guards=guards,
        hooks=hooks,
        **kwargs,
    )


def outbox_payloads(engine: Engine, *, after_id: int = 0) -> list[tuple[int, Payload]]:
    """Every notification queued in the outbox with id > ``after_id``, as frozen payloads."""
    t = engine.store.tables.outbox

    def work(conn: sa.Connection) -> list[tuple[int, Payload]]:
        rows = conn.execute(sa.select(t).where(t.c.id > after_id).order_by(t.c.id))
        return [(r.id, payload_from_json(r.topic, r.payload)) for r in rows]

    return engine.store.run(work, read=True)


@contextlib.contextmanager
def captured(engine: Engine) -> Iterator[list[Payload]]:
    """Collect the notifications queued while the block runs (delivered or not)."""
    start = max((i for i, _ in outbox_payloads(engine)), default=0)
    seen: list[Payload] = []
    try:
        yield seen
    finally:
        seen.extend(p for _, p in outbox_payloads(engine, after_id=start))
