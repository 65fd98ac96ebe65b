"""Hooks: the host's callables, the frozen payloads they receive, and their registry.

A hook is any callable ``hook(payload) -> None``. Notifications are written to the outbox in the
same transaction as the change that caused them and delivered afterwards, **at least once**: a
crash between a hook call and the commit that marks it delivered repeats the call, so each payload
carries an ``idempotency_key`` the host can deduplicate on (e.g. ``deadline:42:breach``).
"""

from __future__ import annotations

import datetime as dt
import logging
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from importlib.metadata import entry_points
from typing import Any, ClassVar, Protocol, TypeVar

import attrs

from casework.errors import ConfigurationError

log = logging.getLogger("casework.hooks")

CASE_OPENED = "case.opened"
CASE_TRANSITIONED = "case.transitioned"
CASE_ESCALATED = "case.escalated"
DEADLINE_WARNING = "deadline.warning"
DEADLINE_BREACHED = "deadline.breached"
DEADLINE_EXTENDED = "deadline.extended"
FOLLOWUP_DUE = "followup.due"
RISK_HOTSPOT = "risk.hotspot"

ENTRY_POINT_GROUP = "casework.integrations"


def _instant(value: Any) -> dt.datetime:
    if isinstance(value, str):
        return dt.datetime.fromisoformat(value)
    assert isinstance(value, dt.datetime)
    return value


def _opt_instant(value: Any) -> dt.datetime | None:
    return None if value is None else _instant(value)


_FIELD_NAMES: dict[type, tuple[str, ...]] = {}


@attrs.frozen(kw_only=True)
class Payload:
    """Fields every notification carries. ``occurred_at`` is an aware UTC datetime."""

    topic: ClassVar[str] = ""
    idempotency_key: str
    case_id: int
    workflow: str
    workflow_version: int
    state: str
    occurred_at: dt.datetime = attrs.field(converter=_instant)

    def to_json(self) -> dict[str, Any]:
        names = _FIELD_NAMES.get(type(self))
        if names is None:
            names = _FIELD_NAMES[type(self)] = tuple(f.name for f in attrs.fields(type(self)))
        out: dict[str, Any] = {}
        for k in names:
            v = getattr(self, k)
            if isinstance(v, dt.datetime | dt.date):
                v = v.isoformat()
            elif isinstance(v, tuple):
                v = list(v)
            out[k] = v
        return out


@attrs.frozen(kw_only=True)
class CaseOpened(Payload):
    topic: ClassVar[str] = CASE_OPENED
    channel: str
    category: str | None = None
    external_id: str | None = None


@attrs.frozen(kw_only=True)
class CaseTransitioned(Payload):
    topic: ClassVar[str] = CASE_TRANSITIONED
    trigger: str
    from_state: str
    to_state: str
    actor: str
    data: Mapping[str, Any] = attrs.field(factory=dict)


@attrs.frozen(kw_only=True)
class CaseEscalated(Payload):
    topic: ClassVar[str] = CASE_ESCALATED
    trigger: str
    from_state: str
    actor: str
    reason: str | None = None


@attrs.frozen(kw_only=True)
class DeadlinePayload(Payload):
    clock: str
    deadline_id: int
    due_at: dt.datetime = attrs.field(converter=_instant)
    due_on: str | None = None
    elapsed_fraction: float = 0.0
    step: str | None = None
    legal_basis: str | None = None
    provisional: bool = False


@attrs.frozen(kw_only=True)
class DeadlineWarning(DeadlinePayload):
    topic: ClassVar[str] = DEADLINE_WARNING


@attrs.frozen(kw_only=True)
class DeadlineBreached(DeadlinePayload):
    topic: ClassVar[str] = DEADLINE_BREACHED


@attrs.frozen(kw_only=True)
class DeadlineExtended(DeadlinePayload):
    topic: ClassVar[str] = DEADLINE_EXTENDED
    previous_due_at: dt.datetime | None = attrs.field(default=None, converter=_opt_instant)
    reason: str | None = None
    approved_by: str | None = None
    notify_consumer: bool = True


