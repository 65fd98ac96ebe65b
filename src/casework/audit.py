"""The hash chain over each case's events: altering, removing or inserting one is detectable."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Mapping, Sequence
from typing import Any

import attrs

GENESIS = ""


def _iso(value: dt.datetime) -> str:
    return value.astimezone(dt.UTC).isoformat(timespec="microseconds")


def _default(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        return _iso(value)
    if isinstance(value, dt.date):
        return value.isoformat()
    return str(value)


def event_hash(
    *,
    prev_hash: str,
    case_id: int,
    seq: int,
    kind: str,
    trigger: str | None,
    from_state: str | None,
    to_state: str | None,
    actor: str,
    roles: Sequence[str],
    data: Mapping[str, Any],
    occurred_at: dt.datetime,
    recorded_at: dt.datetime,
) -> str:
    """SHA-256 over the previous hash and a canonical JSON of the event's content."""
    body = json.dumps(
        [
            prev_hash,
            case_id,
            seq,
            kind,
            trigger,
            from_state,
            to_state,
            actor,
            sorted(roles),
            data,
            _iso(occurred_at),
            _iso(recorded_at),
        ],
        sort_keys=True,
        ensure_ascii=False,
        separators=(",", ":"),
        default=_default,
    )
    return hashlib.sha256(body.encode()).hexdigest()


@attrs.frozen
class AuditFinding:
    case_id: int
    seq: int | None
    message: str


@attrs.frozen
class AuditReport:
    """Outcome of :meth:`casework.Engine.verify_audit`."""

    cases_checked: int
    events_checked: int
    findings: tuple[AuditFinding, ...]

    @property
    def ok(self) -> bool:
        return not self.findings
