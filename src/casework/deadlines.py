"""Durable deadline clocks: start, stop, pause, restart, extend; warnings and breaches.

Each running clock of a case is one row of the ``deadlines`` table. ``fire_at`` holds the instant
the row next needs attention (its next ladder step, its breach, or the end of an allowed pause);
:meth:`DeadlineManager.run_due` claims rows whose ``fire_at`` has passed and applies each step
exactly once (guarantee 3): the step's effects, its audit event, its hook notifications and the
row's new ``fire_at`` commit together. APScheduler only decides when to call ``run_due``
(guarantee 2); a worker that was down catches up on the next call, late but once.

Conventions (documented in ``docs/deadlines.md``):

* Statuses: ``running``, ``paused``, ``met`` (stopped before due), ``breached`` (due passed; it
  stays ``breached`` when later stopped), ``cancelled`` (restarted, or the case closed by a
  route the clock does not stop on).
* A clock with ``outlives_closure`` is not cancelled when the case closes: its ladder and breach
  go on, a ladder step's ``fire`` is skipped once the case is closed (a final state has no
  exits; the step's notifications still go out), and :meth:`DeadlineManager.stop_after_closure`
  records one of its stop triggers without a state change.
* A clock paused by a pause state excludes the interval ``(paused, resumed)`` under the calendar
  module's convention; ``max_pause`` caps the total excluded time, after which the clock runs
  even while the case stays paused.
* An extension replaces the period by the rung's ``to`` total, counted from the same start.
  Ladder steps already fired stay fired unless the new schedule moves them into the future.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import attrs
import sqlalchemy as sa

from casework import hooks as hk
from casework.calendars import Calendar, CalendarRegistry, Due
from casework.errors import (
    CaseNotFound,
    CommandRejected,
    ConfigurationError,
    InvalidInput,
    MissingField,
    PermissionDenied,
)
from casework.periods import Period, Unit
from casework.records import Actor, Case
from casework.spec import ClockSpec, LadderStep, TransitionSpec, WorkflowSpec
from casework.store import queries as q
from casework.store.fast import FAST

if TYPE_CHECKING:
    from casework.engine import Engine

log = logging.getLogger("casework.deadlines")

ACTIVE = ("running", "paused", "breached")
BREACH = "breach"
PAUSE_LIMIT = "pause_limit"


@attrs.frozen
class Deadline:
    """One clock of one case, as stored. ``*_at`` are aware UTC datetimes."""

    id: int
    case_id: int
    clock: str
    status: str
    period: str
    calendar: str
    started_at: dt.datetime
    due_on: dt.date | None
    due_at: dt.datetime
    fire_at: dt.datetime | None
    provisional: bool
    paused_at: dt.datetime | None = None
    stopped_at: dt.datetime | None = None
    breached_at: dt.datetime | None = None
    extensions: int = 0
    fingerprint: str = ""
    data: Mapping[str, Any] = attrs.field(factory=dict)

    @property
    def is_active(self) -> bool:
        return self.status in ACTIVE

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "clock": self.clock,
            "status": self.status,
            "period": self.period,
            "calendar": self.calendar,
            "started_at": self.started_at.isoformat(),
            "due_on": self.due_on.isoformat() if self.due_on else None,
            "due_at": self.due_at.isoformat(),
            "next_step_at": self.fire_at.isoformat() if self.fire_at else None,
            "provisional": self.provisional,
            "paused_at": self.paused_at.isoformat() if self.paused_at else None,
            "stopped_at": self.stopped_at.isoformat() if self.stopped_at else None,
            "breached_at": self.breached_at.isoformat() if self.breached_at else None,
            "extensions": self.extensions,
            "legal_basis": self.data.get("legal_basis"),
            "basis": self.data.get("basis"),
            "fired": list(self.data.get("fired", ())),
            "pending_extension": self.data.get("pending_extension"),
        }


def deadline_from_row(row: Any) -> Deadline:
    m = row._mapping
    return Deadline(
        id=m["id"],
        case_id=m["case_id"],
        clock=m["clock"],
        status=m["status"],
        period=m["period"],
        calendar=m["calendar"],
        started_at=m["started_at"],
        due_on=m["due_on"],
        due_at=m["due_at"],
        fire_at=m["fire_at"],
        provisional=bool(m["provisional"]),
        paused_at=m["paused_at"],
        stopped_at=m["stopped_at"],
        breached_at=m["breached_at"],
        extensions=m["extensions"],
        fingerprint=m["fingerprint"],
        data=m["data"] or {},
    )


@attrs.frozen
class RunReport:
    """What one :meth:`DeadlineManager.run_due` call did."""

    steps: int = 0
    warnings: int = 0
    breaches: int = 0
    triggers_fired: int = 0
    trigger_failures: int = 0
    triggers_skipped: int = 0
    cancelled: int = 0
    rows: int = 0
    visits: int = 0

    def __add__(self, other: RunReport) -> RunReport:
        return RunReport(
            *(a + b for a, b in zip(attrs.astuple(self), attrs.astuple(other), strict=True))
        )

    def to_json(self) -> dict[str, int]:
        return attrs.asdict(self)


@attrs.frozen
class _Step:
    at: dt.datetime
    name: str
    kind: str  # "warning" | "breach" | "after" | "pause_limit"
    spec: LadderStep | None = None


def _iso(value: dt.datetime) -> str:
    return value.astimezone(dt.UTC).isoformat()


def _parse(value: str) -> dt.datetime:
    return dt.datetime.fromisoformat(value)


class _Sink:
    """Writes a ``run_due`` batch defers to one statement each, and its case rows."""

    def __init__(self, cases: dict[int, Any]) -> None:
        self.cases = cases
        self.updates: list[dict[str, Any]] = []
        self.outbox: list[dict[str, Any]] = []

    def flush(self, conn: sa.Connection, mgr: DeadlineManager) -> None:
        if self.updates:
            FAST.executemany(conn, mgr._s.update_deadline, self.updates)
        if self.outbox:
            q.insert_outbox_rows(conn, mgr.engine.store.tables, self.outbox)
        self.clear()

    def clear(self) -> None:
        self.updates = []
        self.outbox = []

    def refresh(self, conn: sa.Connection, t: Any, case_id: int) -> None:
        row = q.get_case_row(conn, t, case_id)
        if row is not None:
            self.cases[case_id] = row


class DeadlineManager:
    """The clocks of every case. The engine owns one and calls it inside each command."""

    def __init__(self, engine: Engine, calendars: CalendarRegistry) -> None:
        self.engine = engine
        self.calendars = calendars
        self._cal_cache: dict[tuple[str, str], Calendar] = {}
        self._concerns: dict[tuple[str, int, str, str, str], bool] = {}
        self._s = q.stmts(engine.store.tables)
        self._listeners: list[Any] = []
        for spec in engine.workflows.all():
            for clock in spec.clocks:
                self.calendar_for(spec, clock.calendar)
            for f in spec.followups:
                for name in (f.calendar, f.quiet_hours.calendar if f.quiet_hours else None):
                    if name:
                        self.calendar_for(spec, name)

    # ------------------------------------------------------------------ calendars

    def calendar_for(self, spec: WorkflowSpec, name: str) -> Calendar:
        """The calendar ``name`` in the workflow's time zone (cached)."""
        key = (name, spec.timezone)
        cal = self._cal_cache.get(key)
        if cal is None:
            try:
                base = self.calendars.get(name)
            except LookupError as exc:
                raise ConfigurationError(
                    f"workflow {spec.name} v{spec.version} uses calendar {name!r}: {exc}"
                ) from None
            cal = base if str(base.tz) == spec.timezone else base.with_options(tz=spec.timezone)
            self._cal_cache[key] = cal
        return cal

    def clock_spec(self, spec: WorkflowSpec, name: str) -> ClockSpec:
        """The clock ``name`` of a workflow version, including the synthetic
        ``followup:<policy>`` clocks of follow-up visits. Raises ``KeyError``."""
        if name.startswith("followup:"):
            from casework.followups import visit_clock

            for policy in spec.followups:
                if f"followup:{policy.name}" == name and policy.deadline is not None:
                    return visit_clock(spec, policy)
            raise KeyError(name)
        return spec.clock(name)

    def start_clock(
        self, conn: sa.Connection, spec: WorkflowSpec, clock: ClockSpec, case: Case, at: dt.datetime
    ) -> None:
        """Start a run of ``clock`` for ``case`` inside the caller's transaction."""
        self._start(conn, spec, clock, case, at)

    def stop_clock(
        self,
        conn: sa.Connection,
        spec: WorkflowSpec,
        name: str,
        case_id: int,
        at: dt.datetime,
        status: str | None,
        note: str,
    ) -> None:
        """Stop the active run of clock ``name``: ``met``/``breached`` by time when ``status`` is
        ``None``, else the given status (e.g. ``cancelled``)."""
        clock = self.clock_spec(spec, name)
        for row in self.active_rows(conn, case_id):
            m = row._mapping
            if m["clock"] == name:
                final = status or ("met" if at < m["due_at"] else "breached")
                self._close(conn, spec, clock, m, at, final, note)

    def active_rows(self, conn: sa.Connection, case_id: int) -> list[Any]:
        return self._active_rows(conn, case_id)

    def announce(self, conn: sa.Connection, fire_at: dt.datetime | None) -> None:
        """Tell schedulers in this process about a row due at ``fire_at`` once ``conn`` commits."""
        self._after_commit(conn, fire_at)

    def on_new_fire_at(self, listener: Any) -> None:
        """Call ``listener(fire_at)`` after a command commits a row due at ``fire_at``.

        The scheduler adapter uses it to re-arm its wake-up when an earlier row appears.
        """
        self._listeners.append(listener)

    def _notify(self, fire_at: dt.datetime | None) -> None:
        if fire_at is None:
            return
        for listener in self._listeners:
            listener(fire_at)

    # ------------------------------------------------------------------ schedule

    def compute_due(self, spec: WorkflowSpec, clock: ClockSpec, row: Mapping[str, Any]) -> Due:
        """The clock's due date from its start, pauses and extensions (pure)."""
        cal = self.calendar_for(spec, clock.calendar)
        data = row["data"] or {}
        pauses = [(_parse(a), _parse(b)) for a, b in data.get("pauses", ()) if b is not None]
        base = clock.period
        exts: list[Period] = []
        prev = base.amount
        # The extension log is the record of what was granted (``up_to`` rungs may grant less
        # than their ``to``); each grant adds the difference to the previous total.
        for grant in data.get("extension_log", ())[: row["extensions"]]:
            total = Period.parse(grant["to"])
            exts.append(Period(total.amount - prev, base.unit))
            prev = total.amount
        return cal.due(
            row["started_at"],
            base,
            rollover=clock.rollover,
            excluded=pauses,
            extensions=exts,
        )

    def schedule(self, spec: WorkflowSpec, clock: ClockSpec, row: Mapping[str, Any]) -> list[_Step]:
        """Every ladder instant of a clock row, in order (the breach at ``due_at``)."""
        cal = self.calendar_for(spec, clock.calendar)
        start: dt.datetime = row["started_at"]
        due_at: dt.datetime = row["due_at"]
        due_on: dt.date | None = row["due_on"]
        steps = [_Step(due_at, BREACH, "breach")]
        for ls in clock.ladder:
            if ls.kind == "fraction":
                assert ls.fraction is not None
                at = start + (due_at - start) * ls.fraction
                steps.append(_Step(at, ls.name, "warning", ls))
            else:
                assert ls.offset is not None
                sign = -1 if ls.kind == "before" else 1
                at = _offset(cal, due_at, due_on, ls.offset, sign)
                steps.append(_Step(at, ls.name, "warning" if sign < 0 else "after", ls))
        steps.sort(key=lambda s: (s.at, s.kind != "warning"))
        return steps

    def _next_fire_at(
        self, spec: WorkflowSpec, clock: ClockSpec, row: Mapping[str, Any]
    ) -> dt.datetime | None:
        status = row["status"]
        data = row["data"] or {}
        if status == "paused":
            if clock.max_pause is None or data.get("pause_capped"):
                return None
            return _parse(data["pauses"][-1][0]) + self._pause_left(clock, row)
        if status not in ("running", "breached"):
            return None
        fired = set(data.get("fired", ()))
        pending = [s.at for s in self.schedule(spec, clock, row) if s.name not in fired]
        return min(pending) if pending else None

    def _pause_left(self, clock: ClockSpec, row: Mapping[str, Any]) -> dt.timedelta:
        assert clock.max_pause is not None
        used = dt.timedelta(seconds=int(row["paused_seconds"]))
        limit = _period_as_timedelta(clock.max_pause)
        return max(dt.timedelta(0), limit - used)

    # ------------------------------------------------------------------ effects

    def on_open(self, conn: sa.Connection, spec: WorkflowSpec, case: Case, at: dt.datetime) -> None:
        for clock in spec.clocks:
            if case.state in clock.start_states:
                self._start(conn, spec, clock, case, at)

    def on_fire(
        self,
        conn: sa.Connection,
        spec: WorkflowSpec,
        before: Case,
        after: Case,
        transition: TransitionSpec,
        actor: Actor,
        data: Mapping[str, Any],
        at: dt.datetime,
    ) -> None:
        if not spec.clocks or not self._concerns_clocks(spec, transition.trigger, before, after):
            return
        trigger = transition.trigger
        rows = {r._mapping["clock"]: r for r in self._active_rows(conn, after.id)}
        entered = after.state != before.state
        for clock in spec.clocks:
            row = rows.get(clock.name)
            m = row._mapping if row is not None else None
            if m is not None and trigger in clock.restart_triggers:
                self._close(conn, spec, clock, m, at, "cancelled", f"restarted by {trigger}")
                row = m = None
                self._start(conn, spec, clock, after, at, restarted_by=trigger)
                continue
            if m is not None and (
                trigger in clock.stop_triggers or (entered and after.state in clock.stop_states)
            ):
                status = "met" if at < m["due_at"] else "breached"
                self._close(conn, spec, clock, m, at, status, f"stopped by {trigger}")
                continue
            if m is not None and after.state in spec.finals and not clock.outlives_closure:
                self._close(conn, spec, clock, m, at, "cancelled", f"case closed by {trigger}")
                continue
            if m is None:
                starts = trigger in clock.start_triggers or trigger in clock.restart_triggers
                starts = starts or (entered and after.state in clock.start_states)
                if starts and after.state not in spec.finals:
                    self._start(conn, spec, clock, after, at)
                continue
            if entered and after.state in clock.pause_states and m["status"] != "paused":
                if not data.get("reason"):
                    raise MissingField(str(after.id), trigger, ["reason"])
                self._pause(conn, spec, clock, m, at, str(data["reason"]))
            elif (
                entered
                and before.state in clock.pause_states
                and after.state not in clock.pause_states
                and m["status"] == "paused"
            ):
                self._resume(conn, spec, clock, m, at, f"resumed by {trigger}")

    def _concerns_clocks(self, spec: WorkflowSpec, trigger: str, before: Case, after: Case) -> bool:
        """Whether a step can start, stop, pause, resume, restart or cancel any clock — if not,
        the command need not read the case's clocks at all. Decided once per kind of step."""
        key = (spec.name, spec.version, trigger, before.state, after.state)
        hit = self._concerns.get(key)
        if hit is None:
            entered = after.state != before.state
            hit = any(
                trigger in (*c.start_triggers, *c.stop_triggers, *c.restart_triggers)
                or (
                    entered
                    and (
                        after.state in (*c.start_states, *c.stop_states, *c.pause_states)
                        or before.state in c.pause_states
                        or after.state in spec.finals
                    )
                )
                for c in spec.clocks
            )
            self._concerns[key] = hit
        return hit

    def _active_rows(self, conn: sa.Connection, case_id: int) -> list[Any]:
        return FAST.all(conn, self._s.active_deadlines, {"_case_id": case_id})

    def _start(
        self,
        conn: sa.Connection,
        spec: WorkflowSpec,
        clock: ClockSpec,
        case: Case,
        at: dt.datetime,
        restarted_by: str | None = None,
    ) -> None:
        row: dict[str, Any] = {
            "case_id": case.id,
            "clock": clock.name,
            "kind": "clock",
            "status": "running",
            "period": str(clock.period),
            "calendar": clock.calendar,
            "started_at": at,
            "extensions": 0,
            "paused_seconds": 0,
            "data": {
                "fired": [],
                "pauses": [],
                "legal_basis": clock.legal_basis,
                "basis": clock.basis,
                **({"restarted_by": restarted_by} if restarted_by else {}),
            },
        }
        due = self.compute_due(spec, clock, row)
        row.update(
            due_on=due.due_on if clock.period.is_day_based else None,
            due_at=due.due_at,
            provisional=due.provisional,
            fingerprint=due.fingerprint,
        )
        if case.state in clock.pause_states:
            # Started (or restarted) while the case sits in a pause state: born paused.
            row.update(status="paused", paused_at=at)
            row["data"]["pauses"] = [[_iso(at), None]]
        row["fire_at"] = self._next_fire_at(spec, clock, row)
        if due.provisional:
            log.warning("case %s clock %s: %s", case.id, clock.name, "; ".join(due.warnings))
        FAST.execute(conn, self._s.insert_deadline, row)
        self._after_commit(conn, row["fire_at"])

    def _update(self, conn: sa.Connection, row_id: int, values: Mapping[str, Any]) -> None:
        FAST.execute(conn, self._s.update_deadline, {**values, "_id": row_id})

    def _close(
        self,
        conn: sa.Connection,
        spec: WorkflowSpec,
        clock: ClockSpec,
        m: Mapping[str, Any],
        at: dt.datetime,
        status: str,
        note: str,
    ) -> None:
        data = dict(m["data"] or {})
        data["closed_by"] = note
        values: dict[str, Any] = {"status": status, "stopped_at": at, "fire_at": None, "data": data}
        if m["status"] == "paused":
            values.update(self._pause_accounting(m, at, data))
        if status == "breached" and m["breached_at"] is None:
            # Stopped late before the worker noticed: record the breach and tell the host once.
            values["breached_at"] = m["due_at"]
            if BREACH not in data.get("fired", ()):
                data["fired"] = [*data.get("fired", ()), BREACH]
                case_row = q.get_case_row(conn, self.engine.store.tables, m["case_id"])
                self._queue_step(
                    conn, spec, clock, m, case_row, _Step(m["due_at"], BREACH, "breach")
                )
        self._update(conn, m["id"], values)

    def _pause_accounting(
        self, m: Mapping[str, Any], at: dt.datetime, data: dict[str, Any]
    ) -> dict[str, Any]:
        pauses = [list(p) for p in data.get("pauses", ())]
        if pauses and pauses[-1][1] is None:
            began = _parse(pauses[-1][0])
            pauses[-1][1] = _iso(max(at, began))
            data["pauses"] = pauses
            used = int(m["paused_seconds"]) + int((max(at, began) - began).total_seconds())
            return {"paused_at": None, "paused_seconds": used}
        return {"paused_at": None}

    def _pause(
        self,
        conn: sa.Connection,
        spec: WorkflowSpec,
        clock: ClockSpec,
        m: Mapping[str, Any],
        at: dt.datetime,
        reason: str,
    ) -> None:
        data = dict(m["data"] or {})
        if data.get("pause_capped"):
            return  # the allowed pause is used up: the clock keeps running
        data["pauses"] = [*data.get("pauses", ()), [_iso(at), None]]
        data.setdefault("pause_reasons", []).append(reason)
        row = {**m, "status": "paused", "data": data}
        fire_at = self._next_fire_at(spec, clock, row)
        self._update(
            conn, m["id"], {"status": "paused", "paused_at": at, "data": data, "fire_at": fire_at}
        )
        self._after_commit(conn, fire_at)

    def _resume(
        self,
        conn: sa.Connection,
        spec: WorkflowSpec,
        clock: ClockSpec,
        m: Mapping[str, Any],
        at: dt.datetime,
        note: str,
        *,
        capped: bool = False,
    ) -> None:
        data = dict(m["data"] or {})
        values = self._pause_accounting(m, at, data)
        if capped:
            data["pause_capped"] = True
        data.setdefault("notes", []).append(note)
        self._reschedule(conn, spec, clock, m, at, {**values, "data": data, "status": "running"})

    def _reschedule(
        self,
        conn: sa.Connection,
        spec: WorkflowSpec,
        clock: ClockSpec,
        m: Mapping[str, Any],
        at: dt.datetime,
        values: dict[str, Any],
    ) -> Due:
        """Recompute due date and next step after a pause, extension or new calendar data."""
        row = {**m, **values}
        due = self.compute_due(spec, clock, row)
        row.update(
            due_on=due.due_on if clock.period.is_day_based else None,
            due_at=due.due_at,
            provisional=due.provisional,
            fingerprint=due.fingerprint,
        )
        old_fired = set((row["data"] or {}).get("fired", ()))
        new_steps = self.schedule(spec, clock, row)
        # A step fired before stays fired unless the new schedule moved it into the future.
        keep = {s.name for s in new_steps if s.name in old_fired and s.at <= at}
        data = dict(row["data"] or {})
        data["fired"] = sorted(keep)
        row["data"] = data
        if row["status"] == "breached" and BREACH not in keep:
            row["status"] = "running"
            row["breached_at"] = None
        row["fire_at"] = self._next_fire_at(spec, clock, row)
        changed: dict[str, Any] = {
            k: row[k]
            for k in (
                "due_on",
                "due_at",
                "provisional",
                "fingerprint",
                "fire_at",
                "data",
                "status",
                "breached_at",
                "extensions",
                "paused_at",
                "paused_seconds",
                "period",
            )
            if k in row
        }
        self._update(conn, m["id"], changed)
        self._after_commit(conn, row["fire_at"])
        return due

    def _after_commit(self, conn: sa.Connection, fire_at: dt.datetime | None) -> None:
        if fire_at is None or not self._listeners:
            return
        if self.engine.store.connection is not None:
            return  # the host owns the transaction; the periodic sweep will find the row
        sa.event.listen(conn, "commit", lambda _c: self._notify(fire_at), once=True)

    # ------------------------------------------------------------------ run_due

    def next_fire_at(self) -> dt.datetime | None:
        """The earliest instant any row needs attention (``None`` when nothing is scheduled)."""

        def work(conn: sa.Connection) -> dt.datetime | None:
            value: dt.datetime | None = FAST.scalar(conn, self._s.min_fire_at, {})
            return value

        return self.engine.store.run(work, read=True)

    def run_due(
        self, now: dt.datetime | None = None, *, batch: int = 200, limit: int | None = None
    ) -> RunReport:
        """Apply every step due at ``now`` (aware; default the engine clock), exactly once.

        Rows are claimed in batches (``FOR UPDATE SKIP LOCKED`` on PostgreSQL, an immediate
        transaction on SQLite), so any number of workers may call this at once. Each batch
        commits its effects, events, notifications and new ``fire_at`` values together.
        """
        now = self.engine._instant(now, "now")
        total = RunReport()
        store = self.engine.store
        while limit is None or total.rows < limit:
            size = batch if limit is None else min(batch, limit - total.rows)
            try:
                report = store.run(
                    lambda conn, size=size: self._run_batch(conn, now, size, safe=False)  # type: ignore[misc]
                )
            except Exception:
                # Some row's effects failed: redo the batch row by row in savepoints, so the
                # failing row is deferred and the others still go through.
                log.info("a deadline batch failed; retrying it row by row", exc_info=True)
                report = store.run(
                    lambda conn, size=size: self._run_batch(conn, now, size, safe=True)  # type: ignore[misc]
                )
            total = total + report
            if report.rows < size:
                break
        return total

    def _claim(self, conn: sa.Connection, now: dt.datetime, size: int) -> list[Any]:
        d = self.engine.store.tables.deadlines
        query = (
            sa.select(d)
            .where(d.c.fire_at.is_not(None), d.c.fire_at <= now)
            .order_by(d.c.fire_at, d.c.id)
            .limit(size)
        )
        if self.engine.store.is_postgres:
            query = query.with_for_update(skip_locked=True)
        return list(conn.execute(query))

    def _run_batch(self, conn: sa.Connection, now: dt.datetime, size: int, safe: bool) -> RunReport:
        """Apply the due steps of up to ``size`` claimed rows in the caller's transaction.

        The fast path batches the rows' writes (one statement each for their updates and
        notifications); ``safe`` puts each row in a savepoint so one failing row is deferred
        without undoing the others.
        """
        rows = self._claim(conn, now, size)
        report = RunReport(rows=len(rows))
        if not rows:
            return report
        t = self.engine.store.tables
        ids = sorted({r._mapping["case_id"] for r in rows})
        cases = {r.id: r for r in conn.execute(sa.select(t.cases).where(t.cases.c.id.in_(ids)))}
        sink = _Sink(cases)
        for row in rows:
            if not safe:
                report = report + self._apply_row(conn, row, now, sink)
                continue
            try:
                with conn.begin_nested():
                    report = report + self._apply_row(conn, row, now, sink)
                    sink.flush(conn, self)
            except Exception as exc:
                log.exception("deadline %s failed; retrying later", row._mapping["id"])
                sink.clear()
                sink.refresh(conn, t, row._mapping["case_id"])
                self._defer(conn, row, now, exc)
        sink.flush(conn, self)
        return report

    def _defer(self, conn: sa.Connection, row: Any, now: dt.datetime, exc: Exception) -> None:
        m = row._mapping
        data = dict(m["data"] or {})
        errors = int(data.get("errors", 0)) + 1
        data["errors"] = errors
        data["last_error"] = f"{type(exc).__name__}: {exc}"[:500]
        delay = dt.timedelta(seconds=min(3600, 30 * 2 ** min(errors, 7)))
        self._update(conn, m["id"], {"data": data, "fire_at": now + delay})

    def _apply_row(self, conn: sa.Connection, row: Any, now: dt.datetime, sink: _Sink) -> RunReport:
        m = dict(row._mapping)
        t = self.engine.store.tables
        case_row = sink.cases.get(m["case_id"])
        if case_row is None or m["status"] not in ACTIVE:
            self._update(conn, m["id"], {"fire_at": None})
            return RunReport()
        case = q.case_from_row(case_row)
        spec = self.engine.workflows.get(case.workflow, case.workflow_version)
        try:
            clock = self.clock_spec(spec, m["clock"])
        except KeyError:
            self._update(conn, m["id"], {"fire_at": None, "status": "cancelled"})
            return RunReport(cancelled=1)
        if case.is_closed and not clock.outlives_closure:
            # Closed in the meantime: the pending step is void (guarantee 3's re-check).
            sink.flush(conn, self)
            self._close(conn, spec, clock, m, now, "cancelled", "case closed")
            return RunReport(cancelled=1)
        if m["status"] == "paused":
            limit_at = self._next_fire_at(spec, clock, m)
            assert limit_at is not None
            sink.flush(conn, self)
            self._resume(conn, spec, clock, m, limit_at, "maximum pause reached", capped=True)
            return RunReport(steps=1)
        data = dict(m["data"] or {})
        fired = list(data.get("fired", ()))
        report = RunReport()
        fire_triggers: list[tuple[LadderStep, _Step]] = []
        breached = False
        for step in self.schedule(spec, clock, m):
            if step.at > now or step.name in fired:
                continue
            fired.append(step.name)
            report = report + RunReport(
                steps=1,
                warnings=int(step.kind == "warning"),
                breaches=int(step.kind == "breach"),
            )
            if step.kind == "breach":
                m["status"] = "breached"
                m["breached_at"] = step.at
                breached = True
            self._queue_step(conn, spec, clock, m, case_row, step, sink)
            if step.spec is not None and step.spec.fire:
                if case.is_closed:
                    # An outliving clock on a closed case: a final state has no exits, so the
                    # trigger could only be refused. Its notifications went out above.
                    log.info(
                        "case %s is closed: ladder step %s of clock %s skips firing %s",
                        case.id,
                        step.name,
                        clock.name,
                        step.spec.fire,
                    )
                    report = report + RunReport(triggers_skipped=1)
                else:
                    fire_triggers.append((step.spec, step))
        data["fired"] = fired
        m["data"] = data
        m["fire_at"] = self._next_fire_at(spec, clock, m)
        sink.updates.append(
            {k: m[k] for k in ("status", "breached_at", "data", "fire_at")} | {"_id": m["id"]}
        )
        if not (breached or fire_triggers):
            return report
        # What follows reads and writes the case and its clocks: bring the database up to date.
        sink.flush(conn, self)
        if breached:
            # Breaches belong in the case's audit trail; warnings only leave as notifications.
            self.engine.record_event(
                conn,
                case_row,
                kind="deadline_breached",
                actor=Actor.system(),
                at=m["due_at"],
                now=self.engine.clock.now(),
                data={
                    "clock": clock.name,
                    "due_at": _iso(m["due_at"]),
                    "legal_basis": clock.legal_basis,
                },
            )
        for ladder, step in fire_triggers:
            report = report + self._fire_step(conn, case.id, clock, ladder, step, now)
        sink.refresh(conn, t, case.id)
        return report

    def _fire_step(
        self,
        conn: sa.Connection,
        case_id: int,
        clock: ClockSpec,
        ladder: LadderStep,
        step: _Step,
        now: dt.datetime,
    ) -> RunReport:
        assert ladder.fire is not None
        reason = f"clock {clock.name}: {step.name} ({step.kind}) at {step.at.isoformat()}"
        try:
            with conn.begin_nested():
                self.engine._fire_in(
                    conn,
                    case_id,
                    ladder.fire,
                    Actor.system(),
                    {"reason": reason, "clock": clock.name, "step": step.name},
                    now,
                    None,
                )
            return RunReport(triggers_fired=1)
        except CommandRejected as exc:
            # The case moved on (e.g. already escalated): the step is done, the refusal logged.
            log.info(
                "case %s: ladder step %s could not fire %s: %s",
                case_id,
                step.name,
                ladder.fire,
                exc,
            )
            return RunReport(trigger_failures=1)

    def _queue_step(
        self,
        conn: sa.Connection,
        spec: WorkflowSpec,
        clock: ClockSpec,
        m: Mapping[str, Any],
        case_row: Any,
        step: _Step,
        sink: _Sink | None = None,
    ) -> None:
        """Queue the notifications of one ladder step (into ``sink`` when batching)."""
        now = self.engine.clock.now()
        case = case_row._mapping
        gen = f":x{m['extensions']}" if m["extensions"] else ""
        key = f"deadline:{m['id']}{gen}:{step.name}"
        span = (m["due_at"] - m["started_at"]).total_seconds()
        fraction = (step.at - m["started_at"]).total_seconds() / span if span > 0 else 1.0
        common: dict[str, Any] = {
            "case_id": case["id"],
            "workflow": case["workflow"],
            "workflow_version": case["workflow_version"],
            "state": case["state"],
            "occurred_at": step.at,
            "clock": clock.name,
            "deadline_id": m["id"],
            "due_at": m["due_at"],
            "due_on": m["due_on"].isoformat() if m["due_on"] else None,
            "elapsed_fraction": round(fraction, 4),
            "step": step.name,
            "legal_basis": clock.legal_basis,
            "provisional": bool(m["provisional"]),
        }
        payload: hk.Payload
        if step.kind == "warning":
            payload = hk.DeadlineWarning(idempotency_key=key, **common)
        else:
            payload = hk.DeadlineBreached(idempotency_key=key, **common)
        rows = [
            q.outbox_row(
                payload.idempotency_key, payload.topic, payload.case_id, payload.to_json(), now
            )
        ]
        for hook in step.spec.hooks if step.spec else ():
            named = hk.NamedHookCall(
                idempotency_key=f"{key}:hook:{hook}",
                case_id=case["id"],
                workflow=case["workflow"],
                workflow_version=case["workflow_version"],
                state=case["state"],
                occurred_at=step.at,
                hook=hook,
                clock=clock.name,
                step=step.name,
                due_at=m["due_at"],
            )
            rows.append(
                q.outbox_row(
                    named.idempotency_key, f"hook:{hook}", named.case_id, named.to_json(), now
                )
            )
        if sink is not None:
            sink.outbox.extend(rows)
        else:
            q.insert_outbox_rows(conn, self.engine.store.tables, rows)

    # ------------------------------------------------------------------ stop after closure

    @staticmethod
    def stop_roles(spec: WorkflowSpec, clock: ClockSpec) -> tuple[str, ...]:
        """The roles that may record a stop of ``clock``: those the workflow gives the
        transitions of its stop triggers."""
        roles: dict[str, None] = {}
        for t in spec.transitions:
            if t.trigger in clock.stop_triggers:
                roles.update(dict.fromkeys(t.roles))
        return tuple(roles)

    def stop_after_closure(
        self,
        case_id: int,
        clock_name: str,
        actor: Actor,
        *,
        reason: str | None = None,
        at: dt.datetime | str | None = None,
    ) -> Deadline:
        """Record that the work an ``outlives_closure`` clock measures is done, on a closed case.

        ``at`` is the business time of the stop (aware; default now), not before the clock
        started. The run ends ``met`` before its due time, else ``breached`` (a breach the
        worker never saw also emits ``deadline.breached``, once); the case's state does not
        change, a ``clock_stopped`` event joins its audit trail. The actor needs a role the
        workflow gives the clock's stop triggers. Raises :class:`CaseNotFound`,
        :class:`InvalidInput` (unknown clock, case still open, clock not outliving closure or
        not running, ``at`` before the start), :class:`PermissionDenied`; nothing is written
        when it raises.
        """
        when = self.engine._instant(at, "at")

        def work(conn: sa.Connection) -> Deadline:
            case_row, case, spec, clock = self._case_clock(conn, case_id, clock_name)
            if not case.is_closed:
                ways = [
                    *(f"fire {s!r}" for s in clock.stop_triggers),
                    *(f"enter {s!r}" for s in clock.stop_states),
                ]
                raise InvalidInput(
                    "clock",
                    f"case {case_id} is open (state {case.state!r}): {' or '.join(ways)} to "
                    f"stop clock {clock_name!r}; a stop without a transition is only for a "
                    "clock that outlives closure, on a closed case",
                )
            if not clock.outlives_closure:
                raise InvalidInput(
                    "clock",
                    f"case {case_id} is closed (state {case.state!r}) and clock {clock_name!r} "
                    "does not outlive closure: its run ended when the case closed "
                    "(set outlives_closure: true on the clock for new workflow versions)",
                )
            m = self._running(conn, case_id, clock_name)
            allowed = self.stop_roles(spec, clock)
            if not actor.roles & set(allowed):
                raise PermissionDenied(
                    str(case_id),
                    "/".join(clock.stop_triggers),
                    actor.id,
                    sorted(actor.roles),
                    allowed,
                )
            if when < m["started_at"]:
                raise InvalidInput(
                    "at",
                    f"{when.isoformat()} is before clock {clock_name!r} started "
                    f"({m['started_at'].isoformat()})",
                )
            status = "met" if when < m["due_at"] else "breached"
            self._close(conn, spec, clock, m, when, status, f"stopped by {actor.id} after closure")
            self.engine.record_event(
                conn,
                case_row,
                kind="clock_stopped",
                actor=actor,
                at=when,
                now=self.engine.clock.now(),
                data={
                    "clock": clock.name,
                    "status": status,
                    "due_at": _iso(m["due_at"]),
                    "legal_basis": clock.legal_basis,
                    **({"reason": reason} if reason else {}),
                },
            )
            return deadline_from_row(self._row(conn, m["id"]))

        return self.engine.store.run(work)

    def _rows_of(self, conn: sa.Connection, case_id: int) -> list[Deadline]:
        d = self.engine.store.tables.deadlines
        rows = conn.execute(sa.select(d).where(d.c.case_id == case_id).order_by(d.c.id))
        return [deadline_from_row(r) for r in rows]

    # ------------------------------------------------------------------ extensions

    def request_extension(
        self,
        case_id: int,
        clock_name: str,
        actor: Actor,
        *,
        reason: str,
        to: Period | str | None = None,
        at: dt.datetime | str | None = None,
        approve: bool = True,
    ) -> Deadline:
        """Ask to extend a running clock to the next rung (or to ``to``), with a reason.

        With ``approve`` (the default) the actor grants it at once and must hold a role the rung
        allows (:class:`PermissionDenied` otherwise); with ``approve=False`` it is only requested
        and waits for :meth:`decide_extension`. The request is in the audit trail either way.
        """
        when = self.engine._instant(at, "at")
        if not reason or not reason.strip():
            raise MissingField(str(case_id), "extend", ["reason"])
        wanted = None if to is None else Period.parse(to)

        def work(conn: sa.Connection) -> Deadline:
            case_row, spec, clock, m = self._locate(conn, case_id, clock_name)
            rung_index, granted = self._rung(case_id, clock, m, wanted)
            rung = clock.extensions[rung_index]
            pending = {
                "rung": rung_index,
                "to": str(granted),
                "reason": reason,
                "requested_by": actor.id,
                "requested_at": _iso(when),
            }
            data = dict(m["data"] or {})
            data["pending_extension"] = pending
            self._update(conn, m["id"], {"data": data})
            self.engine.record_event(
                conn,
                case_row,
                kind="extension_requested",
                actor=actor,
                at=when,
                now=self.engine.clock.now(),
                data={"clock": clock.name, **pending},
            )
            if approve and not actor.roles & set(rung.roles):
                raise PermissionDenied(
                    str(case_id),
                    f"extend {clock.name} to {rung.to}",
                    actor.id,
                    sorted(actor.roles),
                    rung.roles,
                )
            if approve:
                case_row = q.get_case_row(conn, self.engine.store.tables, case_id)
                m = {**m, "data": data}
                return self._apply_extension(conn, case_row, spec, clock, m, actor, when, True)
            return deadline_from_row(self._row(conn, m["id"]))

        return self.engine.store.run(work)

    def decide_extension(
        self,
        case_id: int,
        clock_name: str,
        actor: Actor,
        *,
        approve: bool,
        reason: str | None = None,
        at: dt.datetime | str | None = None,
    ) -> Deadline:
        """Approve or refuse the pending extension request of a clock (a permitted role only)."""
        when = self.engine._instant(at, "at")

        def work(conn: sa.Connection) -> Deadline:
            case_row, spec, clock, m = self._locate(conn, case_id, clock_name)
            pending = (m["data"] or {}).get("pending_extension")
            if not pending:
                raise InvalidInput(
                    "extension",
                    f"case {case_id}: clock {clock_name!r} has no pending extension request",
                )
            rung = clock.extensions[int(pending["rung"])]
            if not actor.roles & set(rung.roles):
                raise PermissionDenied(
                    str(case_id),
                    f"extend {clock_name} to {rung.to}",
                    actor.id,
                    sorted(actor.roles),
                    rung.roles,
                )
            if approve:
                return self._apply_extension(
                    conn, case_row, spec, clock, m, actor, when, True, reason
                )
            data = dict(m["data"] or {})
            data.pop("pending_extension")
            self._update(conn, m["id"], {"data": data})
            self.engine.record_event(
                conn,
                case_row,
                kind="extension_refused",
                actor=actor,
                at=when,
                now=self.engine.clock.now(),
                data={"clock": clock.name, "to": pending["to"], "reason": reason},
            )
            return deadline_from_row(self._row(conn, m["id"]))

        return self.engine.store.run(work)

    def _rung(
        self, case_id: int, clock: ClockSpec, m: Mapping[str, Any], wanted: Period | None
    ) -> tuple[int, Period]:
        """The rung an extension request climbs to, and the total it grants.

        Rungs are climbed in order; an ``up_to`` rung may be granted several times while the
        total stays below its ``to``."""
        grants = list((m["data"] or {}).get("extension_log", ()))
        now_total = Period.parse(grants[-1]["to"]) if grants else clock.period
        first = int(grants[-1]["rung"]) + 1 if grants else 0
        if grants:
            last = clock.extensions[int(grants[-1]["rung"])]
            if last.up_to and now_total.amount < last.to.amount:
                first -= 1
        if first >= len(clock.extensions):
            allowed = "none" if not clock.extensions else f"up to {clock.extensions[-1].to}"
            raise InvalidInput(
                "extension",
                f"case {case_id}: clock {clock.name!r} cannot be extended further "
                f"(allowed: {allowed})",
            )
        if wanted is None:
            return first, clock.extensions[first].to
        for i in range(first, len(clock.extensions)):
            rung = clock.extensions[i]
            if rung.to == wanted or (
                rung.up_to
                and wanted.unit is rung.to.unit
                and now_total.amount < wanted.amount <= rung.to.amount
            ):
                return i, wanted
        options = ", ".join(
            f"up to {e.to}" if e.up_to else str(e.to) for e in clock.extensions[first:]
        )
        raise InvalidInput(
            "to", f"case {case_id}: clock {clock.name!r} can be extended to {options}, not {wanted}"
        )

    def _apply_extension(
        self,
        conn: sa.Connection,
        case_row: Any,
        spec: WorkflowSpec,
        clock: ClockSpec,
        m: Mapping[str, Any],
        approver: Actor,
        when: dt.datetime,
        approved: bool,
        note: str | None = None,
    ) -> Deadline:
        data = dict(m["data"] or {})
        pending = data.pop("pending_extension")
        rung_index = int(pending["rung"])
        rung = clock.extensions[rung_index]
        previous_due = m["due_at"]
        history = [
            *data.get("extension_log", ()),
            {**pending, "approved_by": approver.id, "approved_at": _iso(when)},
        ]
        data["extension_log"] = history
        due = self._reschedule(
            conn,
            spec,
            clock,
            m,
            when,
            {"data": data, "extensions": len(history), "period": pending["to"]},
        )
        case_row = q.get_case_row(conn, self.engine.store.tables, case_row._mapping["id"])
        self.engine.record_event(
            conn,
            case_row,
            kind="extension",
            actor=approver,
            at=when,
            now=self.engine.clock.now(),
            data={
                "clock": clock.name,
                "to": pending["to"],
                "previous_due_at": _iso(previous_due),
                "due_at": _iso(due.due_at),
                "reason": pending["reason"],
                "requested_by": pending["requested_by"],
                **({"note": note} if note else {}),
            },
        )
        c = case_row._mapping
        self.engine._queue(
            conn,
            hk.DeadlineExtended(
                idempotency_key=f"deadline:{m['id']}:extended:{len(history)}",
                case_id=c["id"],
                workflow=c["workflow"],
                workflow_version=c["workflow_version"],
                state=c["state"],
                occurred_at=when,
                clock=clock.name,
                deadline_id=m["id"],
                due_at=due.due_at,
                due_on=due.due_on.isoformat() if clock.period.is_day_based else None,
                legal_basis=clock.legal_basis,
                provisional=due.provisional,
                previous_due_at=previous_due,
                reason=pending["reason"],
                approved_by=approver.id,
                notify_consumer=rung.notify,
            ),
            self.engine.clock.now(),
        )
        return deadline_from_row(self._row(conn, m["id"]))

    def _case_clock(
        self, conn: sa.Connection, case_id: int, clock_name: str
    ) -> tuple[Any, Case, WorkflowSpec, ClockSpec]:
        """The case's row and record, its workflow version and the named clock's spec."""
        case_row = q.get_case_row(conn, self.engine.store.tables, case_id)
        if case_row is None:
            raise CaseNotFound(str(case_id))
        case = q.case_from_row(case_row)
        spec = self.engine.workflows.get(case.workflow, case.workflow_version)
        try:
            clock = self.clock_spec(spec, clock_name)
        except KeyError:
            names = ", ".join(c.name for c in spec.clocks) or "none"
            raise InvalidInput(
                "clock", f"workflow {spec.name} has no clock {clock_name!r} (clocks: {names})"
            ) from None
        return case_row, case, spec, clock

    def _locate(
        self, conn: sa.Connection, case_id: int, clock_name: str
    ) -> tuple[Any, WorkflowSpec, ClockSpec, dict[str, Any]]:
        case_row, _, spec, clock = self._case_clock(conn, case_id, clock_name)
        m = self._running(conn, case_id, clock_name)
        if m["status"] == "breached":
            raise InvalidInput(
                "clock",
                f"case {case_id}: clock {clock_name!r} is already breached; extensions must be granted before the deadline",
            )
        return case_row, spec, clock, m

    def _running(self, conn: sa.Connection, case_id: int, clock_name: str) -> dict[str, Any]:
        """The case's active row of ``clock_name``; :class:`InvalidInput` saying how its last
        run ended when there is none."""
        rows = [r for r in self._active_rows(conn, case_id) if r._mapping["clock"] == clock_name]
        if rows:
            return dict(rows[-1]._mapping)
        ended = [dl for dl in self._rows_of(conn, case_id) if dl.clock == clock_name]
        detail = (
            f"{ended[-1].status} since {ended[-1].stopped_at.isoformat()}"
            if ended and ended[-1].stopped_at is not None
            else "it never started"
        )
        raise InvalidInput(
            "clock", f"case {case_id}: clock {clock_name!r} is not running ({detail})"
        )

    def _row(self, conn: sa.Connection, row_id: int) -> Any:
        row = FAST.first(conn, self._s.get_deadline, {"_id": row_id})
        assert row is not None
        return row

    # ------------------------------------------------------------------ queries

    def for_case(self, case_id: int) -> list[Deadline]:
        return self.engine.store.run(lambda conn: self._rows_of(conn, case_id), read=True)

    def for_cases(self, case_ids: Sequence[int]) -> dict[int, list[Deadline]]:
        d = self.engine.store.tables.deadlines
        out: dict[int, list[Deadline]] = {i: [] for i in case_ids}
        if not case_ids:
            return out

        def work(conn: sa.Connection) -> list[Any]:
            rows: list[Any] = []
            ids = list(case_ids)
            for i in range(0, len(ids), 500):
                rows += conn.execute(
                    sa.select(d).where(d.c.case_id.in_(ids[i : i + 500])).order_by(d.c.id)
                )
            return rows

        for r in self.engine.store.run(work, read=True):
            out[r._mapping["case_id"]].append(deadline_from_row(r))
        return out

    def active_due_before(self, instant: dt.datetime) -> list[Deadline]:
        """Active clocks due at or before ``instant`` (breached ones included)."""
        d = self.engine.store.tables.deadlines
        rows = self.engine.store.run(
            lambda conn: list(
                conn.execute(
                    sa.select(d)
                    .where(d.c.status.in_(ACTIVE), d.c.due_at <= instant)
                    .order_by(d.c.due_at)
                )
            ),
            read=True,
        )
        return [deadline_from_row(r) for r in rows]

    def due_within(self, period: Period | str, now: dt.datetime) -> list[Deadline]:
        """Active clocks due by the end of ``period`` from ``now``, each counted on its own
        clock's calendar (``"2 working days"`` = by 24:00 of the 2nd working day after today).
        Overdue ones are included."""
        p = Period.parse(period)
        thresholds: dict[tuple[str, str], dt.datetime] = {}
        for spec in self.engine.workflows.all():
            for clock in spec.clocks:
                cal = self.calendar_for(spec, clock.calendar)
                thresholds[(spec.name, clock.name)] = cal.due(now, p).due_at
        if not thresholds:
            return []
        horizon = max(thresholds.values())
        candidates = self.active_due_before(horizon)
        cases = {c.id: c for c in self.engine.list_cases(ids=[d.case_id for d in candidates])}
        return [
            d
            for d in candidates
            if d.case_id in cases
            and d.due_at <= thresholds.get((cases[d.case_id].workflow, d.clock), horizon)
        ]

    def explain(self, case_id: int, clock_name: str) -> list[str]:
        """Why a case's clock is due when: start, pauses, extensions, days counted, ladder."""
        rows = [dl for dl in self.for_case(case_id) if dl.clock == clock_name]
        case = self.engine.get(case_id)
        spec = self.engine.spec_of(case)
        try:
            clock = self.clock_spec(spec, clock_name)
        except KeyError:
            names = ", ".join(c.name for c in spec.clocks) or "none"
            raise InvalidInput(
                "clock", f"workflow {spec.name} has no clock {clock_name!r} (clocks: {names})"
            ) from None
        if not rows:
            raise InvalidInput("clock", f"case {case_id}: clock {clock_name!r} has never run")
        dl = rows[-1]
        row = _row_mapping(dl)
        due = self.compute_due(spec, clock, row)
        basis = f" — {clock.legal_basis}" if clock.legal_basis else f" ({clock.basis})"
        lines = [
            f"case {case_id}, clock {clock.name}: {clock.period} on calendar {clock.calendar}{basis}",
            f"status {dl.status}; started {dl.started_at.isoformat()}",
        ]
        if len(rows) > 1:
            lines.append(f"restarted {len(rows) - 1} time(s); this is run #{len(rows)}")
        for began, ended in dl.data.get("pauses", ()):
            lines.append(f"paused {began} → {ended or '(still paused)'}")
        for ext in dl.data.get("extension_log", ()):
            lines.append(
                f"extended to {ext['to']} (requested by {ext['requested_by']}: {ext['reason']}; "
                f"approved by {ext['approved_by']})"
            )
        lines.extend(due.explanation)
        fired = set(dl.data.get("fired", ()))
        for step in self.schedule(spec, clock, row):
            mark = "fired" if step.name in fired else "pending"
            lines.append(f"ladder {step.name:24} {step.at.isoformat()}  {mark}")
        return lines

    def recompute_provisional(self) -> int:
        """Recompute provisional due dates with the calendar data now loaded; returns how many
        changed. Run at worker start (new year files) and after adding calendar data."""
        d = self.engine.store.tables.deadlines

        def work(conn: sa.Connection) -> int:
            rows = list(
                conn.execute(sa.select(d).where(d.c.provisional.is_(True), d.c.status.in_(ACTIVE)))
            )
            changed = 0
            for row in rows:
                m = dict(row._mapping)
                case_row = q.get_case_row(conn, self.engine.store.tables, m["case_id"])
                case = q.case_from_row(case_row)
                spec = self.engine.workflows.get(case.workflow, case.workflow_version)
                clock = self.clock_spec(spec, m["clock"])
                due = self.compute_due(spec, clock, m)
                if due.due_at == m["due_at"] and due.provisional:
                    continue
                self._reschedule(conn, spec, clock, m, self.engine.clock.now(), {})
                self.engine.record_event(
                    conn,
                    case_row,
                    kind="deadline_recomputed",
                    actor=Actor.system(),
                    at=self.engine.clock.now(),
                    now=self.engine.clock.now(),
                    data={
                        "clock": clock.name,
                        "previous_due_at": _iso(m["due_at"]),
                        "due_at": _iso(due.due_at),
                        "provisional": due.provisional,
                    },
                )
                changed += 1
            return changed

        return self.engine.store.run(work)


