"""Deadline worker at scale: casework's deadline rows vs one APScheduler job per deadline.

**casework.** A SQLite file (WAL, ``synchronous=FULL``) holds ``--n`` open ``consumer_complaint``
cases, each in state ``received`` with its ``acceptance`` clock running (7 working days on the
``cn`` calendar; ladder at 50 % and 1 working day before). Cases, their hash-chained ``opened``
events and their deadline rows are seeded in bulk with raw ``sqlite3`` (due dates from casework's
own calendar, ladder instants from ``DeadlineManager.schedule``), cached per size in a temp
folder and copied afresh for every run; seeding is never timed. The business clock stands at
``NOW`` (Thu 2026-05-21 23:00 Asia/Shanghai) as a worker starts after an outage:

* ``--due`` rows (default 10,000) have an overdue 50 % warning: their only due step;
* ``--breach`` rows (default 2,000) have fired both warnings and breach at the next midnight;
* every other row's next step lies after ``NOW2`` (= ``NOW`` + 90 min).

A worker **subprocess** (so its RSS is its own) opens the engine, asks for the next due row
("start-up to ready"), then runs one ``CaseworkScheduler.tick()`` at ``NOW`` (the catch-up of the
overdue warnings) and one at ``NOW2`` (the breaches, each with its audit event). The worker runs
twice, on ``--n`` and on ``--small-n`` open cases with the same due rows, to show that its memory
does not grow with the number of open cases.

**Baselines** (subprocesses too): APScheduler 3.11 ``BackgroundScheduler``, one ``date`` job per
deadline, capped at ``--baseline-n`` jobs with per-job figures extrapolated to ``--n`` (labelled):

* ``MemoryJobStore`` — time and memory to add the jobs (what every restart must redo from the
  host's own records), then the time to run the ``--due`` overdue ones (no-op jobs);
* ``SQLAlchemyJobStore`` on a SQLite file with casework's settings (WAL, ``synchronous=FULL``) —
  ``add_job`` is timed on the first ``--sql-timed`` jobs (one commit each) and the rest are
  bulk-loaded as the same rows; a fresh process then starts a scheduler on the file and runs the
  overdue jobs. A few overdue jobs keep APScheduler's default ``misfire_grace_time`` (1 s) to
  show what a restart does to them: they are dropped, not run (guarantee 2 in
  ``docs/architecture.md``).

The baselines' jobs do nothing, so their rates are the scheduler's overhead only; a casework step
writes its notification and new ``fire_at`` durably.

Bars: worker max RSS < 150 MB and independent of open cases (difference < 10 MB or < 10 %),
start-up to ready < 5 s, >= 2,000 due steps fired per second.

    python benchmarks/deadlines.py [--n 1000000] [--small-n 100000] [--baseline-n 100000]
                                   [--due 10000] [--breach 2000] [--json] [--profile]

With ``--json`` the last line is one JSON object. Exit status 1 when a bar is missed, 2 when a
check fails (steps fired differ from steps seeded, audit chain broken, ...).
"""

from __future__ import annotations

# benchmarks/calendar.py lives beside this file: keep this folder off sys.path, or it would
# shadow the standard library's ``calendar`` module for everything imported below.
import os
import sys

_here = os.path.dirname(os.path.abspath(__file__))
sys.path[:] = [p for p in sys.path if os.path.abspath(p or os.curdir) != _here]

import argparse  # noqa: E402
import datetime as dt  # noqa: E402
import hashlib  # noqa: E402
import json  # noqa: E402
import resource  # noqa: E402
import shutil  # noqa: E402
import sqlite3  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable, Iterator  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
WORKFLOW = "consumer_complaint"
SHIPPED_WORKFLOW = ROOT / "workflows" / f"{WORKFLOW}.yaml"
CLOCK = "acceptance"

BAR_RSS_MB = 150.0
BAR_STARTUP_S = 5.0
BAR_STEPS_PER_S = 2000.0
RSS_SAME_MB = 10.0
RSS_SAME_FRACTION = 0.10

CST = dt.timezone(dt.timedelta(hours=8))
NOW = dt.datetime(2026, 5, 21, 23, 0, tzinfo=CST).astimezone(dt.UTC)  # a Thursday, 23:00 local
NOW2 = NOW + dt.timedelta(minutes=90)  # past the local midnight: the breaches fall due
WINDOW = dt.timedelta(days=14)  # cases were received during the two weeks before NOW
SLOT = dt.timedelta(seconds=60)  # one distinct receipt instant per minute
CHANNELS = ("hotline", "website", "email", "offline", "third_party")
SEED_VERSION = 1  # bump when the seeded rows change, to invalidate cached files
SQL_TIMED_DEFAULT = 2000
MISFIRE_DEMO = 100


# --------------------------------------------------------------------------- helpers


def _status_mb(field: str) -> float:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    return float("nan")


def vmrss_mb() -> float:
    """Current resident set size of this process (``VmRSS``), MB."""
    return _status_mb("VmRSS")


def maxrss_mb() -> float:
    """Peak resident set size of this process since it was exec'd (``VmHWM``), MB.

    Not ``getrusage().ru_maxrss``: on Linux a child's ``ru_maxrss`` starts at its parent's RSS
    when it forked, so the seeding parent's memory would show up in every worker's figure.
    """
    return _status_mb("VmHWM")


