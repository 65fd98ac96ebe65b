"""Workflow definitions as frozen attrs records.

A :class:`WorkflowSpec` is what :mod:`casework.loading` builds from a workflow file once every
problem in it has been ruled out. It is immutable and hashable by ``(name, version)``; the engine
compiles one state machine per spec and pins every case to the spec it started under.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Mapping
from typing import Any, Literal

import attrs

from casework.periods import Period

Rollover = Literal["non_working_day", "statutory_holiday_block", "none"]
ROLLOVERS: tuple[Rollover, ...] = ("non_working_day", "statutory_holiday_block", "none")

PinBy = Literal["received", "accepted"]
Basis = Literal["law", "policy"]

COMPARISON_OPS = ("==", "!=", "<", "<=", ">", ">=", "in", "not_in", "present", "absent")

FOLLOWUP_OUTCOMES = ("satisfied", "basically_satisfied", "dissatisfied", "unreachable")


@attrs.frozen
class Label:
    """A name for people, in Chinese and/or English."""

    zh: str | None = None
    en: str | None = None

    def text(self, lang: str = "zh", fallback: str = "") -> str:
        first, second = (self.zh, self.en) if lang == "zh" else (self.en, self.zh)
        return first or second or fallback


@attrs.frozen
class StateSpec:
    name: str
    label: Label = Label()
    initial: bool = False
    final: bool = False
    description: str | None = None


@attrs.frozen
class Comparison:
    """A declarative guard: ``field op value`` on the case's fields.

    ``field`` is a case attribute (``amount``, ``category``, ``channel``, ...) or ``data.KEY`` for
    the host's free JSON, or ``input.KEY`` for the data carried by the command being fired.
    """

    field: str
    op: str
    value: Any = None

    def describe(self) -> str:
        if self.op in ("present", "absent"):
            return f"{self.field} {self.op}"
        return f"{self.field} {self.op} {self.value!r}"


@attrs.frozen
class GuardSpec:
    """Either a named predicate the host registers, or a :class:`Comparison`."""

    name: str | None = None
    comparison: Comparison | None = None

    @property
    def label(self) -> str:
        if self.name is not None:
            return self.name
        assert self.comparison is not None
        return self.comparison.describe()


@attrs.frozen
class TransitionSpec:
    trigger: str
    sources: tuple[str, ...]
    dest: str
    roles: tuple[str, ...]
    guards: tuple[GuardSpec, ...] = ()
    requires: tuple[str, ...] = ()
    label: Label = Label()


@attrs.frozen
class LadderStep:
    """One rung of a clock's escalation ladder.

    ``kind`` is ``fraction`` (at ``fraction`` of the period, 0 < f < 1), ``before`` (``offset``
    before due) or ``after`` (``offset`` after breach). The step fires ``fire`` (a trigger, as
    actor ``system``), calls ``hooks`` (names registered by the host), or both; it always emits
    ``deadline.warning`` (before due) or ``deadline.breached`` (at/after due).
    """

    name: str
    kind: Literal["fraction", "before", "after"]
    fraction: float | None = None
    offset: Period | None = None
    fire: str | None = None
    hooks: tuple[str, ...] = ()


@attrs.frozen
class ExtensionStep:
    """An extension rung: the period may grow to ``to`` in total when one of ``roles`` approves.

    ``notify`` marks that the consumer must be told the new date (the ``deadline.extended`` hook
    carries it). With ``up_to`` the approver may grant any total above the previous one up to
    ``to`` ("may extend by up to 30 days")."""

    to: Period
    roles: tuple[str, ...]
    notify: bool = True
    up_to: bool = False


@attrs.frozen
class ClockSpec:
    """A named deadline clock.

    It starts when the case enters one of ``start_states`` or fires one of ``start_triggers``,
    stops on ``stop_triggers`` / ``stop_states`` (met if before due), is paused while the case is
    in ``pause_states`` (excluded time), and restarts from zero on ``restart_triggers``.

    A clock is cancelled when the case reaches a final state it does not stop on, unless
    ``outlives_closure``: then it keeps running (ladder, breach) after closure until one of its
    ``stop_triggers`` is recorded with :meth:`casework.Engine.stop_clock`.
    """

    name: str
    period: Period
    calendar: str
    rollover: Rollover = "non_working_day"
    start_states: tuple[str, ...] = ()
    start_triggers: tuple[str, ...] = ()
    stop_states: tuple[str, ...] = ()
    stop_triggers: tuple[str, ...] = ()
    pause_states: tuple[str, ...] = ()
    restart_triggers: tuple[str, ...] = ()
    max_pause: Period | None = None
    basis: Basis = "policy"
    legal_basis: str | None = None
    label: Label = Label()
    ladder: tuple[LadderStep, ...] = ()
    extensions: tuple[ExtensionStep, ...] = ()
    outlives_closure: bool = False


@attrs.frozen
class QuietHours:
    """No visit or notification between ``start`` and ``end`` (local), nor on rest days of
    ``calendar`` (when set)."""

    start: dt.time
    end: dt.time
    calendar: str | None = None


@attrs.frozen
class FollowUpSpec:
    """A follow-up visit (回访) policy."""

    name: str
    after_triggers: tuple[str, ...]
    delay: Period
    sample: float = 1.0
    always_escalated: bool = True
    always_reopened: bool = True
    always_categories: tuple[str, ...] = ()
    channel: str = "phone"
    attempts: int = 3
    retry_every: Period | None = None
    quiet_hours: QuietHours | None = None
    deadline: Period | None = None
    calendar: str | None = None
    max_rehandles: int = 2
    reopen_trigger: str = "reopen"
    escalate_trigger: str | None = "escalate"
    on_satisfied: Literal["allow_archive", "archive"] = "allow_archive"
    archive_trigger: str = "archive"
    required: bool = True
    waiver_roles: tuple[str, ...] = ("supervisor",)


@attrs.frozen
class WorkflowSpec:
    """A whole validated workflow definition (one version of one workflow)."""

    name: str
    version: int
    effective_from: dt.date
    states: Mapping[str, StateSpec]
    transitions: tuple[TransitionSpec, ...]
    roles: tuple[str, ...]
    title: Label = Label()
    description: str | None = None
    effective_until: dt.date | None = None
    timezone: str = "Asia/Shanghai"
    calendar: str = "cn"
    pin_by: PinBy = "received"
    channels: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    guards: tuple[str, ...] = ()
    hooks: tuple[str, ...] = ()
    clocks: tuple[ClockSpec, ...] = ()
    followups: tuple[FollowUpSpec, ...] = ()
    metadata: Mapping[str, Any] = attrs.field(factory=dict, eq=False, hash=False)
    source: str | None = attrs.field(default=None, eq=False, hash=False)
    fingerprint: str = attrs.field(default="", eq=False, hash=False)

    @property
    def key(self) -> tuple[str, int]:
        return (self.name, self.version)

    @functools.cached_property
    def initial(self) -> str:
        return next(s.name for s in self.states.values() if s.initial)

    @functools.cached_property
    def finals(self) -> frozenset[str]:
        return frozenset(s.name for s in self.states.values() if s.final)

    @functools.cached_property
    def triggers(self) -> tuple[str, ...]:
        seen: dict[str, None] = {}
        for t in self.transitions:
            seen.setdefault(t.trigger, None)
        return tuple(seen)

    def transitions_from(self, state: str) -> tuple[TransitionSpec, ...]:
        return tuple(t for t in self.transitions if state in t.sources)

    def clock(self, name: str) -> ClockSpec:
        for c in self.clocks:
            if c.name == name:
                return c
        raise KeyError(name)
