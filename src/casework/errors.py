"""Every error casework raises: one root, data as attributes, builtin bases a caller would catch."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import attrs


class CaseworkError(Exception):
    """Root of every error casework raises on purpose."""


@attrs.frozen
class Problem:
    """One problem found in a definition file.

    ``path`` is a dotted location inside the document (``states.accepted.deadline``,
    ``transitions[3].dest``); ``line`` is 1-based, or ``None`` when the problem has no single
    place (e.g. "no initial state").
    """

    path: str
    message: str
    line: int | None = None
    file: str | None = None

    def render(self) -> str:
        where = f"line {self.line:<4}" if self.line is not None else "        "
        return (
            f"  {where} {self.path}: {self.message}" if self.path else f"  {where} {self.message}"
        )


class DefinitionError(CaseworkError, ValueError):
    """A workflow, calendar or mapping file is invalid. ``problems`` lists every problem found."""

    def __init__(self, source: str, problems: Sequence[Problem]) -> None:
        self.source = source
        self.problems = tuple(problems)
        n = len(self.problems)
        lines = [f"{source}: {n} problem{'s' if n != 1 else ''}"]
        lines += [p.render() for p in self.problems]
        super().__init__("\n".join(lines))

    @classmethod
    def merge(cls, errors: Iterable[DefinitionError]) -> DefinitionError:
        errs = list(errors)
        problems = [p for e in errs for p in e.problems]
        sources = ", ".join(e.source for e in errs)
        return cls(sources, problems)


class PeriodError(CaseworkError, ValueError):
    """A period text such as ``"7 working days"`` could not be understood."""

    def __init__(self, text: str, message: str) -> None:
        self.text = text
        super().__init__(f"{text!r}: {message}")


class CalendarError(CaseworkError, LookupError):
    """An unknown calendar, or calendar data that cannot be used."""


class CaseNotFound(CaseworkError, LookupError):
    """No case with this id."""

    def __init__(self, case_id: str) -> None:
        self.case_id = case_id
        super().__init__(f"no case with id {case_id!r}")


class WorkflowNotFound(CaseworkError, LookupError):
    """No workflow with this name (or no version of it in force at the given date)."""

    def __init__(self, name: str, message: str | None = None) -> None:
        self.name = name
        super().__init__(message or f"no workflow named {name!r}")


class CommandRejected(CaseworkError):
    """A command was refused; nothing was written."""


class TriggerNotAllowed(CommandRejected, ValueError):
    """The trigger cannot fire from the case's current state."""

    def __init__(
        self,
        case_id: str,
        trigger: str,
        state: str,
        allowed: Sequence[str],
        hint: str | None = None,
    ) -> None:
        self.case_id = case_id
        self.trigger = trigger
        self.state = state
        self.allowed = tuple(allowed)
        self.hint = hint
        allowed_txt = ", ".join(self.allowed) if self.allowed else "none (final state)"
        super().__init__(
            f"case {case_id}: trigger {trigger!r} is not allowed in state {state!r}; "
            f"allowed here: {allowed_txt}" + (f" ({hint})" if hint else "")
        )


class PermissionDenied(CommandRejected, PermissionError):
    """None of the actor's roles may fire this trigger."""

    def __init__(
        self, case_id: str, trigger: str, actor: str, roles: Sequence[str], allowed: Sequence[str]
    ) -> None:
        self.case_id = case_id
        self.trigger = trigger
        self.actor = actor
        self.roles = tuple(roles)
        self.allowed_roles = tuple(allowed)
        super().__init__(
            f"case {case_id}: {actor!r} (roles: {', '.join(roles) or 'none'}) may not fire "
            f"{trigger!r}; it needs one of: {', '.join(allowed)}"
        )


class GuardRejected(CommandRejected):
    """A guard vetoed the transition."""

    def __init__(self, case_id: str, trigger: str, guard: str, message: str | None = None) -> None:
        self.case_id = case_id
        self.trigger = trigger
        self.guard = guard
        detail = f": {message}" if message else ""
        super().__init__(f"case {case_id}: guard {guard!r} vetoed {trigger!r}{detail}")


class MissingField(CommandRejected, ValueError):
    """The trigger requires fields the command did not carry."""

    def __init__(self, case_id: str, trigger: str, missing: Sequence[str]) -> None:
        self.case_id = case_id
        self.trigger = trigger
        self.missing = tuple(missing)
        super().__init__(
            f"case {case_id}: trigger {trigger!r} requires {', '.join(self.missing)} "
            f"(pass it in data, e.g. data={{{self.missing[0]!r}: ...}})"
        )


class StaleCase(CommandRejected):
    """Another writer changed the case first (optimistic concurrency); reload and retry."""

    def __init__(self, case_id: str, expected_version: int, actual_version: int | None) -> None:
        self.case_id = case_id
        self.expected_version = expected_version
        self.actual_version = actual_version
        super().__init__(
            f"case {case_id}: stale version {expected_version} (now {actual_version}); "
            "another writer won — reload the case and retry"
        )


class InvalidInput(CommandRejected, ValueError):
    """A value given to the API is malformed (naive datetime, unknown channel, ...)."""

    def __init__(self, field: str, message: str) -> None:
        self.field = field
        super().__init__(f"{field}: {message}")


class ConfigurationError(CaseworkError, RuntimeError):
    """The host's setup is incomplete (e.g. a guard or hook a workflow names is not registered)."""


class AuditError(CaseworkError):
    """The audit trail does not verify: an event was altered, removed or inserted."""