def ru_maxrss_mb() -> float:
    """``getrusage(RUSAGE_SELF).ru_maxrss`` in MB (includes the parent's RSS at fork)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def spread(total: int, buckets: int) -> Iterator[int]:
    """``total`` split as evenly as possible over ``buckets`` (their counts, in order)."""
    for j in range(buckets):
        yield (j + 1) * total // buckets - j * total // buckets


def run_role(role: str, params: dict[str, Any], *, profile: bool = False) -> dict[str, Any]:
    """Run this script as ``role`` in a fresh interpreter; return its JSON last line."""
    cmd = [
        sys.executable,
        os.path.abspath(__file__),
        "--role",
        role,
        "--params",
        json.dumps(params),
    ]
    if profile:
        cmd.append("--profile")
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
    if profile and proc.stderr:
        sys.stderr.write(proc.stderr)
    if proc.returncode != 0:
        raise RuntimeError(f"{role} failed ({proc.returncode}):\n{proc.stderr[-4000:]}")
    out: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    return out


# --------------------------------------------------------------------------- seeding


class Variant:
    """The stored values shared by every deadline row of one receipt instant and one state."""

    def __init__(self, start: dt.datetime, fired: list[str], fire_at: dt.datetime) -> None:
        self.start = start
        self.fired = fired
        self.fire_at = fire_at
        self.counts = 0
        self.cols: tuple[Any, ...] = ()


class Plan:
    """Receipt instants (one a minute over ``WINDOW``) and which kind of row each can hold.

    Every instant is run through casework's own calendar and ladder, then classified:
    ``W`` — only the 50 % warning is due at ``NOW`` and nothing else before ``NOW2``;
    ``B`` — the warnings are past (seeded as fired) and the breach falls in ``(NOW, NOW2]``;
    ``F`` — nothing falls in ``(NOW, NOW2]``; steps past at ``NOW`` are seeded as fired.
    """

    def __init__(self, wf_dir: Path) -> None:
        from sqlalchemy.dialects import sqlite as sqlite_dialect

        from casework import Engine
        from casework.clock import FrozenClock
        from casework.store.schema import build_tables

        engine = Engine.open("sqlite://", workflows=wf_dir, clock=FrozenClock(NOW))
        try:
            spec = engine.workflows.get(WORKFLOW, 1)
            clock = spec.clock(CLOCK)
            mgr = engine.clocks
            self.period = str(clock.period)
            self.calendar = clock.calendar
            base = {"legal_basis": clock.legal_basis, "basis": clock.basis}
            self.w: list[Variant] = []
            self.b: list[Variant] = []
            self.f: list[Variant] = []
            self.due: dict[dt.datetime, Any] = {}
            first = NOW - WINDOW
            for k in range(int(WINDOW / SLOT)):
                start = first + k * SLOT + dt.timedelta(seconds=k % 53, microseconds=k % 997)
                row: dict[str, Any] = {"started_at": start, "extensions": 0, "data": {}}
                due = mgr.compute_due(spec, clock, row)
                row.update(due_at=due.due_at, due_on=due.due_on, status="running")
                steps = mgr.schedule(spec, clock, row)
                self.due[start] = due
                past = [s for s in steps if s.at <= NOW]
                window = [s for s in steps if NOW < s.at <= NOW2]
                later = [s for s in steps if s.at > NOW2]
                if any(s.kind == "breach" for s in past):
                    continue  # already breached: not a running clock
                if window:
                    if len(window) == 1 and window[0].kind == "breach":
                        self.b.append(Variant(start, [s.name for s in past], window[0].at))
                    continue
                self.f.append(Variant(start, [s.name for s in past], later[0].at))
                if len(past) == 1 and past[0].kind == "warning":
                    self.w.append(Variant(start, [], past[0].at))
            t = build_tables()
            d = sqlite_dialect.dialect()
            c = t.deadlines.c
            # The very strings SQLAlchemy would bind (naive-UTC text times, JSON text).
            self._p_instant: Callable[[Any], Any] = _processor(c.started_at, d)
            self._p_date: Callable[[Any], Any] = _processor(c.due_on, d)
            self._p_json: Callable[[Any], Any] = _processor(c.data, d)
            for v in (*self.w, *self.b, *self.f):
                due = self.due[v.start]
                v.cols = (
                    self._p_instant(v.start),
                    self._p_date(due.due_on),
                    self._p_instant(due.due_at),
                    self._p_instant(v.fire_at),
                    int(due.provisional),
                    due.fingerprint,
                    self._p_json({"fired": v.fired, "pauses": [], **base}),
                )
            self.event_data = [
                self._p_json({"channel": ch, "workflow_version": 1}) for ch in CHANNELS
            ]
            self.roles = self._p_json(["system"])
        finally:
            engine.close()
        if not (self.w and self.b and self.f):
            raise RuntimeError("NOW/WINDOW leave a kind of row without receipt instants")

    def layout(self, n: int, due: int, breach: int) -> list[Variant]:
        """The variants in receipt order, each with how many cases it gets (ids follow)."""
        for v in (*self.w, *self.b, *self.f):
            v.counts = 0
        for group, total in ((self.w, due), (self.b, breach), (self.f, n - due - breach)):
            for v, count in zip(group, spread(total, len(group)), strict=True):
                v.counts += count
        every = sorted((*self.w, *self.b, *self.f), key=lambda v: (v.start, len(v.fired)))
        return [v for v in every if v.counts]


def _processor(column: Any, dialect: Any) -> Callable[[Any], Any]:
    proc = column.type._cached_bind_processor(dialect)
    assert proc is not None, column
    return proc  # type: ignore[no-any-return]


def event_body(cid: int, channel: str, iso: str) -> str:
    """The canonical JSON ``casework.audit.event_hash`` hashes for a case's ``opened`` event
    (checked against it for every receipt instant while seeding)."""
    return (
        f'["",{cid},1,"opened",null,null,"received","system",["system"],'
        f'{{"channel":"{channel}","workflow_version":1}},"{iso}","{iso}"]'
    )


def seed(path: Path, plan: Plan, n: int, due: int, breach: int) -> float:
    """Write ``n`` open cases into a new SQLite file at ``path``; returns seconds taken."""
    from casework.audit import event_hash
    from casework.migrations import upgrade
    from casework.store import Store

    t0 = time.perf_counter()
    tmp = path.with_suffix(".partial")
    for p in (tmp, Path(f"{tmp}-wal"), Path(f"{tmp}-shm")):
        p.unlink(missing_ok=True)
    store = Store(f"sqlite:///{tmp}")
    upgrade(store)
    store.dispose()  # also closes the connection this thread kept

    variants = plan.layout(n, due, breach)

    def cases() -> Iterator[tuple[Any, ...]]:
        cid = 0
        for v in variants:
            start_s = v.cols[0]
            iso = v.start.astimezone(dt.UTC).isoformat(timespec="microseconds")
            checked = False
            for _ in range(v.counts):
                cid += 1
                ch = CHANNELS[cid % len(CHANNELS)]
                head = hashlib.sha256(event_body(cid, ch, iso).encode()).hexdigest()
                if not checked:
                    expected = event_hash(
                        prev_hash="",
                        case_id=cid,
                        seq=1,
                        kind="opened",
                        trigger=None,
                        from_state=None,
                        to_state="received",
                        actor="system",
                        roles=["system"],
                        data={"channel": ch, "workflow_version": 1},
                        occurred_at=v.start,
                        recorded_at=v.start,
                    )
                    if head != expected:
                        raise RuntimeError("event_body() no longer matches audit.event_hash")
                    checked = True
                yield (cid, WORKFLOW, 1, "received", 1, ch, "{}", start_s, start_s, 0, 0, 1, head)

    def events() -> Iterator[tuple[Any, ...]]:
        cid = 0
        for v in variants:
            start_s = v.cols[0]
            iso = v.start.astimezone(dt.UTC).isoformat(timespec="microseconds")
            for _ in range(v.counts):
                cid += 1
                i = cid % len(CHANNELS)
                digest = hashlib.sha256(event_body(cid, CHANNELS[i], iso).encode()).hexdigest()
                yield (cid, cid, 1, "opened", "received", "system", plan.roles,
                       plan.event_data[i], start_s, start_s, "", digest)  # fmt: skip

    def deadlines() -> Iterator[tuple[Any, ...]]:
        cid = 0
        for v in variants:
            started, due_on, due_at, fire_at, provisional, fingerprint, data = v.cols
            for _ in range(v.counts):
                cid += 1
                yield (cid, cid, CLOCK, "clock", "running", plan.period, plan.calendar, started,
                       due_on, due_at, fire_at, provisional, fingerprint, data)  # fmt: skip

    con = sqlite3.connect(tmp, isolation_level=None)
    try:
        con.execute("PRAGMA journal_mode=OFF")
        con.execute("PRAGMA synchronous=OFF")
        con.execute("PRAGMA cache_size=-262144")
        # Secondary indexes are cheaper to build once, after the rows, than row by row.
        indexes = con.execute(
            "SELECT name, sql FROM sqlite_master WHERE type='index' AND sql IS NOT NULL "
            "AND tbl_name IN ('cases', 'events', 'deadlines')"
        ).fetchall()
        con.execute("BEGIN")
        for name, _ in indexes:
            con.execute(f'DROP INDEX "{name}"')
        con.executemany(
            "INSERT INTO cases (id, workflow, workflow_version, state, version, channel, data, "
            "received_at, updated_at, rehandle_count, escalation_count, last_seq, head_hash) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            cases(),
        )
        con.executemany(
            "INSERT INTO events (id, case_id, seq, kind, to_state, actor, roles, data, "
            "occurred_at, recorded_at, prev_hash, hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            events(),
        )
        con.executemany(
            "INSERT INTO deadlines (id, case_id, clock, kind, status, period, calendar, "
            "started_at, due_on, due_at, fire_at, provisional, fingerprint, data) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            deadlines(),
        )
        for _, sql in indexes:
            con.execute(sql)
        con.execute("COMMIT")
        con.execute("PRAGMA journal_mode=WAL")
    finally:
        con.close()
    os.replace(tmp, path)
    return time.perf_counter() - t0


def seeded_db(cache: Path, plan: Plan, n: int, due: int, breach: int) -> tuple[Path, float]:
    """The cached seeded file for these sizes (seeded now if missing) and seconds spent."""
    path = cache / f"deadlines-v{SEED_VERSION}-n{n}-due{due}-breach{breach}.db"
    if path.exists():
        return path, 0.0
    return path, seed(path, plan, n, due, breach)


# --------------------------------------------------------------------------- worker role


def role_worker(p: dict[str, Any], profile: bool) -> dict[str, Any]:
    """A casework worker starting after an outage: ready, catch up, then the breaches."""
    t0 = time.perf_counter()
    import sqlalchemy as sa

    from casework import Engine
    from casework.clock import FrozenClock
    from casework.scheduling import CaseworkScheduler
    from casework.store import create_sa_engine

    imports_s = time.perf_counter() - t0
    rss_imports = vmrss_mb()
    clock = FrozenClock(NOW)

    t0 = time.perf_counter()
    engine = Engine.open(
        create_sa_engine(f"sqlite:///{p['db']}", synchronous="FULL"),
        workflows=p["workflows"],
        clock=clock,
    )
    open_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    adapter = CaseworkScheduler(engine)  # never started: ticked by hand, as `worker --once`
    first_due = engine.next_due_at()
    ready_s = time.perf_counter() - t0
    rss_ready = vmrss_mb()

    profiles: list[tuple[str, Any, dict[str, int]]] = []

    def phase(name: str) -> tuple[Any, float]:
        """One tick, timed; with ``--profile`` also cProfiled and its statements counted."""
        prof, counts = None, {"statements": 0, "executemany": 0, "rows": 0}
        if profile:
            import cProfile

            def count(_c: Any, _cur: Any, _stmt: Any, params: Any, _ctx: Any, many: bool) -> None:
                counts["statements"] += 1
                counts["executemany"] += int(many)
                counts["rows"] += len(params) if many else 1

            sa.event.listen(engine.store.engine, "before_cursor_execute", count)
            prof = cProfile.Profile()
            prof.enable()
        t0 = time.perf_counter()
        result = adapter.tick()
        seconds = time.perf_counter() - t0
        if prof is not None:
            prof.disable()
            sa.event.remove(engine.store.engine, "before_cursor_execute", count)
            profiles.append((name, prof, counts))
        return result, seconds

    report, catchup_s = phase("catch-up of the overdue warnings")
    rss_catchup = vmrss_mb()
    max_catchup = maxrss_mb()

    clock.set(NOW2)
    report2, breach_s = phase("the breaches")
    rss_breach = vmrss_mb()
    max_breach = maxrss_mb()

    # What `casework worker` also runs at start (a scan for provisional due dates).
    t0 = time.perf_counter()
    recomputed = engine.clocks.recompute_provisional()
    recompute_s = time.perf_counter() - t0

    # Checks (untimed): every step once, outbox and audit trail consistent.
    t = engine.store.tables
    with engine.store.engine.connect() as conn:
        outbox = {
            topic: count
            for topic, count in conn.execute(
                sa.select(t.outbox.c.topic, sa.func.count()).group_by(t.outbox.c.topic)
            )
        }
        breach_events = conn.execute(
            sa.select(sa.func.count()).where(t.events.c.kind == "deadline_breached")
        ).scalar()
        breached_ids = list(
            conn.execute(
                sa.select(t.deadlines.c.case_id)
                .where(t.deadlines.c.status == "breached")
                .order_by(t.deadlines.c.case_id)
                .limit(20)
            ).scalars()
        )
        still_due = conn.execute(
            sa.select(sa.func.count()).where(t.deadlines.c.fire_at <= NOW2)
        ).scalar()
    audit_findings = sum(len(engine.verify_audit(cid).findings) for cid in breached_ids)
    next_due = engine.next_due_at()
    engine.close()

    for name, prof, counts in profiles:
        import io
        import pstats

        out = io.StringIO()
        stats = pstats.Stats(prof, stream=out).strip_dirs()
        stats.sort_stats("cumulative").print_stats(40)
        stats.sort_stats("tottime").print_stats(25)
        sys.stderr.write(
            f"--- profile of {name} (n={p['n']}): {counts['statements']} statements "
            f"({counts['executemany']} executemany) for {counts['rows']} rows ---\n"
            f"{out.getvalue()}"
        )

    return {
        "n": p["n"],
        "imports_s": imports_s,
        "open_s": open_s,
        "ready_s": ready_s,
        "startup_s": open_s + ready_s,
        "first_due_at": first_due.isoformat() if first_due else None,
        "catchup_s": catchup_s,
        "catchup_steps": report.steps,
        "catchup_warnings": report.warnings,
        "catchup_breaches": report.breaches,
        "breach_s": breach_s,
        "breach_steps": report2.steps,
        "breach_breaches": report2.breaches,
        "recompute_provisional_s": recompute_s,
        "recomputed": recomputed,
        "rss_imports_mb": rss_imports,
        "rss_ready_mb": rss_ready,
        "rss_catchup_mb": rss_catchup,
        "rss_breach_mb": rss_breach,
        "maxrss_catchup_mb": max_catchup,
        "maxrss_mb": max_breach,
        "ru_maxrss_mb": ru_maxrss_mb(),
        "outbox": outbox,
        "breach_events": breach_events,
        "audit_checked": len(breached_ids),
        "audit_findings": audit_findings,
        "still_due": still_due,
        "next_due_at": next_due.isoformat() if next_due else None,
    }


# --------------------------------------------------------------------------- baselines


_done = threading.Event()
_lock = threading.Lock()
_ran = [0, 0]  # runs wanted, runs so far


def deadline_job(i: int) -> None:
    """The baselines' job: counts its run (a real one would write its effects)."""
    with _lock:
        _ran[1] += 1
        if _ran[1] >= _ran[0]:
            _done.set()


