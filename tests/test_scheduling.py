"""The APScheduler adapter: arms one wake-up at the earliest due row, re-arms for earlier rows,
catches up at start, and works under BackgroundScheduler and AsyncIOScheduler; the worker
process stops gracefully on SIGTERM."""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import signal
import subprocess
import sys
from pathlib import Path

from apscheduler.schedulers.background import BackgroundScheduler

from casework import Actor, Engine
from casework.clock import FrozenClock
from casework.scheduling import WAKEUP, CaseworkScheduler, for_asyncio
from tests.conftest import ROOT, SHANGHAI, Backend


def at(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text).replace(tzinfo=SHANGHAI)


def test_tick_catches_up_and_arms_the_earliest_row(engine: Engine, clock: FrozenClock) -> None:
    clock.set(at("2026-09-28 10:00"))
    engine.intake("consumer_complaint", channel="hotline")
    clock.set(at("2026-10-09 12:00"))
    adapter = CaseworkScheduler(engine, BackgroundScheduler(timezone=dt.UTC))
    report = adapter.tick()
    assert report.warnings == 1  # the 50 % warning, late but once
    assert adapter.armed_at == at("2026-10-13 00:00")  # next: 1 working day before due


def test_an_earlier_row_rearms_the_wakeup(engine: Engine, clock: FrozenClock) -> None:
    scheduler = BackgroundScheduler(timezone=dt.UTC)
    adapter = CaseworkScheduler(engine, scheduler, sweep_seconds=3600)
    scheduler.start(paused=True)  # running, but no job executes during the test
    try:
        clock.set(at("2026-09-28 10:00"))
        engine.intake("consumer_complaint", channel="hotline")
        adapter.tick()
        first = adapter.armed_at
        assert first is not None
        case = engine.intake("consumer_complaint", channel="hotline")
        engine.fire(case.id, "accept", Actor("c", {"clerk"}))
        # A 30-day handling clock's 80 % step is later; acceptance steps already armed earlier.
        assert adapter.armed_at == first
        clock.set(at("2026-09-28 11:00"))
        # A case received earlier (backdated) has an earlier 50 % point: re-armed at once.
        engine.intake("consumer_complaint", channel="email", received_at=at("2026-09-20 09:00"))
        assert adapter.armed_at is not None and adapter.armed_at < first
        job = scheduler.get_job(WAKEUP)
        assert job is not None and job.next_run_time == adapter.armed_at
    finally:
        adapter.shutdown(wait=False)


def test_asyncio_scheduler_drives_the_same_ticks(engine: Engine, clock: FrozenClock) -> None:
    clock.set(at("2026-09-28 10:00"))
    engine.intake("consumer_complaint", channel="hotline")
    clock.set(at("2026-10-20 10:00"))

    async def main() -> int:
        adapter = for_asyncio(engine, sweep_seconds=3600)
        adapter.scheduler.start(paused=True)
        try:
            loop = asyncio.get_running_loop()
            report = await loop.run_in_executor(None, adapter.tick)
            return report.steps
        finally:
            adapter.shutdown(wait=False)

    assert asyncio.run(main()) == 3


def test_worker_process_stops_gracefully_on_sigterm(sqlite_backend: Backend) -> None:
    sqlite_backend.open(clock=FrozenClock(at("2026-09-28 10:00"))).close()
    env = {**os.environ, "CASEWORK_DATABASE_URL": sqlite_backend.url}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "casework",
            "--workflows",
            str(ROOT / "workflows"),
            "worker",
            "--sweep",
            "0.2",
        ],
        stderr=subprocess.PIPE,
        stdout=subprocess.PIPE,
        env=env,
        text=True,
    )
    assert proc.stderr is not None
    line = proc.stderr.readline()  # blocks until the worker says it runs
    assert "worker running" in line
    proc.send_signal(signal.SIGTERM)
    _out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert "worker stopped" in err


def test_worker_once_catches_up_on_overdue_steps(sqlite_backend: Backend, tmp_path: Path) -> None:
    engine = sqlite_backend.open(clock=FrozenClock(at("2020-03-02 10:00")))
    engine.intake("consumer_complaint", channel="hotline")
    engine.close()
    env = {**os.environ, "CASEWORK_DATABASE_URL": sqlite_backend.url}
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "casework",
            "--workflows",
            str(ROOT / "workflows"),
            "worker",
            "--once",
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert "caught up: 3 step(s)" in done.stdout
