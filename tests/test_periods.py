"""Period texts as workflow files write them, in English and Chinese."""

from __future__ import annotations

import pytest

from casework.calendars import parse_period
from casework.errors import PeriodError
from casework.periods import Period, Unit


@pytest.mark.parametrize(
    ("text", "period"),
    [
        ("7 working days", Period(7, Unit.WORKING_DAYS)),
        ("1 working day", Period(1, Unit.WORKING_DAYS)),
        ("7 工作日", Period(7, Unit.WORKING_DAYS)),
        ("7个工作日", Period(7, Unit.WORKING_DAYS)),
        ("60 days", Period(60, Unit.DAYS)),
        ("60 日", Period(60, Unit.DAYS)),
        ("60 自然日", Period(60, Unit.DAYS)),
        ("48 hours", Period(48, Unit.HOURS)),
        ("48 小时", Period(48, Unit.HOURS)),
        ("4 business hours", Period(4, Unit.BUSINESS_HOURS)),
        ("  15   Working   Days ", Period(15, Unit.WORKING_DAYS)),
    ],
)
def test_period_texts_parse(text: str, period: Period) -> None:
    """Every supported spelling parses to the same amount and unit (also via the cache)."""
    assert Period.parse(text) == period
    assert parse_period(text) == period


def test_period_renders_back() -> None:
    """str() gives the canonical English form, singular for one."""
    assert str(Period(7, Unit.WORKING_DAYS)) == "7 working days"
    assert str(Period(1, Unit.DAYS)) == "1 day"
    assert Period.parse(str(Period(4, Unit.BUSINESS_HOURS))) == Period(4, Unit.BUSINESS_HOURS)


@pytest.mark.parametrize(
    ("text", "hint"),
    [
        ("7 workdays", 'did you mean "7 working days"'),
        ("7", "missing unit"),
        ("seven days", "whole number"),
        ("-3 days", "whole number"),
    ],
)
def test_bad_period_texts_are_refused_with_a_hint(text: str, hint: str) -> None:
    """PeriodError keeps the text and says what would have worked."""
    with pytest.raises(PeriodError) as err:
        Period.parse(text)
    assert hint in str(err.value) and err.value.text == text