_grace = [0, 0, 0]  # overdue jobs at the default misfire grace: wanted, missed, ran
_grace_done = threading.Event()


def _grace_outcome(index: int) -> None:
    with _lock:
        _grace[index] += 1
        if _grace[1] + _grace[2] >= _grace[0]:
            _grace_done.set()


def default_grace_job(i: int) -> None:
    """A job kept at APScheduler's default misfire grace (1 s); overdue, it is dropped."""
    _grace_outcome(2)


def _quiet_apscheduler() -> None:
    import logging

    logging.getLogger("apscheduler").setLevel(logging.ERROR)


def _scheduler(jobstore: Any) -> Any:
    from apscheduler.executors.pool import ThreadPoolExecutor
    from apscheduler.schedulers.background import BackgroundScheduler

    return BackgroundScheduler(
        jobstores={"default": jobstore},
        executors={"default": ThreadPoolExecutor(10)},
        job_defaults={"misfire_grace_time": None, "coalesce": True},
        timezone=dt.UTC,
    )


def _run_dates(n: int, due: int, now: dt.datetime) -> Iterator[dt.datetime]:
    """``due`` overdue run dates, then ``n - due`` in the future; ascending, like deadlines."""
    for i in range(n):
        if i < due:
            yield now - dt.timedelta(hours=2) + i * dt.timedelta(milliseconds=1)
        else:
            yield now + dt.timedelta(days=30) + i * dt.timedelta(seconds=1)


