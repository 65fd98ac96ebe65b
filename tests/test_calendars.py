"""Calendars and period arithmetic: official schedule tables, hand-worked examples across the
Spring Festival and National Day blocks of 2025 and 2026, rollover policies, excluded time,
provisional years, holiday-cn override files, custom YAML calendars, and properties."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import chinese_calendar
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from casework.calendars import (
    BusinessHours,
    Calendar,
    CalendarRegistry,
    CustomCalendar,
    DayKind,
    HolidaysLibCalendar,
    OfficialCNCalendar,
    WeekendCalendar,
    default_registry,
    load_holiday_cn_file,
    parse_calendar_yaml,
    parse_holiday_cn,
)
from casework.errors import CalendarError, DefinitionError, InvalidInput, PeriodError

SH = ZoneInfo("Asia/Shanghai")
NY = ZoneInfo("America/New_York")
OFFICIAL_WORKING_DAYS = {2024: 251, 2025: 248, 2026: 248}


@pytest.fixture(scope="module")
def cn() -> Calendar:
    return default_registry().get("cn")


@pytest.fixture(scope="module")
def holidays_cn(realdata: Path) -> Path:
    """``realdata/holidays_cn`` (the shared ``realdata`` fixture fails under CI when absent)."""
    folder = realdata / "holidays_cn"
    if not all((folder / f"{y}.json").is_file() for y in OFFICIAL_WORKING_DAYS):
        pytest.fail(f"{folder} lacks the 2024-2026 year files")
    return folder


def at(y: int, m: int, d: int, hh: int = 10, tz: ZoneInfo = SH) -> datetime:
    return datetime(y, m, d, hh, tzinfo=tz)


def midnight_after(d: date, tz: ZoneInfo = SH) -> datetime:
    nxt = d + timedelta(days=1)
    return datetime(nxt.year, nxt.month, nxt.day, tzinfo=tz)


# --------------------------------------------------------------------------- official tables


def _official(folder: Path, year: int) -> tuple[dict[date, bool], dict[date, str]]:
    doc = json.loads((folder / f"{year}.json").read_text("utf-8"))
    listed = {date.fromisoformat(d["date"]): d["isOffDay"] for d in doc["days"]}
    names = {date.fromisoformat(d["date"]): d["name"] for d in doc["days"]}
    return listed, names


def _expected_working(d: date, listed: dict[date, bool]) -> bool:
    # realdata/README: working iff listed isOffDay:false, or Mon-Fri and not listed isOffDay:true
    if d in listed:
        return not listed[d]
    return d.weekday() < 5


@pytest.mark.realdata
@pytest.mark.parametrize("year", sorted(OFFICIAL_WORKING_DAYS))
@pytest.mark.parametrize("source", ["package", "year_files"])
def test_every_day_is_classified_as_the_official_schedule_says(
    holidays_cn: Path, year: int, source: str
) -> None:
    """Every date of 2024-2026 — from chinesecalendar, and from the holiday-cn files alone —
    is working / holiday / make-up exactly as the State Council data says; 251/248/248."""
    if source == "package":
        cal: Calendar = OfficialCNCalendar()
    else:
        files = [load_holiday_cn_file(holidays_cn / f"{y}.json") for y in OFFICIAL_WORKING_DAYS]
        cal = OfficialCNCalendar(year_files=files, use_package=False)
    listed, names = _official(holidays_cn, year)
    d = date(year, 1, 1)
    while d.year == year:
        info = cal.day_kind(d)
        assert cal.is_working_day(d) is _expected_working(d, listed), d
        assert info.working is _expected_working(d, listed), d
        assert not info.provisional
        if listed.get(d) is True:
            assert info.kind is DayKind.HOLIDAY and cal.is_holiday(d), d
            if source == "year_files":
                assert info.name == names[d]
        elif listed.get(d) is False:
            assert info.kind is DayKind.MAKEUP_WORKING_DAY, d
            assert d.weekday() >= 5
        else:
            assert info.kind is (DayKind.WORKING_DAY if d.weekday() < 5 else DayKind.WEEKEND)
        d += timedelta(days=1)
    assert cal.summarize_year(year).working_days == OFFICIAL_WORKING_DAYS[year]
    assert (
        cal.working_days_between(date(year - 1, 12, 31), date(year, 12, 31))
        == (OFFICIAL_WORKING_DAYS[year])
    )


@pytest.mark.realdata
def test_year_fingerprints_depend_on_content_not_source(holidays_cn: Path) -> None:
    """The same schedule from the package and from holiday-cn files hashes the same."""
    files = [load_holiday_cn_file(holidays_cn / f"{y}.json") for y in OFFICIAL_WORKING_DAYS]
    from_files = OfficialCNCalendar(year_files=files, use_package=False)
    package = OfficialCNCalendar()
    for y in OFFICIAL_WORKING_DAYS:
        assert from_files.year_fingerprint(y) == package.year_fingerprint(y)
    # a file that repeats the package's data leaves the calendar fingerprint unchanged
    assert OfficialCNCalendar(year_files=files).fingerprint == package.fingerprint


def test_summary_counts_and_lists_the_2026_schedule(cn: Calendar) -> None:
    """show-year data: 248 working days, 国庆节 days off and its 调休 Saturdays/Sundays."""
    s = cn.summarize_year(2026)
    assert s.working_days == 248 and s.rest_days == 365 - 248 and not s.provisional
    off = {i.on: i.name for i in s.days_off}
    assert [d for d in off if off[d] == "国庆节"] == [date(2026, 10, d) for d in range(1, 8)]
    assert [i.on for i in s.make_up_working_days] == [
        date(2026, 1, 4),
        date(2026, 2, 14),
        date(2026, 2, 28),
        date(2026, 5, 9),
        date(2026, 9, 20),
        date(2026, 10, 10),
    ]


# --------------------------------------------------------------------------- worked examples
# Derived by hand from regulations.md "How periods are counted" and the 2025/2026 JSON:
#   2025 春节: 01-26 (Sun) worked, 01-28..02-04 off, 02-08 (Sat) worked
#   2025 国庆节、中秋节: 09-28 (Sun) worked, 10-01..10-08 off, 10-11 (Sat) worked
#   2026 春节: 02-14 (Sat) worked, 02-15..02-23 off, 02-28 (Sat) worked
#   2026 中秋节 09-25..09-27 off; 国庆节: 09-20 (Sun) worked, 10-01..10-07 off, 10-10 (Sat) worked

WORKING_DAY_EXAMPLES = [
    # start, n, last day, why
    (date(2026, 9, 30), 7, date(2026, 10, 15), "10-08, 10-09, 10-10 (调休), 10-12..10-15"),
    (date(2026, 10, 3), 3, date(2026, 10, 10), "start inside the holiday block; 10-10 counts"),
    (date(2026, 10, 10), 1, date(2026, 10, 12), "start on a make-up day: it is not counted"),
    (date(2026, 10, 10), 5, date(2026, 10, 16), "start on a make-up day"),
    (date(2026, 9, 19), 1, date(2026, 9, 20), "Sunday 09-20 is worked (调休)"),
    (date(2026, 9, 19), 7, date(2026, 9, 29), "09-20..09-24, skip 中秋 09-25..27, 09-28, 09-29"),
    (date(2026, 9, 19), 10, date(2026, 10, 9), "09-30, skip 国庆 10-01..07, 10-08, 10-09"),
    (date(2026, 2, 13), 1, date(2026, 2, 14), "Saturday 02-14 is worked (调休)"),
    (date(2026, 2, 13), 2, date(2026, 2, 24), "春节 02-15..02-23 skipped"),
    (date(2026, 2, 13), 6, date(2026, 2, 28), "Saturday 02-28 is worked (调休)"),
    (date(2026, 2, 13), 7, date(2026, 3, 2), "Sunday 03-01 rests"),
    (date(2026, 2, 15), 7, date(2026, 3, 3), "start on a holiday: 02-24..02-28, 03-02, 03-03"),
    (date(2025, 1, 24), 1, date(2025, 1, 26), "Sunday 01-26 is worked (调休)"),
    (date(2025, 1, 24), 3, date(2025, 2, 5), "01-26, 01-27, skip 春节, 02-05"),
    (date(2025, 1, 24), 6, date(2025, 2, 8), "Saturday 02-08 is worked (调休)"),
    (date(2025, 1, 24), 7, date(2025, 2, 10), "Sunday 02-09 rests"),
    (date(2025, 1, 27), 7, date(2025, 2, 12), "02-05..02-08, 02-10..02-12"),
    (date(2025, 2, 1), 3, date(2025, 2, 7), "start inside the 春节 block"),
    (date(2025, 9, 26), 7, date(2025, 10, 13), "09-28, 09-29, 09-30, 10-09, 10-10, 10-11, 10-13"),
    (date(2025, 10, 4), 1, date(2025, 10, 9), "start inside the block"),
    (date(2025, 10, 11), 1, date(2025, 10, 13), "start on a make-up day"),
    (date(2026, 10, 1), 0, date(2026, 10, 1), "0 working days: the start day itself"),
]


@pytest.mark.parametrize(("start", "n", "last", "why"), WORKING_DAY_EXAMPLES)
def test_working_day_periods_across_holiday_blocks(
    cn: Calendar, start: date, n: int, last: date, why: str
) -> None:
    """Day 1 is the first working day after the start date (even a rest day); 调休 counts."""
    assert cn.add_working_days(start, n) == last, why
    due = cn.due(datetime(start.year, start.month, start.day, 9, 30, tzinfo=SH), f"{n} 工作日")
    assert due.due_on == last
    assert due.due_at == midnight_after(last)
    assert due.due_at.tzinfo is not None and due.due_at.utcoffset() == timedelta(hours=8)
    assert not due.provisional and due.missing_years == ()


CALENDAR_DAY_EXAMPLES = [
    # start, n, {rollover: last day}
    (date(2026, 9, 16), 15, {"non_working_day": date(2026, 10, 8), "none": date(2026, 10, 1)}),
    (date(2026, 9, 19), 15, {"statutory_holiday_block": date(2026, 10, 8)}),
    (date(2026, 9, 10), 16, {"non_working_day": date(2026, 9, 28)}),  # 09-26 in 中秋 block
    (date(2026, 9, 10), 16, {"statutory_holiday_block": date(2026, 9, 28)}),
    (date(2026, 9, 30), 10, {r: date(2026, 10, 10) for r in ("non_working_day", "none")}),
    (date(2026, 9, 30), 10, {"statutory_holiday_block": date(2026, 10, 10)}),  # 调休 Sat
    (date(2026, 10, 7), 4, {"non_working_day": date(2026, 10, 12), "none": date(2026, 10, 11)}),
    (date(2026, 10, 7), 4, {"statutory_holiday_block": date(2026, 10, 11)}),  # plain Sunday
    (date(2026, 2, 1), 15, {"non_working_day": date(2026, 2, 24), "none": date(2026, 2, 16)}),
    (date(2026, 2, 1), 15, {"statutory_holiday_block": date(2026, 2, 24)}),
    (date(2026, 2, 13), 15, {"non_working_day": date(2026, 2, 28)}),  # 调休 Saturday stays
    (date(2025, 1, 20), 10, {"non_working_day": date(2025, 2, 5), "none": date(2025, 1, 30)}),
    (date(2025, 1, 20), 10, {"statutory_holiday_block": date(2025, 2, 5)}),
    (date(2025, 1, 29), 10, {"non_working_day": date(2025, 2, 8)}),  # 调休 Saturday stays
    (date(2025, 1, 25), 15, {"non_working_day": date(2025, 2, 10)}),  # plain Sunday 02-09
    (date(2025, 1, 25), 15, {"statutory_holiday_block": date(2025, 2, 9)}),
    (date(2025, 9, 8), 30, {"non_working_day": date(2025, 10, 9)}),  # 10-08, block's last day
    (date(2025, 9, 8), 30, {"statutory_holiday_block": date(2025, 10, 9)}),
    (date(2025, 9, 11), 30, {"statutory_holiday_block": date(2025, 10, 11)}),
    (date(2025, 9, 30), 1, {"non_working_day": date(2025, 10, 9)}),
]


@pytest.mark.parametrize(("start", "n", "expected"), CALENDAR_DAY_EXAMPLES)
def test_calendar_day_periods_and_rollover(
    cn: Calendar, start: date, n: int, expected: dict[str, date]
) -> None:
    """Last day = start + N, then: non_working_day -> next working day; statutory_holiday_block
    -> first day after a listed block only; none -> unchanged; a 调休 day never moves."""
    for rollover, last in expected.items():
        assert cn.add_days(start, n, rollover) == last, rollover  # type: ignore[arg-type]
        due = cn.due(at(start.year, start.month, start.day), f"{n} 日", rollover=rollover)  # type: ignore[arg-type]
        assert (due.due_on, due.due_at) == (last, midnight_after(last))


def test_start_date_is_the_local_date_in_the_calendar_zone(cn: Calendar) -> None:
    """2026-09-29 18:00 UTC is 09-30 02:00 in Shanghai: counting starts after 09-30."""
    due = cn.due(datetime(2026, 9, 29, 18, tzinfo=UTC), "7 working days")
    assert due.start_at == datetime(2026, 9, 30, 2, tzinfo=SH)
    assert due.due_on == date(2026, 10, 15)
    assert cn.due(datetime(2026, 9, 29, 12, tzinfo=UTC), "7 working days").due_on == date(
        2026, 10, 14
    )


def test_explanation_lists_counted_and_skipped_days(cn: Calendar) -> None:
    """The explanation names the uncounted start day, the skipped block, the 调休 day, the end."""
    lines = cn.due(at(2026, 9, 30), "7 working days").explanation
    text = "\n".join(lines)
    assert "start day 2026-09-30 (Wed) is not counted" in text
    assert "2026-10-01..2026-10-07 skipped: 国庆节 (holiday)" in lines
    assert any(x.startswith("2026-10-10 counted: make-up working day (调休上班)") for x in lines)
    assert "2026-10-08..2026-10-09 counted: working days 1–2" in lines
    assert "skipped weekend: 2026-10-11" in text
    assert lines[-1].endswith("due at 2026-10-16T00:00:00+08:00")


def test_explanation_of_rollover(cn: Calendar) -> None:
    """Rollover is explained: the move and its reason, or why the day stays."""
    moved = cn.due(at(2026, 9, 16), "15 days").explanation
    assert "2026-09-16 + 15 calendar days = 2026-10-01 (Thu): last day (before rollover)" in moved
    assert any("rollover non_working_day: 2026-10-01 is not a working day" in x for x in moved)
    stays = cn.due(at(2026, 10, 7), "4 days", rollover="statutory_holiday_block").explanation
    assert any("not inside a statutory holiday block — not moved" in x for x in stays)
    makeup = cn.due(at(2026, 9, 30), "10 days").explanation
    assert any("2026-10-10 is a working day (make-up working day (调休上班))" in x for x in makeup)


def test_library_pitfall_find_workday_is_not_used(cn: Calendar) -> None:
    """chinese_calendar.find_workday(1, rest day) is one day late; our count is not."""
    assert cn.add_working_days(date(2026, 10, 3), 1) == date(2026, 10, 8)
    assert cn.next_working_day(date(2026, 10, 3)) == date(2026, 10, 8)
    assert chinese_calendar.find_workday(1, date(2026, 10, 3)) != date(2026, 10, 8)


def test_previous_and_subtract_working_days(cn: Calendar) -> None:
    """Counting backwards skips the block and counts 调休 days."""
    assert cn.previous_working_day(date(2026, 10, 8)) == date(2026, 9, 30)
    assert cn.subtract_working_days(date(2026, 10, 12), 1) == date(2026, 10, 10)
    assert cn.subtract_working_days(date(2026, 10, 12), 3) == date(2026, 10, 8)
    assert cn.add_working_days(date(2026, 10, 12), -4) == date(2026, 9, 30)
    assert cn.working_days_between(date(2026, 10, 15), date(2026, 9, 30)) == -7


def test_holiday_block_bounds(cn: Calendar) -> None:
    """A block is the run of listed days off; a plain weekend is no block."""
    assert cn.holiday_block(date(2026, 10, 3)) == (date(2026, 10, 1), date(2026, 10, 7))
    assert cn.holiday_block(date(2026, 2, 15)) == (date(2026, 2, 15), date(2026, 2, 23))
    assert cn.holiday_block(date(2026, 10, 11)) is None


# --------------------------------------------------------------------------- excluded time


def test_excluded_interval_is_added_to_a_calendar_day_period_before_rollover(
    cn: Calendar,
) -> None:
    """60 d + (03-20 − 03-10 = 10 d) from 03-01 = 05-10 (Sun) -> 05-11; same as excluded_days."""
    start = at(2026, 3, 1)
    due = cn.due(start, "60 days", excluded=[(date(2026, 3, 10), date(2026, 3, 20))])
    assert due.due_on == date(2026, 5, 11)
    assert cn.due(start, "60 days", excluded_days=10).due_on == date(2026, 5, 11)
    assert cn.due(start, "60 days", excluded_days=10, rollover="none").due_on == date(2026, 5, 10)
    assert any("2026-03-20 − 2026-03-10 = 10 days not counted" in x for x in due.explanation)


def test_excluded_interval_adds_its_working_days_to_a_working_day_period(cn: Calendar) -> None:
    """(09-29, 10-09] holds 3 working days (09-30, 10-08, 10-09): 7 + 3 = 10 wd from 09-28."""
    due = cn.due(
        at(2026, 9, 28), "7 working days", excluded=[(date(2026, 9, 29), date(2026, 10, 9))]
    )
    assert due.due_on == date(2026, 10, 16)
    assert due.due_on == cn.add_working_days(date(2026, 9, 28), 10)
    # aware instants are converted to local dates first
    paused = (datetime(2026, 9, 29, 8, tzinfo=UTC), datetime(2026, 10, 9, 1, tzinfo=UTC))
    assert cn.due(at(2026, 9, 28), "7 working days", excluded=[paused]).due_on == date(2026, 10, 16)


def test_extensions_add_to_the_amount_from_the_same_start(cn: Calendar) -> None:
    """15 wd + 15 wd extension = the 30th working day; 90 d + 30 d = 120 d rolled once."""
    start = at(2026, 9, 1)
    assert cn.due(start, "15 working days", extensions=["15 working days"]).due_on == (
        cn.add_working_days(date(2026, 9, 1), 30)
    )
    assert cn.due(start, "90 days", extensions=["30 days"]).due_on == cn.add_days(
        date(2026, 9, 1), 120
    )
    with pytest.raises(PeriodError):
        cn.due(start, "15 working days", extensions=["15 days"])


# --------------------------------------------------------------------------- hours


def test_hours_are_exact_elapsed_time_across_dst() -> None:
    """48 hours from Sat 12:00 EST (DST starts Sunday) ends Mon 13:00 EDT."""
    cal = WeekendCalendar(tz="America/New_York")
    due = cal.due(datetime(2026, 3, 7, 12, tzinfo=NY), "48 hours")
    assert due.due_at == datetime(2026, 3, 9, 13, tzinfo=NY)
    elapsed = due.due_at.astimezone(UTC) - datetime(2026, 3, 7, 12, tzinfo=NY).astimezone(UTC)
    assert elapsed == timedelta(hours=48)
    assert due.due_at.astimezone(UTC) == datetime(2026, 3, 9, 17, tzinfo=UTC)
    paused = (datetime(2026, 3, 8, 0, tzinfo=NY), datetime(2026, 3, 8, 3, tzinfo=NY))
    later = cal.due(datetime(2026, 3, 7, 12, tzinfo=NY), "48 hours", excluded=[paused])
    # 00:00 EST .. 03:00 EDT is 2 h of elapsed time
    assert later.due_at.astimezone(UTC) - due.due_at.astimezone(UTC) == timedelta(hours=2)


@pytest.fixture(scope="module")
def cn_open() -> Calendar:
    return OfficialCNCalendar(business_hours=BusinessHours("09:00", "17:00", ("12:00", "13:30")))


@pytest.mark.parametrize(
    ("start", "hours", "due_at"),
    [
        (at(2026, 9, 30, 15), 4, datetime(2026, 10, 8, 11, tzinfo=SH)),  # 2 h + holiday + 2 h
        (at(2026, 10, 9, 11), 4, datetime(2026, 10, 9, 16, 30, tzinfo=SH)),  # lunch skipped
        (at(2026, 10, 10, 8), 7, datetime(2026, 10, 12, 9, 30, tzinfo=SH)),  # 调休 Saturday
        (at(2026, 10, 3, 10), 1, datetime(2026, 10, 8, 10, tzinfo=SH)),  # start on a holiday
        (at(2026, 10, 9, 13), 3, datetime(2026, 10, 9, 16, 30, tzinfo=SH)),  # start at lunch
        (at(2026, 10, 9, 9), 6, datetime(2026, 10, 9, 16, 30, tzinfo=SH)),
        (at(2026, 10, 9, 16), 1, datetime(2026, 10, 9, 17, tzinfo=SH)),  # ends at closing
    ],
)
def test_business_hours_count_open_time_on_working_days(
    cn_open: Calendar, start: datetime, hours: int, due_at: datetime
) -> None:
    """ "N business hours" counts only opening hours minus lunch, on working days."""
    due = cn_open.due(start, f"{hours} business hours")
    assert due.due_at == due_at
    assert due.due_on == due_at.date()
    assert cn_open.business_time_between(start, due.due_at) == timedelta(hours=hours)


def test_day_period_can_end_at_closing_time(cn_open: Calendar, cn: Calendar) -> None:
    """end="close" ends the last day at closing time; without business hours it is refused."""
    due = cn_open.due(at(2026, 9, 30), "7 working days", end="close")
    assert due.due_at == datetime(2026, 10, 15, 17, tzinfo=SH)
    with pytest.raises(CalendarError):
        cn.due(at(2026, 9, 30), "7 working days", end="close")
    with pytest.raises(CalendarError):
        cn.due(at(2026, 9, 30), "4 business hours")


def test_business_hours_are_validated() -> None:
    """Opening before closing, lunch inside opening hours."""
    with pytest.raises(ValueError):
        BusinessHours("17:00", "09:00")
    with pytest.raises(ValueError):
        BusinessHours("09:00", "17:00", ("08:00", "10:00"))
    assert BusinessHours("09:00", "17:00").intervals == ((time(9), time(17)),)


# --------------------------------------------------------------------------- bad input


def test_naive_start_is_refused(cn: Calendar) -> None:
    """A naive datetime has no place in time: InvalidInput, naming the field."""
    with pytest.raises(InvalidInput) as err:
        cn.due(datetime(2026, 9, 30, 10), "7 working days")
    assert err.value.field == "start"
    with pytest.raises(InvalidInput):
        cn.due(date(2026, 9, 30), "7 working days")  # type: ignore[arg-type]
    with pytest.raises(InvalidInput):
        cn.due(at(2026, 9, 30), "7 days", rollover="sometimes")  # type: ignore[arg-type]
    with pytest.raises(PeriodError):
        cn.due(at(2026, 9, 30), "7 workdays")
    with pytest.raises(PeriodError):
        cn.due_date(date(2026, 9, 30), "4 hours")


# --------------------------------------------------------------------------- provisional years


def test_unknown_year_gives_a_provisional_date_on_weekends_rules(cn: Calendar) -> None:
    """2027 has no data: never crash; weekends-only rules, provisional, missing year named."""
    assert not cn.covers(2027) and cn.covers(2026) and cn.covers(2004)
    due = cn.due(at(2026, 12, 28), "15 working days")
    # 12-29..12-31 (3), then 2027 Mon-Fri: 01-01 (Fri), 01-04..08, 01-11..15, 01-18
    assert due.due_on == date(2027, 1, 18)
    assert due.provisional and due.missing_years == (2027,)
    assert any("2027" in w for w in due.warnings)
    assert any("2027" in x and "provisional" in x for x in due.explanation)
    info = cn.day_kind(date(2027, 1, 1))
    assert info.working and info.provisional
    assert cn.day_kind(date(2027, 1, 2)).kind is DayKind.WEEKEND


def test_provisional_only_when_an_unknown_year_was_consulted(cn: Calendar) -> None:
    """A period inside 2026 is firm; a calendar-day period with rollover none never consults
    the schedule; years before the data (2003) are provisional too."""
    assert not cn.due(at(2026, 12, 1), "5 working days").provisional
    assert not cn.due(at(2026, 12, 28), "30 days", rollover="none").provisional
    assert cn.due(at(2026, 12, 28), "30 days").provisional
    assert cn.due(at(2003, 6, 1), "5 working days").missing_years == (2003,)
    spanning = cn.due(at(2026, 12, 1), "300 working days")
    assert spanning.missing_years == (2027, 2028)


# --------------------------------------------------------------------------- year files


def _year_file(folder: Path, year: int, days: list[tuple[str, str, bool]]) -> Path:
    path = folder / f"{year}.json"
    doc = {"year": year, "days": [{"name": n, "date": d, "isOffDay": o} for d, n, o in days]}
    path.write_text(json.dumps(doc, ensure_ascii=False, indent=2), "utf-8")
    return path


def test_year_file_in_a_folder_makes_2027_firm(tmp_path: Path, cn: Calendar) -> None:
    """Dropping a holiday-cn 2027.json in a calendar folder covers 2027: no longer provisional,
    holidays skipped, and the fingerprint changes."""
    _year_file(
        tmp_path,
        2027,
        [
            ("2027-01-01", "元旦", True),
            ("2027-01-02", "元旦", True),
            ("2027-01-03", "元旦", True),
            ("2027-01-09", "元旦", False),
        ],
    )
    registry = default_registry([tmp_path])
    cn27 = registry.get("cn")
    assert cn27.covers(2027)
    due = cn27.due(at(2026, 12, 28), "15 working days")
    # 12-29..31 (3), skip 01-01..03, 01-04..08 (8), 01-09 Sat worked (9), 01-11..15 (14), 01-18
    assert due.due_on == date(2027, 1, 18)
    assert not due.provisional and due.missing_years == ()
    assert cn27.day_kind(date(2027, 1, 9)).kind is DayKind.MAKEUP_WORKING_DAY
    assert cn27.fingerprint != cn.fingerprint
    assert cn27.year_fingerprint(2026) == cn.year_fingerprint(2026)


def test_year_file_overrides_the_package_for_its_year(tmp_path: Path) -> None:
    """A 2026.json replaces the package's 2026 (e.g. a corrected notice)."""
    _year_file(tmp_path, 2026, [("2026-06-22", "端午节", True)])
    cal = default_registry([tmp_path]).get("cn")
    assert cal.is_holiday(date(2026, 6, 22))
    assert cal.is_working_day(date(2026, 10, 1))  # the package's 国庆节 is gone for 2026
    assert cal.is_holiday(date(2025, 10, 1))


