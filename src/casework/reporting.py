"""Period reports: the figures the organisation reports, computed by SQL aggregation.

:func:`build_report` covers the local dates ``[start, end]`` (inclusive) in the report's time
zone — the workflow's, else ``Asia/Shanghai`` — i.e. the instants ``[lo, hi)`` from local
midnight of ``start`` to local midnight after ``end``. ``as_of`` is ``min(hi, now)``: a report
for a past period never depends on when it is built, except for the follow-up coverage noted
below. Every figure is a ``COUNT``/``SUM``/``GROUP BY`` in the database; Python only adds up
aggregates, turns pairs of local dates into working days (the calendar lives in Python) and
reads the few order statistics a window function ranks, so SQLite and PostgreSQL give
identical figures. Queries are shaped for covering indexes (``docs/reporting.md``). Definitions:

* **Intake** — cases received in the period, by channel and category. **Accepted** — of
  those, cases accepted before ``hi``; **not accepted** — in state ``rejected`` (不予受理) by
  ``hi``.
* **Completed** (办结) — cases that reached a final state (``archived``, ``rejected``,
  ``withdrawn``, ``transferred``: any state that sets ``closed_at``) in the period, whenever
  received. **Completion rate** (办结率) = completed / (open at period start + intake): the
  share of the period's workload that was finished. ``intake_completed`` is the share of this
  period's intake already completed by ``hi``.
* **On time**, per clock — each clock row is judged once, in the period its verdict falls in:
  ``met`` rows at their ``stopped_at``; ``breached`` rows, and ``running`` rows already past
  due at ``as_of``, at their ``due_at``. On-time rate = met / (met + late). Paused and
  cancelled rows are not judged. The overall on-time rate counts the handling clocks; the
  clocks of follow-up visits (``followup:*``) are reported on their own.
* **Handling time** — received → closed of the completed cases: mean, median and 90th
  percentile (linear interpolation between order statistics) in hours of elapsed time, and in
  working days ``working_days_between(received date, closed date)`` on the calendar of the
  case's workflow (local dates in the report's zone).
* **Escalations** — ``escalate`` transitions in the period, grouped by reason (an escalation a
  clock fired is grouped as ``clock:<name>``). **Extensions** — ``extension`` events.
* **Follow-up** — cases that *reached feedback* in the period (a transition into a state a
  follow-up policy starts from, e.g. ``feedback``): coverage = those with a completed visit
  (outcome satisfied, basically_satisfied or dissatisfied, recorded by the time the report is
  built) / reached feedback; re-handle rate = those with ``rehandle_count > 0`` / reached
  feedback. Visits recorded in the period: satisfaction rate = (satisfied +
  basically_satisfied) / visits with one of the three satisfaction outcomes; unreachable rate
  = unreachable / visits with any outcome.
* **Open / overdue at period end** — cases received before ``as_of`` and not closed by it;
  overdue = those with a clock row started, not stopped and past due at ``as_of``.
* **Change** — the same summary figures for the previous period of equal length.
* **Risk hot spots** — a category, respondent or product is flagged when its count in the
  period is at least ``min_count``, at least ``min_ratio`` times the previous period's, and a
  one-sided exact binomial test (conditional Poisson test for two equal-length periods:
  ``P(X >= count | n = count + previous, p = 1/2)``) gives ``p <= alpha``; none are reported
  when nothing at all was received in the previous period (no baseline). **Repeat
  complainants** — the same complainant contact on at least ``repeat_min`` cases received in
  the period (contacts are masked in the report). :func:`queue_risk_alerts` queues one
  ``risk.hotspot`` notification per finding.
"""

from __future__ import annotations

import bisect
import datetime as dt
import hashlib
import itertools
import math
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TYPE_CHECKING, Any, ClassVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import attrs
import sqlalchemy as sa

from casework.errors import InvalidInput, WorkflowNotFound
from casework.hooks import RISK_HOTSPOT
from casework.records import mask
from casework.store import SnapshotBusy
from casework.store import queries as q
from casework.store.fast import FAST, Prepared
from casework.store.schema import Tables

if TYPE_CHECKING:
    from casework.calendars import Calendar
    from casework.engine import Engine

__all__ = [
    "ClockFigures",
    "Durations",
    "FollowUpFigures",
    "Hotspot",
    "HotspotRule",
    "RepeatComplainant",
    "Report",
    "RiskHotspot",
    "Summary",
    "WeekFigures",
    "build_report",
    "queue_risk_alerts",
    "risk_payloads",
]

DEFAULT_TZ = "Asia/Shanghai"
NOT_ACCEPTED_STATES = ("rejected",)
FEEDBACK_STATES = ("feedback",)
SATISFIED = ("satisfied", "basically_satisfied")
VISIT_OUTCOMES = ("satisfied", "basically_satisfied", "dissatisfied")
UNREACHABLE = "unreachable"
HOTSPOT_KINDS = ("category", "respondent", "product")
UNSET = "(none)"
VISIT_CLOCK_PREFIX = "followup:"
OVERDUE_STATUSES = ("running", "breached", "cancelled")


# ---------------------------------------------------------------------------- records