def _row_mapping(dl: Deadline) -> dict[str, Any]:
    return {
        "started_at": dl.started_at,
        "due_at": dl.due_at,
        "due_on": dl.due_on,
        "data": dl.data,
        "extensions": dl.extensions,
        "status": dl.status,
    }


def _period_as_timedelta(p: Period) -> dt.timedelta:
    if p.unit in (Unit.HOURS, Unit.BUSINESS_HOURS):
        return dt.timedelta(hours=p.amount)
    return dt.timedelta(days=p.amount)


def _offset(
    cal: Calendar, due_at: dt.datetime, due_on: dt.date | None, offset: Period, sign: int
) -> dt.datetime:
    """``due_at`` moved by ``offset`` (sign -1 before, +1 after) on the clock's calendar.

    "1 working day before" a period ending 24:00 of day D ends 24:00 of the working day before
    D; "1 working day after" ends 24:00 of the first working day after D.
    """
    if offset.unit in (Unit.HOURS, Unit.BUSINESS_HOURS):
        return due_at + sign * dt.timedelta(hours=offset.amount)
    last = due_on or (due_at.astimezone(cal.tz) - dt.timedelta(microseconds=1)).date()
    if offset.unit is Unit.WORKING_DAYS:
        day = (
            cal.subtract_working_days(last, offset.amount)
            if sign < 0
            else cal.add_working_days(last, offset.amount)
        )
    else:
        day = last + dt.timedelta(days=sign * offset.amount)
    return cal.start_of_day(day + dt.timedelta(days=1)).astimezone(dt.UTC)