def test_year_file_entries_may_spill_into_the_previous_year(tmp_path: Path) -> None:
    """holiday-cn lists 12-31 under the next year's 元旦; it applies without covering that
    year."""
    _year_file(tmp_path, 2028, [("2027-12-31", "元旦", True), ("2028-01-01", "元旦", True)])
    cal = default_registry([tmp_path]).get("cn")
    assert cal.is_holiday(date(2027, 12, 31)) and not cal.covers(2027) and cal.covers(2028)


def test_bad_year_file_reports_every_problem_with_lines(tmp_path: Path) -> None:
    """Wrong year, bad date, missing isOffDay, conflicting duplicate: all at once, with lines."""
    text = json.dumps(
        {
            "year": 2028,
            "days": [
                {"name": "元旦", "date": "2027-02-30", "isOffDay": True},
                {"name": "元旦", "date": "2027-01-01"},
                {"name": "x", "date": "2027-01-05", "isOffDay": True},
                {"name": "x", "date": "2027-01-05", "isOffDay": False},
            ],
        },
        indent=2,
    )
    (tmp_path / "2027.json").write_text(text, "utf-8")
    with pytest.raises(DefinitionError) as err:
        default_registry([tmp_path])
    problems = err.value.problems
    paths = {p.path for p in problems}
    assert {"year", "days[0].date", "days[1].isOffDay", "days[3].date"} <= paths
    assert all(p.file and p.file.endswith("2027.json") for p in problems)
    assert all(p.line for p in problems)
    with pytest.raises(DefinitionError) as bad_json:
        parse_holiday_cn('{"year": 2027,\n "days": [}', "x.json")
    assert bad_json.value.problems[0].line == 2