@attrs.frozen(kw_only=True)
class FollowUpDue(Payload):
    topic: ClassVar[str] = FOLLOWUP_DUE
    followup: str
    visit_id: int
    attempt: int
    channel: str
    due_at: dt.datetime = attrs.field(converter=_instant)


@attrs.frozen(kw_only=True)
class NamedHookCall(Payload):
    """Payload for a hook a workflow file names (e.g. in a clock's ladder)."""

    topic: ClassVar[str] = "named"
    hook: str
    clock: str | None = None
    step: str | None = None
    due_at: dt.datetime | None = attrs.field(default=None, converter=_opt_instant)


PAYLOAD_TYPES: dict[str, type[Payload]] = {
    cls.topic: cls
    for cls in (
        CaseOpened,
        CaseTransitioned,
        CaseEscalated,
        DeadlineWarning,
        DeadlineBreached,
        DeadlineExtended,
        FollowUpDue,
    )
}


def payload_from_json(topic: str, data: Mapping[str, Any]) -> Any:
    """Rebuild the frozen payload an outbox row holds."""
    if topic.startswith("hook:"):
        return NamedHookCall(**data)
    if topic == RISK_HOTSPOT:
        # A period-report finding, not a case event: its class lives with the report.
        from casework.reporting import RiskHotspot

        return RiskHotspot(**data)
    cls = PAYLOAD_TYPES.get(topic)
    if cls is None:
        raise ConfigurationError(f"unknown hook topic {topic!r}")
    fields = {f.name for f in attrs.fields(cls)}
    return cls(**{k: v for k, v in data.items() if k in fields})


class Hook(Protocol):
    """A host callable receiving one frozen payload."""

    def __call__(self, payload: Any, /) -> None: ...


H = TypeVar("H", bound=Callable[..., Any])


class HookRegistry:
    """Which host callables receive which topics.

    Topics are the built-in ones (``case.opened``, ``deadline.breached``, ...) and the names a
    workflow file declares under ``hooks:`` (delivered as topic ``hook:<name>``).
    """

    def __init__(self) -> None:
        self._hooks: dict[str, list[Callable[[Any], None]]] = defaultdict(list)

    def register(self, topic: str, fn: Callable[[Any], None]) -> None:
        self._hooks[topic].append(fn)

    def on(self, topic: str) -> Callable[[H], H]:
        """Decorator form of :meth:`register`."""

        def deco(fn: H) -> H:
            self.register(topic, fn)
            return fn

        return deco

    def register_named(self, name: str, fn: Callable[[Any], None]) -> None:
        """Register a hook a workflow file names (``hooks: [notify_manager]``)."""
        self.register(f"hook:{name}", fn)

    def for_topic(self, topic: str) -> tuple[Callable[[Any], None], ...]:
        return tuple(self._hooks.get(topic, ()))

    def has_named(self, name: str) -> bool:
        return bool(self._hooks.get(f"hook:{name}"))

    @property
    def topics(self) -> frozenset[str]:
        return frozenset(t for t, fns in self._hooks.items() if fns)

    def update(
        self, mapping: Mapping[str, Callable[[Any], None] | Iterable[Callable[[Any], None]]]
    ) -> None:
        for topic, fns in mapping.items():
            for fn in [fns] if callable(fns) else list(fns):
                self.register(topic, fn)

    def load_entry_points(self) -> list[str]:
        """Let installed integrations register themselves.

        Each entry point in group ``casework.integrations`` names a callable
        ``setup(registry: HookRegistry) -> None``. Returns the names loaded.
        """
        loaded = []
        for ep in entry_points(group=ENTRY_POINT_GROUP):
            setup = ep.load()
            setup(self)
            loaded.append(ep.name)
            log.info("loaded casework integration %s", ep.name)
        return loaded
