"""The period report over N cases on SQLite: SQL aggregation (``casework.reporting``) against the
same figures computed in Python over fetched rows; and the CSV import rate.

    python benchmarks/report.py [--n 1000000] [--import-rows 100000] [--import-runs 3] [--json]

The database holds N synthetic cases received over 2024-2025 (Asia/Shanghai) with their audit
events (dummy hashes: not audit-valid), deadline rows and follow-up visits, seeded in bulk with
``executemany`` into casework's own schema (migrations up to head, the report's indexes of
``0002`` included; no ``ANALYZE``) and cached under ``$TMPDIR/casework-bench/`` keyed by N, so
reruns start at once.
Two reports are timed (best of 3): the year 2025 compared with 2024 (it reads every case of both
years), and 2024-2025 in one period (every case in the period). The Python baseline fetches every
row of the four tables with a plain SELECT and computes the same :class:`Report`; both must agree
exactly. The import rate is measured on a synthetic Boston-311-shaped CSV (``--import-rows``
rows, the shipped ``examples/import/boston311.yaml`` mapping) into a fresh SQLite file, and on
the real Boston 2013-2016 files concatenated when ``../shared/realdata`` is present, each timed
around the whole ``import_csv`` call. Each file is imported ``--import-runs`` times (3), each
time into a new file, alternating between the two files; the rate reported is the median run,
and every run's rate is in the JSON (the import's speed on a shared VM drifts by 10-20 % from
minute to minute).

Bars: report < 3 s and >= 10x the Python baseline; import >= 20,000 rows/s (synthetic and, when
present, Boston). With ``--json`` the
last line is one JSON object with the figures and ``bars_met``. Exit status 1 when a bar is
missed or the two methods disagree.
"""

# This folder holds a calendar.py: keep it off sys.path, or it would shadow the standard
# library's ``calendar`` module for everything imported below.
import os
import sys

_here = os.path.dirname(os.path.abspath(__file__))
sys.path[:] = [p for p in sys.path if os.path.abspath(p or os.curdir) != _here]

import argparse  # noqa: E402
import bisect  # noqa: E402
import datetime as dt  # noqa: E402
import hashlib  # noqa: E402
import json  # noqa: E402
import random  # noqa: E402
import sqlite3  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable, Iterable  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402
from zoneinfo import ZoneInfo  # noqa: E402

import sqlalchemy as sa  # noqa: E402

from casework import Engine  # noqa: E402
from casework.clock import FrozenClock  # noqa: E402
from casework.records import mask  # noqa: E402
from casework.reporting import (  # noqa: E402
    FEEDBACK_STATES,
    NOT_ACCEPTED_STATES,
    UNREACHABLE,
    VISIT_CLOCK_PREFIX,
    VISIT_OUTCOMES,
    ClockFigures,
    Durations,
    FollowUpFigures,
    Hotspot,
    HotspotRule,
    RepeatComplainant,
    Report,
    Summary,
    WeekFigures,
    _count_pairs,
    _percentile_ranks,
    _rate,
    binomial_upper_tail,
    build_report,
    weighted_percentile,
)

ROOT = Path(__file__).resolve().parents[1]
WORKFLOW = ROOT / "workflows" / "consumer_complaint.yaml"
BOSTON_MAPPING = ROOT / "examples" / "import" / "boston311.yaml"
REALDATA = Path(os.environ.get("CASEWORK_REALDATA", ROOT.parent / "shared" / "realdata"))
SEED_VERSION = 5
BAR_REPORT_S = 3.0
BAR_SPEEDUP = 10.0
BAR_IMPORT_RPS = 20_000
TZ = ZoneInfo("Asia/Shanghai")
NOW = dt.datetime(2026, 1, 10, 9, 0, tzinfo=TZ)
PERIODS = {
    "year_2025": (dt.date(2025, 1, 1), dt.date(2025, 12, 31)),
    "all_2024_2025": (dt.date(2024, 1, 1), dt.date(2025, 12, 31)),
}

DAY = 86_400
# How a seeded case leaves `received`: (draw below, most days it takes, trigger, state reached,
# event data), tried in order. 8 % rejected, 3 % withdrawn, 2 % transferred, the rest accepted.
DECISIONS = (
    (0.08, 8, "reject", "rejected", '{"reason":"outside remit"}'),
    (0.11, 5, "withdraw", "withdrawn", "{}"),
    (0.13, 6, "transfer", "transferred", "{}"),
    (1.0, 10, "accept", "accepted", "{}"),
)
HOUR = 3_600


# ---------------------------------------------------------------------------- seeding