# --------------------------------------------------------------------------- custom YAML

XJ_YAML = """\
# Regional overlay: 民族节日 rest days
extends: cn
timezone: Asia/Urumqi
description: cn plus local rest days
days_off:
  - {date: 2026-03-20, name: 肉孜节}
  - {from: 2026-05-27, to: 2026-05-29, name: 古尔邦节}
working_days:
  - {date: 2026-03-22, name: 调休上班}
"""


def test_custom_yaml_calendar_extends_cn_with_local_days(tmp_path: Path, cn: Calendar) -> None:
    """A YAML overlay adds local rest days and a worked Sunday on top of the State Council
    schedule, in its own zone."""
    (tmp_path / "cn-xj.yaml").write_text(XJ_YAML, "utf-8")
    registry = default_registry([tmp_path])
    xj = registry.get("cn-xj")
    assert isinstance(xj, CustomCalendar) and xj.tz == ZoneInfo("Asia/Urumqi")
    assert xj.day_kind(date(2026, 3, 20)).name == "肉孜节" and cn.is_working_day(date(2026, 3, 20))
    assert xj.is_working_day(date(2026, 3, 22)) and not cn.is_working_day(date(2026, 3, 22))
    assert xj.is_holiday(date(2026, 10, 1))  # the base's holidays stay
    # 03-19 + 1 wd: 03-20 off, 03-21 Sat rests, 03-22 Sun worked
    due = xj.due(datetime(2026, 3, 19, 10, tzinfo=ZoneInfo("Asia/Urumqi")), "1 working day")
    assert due.due_on == date(2026, 3, 22)
    assert due.due_at == datetime(2026, 3, 23, tzinfo=ZoneInfo("Asia/Urumqi"))
    # a local block moves a calendar-day deadline under statutory_holiday_block too
    assert xj.add_days(date(2026, 5, 20), 8, "statutory_holiday_block") == date(2026, 5, 30)
    assert xj.add_days(date(2026, 5, 20), 8) == date(2026, 6, 1)
    assert xj.summarize_year(2026).working_days == 248 - 4 + 1
    assert xj.fingerprint != cn.fingerprint


