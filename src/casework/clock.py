"""Time, injected. The only module that reads the wall clock is :class:`SystemClock`."""

from __future__ import annotations

import datetime as dt
import threading
from typing import Protocol, runtime_checkable

UTC = dt.UTC


@runtime_checkable
class Clock(Protocol):
    """Tells the current instant as an aware UTC ``datetime``."""

    def now(self) -> dt.datetime: ...


class SystemClock:
    """The real clock (UTC)."""

    def now(self) -> dt.datetime:
        return dt.datetime.now(UTC)


class FrozenClock:
    """A clock that only moves when told to; thread-safe. For tests and simulations.

    ``at`` must be aware (any zone; it is converted to UTC).
    """

    def __init__(self, at: dt.datetime | str) -> None:
        self._lock = threading.Lock()
        self._now = ensure_aware(at, "at")

    def now(self) -> dt.datetime:
        with self._lock:
            return self._now

    def set(self, at: dt.datetime | str) -> None:
        with self._lock:
            self._now = ensure_aware(at, "at")

    def advance(self, delta: dt.timedelta | None = None, **kwargs: float) -> dt.datetime:
        """Move forward by ``delta`` or by timedelta keyword arguments (``hours=3``)."""
        step = delta if delta is not None else dt.timedelta(**kwargs)
        with self._lock:
            self._now = self._now + step
            return self._now


def ensure_aware(value: dt.datetime | str, field: str) -> dt.datetime:
    """Return ``value`` as an aware UTC datetime; reject naive ones with a clear message.

    Strings are ISO 8601 and must carry an offset (``2026-05-01T09:00:00+08:00``).
    """
    from casework.errors import InvalidInput

    if isinstance(value, str):
        try:
            value = dt.datetime.fromisoformat(value)
        except ValueError:
            raise InvalidInput(
                field, f"{value!r} is not an ISO 8601 time (e.g. 2026-05-01T09:00:00+08:00)"
            ) from None
    if not isinstance(value, dt.datetime):
        raise InvalidInput(field, f"expected a datetime, got {type(value).__name__}")
    if value.tzinfo is None or value.utcoffset() is None:
        raise InvalidInput(
            field,
            f"{value.isoformat()} is naive; pass an aware datetime "
            "(e.g. datetime(..., tzinfo=ZoneInfo('Asia/Shanghai')) or an ISO time with offset)",
        )
    return value.astimezone(UTC)