def _rate(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


@attrs.frozen
class HotspotRule:
    """When a rise counts as a risk hot spot (see the module docs)."""

    min_count: int = 10
    min_ratio: float = 1.5
    alpha: float = 0.01
    repeat_min: int = 2
    top: int = 20


@attrs.frozen
class ClockFigures:
    """One clock's verdicts in the period: ``late`` = breached rows judged in the period,
    ``overdue_running`` = rows still running past due at ``as_of``."""

    clock: str
    met: int
    late: int
    overdue_running: int

    @property
    def judged(self) -> int:
        return self.met + self.late + self.overdue_running

    @property
    def on_time_rate(self) -> float | None:
        return _rate(self.met, self.judged)

    def to_json(self) -> dict[str, Any]:
        return {**attrs.asdict(self), "judged": self.judged, "on_time_rate": self.on_time_rate}


@attrs.frozen
class Durations:
    """Handling time of the completed cases (hours of elapsed time; working days)."""

    count: int = 0
    mean_hours: float | None = None
    median_hours: float | None = None
    p90_hours: float | None = None
    mean_working_days: float | None = None
    median_working_days: float | None = None
    p90_working_days: float | None = None


@attrs.frozen
class FollowUpFigures:
    reached_feedback: int = 0
    visited: int = 0
    rehandled: int = 0
    satisfied: int = 0
    basically_satisfied: int = 0
    dissatisfied: int = 0
    unreachable: int = 0

    @property
    def coverage(self) -> float | None:
        return _rate(self.visited, self.reached_feedback)

    @property
    def visits(self) -> int:
        """Visits recorded in the period with a satisfaction outcome."""
        return self.satisfied + self.basically_satisfied + self.dissatisfied

    @property
    def satisfaction_rate(self) -> float | None:
        return _rate(self.satisfied + self.basically_satisfied, self.visits)

    @property
    def unreachable_rate(self) -> float | None:
        return _rate(self.unreachable, self.visits + self.unreachable)

    @property
    def rehandle_rate(self) -> float | None:
        return _rate(self.rehandled, self.reached_feedback)

    def to_json(self) -> dict[str, Any]:
        return {
            **attrs.asdict(self),
            "visits": self.visits,
            "coverage": self.coverage,
            "satisfaction_rate": self.satisfaction_rate,
            "unreachable_rate": self.unreachable_rate,
            "rehandle_rate": self.rehandle_rate,
        }


@attrs.frozen
class WeekFigures:
    """Seven local days from ``start`` (the last week of a period may be shorter)."""

    start: dt.date
    days: int
    intake: int
    met: int
    late: int

    @property
    def on_time_rate(self) -> float | None:
        return _rate(self.met, self.met + self.late)

    def to_json(self) -> dict[str, Any]:
        return {
            "start": self.start.isoformat(),
            "days": self.days,
            "intake": self.intake,
            "met": self.met,
            "late": self.late,
            "on_time_rate": self.on_time_rate,
        }


@attrs.frozen
class Hotspot:
    """A category, respondent or product whose count rose significantly."""

    kind: str
    value: str
    count: int
    previous: int
    p_value: float

    @property
    def ratio(self) -> float | None:
        return round(self.count / self.previous, 2) if self.previous else None

    def to_json(self) -> dict[str, Any]:
        return {**attrs.asdict(self), "ratio": self.ratio}


@attrs.frozen
class RepeatComplainant:
    """A complainant with several cases in the period; ``contact`` is masked, ``key`` a
    stable pseudonym (SHA-256 prefix of the contact)."""

    contact: str
    key: str
    cases: int


@attrs.frozen
class Summary:
    """The figures compared with the previous period."""

    start: dt.date
    end: dt.date
    intake_total: int
    accepted: int
    not_accepted: int
    completed: int
    completion_rate: float | None
    on_time_rate: float | None
    satisfaction_rate: float | None
    escalated: int
    open_at_end: int
    overdue_open: int

    def to_json(self) -> dict[str, Any]:
        out = attrs.asdict(self)
        out["start"], out["end"] = self.start.isoformat(), self.end.isoformat()
        return out


COMPARED = (
    "intake_total",
    "accepted",
    "not_accepted",
    "completed",
    "completion_rate",
    "on_time_rate",
    "satisfaction_rate",
    "escalated",
    "open_at_end",
    "overdue_open",
)


@attrs.frozen
class Report:
    """A period report. Counts are ints; rates are fractions (0..1) rounded to 4 places, or
    ``None`` when undefined (nothing to divide by). ``*_at`` are aware UTC datetimes."""

    start: dt.date
    end: dt.date
    timezone: str
    workflow: str | None
    department: str | None
    generated_at: dt.datetime
    as_of: dt.datetime
    intake_total: int
    by_channel: tuple[tuple[str, int], ...]
    by_category: tuple[tuple[str, int], ...]
    accepted: int
    not_accepted: int
    open_at_start: int
    completed: int
    completed_by_state: tuple[tuple[str, int], ...]
    intake_completed: int
    clocks: tuple[ClockFigures, ...]
    handling: Durations
    escalated: int
    escalated_cases: int
    escalation_reasons: tuple[tuple[str, int], ...]
    extensions: int
    extensions_by_clock: tuple[tuple[str, int], ...]
    followup: FollowUpFigures
    open_at_end: int
    overdue_open: int
    weeks: tuple[WeekFigures, ...]
    previous: Summary
    hotspots: tuple[Hotspot, ...]
    repeat_complainants: tuple[RepeatComplainant, ...]
    repeat_complainant_count: int
    rule: HotspotRule = HotspotRule()

    @property
    def acceptance_rate(self) -> float | None:
        return _rate(self.accepted, self.accepted + self.not_accepted)

    @property
    def workload(self) -> int:
        return self.open_at_start + self.intake_total

    @property
    def completion_rate(self) -> float | None:
        return _rate(self.completed, self.workload)

    @property
    def intake_completion_rate(self) -> float | None:
        return _rate(self.intake_completed, self.intake_total)

    @property
    def handling_clocks(self) -> tuple[ClockFigures, ...]:
        """The clocks of case handling (follow-up visit clocks ``followup:*`` excluded)."""
        return tuple(c for c in self.clocks if not c.clock.startswith(VISIT_CLOCK_PREFIX))

    @property
    def on_time_rate(self) -> float | None:
        """Met / judged over the handling clocks (see :attr:`handling_clocks`)."""
        clocks = self.handling_clocks
        return _rate(sum(c.met for c in clocks), sum(c.judged for c in clocks))

    @property
    def satisfaction_rate(self) -> float | None:
        return self.followup.satisfaction_rate

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1

    def summary(self) -> Summary:
        return Summary(
            start=self.start,
            end=self.end,
            intake_total=self.intake_total,
            accepted=self.accepted,
            not_accepted=self.not_accepted,
            completed=self.completed,
            completion_rate=self.completion_rate,
            on_time_rate=self.on_time_rate,
            satisfaction_rate=self.satisfaction_rate,
            escalated=self.escalated,
            open_at_end=self.open_at_end,
            overdue_open=self.overdue_open,
        )

    def changes(self) -> dict[str, dict[str, Any]]:
        """Each compared figure now and in the previous period; ``delta`` is the difference
        (percentage points ×0.01 for rates), ``relative`` the relative change of counts."""
        now, before = self.summary(), self.previous
        out: dict[str, dict[str, Any]] = {}
        for key in COMPARED:
            a, b = getattr(now, key), getattr(before, key)
            delta = None if a is None or b is None else round(a - b, 4)
            relative = None
            if isinstance(a, int) and isinstance(b, int) and b:
                relative = round((a - b) / b, 4)
            out[key] = {"current": a, "previous": b, "delta": delta, "relative": relative}
        return out

    def to_json(self) -> dict[str, Any]:
        return {
            "period": {
                "start": self.start.isoformat(),
                "end": self.end.isoformat(),
                "days": self.days,
                "timezone": self.timezone,
                "workflow": self.workflow,
                "department": self.department,
                "as_of": self.as_of.isoformat(),
                "generated_at": self.generated_at.isoformat(),
            },
            "intake_total": self.intake_total,
            "by_channel": dict(self.by_channel),
            "by_category": dict(self.by_category),
            "accepted": self.accepted,
            "not_accepted": self.not_accepted,
            "acceptance_rate": self.acceptance_rate,
            "open_at_start": self.open_at_start,
            "workload": self.workload,
            "completed": self.completed,
            "completed_by_state": dict(self.completed_by_state),
            "completion_rate": self.completion_rate,
            "intake_completed": self.intake_completed,
            "intake_completion_rate": self.intake_completion_rate,
            "on_time_rate": self.on_time_rate,
            "clocks": {c.clock: c.to_json() for c in self.clocks},
            "handling_time": attrs.asdict(self.handling),
            "escalated": self.escalated,
            "escalated_cases": self.escalated_cases,
            "escalation_reasons": dict(self.escalation_reasons),
            "extensions": self.extensions,
            "extensions_by_clock": dict(self.extensions_by_clock),
            "followup": self.followup.to_json(),
            "satisfaction_rate": self.satisfaction_rate,
            "open_at_end": self.open_at_end,
            "overdue_open": self.overdue_open,
            "weeks": [w.to_json() for w in self.weeks],
            "previous": self.previous.to_json(),
            "changes": self.changes(),
            "hotspots": [h.to_json() for h in self.hotspots],
            "repeat_complainants": [attrs.asdict(r) for r in self.repeat_complainants],
            "repeat_complainant_count": self.repeat_complainant_count,
            "hotspot_rule": attrs.asdict(self.rule),
        }


# ---------------------------------------------------------------------------- the hook payload


def _instant(value: Any) -> dt.datetime:
    if isinstance(value, str):
        return dt.datetime.fromisoformat(value)
    assert isinstance(value, dt.datetime)
    return value


@attrs.frozen(kw_only=True)
class RiskHotspot:
    """Payload of a ``risk.hotspot`` notification: one finding of a period report.

    ``kind`` is ``category``, ``respondent``, ``product`` or ``complainant`` (then ``value`` is
    the masked contact and ``key`` its pseudonym). Not tied to one case, hence not a
    :class:`casework.hooks.Payload`.
    """

    topic: ClassVar[str] = RISK_HOTSPOT
    idempotency_key: str
    period_start: str
    period_end: str
    kind: str
    value: str
    count: int
    previous: int | None = None
    ratio: float | None = None
    p_value: float | None = None
    key: str | None = None
    workflow: str | None = None
    department: str | None = None
    occurred_at: dt.datetime = attrs.field(converter=_instant)

    def to_json(self) -> dict[str, Any]:
        out = attrs.asdict(self)
        out["occurred_at"] = self.occurred_at.isoformat()
        return out


def risk_payloads(report: Report) -> list[RiskHotspot]:
    """The ``risk.hotspot`` notifications a report owes (hot spots and repeat complainants)."""
    scope = "".join(f":{s}" for s in (report.workflow, report.department) if s)
    period = f"{report.start.isoformat()}..{report.end.isoformat()}{scope}"

    def key(kind: str, value: str) -> str:
        k = f"risk:{period}:{kind}:{value}"
        if len(k) > 200:
            k = f"risk:{period}:{kind}:{hashlib.sha256(value.encode()).hexdigest()[:16]}"
        return k

    common: dict[str, Any] = {
        "period_start": report.start.isoformat(),
        "period_end": report.end.isoformat(),
        "workflow": report.workflow,
        "department": report.department,
        "occurred_at": report.as_of,
    }
    out = [
        RiskHotspot(
            idempotency_key=key(h.kind, h.value),
            kind=h.kind,
            value=h.value,
            count=h.count,
            previous=h.previous,
            ratio=h.ratio,
            p_value=h.p_value,
            **common,
        )
        for h in report.hotspots
    ]
    out += [
        RiskHotspot(
            idempotency_key=key("complainant", r.key),
            kind="complainant",
            value=r.contact,
            key=r.key,
            count=r.cases,
            **common,
        )
        for r in report.repeat_complainants
    ]
    return out


def queue_risk_alerts(engine: Engine, report: Report) -> int:
    """Queue one ``risk.hotspot`` notification per finding of ``report`` in the outbox (one
    transaction; idempotent: a finding already queued for the same period and scope is not
    queued again). Returns how many findings the report has."""
    payloads = risk_payloads(report)
    if not payloads:
        return 0
    now = engine.clock.now()

    def work(conn: sa.Connection) -> None:
        for p in payloads:
            q.insert_outbox(
                conn,
                engine.store.tables,
                key=p.idempotency_key,
                topic=p.topic,
                case_id=None,
                payload=p.to_json(),
                now=now,
            )

    engine.store.run(work)
    return len(payloads)


# ---------------------------------------------------------------------------- statistics


def binomial_upper_tail(k: int, n: int, p: float = 0.5) -> float:
    """``P(X >= k)`` for ``X ~ Binomial(n, p)``, summed in log space (exact to ~1e-15)."""
    if k <= 0:
        return 1.0
    if k > n:
        return 0.0
    lp, lq = math.log(p), math.log1p(-p)
    lgn = math.lgamma(n + 1)
    total = 0.0
    for i in range(k, n + 1):
        term = math.exp(lgn - math.lgamma(i + 1) - math.lgamma(n - i + 1) + i * lp + (n - i) * lq)
        total += term
        if i > n * p and term < total * 1e-17:
            break
    return min(1.0, total)


def _percentile_ranks(n: int, p: float) -> tuple[int, int, float]:
    """1-based ranks around the ``p`` quantile and the interpolation weight."""
    pos = p * (n - 1)
    lo = math.floor(pos)
    return lo + 1, min(lo + 1, n - 1) + 1, pos - lo


def weighted_percentile(values: Sequence[tuple[int, int]], p: float) -> float:
    """The ``p`` quantile of sorted ``(value, count)`` pairs, as :func:`_percentile_ranks`."""
    n = sum(c for _, c in values)
    r1, r2, w = _percentile_ranks(n, p)
    cum: list[int] = []
    total = 0
    for _, c in values:
        total += c
        cum.append(total)
    v1 = values[bisect.bisect_left(cum, r1)][0]
    v2 = values[bisect.bisect_left(cum, r2)][0]
    return v1 + (v2 - v1) * w


# ---------------------------------------------------------------------------- SQL helpers


def _utc_offsets(
    tz: ZoneInfo, lo: dt.datetime, hi: dt.datetime
) -> tuple[int, list[tuple[dt.datetime, int]]]:
    """The zone's UTC offset (seconds) at ``lo`` and every change ``(instant, new offset)``
    in ``(lo, hi]``, found day by day and then to the second."""

    def off(at: dt.datetime) -> int:
        value = at.astimezone(tz).utcoffset()
        assert value is not None
        return int(value.total_seconds())

    first = off(lo)
    changes: list[tuple[dt.datetime, int]] = []
    prev_at, prev = lo, first
    day = dt.timedelta(days=1)
    at = lo
    while at < hi:
        at = min(at + day, hi)
        cur = off(at)
        if cur != prev:
            a, b = prev_at, at  # off(a) == prev, off(b) == cur
            while (b - a) > dt.timedelta(seconds=1):
                mid = a + (b - a) / 2
                mid = mid.replace(microsecond=0)
                if mid <= a:
                    break
                if off(mid) == prev:
                    a = mid
                else:
                    b = mid
            changes.append((b, cur))
        prev_at, prev = at, cur
    return first, changes


class _Sql:
    """Dialect-specific expressions, the report's scope, and execution."""

    def __init__(
        self,
        conn: sa.Connection,
        tables: Tables,
        workflow: str | None,
        department: str | None,
        tz: ZoneInfo,
        span: tuple[dt.datetime, dt.datetime],
    ) -> None:
        import sqlite3

        self.tz = tz
        self.span = span
        self._offsets: tuple[int, list[tuple[dt.datetime, int]]] | None = None
        self.conn = conn
        self.t = tables
        self.pg = conn.dialect.name == "postgresql"
        self.unixepoch = sqlite3.sqlite_version_info >= (3, 38, 0)
        c = tables.cases.c
        self._distinct: dict[tuple[Any, ...], list[Any]] = {}
        self.scope: list[sa.ColumnElement[bool]] = []
        if workflow is not None:
            self.scope.append(c.workflow == workflow)
        if department is not None:
            self.scope.append(c.department == department)

    def epoch(self, col: Any) -> sa.ColumnElement[int]:
        """Whole seconds since 1970 (fractions dropped, the same on both backends)."""
        if self.pg:
            return sa.cast(sa.func.floor(sa.extract("epoch", col)), sa.BigInteger)
        if self.unixepoch:
            return sa.func.unixepoch(col)
        return sa.cast(sa.func.strftime("%s", col), sa.Integer)

    def day_number(self, col: Any) -> sa.ColumnElement[int]:
        """The local date of an instant column as days since 1970-01-01, in the report's
        zone (its offset changes in the span handled exactly)."""
        if self.pg:
            local = sa.extract("epoch", sa.func.timezone(str(self.tz), col))
            return sa.cast(sa.func.floor(local / 86_400), sa.BigInteger)
        return self.day_number_of_epoch(self.epoch(col))

    def day_number_of_epoch(self, seconds: Any) -> sa.ColumnElement[int]:
        """:meth:`day_number` of an instant given as whole seconds since 1970 (SQLite)."""
        first, changes = self.offsets()
        offset: Any = first
        if changes:
            whens = []
            prev = first
            for at, new in changes:  # ``at`` is a whole second
                whens.append((seconds < int(at.timestamp()), prev))
                prev = new
            offset = sa.case(*whens, else_=prev)
        return (seconds + offset) // 86_400  # type: ignore[no-any-return]

    def offsets(self) -> tuple[int, list[tuple[dt.datetime, int]]]:
        if self._offsets is None:
            self._offsets = _utc_offsets(self.tz, *self.span)
        return self._offsets

    def distinct(
        self, table: sa.Table, name: str, *also: sa.ColumnElement[bool], **equal: Any
    ) -> list[Any]:
        """The distinct non-null values of column ``name`` among the rows whose columns equal
        ``equal`` (and match ``also``), in order: one index seek each (a loose index scan,
        which neither SQLite nor PostgreSQL does by itself), for a column that follows the
        ``equal`` columns in an index. Unscoped (a superset of the scoped values) and cached
        for the report."""
        terms = tuple(str(w.compile(compile_kwargs={"literal_binds": True})) for w in also)
        key = (table.name, name, tuple(sorted(equal.items())), terms)
        found = self._distinct.get(key)
        if found is None:
            col = table.c[name]
            where = [*(table.c[k] == v for k, v in equal.items()), *also]
            found = []
            value = self.conn.execute(sa.select(sa.func.min(col)).where(*where)).scalar()
            while value is not None:
                found.append(value)
                value = self.conn.execute(
                    sa.select(sa.func.min(col)).where(*where, col > value)
                ).scalar()
            self._distinct[key] = found
        return found

    def received_filter(self, lo: Any, hi: Any) -> list[sa.ColumnElement[bool]]:
        """Cases received in ``[lo, hi)``, for a GROUP BY served by another index read in
        order. On SQLite the range is wrapped so the planner cannot pick the receipt index
        instead (and then sort the period's rows): without statistics it would."""
        c = self.t.cases.c
        terms = [c.received_at >= lo, c.received_at < hi]
        if self.pg:
            return terms
        return [sa.func.coalesce(term, sa.false()) for term in terms]

    def repeated(
        self, query: sa.Select[Any], keys: Sequence[str]
    ) -> Callable[[Mapping[str, Any]], list[Any]]:
        """``run(values)``: the rows of ``query`` for new values of its bind parameters
        ``keys``. On SQLite straight on the DBAPI cursor, compiled once (SQLAlchemy's
        per-execution overhead would cost more than the many small queries); the values
        come back raw (counts, day numbers, texts)."""
        if self.pg:
            return lambda values: [tuple(r) for r in self.conn.execute(query, dict(values))]
        prepared = Prepared(query, self.conn.dialect, keys)
        cursor = FAST.cursor(self.conn)

        def run(values: Mapping[str, Any]) -> list[Any]:
            cursor.execute(prepared.sql, prepared.params(values))
            return list(cursor.fetchall())

        return run

    def scoped(self, query: sa.Select[Any], case_id: Any) -> sa.Select[Any]:
        """Restrict a query over another table to cases in scope (a join only when needed)."""
        if not self.scope:
            return query
        c = self.t.cases.c
        return query.join(self.t.cases, c.id == case_id).where(*self.scope)

    def rows(self, query: sa.Select[Any]) -> list[Any]:
        return list(self.conn.execute(query))

    def count(self, *where: Any) -> int:
        """Cases in scope matching ``where``."""
        query = sa.select(sa.func.count()).select_from(self.t.cases).where(*where, *self.scope)
        return int(self.conn.execute(query).scalar_one())

    def count_in(self, table: sa.Table, *where: Any) -> int:
        """Rows of ``table`` (which has a ``case_id``) whose case is in scope."""
        query = sa.select(sa.func.count()).select_from(table).where(*where)
        return int(self.conn.execute(self.scoped(query, table.c.case_id)).scalar_one())


_EPOCH_DATE = dt.date(1970, 1, 1)
_EPOCH_DAY = _EPOCH_DATE.toordinal()


def _count_pairs(rows: Iterable[Any]) -> tuple[tuple[str, int], ...]:
    acc: dict[str, int] = {}
    for key, n in rows:
        k = UNSET if key is None or key == "" else str(key)
        acc[k] = acc.get(k, 0) + int(n)
    return tuple(sorted(acc.items(), key=lambda kv: (-kv[1], kv[0])))


# ---------------------------------------------------------------------------- the figures
#
# Every query is shaped for the report's indexes (schema.py, migration 0002; docs/reporting.md).
# A large period is never sorted: a GROUP BY becomes one index seek per value (the values
# found by a loose index scan, :meth:`_Sql.distinct`) or a scan in index order; the completed
# cases are grouped one local day at a time on SQLite (small sorts), and their order statistics
# are selected inside a window the day-gap counts bound. Local days are computed once per
# boundary in Python, not per row in SQL, wherever the grouping allows.


class _Builder:
    def __init__(
        self,
        engine: Engine,
        conn: sa.Connection,
        sql: _Sql,
        rule: HotspotRule,
        earliest: dt.datetime | None,
        now: dt.datetime,
    ) -> None:
        self.engine = engine
        self.conn = conn
        self.sql = sql
        self.t = engine.store.tables
        self.rule = rule
        self.earliest = earliest
        self.now = now
        self._calendars: dict[tuple[str, int], Calendar | None] = {}

    # --------------------------------------------------------------- intake

    def intake_groups(self, lo: dt.datetime, hi: dt.datetime) -> list[tuple[str, str | None, int]]:
        """``(channel, category, count)`` of the cases received in ``[lo, hi)``: one seek of
        the channel index per pair present in the table."""
        cases = self.t.cases
        c = cases.c
        sql = self.sql
        channels = sql.distinct(cases, "channel")
        if not channels:
            return []
        received = (c.received_at >= lo, c.received_at < hi, *sql.scope)
        categories = sorted(
            {v for ch in channels for v in sql.distinct(cases, "category", channel=ch)}
        )
        n = sa.func.count()
        out: list[tuple[str, str | None, int]] = []
        if categories:
            out += [
                (str(ch), str(cat), int(k))
                for ch, cat, k in sql.rows(
                    sa.select(c.channel, c.category, n)
                    .where(c.channel.in_(channels), c.category.in_(categories), *received)
                    .group_by(c.channel, c.category)
                )
            ]
        out += [
            (str(ch), None, int(k))
            for ch, k in sql.rows(
                sa.select(c.channel, n)
                .where(c.channel.in_(channels), c.category.is_(None), *received)
                .group_by(c.channel)
            )
        ]
        return out

    def intake_flags(self, lo: dt.datetime, hi: dt.datetime) -> tuple[int, int, int]:
        """(accepted, not accepted, closed) by ``hi`` of the cases received in ``[lo, hi)``:
        one pass over the receipt index, and a seek of the state index for the few refused."""
        cases = self.t.cases
        c = cases.c
        received = (c.received_at >= lo, c.received_at < hi, *self.sql.scope)

        def by_hi(condition: sa.ColumnElement[bool]) -> sa.ColumnElement[int]:
            return sa.func.count(sa.case((condition, 1)))

        accepted, closed = self.conn.execute(
            sa.select(by_hi(c.accepted_at < hi), by_hi(c.closed_at < hi)).where(*received)
        ).one()
        workflows = self.sql.distinct(cases, "workflow")
        rejected = self.sql.count(
            c.workflow.in_(workflows),
            c.state.in_(NOT_ACCEPTED_STATES),
            c.closed_at < hi,
            *received,
        )
        return int(accepted), rejected, int(closed)

    def open_at(self, at: dt.datetime) -> int:
        """Cases received before ``at`` and not closed before it. Two exact formulas; the one
        whose index ranges are shorter: near the start of the history, received before ``at``
        minus closed before it; later, those still open plus those closed at or after it."""
        c = self.t.cases.c
        count = self.sql.count
        before = c.received_at < at
        if self.earliest is None or at - self.earliest <= self.now - at:
            return count(before) - count(c.closed_at < at, before)
        # Read by closing time: the receipt bound checked in the closing-time index entries.
        unindexed = self.sql.received_filter(self.earliest, at)[1]
        return count(c.closed_at.is_(None), before) + count(c.closed_at >= at, unindexed)

    # --------------------------------------------------------------- completion

    def completion(
        self, lo: dt.datetime, hi: dt.datetime, days: Sequence[tuple[int, dt.datetime]]
    ) -> tuple[int, tuple[tuple[str, int], ...], Durations]:
        """Completed cases in ``[lo, hi)``; ``days`` are the period's local days as (day
        number, local midnight in UTC), followed by ``(_, hi)``."""
        cases = self.t.cases
        c = cases.c
        sql = self.sql
        in_period = (c.closed_at >= lo, c.closed_at < hi, *sql.scope)
        n_rows = sa.func.count()
        by_state_rows: list[tuple[str, int]] = []
        workflows = sql.distinct(cases, "workflow")
        for wf in workflows:
            states = sql.distinct(cases, "state", workflow=wf)
            by_state_rows += [
                (str(s), int(k))
                for s, k in sql.rows(
                    sa.select(c.state, n_rows)
                    .where(c.workflow == wf, c.state.in_(states), *in_period)
                    .group_by(c.state)
                )
            ]
        by_state = _count_pairs(by_state_rows)
        n = sum(k for _, k in by_state)
        if n == 0:
            return 0, by_state, Durations()
        secs = sql.epoch(c.closed_at) - sql.epoch(c.received_at)
        groups = self.day_pairs(secs, days, several_workflows=len(workflows) > 1)
        if sum(g[5] for g in groups) != n:
            raise RuntimeError("the completed cases, counted twice, differ: not one snapshot")
        # Working days need the calendar, which lives in Python: each (received, closed)
        # pair of local dates is weighed by its count.
        wd: dict[int, int] = {}
        by_day: dict[int, int] = {}
        total_secs = 0
        if groups:
            base = min(min(g[2], g[3]) for g in groups)
            top = max(max(g[2], g[3]) for g in groups)
            by_calendar: dict[Any, list[int]] = {}  # calendar -> cumulative working days
            cumulative: dict[tuple[str, int], list[int]] = {}  # (workflow, version) -> the same
            for workflow, version, received_on, closed_on, elapsed, k, k_secs in groups:
                cum = cumulative.get((workflow, version))
                if cum is None:
                    cal = self.calendar(workflow, version)
                    if cal not in by_calendar:
                        by_calendar[cal] = _working_days_before(cal, base, top)
                    cum = cumulative[workflow, version] = by_calendar[cal]
                w = cum[closed_on - base] - cum[received_on - base]
                wd[w] = wd.get(w, 0) + k
                by_day[elapsed] = by_day.get(elapsed, 0) + k
                total_secs += k_secs
        wd_sorted = sorted(wd.items())
        ranks: set[int] = set()
        for p in (0.5, 0.9):
            r1, r2, _ = _percentile_ranks(n, p)
            ranks.update((r1, r2))
        at_rank = self.order_statistics(secs, in_period, sorted(ranks), by_day)

        def pct(p: float) -> float:
            r1, r2, w = _percentile_ranks(n, p)
            return at_rank[r1] + (at_rank[r2] - at_rank[r1]) * w

        hours = 3600.0
        return (
            n,
            by_state,
            Durations(
                count=n,
                mean_hours=round(total_secs / n / hours, 2),
                median_hours=round(pct(0.5) / hours, 2),
                p90_hours=round(pct(0.9) / hours, 2),
                mean_working_days=round(sum(k * v for k, v in wd_sorted) / n, 2),
                median_working_days=round(weighted_percentile(wd_sorted, 0.5), 2),
                p90_working_days=round(weighted_percentile(wd_sorted, 0.9), 2),
            ),
        )

    def day_pairs(
        self,
        secs: sa.ColumnElement[int],
        days: Sequence[tuple[int, dt.datetime]],
        *,
        several_workflows: bool,
    ) -> list[tuple[str, int, int, int, int, int, int]]:
        """The completed cases grouped by workflow version, local dates received and closed,
        and whole days elapsed (``secs // 86400``, truncated alike on both backends), as
        ``(workflow, version, received on, closed on, days elapsed, count, seconds)``.

        SQLite sorts one local day of closures at a time (a sort of the whole period would
        cost more than everything else), each instant parsed once in a subquery that is kept
        apart (``LIMIT -1``); PostgreSQL hashes the period in one query."""
        c = self.t.cases.c
        sql = self.sql
        workflows = sql.distinct(self.t.cases, "workflow")
        single = "" if several_workflows else str(workflows[0])
        if sql.pg:
            keys: list[Any] = [
                c.workflow_version,
                sql.day_number(c.received_at),
                sql.day_number(c.closed_at),
                secs // 86_400,
            ]
            if several_workflows:
                keys.insert(0, c.workflow)
            lo, hi = days[0][1], days[-1][1]
            rows = sql.rows(
                sa.select(*keys, sa.func.count(), sa.func.sum(secs))
                .where(c.closed_at >= lo, c.closed_at < hi, *sql.scope)
                .group_by(*keys)
            )
            if several_workflows:
                return [(str(r[0]), *(int(x) for x in r[1:])) for r in rows]  # type: ignore[misc]
            return [(single, *(int(x) for x in r)) for r in rows]  # type: ignore[misc]
        a: sa.BindParameter[dt.datetime] = sa.bindparam("a")
        b: sa.BindParameter[dt.datetime] = sa.bindparam("b")
        inner = (
            sa.select(
                c.workflow.label("wf"),
                c.workflow_version.label("v"),
                sql.epoch(c.received_at).label("r"),
                sql.epoch(c.closed_at).label("c"),
            )
            .where(c.closed_at >= a, c.closed_at < b, *sql.scope)
            .limit(-1)
            .subquery()
        )
        x = inner.c
        elapsed = x.c - x.r
        keys = [x.v, sql.day_number_of_epoch(x.r), elapsed // 86_400]
        if several_workflows:
            keys.insert(0, x.wf)
        run = sql.repeated(
            sa.select(*keys, sa.func.count(), sa.func.sum(elapsed)).group_by(*keys), ("a", "b")
        )
        out: list[tuple[str, int, int, int, int, int, int]] = []
        for (day, start), (_, end) in itertools.pairwise(days):
            if several_workflows:
                out += [
                    (wf, v, r, day, e, k, t) for wf, v, r, e, k, t in run({"a": start, "b": end})
                ]
            else:
                out += [
                    (single, v, r, day, e, k, t) for v, r, e, k, t in run({"a": start, "b": end})
                ]
        return out

    def order_statistics(
        self,
        secs: sa.ColumnElement[int],
        where: Sequence[Any],
        ranks: Sequence[int],
        by_day: Mapping[int, int],
    ) -> dict[int, int]:
        """The ``r``-th smallest ``secs`` over ``where`` for each rank ``r`` (1-based).

        ``by_day`` counts the rows by whole days elapsed (``secs / 86400``, truncated), so
        each rank's day and the number of rows in earlier days are known: one pass ranks only
        the rows of the one or two days the ranks fall in (a window function over a few
        percent of the rows, not a sort of the period)."""
        ordered = sorted(by_day.items())
        cum = list(itertools.accumulate(k for _, k in ordered))
        wanted = {r: ordered[bisect.bisect_left(cum, r)][0] for r in ranks}  # rank -> its day
        chosen = sorted(set(wanted.values()))
        before = {day: total - by_day[day] for (day, _), total in zip(ordered, cum, strict=True)}
        # Rank inside the chosen days taken together (they are disjoint and in order).
        offset, taken = {}, 0
        for day in chosen:
            offset[day] = taken
            taken += by_day[day]
        position = {r: offset[day] + r - before[day] for r, day in wanted.items()}
        inner = sa.select(secs.label("s")).where(*where, (secs // 86_400).in_(chosen)).subquery()
        numbered = sa.select(
            inner.c.s, sa.func.row_number().over(order_by=inner.c.s).label("rn")
        ).subquery()
        found = {
            int(rn): int(v)
            for v, rn in self.conn.execute(
                sa.select(numbered.c.s, numbered.c.rn).where(
                    numbered.c.rn.in_(sorted(set(position.values())))
                )
            )
        }
        return {r: found[pos] for r, pos in position.items()}

    def calendar(self, workflow: str, version: int) -> Calendar | None:
        key = (workflow, int(version))
        if key not in self._calendars:
            try:
                spec = self.engine.workflows.get(workflow, int(version))
                self._calendars[key] = self.engine.clocks.calendar_for(spec, spec.calendar)
            except WorkflowNotFound:
                self._calendars[key] = None
        return self._calendars[key]

    # --------------------------------------------------------------- clocks

    def with_status(self, status: str) -> list[sa.ColumnElement[bool]]:
        """Clock rows with ``status`` (the leading columns of both deadline indexes)."""
        d = self.t.deadlines.c
        return [d.kind == "clock", d.status == status]

    def verdict_counter(
        self, status: str, column: sa.ColumnElement[Any]
    ) -> Callable[[Mapping[str, Any]], list[Any]]:
        """``run({"lo": .., "hi": ..})``: ``(clock, count)`` of the clock rows with ``status``
        whose ``column`` falls in ``[lo, hi)``: one index seek per clock name."""
        deadlines = self.t.deadlines
        d = deadlines.c
        rows = self.with_status(status)
        names = self.sql.distinct(deadlines, "clock", *rows)
        lo: sa.BindParameter[dt.datetime] = sa.bindparam("lo")
        hi: sa.BindParameter[dt.datetime] = sa.bindparam("hi")
        query = (
            sa.select(d.clock, sa.func.count())
            .where(
                *rows,
                # Literal binds, not an expanding IN: the statement is compiled once.
                d.clock.in_([sa.literal(name) for name in names] or [sa.null()]),
                column >= lo,
                column < hi,
            )
            .group_by(d.clock)
        )
        return self.sql.repeated(self.sql.scoped(query, d.case_id), ("lo", "hi"))

    def verdicts(
        self, status: str, column: sa.ColumnElement[Any], lo: dt.datetime, hi: dt.datetime
    ) -> dict[str, int]:
        """:meth:`verdict_counter` for one range, as a dict."""
        if hi <= lo:
            return {}
        run = self.verdict_counter(status, column)
        return {str(k): int(n) for k, n in run({"lo": lo, "hi": hi})}

    def clocks(self, lo: dt.datetime, hi: dt.datetime, as_of: dt.datetime) -> list[ClockFigures]:
        """Each clock row judged in ``[lo, hi)``: met at its stop, late at its due time."""
        d = self.t.deadlines.c
        met = self.verdicts("met", d.stopped_at, lo, hi)
        late = self.verdicts("breached", d.due_at, lo, hi)
        overdue = self.verdicts("running", d.due_at, lo, as_of)
        names = sorted(set(met) | set(late) | set(overdue))
        return [ClockFigures(k, met.get(k, 0), late.get(k, 0), overdue.get(k, 0)) for k in names]

    def weekly(
        self, bounds: Sequence[dt.datetime], as_of: dt.datetime
    ) -> tuple[list[tuple[int, int, int]], list[ClockFigures]]:
        """Week by week (``bounds[i]`` to ``bounds[i + 1]``): the intake, and each clock's
        verdicts (:meth:`clocks`), by index seeks per clock name; the period's clock figures
        are their sums. Returns ``(intake, met, late)`` per week over the handling clocks
        (not the follow-up visits' clocks), and the period's figures per clock."""
        deadlines = self.t.deadlines
        d, c = deadlines.c, self.t.cases.c
        sql = self.sql
        lo: sa.BindParameter[dt.datetime] = sa.bindparam("lo")
        hi: sa.BindParameter[dt.datetime] = sa.bindparam("hi")
        intake = sql.repeated(
            sa.select(sa.func.count()).where(c.received_at >= lo, c.received_at < hi, *sql.scope),
            ("lo", "hi"),
        )

        kinds = (
            ("met", self.verdict_counter("met", d.stopped_at)),
            ("late", self.verdict_counter("breached", d.due_at)),
            ("overdue", self.verdict_counter("running", d.due_at)),
        )
        totals: dict[str, dict[str, int]] = {kind: {} for kind, _ in kinds}
        weeks: list[tuple[int, int, int]] = []
        for start, end in itertools.pairwise(bounds):
            handling = {"met": 0, "late": 0, "overdue": 0}
            for kind, run in kinds:
                until = min(end, as_of) if kind == "overdue" else end
                if until <= start:
                    continue
                for name, k in run({"lo": start, "hi": until}):
                    totals[kind][name] = totals[kind].get(name, 0) + int(k)
                    if not str(name).startswith(VISIT_CLOCK_PREFIX):
                        handling[kind] += int(k)
            received = int(intake({"lo": start, "hi": end})[0][0])
            weeks.append((received, handling["met"], handling["late"] + handling["overdue"]))
        met, late, overdue = totals["met"], totals["late"], totals["overdue"]
        names = sorted(set(met) | set(late) | set(overdue))
        clocks = [
            ClockFigures(str(k), met.get(k, 0), late.get(k, 0), overdue.get(k, 0)) for k in names
        ]
        return weeks, clocks

    def overdue_open(self, at: dt.datetime) -> int:
        """Open cases with a clock past due at ``at``: candidate clock rows first (index seeks
        per status and clock on the stop time, filtered inside the index), then whether their
        case was open."""
        deadlines = self.t.deadlines
        d, c = deadlines.c, self.t.cases.c
        names = sorted(
            {
                name
                for status in OVERDUE_STATUSES
                for name in self.sql.distinct(deadlines, "clock", *self.with_status(status))
            }
        )
        if not names:
            return 0

        def rows_where(stopped: sa.ColumnElement[bool]) -> sa.Select[Any]:
            return sa.select(d.case_id).where(
                d.kind == "clock",
                # A met clock stopped before it was due; a paused one is on hold.
                d.status.in_(OVERDUE_STATUSES),
                d.clock.in_(names),
                stopped,
                d.due_at < at,
                d.started_at < at,
            )

        # Clocks not stopped by ``at``: two seeks of the stop index (still running; stopped
        # later). Their cases are then read in id order, each once.
        candidates = sa.union_all(
            rows_where(d.stopped_at.is_(None)), rows_where(d.stopped_at >= at)
        )
        query = sa.select(sa.func.count()).where(
            c.id.in_(candidates),
            c.received_at < at,
            sa.or_(c.closed_at.is_(None), c.closed_at >= at),
            *self.sql.scope,
        )
        return int(self.conn.execute(query).scalar_one())

    # --------------------------------------------------------------- events

    def escalations(
        self, lo: dt.datetime, hi: dt.datetime, *, detail: bool
    ) -> tuple[int, int, tuple[tuple[str, int], ...]]:
        e = self.t.events.c
        where = [
            e.kind == "transition",
            e.trigger == "escalate",
            e.occurred_at >= lo,
            e.occurred_at < hi,
        ]
        if not detail:
            return self.sql.count_in(self.t.events, *where), 0, ()
        # "clock:<name>" when the event names a clock (NULL otherwise), else the reason.
        reason = sa.func.coalesce(
            sa.literal("clock:") + e.data["clock"].as_string(),
            e.data["reason"].as_string(),
            "",
        ).label("reason")
        rows = self.sql.rows(
            self.sql.scoped(
                sa.select(reason, sa.func.count().label("n")).where(*where).group_by(reason),
                e.case_id,
            )
        )
        cases = self.conn.execute(
            self.sql.scoped(
                sa.select(sa.func.count(sa.distinct(e.case_id))).where(*where), e.case_id
            )
        ).scalar_one()
        reasons = _count_pairs((r.reason or UNSET, r.n) for r in rows)
        return sum(n for _, n in reasons), int(cases), reasons

    def extensions(self, lo: dt.datetime, hi: dt.datetime) -> tuple[tuple[str, int], ...]:
        e = self.t.events.c
        clock = e.data["clock"].as_string().label("clock")
        rows = self.sql.rows(
            self.sql.scoped(
                sa.select(clock, sa.func.count())
                .where(e.kind == "extension", e.occurred_at >= lo, e.occurred_at < hi)
                .group_by(clock),
                e.case_id,
            )
        )
        return _count_pairs((r[0], r[1]) for r in rows)

    # --------------------------------------------------------------- follow-up

    def visits(self, lo: dt.datetime, hi: dt.datetime) -> dict[str, int]:
        """Visit outcomes recorded in ``[lo, hi)``: one index seek per outcome."""
        followups = self.t.followups
        f = followups.c
        outcomes = self.sql.distinct(followups, "outcome")
        if not outcomes:
            return {}
        rows = self.sql.rows(
            self.sql.scoped(
                sa.select(f.outcome, sa.func.count())
                .where(f.outcome.in_(outcomes), f.recorded_at >= lo, f.recorded_at < hi)
                .group_by(f.outcome),
                f.case_id,
            )
        )
        return {str(k): int(n) for k, n in rows}

    def followup(self, lo: dt.datetime, hi: dt.datetime, *, detail: bool) -> FollowUpFigures:
        counts = self.visits(lo, hi)
        reached = visited = rehandled = 0
        if detail:
            reached, visited, rehandled = self.feedback_cases(lo, hi)
        return FollowUpFigures(
            reached_feedback=reached,
            visited=visited,
            rehandled=rehandled,
            satisfied=counts.get("satisfied", 0),
            basically_satisfied=counts.get("basically_satisfied", 0),
            dissatisfied=counts.get("dissatisfied", 0),
            unreachable=counts.get(UNREACHABLE, 0),
        )

    def feedback_cases(self, lo: dt.datetime, hi: dt.datetime) -> tuple[int, int, int]:
        """Cases that reached feedback in ``[lo, hi)``: how many, how many have a completed
        visit, how many were re-handled. With one feedback state and one trigger leading
        there, the events index yields the cases in order, so nothing is sorted."""
        events = self.t.events
        e, c, f = events.c, self.t.cases.c, self.t.followups.c
        states, triggers = self.feedback_transitions()
        if not triggers:  # no policy: any transition into the feedback states
            triggers = self.sql.distinct(events, "trigger", kind="transition")
            if not triggers:
                return 0, 0, 0

        def reached_by(case_id: Any, trigger: Any, state: Any) -> list[Any]:
            where = [
                e.kind == "transition",
                e.trigger == trigger if isinstance(trigger, str) else e.trigger.in_(trigger),
                e.to_state == state if isinstance(state, str) else e.to_state.in_(state),
                e.occurred_at >= lo,
                e.occurred_at < hi,
            ]
            if case_id is not None:
                where.append(e.case_id == case_id)
            return where

        # One stream of case ids per (trigger, state), each in index order: SQLite merges
        # them (UNION) without sorting, then looks up each case's visits once.
        streams = [
            self.sql.scoped(sa.select(e.case_id).where(*reached_by(None, t, st)), e.case_id)
            for t in triggers
            for st in states
        ]
        ids: Any = sa.union(*streams) if len(streams) > 1 else streams[0].distinct()
        if not self.sql.pg:  # ask for the order the merge delivers anyway
            ids = ids.order_by(sa.literal_column("1"))
        fb = ids.subquery()
        # One seek per case (its few visits checked in the index entry), not one per outcome.
        has_visit = (
            sa.select(f.case_id)
            .where(f.case_id == fb.c.case_id, sa.func.coalesce(f.outcome, "").in_(VISIT_OUTCOMES))
            .exists()
        )
        row = self.conn.execute(
            sa.select(sa.func.count(), sa.func.count(sa.case((has_visit, 1)))).select_from(fb)
        ).one()
        reached, visited = int(row[0]), int(row[1])
        if not reached:
            return 0, 0, 0
        # Re-handled cases are few (a partial index holds them): start from them and look
        # for their feedback event.
        reached_it = sa.select(e.case_id).where(*reached_by(c.id, triggers, states)).exists()
        rehandled = self.sql.count(c.rehandle_count > 0, reached_it)
        return reached, visited, rehandled

    def feedback_transitions(self) -> tuple[list[str], list[str]]:
        """States a follow-up policy starts from (where its ``after`` triggers lead), and the
        triggers that lead there. Without any policy: ``feedback``, reached by any trigger."""
        states: set[str] = set()
        for spec in self.engine.workflows.all():
            for policy in spec.followups:
                for tr in spec.transitions:
                    if tr.trigger in policy.after_triggers:
                        states.add(tr.dest)
        if not states:
            return list(FEEDBACK_STATES), []
        triggers = {
            tr.trigger
            for spec in self.engine.workflows.all()
            for tr in spec.transitions
            if tr.dest in states
        }
        return sorted(states), sorted(triggers)

    # --------------------------------------------------------------- risk

    def rises(
        self, kind: str, prev_lo: dt.datetime, lo: dt.datetime, hi: dt.datetime
    ) -> list[Hotspot]:
        """Hot spots among respondents or products: both periods counted per value in one
        read of the value's index, in order (no sort, whatever statistics the planner has)."""
        c = self.t.cases.c
        col = c[kind]
        received = self.sql.received_filter(prev_lo, hi)
        in_period = sa.func.count(sa.case((c.received_at >= lo, 1)))
        rows = self.sql.rows(
            sa.select(col, in_period, sa.func.count() - in_period)
            .where(col.is_not(None), *received, *self.sql.scope)
            .group_by(col)
            .having(in_period >= self.rule.min_count)
        )
        current = {str(v): int(k) for v, k, _ in rows}
        previous = {str(v): int(k) for v, _, k in rows if k}
        return self.flag(kind, current, previous)

    def flag(
        self, kind: str, current: Mapping[str, int], previous: Mapping[str, int]
    ) -> list[Hotspot]:
        rule = self.rule
        found = []
        for value, n_cur in current.items():
            n_prev = previous.get(value, 0)
            if n_cur < rule.min_count or n_cur < rule.min_ratio * n_prev:
                continue
            p = binomial_upper_tail(n_cur, n_cur + n_prev)
            if p <= rule.alpha:
                found.append(Hotspot(kind, value, n_cur, n_prev, p))
        return found

    def repeat_complainants(
        self, lo: dt.datetime, hi: dt.datetime
    ) -> tuple[list[RepeatComplainant], int]:
        """The top complainants with several cases received in ``[lo, hi)``, and how many
        there are: the contact index read in order (no sort), ranked and counted in SQL."""
        c = self.t.cases.c
        n = sa.func.count()
        contact = c.complainant_contact
        groups = (
            sa.select(contact.label("contact"), n.label("n"))
            .where(
                contact.is_not(None),
                contact != "",
                *self.sql.received_filter(lo, hi),
                *self.sql.scope,
            )
            .group_by(contact)
            .having(n >= self.rule.repeat_min)
            .subquery()
        )
        # Ties ordered by code point, as Python orders strings (PostgreSQL: the C collation).
        by_text = groups.c.contact if not self.sql.pg else sa.collate(groups.c.contact, "C")
        rows = self.sql.rows(
            sa.select(groups.c.contact, groups.c.n, sa.func.count().over())
            .order_by(groups.c.n.desc(), by_text)
            .limit(self.rule.top)
        )
        total = int(rows[0][2]) if rows else 0
        if not rows and self.rule.top == 0:
            total = int(
                self.conn.execute(sa.select(sa.func.count()).select_from(groups)).scalar_one()
            )
        top = [
            RepeatComplainant(
                contact=mask(str(value)) or "",
                key=hashlib.sha256(str(value).encode()).hexdigest()[:12],
                cases=int(count),
            )
            for value, count, _ in rows
        ]
        return top, total


def _working_days_before(calendar: Calendar | None, base: int, top: int) -> list[int]:
    """``out[i]``: working days in ``(base, base + i]`` (day numbers since 1970-01-01), so the
    working days between two local dates are one subtraction (a calendar lookup per day, not
    per case). ``calendar`` None (a workflow that is not loaded): Monday to Friday."""
    out = [0] * (top - base + 1)
    total = 0
    for i in range(1, top - base + 1):
        d = dt.date.fromordinal(_EPOCH_DAY + base + i)
        total += calendar.is_working_day(d) if calendar is not None else d.weekday() < 5
        out[i] = total
    return out


def _zone(tz: str | ZoneInfo | None, engine: Engine, workflow: str | None) -> ZoneInfo:
    if isinstance(tz, ZoneInfo):
        return tz
    if tz is None:
        tz = engine.workflows.versions(workflow)[-1].timezone if workflow else DEFAULT_TZ
    try:
        return ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError):
        raise InvalidInput("tz", f"unknown time zone {tz!r} (e.g. Asia/Shanghai)") from None


def _midnight(day: dt.date, tz: ZoneInfo) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(), tzinfo=tz).astimezone(dt.UTC)


def build_report(
    engine: Engine,
    start: dt.date,
    end: dt.date,
    *,
    workflow: str | None = None,
    department: str | None = None,
    tz: str | ZoneInfo | None = None,
    rule: HotspotRule | None = None,
) -> Report:
    """The report for local dates ``start``..``end`` (inclusive) in ``tz`` (default: the
    workflow's zone, else Asia/Shanghai), optionally for one workflow and/or department.

    Read-only, from one snapshot: one read transaction (PostgreSQL: ``REPEATABLE READ``), or on a
    SQLite file casework opened, two read transactions on the same snapshot
    (:meth:`Store.snapshot_readers`) so that a second thread computes the heaviest figures
    beside the rest. See the module docs for every definition; use :func:`queue_risk_alerts`
    to notify hooks of the hot spots found.
    """
    if isinstance(start, dt.datetime) or isinstance(end, dt.datetime):
        raise InvalidInput("start", "start and end are dates (local days), not datetimes")
    if end < start:
        raise InvalidInput("end", f"{end} is before {start}")
    if workflow is not None:
        engine.workflows.versions(workflow)  # unknown names fail clearly
    zone = _zone(tz, engine, workflow)
    rule = rule or HotspotRule()
    n_days = (end - start).days + 1
    lo, hi = _midnight(start, zone), _midnight(end + dt.timedelta(days=1), zone)
    prev_start = start - dt.timedelta(days=n_days)
    prev_lo = _midnight(prev_start, zone)
    now = engine.clock.now()
    as_of = min(hi, now)
    prev_as_of = min(lo, now)
    week_starts = [start + dt.timedelta(days=7 * i) for i in range((n_days + 6) // 7)]
    week_bounds = [_midnight(d, zone) for d in week_starts] + [hi]

    day_bounds = [
        ((start - _EPOCH_DATE).days + i, _midnight(start + dt.timedelta(days=i), zone))
        for i in range(n_days)
    ] + [(0, hi)]

    t = engine.store.tables

    def first_received(conn: sa.Connection) -> dt.datetime | None:
        return conn.execute(sa.select(sa.func.min(t.cases.c.received_at))).scalar()

    def open_builder(conn: sa.Connection, earliest: dt.datetime | None) -> _Builder:
        span = (
            min(earliest or prev_lo, prev_lo) - dt.timedelta(days=2),
            max(hi, now) + dt.timedelta(days=2),
        )
        sql = _Sql(conn, t, workflow, department, zone, span)
        return _Builder(engine, conn, sql, rule, earliest, now)

    # The heaviest figures: on SQLite a second thread computes them beside the rest, on the
    # same snapshot; whichever thread is free takes the next one.
    heavy: dict[str, Callable[[_Builder], Any]] = {
        "completion": lambda b: b.completion(lo, hi, day_bounds),
        "followup": lambda b: b.followup(lo, hi, detail=True),
    }
    pending = list(heavy)
    results: dict[str, Any] = {}
    claim = threading.Lock()

    def drain(b: _Builder) -> None:
        while True:
            with claim:
                if not pending:
                    return
                name = pending.pop(0)
            results[name] = heavy[name](b)

    def work(conn: sa.Connection, beside: Future[None] | None = None) -> Report:
        if conn.dialect.name == "postgresql" and engine.store.connection is None:
            # Every figure from one snapshot (READ COMMITTED would give each query its own).
            conn.execute(sa.text("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY"))
        earliest = first_received(conn)
        b = open_builder(conn, earliest)
        sql = b.sql

        # The period.
        groups = b.intake_groups(lo, hi)
        by_channel = _count_pairs((ch, n) for ch, _, n in groups)
        by_category = _count_pairs((cat, n) for _, cat, n in groups)
        intake_total = sum(n for _, _, n in groups)
        accepted, rejected, intake_closed = b.intake_flags(lo, hi)
        week_figures, clocks = b.weekly(week_bounds, as_of)
        escalated, escalated_cases, reasons = b.escalations(lo, hi, detail=True)
        extensions = b.extensions(lo, hi)
        weeks = [
            WeekFigures(first, min(7, n_days - 7 * i), *week_figures[i])
            for i, first in enumerate(week_starts)
        ]
        opened = {at: b.open_at(at) for at in {prev_lo, lo, as_of, prev_as_of}}

        # The previous period, for the change columns.
        p_groups = b.intake_groups(prev_lo, lo)
        p_intake = sum(n for _, _, n in p_groups)
        p_acc, p_rej, _ = b.intake_flags(prev_lo, lo)
        c = t.cases.c
        p_completed = sql.count(c.closed_at >= prev_lo, c.closed_at < lo)
        p_clocks = [
            x
            for x in b.clocks(prev_lo, lo, prev_as_of)
            if not x.clock.startswith(VISIT_CLOCK_PREFIX)
        ]
        p_met = sum(x.met for x in p_clocks)
        previous = Summary(
            start=prev_start,
            end=start - dt.timedelta(days=1),
            intake_total=p_intake,
            accepted=p_acc,
            not_accepted=p_rej,
            completed=p_completed,
            completion_rate=_rate(p_completed, opened[prev_lo] + p_intake),
            on_time_rate=_rate(p_met, sum(x.judged for x in p_clocks)),
            satisfaction_rate=b.followup(prev_lo, lo, detail=False).satisfaction_rate,
            escalated=b.escalations(prev_lo, lo, detail=False)[0],
            open_at_end=opened[prev_as_of],
            overdue_open=b.overdue_open(prev_as_of),
        )

        # Risk: no hot spots without a baseline (nothing received in the previous period:
        # every value would "rise").
        hotspots: list[Hotspot] = []
        if p_intake:
            hotspots += b.flag(
                "category",
                dict(_count_pairs((cat, n) for _, cat, n in groups if cat is not None)),
                dict(_count_pairs((cat, n) for _, cat, n in p_groups if cat is not None)),
            )
            hotspots += b.rises("respondent", prev_lo, lo, hi)
            hotspots += b.rises("product", prev_lo, lo, hi)
            hotspots.sort(key=lambda h: (h.p_value, -h.count, h.kind, h.value))
        repeaters, n_repeaters = b.repeat_complainants(lo, hi)
        drain(b)
        if beside is not None:
            beside.result()
        completed, by_state, handling = results["completion"]
        followup = results["followup"]
        return Report(
            start=start,
            end=end,
            timezone=str(zone),
            workflow=workflow,
            department=department,
            generated_at=now,
            as_of=as_of,
            intake_total=intake_total,
            by_channel=by_channel,
            by_category=by_category,
            accepted=accepted,
            not_accepted=rejected,
            open_at_start=opened[lo],
            completed=completed,
            completed_by_state=by_state,
            intake_completed=intake_closed,
            clocks=tuple(clocks),
            handling=handling,
            escalated=escalated,
            escalated_cases=escalated_cases,
            escalation_reasons=reasons,
            extensions=sum(n for _, n in extensions),
            extensions_by_clock=extensions,
            followup=followup,
            open_at_end=opened[as_of],
            overdue_open=b.overdue_open(as_of),
            weeks=tuple(weeks),
            previous=previous,
            hotspots=tuple(hotspots),
            repeat_complainants=tuple(repeaters),
            repeat_complainant_count=n_repeaters,
            rule=rule,
        )

    if engine.store.can_share_snapshot:
        # Two threads on one snapshot: SQLite releases the GIL while it reads, so on two cores
        # the handling-time and follow-up figures are computed beside the rest. A long write
        # in progress: one thread, one read transaction, as on every other store.
        try:
            with (
                engine.store.snapshot_readers(2) as (main, beside),
                ThreadPoolExecutor(max_workers=1, thread_name_prefix="casework-report") as pool,
            ):
                future = pool.submit(lambda: drain(open_builder(beside, first_received(beside))))
                return work(main, future)
        except SnapshotBusy:
            pending[:] = list(heavy)
            results.clear()
    return engine.store.run(work, read=True)