def test_custom_calendar_built_in_code() -> None:
    """CustomCalendar is usable without YAML, over any base."""
    base = WeekendCalendar(tz="Europe/Berlin")
    company = CustomCalendar("acme", base, days_off={date(2026, 12, 24): "Heiligabend"})
    assert company.next_working_day(date(2026, 12, 23)) == date(2026, 12, 25)
    assert company.tz == ZoneInfo("Europe/Berlin")


BAD_YAML = """\
name: cn-bad
extends: cn
timezon: Asia/Urumqi
days_off:
  - {date: 2026-02-30, name: x}
  - {from: 2026-05-29, to: 2026-05-27}
weekend: [sat, sunday, funday]
business_hours: {open: "18:00", close: "09:00"}
working_days:
  - 2026-05-28
"""


def test_bad_custom_yaml_reports_every_problem_with_file_and_line(tmp_path: Path) -> None:
    """Unknown key (did you mean), bad date, reversed range, bad weekday, bad hours: all at
    once, each with file, line and path."""
    path = tmp_path / "cn-bad.yaml"
    path.write_text(BAD_YAML, "utf-8")
    with pytest.raises(DefinitionError) as err:
        default_registry([tmp_path])
    by_path = {p.path: p for p in err.value.problems}
    assert by_path["timezon"].line == 3 and "did you mean 'timezone'" in by_path["timezon"].message
    assert by_path["days_off[0].date"].line == 5
    assert by_path["days_off[1].to"].line == 6
    assert by_path["weekend[2]"].line == 7
    assert by_path["business_hours"].line == 8
    assert all(p.file == str(path) for p in err.value.problems)
    assert "cn-bad.yaml: 5 problems" in str(err.value)