def role_aps_memory(p: dict[str, Any], profile: bool) -> dict[str, Any]:
    """One date job per deadline in a MemoryJobStore: add them, then run the overdue ones."""
    t0 = time.perf_counter()
    from apscheduler.jobstores.memory import MemoryJobStore

    imports_s = time.perf_counter() - t0
    _quiet_apscheduler()
    n, due = p["n"], p["due"]
    sched = _scheduler(MemoryJobStore())
    sched.start(paused=True)  # running, so add_job goes straight to the store
    rss_empty = vmrss_mb()
    now = dt.datetime.now(dt.UTC)
    t0 = time.perf_counter()
    for i, run_date in enumerate(_run_dates(n, due, now)):
        sched.add_job(deadline_job, "date", run_date=run_date, args=(i,), id=f"deadline:{i}")
    add_s = time.perf_counter() - t0
    rss_loaded = vmrss_mb()
    _ran[0] = due
    t0 = time.perf_counter()
    sched.resume()
    finished = _done.wait(600)
    fire_s = time.perf_counter() - t0
    sched.shutdown(wait=True)
    return {
        "n": n,
        "imports_s": imports_s,
        "add_s": add_s,
        "rss_empty_mb": rss_empty,
        "rss_loaded_mb": rss_loaded,
        "maxrss_mb": maxrss_mb(),
        "due": due,
        "ran": _ran[1],
        "finished": finished,
        "fire_s": fire_s,
        "remaining_jobs": n - _ran[1],
    }


