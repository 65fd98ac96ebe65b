"""Periods as workflow files write them: ``"7 working days"``, ``"60 日"``, ``"48 hours"``.

A :class:`Period` is only an amount and a unit; how it is counted (start day not counted,
rollover, business hours) belongs to :mod:`casework.calendars`.
"""

from __future__ import annotations

import difflib
import enum
import re

import attrs

from casework.errors import PeriodError


class Unit(enum.Enum):
    WORKING_DAYS = "working days"
    DAYS = "days"
    HOURS = "hours"
    BUSINESS_HOURS = "business hours"


_UNIT_WORDS: dict[str, Unit] = {
    "working day": Unit.WORKING_DAYS,
    "working days": Unit.WORKING_DAYS,
    "business day": Unit.WORKING_DAYS,
    "business days": Unit.WORKING_DAYS,
    "工作日": Unit.WORKING_DAYS,
    "个工作日": Unit.WORKING_DAYS,
    "day": Unit.DAYS,
    "days": Unit.DAYS,
    "calendar day": Unit.DAYS,
    "calendar days": Unit.DAYS,
    "日": Unit.DAYS,
    "天": Unit.DAYS,
    "自然日": Unit.DAYS,
    "个自然日": Unit.DAYS,
    "hour": Unit.HOURS,
    "hours": Unit.HOURS,
    "小时": Unit.HOURS,
    "个小时": Unit.HOURS,
    "business hour": Unit.BUSINESS_HOURS,
    "business hours": Unit.BUSINESS_HOURS,
    "working hour": Unit.BUSINESS_HOURS,
    "working hours": Unit.BUSINESS_HOURS,
    "工作小时": Unit.BUSINESS_HOURS,
}

_PERIOD_RE = re.compile(r"^\s*(\d+)\s*(.*?)\s*$")


@attrs.frozen(order=False)
class Period:
    """An amount of a unit. ``Period(7, Unit.WORKING_DAYS)`` renders as ``"7 working days"``."""

    amount: int = attrs.field(validator=attrs.validators.ge(0))
    unit: Unit

    @classmethod
    def parse(cls, text: str | Period) -> Period:
        """Parse ``"7 working days"``, ``"7 工作日"``, ``"60 days"``, ``"60 日"``, ``"48 hours"``,
        ``"4 business hours"``. Raises :class:`PeriodError` with a did-you-mean."""
        if isinstance(text, Period):
            return text
        if not isinstance(text, str):
            raise PeriodError(str(text), 'expected text like "7 working days" or "60 日"')
        m = _PERIOD_RE.match(text)
        if not m:
            raise PeriodError(text, 'expected a whole number and a unit, e.g. "7 working days"')
        amount, word = int(m.group(1)), m.group(2).lower()
        word = re.sub(r"\s+", " ", word)
        unit = _UNIT_WORDS.get(word)
        if unit is None:
            if not word:
                raise PeriodError(text, 'missing unit (e.g. "working days", "days", "hours")')
            close = difflib.get_close_matches(word, list(_UNIT_WORDS), n=1, cutoff=0.6)
            if not close and "work" in word:
                close = ["working days"]
            hint = f' (did you mean "{amount} {close[0]}"?)' if close else ""
            raise PeriodError(text, f"unknown unit{hint}")
        return cls(amount, unit)

    @property
    def is_day_based(self) -> bool:
        return self.unit in (Unit.WORKING_DAYS, Unit.DAYS)

    def with_amount(self, amount: int) -> Period:
        return Period(amount, self.unit)

    def __str__(self) -> str:
        word = self.unit.value
        if self.amount == 1:
            word = word[:-1]
        return f"{self.amount} {word}"