def test_custom_yaml_with_an_unknown_base_or_a_cycle_is_rejected(tmp_path: Path) -> None:
    """extends must name a calendar (did-you-mean), and extension chains may not loop."""
    (tmp_path / "a.yaml").write_text("extends: cm\n", "utf-8")
    with pytest.raises(DefinitionError) as err:
        default_registry([tmp_path])
    (problem,) = err.value.problems
    assert problem.path == "extends" and problem.line == 1 and "'cn'" in problem.message
    (tmp_path / "a.yaml").write_text("extends: b\n", "utf-8")
    (tmp_path / "b.yaml").write_text("extends: a\n", "utf-8")
    with pytest.raises(DefinitionError, match="cycle"):
        default_registry([tmp_path])


def test_custom_yaml_date_mapping_form_and_conflicts() -> None:
    """days_off may be a mapping date: name; a date both off and worked is a problem."""
    d = parse_calendar_yaml(
        "extends: weekends\ndays_off: {2026-07-01: 建党节}\nweekend: [fri, sat]\n",
        "x.yaml",
        default_name="x",
    )
    assert d.days_off == {date(2026, 7, 1): "建党节"} and d.weekend == frozenset({4, 5})
    with pytest.raises(DefinitionError, match="also a day off"):
        parse_calendar_yaml(
            "extends: cn\ndays_off: [2026-07-01]\nworking_days: [2026-07-01]\n",
            "y.yaml",
            default_name="y",
        )


