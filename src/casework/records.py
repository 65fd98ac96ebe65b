"""The records casework hands to its callers: frozen attrs classes with converters at the edge."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import Any

import attrs

SYSTEM = "system"


def _roles(value: Iterable[str] | str) -> frozenset[str]:
    if isinstance(value, str):
        return frozenset({value})
    return frozenset(value)


@attrs.frozen
class Actor:
    """Who fires a command: an id and the roles they act in."""

    id: str
    roles: frozenset[str] = attrs.field(converter=_roles, factory=frozenset)

    @classmethod
    def system(cls) -> Actor:
        """The engine itself (deadline ladders, follow-up automation)."""
        return cls(SYSTEM, frozenset({SYSTEM}))


def mask(value: str | None) -> str | None:
    """Mask personal data for logs and default output: ``13812345678`` → ``138****5678``."""
    if not value:
        return value
    if "@" in value:
        local, _, domain = value.partition("@")
        return (local[:1] + "***@" + domain) if local else "***@" + domain
    n = len(value)
    if n <= 2:
        return "*" * n
    if n <= 6:
        return value[0] + "*" * (n - 2) + value[-1]
    keep = 3 if n >= 10 else 2
    return value[:keep] + "*" * (n - 2 * keep) + value[-keep:] if n > 2 * keep else value[0] + "***"


@attrs.frozen
class Complainant:
    """The consumer. Personal data: masked in logs and in default CLI output."""

    name: str | None = None
    contact: str | None = None

    def masked(self) -> Complainant:
        return Complainant(mask(self.name), mask(self.contact))


@attrs.frozen
class Case:
    """One complaint as stored. ``*_at`` are aware UTC datetimes."""

    id: int
    workflow: str
    workflow_version: int
    state: str
    version: int
    channel: str
    received_at: dt.datetime
    category: str | None = None
    external_id: str | None = None
    summary: str | None = None
    description: str | None = None
    complainant: Complainant = Complainant()
    respondent: str | None = None
    product: str | None = None
    amount: Decimal | None = None
    remedy: str | None = None
    department: str | None = None
    assignee: str | None = None
    data: Mapping[str, Any] = attrs.field(factory=dict)
    accepted_at: dt.datetime | None = None
    closed_at: dt.datetime | None = None
    updated_at: dt.datetime | None = None
    rehandle_count: int = 0
    escalation_count: int = 0

    @property
    def opened_at(self) -> dt.datetime:
        return self.received_at

    @property
    def is_closed(self) -> bool:
        return self.closed_at is not None


@attrs.frozen
class Event:
    """One entry of a case's append-only audit trail.

    ``occurred_at`` is business time (may be backdated with ``at=``); ``recorded_at`` is when
    casework wrote it. ``hash`` chains over the case's previous event (see ``casework audit``).
    """

    id: int
    case_id: int
    seq: int
    kind: str
    occurred_at: dt.datetime
    recorded_at: dt.datetime
    actor: str
    roles: tuple[str, ...] = ()
    trigger: str | None = None
    from_state: str | None = None
    to_state: str | None = None
    data: Mapping[str, Any] = attrs.field(factory=dict)
    prev_hash: str = ""
    hash: str = ""