def _sql_engine(path: str) -> Any:
    import sqlalchemy as sa

    engine = sa.create_engine(f"sqlite:///{path}")

    @sa.event.listens_for(engine, "connect")
    def _pragmas(dbapi_conn: Any, _record: Any) -> None:
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=FULL")
        cur.close()

    return engine


def role_aps_sql_fill(p: dict[str, Any], profile: bool) -> dict[str, Any]:
    """Fill a SQLAlchemyJobStore: ``add_job`` timed on the first jobs, the rest bulk-loaded."""
    import pickle

    import sqlalchemy as sa
    from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
    from apscheduler.triggers.date import DateTrigger
    from apscheduler.util import datetime_to_utc_timestamp

    _quiet_apscheduler()
    n, due, timed = p["n"], p["due"], p["timed"]
    engine = _sql_engine(p["db"])
    store = SQLAlchemyJobStore(engine=engine)
    sched = _scheduler(store)
    sched.start(paused=True)
    now = dt.datetime.fromisoformat(p["now"])
    dates = list(_run_dates(n, due, now))
    t0 = time.perf_counter()
    for i in range(timed):
        sched.add_job(deadline_job, "date", run_date=dates[i], args=(i,), id=f"deadline:{i}")
    add_timed_s = time.perf_counter() - t0
    template = sched.get_job("deadline:0").__getstate__()
    t0 = time.perf_counter()

    def rows(lo: int, hi: int, grace: Any) -> Iterator[dict[str, Any]]:
        for i in range(lo, hi):
            state = dict(template, id=f"deadline:{i}", args=(i,), name="deadline_job")
            state.update(trigger=DateTrigger(dates[i]), next_run_time=dates[i])
            state["misfire_grace_time"] = grace
            yield {
                "id": state["id"],
                "next_run_time": datetime_to_utc_timestamp(dates[i]),
                "job_state": pickle.dumps(state, pickle.HIGHEST_PROTOCOL),
            }

    bulk = list(rows(timed, n, None))
    if bulk:
        with engine.begin() as conn:
            conn.execute(sa.insert(store.jobs_t), bulk)
    bulk_s = time.perf_counter() - t0
    # A few overdue jobs with APScheduler's default misfire_grace_time (1 s), due last.
    demo_dates = [now - dt.timedelta(minutes=30) + i * dt.timedelta(seconds=1) for i in range(50)]
    with engine.begin() as conn:
        demo = []
        for i in range(p["demo"]):
            state = dict(template, id=f"default-grace:{i}", args=(i,), name="default_grace_job")
            state["func"] = f"{default_grace_job.__module__}:default_grace_job"
            run_date = demo_dates[i % len(demo_dates)]
            state.update(trigger=DateTrigger(run_date), next_run_time=run_date)
            state["misfire_grace_time"] = 1
            demo.append(
                {
                    "id": state["id"],
                    "next_run_time": datetime_to_utc_timestamp(run_date),
                    "job_state": pickle.dumps(state, pickle.HIGHEST_PROTOCOL),
                }
            )
        if demo:
            conn.execute(sa.insert(store.jobs_t), demo)
    sched.shutdown(wait=True)
    return {"n": n, "timed": timed, "add_timed_s": add_timed_s, "bulk_s": bulk_s}