# --------------------------------------------------------------------------- registry


def test_registry_names_and_errors() -> None:
    """Built-ins, holidays:CC-SUB, NAME@ZONE, and a did-you-mean for typos."""
    registry = CalendarRegistry()
    assert registry.get("cn") is registry.get("cn")
    assert registry.get("weekends").tz == ZoneInfo("UTC")
    assert registry.get("weekends@America/New_York").tz == NY
    assert {"cn", "weekends"} <= set(registry.names())
    with pytest.raises(CalendarError, match="did you mean 'cn'"):
        registry.get("cm")
    with pytest.raises(CalendarError):
        registry.get("holidays:US-XX")
    with pytest.raises(CalendarError):
        registry.get("cn@Mars/Olympus")
    registry.register("mine", WeekendCalendar("mine", tz="Asia/Tokyo"))
    assert registry.get("mine").tz == ZoneInfo("Asia/Tokyo")
    with pytest.raises(CalendarError):
        registry.register("mine", WeekendCalendar())


def test_holidays_package_calendar_for_a_us_state() -> None:
    """holidays:US-MA rests on Patriots' Day, holidays:US does not; observed days count."""
    ma = default_registry().get("holidays:US-MA")
    us = default_registry().get("holidays:US")
    assert isinstance(ma, HolidaysLibCalendar) and ma.tz == NY
    assert not ma.is_working_day(date(2026, 4, 20)) and us.is_working_day(date(2026, 4, 20))
    assert us.day_kind(date(2026, 7, 3)).kind is DayKind.HOLIDAY  # Independence Day observed
    due = us.due(datetime(2026, 7, 2, 9, tzinfo=NY), "1 working day")
    assert due.due_on == date(2026, 7, 6)
    assert due.due_at == datetime(2026, 7, 7, tzinfo=NY)
    assert not due.provisional