class _Stamp:
    """Epoch seconds -> SQLAlchemy's SQLite text for a UTC instant, fast."""

    def __init__(self) -> None:
        self.days: dict[int, str] = {}

    def __call__(self, s: int) -> str:
        d, rest = divmod(s, DAY)
        day = self.days.get(d)
        if day is None:
            day = self.days[d] = time.strftime("%Y-%m-%d", time.gmtime(d * DAY))
        h, rest = divmod(rest, HOUR)
        m, sec = divmod(rest, 60)
        return f"{day} {h:02d}:{m:02d}:{sec:02d}.000000"


def _weighted(rng: random.Random, items: list[tuple[str, float]]) -> Callable[[], str]:
    names = [n for n, _ in items]
    cum: list[float] = []
    total = 0.0
    for _, w in items:
        total += w
        cum.append(total)

    def pick() -> str:
        return names[bisect.bisect_right(cum, rng.random() * total)]

    return pick


def seed(path: Path, n: int, seed_value: int = 7) -> None:
    """Create the schema (casework's migrations), then bulk-insert ``n`` cases."""
    engine = Engine.open(f"sqlite:///{path}", workflows=WORKFLOW)
    engine.close()
    con = sqlite3.connect(path, isolation_level=None)
    con.execute("PRAGMA journal_mode=OFF")
    con.execute("PRAGMA synchronous=OFF")
    rng = random.Random(seed_value)
    stamp = _Stamp()
    channel = _weighted(
        rng, [("hotline", 35), ("website", 30), ("email", 10), ("offline", 10), ("third_party", 15)]
    )
    category = _weighted(
        rng,
        [
            ("product_quality_safety", 30),
            ("contract_disclosure", 25),
            ("after_sales", 35),
            ("other", 10),
        ],
    )
    reasons = ["complex", "multiple parties", "large amount", "media attention", "repeat visit"]
    start = int(dt.datetime(2024, 1, 1, tzinfo=TZ).timestamp())
    span = int(dt.datetime(2026, 1, 1, tzinfo=TZ).timestamp()) - start
    year_2025 = int(dt.datetime(2025, 1, 1, tzinfo=TZ).timestamp())
    now = int(NOW.timestamp())
    contacts = max(10, n // 3)
    cases_sql = (
        "INSERT INTO cases (id, workflow, workflow_version, state, version, channel, category, "
        "external_id, complainant_contact, respondent, product, department, data, received_at, "
        "accepted_at, closed_at, updated_at, rehandle_count, escalation_count, last_seq, "
        "head_hash) VALUES (?, 'consumer_complaint', 1, ?, 1, ?, ?, ?, ?, ?, ?, ?, '{}', ?, ?, ?,"
        " ?, ?, ?, 1, '')"
    )
    events_sql = (
        'INSERT INTO events (case_id, seq, kind, "trigger", from_state, to_state, actor, roles,'
        " data, occurred_at, recorded_at, prev_hash, hash) VALUES (?, ?, ?, ?, ?, ?, 'bench', "
        "'[]', ?, ?, ?, '', '')"
    )
    deadlines_sql = (
        "INSERT INTO deadlines (case_id, clock, kind, status, period, calendar, started_at, "
        "due_at, stopped_at, breached_at, data, version) VALUES (?, ?, 'clock', ?, '', 'cn', ?, "
        "?, ?, ?, '{}', 1)"
    )
    followups_sql = (
        "INSERT INTO followups (case_id, policy, status, selected_because, channel, attempts, "
        "max_attempts, created_at, due_at, outcome, recorded_at, data, version) VALUES (?, "
        "'satisfaction', ?, 'sample', 'phone', 1, 3, ?, ?, ?, ?, '{}', 1)"
    )
    now_s = stamp(now)
    # Case ids follow receipt order, as they do when cases are taken in as they arrive.
    received = sorted(start + int(rng.random() * span) for _ in range(n))
    chunk = 50_000
    for first in range(1, n + 1, chunk):
        cases: list[tuple[Any, ...]] = []
        events: list[tuple[Any, ...]] = []
        deadlines: list[tuple[Any, ...]] = []
        visits: list[tuple[Any, ...]] = []
        for cid in range(first, min(n, first + chunk - 1) + 1):
            rec = received[cid - 1]
            r_s = stamp(rec)
            in_2025 = rec >= year_2025
            hot = rng.random() < (0.003 if in_2025 else 0.0006)
            respondent = "Hotspot Mart" if hot else f"R{int(rng.random() ** 3 * 2000):04d}"
            contact = f"1{rng.randrange(contacts):010d}" if rng.random() < 0.3 else None
            # The case's events: kind, trigger, from, to, data, occurred (numbered at the end).
            trail: list[tuple[Any, ...]] = [("opened", None, None, "received", "{}", r_s)]
            state, accepted, closed, rehandle, escalations = "received", None, None, 0, 0
            acc_due = rec + 9 * DAY
            u = rng.random()
            _, days, trigger, reached, why = next(d for d in DECISIONS if u < d[0])
            at = rec + int(rng.random() * days * DAY)
            decided: int | None = None
            if at < now:
                decided = at
                state = reached
                if trigger == "accept":
                    accepted = decided
                else:
                    closed = decided
                trail.append(("transition", trigger, "received", reached, why, stamp(at)))
            if decided is not None:
                met = decided < acc_due
                deadlines.append(
                    (
                        cid,
                        "acceptance",
                        "met" if met else "breached",
                        r_s,
                        stamp(acc_due),
                        stamp(decided),
                        None if met else stamp(acc_due),
                    )
                )
            else:
                status = "breached" if acc_due < now and rng.random() < 0.5 else "running"
                deadlines.append(
                    (
                        cid,
                        "acceptance",
                        status,
                        r_s,
                        stamp(acc_due),
                        None,
                        stamp(acc_due) if status == "breached" else None,
                    )
                )
            if accepted is not None:
                h_due = accepted + 30 * DAY
                if rng.random() < 0.06:
                    esc = accepted + int(rng.random() * 10 * DAY)
                    if esc < now:
                        escalations = 1
                        reason = rng.choice(reasons)
                        data = (
                            f'{{"reason":"{reason}"}}'
                            if rng.random() < 0.8
                            else '{"clock":"handling","reason":"clock handling","step":"x"}'
                        )
                        trail.append(
                            ("transition", "escalate", "accepted", "escalated", data, stamp(esc))
                        )
                        deadlines.append(
                            (
                                cid,
                                "task_group",
                                "met",
                                stamp(esc),
                                stamp(esc + 21 * DAY),
                                stamp(esc + 5 * DAY),
                                None,
                            )
                        )
                if rng.random() < 0.03:
                    ext = accepted + int(rng.random() * 20 * DAY)
                    if ext < now:
                        trail.append(
                            (
                                "extension",
                                None,
                                None,
                                None,
                                '{"clock":"handling","to":"45 days"}',
                                stamp(ext),
                            )
                        )
                        h_due = accepted + 45 * DAY
                answered = accepted + int(rng.expovariate(1 / (12 * DAY)))
                if rng.random() < 0.9 and answered < now:
                    state = "feedback"
                    trail.append(
                        ("transition", "respond", "handling", "feedback", "{}", stamp(answered))
                    )
                    met = answered < h_due
                    deadlines.append(
                        (
                            cid,
                            "handling",
                            "met" if met else "breached",
                            stamp(accepted),
                            stamp(h_due),
                            stamp(answered),
                            None if met else stamp(h_due),
                        )
                    )
                    if rng.random() < 0.05:
                        rehandle = 1
                    if rng.random() < 0.9:
                        rec_at = answered + 3 * DAY + int(rng.random() * 4 * DAY)
                        if rec_at < now:
                            v = rng.random()
                            outcome = (
                                "satisfied"
                                if v < 0.62
                                else "basically_satisfied"
                                if v < 0.82
                                else "dissatisfied"
                                if v < 0.91
                                else UNREACHABLE
                            )
                            visits.append(
                                (
                                    cid,
                                    "unreachable" if outcome == UNREACHABLE else "completed",
                                    stamp(answered),
                                    stamp(rec_at),
                                    outcome,
                                    stamp(rec_at),
                                )
                            )
                    archive = answered + 3 * DAY + int(rng.random() * 7 * DAY)
                    if rng.random() < 0.9 and archive < now:
                        state, closed = "archived", archive
                        trail.append(
                            ("transition", "archive", "feedback", "archived", "{}", stamp(archive))
                        )
                else:
                    status = "breached" if h_due < now and rng.random() < 0.5 else "running"
                    deadlines.append(
                        (
                            cid,
                            "handling",
                            status,
                            stamp(accepted),
                            stamp(h_due),
                            None,
                            stamp(h_due) if status == "breached" else None,
                        )
                    )
            events.extend((cid, seq, *e, now_s) for seq, e in enumerate(trail, 1))
            cases.append(
                (
                    cid,
                    state,
                    channel(),
                    category(),
                    f"b-{cid}",
                    contact,
                    respondent,
                    f"P{int(rng.random() ** 2 * 200):03d}",
                    f"d{rng.randrange(5)}",
                    r_s,
                    stamp(accepted) if accepted else None,
                    stamp(closed) if closed else None,
                    now_s,
                    rehandle,
                    escalations,
                )
            )
        con.execute("BEGIN")
        con.executemany(cases_sql, cases)
        con.executemany(events_sql, events)
        con.executemany(deadlines_sql, deadlines)
        con.executemany(followups_sql, visits)
        con.execute("COMMIT")
    # No ANALYZE: the report's plans must not depend on the planner's statistics.
    con.close()


def database(n: int) -> tuple[Path, float | None]:
    """The cached database for ``n`` cases (seeded now when missing): path, seconds seeding."""
    folder = Path(tempfile.gettempdir()) / "casework-bench"
    folder.mkdir(exist_ok=True)
    path = folder / f"report-{n}-v{SEED_VERSION}.db"
    if path.exists():
        return path, None
    tmp = path.with_suffix(".partial")
    tmp.unlink(missing_ok=True)
    t0 = time.perf_counter()
    seed(tmp, n)
    tmp.rename(path)
    return path, time.perf_counter() - t0


# ---------------------------------------------------------------------------- the baseline


_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


def _secs(at: dt.datetime) -> int:
    """Whole seconds since 1970, fractions dropped (as the SQL side computes them)."""
    return (at - _EPOCH) // dt.timedelta(seconds=1)


def python_report(
    engine: Engine, periods: dict[str, tuple[dt.date, dt.date]]
) -> tuple[dict[str, Report], float, dict[str, float]]:
    """Fetch every row with a plain SELECT, then compute each report in Python dicts.

    Returns the reports, the fetch time and each report's compute time."""
    t = engine.store.tables
    t0 = time.perf_counter()

    def fetch(conn: sa.Connection) -> tuple[list[Any], ...]:
        c, d, e, f = t.cases.c, t.deadlines.c, t.events.c, t.followups.c
        return (
            list(
                conn.execute(
                    sa.select(
                        c.id,
                        c.workflow,
                        c.workflow_version,
                        c.state,
                        c.channel,
                        c.category,
                        c.respondent,
                        c.product,
                        c.complainant_contact,
                        c.received_at,
                        c.accepted_at,
                        c.closed_at,
                        c.rehandle_count,
                    )
                )
            ),
            list(
                conn.execute(
                    sa.select(
                        d.case_id, d.clock, d.kind, d.status, d.started_at, d.due_at, d.stopped_at
                    )
                )
            ),
            list(
                conn.execute(
                    sa.select(e.case_id, e.kind, e.trigger, e.to_state, e.occurred_at, e.data)
                )
            ),
            list(conn.execute(sa.select(f.case_id, f.outcome, f.recorded_at))),
        )

    cases, deadlines, events, visits = engine.store.run(fetch, read=True)
    fetched = time.perf_counter() - t0
    out: dict[str, Report] = {}
    compute: dict[str, float] = {}
    for name, (start, end) in periods.items():
        t1 = time.perf_counter()
        out[name] = _compute(engine, start, end, cases, deadlines, events, visits)
        compute[name] = time.perf_counter() - t1
    return out, fetched, compute


def _compute(
    engine: Engine,
    start: dt.date,
    end: dt.date,
    cases: list[Any],
    deadlines: list[Any],
    events: list[Any],
    visits: list[Any],
) -> Report:
    rule = HotspotRule()
    days = (end - start).days + 1

    def midnight(d: dt.date) -> dt.datetime:
        return dt.datetime.combine(d, dt.time(), tzinfo=TZ).astimezone(dt.UTC)

    lo, hi = midnight(start), midnight(end + dt.timedelta(days=1))
    prev_start = start - dt.timedelta(days=days)
    prev_lo = midnight(prev_start)
    now = engine.clock.now()
    as_of, prev_as_of = min(hi, now), min(lo, now)
    by_id = {c.id: c for c in cases}
    feedback = set(FEEDBACK_STATES)
    for spec in engine.workflows.all():
        for policy in spec.followups:
            feedback |= {tr.dest for tr in spec.transitions if tr.trigger in policy.after_triggers}
    cals: dict[tuple[str, int], Any] = {}

    def local(at: dt.datetime) -> dt.date:
        return at.astimezone(TZ).date()

    def intake(a: dt.datetime, b: dt.datetime) -> tuple[list[Any], int, int, int]:
        rows = [c for c in cases if a <= c.received_at < b]
        acc = sum(1 for c in rows if c.accepted_at is not None and c.accepted_at < b)
        rej = sum(
            1
            for c in rows
            if c.state in NOT_ACCEPTED_STATES and c.closed_at is not None and c.closed_at < b
        )
        closed = sum(1 for c in rows if c.closed_at is not None and c.closed_at < b)
        return rows, acc, rej, closed

    def open_at(at: dt.datetime) -> int:
        return sum(
            1 for c in cases if c.received_at < at and (c.closed_at is None or c.closed_at >= at)
        )

    def clocks(a: dt.datetime, b: dt.datetime, asof: dt.datetime) -> list[tuple[str, str, dt.date]]:
        out = []
        for d in deadlines:
            if d.kind != "clock":
                continue
            if d.status == "met" and d.stopped_at is not None and a <= d.stopped_at < b:
                out.append((d.clock, "met", local(d.stopped_at)))
            elif d.status == "breached" and a <= d.due_at < b:
                out.append((d.clock, "late", local(d.due_at)))
            elif d.status == "running" and a <= d.due_at < asof:
                out.append((d.clock, "overdue", local(d.due_at)))
        return out

    def figures(rows: Iterable[tuple[str, str, dt.date]]) -> tuple[ClockFigures, ...]:
        acc: dict[str, dict[str, int]] = {}
        for clock, outcome, _ in rows:
            acc.setdefault(clock, {"met": 0, "late": 0, "overdue": 0})[outcome] += 1
        return tuple(
            ClockFigures(k, v["met"], v["late"], v["overdue"]) for k, v in sorted(acc.items())
        )

    def overdue_open(at: dt.datetime) -> int:
        ids = set()
        for d in deadlines:
            if (
                d.kind == "clock"
                and d.status != "paused"
                and d.started_at < at
                and d.due_at < at
                and (d.stopped_at is None or d.stopped_at >= at)
            ):
                c = by_id[d.case_id]
                if c.received_at < at and (c.closed_at is None or c.closed_at >= at):
                    ids.add(d.case_id)
        return len(ids)

    def escalations(a: dt.datetime, b: dt.datetime) -> tuple[int, int, tuple[tuple[str, int], ...]]:
        reasons: list[tuple[str, int]] = []
        ids = set()
        for e in events:
            if e.kind == "transition" and e.trigger == "escalate" and a <= e.occurred_at < b:
                data = e.data or {}
                reason = (
                    f"clock:{data['clock']}"
                    if data.get("clock") is not None
                    else data.get("reason") or ""
                )
                reasons.append((reason, 1))
                ids.add(e.case_id)
        pairs = _count_pairs(reasons)
        return sum(n for _, n in pairs), len(ids), pairs

    def followup(a: dt.datetime, b: dt.datetime, detail: bool) -> FollowUpFigures:
        counts: dict[str, int] = {}
        for v in visits:
            if v.outcome is not None and v.recorded_at is not None and a <= v.recorded_at < b:
                counts[v.outcome] = counts.get(v.outcome, 0) + 1
        reached = visited = rehandled = 0
        if detail:
            ids = {
                e.case_id
                for e in events
                if e.kind == "transition" and e.to_state in feedback and a <= e.occurred_at < b
            }
            with_visit = {v.case_id for v in visits if v.outcome in VISIT_OUTCOMES}
            reached = len(ids)
            visited = len(ids & with_visit)
            rehandled = sum(1 for i in ids if by_id[i].rehandle_count > 0)
        return FollowUpFigures(
            reached,
            visited,
            rehandled,
            counts.get("satisfied", 0),
            counts.get("basically_satisfied", 0),
            counts.get("dissatisfied", 0),
            counts.get(UNREACHABLE, 0),
        )

    rows, accepted, rejected, intake_closed = intake(lo, hi)
    completed_rows = [c for c in cases if c.closed_at is not None and lo <= c.closed_at < hi]
    secs = sorted(_secs(c.closed_at) - _secs(c.received_at) for c in completed_rows)
    wd: dict[int, int] = {}
    for c in completed_rows:
        key = (c.workflow, c.workflow_version)
        if key not in cals:
            spec = engine.workflows.get(*key)
            cals[key] = engine.clocks.calendar_for(spec, spec.calendar)
        k = cals[key].working_days_between(local(c.received_at), local(c.closed_at))
        wd[k] = wd.get(k, 0) + 1
    n = len(secs)
    if n:

        def pct(p: float) -> float:
            r1, r2, w = _percentile_ranks(n, p)
            return secs[r1 - 1] + (secs[r2 - 1] - secs[r1 - 1]) * w

        wd_sorted = sorted(wd.items())
        handling = Durations(
            count=n,
            mean_hours=round(sum(secs) / n / 3600.0, 2),
            median_hours=round(pct(0.5) / 3600.0, 2),
            p90_hours=round(pct(0.9) / 3600.0, 2),
            mean_working_days=round(sum(k * v for k, v in wd_sorted) / n, 2),
            median_working_days=round(weighted_percentile(wd_sorted, 0.5), 2),
            p90_working_days=round(weighted_percentile(wd_sorted, 0.9), 2),
        )
    else:
        handling = Durations()
    clock_rows = clocks(lo, hi, as_of)
    n_weeks = (days + 6) // 7
    wk_intake, wk_met, wk_late = [0] * n_weeks, [0] * n_weeks, [0] * n_weeks
    for c in rows:
        wk_intake[(local(c.received_at) - start).days // 7] += 1
    for _, outcome, day in clock_rows:
        i = (day - start).days // 7
        if 0 <= i < n_weeks:
            (wk_met if outcome == "met" else wk_late)[i] += 1
    weeks = tuple(
        WeekFigures(
            start + dt.timedelta(days=7 * i),
            min(7, days - 7 * i),
            wk_intake[i],
            wk_met[i],
            wk_late[i],
        )
        for i in range(n_weeks)
    )

    p_rows, p_acc, p_rej, _ = intake(prev_lo, lo)
    p_clocks = [
        c
        for c in figures(clocks(prev_lo, lo, prev_as_of))
        if not c.clock.startswith(VISIT_CLOCK_PREFIX)
    ]
    p_completed = sum(1 for c in cases if c.closed_at is not None and prev_lo <= c.closed_at < lo)
    previous = Summary(
        start=prev_start,
        end=start - dt.timedelta(days=1),
        intake_total=len(p_rows),
        accepted=p_acc,
        not_accepted=p_rej,
        completed=p_completed,
        completion_rate=_rate(p_completed, open_at(prev_lo) + len(p_rows)),
        on_time_rate=_rate(sum(c.met for c in p_clocks), sum(c.judged for c in p_clocks)),
        satisfaction_rate=followup(prev_lo, lo, False).satisfaction_rate,
        escalated=escalations(prev_lo, lo)[0],
        open_at_end=open_at(prev_as_of),
        overdue_open=overdue_open(prev_as_of),
    )
    hotspots: list[Hotspot] = []
    if p_rows:
        for kind in ("category", "respondent", "product"):
            cur: dict[str, int] = {}
            prev: dict[str, int] = {}
            for c in cases:
                value = getattr(c, kind)
                if value is None:
                    continue
                if lo <= c.received_at < hi:
                    cur[value] = cur.get(value, 0) + 1
                elif prev_lo <= c.received_at < lo:
                    prev[value] = prev.get(value, 0) + 1
            for value, k in cur.items():
                before = prev.get(value, 0)
                if k >= rule.min_count and k >= rule.min_ratio * before:
                    p = binomial_upper_tail(k, k + before)
                    if p <= rule.alpha:
                        hotspots.append(Hotspot(kind, value, k, before, p))
        hotspots.sort(key=lambda h: (h.p_value, -h.count, h.kind, h.value))
    contacts: dict[str, int] = {}
    for c in rows:
        if c.complainant_contact:
            contacts[c.complainant_contact] = contacts.get(c.complainant_contact, 0) + 1
    repeat = sorted(
        ((k, v) for k, v in contacts.items() if v >= rule.repeat_min), key=lambda x: (-x[1], x[0])
    )
    extensions = _count_pairs(
        ((e.data or {}).get("clock"), 1)
        for e in events
        if e.kind == "extension" and lo <= e.occurred_at < hi
    )
    escalated, escalated_cases, reasons = escalations(lo, hi)
    return Report(
        start=start,
        end=end,
        timezone=str(TZ),
        workflow=None,
        department=None,
        generated_at=now,
        as_of=as_of,
        intake_total=len(rows),
        by_channel=_count_pairs((c.channel, 1) for c in rows),
        by_category=_count_pairs((c.category, 1) for c in rows),
        accepted=accepted,
        not_accepted=rejected,
        open_at_start=open_at(lo),
        completed=n,
        completed_by_state=_count_pairs((c.state, 1) for c in completed_rows),
        intake_completed=intake_closed,
        clocks=figures(clock_rows),
        handling=handling,
        escalated=escalated,
        escalated_cases=escalated_cases,
        escalation_reasons=reasons,
        extensions=sum(k for _, k in extensions),
        extensions_by_clock=extensions,
        followup=followup(lo, hi, True),
        open_at_end=open_at(as_of),
        overdue_open=overdue_open(as_of),
        weeks=weeks,
        previous=previous,
        hotspots=tuple(hotspots),
        repeat_complainants=tuple(
            RepeatComplainant(mask(k) or "", hashlib.sha256(k.encode()).hexdigest()[:12], v)
            for k, v in repeat[: rule.top]
        ),
        repeat_complainant_count=len(repeat),
        rule=rule,
    )


# ---------------------------------------------------------------------------- import


BOSTON_HEADER = (
    "case_enquiry_id,open_dt,sla_target_dt,closed_dt,on_time,case_status,closure_reason,"
    "case_title,subject,reason,type,queue,department,submitted_photo,closed_photo,location,"
    "fire_district,pwd_district,city_council_district,police_district,neighborhood,"
    "neighborhood_services_district,ward,precinct,location_street_name,location_zipcode,"
    "latitude,longitude,geom_4326,source"
)


def synthetic_csv(rows: int) -> Path:
    """A Boston-311-shaped CSV of ``rows`` rows (cached)."""
    folder = Path(tempfile.gettempdir()) / "casework-bench"
    folder.mkdir(exist_ok=True)
    path = folder / f"boston-synthetic-{rows}-v{SEED_VERSION}.csv"
    if path.exists():
        return path
    rng = random.Random(11)
    types = [
        "Pick up Dead Animal",
        "Animal Generic Request",
        "Bed Bugs",
        "Pest Infestation - Residential",
        "Animal Found",
        "Animal Lost",
    ]
    sources = [
        "Constituent Call",
        "Citizens Connect App",
        "City Worker App",
        "Self Service",
        "Employee Generated",
        "Twitter",
    ]
    base = dt.datetime(2017, 1, 1)
    lines = [BOSTON_HEADER]
    for i in range(rows):
        opened = base + dt.timedelta(seconds=int(rng.random() * 3 * 365 * DAY))
        target = (
            opened + dt.timedelta(days=rng.choice([1, 2, 5, 120])) if rng.random() < 0.7 else None
        )
        closed = (
            opened + dt.timedelta(seconds=int(rng.expovariate(1 / (3 * DAY))))
            if rng.random() < 0.7
            else None
        )
        fmt = "%Y-%m-%d %H:%M:%S"
        overdue = target is not None and (closed is None or closed > target)
        kind = rng.choice(types)
        lines.append(
            f"{102000000000 + i},{opened:{fmt}},{target.strftime(fmt) if target else ''},"
            f"{closed.strftime(fmt) if closed else ''},{'OVERDUE' if overdue else 'ONTIME'},"
            f"{'Closed' if closed else 'Open'},Case Closed Case Resolved ,{kind},"
            f"Public Works Department,Street Cleaning,{kind},PWDx_District 03,PWDx,,,"
            f"22 Wolcott St  Dorchester  MA  02121,7,03,4,B3,Greater Mattapan,8,Ward 14,1406,"
            f"22 Wolcott St,2121.0,42.30,-71.08,0101000020E6100000,{rng.choice(sources)}"
        )
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def boston_concatenated() -> Path | None:
    files = sorted((REALDATA / "boston311").glob("boston311_animal_201[3-6].csv"))
    if len(files) != 4:
        return None
    out = Path(tempfile.gettempdir()) / "casework-bench" / "boston-2013-2016.csv"
    out.parent.mkdir(exist_ok=True)
    if not out.exists():
        parts = []
        for i, f in enumerate(files):
            text = f.read_text(encoding="utf-8")
            parts.append(text if i == 0 else text.split("\n", 1)[1])
        out.write_text(
            "".join(p if p.endswith("\n") else p + "\n" for p in parts), encoding="utf-8"
        )
    return out


def import_rate(csv_path: Path) -> tuple[float, int, float]:
    """Rows per second importing ``csv_path`` into a fresh SQLite file (casework's schema at
    head, the report's indexes included), timed around the whole call."""
    from casework.importing import import_csv

    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{tmp}/import.db"
        Engine.open(url, workflows=WORKFLOW).close()
        engine = Engine.open(url, workflows=WORKFLOW, clock=FrozenClock(NOW), create=False)
        try:
            # The whole call, the as-of pre-scan of the file included.
            t0 = time.perf_counter()
            rep = import_csv(engine, csv_path, BOSTON_MAPPING)
            secs = time.perf_counter() - t0
        finally:
            engine.close()
    return rep.rows / secs, rep.created, secs


# ---------------------------------------------------------------------------- main


def _median_run(runs: list[tuple[float, int, float]]) -> tuple[float, int, float]:
    """The run with the median rate (the lower middle one of an even number)."""
    return sorted(runs)[(len(runs) - 1) // 2]


def _rates(runs: list[tuple[float, int, float]]) -> str:
    return ", ".join(f"{r[0]:,.0f}" for r in runs)


def _comparable(report: Report) -> dict[str, Any]:
    data = report.to_json()
    data["period"].pop("generated_at")
    return data


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=1_000_000, help="cases in the database")
    parser.add_argument(
        "--import-rows", type=int, default=100_000, help="rows of the synthetic import CSV"
    )
    parser.add_argument(
        "--import-runs", type=int, default=3, help="imports of each file (the median counts)"
    )
    parser.add_argument("--json", action="store_true", help="last line: one JSON object")
    args = parser.parse_args()
    if args.import_runs < 1:
        parser.error("--import-runs must be at least 1")

    path, seeded = database(args.n)
    if seeded is not None:
        print(f"seeded {args.n:,} cases into {path} in {seeded:.1f}s", file=sys.stderr)
    engine = Engine.open(
        f"sqlite:///{path}", workflows=WORKFLOW, clock=FrozenClock(NOW), create=False
    )
    try:
        timings: dict[str, float] = {}
        reports: dict[str, Report] = {}
        for name, (start, end) in PERIODS.items():
            best = float("inf")
            for _ in range(3):
                t0 = time.perf_counter()
                reports[name] = build_report(engine, start, end)
                best = min(best, time.perf_counter() - t0)
            timings[name] = best
        baseline, fetched, compute = python_report(engine, PERIODS)
    finally:
        engine.close()
    identical = all(_comparable(reports[k]) == _comparable(baseline[k]) for k in PERIODS)
    if not identical:
        for k in PERIODS:
            a, b = _comparable(reports[k]), _comparable(baseline[k])
            for key in a:
                if a[key] != b[key]:
                    print(
                        f"DIFFERENT {k}.{key}:\n  sql    {a[key]}\n  python {b[key]}",
                        file=sys.stderr,
                    )
    python_s = {k: fetched + compute[k] for k in PERIODS}
    speedup = {k: python_s[k] / timings[k] for k in PERIODS}
    synthetic = synthetic_csv(args.import_rows)
    boston = boston_concatenated()
    runs: dict[str, list[tuple[float, int, float]]] = {"synthetic": [], "boston": []}
    for _ in range(args.import_runs):
        runs["synthetic"].append(import_rate(synthetic))
        if boston is not None:
            runs["boston"].append(import_rate(boston))
    rps, created, secs = _median_run(runs["synthetic"])
    boston_rps = _median_run(runs["boston"])[0] if boston is not None else None
    report_s = max(timings.values())
    bars = {
        "report_under_3s": report_s < BAR_REPORT_S,
        "report_10x_python": min(speedup.values()) >= BAR_SPEEDUP,
        "import_20k_rows_per_s": min(rps, boston_rps or rps) >= BAR_IMPORT_RPS,
        "identical": identical,
    }
    main_report = reports["year_2025"]
    for k in PERIODS:
        r = reports[k]
        print(
            f"report {k:14} {timings[k]:6.2f}s   python {python_s[k]:6.2f}s "
            f"(fetch {fetched:.2f}s)   {speedup[k]:5.1f}x   intake {r.intake_total:,}, "
            f"completed {r.completed:,}"
        )
    print(
        f"import synthetic   {created:,} rows in {secs:.2f}s = {rps:,.0f} rows/s "
        f"(median of {_rates(runs['synthetic'])})"
    )
    if boston_rps is not None:
        print(
            f"import boston 2013-2016 concatenated: {boston_rps:,.0f} rows/s "
            f"(median of {_rates(runs['boston'])})"
        )
    print(f"figures identical: {identical}; bars met: {all(bars.values())} {bars}")
    if args.json:
        print(
            json.dumps(
                {
                    "n": args.n,
                    "report_s": {k: round(v, 3) for k, v in timings.items()},
                    "python_s": {k: round(v, 3) for k, v in python_s.items()},
                    "speedup": {k: round(v, 1) for k, v in speedup.items()},
                    "import_rows": created,
                    "import_rows_per_s": round(rps),
                    "boston_rows_per_s": round(boston_rps) if boston_rps else None,
                    "import_runs_rows_per_s": {
                        k: [round(r[0]) for r in v] for k, v in runs.items() if v
                    },
                    "identical": identical,
                    "figures": {
                        k: main_report.to_json()[k]
                        for k in (
                            "intake_total",
                            "completed",
                            "completion_rate",
                            "on_time_rate",
                            "satisfaction_rate",
                            "escalated",
                            "overdue_open",
                        )
                    },
                    "bars": bars,
                    "bars_met": all(bars.values()),
                },
                ensure_ascii=False,
            )
        )
    return 0 if all(bars.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