def role_aps_sql_run(p: dict[str, Any], profile: bool) -> dict[str, Any]:
    """A fresh scheduler on the filled SQLAlchemyJobStore: ready, then the overdue jobs."""
    t0 = time.perf_counter()
    from apscheduler.events import EVENT_JOB_MISSED
    from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore

    imports_s = time.perf_counter() - t0
    _quiet_apscheduler()
    due, demo = p["due"], p["demo"]
    _grace[0] = demo

    def on_missed(event: Any) -> None:
        if event.job_id.startswith("default-grace:"):
            _grace_outcome(1)

    t0 = time.perf_counter()
    store = SQLAlchemyJobStore(engine=_sql_engine(p["db"]))
    sched = _scheduler(store)
    sched.add_listener(on_missed, EVENT_JOB_MISSED)
    sched.start(paused=True)
    first = store.get_next_run_time()
    ready_s = time.perf_counter() - t0
    rss_ready = vmrss_mb()
    _ran[0] = due
    t0 = time.perf_counter()
    sched.resume()
    finished = _done.wait(600)
    fire_s = time.perf_counter() - t0
    if demo:
        _grace_done.wait(60)
    rss_fired = vmrss_mb()
    sched.pause()
    # What a dashboard's get_jobs() costs: every job loaded and unpickled.
    t0 = time.perf_counter()
    left = len(sched.get_jobs())
    load_all_s = time.perf_counter() - t0
    sched.shutdown(wait=True)
    return {
        "imports_s": imports_s,
        "ready_s": ready_s,
        "first_due_at": first.isoformat() if first else None,
        "rss_ready_mb": rss_ready,
        "rss_fired_mb": rss_fired,
        "due": due,
        "ran": _ran[1],
        "finished": finished,
        "fire_s": fire_s,
        "demo": demo,
        "demo_missed": _grace[1],
        "demo_ran": _grace[2],
        "load_all_s": load_all_s,
        "left": left,
    }


ROLES: dict[str, Callable[[dict[str, Any], bool], dict[str, Any]]] = {
    "worker": role_worker,
    "aps-memory": role_aps_memory,
    "aps-sql-fill": role_aps_sql_fill,
    "aps-sql-run": role_aps_sql_run,
}


# --------------------------------------------------------------------------- the run


