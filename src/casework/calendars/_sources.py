"""Built-in calendars: weekends only, the PRC official schedule, the ``holidays`` package."""

from __future__ import annotations

import functools
import json
import re
from collections import defaultdict
from collections.abc import Iterable, Mapping
from datetime import date, tzinfo
from pathlib import Path
from typing import Any

import attrs

from casework.calendars._base import BusinessHours, Calendar, YearDays
from casework.errors import CalendarError, DefinitionError, Problem

__all__ = [
    "HolidayCNYear",
    "HolidaysLibCalendar",
    "OfficialCNCalendar",
    "WeekendCalendar",
    "load_holiday_cn_file",
    "parse_holiday_cn",
]


class WeekendCalendar(Calendar):
    """Every weekday is worked, Saturday and Sunday (or ``weekend``) are not; every year is
    covered. ``tz`` defaults to UTC."""

    kind = "weekends"

    def __init__(
        self,
        name: str = "weekends",
        tz: str | tzinfo = "UTC",
        *,
        weekend: Iterable[int] = (5, 6),
        business_hours: BusinessHours | None = None,
    ) -> None:
        super().__init__(name, tz, weekend=weekend, business_hours=business_hours)

    @property
    def source(self) -> str:
        return "weekly pattern only (no holidays)"


# --------------------------------------------------------------------------- holiday-cn files


@attrs.frozen
class HolidayCNYear:
    """One year file in the holiday-cn format: ``{"year": 2027, "days": [{"name": "元旦",
    "date": "2027-01-01", "isOffDay": true}, ...]}``. ``isOffDay: true`` is a day off,
    ``false`` a make-up working day (调休上班). Entries may spill into the adjacent years."""

    year: int
    days: tuple[tuple[date, bool, str], ...]
    source: str = "<memory>"

    def digest_payload(self) -> list[tuple[str, bool]]:
        return sorted((d.isoformat(), off) for d, off, _ in self.days)


def _line_of(text: str, needle: str) -> int | None:
    pos = text.find(needle)
    return None if pos < 0 else text.count("\n", 0, pos) + 1


def parse_holiday_cn(
    text: str, source: str = "<string>", *, stem: str | None = None
) -> HolidayCNYear:
    """Parse and check a holiday-cn year file; every problem is reported at once
    (:class:`DefinitionError` with file and line)."""
    problems: list[Problem] = []

    def problem(path: str, message: str, line: int | None = None) -> None:
        problems.append(Problem(path, message, line, source))

    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        problem("", f"invalid JSON: {exc.msg}", exc.lineno)
        raise DefinitionError(source, problems) from None
    if not isinstance(doc, dict):
        problem("", "expected a JSON object with 'year' and 'days'", 1)
        raise DefinitionError(source, problems)
    year = doc.get("year")
    if not isinstance(year, int) or isinstance(year, bool) or not 1 <= year <= 9999:
        problem("year", f"expected a year number, got {year!r}", _line_of(text, '"year"'))
        year = None
    elif stem is not None and re.fullmatch(r"\d{4}", stem) and int(stem) != year:
        problem("year", f"file is named {stem} but says year {year}", _line_of(text, '"year"'))
    days = doc.get("days")
    out: list[tuple[date, bool, str]] = []
    seen: dict[date, bool] = {}
    if not isinstance(days, list):
        problem("days", "expected a list of {name, date, isOffDay}", _line_of(text, '"days"'))
        days = []
    for i, entry in enumerate(days):
        where = f"days[{i}]"
        if not isinstance(entry, dict):
            problem(where, "expected an object {name, date, isOffDay}")
            continue
        raw = entry.get("date")
        line = _line_of(text, f'"{raw}"') if isinstance(raw, str) else None
        try:
            d = date.fromisoformat(raw) if isinstance(raw, str) else None
        except ValueError:
            d = None
        if d is None:
            problem(f"{where}.date", f"expected a date YYYY-MM-DD, got {raw!r}", line)
        off = entry.get("isOffDay")
        if not isinstance(off, bool):
            problem(f"{where}.isOffDay", f"expected true or false, got {off!r}", line)
        name = entry.get("name", "")
        if not isinstance(name, str):
            problem(f"{where}.name", f"expected text, got {name!r}", line)
            name = str(name)
        if d is None or not isinstance(off, bool):
            continue
        if year is not None and abs(d.year - year) > 1:
            problem(f"{where}.date", f"{d} is not in or next to year {year}", line)
            continue
        if d in seen:
            if seen[d] != off:
                problem(f"{where}.date", f"{d} is listed both as day off and as working day", line)
            continue
        seen[d] = off
        out.append((d, off, name))
    if problems or year is None:
        raise DefinitionError(source, problems)
    return HolidayCNYear(year, tuple(sorted(out)), source)


