"""Working-day calendars and legal period arithmetic. Pure: nothing here reads the clock.

Counting rules (民法典 第201-203条; SAMR 令121 第45条), applied by :meth:`Calendar.due`:

* The start day is **not counted**. The start date is the local date of the start instant in
  the calendar's time zone.
* **Working-day periods**: day 1 is the first working day *after* the start date, even when
  the start date is itself a rest day; the Nth working day is the last day. A 调休 make-up
  working day (a Saturday/Sunday the State Council notice says is worked) counts.
* **Calendar-day periods**: last day = start date + N, then ``rollover``:
  ``non_working_day`` (default) moves a last day that is not worked to the next working day;
  ``statutory_holiday_block`` moves it only when it lies inside a listed holiday block (a
  listed day off of the schedule, e.g. 2026-10-01..07), to the first day after the block —
  ordinary weekends do not move; ``none`` never moves it. A last day on a make-up working
  day is a working day and does not move.
* A period ends at **24:00 local of its last day**: ``due_at`` is the first instant of the
  following local day (aware, calendar zone) — or closing time of the last day
  (``end="close"``) when the calendar has business hours.
* ``"48 hours"`` is exact elapsed time (computed in UTC, DST-safe). ``"4 business hours"``
  counts only open time (opening hours minus lunch) on working days.

Excluded time and extensions (no statute fixes the method; this is the convention):

* An excluded interval (鉴定/检测 etc.) is given as ``(commissioned, received)``. For a
  calendar-day period it excludes ``received − commissioned`` days (the days in
  ``(commissioned, received]``), added to N **before rollover**. For a working-day period it
  excludes the working days in ``(commissioned, received]`` (``working_days_between``), added
  to N. For hour periods the interval is two aware instants: elapsed time (``hours``) or open
  time inside it (``business hours``) is added.
* ``excluded_days=k`` adds k units already counted by the caller, in the period's own unit
  (working days for a working-day period, calendar days for a calendar-day period).
* An extension is a period of the same unit added to the amount and counted from the same
  start (15 wd + 15 wd extension = the 30th working day after the start); rollover is applied
  once, to the final last day.

Years a calendar has no data for (e.g. 2027 before the notice is out) never fail: their days
are classified by the weekly pattern alone and the :class:`Due` is ``provisional`` with
``missing_years`` and a warning. See ``docs/calendars.md``.
"""

from __future__ import annotations

from casework.calendars._base import (
    WEEKDAY_NAMES,
    BusinessHours,
    Calendar,
    DayInfo,
    DayKind,
    Due,
    End,
    YearDays,
    YearSummary,
    parse_period,
    zone,
)
from casework.calendars._custom import (
    CalendarDefinition,
    CustomCalendar,
    load_calendar_yaml,
    parse_calendar_yaml,
)
from casework.calendars._registry import CalendarRegistry, default_registry
from casework.calendars._sources import (
    HolidayCNYear,
    HolidaysLibCalendar,
    OfficialCNCalendar,
    WeekendCalendar,
    load_holiday_cn_file,
    parse_holiday_cn,
)

__all__ = [
    "WEEKDAY_NAMES",
    "BusinessHours",
    "Calendar",
    "CalendarDefinition",
    "CalendarRegistry",
    "CustomCalendar",
    "DayInfo",
    "DayKind",
    "Due",
    "End",
    "HolidayCNYear",
    "HolidaysLibCalendar",
    "OfficialCNCalendar",
    "WeekendCalendar",
    "YearDays",
    "YearSummary",
    "default_registry",
    "load_calendar_yaml",
    "load_holiday_cn_file",
    "parse_calendar_yaml",
    "parse_holiday_cn",
    "parse_period",
    "zone",
]
