"""Follow-up visits (回访) and the dissatisfaction loop.

A workflow's ``followups:`` policies schedule a visit after the triggers they name (e.g.
``respond``, ``resolve``). A visit is a row of the ``followups`` table:

* ``scheduled`` — waiting for ``due_at`` (the start of the last day of the ``delay``, moved out of
  quiet hours and, when the quiet calendar is set, off its rest days);
* ``due`` — the ``followup.due`` hook has told the host to call/message the consumer (attempt N);
* ``completed`` (an outcome: satisfied, basically_satisfied, dissatisfied), ``unreachable``
  (after ``attempts`` tries), ``waived`` (a permitted role, with a reason), ``cancelled`` (the case
  closed another way).

Each visit also runs its own deadline clock ``followup:<policy>`` (when the policy has a
``deadline``), which warns at 80 % and breaches like any clock. ``dissatisfied`` reopens the case
(re-handle count + 1, a fresh handling clock); once the case has been re-handled
``max_rehandles`` times it is escalated to the special task group instead (when the escalation
trigger cannot fire from the case's state, the case is reopened on the way, with
``for_escalation`` in the step's data, which does not count as a re-handle). Archiving is refused
while a required visit is pending, unless waived.

Sampling is deterministic per case: a visit is made when ``sha256(policy:case_id)`` falls below the
sample fraction, so reruns agree; escalated, reopened and listed categories are always visited.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import attrs
import sqlalchemy as sa

from casework import hooks as hk
from casework.calendars import Calendar
from casework.errors import CommandRejected, InvalidInput, MissingField, PermissionDenied
from casework.periods import Period, Unit
from casework.records import Actor, Case
from casework.spec import (
    FOLLOWUP_OUTCOMES,
    ClockSpec,
    FollowUpSpec,
    LadderStep,
    QuietHours,
    TransitionSpec,
    WorkflowSpec,
)
from casework.store import queries as q
from casework.store.fast import FAST

if TYPE_CHECKING:
    from casework.engine import Engine

log = logging.getLogger("casework.followups")

OPEN = ("scheduled", "due")
SATISFIED = ("satisfied", "basically_satisfied")


class FollowUpPending(CommandRejected):
    """Archiving was refused because a required follow-up visit is still pending."""

    def __init__(self, case_id: int, trigger: str, visit_id: int, roles: tuple[str, ...]) -> None:
        self.case_id = case_id
        self.trigger = trigger
        self.visit_id = visit_id
        super().__init__(
            f"case {case_id}: {trigger!r} is refused while follow-up visit {visit_id} is pending; "
            f"record its outcome, or a {'/'.join(roles)} may waive it with a reason "
            f"(casework followup waive {case_id} --reason ...)"
        )


@attrs.frozen
class FollowUp:
    """One follow-up visit as stored. ``*_at`` are aware UTC datetimes."""

    id: int
    case_id: int
    policy: str
    status: str
    selected_because: str
    channel: str
    attempts: int
    max_attempts: int
    created_at: dt.datetime
    due_at: dt.datetime
    deadline_at: dt.datetime | None
    outcome: str | None = None
    score: int | None = None
    comment: str | None = None
    recorded_by: str | None = None
    recorded_at: dt.datetime | None = None

    def to_json(self) -> dict[str, Any]:
        out = attrs.asdict(self)
        for k, v in out.items():
            if isinstance(v, dt.datetime):
                out[k] = v.isoformat()
        return out


def _visit(row: Any) -> FollowUp:
    m = row._mapping
    return FollowUp(**{f.name: m[f.name] for f in attrs.fields(FollowUp)})


def sample_point(policy: str, case_id: int) -> float:
    """A case's fixed point in [0, 1) for ``policy``: visited when below the sample fraction."""
    digest = hashlib.sha256(f"{policy}:{case_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def clock_name(policy: FollowUpSpec | str) -> str:
    return f"followup:{policy if isinstance(policy, str) else policy.name}"


def visit_clock(spec: WorkflowSpec, policy: FollowUpSpec) -> ClockSpec:
    """The synthetic deadline clock a visit runs when its policy has a ``deadline``."""
    assert policy.deadline is not None
    return ClockSpec(
        name=clock_name(policy),
        period=policy.deadline,
        calendar=policy.calendar or spec.calendar,
        basis="policy",
        ladder=(LadderStep("at_80", "fraction", fraction=0.8),),
    )


def next_allowed(
    instant: dt.datetime, quiet: QuietHours | None, cal: Calendar, quiet_cal: Calendar | None
) -> dt.datetime:
    """The first instant at or after ``instant`` outside quiet hours and, with a quiet calendar,
    on one of its working days (local times in ``cal.tz``)."""
    if quiet is None:
        return instant
    local = instant.astimezone(cal.tz)
    for _ in range(400):
        day = local.date()
        if quiet_cal is not None and not quiet_cal.is_working_day(day):
            local = cal.local_instant(day + dt.timedelta(days=1), quiet.end)
            continue
        t = local.timetz().replace(tzinfo=None)
        if quiet.start > quiet.end:  # e.g. 21:00 → 08:00, across midnight
            if t >= quiet.start:
                local = cal.local_instant(day + dt.timedelta(days=1), quiet.end)
                continue
            if t < quiet.end:
                local = cal.local_instant(day, quiet.end)
                continue
        elif quiet.start <= t < quiet.end:
            local = cal.local_instant(day, quiet.end)
            continue
        return local.astimezone(dt.UTC)
    raise InvalidInput("quiet_hours", "no allowed time within 400 days")


class FollowUpManager:
    """Schedules, fires and closes follow-up visits inside the engine's commands."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    # ------------------------------------------------------------------ effects

    def before_fire(
        self,
        conn: sa.Connection,
        spec: WorkflowSpec,
        case: Case,
        transition: TransitionSpec,
        actor: Actor,
        data: Mapping[str, Any],
    ) -> None:
        """Refuse archiving while a required visit is pending."""
        for policy in spec.followups:
            if transition.trigger != policy.archive_trigger or not policy.required:
                continue
            pending = self._open_visits(conn, case.id, policy.name)
            if pending:
                raise FollowUpPending(
                    case.id, transition.trigger, pending[0]._mapping["id"], policy.waiver_roles
                )

    def on_open(self, conn: sa.Connection, spec: WorkflowSpec, case: Case, at: dt.datetime) -> None:
        return None

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
        if not spec.followups:
            return
        for policy in spec.followups:
            if transition.trigger in policy.after_triggers:
                self._schedule(conn, spec, policy, after, at)
        if after.state in spec.finals:
            for row in self._open_visits(conn, after.id):
                self._close_visit(conn, spec, row._mapping, "cancelled", at)

    def _open_visits(
        self, conn: sa.Connection, case_id: int, policy: str | None = None
    ) -> list[Any]:
        rows = FAST.all(
            conn, q.stmts(self.engine.store.tables).open_followups, {"_case_id": case_id}
        )
        return [r for r in rows if policy is None or r._mapping["policy"] == policy]

    def _why(self, policy: FollowUpSpec, case: Case) -> str | None:
        if policy.always_escalated and case.escalation_count > 0:
            return "escalated"
        if policy.always_reopened and case.rehandle_count > 0:
            return "reopened"
        if case.category is not None and case.category in policy.always_categories:
            return "category"
        if policy.sample >= 1.0:
            return "all"
        if sample_point(policy.name, case.id) < policy.sample:
            return "sample"
        return None

    def _calendars(
        self, spec: WorkflowSpec, policy: FollowUpSpec
    ) -> tuple[Calendar, Calendar | None]:
        cal = self.engine.clocks.calendar_for(spec, policy.calendar or spec.calendar)
        quiet = policy.quiet_hours
        quiet_cal = (
            self.engine.clocks.calendar_for(spec, quiet.calendar)
            if quiet and quiet.calendar
            else None
        )
        return cal, quiet_cal

    def _due_after(
        self, spec: WorkflowSpec, policy: FollowUpSpec, start: dt.datetime, delay: Period
    ) -> dt.datetime:
        cal, quiet_cal = self._calendars(spec, policy)
        if delay.is_day_based:
            # "After 3 working days" = on the 3rd working day after the step, from its start.
            day = cal.add_period(start.astimezone(cal.tz).date(), delay)
            instant = cal.start_of_day(day)
        else:
            instant = cal.due(start, delay).due_at
        return next_allowed(max(instant, start), policy.quiet_hours, cal, quiet_cal)

    def _schedule(
        self,
        conn: sa.Connection,
        spec: WorkflowSpec,
        policy: FollowUpSpec,
        case: Case,
        at: dt.datetime,
    ) -> None:
        why = self._why(policy, case)
        if why is None or self._open_visits(conn, case.id, policy.name):
            return
        due_at = self._due_after(spec, policy, at, policy.delay)
        deadline_at = None
        f = self.engine.store.tables.followups
        result = conn.execute(
            sa.insert(f)
            .values(
                case_id=case.id,
                policy=policy.name,
                status="scheduled",
                selected_because=why,
                channel=policy.channel,
                attempts=0,
                max_attempts=policy.attempts,
                created_at=at,
                due_at=due_at,
                fire_at=due_at,
                data={"workflow": spec.name, "workflow_version": spec.version},
            )
            .returning(f.c.id)
        )
        visit_id = int(result.scalar_one())
        if policy.deadline is not None:
            clock = visit_clock(spec, policy)
            self.engine.clocks.start_clock(conn, spec, clock, case, at)
            rows = [
                r
                for r in self.engine.clocks.active_rows(conn, case.id)
                if r._mapping["clock"] == clock.name
            ]
            if rows:
                deadline_at = rows[-1]._mapping["due_at"]
                conn.execute(sa.update(f).where(f.c.id == visit_id).values(deadline_at=deadline_at))
        self.engine.clocks.announce(conn, due_at)

    def _close_visit(
        self,
        conn: sa.Connection,
        spec: WorkflowSpec,
        m: Mapping[str, Any],
        status: str,
        at: dt.datetime,
        **values: Any,
    ) -> None:
        f = self.engine.store.tables.followups
        conn.execute(
            sa.update(f)
            .where(f.c.id == m["id"])
            .values(status=status, fire_at=None, version=f.c.version + 1, **values)
        )
        try:
            policy = next(p for p in spec.followups if p.name == m["policy"])
        except StopIteration:
            return
        if policy.deadline is not None:
            clock_status = "cancelled" if status in ("cancelled", "waived") else None
            self.engine.clocks.stop_clock(
                conn, spec, clock_name(policy), m["case_id"], at, clock_status, f"visit {status}"
            )

    # ------------------------------------------------------------------ run_due

    def next_fire_at(self) -> dt.datetime | None:
        """When the next scheduled visit falls due (``None`` when none is scheduled)."""
        f = self.engine.store.tables.followups
        query = sa.select(sa.func.min(f.c.fire_at))

        def work(conn: sa.Connection) -> dt.datetime | None:
            value: dt.datetime | None = conn.execute(query).scalar()
            return value

        return self.engine.store.run(work, read=True)

    def run_due(self, now: dt.datetime, *, batch: int = 200) -> int:
        """Tell the host (``followup.due``) about every visit whose time has come; returns how
        many. Claimed like deadline rows, so concurrent workers notify each visit once."""
        total = 0
        while True:
            n = self.engine.store.run(lambda conn: self._run_batch(conn, now, batch))
            total += n
            if n < batch:
                return total

    def _run_batch(self, conn: sa.Connection, now: dt.datetime, size: int) -> int:
        f = self.engine.store.tables.followups
        query = (
            sa.select(f)
            .where(f.c.fire_at.is_not(None), f.c.fire_at <= now, f.c.status == "scheduled")
            .order_by(f.c.fire_at, f.c.id)
            .limit(size)
        )
        if self.engine.store.is_postgres:
            query = query.with_for_update(skip_locked=True)
        rows = list(conn.execute(query))
        for row in rows:
            m = row._mapping
            case_row = q.get_case_row(conn, self.engine.store.tables, m["case_id"])
            if case_row is None:
                conn.execute(sa.update(f).where(f.c.id == m["id"]).values(fire_at=None))
                continue
            attempt = int(m["attempts"]) + 1
            conn.execute(
                sa.update(f)
                .where(f.c.id == m["id"])
                .values(status="due", attempts=attempt, fire_at=None, version=f.c.version + 1)
            )
            c = case_row._mapping
            self.engine._queue(
                conn,
                hk.FollowUpDue(
                    idempotency_key=f"followup:{m['id']}:attempt:{attempt}",
                    case_id=c["id"],
                    workflow=c["workflow"],
                    workflow_version=c["workflow_version"],
                    state=c["state"],
                    occurred_at=m["due_at"],
                    followup=m["policy"],
                    visit_id=m["id"],
                    attempt=attempt,
                    channel=m["channel"],
                    due_at=m["due_at"],
                ),
                self.engine.clock.now(),
            )
        return len(rows)

    # ------------------------------------------------------------------ commands

    def record(
        self,
        case_id: int,
        outcome: str,
        actor: Actor,
        *,
        score: int | None = None,
        comment: str | None = None,
        at: dt.datetime | str | None = None,
    ) -> FollowUp:
        """Record the outcome of a case's open visit (see the module docs for what follows)."""
        if outcome not in FOLLOWUP_OUTCOMES:
            raise InvalidInput(
                "outcome", f"{outcome!r} is not one of {', '.join(FOLLOWUP_OUTCOMES)}"
            )
        if score is not None and not (isinstance(score, int) and 1 <= score <= 5):
            raise InvalidInput("score", f"{score!r} must be a whole number from 1 to 5")
        when = self.engine._instant(at, "at")

        def work(conn: sa.Connection) -> FollowUp:
            case_row, spec, m = self._open_visit(conn, case_id)
            policy = next(p for p in spec.followups if p.name == m["policy"])
            attempts = max(int(m["attempts"]), 1)
            f = self.engine.store.tables.followups
            details = {
                "outcome": outcome,
                "score": score,
                "comment": comment,
                "recorded_by": actor.id,
                "recorded_at": when,
            }
            if outcome == "unreachable" and attempts < policy.attempts:
                retry = policy.retry_every or Period(1, Unit.DAYS)
                due_at = self._due_after(spec, policy, when, retry)
                conn.execute(
                    sa.update(f)
                    .where(f.c.id == m["id"])
                    .values(
                        status="scheduled",
                        attempts=attempts,
                        due_at=due_at,
                        fire_at=due_at,
                        comment=comment,
                        version=f.c.version + 1,
                    )
                )
                self.engine.clocks.announce(conn, due_at)
            elif outcome == "unreachable":
                self._close_visit(conn, spec, m, "unreachable", when, attempts=attempts, **details)
            else:
                self._close_visit(conn, spec, m, "completed", when, attempts=attempts, **details)
            self.engine.record_event(
                conn,
                case_row,
                kind="followup",
                actor=actor,
                at=when,
                now=self.engine.clock.now(),
                data={
                    "visit_id": m["id"],
                    "policy": policy.name,
                    "outcome": outcome,
                    "score": score,
                    "comment": comment,
                    "attempt": attempts,
                },
            )
            self._after_outcome(conn, spec, policy, case_id, outcome, when)
            return _visit(conn.execute(sa.select(f).where(f.c.id == m["id"])).one())

        return self.engine.store.run(work)

    def _after_outcome(
        self,
        conn: sa.Connection,
        spec: WorkflowSpec,
        policy: FollowUpSpec,
        case_id: int,
        outcome: str,
        at: dt.datetime,
    ) -> None:
        system = Actor.system()
        case = q.case_from_row(q.get_case_row(conn, self.engine.store.tables, case_id))
        if outcome == "dissatisfied":
            limit_reached = case.rehandle_count >= policy.max_rehandles
            reason = (
                f"consumer dissatisfied after {case.rehandle_count} re-handle(s)"
                if limit_reached
                else "consumer dissatisfied at follow-up visit"
            )
            reopen = {"reason": reason, **({"for_escalation": True} if limit_reached else {})}
            self.engine._fire_in(conn, case_id, policy.reopen_trigger, system, reopen, at, None)
            if limit_reached and policy.escalate_trigger:
                self.engine._fire_in(
                    conn, case_id, policy.escalate_trigger, system, {"reason": reason}, at, None
                )
        elif outcome in SATISFIED and policy.on_satisfied == "archive":
            self.engine._fire_in(
                conn,
                case_id,
                policy.archive_trigger,
                system,
                {"reason": f"consumer {outcome} at follow-up visit"},
                at,
                None,
            )

    def waive(
        self, case_id: int, actor: Actor, *, reason: str, at: dt.datetime | str | None = None
    ) -> FollowUp:
        """Waive a case's pending visit (a role the policy's ``waiver_roles`` allows; audited)."""
        when = self.engine._instant(at, "at")
        if not reason or not reason.strip():
            raise MissingField(str(case_id), "waive", ["reason"])

        def work(conn: sa.Connection) -> FollowUp:
            case_row, spec, m = self._open_visit(conn, case_id)
            policy = next(p for p in spec.followups if p.name == m["policy"])
            if not actor.roles & set(policy.waiver_roles):
                raise PermissionDenied(
                    str(case_id),
                    "waive follow-up",
                    actor.id,
                    sorted(actor.roles),
                    policy.waiver_roles,
                )
            self._close_visit(
                conn,
                spec,
                m,
                "waived",
                when,
                comment=reason,
                recorded_by=actor.id,
                recorded_at=when,
            )
            self.engine.record_event(
                conn,
                case_row,
                kind="followup_waived",
                actor=actor,
                at=when,
                now=self.engine.clock.now(),
                data={"visit_id": m["id"], "policy": policy.name, "reason": reason},
            )
            f = self.engine.store.tables.followups
            return _visit(conn.execute(sa.select(f).where(f.c.id == m["id"])).one())

        return self.engine.store.run(work)

    def _open_visit(
        self, conn: sa.Connection, case_id: int
    ) -> tuple[Any, WorkflowSpec, dict[str, Any]]:
        from casework.errors import CaseNotFound

        case_row = q.get_case_row(conn, self.engine.store.tables, case_id)
        if case_row is None:
            raise CaseNotFound(str(case_id))
        case = q.case_from_row(case_row)
        spec = self.engine.workflows.get(case.workflow, case.workflow_version)
        rows = self._open_visits(conn, case_id)
        if not rows:
            raise InvalidInput("followup", f"case {case_id} has no pending follow-up visit")
        return case_row, spec, dict(rows[0]._mapping)

    # ------------------------------------------------------------------ queries

    def list(
        self,
        *,
        due_only: bool = False,
        case_id: int | None = None,
        status: str | None = None,
        limit: int | None = None,
    ) -> list[FollowUp]:
        """Visits, oldest first: ``due_only`` = awaiting an outcome now (status ``due``, or
        ``scheduled`` with ``due_at`` passed)."""
        f = self.engine.store.tables.followups
        query = sa.select(f).order_by(f.c.due_at, f.c.id)
        if due_only:
            now = self.engine.clock.now()
            query = query.where(
                sa.or_(f.c.status == "due", sa.and_(f.c.status == "scheduled", f.c.due_at <= now))
            )
        if case_id is not None:
            query = query.where(f.c.case_id == case_id)
        if status is not None:
            query = query.where(f.c.status == status)
        if limit is not None:
            query = query.limit(limit)
        rows = self.engine.store.run(lambda conn: list(conn.execute(query)), read=True)
        return [_visit(r) for r in rows]
