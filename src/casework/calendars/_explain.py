"""Human-readable explanations of computed due dates (built lazily, off the hot path)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING

from casework.calendars._base import DayInfo, DayKind
from casework.periods import Unit

if TYPE_CHECKING:
    from casework.calendars._base import Calendar, Due, Trace

_WEEKDAY = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_PROVISIONAL = " [provisional: no data for this year, weekends-only rules]"


def _day(d: date) -> str:
    return f"{d.isoformat()} ({_WEEKDAY[d.weekday()]})"


def _span(a: date, b: date) -> str:
    return a.isoformat() if a == b else f"{a.isoformat()}..{b.isoformat()}"


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def _dur(td: timedelta) -> str:
    minutes = int(td.total_seconds() // 60)
    h, m = divmod(minutes, 60)
    return f"{h} h" if not m else f"{h} h {m:02d} min"


def explain(t: Trace, due: Due) -> tuple[str, ...]:
    if t.period.unit in (Unit.WORKING_DAYS, Unit.DAYS):
        lines = _explain_days(t, due)
    else:
        lines = _explain_hours(t, due)
    lines += [f"warning: {w}" for w in due.warnings]
    return tuple(lines)


def _unit_word(unit: Unit) -> str:
    return {Unit.WORKING_DAYS: "working day", Unit.DAYS: "calendar day"}.get(unit, "hour")


def _composition(t: Trace) -> list[str]:
    """Lines for extensions and excluded time, and the total the period counts."""
    p = t.period
    word = _unit_word(p.unit)
    lines: list[str] = []
    parts = [str(p)]
    for e in t.extensions:
        lines.append(f"extension: +{e} (added to the period; counted from the same start)")
        parts.append(f"{e} extension")
    if isinstance(t.excluded_days, int) and t.excluded_days:
        lines.append(
            f"excluded time: {_plural(t.excluded_days, word)} not counted (given by the caller), "
            "added to the period"
        )
        parts.append(f"{_plural(t.excluded_days, word)} excluded")
    for a, b, units in t.excluded:
        if isinstance(units, int) and p.unit is Unit.WORKING_DAYS:
            lines.append(
                f"excluded time {_span(a, b)}: {_plural(units, 'working day')} between "
                f"commissioning ({a}) and result ({b}) not counted, added to the period"
            )
        elif isinstance(units, int):
            lines.append(
                f"excluded time {_span(a, b)}: {b} − {a} = {_plural(units, 'day')} not "
                "counted, added to the period before rollover"
            )
        else:
            kind = "open time" if p.unit is Unit.BUSINESS_HOURS else "elapsed time"
            span = units if isinstance(units, timedelta) else timedelta(0)
            lines.append(
                f"excluded time {a.isoformat()} .. {b.isoformat()}: {_dur(span)} of {kind} not "
                "counted, added to the period"
            )
        parts.append(
            f"{_dur(units)} excluded"
            if isinstance(units, timedelta)
            else f"{_plural(int(units), word)} excluded"
        )
    if len(parts) > 1:
        total = _plural(t.total, _unit_word(p.unit)) if isinstance(t.total, int) else _dur(t.total)
        lines.append(f"counted in total: {' + '.join(parts)} = {total}")
    return lines


def _start_line(t: Trace, cal: Calendar) -> str:
    s = t.start_local
    d = s.date()
    info = cal.day_kind(d)
    rest = "" if info.working else f"; it is a rest day ({info.describe()}) — still not counted"
    first = (
        "day 1 is the first working day after it"
        if t.period.unit is Unit.WORKING_DAYS
        else (f"counting begins {d + timedelta(days=1)}")
    )
    return (
        f"start {s.isoformat()} in {cal.tz.key}: start day {_day(d)} is not counted{rest}; {first}"
    )


def _end_line(t: Trace, due: Due) -> str:
    if t.end == "close":
        return (
            f"the period ends at closing time on its last day {_day(due.due_on)}: "
            f"due at {due.due_at.isoformat()}"
        )
    return (
        f"the period ends at 24:00 local on its last day {_day(due.due_on)}: "
        f"due at {due.due_at.isoformat()}"
    )


def _skipped(cal: Calendar, first: date, last: date) -> list[str]:
    """One line per run of non-working days in ``first..last`` with the same reason."""
    lines: list[str] = []
    run: list[DayInfo] = []

    def flush() -> None:
        if run:
            lines.append(f"{_span(run[0].on, run[-1].on)} skipped: {run[0].describe()}")
            run.clear()

    d = first
    while d <= last:
        info = cal.day_kind(d)
        if info.working:
            flush()
        else:
            if run and (run[-1].kind, run[-1].name, run[-1].provisional) != (
                info.kind,
                info.name,
                info.provisional,
            ):
                flush()
            run.append(info)
        d += timedelta(days=1)
    flush()
    return lines


def _explain_days(t: Trace, due: Due) -> list[str]:
    cal = t.calendar
    lines = [_start_line(t, cal)]
    lines += _composition(t)
    total = int(t.total) if isinstance(t.total, int) else 0
    start = t.start_local.date()
    if t.period.unit is Unit.WORKING_DAYS:
        if total == 0:
            lines.append("0 working days: the period ends with the start day")
        else:
            lines += _counted(cal, start, due.due_on, total)
            lines.append(f"last day: {_day(due.due_on)}, working day {total} of {total}")
    else:
        raw = t.raw_last or due.due_on
        note = " (before rollover)" if t.rollover != "none" else ""
        lines.append(f"{start} + {_plural(total, 'calendar day')} = {_day(raw)}: last day{note}")
        lines += _rollover(cal, t.rollover, raw, due.due_on)
    lines.append(_end_line(t, due))
    return lines


def _counted(cal: Calendar, start: date, last: date, total: int) -> list[str]:
    """Working-day periods: runs of counted and skipped days from the day after ``start``."""
    groups: list[tuple[tuple[object, ...], list[DayInfo]]] = []
    d = start + timedelta(days=1)
    while d <= last:
        info = cal.day_kind(d)
        if info.kind is DayKind.HOLIDAY:
            key: tuple[object, ...] = ("off", info.name, info.provisional)
        elif info.kind is DayKind.MAKEUP_WORKING_DAY:
            key = ("makeup", d)
        else:
            key = ("plain", info.provisional)
        if groups and groups[-1][0] == key:
            groups[-1][1].append(info)
        else:
            groups.append((key, [info]))
        d += timedelta(days=1)
    lines: list[str] = []
    k = 0
    for key, infos in groups:
        span = _span(infos[0].on, infos[-1].on)
        if key[0] == "off":
            lines.append(f"{span} skipped: {infos[0].describe()}")
        elif key[0] == "makeup":
            k += 1
            name = f" — {infos[0].name}" if infos[0].name else ""
            lines.append(
                f"{span} counted: make-up working day (调休上班), working day {k} of {total}{name}"
            )
        else:
            worked = [i for i in infos if i.working]
            rest = [i.on for i in infos if not i.working]
            prov = _PROVISIONAL if key[1] else ""
            if not worked:
                lines.append(f"{span} skipped: weekend{prov}")
                continue
            first, k = k + 1, k + len(worked)
            counted = f"working day {k}" if first == k else f"working days {first}–{k}"
            text = f"{span} counted: {counted}"
            if rest:
                shown = ", ".join(d.isoformat() for d in rest) if len(rest) <= 3 else len(rest)
                text += (
                    f"; skipped weekend: {shown}"
                    if len(rest) <= 3
                    else f"; skipped {shown} weekend days"
                )
            lines.append(text + prov)
    return lines


def _rollover(cal: Calendar, rollover: str, raw: date, last: date) -> list[str]:
    if rollover == "none":
        return [f"rollover none: the last day is not moved, whatever kind of day {raw} is"]
    info = cal.day_kind(raw)
    kind = "" if info.kind is DayKind.WORKING_DAY else f" ({info.describe()})"
    if rollover == "non_working_day":
        if info.working:
            return [f"{raw} is a working day{kind}: no rollover"]
        lines = _skipped(cal, raw, last - timedelta(days=1))
        lines.append(
            f"rollover non_working_day: {raw} is not a working day → last day moves to "
            f"{_day(last)}, the next working day"
        )
        return lines
    # statutory_holiday_block
    block = cal.holiday_block(raw)
    if block is None:
        if info.working:
            return [f"{raw} is a working day{kind}: no rollover"]
        return [
            f"rollover statutory_holiday_block: {raw} is a rest day ({info.describe()}) but not "
            "inside a statutory holiday block — not moved"
        ]
    a, b = block
    lines = _skipped(cal, raw, b)
    lines.append(
        f"rollover statutory_holiday_block: {raw} is inside the holiday block {_span(a, b)} "
        f"({info.describe()}) → last day moves to {_day(last)}, the first day after the block"
    )
    return lines


def _explain_hours(t: Trace, due: Due) -> list[str]:
    cal = t.calendar
    lines = [f"start {t.start_local.isoformat()} in {cal.tz.key}"]
    lines += _composition(t)
    total = t.total if isinstance(t.total, timedelta) else timedelta(0)
    if t.period.unit is Unit.HOURS:
        lines.append(
            f"{_dur(total)} of elapsed time, counted exactly (in UTC, so a DST change does "
            "not shift it)"
        )
    else:
        bh = cal.business_hours
        hours = bh.describe() if bh is not None else "?"
        lines.append(
            f"{_dur(total)} of open time: only business hours count ({hours} on working days)"
        )
        lines += _business_lines(cal, t.start_local, due.due_at)
    lines.append(f"due at {due.due_at.isoformat()} ({_day(due.due_on)})")
    return lines


def _business_lines(cal: Calendar, start: datetime, end: datetime) -> list[str]:
    lines: list[str] = []
    d = start.date()
    last = end.date()
    rest_from: date | None = None
    while d <= last:
        if not cal.is_working_day(d):
            rest_from = rest_from or d
            d += timedelta(days=1)
            continue
        if rest_from is not None:
            lines += _skipped(cal, rest_from, d - timedelta(days=1))
            rest_from = None
        used: list[str] = []
        for a, b in cal.open_intervals(d):
            lo = max(a.astimezone(UTC), start.astimezone(UTC))
            hi = min(b.astimezone(UTC), end.astimezone(UTC))
            if lo < hi:
                used.append(f"{lo.astimezone(cal.tz):%H:%M}-{hi.astimezone(cal.tz):%H:%M}")
        if used:
            lines.append(f"{_day(d)} counted: {', '.join(used)}")
        d += timedelta(days=1)
    return lines