def load_holiday_cn_file(path: str | Path) -> HolidayCNYear:
    """Read a holiday-cn year file (``2027.json``); raises :class:`DefinitionError`."""
    p = Path(path)
    return parse_holiday_cn(p.read_text(encoding="utf-8"), str(p), stem=p.stem)


# --------------------------------------------------------------------------- official PRC schedule

_CN_NAMES = {"清明": "清明节", "端午": "端午节", "中秋": "中秋节"}


@attrs.frozen
class _PackageData:
    version: str
    years: range
    off: Mapping[int, Mapping[date, str]]
    work: Mapping[int, Mapping[date, str]]


@functools.lru_cache(maxsize=1)
def _chinese_calendar_data() -> _PackageData:
    import chinese_calendar
    from chinese_calendar import constants

    chinese = {h.value: _CN_NAMES.get(h.chinese, h.chinese) for h in constants.Holiday}
    off: dict[int, dict[date, str]] = defaultdict(dict)
    work: dict[int, dict[date, str]] = defaultdict(dict)
    for d, value in constants.holidays.items():
        off[d.year][d] = chinese.get(value, value)
    for d, value in constants.workdays.items():
        work[d.year][d] = chinese.get(value, value)
    years = range(min(constants.holidays).year, max(constants.holidays).year + 1)
    return _PackageData(chinese_calendar.__version__, years, dict(off), dict(work))


class OfficialCNCalendar(Calendar):
    """The State Council schedule (国务院办公厅关于XXXX年部分节假日安排的通知): statutory
    holiday blocks are days off, 调休上班 Saturdays/Sundays are worked.

    Data comes from the ``chinesecalendar`` package (2004-2026 in 1.11.0) and from
    holiday-cn year files (``year_files``), which replace the package's data for their year —
    drop ``2027.json`` in a calendar folder the day the notice is published. Years covered by
    neither are provisional (weekends-only rules).
    """

    kind = "cn"
    default_years = (2003, 2031)

    def __init__(
        self,
        name: str = "cn",
        tz: str | tzinfo = "Asia/Shanghai",
        *,
        year_files: Iterable[HolidayCNYear] = (),
        use_package: bool = True,
        business_hours: BusinessHours | None = None,
    ) -> None:
        super().__init__(name, tz, business_hours=business_hours)
        self._files: dict[int, HolidayCNYear] = {f.year: f for f in year_files}
        self._package = _chinese_calendar_data() if use_package else None

    @property
    def source(self) -> str:
        parts = []
        if self._package is not None:
            r = self._package.years
            parts.append(f"chinesecalendar {self._package.version} ({r.start}-{r.stop - 1})")
        parts += [f"{f.source} ({y})" for y, f in sorted(self._files.items())]
        return ", ".join(parts) or "no data"

    @property
    def year_files(self) -> tuple[HolidayCNYear, ...]:
        return tuple(self._files[y] for y in sorted(self._files))

    def covers(self, year: int) -> bool:
        return year in self._files or (self._package is not None and year in self._package.years)

    def _data_years(self) -> Iterable[int]:
        yield from self._files
        if self._package is not None:
            yield from self._package.years

    def _year_days(self, year: int) -> YearDays:
        off: dict[date, str] = {}
        work: dict[date, str] = {}
        file = self._files.get(year)
        if file is not None:
            for d, is_off, name in file.days:
                if d.year == year:
                    (off if is_off else work)[d] = name
        elif self._package is not None and year in self._package.years:
            off.update(self._package.off.get(year, {}))
            work.update(self._package.work.get(year, {}))
        # A file may list days of the adjacent year (元旦 blocks that start on 31 December).
        for other in (year - 1, year + 1):
            spill = self._files.get(other)
            if spill is None:
                continue
            for d, is_off, name in spill.days:
                if d.year == year:
                    (work if not is_off else off).pop(d, None)
                    (off if is_off else work)[d] = name
        # A worked weekday is an ordinary working day; only worked rest days need listing.
        work = {d: n for d, n in work.items() if d.weekday() in self.weekend}
        return YearDays(year, self.covers(year), off, work)


