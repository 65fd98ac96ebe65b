"""The façade a host calls: intake, fire, queries.

Every command is one database transaction holding the case row (its ``version`` incremented),
its audit event, the deadline rows it starts or stops and the hook notifications it owes
(guarantee 1). Nothing else is kept between calls: the engine is safe to share between threads,
and any number of processes may share one PostgreSQL database.
"""

from __future__ import annotations

import datetime as dt
import difflib
import logging
import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol
from zoneinfo import ZoneInfo

import attrs
import sqlalchemy as sa

from casework import hooks as hk
from casework.audit import GENESIS, AuditFinding, AuditReport, event_hash
from casework.calendars import CalendarRegistry, default_registry
from casework.clock import Clock, SystemClock, ensure_aware
from casework.errors import (
    CaseNotFound,
    ConfigurationError,
    InvalidInput,
    MissingField,
    StaleCase,
)
from casework.machine import Guard, GuardContext
from casework.periods import Period
from casework.records import Actor, Case, Complainant, Event
from casework.registry import WorkflowRegistry
from casework.spec import TransitionSpec, WorkflowSpec
from casework.store import Store
from casework.store import queries as q

if TYPE_CHECKING:
    from casework.deadlines import Deadline, RunReport
    from casework.followups import FollowUp
    from casework.outbox import DeliveryReport

log = logging.getLogger("casework.engine")

Bind = str | sa.Engine | sa.Connection
GuardFn = Guard | Callable[[GuardContext], bool]


_CASE_FIELDS = frozenset(a.name for a in attrs.fields(Case))


class Effects(Protocol):
    """Work a command owes beyond the case row and its event, written in the same transaction.

    The deadlines and follow-up modules implement this; the engine calls every registered one.
    """

    def on_open(
        self, conn: sa.Connection, spec: WorkflowSpec, case: Case, at: dt.datetime
    ) -> None: ...

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
    ) -> None: ...


def _clean_text(value: str | None, field: str, max_len: int) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise InvalidInput(field, f"expected text, got {type(value).__name__}")
    value = value.strip()
    if len(value) > max_len:
        raise InvalidInput(field, f"longer than {max_len} characters")
    return value or None


def _amount(value: Decimal | int | float | str | None) -> Decimal | None:
    if value is None or value == "":
        return None
    try:
        amount = Decimal(str(value))
    except InvalidOperation:
        raise InvalidInput("amount", f"{value!r} is not a number") from None
    if not amount.is_finite() or amount < 0:
        raise InvalidInput("amount", f"{value!r} must be a non-negative number")
    return amount.quantize(Decimal("0.01"))