def test_fingerprint_is_stable_and_recorded_on_every_due(cn: Calendar) -> None:
    """sha256 hex, equal for equal content, carried by Due; changes with the time zone."""
    assert len(cn.fingerprint) == 64
    assert OfficialCNCalendar().fingerprint == cn.fingerprint
    assert cn.due(at(2026, 1, 5), "3 days").fingerprint == cn.fingerprint
    assert cn.with_options(tz="Asia/Urumqi").fingerprint != cn.fingerprint
    assert WeekendCalendar().fingerprint != WeekendCalendar(tz="Asia/Shanghai").fingerprint


def test_due_to_dict_is_json_ready(cn: Calendar) -> None:
    """to_dict gives the CLI contract keys as plain JSON values."""
    d = cn.due(at(2026, 9, 30), "7 working days").to_dict()
    assert d["due_on"] == "2026-10-15" and d["due_at"] == "2026-10-16T00:00:00+08:00"
    assert d["provisional"] is False and isinstance(d["explanation"], list)
    json.dumps(d, ensure_ascii=False)


# --------------------------------------------------------------------------- properties

DATES = st.dates(min_value=date(2004, 1, 1), max_value=date(2026, 6, 30))
NS = st.integers(min_value=1, max_value=120)


@settings(max_examples=300, deadline=None)
@given(d=DATES, n=NS)
def test_property_add_working_days_lands_on_a_working_day(d: date, n: int) -> None:
    """The nth working day after d is a working day, after d, with exactly n in (d, result]."""
    cal = _CN
    r = cal.add_working_days(d, n)
    assert r > d and cal.is_working_day(r)
    assert cal.working_days_between(d, r) == n
    assert cal.working_days_between(d, r - timedelta(days=1)) == n - 1