def summarize(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """One figure per key over repeated worker runs: the median for times, the maximum for
    memory; every other key from the run whose catch-up time is the median."""
    ordered = sorted(runs, key=lambda r: r["catchup_s"])
    out = dict(ordered[(len(ordered) - 1) // 2])
    for key, value in out.items():
        if isinstance(value, float) and key.endswith("_s"):
            out[key] = statistics.median(r[key] for r in runs)
        elif isinstance(value, float) and key.endswith("_mb"):
            out[key] = max(r[key] for r in runs)
    out["runs"] = len(runs)
    out["catchup_s_all"] = [round(r["catchup_s"], 3) for r in runs]
    return out


def _rate(steps: int, seconds: float) -> float:
    return steps / seconds if seconds > 0 else float("inf")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=1_000_000, help="open cases (default 1,000,000)")
    ap.add_argument(
        "--small-n", type=int, help="open cases of the second worker run (default n/10)"
    )
    ap.add_argument("--baseline-n", type=int, default=100_000, help="APScheduler jobs (100,000)")
    ap.add_argument("--due", type=int, default=10_000, help="overdue 50%% warnings (10,000)")
    ap.add_argument("--breach", type=int, default=2_000, help="breaches due at NOW2 (2,000)")
    ap.add_argument(
        "--sql-timed",
        type=int,
        default=SQL_TIMED_DEFAULT,
        help="SQLAlchemyJobStore add_job calls timed one by one (the rest are bulk-loaded)",
    )
    ap.add_argument(
        "--repeat", type=int, default=3, help="worker runs per size (median time, max memory)"
    )
    ap.add_argument("--cache-dir", type=Path, help="where seeded files are kept")
    ap.add_argument("--json", action="store_true", help="print the figures as the last line")
    ap.add_argument("--profile", action="store_true", help="cProfile the worker's catch-up")
    ap.add_argument("--role", choices=sorted(ROLES), help=argparse.SUPPRESS)
    ap.add_argument("--params", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)

    if args.role:
        out = ROLES[args.role](json.loads(args.params), args.profile)
        print(json.dumps(out))
        return 0

    n, due, breach = args.n, args.due, args.breach
    small_n = args.small_n or max(n // 10, 2 * (due + breach))
    bn = args.baseline_n
    if min(n, small_n) < due + breach or bn < due:
        ap.error("--n/--small-n must be >= due + breach, and --baseline-n >= --due")
    cache = args.cache_dir or Path(tempfile.gettempdir()) / "casework-bench-deadlines"
    cache.mkdir(parents=True, exist_ok=True)

    def say(*a: Any) -> None:  # progress, on stderr: stdout is the table and the JSON line
        print(*a, file=sys.stderr, flush=True)

    work = Path(tempfile.mkdtemp(prefix="run-", dir=cache))
    try:
        wf_dir = work / "workflows"
        wf_dir.mkdir()
        shutil.copy(SHIPPED_WORKFLOW, wf_dir)

        # ---- seeding (never timed in any figure) ----
        t0 = time.perf_counter()
        plan = Plan(wf_dir)
        plan_s = time.perf_counter() - t0
        seeds: dict[int, float] = {}
        dbs: dict[int, Path] = {}
        for size in dict.fromkeys((small_n, n)):
            dbs[size], seeds[size] = seeded_db(cache, plan, size, due, breach)
            say(
                f"seeded {size:,} open cases in {seeds[size]:.1f} s"
                if seeds[size]
                else f"reusing seeded file for {size:,} open cases ({dbs[size].name})"
            )

        def worker(size: int, profile: bool = False) -> dict[str, Any]:
            copy = work / f"worker-{size}.db"
            shutil.copyfile(dbs[size], copy)  # a fresh copy: the worker changes the file
            try:
                params = {"db": str(copy), "workflows": str(wf_dir), "n": size}
                return run_role("worker", params, profile=profile)
            finally:
                copy.unlink()

        runs: dict[int, list[dict[str, Any]]] = {size: [] for size in dbs}
        for attempt in range(args.repeat):
            for size in dbs:
                say(f"worker on {size:,} open cases (run {attempt + 1} of {args.repeat}) ...")
                runs[size].append(worker(size))
        if args.profile:
            say(f"profiling one more worker run on {n:,} open cases (not counted) ...")
            worker(n, profile=True)

        say(f"APScheduler MemoryJobStore with {bn:,} jobs ...")
        mem = run_role("aps-memory", {"n": bn, "due": due})
        say(f"APScheduler SQLAlchemyJobStore with {bn:,} jobs ...")
        sql_db = work / "apscheduler.db"
        timed = min(args.sql_timed, bn)
        fill = run_role(
            "aps-sql-fill",
            {
                "db": str(sql_db),
                "n": bn,
                "due": due,
                "timed": timed,
                "demo": MISFIRE_DEMO,
                "now": dt.datetime.now(dt.UTC).isoformat(),
            },
        )
        sql = run_role("aps-sql-run", {"db": str(sql_db), "due": due, "demo": MISFIRE_DEMO})
    finally:
        shutil.rmtree(work, ignore_errors=True)

    big, small = summarize(runs[n]), summarize(runs[small_n])
    steps_per_s = _rate(big["catchup_steps"], big["catchup_s"])
    breach_per_s = _rate(big["breach_steps"], big["breach_s"])
    rss, rss_small = big["maxrss_mb"], small["maxrss_mb"]
    rss_diff = rss - rss_small
    rss_independent = abs(rss_diff) < RSS_SAME_MB or abs(rss_diff) < RSS_SAME_FRACTION * rss_small
    bars = {
        "rss_under_150mb": rss < BAR_RSS_MB,
        "rss_independent": rss_independent,
        "startup_under_5s": big["startup_s"] < BAR_STARTUP_S,
        "steps_per_s_2000": steps_per_s >= BAR_STEPS_PER_S,
    }

    checks: dict[str, bool] = {}
    for size, r in ((size, run) for size, rs in runs.items() for run in rs):
        checks[f"n{size}_catchup_steps"] = r["catchup_steps"] == r["catchup_warnings"] == due
        checks[f"n{size}_breach_steps"] = r["breach_steps"] == r["breach_breaches"] == breach
        checks[f"n{size}_outbox"] = r["outbox"] == {
            k: v for k, v in (("deadline.warning", due), ("deadline.breached", breach)) if v
        }
        checks[f"n{size}_audit"] = r["breach_events"] == breach and r["audit_findings"] == 0
        checks[f"n{size}_nothing_left"] = r["still_due"] == 0 and r["catchup_breaches"] == 0
    checks["memory_baseline_ran_all"] = mem["finished"] and mem["ran"] == due
    checks["sql_baseline_ran_all"] = sql["finished"] and sql["ran"] == due
    checks_ok = all(checks.values())

    mem_per_job_kb = (mem["rss_loaded_mb"] - mem["rss_empty_mb"]) * 1024 / bn
    mem_add_per_job_us = mem["add_s"] / bn * 1e6
    sql_add_per_job_ms = fill["add_timed_s"] / timed * 1e3 if timed else float("nan")
    result: dict[str, Any] = {
        "n_open": n,
        "n_open_small": small_n,
        "due_seeded": due,
        "breach_seeded": breach,
        "startup_s": round(big["startup_s"], 3),
        "open_s": round(big["open_s"], 3),
        "ready_s": round(big["ready_s"], 3),
        "imports_s": round(big["imports_s"], 3),
        "catchup_steps": big["catchup_steps"],
        "catchup_s": round(big["catchup_s"], 3),
        "catchup_s_runs": big["catchup_s_all"],
        "steps_per_s": round(steps_per_s, 1),
        "startup_to_caught_up_s": round(big["startup_s"] + big["catchup_s"], 3),
        "breach_steps": big["breach_steps"],
        "breach_s": round(big["breach_s"], 3),
        "breach_steps_per_s": round(breach_per_s, 1),
        "steps_per_s_small_n": round(_rate(small["catchup_steps"], small["catchup_s"]), 1),
        "startup_s_small_n": round(small["startup_s"], 3),
        "worker_rss_mb": round(rss, 1),
        "worker_vmrss_mb": round(big["rss_breach_mb"], 1),
        "worker_rss_mb_small_n": round(rss_small, 1),
        "worker_vmrss_mb_small_n": round(small["rss_breach_mb"], 1),
        "rss_diff_mb": round(rss_diff, 1),
        "rss_independent": rss_independent,
        "recompute_provisional_s": round(big["recompute_provisional_s"], 3),
        "baseline_n": bn,
        "baseline_memory": {
            "add_s": round(mem["add_s"], 3),
            "add_per_job_us": round(mem_add_per_job_us, 1),
            "rss_mb": round(mem["rss_loaded_mb"], 1),
            "per_job_kb": round(mem_per_job_kb, 2),
            "fired": mem["ran"],
            "fire_s": round(mem["fire_s"], 3),
            "fired_per_s": round(_rate(mem["ran"], mem["fire_s"]), 1),
            "extrapolated_add_s_at_n": round(mem["add_s"] / bn * n, 1),
            "extrapolated_rss_mb_at_n": round(mem["rss_empty_mb"] + mem_per_job_kb * n / 1024, 1),
        },
        "baseline_sqlalchemy": {
            "add_timed_jobs": timed,
            "add_per_job_ms": round(sql_add_per_job_ms, 3),
            "bulk_loaded_jobs": bn - timed,
            "ready_s": round(sql["ready_s"], 3),
            "rss_mb": round(sql["rss_fired_mb"], 1),
            "fired": sql["ran"],
            "fire_s": round(sql["fire_s"], 3),
            "fired_per_s": round(_rate(sql["ran"], sql["fire_s"]), 1),
            "default_grace_overdue": sql["demo"],
            "default_grace_missed": sql["demo_missed"],
            "get_jobs_s": round(sql["load_all_s"], 3),
            "extrapolated_add_s_at_n": round(sql_add_per_job_ms * n / 1e3, 1),
            "extrapolated_get_jobs_s_at_n": round(sql["load_all_s"] / max(1, sql["left"]) * n, 1),
        },
        "seed_s": {str(k): round(v, 1) for k, v in seeds.items()},
        "plan_s": round(plan_s, 2),
        "checks": checks,
        "checks_ok": checks_ok,
        "bars": bars,
        "bars_met": all(bars.values()),
    }
    print_table(result, out=print)
    if args.json:
        print(json.dumps(result))
    if not checks_ok:
        return 2
    return 0 if result["bars_met"] else 1


def print_table(r: dict[str, Any], out: Callable[..., None]) -> None:
    n, small_n, bn = r["n_open"], r["n_open_small"], r["baseline_n"]
    bm, bs = r["baseline_memory"], r["baseline_sqlalchemy"]
    ok = {True: "ok", False: "MISSED"}
    bars = r["bars"]
    runs = ", ".join(f"{x:.2f}" for x in r["catchup_s_runs"])
    lines = [
        "",
        f"Deadline worker — SQLite file (WAL, synchronous=FULL), {os.cpu_count()} CPUs, "
        f"business time {NOW.astimezone(CST):%Y-%m-%d %H:%M} +08",
        f"{'':44}{'casework worker':>22}{'':>4}{'bar':>14}",
        f"{'open cases (running clocks)':44}{n:>22,}",
        f"{'start-up to ready (open + next due)':44}{r['startup_s']:>20.3f} s"
        f"{'< 5 s':>18}  {ok[bars['startup_under_5s']]}",
        f"{'   (imports before that)':44}{r['imports_s']:>20.3f} s",
        f"{'catch-up: overdue 50% warnings fired':44}{r['catchup_steps']:>22,}",
        f"{'catch-up time (median of runs)':44}{r['catchup_s']:>20.3f} s   ({runs})",
        f"{'catch-up rate':44}{r['steps_per_s']:>18,.0f} /s{'>= 2,000/s':>18}  "
        f"{ok[bars['steps_per_s_2000']]}",
        f"{'start-up + catch-up':44}{r['startup_to_caught_up_s']:>20.3f} s",
        f"{'breaches fired at the next midnight':44}{r['breach_steps']:>22,}",
        f"{'breach time / rate (audit event each)':44}{r['breach_s']:>20.3f} s"
        f"   ({r['breach_steps_per_s']:,.0f} /s)",
        f"{'max RSS (VmHWM)':44}{r['worker_rss_mb']:>19,.1f} MB{'< 150 MB':>18}  "
        f"{ok[bars['rss_under_150mb']]}",
        f"{'RSS at the end (VmRSS)':44}{r['worker_vmrss_mb']:>19,.1f} MB",
        f"{'max RSS with ' + format(small_n, ',') + ' open cases':44}"
        f"{r['worker_rss_mb_small_n']:>19,.1f} MB",
        f"{'difference':44}{r['rss_diff_mb']:>+19,.1f} MB{'< 10 MB or 10%':>18}  "
        f"{ok[bars['rss_independent']]}",
        f"{'rate / start-up with ' + format(small_n, ',') + ' open cases':44}"
        f"{r['steps_per_s_small_n']:>15,.0f} /s, {r['startup_s_small_n']:.3f} s",
        f"{'recompute_provisional() (worker CLI start)':44}{r['recompute_provisional_s']:>20.3f} s",
        "",
        f"APScheduler 3.11, one date job per deadline, {bn:,} jobs measured; "
        f"'→ n' = extrapolated linearly to {n:,}",
        f"{'':44}{'MemoryJobStore':>18}{'SQLAlchemyJobStore':>22}",
        f"{'add one job':44}{bm['add_per_job_us']:>15,.1f} µs{bs['add_per_job_ms']:>19,.3f} ms"
        f"  (sql: timed on {bs['add_timed_jobs']:,}, rest bulk-loaded)",
        f"{'add all jobs (= start-up of a memory store)':44}{bm['add_s']:>16,.2f} s"
        f"{bs['add_per_job_ms'] * bn / 1e3:>20,.1f} s  (sql: per job × {bn:,})",
        f"{'   → n (extrapolated)':44}{bm['extrapolated_add_s_at_n']:>16,.1f} s"
        f"{bs['extrapolated_add_s_at_n']:>20,.1f} s",
        f"{'scheduler start to ready':44}{'(= add all)':>18}{bs['ready_s']:>20,.3f} s",
        f"{'RSS with the jobs':44}{bm['rss_mb']:>15,.1f} MB{bs['rss_mb']:>19,.1f} MB",
        f"{'   memory per job':44}{bm['per_job_kb']:>15,.2f} KB{'(jobs stay on disk)':>22}",
        f"{'   → n (extrapolated)':44}{bm['extrapolated_rss_mb_at_n']:>15,.1f} MB",
        f"{'overdue no-op jobs run':44}{bm['fired']:>18,}{bs['fired']:>22,}",
        f"{'   rate':44}{bm['fired_per_s']:>16,.0f} /s{bs['fired_per_s']:>20,.0f} /s",
        f"{'overdue jobs at default misfire grace (1 s)':44}{'':>18}"
        f"{bs['default_grace_missed']:>6,} of {bs['default_grace_overdue']:,} dropped",
        f"{'get_jobs() (every job unpickled)':44}{'':>18}{bs['get_jobs_s']:>20,.3f} s",
        f"{'   → n (extrapolated)':44}{'':>18}{bs['extrapolated_get_jobs_s_at_n']:>20,.1f} s",
        "",
        "checks: " + ("all passed" if r["checks_ok"] else f"FAILED {r['checks']}"),
        f"bars met: {r['bars_met']}",
    ]
    for line in lines:
        out(line)


if __name__ == "__main__":
    sys.exit(main())