def _choice(value: str | None, allowed: Sequence[str], field: str) -> str | None:
    if value is None or not allowed or value in allowed:
        return value
    close = difflib.get_close_matches(value, list(allowed), n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    raise InvalidInput(field, f"unknown {field} {value!r}{hint}; allowed: {', '.join(allowed)}")


class Engine:
    """casework's public façade. Build one with :meth:`open`."""

    def __init__(
        self,
        store: Store,
        registry: WorkflowRegistry,
        *,
        clock: Clock | None = None,
        hooks: hk.HookRegistry | None = None,
        calendars: CalendarRegistry | None = None,
    ) -> None:
        from casework.deadlines import DeadlineManager
        from casework.followups import FollowUpManager
        from casework.outbox import Outbox

        self.store = store
        self.workflows = registry
        self.clock: Clock = clock or SystemClock()
        self.hooks = hooks or hk.HookRegistry()
        self.calendars = calendars or default_registry(_calendar_dirs())
        self._effects: list[Effects] = []
        self.clocks = DeadlineManager(self, self.calendars)
        self.followups = FollowUpManager(self)
        self._effects.append(self.clocks)
        self._effects.append(self.followups)
        self.outbox = Outbox(self)

    @classmethod
    def open(
        cls,
        db: Bind = "sqlite:///casework.db",
        *,
        workflows: str | Path | Iterable[WorkflowSpec] = "workflows",
        clock: Clock | None = None,
        guards: Mapping[str, GuardFn] | None = None,
        hooks: hk.HookRegistry | Mapping[str, Any] | None = None,
        calendars: CalendarRegistry | None = None,
        prefix: str = "",
        schema: str | None = None,
        create: bool = True,
        require_hooks: bool | None = None,
    ) -> Engine:
        """Open casework on a database.

        ``db`` is a URL (``sqlite:///casework.db``, ``postgresql+psycopg://...``), a SQLAlchemy
        ``Engine`` (casework commits its own transactions) or a ``Connection`` (casework joins
        the host's transaction and commits nothing). ``workflows`` is a file, a folder of
        workflow files, or specs already loaded. ``guards`` maps the guard names workflow files
        declare to host predicates; a declared guard left unregistered is a
        :class:`~casework.errors.ConfigurationError`. ``prefix``/``schema`` place casework's
        tables inside a host database. ``create`` brings the schema up to date.
        ``require_hooks`` (default: when ``hooks`` are given) makes every hook a workflow file
        names a setup error unless it is registered.
        """
        if isinstance(workflows, str | Path):
            registry = WorkflowRegistry.from_path(workflows, guards or {})
        else:
            registry = WorkflowRegistry(workflows, guards or {})
        if isinstance(hooks, hk.HookRegistry):
            hook_registry = hooks
        else:
            hook_registry = hk.HookRegistry()
            if hooks:
                hook_registry.update(hooks)
        if require_hooks if require_hooks is not None else hooks is not None:
            missing = sorted(
                {h for spec in registry.all() for h in spec.hooks if not hook_registry.has_named(h)}
            )
            if missing:
                raise ConfigurationError(
                    f"workflow files name hooks nobody registered: {', '.join(missing)} "
                    "(hooks.register_named(name, callable), or an entry point in group "
                    "'casework.integrations')"
                )
        store = Store(db, prefix=prefix, schema=schema)
        if create:
            from casework.migrations import upgrade

            upgrade(store)
        return cls(store, registry, clock=clock, hooks=hook_registry, calendars=calendars)

    def close(self) -> None:
        """Release the connection pool casework created (not a host's Engine or Connection)."""
        self.store.dispose()

    def __enter__(self) -> Engine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def add_effects(self, effects: Effects) -> None:
        self._effects.append(effects)

    # ------------------------------------------------------------------ commands

    def intake(
        self,
        workflow: str,
        *,
        channel: str,
        received_at: dt.datetime | str | None = None,
        external_id: str | None = None,
        category: str | None = None,
        summary: str | None = None,
        description: str | None = None,
        complainant: Complainant | Mapping[str, str | None] | None = None,
        respondent: str | None = None,
        product: str | None = None,
        amount: Decimal | int | float | str | None = None,
        remedy: str | None = None,
        department: str | None = None,
        data: Mapping[str, Any] | None = None,
        actor: Actor | None = None,
    ) -> Case:
        """Take in a complaint and open its case in the workflow's initial state.

        ``received_at`` is an aware datetime (any zone; stored as UTC), default now. The
        workflow version in force on the local receipt date is pinned to the case. Idempotent
        on ``(channel, external_id)``: the same key returns the existing case, writing nothing.
        """
        at = self._instant(received_at, "received_at")
        now = self.clock.now()
        actor = actor or Actor.system()
        received_on = at.astimezone(self._tz_of(workflow)).date()
        spec = self.workflows.in_force(workflow, received_on)
        channel_v = _choice(_clean_text(channel, "channel", 64), spec.channels, "channel")
        if channel_v is None:
            raise InvalidInput("channel", "a channel is required (e.g. hotline, website, email)")
        category_v = _choice(_clean_text(category, "category", 64), spec.categories, "category")
        ext = _clean_text(external_id, "external_id", 200)
        if isinstance(complainant, Mapping):
            complainant = Complainant(complainant.get("name"), complainant.get("contact"))
        complainant = complainant or Complainant()
        values = {
            "workflow": spec.name,
            "workflow_version": spec.version,
            "state": spec.initial,
            "version": 1,
            "channel": channel_v,
            "category": category_v,
            "external_id": ext,
            "summary": _clean_text(summary, "summary", 10_000),
            "description": _clean_text(description, "description", 100_000),
            "complainant_name": _clean_text(complainant.name, "complainant.name", 200),
            "complainant_contact": _clean_text(complainant.contact, "complainant.contact", 200),
            "respondent": _clean_text(respondent, "respondent", 300),
            "product": _clean_text(product, "product", 300),
            "amount": _amount(amount),
            "remedy": _clean_text(remedy, "remedy", 10_000),
            "department": _clean_text(department, "department", 100),
            "data": dict(data or {}),
            "received_at": at,
            "updated_at": now,
            "last_seq": 1,
        }

        def work(conn: sa.Connection) -> tuple[Case, bool]:
            t = self.store.tables
            if ext is not None:
                existing = q.find_case_by_external_id(conn, t, channel_v, ext)
                if existing is not None:
                    return q.case_from_row(existing), False
            case_id = q.insert_case(conn, t, values)
            event_data = {k: values[k] for k in ("channel", "category", "external_id") if values[k]}
            event_data["workflow_version"] = spec.version
            event = q.build_event(
                case_id=case_id,
                seq=1,
                prev_hash=GENESIS,
                kind="opened",
                actor=actor.id,
                roles=sorted(actor.roles),
                occurred_at=at,
                recorded_at=now,
                to_state=spec.initial,
                data=event_data,
            )
            q.insert_event(conn, t, event)
            q.set_case_fields(conn, t, case_id, {"head_hash": event["hash"]})
            case = _case_from_values(case_id, values)
            payload = hk.CaseOpened(
                idempotency_key=f"case:{case_id}:opened",
                case_id=case_id,
                workflow=spec.name,
                workflow_version=spec.version,
                state=spec.initial,
                occurred_at=at,
                channel=channel_v,
                category=category_v,
                external_id=ext,
            )
            self._queue(conn, payload, now)
            for effects in self._effects:
                effects.on_open(conn, spec, case, at)
            return case, True

        try:
            case, created = self.store.run(work)
        except sa.exc.IntegrityError:
            if ext is None:
                raise
            # A concurrent intake with the same key won the race: return its case.
            row = self.store.run(
                lambda conn: q.find_case_by_external_id(conn, self.store.tables, channel_v, ext),
                read=True,
            )
            if row is None:
                raise
            case, created = q.case_from_row(row), False
        if created:
            log.info("case %s opened (%s v%s, %s)", case.id, spec.name, spec.version, channel_v)
        return case

    def fire(
        self,
        case_id: int,
        trigger: str,
        actor: Actor,
        *,
        data: Mapping[str, Any] | None = None,
        at: dt.datetime | str | None = None,
        expected_version: int | None = None,
    ) -> Case:
        """Fire ``trigger`` on a case as ``actor``; returns the case after the transition.

        ``at`` is the business time of the step (aware; default now) — it may be backdated,
        and the event records both it and the system time. ``expected_version`` makes the
        command fail with :class:`StaleCase` if the case changed since the caller read it.
        Raises :class:`TriggerNotAllowed`, :class:`PermissionDenied`, :class:`GuardRejected`,
        :class:`MissingField`, :class:`CaseNotFound`, :class:`StaleCase`; nothing is written
        when it raises.
        """
        occurred = self._instant(at, "at")
        payload = dict(data or {})
        return self.store.run(
            lambda conn: self._fire_in(
                conn, case_id, trigger, actor, payload, occurred, expected_version
            )
        )

    def _fire_in(
        self,
        conn: sa.Connection,
        case_id: int,
        trigger: str,
        actor: Actor,
        data: dict[str, Any],
        at: dt.datetime,
        expected_version: int | None,
    ) -> Case:
        t = self.store.tables
        row = q.get_case_row(conn, t, case_id)
        if row is None:
            raise CaseNotFound(str(case_id))
        before = q.case_from_row(row)
        if expected_version is not None and expected_version != before.version:
            raise StaleCase(str(case_id), expected_version, before.version)
        compiled = self.workflows.compiled(before.workflow, before.workflow_version)
        # Version pinning by acceptance date: the rule version in force when the case is
        # accepted governs it from then on (guarantee 8).
        if compiled.spec.pin_by == "accepted" and trigger == "accept":
            target = self._repin(compiled.spec, before, at)
            compiled = self.workflows.compiled(target.name, target.version)
        spec = compiled.spec
        ctx = GuardContext(case=before, trigger=trigger, actor=actor, data=data, at=at)
        transition = compiled.fire(before.state, trigger, ctx)
        missing = [f for f in transition.requires if data.get(f) in (None, "")]
        if missing:
            raise MissingField(str(case_id), trigger, missing)
        for effects in self._effects:
            check = getattr(effects, "before_fire", None)
            if check is not None:
                check(conn, spec, before, transition, actor, data)
        now = self.clock.now()
        values: dict[str, Any] = {"state": transition.dest, "updated_at": now}
        if spec.version != before.workflow_version:
            values["workflow_version"] = spec.version
        if trigger == "accept" and before.accepted_at is None:
            values["accepted_at"] = at
        if transition.dest in spec.finals:
            values["closed_at"] = at
        elif before.closed_at is not None:
            values["closed_at"] = None
        # A reopen only on the way to the task group (re-handle limit reached) is no re-handle.
        if trigger == "reopen" and not data.get("for_escalation"):
            values["rehandle_count"] = before.rehandle_count + 1
        if trigger == "escalate":
            values["escalation_count"] = before.escalation_count + 1
        for field in ("assignee", "department"):
            if field in data:
                values[field] = _clean_text(data[field], field, 100)
        seq = self.record_event(
            conn,
            row,
            kind="transition",
            actor=actor,
            at=at,
            now=now,
            trigger=trigger,
            from_state=before.state,
            to_state=transition.dest,
            data=data,
            values=values,
        )
        fields = {k: v for k, v in values.items() if k in _CASE_FIELDS}
        after = attrs.evolve(before, version=before.version + 1, **fields)
        common: dict[str, Any] = {
            "case_id": after.id,
            "workflow": after.workflow,
            "workflow_version": after.workflow_version,
            "state": after.state,
            "occurred_at": at,
        }
        # The notification every step owes, written as the JSON of hooks.CaseTransitioned
        # directly (this is the hottest path; tests rebuild the payload from the row).
        key = f"case:{after.id}:event:{seq}"
        q.insert_outbox_rows(
            conn,
            self.store.tables,
            [
                q.outbox_row(
                    key,
                    hk.CASE_TRANSITIONED,
                    after.id,
                    {
                        "idempotency_key": key,
                        **common,
                        "occurred_at": at.isoformat(),
                        "trigger": trigger,
                        "from_state": before.state,
                        "to_state": after.state,
                        "actor": actor.id,
                        "data": data,
                    },
                    now,
                )
            ],
        )
        if trigger == "escalate":
            self._queue(
                conn,
                hk.CaseEscalated(
                    idempotency_key=f"case:{after.id}:event:{seq}:escalated",
                    trigger=trigger,
                    from_state=before.state,
                    actor=actor.id,
                    reason=data.get("reason"),
                    **common,
                ),
                now,
            )
        for effects in self._effects:
            effects.on_fire(conn, spec, before, after, transition, actor, data, at)
        return after

    def record_event(
        self,
        conn: sa.Connection,
        row: Any,
        *,
        kind: str,
        actor: Actor,
        at: dt.datetime,
        now: dt.datetime,
        trigger: str | None = None,
        from_state: str | None = None,
        to_state: str | None = None,
        data: Mapping[str, Any] | None = None,
        values: Mapping[str, Any] | None = None,
    ) -> int:
        """Append an audit event to the case ``row`` (as read in this transaction) and update
        the case: ``values``, version + 1, the chain head. Returns the event's ``seq``.

        Raises :class:`StaleCase` when another writer changed the case since ``row`` was read.
        """
        t = self.store.tables
        m = row._mapping
        seq = int(m["last_seq"]) + 1
        event = q.build_event(
            case_id=m["id"],
            seq=seq,
            prev_hash=m["head_hash"],
            kind=kind,
            actor=actor.id,
            roles=sorted(actor.roles),
            occurred_at=at,
            recorded_at=now,
            trigger=trigger,
            from_state=from_state,
            to_state=to_state,
            data=data,
        )
        update = {"updated_at": now, **(values or {}), "last_seq": seq, "head_hash": event["hash"]}
        # Compare-and-set first: on PostgreSQL it takes the row lock, so a loser learns it
        # lost (StaleCase) before it writes anything else.
        if not q.update_case(conn, t, m["id"], m["version"], update):
            raise StaleCase(str(m["id"]), m["version"], q.current_version(conn, t, m["id"]))
        q.insert_event(conn, t, event)
        return seq

    def _repin(self, spec: WorkflowSpec, case: Case, at: dt.datetime) -> WorkflowSpec:
        accepted_on = at.astimezone(ZoneInfo(spec.timezone)).date()
        target = self.workflows.in_force(spec.name, accepted_on)
        if target.version == spec.version:
            return target
        if case.state not in target.states or not any(
            t.trigger == "accept" for t in target.transitions_from(case.state)
        ):
            log.warning(
                "case %s stays on %s v%s: v%s cannot accept from %r",
                case.id,
                spec.name,
                spec.version,
                target.version,
                case.state,
            )
            return spec
        return target

    def _queue(self, conn: sa.Connection, payload: hk.Payload, now: dt.datetime) -> None:
        q.insert_outbox(
            conn,
            self.store.tables,
            key=payload.idempotency_key,
            topic=payload.topic,
            case_id=payload.case_id,
            payload=payload.to_json(),
            now=now,
        )

    # ------------------------------------------------------------------ deadlines

    def run_due(
        self, now: dt.datetime | str | None = None, *, limit: int | None = None
    ) -> RunReport:
        """Apply every deadline step due at ``now`` (aware; default the clock's now), exactly
        once across all workers. See :class:`casework.deadlines.DeadlineManager`."""
        instant = self._instant(now, "now")
        report = self.clocks.run_due(instant, limit=limit)
        visits = self.followups.run_due(instant)
        return attrs.evolve(report, visits=visits)

    def deliver_hooks(self, *, limit: int = 500) -> DeliveryReport:
        """Deliver due hook notifications from the outbox (at least once; see
        :mod:`casework.outbox`)."""
        return self.outbox.deliver(limit=limit)

    def record_followup(
        self,
        case_id: int,
        outcome: str,
        actor: Actor,
        *,
        score: int | None = None,
        comment: str | None = None,
        at: dt.datetime | str | None = None,
    ) -> FollowUp:
        """Record the outcome of a case's pending follow-up visit: ``satisfied``,
        ``basically_satisfied``, ``dissatisfied`` (reopens, or escalates after the re-handle
        limit) or ``unreachable`` (retried until the attempts run out). ``score`` is 1–5."""
        return self.followups.record(case_id, outcome, actor, score=score, comment=comment, at=at)

    def waive_followup(
        self, case_id: int, actor: Actor, *, reason: str, at: dt.datetime | str | None = None
    ) -> FollowUp:
        """Waive a case's pending visit so it can be archived (permitted roles only; audited)."""
        return self.followups.waive(case_id, actor, reason=reason, at=at)

    def deadlines(self, case_id: int) -> list[Deadline]:
        """Every clock run of a case, oldest first."""
        return self.clocks.for_case(case_id)

    def extend(
        self,
        case_id: int,
        clock: str,
        actor: Actor,
        *,
        reason: str,
        to: str | Period | None = None,
        at: dt.datetime | str | None = None,
        approve: bool = True,
    ) -> Deadline:
        """Extend ``clock`` to its next rung (or to ``to``), with a reason. With ``approve``
        the actor grants it and needs a role the rung allows; with ``approve=False`` it is a
        request that waits for :meth:`decide_extension`. Emits ``deadline.extended`` when
        granted."""
        return self.clocks.request_extension(
            case_id, clock, actor, reason=reason, to=to, at=at, approve=approve
        )

    def decide_extension(
        self,
        case_id: int,
        clock: str,
        actor: Actor,
        *,
        approve: bool,
        reason: str | None = None,
        at: dt.datetime | str | None = None,
    ) -> Deadline:
        """Approve or refuse a pending extension request (a role the rung allows only)."""
        return self.clocks.decide_extension(
            case_id, clock, actor, approve=approve, reason=reason, at=at
        )

    def stop_clock(
        self,
        case_id: int,
        clock: str,
        actor: Actor,
        *,
        reason: str | None = None,
        at: dt.datetime | str | None = None,
    ) -> Deadline:
        """Stop a running ``outlives_closure`` clock of a closed case: the work it measures is
        done (e.g. the 核查 of a violation clue after the mediation settled).

        ``at`` is the business time of the stop (aware; default now). The run ends ``met``
        before its due time, else ``breached``; the case keeps its final state and gets a
        ``clock_stopped`` audit event. The actor needs a role the workflow gives the clock's
        stop triggers. On an open case, fire a stop trigger instead. Raises
        :class:`CaseNotFound`, :class:`InvalidInput`, :class:`PermissionDenied`,
        :class:`StaleCase`; nothing is written when it raises.
        """
        return self.clocks.stop_after_closure(
            case_id, clock, actor, reason=_clean_text(reason, "reason", 10_000), at=at
        )

    def explain(self, case_id: int, clock: str) -> list[str]:
        """Why ``clock`` of a case is due when: start, pauses, extensions, days counted."""
        return self.clocks.explain(case_id, clock)

    def next_due_at(self) -> dt.datetime | None:
        """The earliest instant a deadline or follow-up visit needs attention (for
        schedulers)."""
        times = [t for t in (self.clocks.next_fire_at(), self.followups.next_fire_at()) if t]
        return min(times, default=None)

    # ------------------------------------------------------------------ queries

    def get(self, case_id: int) -> Case:
        """The case as stored now. Raises :class:`CaseNotFound`."""
        row = self.store.run(
            lambda conn: q.get_case_row(conn, self.store.tables, case_id), read=True
        )
        if row is None:
            raise CaseNotFound(str(case_id))
        return q.case_from_row(row)

    def history(self, case_id: int) -> list[Event]:
        """The case's audit trail, oldest first. Raises :class:`CaseNotFound`."""

        def work(conn: sa.Connection) -> list[Event]:
            if q.get_case_row(conn, self.store.tables, case_id) is None:
                raise CaseNotFound(str(case_id))
            return q.case_events(conn, self.store.tables, case_id)

        return self.store.run(work, read=True)

    def list_cases(
        self,
        *,
        workflow: str | None = None,
        state: str | Sequence[str] | None = None,
        channel: str | None = None,
        category: str | None = None,
        assignee: str | None = None,
        opened_from: dt.datetime | str | None = None,
        opened_to: dt.datetime | str | None = None,
        open_only: bool = False,
        ids: Sequence[int] | None = None,
        limit: int | None = None,
        offset: int = 0,
    ) -> list[Case]:
        """Cases matching every filter given, by id. ``opened_*`` bound ``received_at``
        (aware; ``opened_to`` exclusive)."""
        lo = None if opened_from is None else ensure_aware(opened_from, "opened_from")
        hi = None if opened_to is None else ensure_aware(opened_to, "opened_to")
        rows = self.store.run(
            lambda conn: q.list_case_rows(
                conn,
                self.store.tables,
                workflow=workflow,
                state=state,
                channel=channel,
                category=category,
                assignee=assignee,
                opened_from=lo,
                opened_to=hi,
                open_only=open_only,
                ids=ids,
                limit=limit,
                offset=offset,
            ),
            read=True,
        )
        return [q.case_from_row(r) for r in rows]

    def allowed_triggers(self, case: Case) -> tuple[str, ...]:
        return self.workflows.compiled(case.workflow, case.workflow_version).allowed_triggers(
            case.state
        )

    def spec_of(self, case: Case) -> WorkflowSpec:
        return self.workflows.get(case.workflow, case.workflow_version)

    def verify_audit(self, case_id: int | None = None) -> AuditReport:
        """Recompute every case's hash chain; report altered, missing or inserted events."""

        def work(conn: sa.Connection) -> AuditReport:
            t = self.store.tables
            ids = [case_id] if case_id is not None else q.all_case_ids(conn, t)
            findings: list[AuditFinding] = []
            n_events = 0
            for cid in ids:
                row = q.get_case_row(conn, t, cid)
                if row is None:
                    raise CaseNotFound(str(cid))
                events = q.case_events(conn, t, cid)
                n_events += len(events)
                findings.extend(_verify_chain(cid, events, row._mapping))
            return AuditReport(len(ids), n_events, tuple(findings))

        return self.store.run(work, read=True)

    # ------------------------------------------------------------------ helpers

    def _instant(self, value: dt.datetime | str | None, field: str) -> dt.datetime:
        return self.clock.now() if value is None else ensure_aware(value, field)

    def _tz_of(self, workflow: str) -> ZoneInfo:
        versions = self.workflows.versions(workflow)
        return ZoneInfo(versions[-1].timezone)


def _case_from_values(case_id: int, values: Mapping[str, Any]) -> Case:
    """The case just inserted, from the values written (no read-back)."""
    fields = {k: v for k, v in values.items() if k in _CASE_FIELDS}
    return Case(
        id=case_id,
        complainant=Complainant(values["complainant_name"], values["complainant_contact"]),
        **fields,
    )


def _calendar_dirs() -> list[str]:
    return [p for p in os.environ.get("CASEWORK_CALENDARS", "").split(os.pathsep) if p]


def _verify_chain(
    case_id: int, events: list[Event], case_row: Mapping[str, Any]
) -> list[AuditFinding]:
    findings = []
    prev = GENESIS
    for expected_seq, ev in enumerate(events, start=1):
        if ev.seq != expected_seq:
            findings.append(
                AuditFinding(
                    case_id,
                    ev.seq,
                    f"expected event #{expected_seq}, found #{ev.seq} (missing or inserted event)",
                )
            )
        if ev.prev_hash != prev:
            findings.append(AuditFinding(case_id, ev.seq, "link to the previous event is broken"))
        digest = event_hash(
            prev_hash=ev.prev_hash,
            case_id=ev.case_id,
            seq=ev.seq,
            kind=ev.kind,
            trigger=ev.trigger,
            from_state=ev.from_state,
            to_state=ev.to_state,
            actor=ev.actor,
            roles=ev.roles,
            data=ev.data,
            occurred_at=ev.occurred_at,
            recorded_at=ev.recorded_at,
        )
        if digest != ev.hash:
            findings.append(
                AuditFinding(case_id, ev.seq, "content does not match its hash (altered)")
            )
        prev = ev.hash
    if case_row["head_hash"] != prev or case_row["last_seq"] != len(events):
        findings.append(
            AuditFinding(
                case_id,
                None,
                f"case records {case_row['last_seq']} events ending in "
                f"{str(case_row['head_hash'])[:12]}…, the trail has {len(events)} (events removed or added)",
            )
        )
    return findings
