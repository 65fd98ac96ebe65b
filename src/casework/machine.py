"""Workflow spec → one ``transitions.Machine``; the only module that imports ``transitions``.

Cases are never bound to the machine as models (binding costs ~0.5 ms and ~17 KiB per case):
a command fires the machine's event object on a throwaway carrier that holds only ``state``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Any, Protocol

import attrs
from transitions import Machine, MachineError

from casework.errors import ConfigurationError, GuardRejected, PermissionDenied, TriggerNotAllowed
from casework.records import Actor, Case
from casework.spec import Comparison, GuardSpec, TransitionSpec, WorkflowSpec


@attrs.frozen
class GuardContext:
    """What a guard sees: the case before the transition, the trigger, the command's data."""

    case: Case
    trigger: str
    actor: Actor
    data: Mapping[str, Any]
    at: dt.datetime


class Guard(Protocol):
    """A named predicate the host registers: return ``True`` to allow the transition."""

    def __call__(self, ctx: GuardContext) -> bool: ...


_MISSING = object()


def _lookup(ctx: GuardContext, field: str) -> Any:
    if field.startswith("data."):
        return ctx.case.data.get(field[5:], _MISSING)
    if field.startswith("input."):
        return ctx.data.get(field[6:], _MISSING)
    return getattr(ctx.case, field, _MISSING)


def _coerce(value: Any) -> Any:
    # Amounts are Decimal in records and int/float in YAML; compare them as Decimal.
    if isinstance(value, float):
        return Decimal(str(value))
    return value


def evaluate_comparison(cmp: Comparison, ctx: GuardContext) -> bool:
    """Evaluate a declarative guard; a missing field or incomparable types mean ``False``."""
    actual = _lookup(ctx, cmp.field)
    if cmp.op == "present":
        return actual is not _MISSING and actual is not None and actual != ""
    if cmp.op == "absent":
        return actual is _MISSING or actual is None or actual == ""
    if actual is _MISSING or actual is None:
        return False
    a, b = _coerce(actual), cmp.value
    try:
        if cmp.op == "in":
            return a in [_coerce(v) for v in b]
        if cmp.op == "not_in":
            return a not in [_coerce(v) for v in b]
        b = _coerce(b)
        if cmp.op == "==":
            return bool(a == b)
        if cmp.op == "!=":
            return bool(a != b)
        if cmp.op == "<":
            return bool(a < b)
        if cmp.op == "<=":
            return bool(a <= b)
        if cmp.op == ">":
            return bool(a > b)
        if cmp.op == ">=":
            return bool(a >= b)
    except TypeError:
        return False
    raise ValueError(f"unknown comparison operator {cmp.op!r}")


class _Attempt:
    """Per-command scratch the machine's condition callables write into."""

    __slots__ = ("actor", "chosen", "ctx", "denied_roles", "guard_failure", "state")

    def __init__(self, state: str, ctx: GuardContext) -> None:
        self.state = state
        self.ctx = ctx
        self.actor = ctx.actor
        self.chosen: TransitionSpec | None = None
        self.denied_roles: list[str] = []
        self.guard_failure: str | None = None


class CompiledWorkflow:
    """A workflow version compiled once: allowed triggers per state and a firing method."""

    def __init__(
        self, spec: WorkflowSpec, guards: Mapping[str, Guard | Callable[[GuardContext], bool]]
    ) -> None:
        missing = sorted(set(spec.guards) - set(guards))
        if missing:
            raise ConfigurationError(
                f"workflow {spec.name} v{spec.version} names guards the host has not registered: "
                f"{', '.join(missing)} (pass guards={{name: callable}} to Engine.open)"
            )
        self.spec = spec
        self._guards = {name: guards[name] for name in spec.guards}
        self._allowed: dict[str, tuple[str, ...]] = {
            state: tuple(dict.fromkeys(t.trigger for t in spec.transitions_from(state)))
            for state in spec.states
        }
        # Triggers that stop a clock outliving closure: refused on a closed case with a pointer
        # to Engine.stop_clock (only the refusal path reads this).
        self._stops_after_closure: dict[str, str] = {
            trigger: c.name
            for c in spec.clocks
            if c.outlives_closure
            for trigger in c.stop_triggers
        }
        self.machine = Machine(
            model=None,
            states=list(spec.states),
            initial=spec.initial,
            transitions=[
                {
                    "trigger": t.trigger,
                    "source": list(t.sources),
                    "dest": t.dest,
                    "conditions": [self._condition(t)],
                }
                for t in spec.transitions
            ],
            auto_transitions=False,
            send_event=True,
            ignore_invalid_triggers=False,
        )

    def allowed_triggers(self, state: str) -> tuple[str, ...]:
        return self._allowed.get(state, ())

    def _condition(self, t: TransitionSpec) -> Callable[[Any], bool]:
        roles = frozenset(t.roles)

        def check(event: Any) -> bool:
            attempt: _Attempt = event.kwargs["attempt"]
            if not (attempt.actor.roles & roles):
                attempt.denied_roles.extend(r for r in t.roles if r not in attempt.denied_roles)
                return False
            for g in t.guards:
                if not self._passes(g, attempt.ctx):
                    if attempt.guard_failure is None:
                        attempt.guard_failure = g.label
                    return False
            attempt.chosen = t
            return True

        return check

    def _hint(self, state: str, trigger: str) -> str | None:
        clock = self._stops_after_closure.get(trigger)
        if clock is None or state not in self.spec.finals:
            return None
        return (
            f"it stops clock {clock!r}, which outlives closure: record it with "
            f"Engine.stop_clock(case_id, {clock!r}, actor) or "
            f"`casework stop-clock CASE_ID {clock}`"
        )

    def _passes(self, guard: GuardSpec, ctx: GuardContext) -> bool:
        if guard.comparison is not None:
            return evaluate_comparison(guard.comparison, ctx)
        assert guard.name is not None
        return bool(self._guards[guard.name](ctx))

    def fire(self, state: str, trigger: str, ctx: GuardContext) -> TransitionSpec:
        """Decide which transition ``trigger`` takes from ``state``; raise if none may.

        Raises :class:`TriggerNotAllowed`, :class:`PermissionDenied` or :class:`GuardRejected`.
        """
        case_id = str(ctx.case.id)
        event = self.machine.events.get(trigger)
        if event is None or trigger not in self._allowed.get(state, ()):
            raise TriggerNotAllowed(
                case_id, trigger, state, self.allowed_triggers(state), self._hint(state, trigger)
            )
        attempt = _Attempt(state, ctx)
        carrier = _Carrier(state)
        try:
            ok = event.trigger(carrier, attempt=attempt)
        except MachineError:
            raise TriggerNotAllowed(case_id, trigger, state, self.allowed_triggers(state)) from None
        if ok and attempt.chosen is not None:
            return attempt.chosen
        if attempt.guard_failure is not None:
            raise GuardRejected(case_id, trigger, attempt.guard_failure)
        raise PermissionDenied(
            case_id, trigger, ctx.actor.id, sorted(ctx.actor.roles), attempt.denied_roles
        )


class _Carrier:
    """The lightweight stand-in a machine event moves; holds nothing but ``state``."""

    __slots__ = ("state",)

    def __init__(self, state: str) -> None:
        self.state = state
