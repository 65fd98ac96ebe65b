"""Calendars by name: built-ins, ``holidays:CC[-SUB]``, folders of year files and YAML."""

from __future__ import annotations

import difflib
import threading
from collections.abc import Callable, Iterable
from pathlib import Path

from casework.calendars._base import Calendar, zone
from casework.calendars._custom import (
    BUILTIN_NAMES,
    CalendarDefinition,
    CustomCalendar,
    parse_calendar_yaml,
)
from casework.calendars._sources import (
    HolidayCNYear,
    HolidaysLibCalendar,
    OfficialCNCalendar,
    WeekendCalendar,
    parse_holiday_cn,
)
from casework.errors import CalendarError, DefinitionError, Problem

__all__ = ["CalendarRegistry", "default_registry"]

HOLIDAYS_PREFIX = "holidays:"


class CalendarRegistry:
    """Looks calendars up by name and builds each once.

    Names: ``cn`` (official PRC schedule plus any holiday-cn year files loaded), ``weekends``
    (Mon-Fri, UTC), ``holidays:US`` / ``holidays:US-MA`` (the ``holidays`` package), custom
    calendars from YAML files, anything :meth:`register`-ed. ``NAME@ZONE`` gives the same
    calendar in another time zone (``weekends@America/New_York``).
    """

    def __init__(self, *, builtins: bool = True) -> None:
        self._lock = threading.RLock()
        self._factories: dict[str, Callable[[], Calendar]] = {}
        self._definitions: dict[str, CalendarDefinition] = {}
        self._year_files: dict[int, HolidayCNYear] = {}
        self._cache: dict[str, Calendar] = {}
        self._resolving: list[str] = []
        if builtins:
            self._factories["cn"] = lambda: OfficialCNCalendar(
                year_files=list(self._year_files.values())
            )
            self._factories["weekends"] = WeekendCalendar

    # ------------------------------------------------------------------ adding
    def register(
        self, name: str, calendar: Calendar | Callable[[], Calendar], *, replace: bool = False
    ) -> None:
        """Add a calendar (or a factory building it on first use) under ``name``."""
        with self._lock:
            if not replace and (name in self._factories or name in self._definitions):
                raise CalendarError(f"calendar {name!r} is already registered")
            if isinstance(calendar, Calendar):
                fixed = calendar
                self._factories[name] = lambda: fixed
            else:
                self._factories[name] = calendar
            self._definitions.pop(name, None)
            self._cache.clear()

    def add_year_file(self, year_file: HolidayCNYear) -> None:
        """Use a holiday-cn year file for ``cn`` (it replaces the package's data for its
        year)."""
        with self._lock:
            self._year_files[year_file.year] = year_file
            self._cache.clear()

    def add_definition(self, definition: CalendarDefinition) -> None:
        """Add a checked custom calendar; its base is resolved on first use."""
        with self._lock:
            self._definitions[definition.name] = definition
            self._cache.clear()

    def load_dir(self, path: str | Path) -> list[str]:
        """Load every ``*.json`` (holiday-cn year files, for ``cn``) and ``*.yaml``/``*.yml``
        (custom calendars) in ``path``. Every problem in every file is reported at once
        (:class:`DefinitionError`); nothing is loaded unless all files are valid. Returns what
        was loaded (``cn:2027``, ``cn-xj``, ...)."""
        folder = Path(path)
        if not folder.is_dir():
            raise CalendarError(f"calendar folder {str(folder)!r} does not exist")
        errors: list[DefinitionError] = []
        years: dict[int, HolidayCNYear] = {}
        definitions: dict[str, CalendarDefinition] = {}
        for file in sorted(folder.iterdir()):
            if not file.is_file():
                continue
            suffix = file.suffix.lower()
            try:
                if suffix == ".json":
                    yf = parse_holiday_cn(file.read_text("utf-8"), str(file), stem=file.stem)
                    if yf.year in years:
                        raise DefinitionError(
                            str(file),
                            [
                                Problem(
                                    "year",
                                    f"{yf.year} also in {years[yf.year].source}",
                                    None,
                                    str(file),
                                )
                            ],
                        )
                    years[yf.year] = yf
                elif suffix in (".yaml", ".yml"):
                    text = file.read_text("utf-8")
                    d = parse_calendar_yaml(text, str(file), default_name=file.stem)
                    if d.name in definitions:
                        raise DefinitionError(
                            str(file),
                            [
                                Problem(
                                    "name",
                                    f"calendar {d.name!r} is also defined in "
                                    f"{definitions[d.name].source}",
                                    None,
                                    str(file),
                                )
                            ],
                        )
                    definitions[d.name] = d
            except DefinitionError as exc:
                errors.append(exc)
        with self._lock:
            for d in definitions.values():
                message = self._check_extends(d, definitions)
                if message is not None:
                    errors.append(
                        DefinitionError(
                            d.source, [Problem("extends", message, d.extends_line, d.source)]
                        )
                    )
            if errors:
                raise errors[0] if len(errors) == 1 else DefinitionError.merge(errors)
            self._year_files.update(years)
            self._definitions.update(definitions)
            self._cache.clear()
        return [f"cn:{y}" for y in sorted(years)] + sorted(definitions)

    def _check_extends(
        self, d: CalendarDefinition, pending: dict[str, CalendarDefinition]
    ) -> str | None:
        chain = [d.name]
        current: CalendarDefinition | None = d
        while current is not None:
            base, _, tz = current.extends.partition("@")
            if tz:
                try:
                    zone(tz)
                except CalendarError as exc:
                    return str(exc)
            if base in chain:
                return f"cycle: {' -> '.join([*chain, base])}"
            chain.append(base)
            current = pending.get(base) or self._definitions.get(base)
            if current is None:
                if base in self._factories or base in BUILTIN_NAMES:
                    return None
                return self._check_name(base)
        return None

    def _check_name(self, name: str) -> str | None:
        """None when ``name`` can be built (non-custom part), else why not."""
        core, _, tz = name.partition("@")
        if tz:
            try:
                zone(tz)
            except CalendarError as exc:
                return str(exc)
        if core in self._factories or core in self._definitions:
            return None
        if core.startswith(HOLIDAYS_PREFIX):
            try:
                self._holidays(core)
            except CalendarError as exc:
                return str(exc)
            return None
        return self._unknown(core)

    def _unknown(self, name: str) -> str:
        known = self.names()
        close = difflib.get_close_matches(name, known, n=1, cutoff=0.5)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        return (
            f"unknown calendar {name!r}{hint}; known: {', '.join(known)}, "
            "holidays:CC or holidays:CC-SUB (e.g. holidays:US-MA)"
        )

    # ------------------------------------------------------------------ lookup
    def names(self) -> list[str]:
        """Registered names (``holidays:*`` are built on demand and not listed)."""
        return sorted(set(self._factories) | set(self._definitions))

    def definition(self, name: str) -> CalendarDefinition | None:
        return self._definitions.get(name)

    @property
    def year_files(self) -> tuple[HolidayCNYear, ...]:
        return tuple(self._year_files[y] for y in sorted(self._year_files))

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and self._check_name(name) is None

    def get(self, name: str) -> Calendar:
        """The calendar called ``name``; raises :class:`CalendarError` with a did-you-mean."""
        name = name.strip()
        cal = self._cache.get(name)
        if cal is not None:
            return cal
        with self._lock:
            cal = self._cache.get(name)
            if cal is not None:
                return cal
            if name in self._resolving:
                raise CalendarError(
                    f"calendar {name!r} extends itself ({' -> '.join(self._resolving)})"
                )
            self._resolving.append(name)
            try:
                cal = self._build(name)
            finally:
                self._resolving.pop()
            self._cache[name] = cal
            return cal

    def _build(self, name: str) -> Calendar:
        if "@" in name:
            core, _, tz = name.rpartition("@")
            return self.get(core).with_options(name=name, tz=tz)
        factory = self._factories.get(name)
        if factory is not None:
            return factory()
        definition = self._definitions.get(name)
        if definition is not None:
            return CustomCalendar.from_definition(definition, self.get(definition.extends))
        if name.startswith(HOLIDAYS_PREFIX):
            return self._holidays(name)
        raise CalendarError(self._unknown(name))

    @staticmethod
    def _holidays(name: str) -> HolidaysLibCalendar:
        code = name[len(HOLIDAYS_PREFIX) :].strip()
        country, _, subdiv = code.partition("-")
        if not country:
            raise CalendarError(f"{name!r}: name a country, e.g. holidays:US or holidays:US-MA")
        return HolidaysLibCalendar(country.upper(), subdiv.upper() or None, name=name)


def default_registry(extra_dirs: Iterable[str | Path] = ()) -> CalendarRegistry:
    """A registry with the built-in calendars plus every folder in ``extra_dirs`` (holiday-cn
    year files and custom YAML calendars; later folders win for the same year)."""
    registry = CalendarRegistry()
    for folder in extra_dirs:
        registry.load_dir(folder)
    return registry
