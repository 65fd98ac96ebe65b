"""Custom calendars: a base calendar plus a YAML overlay (local rest days, extra working days).

```yaml
# calendars/cn-xj.yaml
name: cn-xj                  # optional; default: the file name without .yaml
extends: cn                  # required: cn, weekends, holidays:US-MA, another custom calendar
timezone: Asia/Urumqi        # optional; default: the base calendar's zone
weekend: [sat, sun]          # optional; default: the base calendar's weekly rest days
business_hours: {open: "09:30", close: "18:00", lunch: ["13:30", "15:30"]}
days_off:                    # local rest days (民族节日), one day or a range
  - {date: 2026-03-20, name: 肉孜节}
  - {from: 2026-05-27, to: 2026-05-29, name: 古尔邦节}
working_days:                # extra worked days
  - {date: 2026-03-22, name: 调休上班}
covers: [2027]               # optional: years this file fully specifies (not provisional)
```
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable, Mapping
from datetime import date, timedelta, tzinfo
from pathlib import Path
from typing import Any

import attrs
import yaml

from casework.calendars._base import WEEKDAY_NAMES, BusinessHours, Calendar, YearDays, zone
from casework.errors import CalendarError, DefinitionError, Problem

__all__ = ["CalendarDefinition", "CustomCalendar", "load_calendar_yaml", "parse_calendar_yaml"]

BUILTIN_NAMES = ("cn", "weekends")
NAME_RE = re.compile(r"^[a-z][a-z0-9_.-]*$")
TOP_KEYS = (
    "name",
    "extends",
    "timezone",
    "description",
    "label",
    "weekend",
    "business_hours",
    "days_off",
    "working_days",
    "covers",
)
_WEEKDAYS = {name: i for i, name in enumerate(WEEKDAY_NAMES)} | {
    full: i
    for i, full in enumerate(
        ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
    )
}
_MAX_RANGE_DAYS = 366


@attrs.frozen
class CalendarDefinition:
    """A checked custom-calendar file, before its base is resolved."""

    name: str
    extends: str
    source: str
    timezone: str | None = None
    weekend: frozenset[int] | None = None
    business_hours: BusinessHours | None = None
    days_off: Mapping[date, str] = attrs.field(factory=dict)
    working_days: Mapping[date, str] = attrs.field(factory=dict)
    covers: frozenset[int] = frozenset()
    description: str | None = None
    extends_line: int | None = None


class CustomCalendar(Calendar):
    """``base`` with extra days off and working days (a regional overlay), optionally another
    time zone, weekly pattern or business hours. A year is covered when the base covers it or
    it is listed in ``covers``."""

    kind = "custom"

    def __init__(
        self,
        name: str,
        base: Calendar,
        *,
        days_off: Mapping[date, str] | None = None,
        working_days: Mapping[date, str] | None = None,
        tz: str | tzinfo | None = None,
        weekend: Iterable[int] | None = None,
        business_hours: BusinessHours | None = None,
        covers: Iterable[int] = (),
        source: str | None = None,
    ) -> None:
        super().__init__(
            name,
            tz if tz is not None else base.tz,
            weekend=weekend if weekend is not None else base.weekend,
            business_hours=business_hours if business_hours is not None else base.business_hours,
        )
        self.base = base
        self._covers = frozenset(covers)
        self._file = source
        both = set(days_off or {}) & set(working_days or {})
        if both:
            listed = ", ".join(sorted(d.isoformat() for d in both))
            raise CalendarError(f"calendar {name!r}: {listed} both day off and working day")
        self._off: dict[int, dict[date, str]] = {}
        self._work: dict[int, dict[date, str]] = {}
        for d, label in (days_off or {}).items():
            self._off.setdefault(d.year, {})[d] = label
        for d, label in (working_days or {}).items():
            self._work.setdefault(d.year, {})[d] = label

    @classmethod
    def from_definition(cls, definition: CalendarDefinition, base: Calendar) -> CustomCalendar:
        return cls(
            definition.name,
            base,
            days_off=definition.days_off,
            working_days=definition.working_days,
            tz=definition.timezone,
            weekend=definition.weekend,
            business_hours=definition.business_hours,
            covers=definition.covers,
            source=definition.source,
        )

    def _default_years(self) -> tuple[int, int] | None:
        return self.base._default_years()

    @property
    def source(self) -> str:
        where = f"{self._file}, " if self._file else ""
        return f"{where}extends {self.base.name} ({self.base.source})"

    def covers(self, year: int) -> bool:
        return year in self._covers or self.base.covers(year)

    def _data_years(self) -> Iterable[int]:
        yield from self.base.data_years
        yield from self._off
        yield from self._work
        yield from self._covers

    def _content(self) -> dict[str, Any]:
        content = dict(self.base._content())
        if self._covers:
            content["covers"] = sorted(self._covers)
        return content

    def _year_days(self, year: int) -> YearDays:
        b = self.base.year_days(year)
        off = dict(b.off)
        work = dict(b.work)
        for d, label in self._off.get(year, {}).items():
            work.pop(d, None)
            off[d] = label
        for d, label in self._work.get(year, {}).items():
            off.pop(d, None)
            work[d] = label
        return YearDays(year, b.covered or year in self._covers, off, work)


# --------------------------------------------------------------------------- YAML


def _line(node: yaml.Node) -> int:
    return int(node.start_mark.line) + 1


class _Checker:
    def __init__(self, source: str) -> None:
        self.source = source
        self.problems: list[Problem] = []

    def add(self, path: str, message: str, node: yaml.Node | None = None) -> None:
        line = _line(node) if node is not None else None
        self.problems.append(Problem(path, message, line, self.source))

    def mapping(self, node: yaml.Node, path: str) -> dict[str, tuple[yaml.Node, yaml.Node]] | None:
        if not isinstance(node, yaml.MappingNode):
            self.add(path, "expected a mapping", node)
            return None
        out: dict[str, tuple[yaml.Node, yaml.Node]] = {}
        for k, v in node.value:
            if not isinstance(k, yaml.ScalarNode):
                self.add(path, "keys must be plain words", k)
                continue
            if k.value in out:
                self.add(f"{path}.{k.value}".lstrip("."), "duplicate key", k)
            out[str(k.value)] = (k, v)
        return out

    def text(self, node: yaml.Node, path: str) -> str | None:
        if isinstance(node, yaml.ScalarNode) and node.tag != "tag:yaml.org,2002:null":
            return str(node.value)
        self.add(path, "expected a single value", node)
        return None

    def day(self, node: yaml.Node, path: str) -> date | None:
        raw = self.text(node, path)
        if raw is None:
            return None
        try:
            return date.fromisoformat(raw.strip())
        except ValueError:
            self.add(path, f"expected a date YYYY-MM-DD, got {raw!r}", node)
            return None


def _unknown_key(key: str, allowed: Iterable[str]) -> str:
    close = difflib.get_close_matches(key, list(allowed), n=1, cutoff=0.6)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    return f"unknown key {key!r}{hint}; allowed: {', '.join(allowed)}"


def _days(
    chk: _Checker, node: yaml.Node, path: str, default_name: str
) -> dict[date, tuple[str, int]]:
    """Day entries: a list of ``{date, name}`` / ``{from, to, name}`` / bare dates, or a
    mapping ``date: name``. Returns date -> (name, line)."""
    out: dict[date, tuple[str, int]] = {}

    def put(d: date, name: str, where: str, at: yaml.Node) -> None:
        if d in out:
            chk.add(where, f"{d} is listed twice (also on line {out[d][1]})", at)
        else:
            out[d] = (name, _line(at))

    if isinstance(node, yaml.MappingNode):
        for k, v in node.value:
            where = f"{path}.{getattr(k, 'value', '?')}"
            d = chk.day(k, where)
            name = chk.text(v, where)
            if d is not None and name is not None:
                put(d, name, where, k)
        return out
    if not isinstance(node, yaml.SequenceNode):
        chk.add(path, "expected a list of {date, name} or {from, to, name} entries", node)
        return out
    for i, item in enumerate(node.value):
        where = f"{path}[{i}]"
        if isinstance(item, yaml.ScalarNode):
            d = chk.day(item, where)
            if d is not None:
                put(d, default_name, where, item)
            continue
        entry = chk.mapping(item, where)
        if entry is None:
            continue
        for key, (knode, _) in entry.items():
            if key not in ("date", "from", "to", "name"):
                chk.add(f"{where}.{key}", _unknown_key(key, ("date", "from", "to", "name")), knode)
        name = default_name
        if "name" in entry:
            name = chk.text(entry["name"][1], f"{where}.name") or default_name
        if "date" in entry:
            if "from" in entry or "to" in entry:
                chk.add(where, "give either 'date' or 'from'/'to', not both", item)
                continue
            d = chk.day(entry["date"][1], f"{where}.date")
            if d is not None:
                put(d, name, where, entry["date"][1])
        elif "from" in entry and "to" in entry:
            a = chk.day(entry["from"][1], f"{where}.from")
            b = chk.day(entry["to"][1], f"{where}.to")
            if a is None or b is None:
                continue
            if b < a:
                chk.add(f"{where}.to", f"range ends ({b}) before it starts ({a})", entry["to"][1])
            elif (b - a).days >= _MAX_RANGE_DAYS:
                chk.add(where, f"range {a}..{b} is longer than a year", item)
            else:
                for k in range((b - a).days + 1):
                    put(a + timedelta(days=k), name, where, entry["from"][1])
        else:
            chk.add(where, "missing 'date' (or 'from' and 'to')", item)
    return out


def parse_calendar_yaml(
    text: str, source: str = "<string>", *, default_name: str | None = None
) -> CalendarDefinition:
    """Check a custom-calendar YAML document; every problem is reported at once
    (:class:`DefinitionError` with file, line and path). The base named by ``extends`` is
    resolved later, by the registry."""
    chk = _Checker(source)
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = int(mark.line) + 1 if mark is not None else None
        reason = getattr(exc, "problem", None) or str(exc)
        raise DefinitionError(
            source, [Problem("", f"invalid YAML: {reason}", line, source)]
        ) from None
    if root is None:
        raise DefinitionError(source, [Problem("", "empty file", None, source)])
    top = chk.mapping(root, "")
    if top is None:
        raise DefinitionError(source, chk.problems)
    for key, (knode, _) in top.items():
        if key not in TOP_KEYS:
            chk.add(key, _unknown_key(key, TOP_KEYS), knode)

    name = default_name or ""
    if "name" in top:
        name = chk.text(top["name"][1], "name") or name
    if not NAME_RE.match(name):
        where = top["name"][1] if "name" in top else root
        chk.add(
            "name", f"{name!r} is not a calendar name (lowercase letters, digits, _ . -)", where
        )
    elif name in BUILTIN_NAMES:
        where = top["name"][1] if "name" in top else root
        chk.add("name", f"{name!r} is a built-in calendar; extend it under another name", where)

    extends = ""
    extends_line: int | None = None
    if "extends" not in top:
        chk.add("extends", "missing: name the base calendar (e.g. extends: cn)", root)
    else:
        extends = chk.text(top["extends"][1], "extends") or ""
        extends_line = _line(top["extends"][1])
        if extends and extends == name:
            chk.add("extends", "a calendar cannot extend itself", top["extends"][1])

    tz: str | None = None
    if "timezone" in top:
        tz = chk.text(top["timezone"][1], "timezone")
        if tz is not None:
            try:
                zone(tz)
            except CalendarError as exc:
                chk.add("timezone", str(exc), top["timezone"][1])

    weekend: frozenset[int] | None = None
    if "weekend" in top:
        wnode = top["weekend"][1]
        if not isinstance(wnode, yaml.SequenceNode):
            chk.add("weekend", "expected a list of weekday names, e.g. [sat, sun]", wnode)
        else:
            days: set[int] = set()
            for i, item in enumerate(wnode.value):
                word = (chk.text(item, f"weekend[{i}]") or "").strip().lower()
                if word in _WEEKDAYS:
                    days.add(_WEEKDAYS[word])
                elif word:
                    chk.add(f"weekend[{i}]", f"{word!r} is not a weekday (mon .. sun)", item)
            if len(days) == 7:
                chk.add("weekend", "a week needs at least one working day", wnode)
            weekend = frozenset(days)

    hours: BusinessHours | None = None
    if "business_hours" in top:
        hnode = top["business_hours"][1]
        bh = chk.mapping(hnode, "business_hours")
        if bh is not None:
            for key, (knode, _) in bh.items():
                if key not in ("open", "close", "lunch"):
                    chk.add(
                        f"business_hours.{key}",
                        _unknown_key(key, ("open", "close", "lunch")),
                        knode,
                    )
            open_ = chk.text(bh["open"][1], "business_hours.open") if "open" in bh else None
            close = chk.text(bh["close"][1], "business_hours.close") if "close" in bh else None
            if open_ is None or close is None:
                chk.add("business_hours", "needs 'open' and 'close' (e.g. '09:00')", hnode)
            lunch: tuple[str, str] | None = None
            if "lunch" in bh:
                lnode = bh["lunch"][1]
                parts = (
                    [chk.text(x, "business_hours.lunch") for x in lnode.value]
                    if isinstance(lnode, yaml.SequenceNode)
                    else []
                )
                if len(parts) != 2 or None in parts:
                    chk.add(
                        "business_hours.lunch",
                        "expected [start, end], e.g. ['12:00', '13:30']",
                        lnode,
                    )
                else:
                    lunch = (str(parts[0]), str(parts[1]))
            if open_ is not None and close is not None:
                try:
                    hours = BusinessHours(open_, close, lunch)
                except ValueError as exc:
                    chk.add("business_hours", str(exc), hnode)

    off = _days(chk, top["days_off"][1], "days_off", "local rest day") if "days_off" in top else {}
    work = (
        _days(chk, top["working_days"][1], "working_days", "make-up working day")
        if "working_days" in top
        else {}
    )
    for d in sorted(set(off) & set(work)):
        chk.problems.append(
            Problem(
                "working_days",
                f"{d} is also a day off (line {off[d][1]})",
                work[d][1],
                source,
            )
        )

    covers: set[int] = set()
    if "covers" in top:
        cnode = top["covers"][1]
        items = cnode.value if isinstance(cnode, yaml.SequenceNode) else [cnode]
        for i, item in enumerate(items):
            raw = chk.text(item, f"covers[{i}]")
            if raw is None:
                continue
            if re.fullmatch(r"\d{4}", raw.strip()):
                covers.add(int(raw))
            else:
                chk.add(f"covers[{i}]", f"expected a year, got {raw!r}", item)

    description = None
    if "description" in top:
        description = chk.text(top["description"][1], "description")

    if chk.problems:
        raise DefinitionError(source, chk.problems)
    return CalendarDefinition(
        name=name,
        extends=extends,
        source=source,
        timezone=tz,
        weekend=weekend,
        business_hours=hours,
        days_off={d: n for d, (n, _) in off.items()},
        working_days={d: n for d, (n, _) in work.items()},
        covers=frozenset(covers),
        description=description,
        extends_line=extends_line,
    )


def load_calendar_yaml(path: str | Path) -> CalendarDefinition:
    """Read a custom-calendar file; its name defaults to the file name without ``.yaml``."""
    p = Path(path)
    return parse_calendar_yaml(p.read_text(encoding="utf-8"), str(p), default_name=p.stem)
