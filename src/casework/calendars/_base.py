"""The :class:`Calendar` interface, its records, and the index every calendar shares.

A calendar is a weekly pattern (which weekdays are rest days) plus, per year, *listed* days:
days off (statutory holidays, local rest days) and working days (调休上班 make-up days). A
subclass only reports what it knows about one year (:class:`YearDays`); everything else — the
working-day index, rollover, period arithmetic, fingerprints — lives here.
"""

from __future__ import annotations

import enum
import functools
import hashlib
import json
import threading
from bisect import bisect_left, bisect_right
from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from itertools import accumulate
from typing import Any, ClassVar, Literal, NamedTuple
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import attrs

from casework.errors import CalendarError, InvalidInput, PeriodError
from casework.periods import Period, Unit
from casework.spec import ROLLOVERS, Rollover

End = Literal["midnight", "close"]

WEEKDAY_NAMES: tuple[str, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")

# Bits of the per-day flag byte in the index.
_WORK = 1  # the day is worked
_OFF = 2  # listed day off (a statutory holiday block / local rest day)
_LISTED_WORK = 4  # listed working day (调休上班), usually a Saturday or Sunday
_UNCOVERED = 8  # the calendar has no data for this year: weekends-only rules were used

_MIN_ORD = date.min.toordinal()
_MAX_ORD = date.max.toordinal()
_GROW_YEARS = 10


class DayKind(enum.Enum):
    """Why a day is worked or not."""

    WORKING_DAY = "working day"
    WEEKEND = "weekend"
    HOLIDAY = "holiday"
    MAKEUP_WORKING_DAY = "make-up working day"


@attrs.frozen
class DayInfo:
    """How a calendar classifies one day (``on`` is a local date of the calendar)."""

    on: date
    kind: DayKind
    name: str | None = None
    provisional: bool = False

    @property
    def working(self) -> bool:
        return self.kind in (DayKind.WORKING_DAY, DayKind.MAKEUP_WORKING_DAY)

    @property
    def listed(self) -> bool:
        """True for a day the schedule lists (a holiday or a make-up working day)."""
        return self.kind in (DayKind.HOLIDAY, DayKind.MAKEUP_WORKING_DAY)

    def describe(self) -> str:
        """``"国庆节 (holiday)"``, ``"weekend"``, ``"make-up working day (调休上班)"``, ..."""
        if self.kind is DayKind.HOLIDAY:
            text = f"{self.name} (holiday)" if self.name else "holiday"
        elif self.kind is DayKind.MAKEUP_WORKING_DAY:
            text = "make-up working day (调休上班)"
        else:
            text = self.kind.value
        if self.provisional:
            text += f" [provisional: no data for {self.on.year}, weekends-only rules]"
        return text


@attrs.frozen(eq=False)
class YearDays:
    """What a calendar source knows about one year.

    ``off`` lists days off with their names, ``work`` lists worked days that the weekly pattern
    would rest (调休上班). ``covered`` is False when the source has no data for the year; the
    days are then classified by the weekly pattern alone and results are provisional. Entries
    may be present for an uncovered year (e.g. a local rest day already announced).
    """

    year: int
    covered: bool
    off: Mapping[date, str] = attrs.field(factory=dict)
    work: Mapping[date, str] = attrs.field(factory=dict)

    def digest(self) -> str:
        """sha256 over the classification data (dates and off/work, not the names)."""
        payload = {
            "year": self.year,
            "covered": self.covered,
            "off": sorted(d.isoformat() for d in self.off),
            "work": sorted(d.isoformat() for d in self.work),
        }
        return _sha256(payload)


def _parse_time(value: time | str) -> time:
    if isinstance(value, time):
        if value.tzinfo is not None:
            raise ValueError("business hours are local wall-clock times; drop the tzinfo")
        return value
    try:
        hh, mm = str(value).strip().split(":")
        return time(int(hh), int(mm))
    except ValueError:
        raise ValueError(f"expected a time like '09:00', got {value!r}") from None


def _parse_lunch(value: tuple[time | str, time | str] | None) -> tuple[time, time] | None:
    if value is None:
        return None
    start, end = value
    return (_parse_time(start), _parse_time(end))


@attrs.frozen
class BusinessHours:
    """Opening hours on working days, in the calendar's local wall-clock time.

    ``lunch`` is an optional closed interval (``("12:00", "13:30")``) inside opening hours.
    Strings ``"HH:MM"`` are accepted for every time.
    """

    open: time = attrs.field(converter=_parse_time)
    close: time = attrs.field(converter=_parse_time)
    lunch: tuple[time, time] | None = attrs.field(default=None, converter=_parse_lunch)

    def __attrs_post_init__(self) -> None:
        if not self.open < self.close:
            raise ValueError(f"opening time {self.open:%H:%M} must be before {self.close:%H:%M}")
        if self.lunch is not None:
            a, b = self.lunch
            if not (self.open < a < b < self.close):
                raise ValueError(
                    f"lunch break {a:%H:%M}-{b:%H:%M} must lie inside opening hours "
                    f"{self.open:%H:%M}-{self.close:%H:%M}"
                )

    @property
    def intervals(self) -> tuple[tuple[time, time], ...]:
        """The open intervals of one working day, in order."""
        if self.lunch is None:
            return ((self.open, self.close),)
        return ((self.open, self.lunch[0]), (self.lunch[1], self.close))

    def describe(self) -> str:
        return ", ".join(f"{a:%H:%M}-{b:%H:%M}" for a, b in self.intervals)

    def to_dict(self) -> dict[str, Any]:
        return {
            "open": f"{self.open:%H:%M}",
            "close": f"{self.close:%H:%M}",
            "lunch": [f"{t:%H:%M}" for t in self.lunch] if self.lunch else None,
        }


@attrs.frozen
class YearSummary:
    """One year of a calendar: listed days off, make-up working days, and the count of
    working days."""

    calendar: str
    year: int
    working_days: int
    rest_days: int
    days_off: tuple[DayInfo, ...]
    make_up_working_days: tuple[DayInfo, ...]
    provisional: bool
    fingerprint: str


class Trace(NamedTuple):
    """What :meth:`Calendar.due` needs to explain a result later (a tuple: cheap to make)."""

    calendar: Calendar
    start_local: datetime
    period: Period
    rollover: str
    end: str
    extensions: tuple[Period, ...] = ()
    excluded_days: int | timedelta = 0
    excluded: tuple[tuple[Any, Any, int | timedelta], ...] = ()
    total: int | timedelta = 0
    raw_last: date | None = None


@attrs.frozen
class Due:
    """A computed due date.

    ``due_on`` is the last day of the period (local date of the calendar); ``due_at`` is the
    aware instant the period ends, in the calendar's time zone: 00:00 local of the day after
    ``due_on`` (24:00 of the last day), or closing time when asked for. ``provisional`` is True
    when the calendar had no data for some year the computation looked at (``missing_years``);
    those days were classified by weekends-only rules. ``fingerprint`` identifies the calendar
    data used. ``explanation`` is built on first access.
    """

    start_at: datetime
    period: Period
    due_on: date
    due_at: datetime
    calendar: str
    fingerprint: str
    rollover: str = "non_working_day"
    provisional: bool = False
    missing_years: tuple[int, ...] = ()
    warnings: tuple[str, ...] = ()
    trace: Trace | None = attrs.field(default=None, eq=False, repr=False)

    @functools.cached_property
    def explanation(self) -> tuple[str, ...]:
        """Human-readable lines: the start, days counted and skipped (and why), rollover,
        excluded time, extensions, the end instant and any provisional warning."""
        if self.trace is None:
            return ()
        from casework.calendars._explain import explain

        return explain(self.trace, self)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready mapping (ISO strings for dates and instants)."""
        return {
            "calendar": self.calendar,
            "fingerprint": self.fingerprint,
            "start_at": self.start_at.isoformat(),
            "period": str(self.period),
            "rollover": self.rollover,
            "due_on": self.due_on.isoformat(),
            "due_at": self.due_at.isoformat(),
            "provisional": self.provisional,
            "missing_years": list(self.missing_years),
            "warnings": list(self.warnings),
            "explanation": list(self.explanation),
        }


class _Index:
    """Immutable snapshot of a calendar over whole years ``lo_year..hi_year``.

    ``flags`` holds one byte per day; ``wd`` is the sorted list of working-day ordinals, so
    "the nth working day after d" is one bisect; ``uncov`` is a prefix count of uncovered days
    so "did this range touch a year without data" is two lookups.
    """

    __slots__ = (
        "flags",
        "hi",
        "hi_year",
        "lo",
        "lo_year",
        "names",
        "uncov",
        "uncovered_years",
        "wd",
    )

    def __init__(
        self,
        lo_year: int,
        hi_year: int,
        flags: bytearray,
        names: dict[int, str],
        uncovered_years: frozenset[int],
    ) -> None:
        self.lo_year = lo_year
        self.hi_year = hi_year
        self.lo = date(lo_year, 1, 1).toordinal()
        self.hi = date(hi_year, 12, 31).toordinal()
        self.flags = flags
        self.names = names
        self.uncovered_years = uncovered_years
        lo = self.lo
        self.wd: list[int] = [lo + i for i, f in enumerate(flags) if f & _WORK]
        self.uncov: list[int] = [0, *accumulate(1 if f & _UNCOVERED else 0 for f in flags)]


def _sha256(payload: Any) -> str:
    text = json.dumps(payload, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def zone(value: str | tzinfo) -> ZoneInfo:
    """A :class:`ZoneInfo` from an IANA name (``"Asia/Shanghai"``); raises CalendarError."""
    if isinstance(value, ZoneInfo):
        return value
    if isinstance(value, tzinfo):
        key = getattr(value, "key", None) or (value.tzname(None) if value is UTC else None)
        if key in ("UTC", "utc"):
            return ZoneInfo("UTC")
        raise CalendarError(f"time zone {value!r}: use an IANA zone name such as 'Asia/Shanghai'")
    try:
        return ZoneInfo(str(value))
    except (ZoneInfoNotFoundError, ValueError):
        raise CalendarError(
            f"unknown time zone {value!r} (expected e.g. 'Asia/Shanghai')"
        ) from None


@functools.lru_cache(maxsize=512)
def parse_period(text: str) -> Period:
    """:meth:`Period.parse`, cached (periods are immutable)."""
    return Period.parse(text)


def _as_period(value: Period | str) -> Period:
    return value if isinstance(value, Period) else parse_period(value)


def _year_of(ordinal: int) -> int:
    if not _MIN_ORD <= ordinal <= _MAX_ORD:
        raise CalendarError("date out of range (years 1..9999)")
    return date.fromordinal(ordinal).year


def _check_rollover(rollover: str) -> None:
    if rollover not in ROLLOVERS:
        raise InvalidInput("rollover", f"{rollover!r} is not one of {', '.join(ROLLOVERS)}")


class Calendar:
    """Working days, rest days and period arithmetic for one jurisdiction.

    Pure and deterministic: no method reads the clock. Dates (``date``) are local dates of the
    calendar; instants (``datetime``) must be aware and are converted to the calendar's zone
    :attr:`tz`. Years the calendar has no data for are classified by the weekly pattern alone
    (Mon-Fri working unless the calendar says otherwise) and every result that looked at such
    a year is marked provisional.

    Subclasses implement :meth:`_year_days` (and usually :meth:`covers`, :meth:`_data_years`,
    :meth:`_content`).
    """

    kind: ClassVar[str] = "calendar"
    #: years indexed on first use (a subclass with costly year data narrows it)
    default_years: ClassVar[tuple[int, int] | None] = (2000, 2035)

    def __init__(
        self,
        name: str,
        tz: str | tzinfo,
        *,
        weekend: Iterable[int] = (5, 6),
        business_hours: BusinessHours | None = None,
    ) -> None:
        self.name = name
        self.tz: ZoneInfo = zone(tz)
        self.weekend: frozenset[int] = frozenset(weekend)
        if not self.weekend <= set(range(7)):
            raise CalendarError(f"calendar {name!r}: weekend days must be 0 (Mon) .. 6 (Sun)")
        if len(self.weekend) == 7:
            raise CalendarError(f"calendar {name!r}: a week needs at least one working weekday")
        self.business_hours = business_hours
        self._reset_caches()

    def _reset_caches(self) -> None:
        self._lock = threading.Lock()
        self._index: _Index | None = None
        self._years: dict[int, YearDays] = {}
        self._fingerprint: str | None = None
        self._midnights: dict[int, datetime] = {}

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name!r} tz={self.tz.key}>"

    # ----------------------------------------------------------------- subclass hooks
    def _year_days(self, year: int) -> YearDays:
        """What the source knows about ``year`` (default: nothing listed, always covered)."""
        return YearDays(year, covered=True)

    def covers(self, year: int) -> bool:
        """True when the calendar has real data for ``year`` (results are not provisional)."""
        return self.year_days(year).covered

    def _data_years(self) -> Iterable[int]:
        """Years whose day data goes into :attr:`fingerprint`."""
        return ()

    def _content(self) -> dict[str, Any]:
        """Configuration that is not day data but changes results (goes into the
        fingerprint)."""
        return {}

    def _default_years(self) -> tuple[int, int] | None:
        return self.default_years

    @property
    def source(self) -> str:
        """Where the data comes from, for people."""
        return self.kind

    # ----------------------------------------------------------------- data and identity
    def year_days(self, year: int) -> YearDays:
        """The listed days of ``year`` (cached)."""
        yd = self._years.get(year)
        if yd is None:
            yd = self._year_days(year)
            self._years[year] = yd
        return yd

    def year_fingerprint(self, year: int) -> str:
        """sha256 over the classification data of one year (see :meth:`YearDays.digest`)."""
        return self.year_days(year).digest()

    @property
    def data_years(self) -> tuple[int, ...]:
        """Years with explicit day data (those that go into the fingerprint)."""
        return tuple(sorted(set(self._data_years())))

    @property
    def fingerprint(self) -> str:
        """sha256 over the day data of every data year, the weekly pattern, the time zone and
        the business hours. Names of holidays are labels and do not count; the calendar's own
        name does not either, so two calendars with the same content share a fingerprint."""
        if self._fingerprint is None:
            payload = {
                "content": self._content(),
                "tz": self.tz.key,
                "weekend": sorted(self.weekend),
                "business_hours": self.business_hours.to_dict() if self.business_hours else None,
                "years": {str(y): self.year_fingerprint(y) for y in self.data_years},
            }
            self._fingerprint = _sha256(payload)
        return self._fingerprint

    def with_options(
        self,
        *,
        name: str | None = None,
        tz: str | tzinfo | None = None,
        business_hours: BusinessHours | Literal[False] | None = False,
    ) -> Calendar:
        """A copy with another name, time zone or business hours (``None`` removes them)."""
        clone = object.__new__(type(self))
        clone.__dict__.update(self.__dict__)
        if name is not None:
            clone.name = name
        if tz is not None:
            clone.tz = zone(tz)
        if business_hours is not False:
            clone.business_hours = business_hours
        clone._reset_caches()
        clone._years = self._years  # year data does not depend on the options
        return clone

    # ----------------------------------------------------------------- the index
    def _build(self, lo_year: int, hi_year: int) -> _Index:
        lo = date(lo_year, 1, 1).toordinal()
        hi = date(hi_year, 12, 31).toordinal()
        weekend = self.weekend
        # date.weekday() == (ordinal + 6) % 7
        pattern = bytes(0 if (o + 6) % 7 in weekend else _WORK for o in range(lo, lo + 7))
        n = hi - lo + 1
        flags = bytearray((pattern * (n // 7 + 1))[:n])
        names: dict[int, str] = {}
        uncovered: set[int] = set()
        for year in range(lo_year, hi_year + 1):
            yd = self.year_days(year)
            if not yd.covered:
                uncovered.add(year)
                a = date(year, 1, 1).toordinal() - lo
                b = date(year, 12, 31).toordinal() - lo
                for i in range(a, b + 1):
                    flags[i] |= _UNCOVERED
            for d, label in yd.off.items():
                o = d.toordinal()
                if lo <= o <= hi and d.year == year:
                    flags[o - lo] = (flags[o - lo] & _UNCOVERED) | _OFF
                    names[o] = label
            for d, label in yd.work.items():
                o = d.toordinal()
                if lo <= o <= hi and d.year == year:
                    flags[o - lo] = (flags[o - lo] & _UNCOVERED) | _WORK | _LISTED_WORK
                    names[o] = label
        return _Index(lo_year, hi_year, flags, names, frozenset(uncovered))

    def _ensure(self, lo_o: int, hi_o: int) -> _Index:
        """The index, grown (whole years, with margin) until it spans ``lo_o..hi_o``."""
        idx = self._index
        if idx is not None and idx.lo <= lo_o and hi_o <= idx.hi:
            return idx
        need_lo, need_hi = _year_of(lo_o), _year_of(hi_o)
        with self._lock:
            idx = self._index
            if idx is not None and idx.lo <= lo_o and hi_o <= idx.hi:
                return idx
            if idx is None:
                dlo, dhi = self._default_years() or (need_lo - 2, need_hi + 5)
                ylo, yhi = min(need_lo, dlo), max(need_hi, dhi)
            else:
                ylo = (
                    idx.lo_year
                    if need_lo >= idx.lo_year
                    else min(need_lo, idx.lo_year - _GROW_YEARS)
                )
                yhi = (
                    idx.hi_year
                    if need_hi <= idx.hi_year
                    else max(need_hi, idx.hi_year + _GROW_YEARS)
                )
            idx = self._build(max(ylo, 1), min(yhi, 9999))
            self._index = idx
            return idx

    def _flags_at(self, o: int) -> tuple[int, _Index]:
        idx = self._index
        if idx is None or not idx.lo <= o <= idx.hi:
            idx = self._ensure(o, o)
        return idx.flags[o - idx.lo], idx

    def _add_wd(self, o: int, n: int) -> int:
        """Ordinal of the nth working day strictly after ordinal ``o`` (n >= 1)."""
        idx = self._index
        if idx is None or not idx.lo <= o <= idx.hi:
            idx = self._ensure(o, o)
        wd = idx.wd
        i = bisect_right(wd, o) + n - 1
        if i < len(wd):
            return wd[i]
        # Grow forward: at least ~150 working days a year in any sane calendar.
        while True:
            target = min(idx.hi + (n // 150 + 2) * 366, _MAX_ORD)
            if target <= idx.hi:
                raise CalendarError(f"calendar {self.name!r}: no {n}th working day before 9999")
            idx = self._ensure(o, target)
            wd = idx.wd
            i = bisect_right(wd, o) + n - 1
            if i < len(wd):
                return wd[i]

    def _sub_wd(self, o: int, n: int) -> int:
        """Ordinal of the nth working day strictly before ordinal ``o`` (n >= 1)."""
        idx = self._index
        if idx is None or not idx.lo <= o <= idx.hi:
            idx = self._ensure(o, o)
        while True:
            i = bisect_left(idx.wd, o) - n
            if i >= 0:
                return idx.wd[i]
            target = max(idx.lo - (n // 150 + 2) * 366, _MIN_ORD)
            if target >= idx.lo:
                raise CalendarError(f"calendar {self.name!r}: no {n}th working day after year 1")
            idx = self._ensure(target, o)

    def _flag(self, o: int) -> int:
        idx = self._index
        if idx is None or not idx.lo <= o <= idx.hi:
            idx = self._ensure(o, o)
        return idx.flags[o - idx.lo]

    def _next_not_off(self, o: int) -> int:
        """First ordinal >= ``o`` that is not a listed day off."""
        while self._flag(o) & _OFF:
            o += 1
        return o

    def _roll(self, o: int, rollover: str) -> int:
        if rollover == "none":
            return o
        f = self._flag(o)
        if rollover == "non_working_day":
            return o if f & _WORK else self._add_wd(o, 1)
        if rollover == "statutory_holiday_block":
            return self._next_not_off(o) if f & _OFF else o
        _check_rollover(rollover)
        raise AssertionError  # pragma: no cover

    def _missing(self, a: int, b: int) -> tuple[int, ...]:
        """Years without data among the days ``a..b`` (ordinals, inclusive)."""
        if b < a:
            return ()
        idx = self._ensure(a, b)
        if idx.uncov[b - idx.lo + 1] - idx.uncov[a - idx.lo] == 0:
            return ()
        return tuple(y for y in range(_year_of(a), _year_of(b) + 1) if y in idx.uncovered_years)

    # ----------------------------------------------------------------- days
    def is_working_day(self, d: date) -> bool:
        """True when ``d`` (a local date) is worked: a weekday not listed off, or a listed
        make-up working day."""
        o = d.toordinal()
        idx = self._index
        if idx is None or not idx.lo <= o <= idx.hi:
            idx = self._ensure(o, o)
        return bool(idx.flags[o - idx.lo] & _WORK)

    def is_holiday(self, d: date) -> bool:
        """True when ``d`` is a listed day off (inside a statutory holiday block); ordinary
        weekends are not."""
        return bool(self._flag(d.toordinal()) & _OFF)

    def day_kind(self, d: date) -> DayInfo:
        """How ``d`` is classified, with the holiday's name and the provisional flag."""
        o = d.toordinal()
        f, idx = self._flags_at(o)
        if f & _OFF:
            kind = DayKind.HOLIDAY
        elif f & _LISTED_WORK:
            kind = DayKind.MAKEUP_WORKING_DAY
        elif f & _WORK:
            kind = DayKind.WORKING_DAY
        else:
            kind = DayKind.WEEKEND
        return DayInfo(d, kind, idx.names.get(o), bool(f & _UNCOVERED))

    def days(self, first: date, last: date) -> Iterator[DayInfo]:
        """:meth:`day_kind` for every day ``first..last`` (inclusive)."""
        for o in range(first.toordinal(), last.toordinal() + 1):
            yield self.day_kind(date.fromordinal(o))

    def next_working_day(self, d: date) -> date:
        """The first working day strictly after ``d``."""
        return date.fromordinal(self._add_wd(d.toordinal(), 1))

    def previous_working_day(self, d: date) -> date:
        """The last working day strictly before ``d``."""
        return date.fromordinal(self._sub_wd(d.toordinal(), 1))

    def add_working_days(self, d: date, n: int) -> date:
        """The nth working day strictly after ``d`` (``d`` itself is not counted, even when it
        is a working day); ``n == 0`` returns ``d``; negative ``n`` counts backwards."""
        if n > 0:
            return date.fromordinal(self._add_wd(d.toordinal(), n))
        if n < 0:
            return date.fromordinal(self._sub_wd(d.toordinal(), -n))
        return d

    def subtract_working_days(self, d: date, n: int) -> date:
        """The nth working day strictly before ``d`` (``n == 0`` returns ``d``)."""
        return self.add_working_days(d, -n)

    def working_days_between(self, a: date, b: date) -> int:
        """Working days in ``(a, b]`` — the count a working-day period started on ``a`` has
        reached at the end of ``b``. Negative when ``b < a``."""
        if b < a:
            return -self.working_days_between(b, a)
        oa, ob = a.toordinal(), b.toordinal()
        idx = self._ensure(oa, ob)
        return bisect_right(idx.wd, ob) - bisect_right(idx.wd, oa)

    def add_days(self, d: date, n: int, rollover: Rollover = "non_working_day") -> date:
        """``d + n`` calendar days, then rolled forward per ``rollover``:
        ``non_working_day`` to the next working day, ``statutory_holiday_block`` past a listed
        holiday block only, ``none`` not at all."""
        _check_rollover(rollover)
        return date.fromordinal(self._roll(d.toordinal() + n, rollover))

    def holiday_block(self, d: date) -> tuple[date, date] | None:
        """The run of consecutive listed days off containing ``d``, or None."""
        o = d.toordinal()
        if not self._flag(o) & _OFF:
            return None
        a = o
        while self._flag(a - 1) & _OFF:
            a -= 1
        b = self._next_not_off(o) - 1
        return date.fromordinal(a), date.fromordinal(b)

    # ----------------------------------------------------------------- periods
    def add_period(
        self, d: date, period: Period | str, rollover: Rollover = "non_working_day"
    ) -> date:
        """The last day of a day-based period started on ``d`` (a local date): the nth working
        day after ``d``, or ``d + n`` rolled over per ``rollover``. Usable for offsets."""
        return self.due_date(d, period, rollover)

    def due_date(
        self,
        start_on: date,
        period: Period | str,
        rollover: Rollover = "non_working_day",
        excluded_days: int = 0,
    ) -> date:
        """The last day of a day-based period — the fast path, no explanation.

        ``start_on`` is the local start date (not counted). ``excluded_days`` is added to the
        period in its own unit (working days for a working-day period, calendar days for a
        calendar-day period) before any rollover.
        """
        p = period if type(period) is Period else _as_period(period)
        n = p.amount + excluded_days
        unit = p.unit
        if n < 0:
            raise InvalidInput("excluded_days", "must not make the period negative")
        if unit is Unit.WORKING_DAYS:
            return date.fromordinal(self._add_wd(start_on.toordinal(), n)) if n else start_on
        if unit is Unit.DAYS:
            return date.fromordinal(self._roll(start_on.toordinal() + n, rollover))
        raise PeriodError(str(p), "an hour period needs a start instant: use Calendar.due()")

    def start_of_day(self, d: date) -> datetime:
        """The first instant of the local date ``d`` (aware, :attr:`tz`). That is 00:00, except
        where a DST transition skips midnight — then the first existing instant."""
        o = d.toordinal()
        m = self._midnights.get(o)
        if m is None:
            m = datetime(d.year, d.month, d.day, tzinfo=self.tz).astimezone(UTC).astimezone(self.tz)
            if len(self._midnights) > 100_000:
                self._midnights.clear()
            self._midnights[o] = m
        return m

    def local_instant(self, d: date, t: time) -> datetime:
        """The aware instant of local wall-clock time ``t`` on ``d`` (normalised through UTC,
        so a time skipped by DST becomes the first instant after the gap)."""
        return datetime.combine(d, t, tzinfo=self.tz).astimezone(UTC).astimezone(self.tz)

    def due(
        self,
        start: datetime,
        period: Period | str,
        *,
        rollover: Rollover = "non_working_day",
        excluded_days: int = 0,
        excluded: Sequence[tuple[date, date]] | Sequence[tuple[datetime, datetime]] = (),
        extensions: Sequence[Period | str] = (),
        end: End = "midnight",
    ) -> Due:
        """When a period started at ``start`` ends.

        ``start`` is an aware instant (naive is refused); for day periods its local date in
        :attr:`tz` is the start date, which is not counted. ``rollover`` applies to
        calendar-day periods only. ``extensions`` are periods of the same unit added to the
        amount. Excluded time (see the module docs for the convention): ``excluded_days`` —
        units of the period already counted by the caller (working days for a working-day
        period, calendar days for a calendar-day period); ``excluded`` — intervals
        ``(commissioned, received)``: dates for day periods, aware instants for hour periods.
        ``end="close"`` ends a day period at closing time of its last day instead of 24:00
        (needs :attr:`business_hours`).
        """
        if not isinstance(start, datetime):
            raise InvalidInput("start", f"expected an aware datetime, got {type(start).__name__}")
        if start.tzinfo is None or start.utcoffset() is None:
            raise InvalidInput(
                "start", f"naive datetime {start.isoformat()}: give a time zone (aware datetime)"
            )
        if rollover not in ROLLOVERS:
            _check_rollover(rollover)
        if end != "midnight" and end != "close":
            raise InvalidInput("end", f"{end!r} is not 'midnight' or 'close'")
        if excluded_days < 0:
            raise InvalidInput("excluded_days", "must be >= 0")
        p = period if type(period) is Period else _as_period(period)
        exts: tuple[Period, ...] = ()
        if extensions:
            exts = tuple(_as_period(e) for e in extensions)
            for e in exts:
                if e.unit is not p.unit:
                    raise PeriodError(
                        str(e), f"an extension must be in the period's unit ({p.unit.value})"
                    )
        local = start.astimezone(self.tz)
        if p.unit is Unit.WORKING_DAYS or p.unit is Unit.DAYS:
            return self._due_days(local, p, rollover, excluded_days, excluded, exts, end)
        if excluded_days:
            raise InvalidInput("excluded_days", "hour periods take excluded intervals as instants")
        return self._due_hours(local, p, excluded, exts)

    def _due_days(
        self,
        local: datetime,
        p: Period,
        rollover: str,
        excluded_days: int,
        excluded: Sequence[tuple[Any, Any]],
        exts: tuple[Period, ...],
        end: str,
    ) -> Due:
        start_on = local.date()
        o0 = start_on.toordinal()
        pieces: list[tuple[date, date, int]] = []
        for a, b in excluded:
            da, db = self._local_date(a, "excluded"), self._local_date(b, "excluded")
            if db < da:
                raise InvalidInput("excluded", f"interval {da}..{db} ends before it starts")
            units = (
                self.working_days_between(da, db) if p.unit is Unit.WORKING_DAYS else (db - da).days
            )
            pieces.append((da, db, units))
        total = p.amount + excluded_days
        if exts:
            total += sum(e.amount for e in exts)
        if pieces:
            total += sum(u for _, _, u in pieces)
        raw_last: date | None = None
        if p.unit is Unit.WORKING_DAYS:
            last = self._add_wd(o0, total) if total else o0
            missing = self._missing(o0 + 1, last)
        else:
            raw = o0 + total
            raw_last = date.fromordinal(raw)
            last = self._roll(raw, rollover)
            missing = self._missing(raw, last) if rollover != "none" else ()
        due_on = date.fromordinal(last)
        if end == "close":
            if self.business_hours is None:
                raise CalendarError(f"calendar {self.name!r} has no business hours (end='close')")
            due_at = self.local_instant(due_on, self.business_hours.close)
        else:
            due_at = self.start_of_day(date.fromordinal(last + 1))
        trace = Trace(
            self, local, p, rollover, end, exts, excluded_days, tuple(pieces), total, raw_last
        )
        return Due(
            local,
            p,
            due_on,
            due_at,
            self.name,
            self.fingerprint,
            rollover,
            bool(missing),
            missing,
            (self.provisional_warning(missing),) if missing else (),
            trace,
        )

    def _due_hours(
        self,
        local: datetime,
        p: Period,
        excluded: Sequence[tuple[Any, Any]],
        exts: tuple[Period, ...],
    ) -> Due:
        pieces: list[tuple[Any, Any, int | timedelta]] = []
        business = p.unit is Unit.BUSINESS_HOURS
        if business and self.business_hours is None:
            raise CalendarError(
                f"calendar {self.name!r} has no business hours; {p} cannot be counted"
            )
        for a, b in excluded:
            for v in (a, b):
                if not isinstance(v, datetime) or v.utcoffset() is None:
                    raise InvalidInput("excluded", "hour periods need intervals of aware datetimes")
            # Aware datetimes sharing a tzinfo subtract as wall clocks: go through UTC.
            ua, ub = a.astimezone(UTC), b.astimezone(UTC)
            if ub < ua:
                raise InvalidInput("excluded", f"interval {a}..{b} ends before it starts")
            span = self.business_time_between(a, b) if business else ub - ua
            pieces.append((a, b, span))
        total = timedelta(hours=p.amount + sum(e.amount for e in exts))
        total += sum((s for _, _, s in pieces if isinstance(s, timedelta)), timedelta())
        if business:
            due_at = self.add_business_time(local, total)
            missing = self._missing(local.date().toordinal(), due_at.date().toordinal())
        else:
            due_at = (local.astimezone(UTC) + total).astimezone(self.tz)
            missing = ()
        trace = Trace(self, local, p, "none", "exact", exts, 0, tuple(pieces), total, None)
        return Due(
            local,
            p,
            due_at.date(),
            due_at,
            self.name,
            self.fingerprint,
            "none",
            bool(missing),
            missing,
            (self.provisional_warning(missing),) if missing else (),
            trace,
        )

    def _local_date(self, value: Any, field: str) -> date:
        if isinstance(value, datetime):
            if value.utcoffset() is None:
                raise InvalidInput(field, f"naive datetime {value.isoformat()}: give a time zone")
            return value.astimezone(self.tz).date()
        if isinstance(value, date):
            return value
        raise InvalidInput(field, f"expected a date, got {type(value).__name__}")

    def provisional_warning(self, missing: Sequence[int]) -> str:
        """The warning attached to results that used weekends-only rules for ``missing``."""
        years = ", ".join(str(y) for y in missing)
        word = "year" if len(missing) == 1 else "years"
        return (
            f"provisional: calendar {self.name!r} has no official schedule for {word} {years}; "
            f"days in {years} were classified by weekends-only rules "
            f"({self._weekly_pattern()}) — recompute when the schedule is published"
        )

    def _weekly_pattern(self) -> str:
        worked = [WEEKDAY_NAMES[i].capitalize() for i in range(7) if i not in self.weekend]
        if worked == ["Mon", "Tue", "Wed", "Thu", "Fri"]:
            return "Mon-Fri working"
        return ", ".join(worked) + " working"

    # ----------------------------------------------------------------- business hours
    def _require_hours(self) -> BusinessHours:
        if self.business_hours is None:
            raise CalendarError(f"calendar {self.name!r} has no business hours configured")
        return self.business_hours

    def open_intervals(self, d: date) -> list[tuple[datetime, datetime]]:
        """The open intervals of local date ``d`` as aware instants (empty on rest days)."""
        bh = self._require_hours()
        if not self.is_working_day(d):
            return []
        return [(self.local_instant(d, a), self.local_instant(d, b)) for a, b in bh.intervals]

    def add_business_time(self, start: datetime, amount: timedelta) -> datetime:
        """The instant when ``amount`` of open time (business hours on working days) has
        elapsed after ``start`` (aware). Ends exactly at a closing time when the amount runs
        out there."""
        if start.utcoffset() is None:
            raise InvalidInput("start", f"naive datetime {start.isoformat()}: give a time zone")
        cur = start.astimezone(UTC)
        remaining = amount
        d = start.astimezone(self.tz).date()
        if remaining <= timedelta(0):
            return start.astimezone(self.tz)
        if not self.is_working_day(d):
            d = self.next_working_day(d)
        while True:
            for a, b in self.open_intervals(d):
                s = max(a.astimezone(UTC), cur)
                e = b.astimezone(UTC)
                if s < e:
                    if remaining <= e - s:
                        return (s + remaining).astimezone(self.tz)
                    remaining -= e - s
            d = self.next_working_day(d)

    def business_time_between(self, a: datetime, b: datetime) -> timedelta:
        """Open time (business hours on working days) within ``[a, b]`` (aware instants)."""
        if b <= a:
            return timedelta(0)
        ua, ub = a.astimezone(UTC), b.astimezone(UTC)
        total = timedelta(0)
        d = a.astimezone(self.tz).date()
        last = b.astimezone(self.tz).date()
        while d <= last:
            for s, e in self.open_intervals(d):
                lo, hi = max(s.astimezone(UTC), ua), min(e.astimezone(UTC), ub)
                if lo < hi:
                    total += hi - lo
            d += timedelta(days=1)
        return total

    # ----------------------------------------------------------------- years
    def summarize_year(self, year: int) -> YearSummary:
        """Listed days off, make-up working days and the working-day count of ``year``."""
        a, b = date(year, 1, 1), date(year, 12, 31)
        off: list[DayInfo] = []
        makeup: list[DayInfo] = []
        rest = working = 0
        for info in self.days(a, b):
            if info.kind is DayKind.HOLIDAY:
                off.append(info)
            elif info.kind is DayKind.MAKEUP_WORKING_DAY:
                makeup.append(info)
            if info.working:
                working += 1
            else:
                rest += 1
        return YearSummary(
            self.name,
            year,
            working,
            rest,
            tuple(off),
            tuple(makeup),
            bool(self._missing(a.toordinal(), b.toordinal())),
            self.fingerprint,
        )