# --------------------------------------------------------------------------- holidays package


@functools.lru_cache(maxsize=1)
def _country_zones() -> dict[str, str]:
    """The first zone of every country in tzdata's zone.tab (US -> America/New_York)."""
    text = ""
    try:
        from importlib import resources

        text = resources.files("tzdata").joinpath("zoneinfo/zone.tab").read_text("utf-8")
    except (ImportError, OSError):
        try:
            text = Path("/usr/share/zoneinfo/zone.tab").read_text("utf-8")
        except OSError:
            text = ""
    zones: dict[str, str] = {}
    for line in text.splitlines():
        if line.startswith("#") or not line.strip():
            continue
        cols = line.split("\t")
        if len(cols) >= 3:
            zones.setdefault(cols[0], cols[2])
    return zones


class HolidaysLibCalendar(Calendar):
    """Public holidays of a country (and subdivision) from the ``holidays`` package, on a
    Mon-Fri week. Name ``holidays:US`` or ``holidays:US-MA``.

    The package computes holidays from rules, so every year in its supported range is
    covered; the fingerprint therefore names the package version, country and subdivision
    rather than hashing day data. ``tz`` defaults to the country's first zone in zone.tab
    (``US`` -> America/New_York); pass another for wide countries.
    """

    kind = "holidays"
    default_years = None  # each year costs a few ms: index around the first query only

    def __init__(
        self,
        country: str,
        subdiv: str | None = None,
        *,
        name: str | None = None,
        tz: str | tzinfo | None = None,
        business_hours: BusinessHours | None = None,
    ) -> None:
        import holidays

        try:
            sample = holidays.country_holidays(country, subdiv=subdiv)
        except NotImplementedError as exc:
            raise CalendarError(
                f"holidays:{country}{'-' + subdiv if subdiv else ''}: {exc}"
            ) from None
        self.country: str = sample.country
        self.subdiv: str | None = sample.subdiv
        self._start_year: int = int(getattr(sample, "start_year", 1))
        self._end_year: int = int(getattr(sample, "end_year", 9999))
        self._version: str = str(getattr(holidays, "__version__", "?"))
        label = f"holidays:{self.country}" + (f"-{self.subdiv}" if self.subdiv else "")
        zone_name = tz if tz is not None else _country_zones().get(self.country, "UTC")
        super().__init__(name or label, zone_name, business_hours=business_hours)

    @property
    def source(self) -> str:
        return (
            f"holidays {self._version} ({self.country}{'-' + self.subdiv if self.subdiv else ''})"
        )

    def covers(self, year: int) -> bool:
        return self._start_year <= year <= self._end_year

    def _content(self) -> dict[str, Any]:
        return {
            "source": "holidays",
            "version": self._version,
            "country": self.country,
            "subdiv": self.subdiv,
        }

    def _year_days(self, year: int) -> YearDays:
        if not self.covers(year):
            return YearDays(year, covered=False)
        import holidays

        h = holidays.country_holidays(self.country, subdiv=self.subdiv, years=year)
        off = {d: str(name) for d, name in h.items() if d.year == year}
        return YearDays(year, True, off, {})
