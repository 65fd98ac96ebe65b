"""The APScheduler 3.11 adapter — the only module that imports ``apscheduler``.

APScheduler decides *when to look*, never *what is due*: the deadlines and outbox tables are the
record (guarantee 2). The adapter keeps two jobs in a memory job store:

* ``casework-wakeup`` — a one-shot job armed at the earliest ``fire_at`` in the database, re-armed
  after every tick and whenever this process commits an earlier row;
* ``casework-sweep`` — a periodic safety net that also catches rows other processes wrote and
  retries hook deliveries.

Losing the scheduler loses nothing: on start the adapter ticks at once and catches up on every
overdue step, late but once.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
from typing import TYPE_CHECKING, Any

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.schedulers.base import BaseScheduler

if TYPE_CHECKING:
    from casework.deadlines import RunReport
    from casework.engine import Engine

log = logging.getLogger("casework.scheduling")

WAKEUP = "casework-wakeup"
SWEEP = "casework-sweep"


class CaseworkScheduler:
    """Drives :meth:`Engine.run_due` and :meth:`Engine.deliver_hooks` from an APScheduler.

    Pass your own scheduler to share it with the host's jobs, or let the adapter create a
    ``BackgroundScheduler`` (threaded hosts; see :func:`for_asyncio` for asyncio hosts).
    ``sweep_seconds`` is the safety-net period.
    """

    def __init__(
        self,
        engine: Engine,
        scheduler: BaseScheduler | None = None,
        *,
        sweep_seconds: float = 60.0,
        deliver_hooks: bool = True,
    ) -> None:
        self.engine = engine
        self.scheduler = scheduler or BackgroundScheduler(timezone=dt.UTC)
        self.sweep_seconds = sweep_seconds
        self.deliver_hooks = deliver_hooks
        self._lock = threading.Lock()
        self._closing = False
        self._armed_at: dt.datetime | None = None
        self.ticks = 0
        engine.clocks.on_new_fire_at(self._earlier_row)

    def start(self) -> None:
        """Add the jobs and start the scheduler (if the host has not already); ticks at once."""
        self.scheduler.add_job(
            self.tick,
            "interval",
            seconds=self.sweep_seconds,
            id=SWEEP,
            replace_existing=True,
            next_run_time=self.engine.clock.now(),
            max_instances=1,
            coalesce=True,
            misfire_grace_time=None,
        )
        if not self.scheduler.running:
            self.scheduler.start()

    def shutdown(self, wait: bool = True) -> None:
        """Stop the scheduler; with ``wait`` a running tick finishes first."""
        # APScheduler holds its job-store lock while it waits for running jobs, so a tick
        # must never touch the scheduler once shutdown has begun: flag it, let the running
        # tick finish, and only then shut the scheduler down.
        self._closing = True
        if wait:
            with self._lock:
                pass
        if self.scheduler.running:
            self.scheduler.shutdown(wait=wait)

    def tick(self) -> RunReport:
        """Apply everything due now, deliver hooks, and arm the next wake-up."""
        from casework.deadlines import RunReport

        if self._closing:
            return RunReport()
        with self._lock:
            total = RunReport()
            if self._closing:
                return total
            try:
                total = self.engine.run_due()
                if self.deliver_hooks:
                    self._deliver_all()
            except Exception:
                # A database outage must not kill the scheduler: the sweep comes back.
                log.exception("casework tick failed; the sweep will retry")
            self.ticks += 1
            self._arm()
            if total.steps:
                log.info("fired %d deadline step(s)", total.steps)
            return total

    def _deliver_all(self, batch: int = 500, max_batches: int = 40) -> None:
        """Deliver while full batches come back (a catch-up can queue thousands), at most
        ``max_batches`` per tick so a tick stays bounded; the sweep takes whatever is left."""
        for _ in range(max_batches):
            report = self.engine.deliver_hooks(limit=batch)
            if report.delivered + report.failed < batch:
                return

    def _arm(self) -> None:
        try:
            nxt = self.engine.next_due_at()
        except Exception:
            log.exception("could not read the next due time")
            return
        self._arm_at(nxt)

    def _arm_at(self, when: dt.datetime | None) -> None:
        self._armed_at = when
        if when is None:
            if self.scheduler.get_job(WAKEUP) is not None:
                self.scheduler.remove_job(WAKEUP)
            return
        self.scheduler.add_job(
            self.tick,
            "date",
            run_date=when,
            id=WAKEUP,
            replace_existing=True,
            misfire_grace_time=None,
            coalesce=True,
        )

    def _earlier_row(self, fire_at: dt.datetime) -> None:
        """A command in this process committed a row due at ``fire_at``."""
        if self._closing or not self.scheduler.running:
            return
        armed = self._armed_at
        if armed is None or fire_at < armed:
            self._arm_at(fire_at)

    @property
    def armed_at(self) -> dt.datetime | None:
        """When the wake-up job will run next (``None`` when nothing is scheduled)."""
        return self._armed_at


def for_asyncio(engine: Engine, **kwargs: Any) -> CaseworkScheduler:
    """An adapter on an ``AsyncIOScheduler`` (start it from inside the running event loop).

    Ticks run in the loop's default executor, so database work never blocks the loop.
    """
    return CaseworkScheduler(engine, AsyncIOScheduler(timezone=dt.UTC), **kwargs)