@settings(max_examples=300, deadline=None)
@given(d=DATES, n1=NS, n2=NS, shift=st.integers(0, 30))
def test_property_monotonic_in_n_and_in_start(d: date, n1: int, n2: int, shift: int) -> None:
    """More working days never end earlier; a later start never ends earlier."""
    cal = _CN
    lo, hi = sorted((n1, n2))
    assert cal.add_working_days(d, lo) <= cal.add_working_days(d, hi)
    assert cal.add_working_days(d, lo) <= cal.add_working_days(d + timedelta(days=shift), lo)
    assert cal.add_days(d, lo) <= cal.add_days(d, hi)


@settings(max_examples=300, deadline=None)
@given(d=DATES, e=DATES)
def test_property_counting_then_adding_round_trips(d: date, e: date) -> None:
    """add_working_days(d, working_days_between(d, e)) is the last working day <= e, and
    subtracting undoes adding from a working day."""
    cal = _CN
    if e < d:
        d, e = e, d
    n = cal.working_days_between(d, e)
    r = cal.add_working_days(d, n)
    expected = e if cal.is_working_day(e) or n == 0 else cal.previous_working_day(e)
    assert r == (d if n == 0 else expected)
    if cal.is_working_day(d) and n:
        assert cal.subtract_working_days(cal.add_working_days(d, n), n) == d


@settings(max_examples=200, deadline=None)
@given(
    d=DATES,
    n=st.integers(0, 60),
    rollover=st.sampled_from(["non_working_day", "statutory_holiday_block", "none"]),
)
def test_property_agrees_with_a_day_by_day_loop(d: date, n: int, rollover: str) -> None:
    """The indexed calendar equals a naive walk over chinese_calendar.is_workday."""
    cal = _CN
    wd, k = d, 0
    while k < n:
        wd += timedelta(days=1)
        k += chinese_calendar.is_workday(wd)
    assert cal.add_working_days(d, n) == wd
    last = d + timedelta(days=n)
    if rollover == "non_working_day":
        while not chinese_calendar.is_workday(last):
            last += timedelta(days=1)
    elif rollover == "statutory_holiday_block":
        while last in chinese_calendar.constants.holidays:  # a listed day off
            last += timedelta(days=1)
    assert cal.add_days(d, n, rollover) == last  # type: ignore[arg-type]


@settings(max_examples=200, deadline=None)
@given(
    moment=st.datetimes(min_value=datetime(2024, 1, 1), max_value=datetime(2026, 12, 1)),
    n=st.integers(0, 40),
    unit=st.sampled_from(["working days", "days"]),
    name=st.sampled_from(["weekends@America/New_York", "holidays:US"]),
)
def test_property_due_at_is_local_midnight_after_the_last_day_across_dst(
    moment: datetime, n: int, unit: str, name: str
) -> None:
    """In a zone with DST, due_at is 00:00 local of the day after due_on, whatever the offset."""
    cal = _REGISTRY.get(name)
    start = moment.replace(tzinfo=NY)
    due = cal.due(start, f"{n} {unit}")
    local = due.due_at.astimezone(NY)
    assert local.time() == time(0) and local.date() == due.due_on + timedelta(days=1)
    assert due.due_at.utcoffset() == NY.utcoffset(datetime.combine(local.date(), time(0)))
    assert due.due_at == due.due_at.astimezone(UTC).astimezone(NY)  # a real instant
    assert due.due_on >= start.astimezone(NY).date()
    if unit == "working days" and n:
        assert cal.is_working_day(due.due_on)


def test_midnight_skipped_by_dst_starts_the_day_at_the_first_instant() -> None:
    """America/Santiago jumps from 00:00 to 01:00 on 2024-09-08: the day starts at 01:00."""
    santiago = ZoneInfo("America/Santiago")
    cal = WeekendCalendar(tz=santiago)
    due = cal.due(datetime(2024, 9, 6, 12, tzinfo=santiago), "1 day", rollover="none")
    assert due.due_on == date(2024, 9, 7)
    assert due.due_at.hour == 1 and due.due_at.date() == date(2024, 9, 8)
    assert due.due_at.astimezone(UTC) == datetime(2024, 9, 8, 4, tzinfo=UTC)


_REGISTRY = default_registry()
_CN = _REGISTRY.get("cn")
