"""``casework calendar``: due dates and yearly schedules from the command line.

A thin client of :mod:`casework.calendars`. Calendar folders (``--calendar-dir`` or
``$CASEWORK_CALENDARS``, several separated by ``os.pathsep``) hold holiday-cn year files
(``2027.json``, for ``cn``) and custom YAML calendars.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import date, datetime, timedelta, tzinfo
from pathlib import Path
from typing import Any, cast

import click

from casework.calendars import (
    Calendar,
    CalendarRegistry,
    DayInfo,
    End,
    default_registry,
    parse_period,
    zone,
)
from casework.cli.app import emit_json, main
from casework.errors import CalendarError
from casework.periods import Unit
from casework.spec import ROLLOVERS, Rollover

_WEEKDAY = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


def _calendar_dir_option(f: Callable[..., Any]) -> Callable[..., Any]:
    return click.option(
        "--calendar-dir",
        "calendar_dirs",
        multiple=True,
        type=click.Path(file_okay=False, exists=True, path_type=Path),
        envvar="CASEWORK_CALENDARS",
        help="Folder of holiday-cn year files and custom YAML calendars (repeatable; "
        "falls back to $CASEWORK_CALENDARS).",
    )(f)


def _calendar_option(f: Callable[..., Any]) -> Callable[..., Any]:
    return click.option(
        "--calendar",
        "calendar_name",
        default="cn",
        show_default=True,
        help="cn, weekends, holidays:US-MA, a custom calendar; NAME@ZONE for another zone.",
    )(f)


def _registry(dirs: Sequence[Path]) -> CalendarRegistry:
    return default_registry(dirs)


def _zone_param(value: str | None, param: str) -> tzinfo | None:
    if value is None:
        return None
    try:
        return zone(value)
    except CalendarError as exc:
        raise click.BadParameter(str(exc), param_hint=param) from None


def _parse_instant(text: str, cal: Calendar, naive_tz: tzinfo, param: str) -> datetime:
    """A bare date is the start of that day in the calendar's zone; a naive date-time is read
    in ``naive_tz``; an aware one is kept (and converted later)."""
    raw = text.strip()
    try:
        if len(raw) == 10:
            return cal.start_of_day(date.fromisoformat(raw))
        value = datetime.fromisoformat(raw)
    except ValueError:
        raise click.BadParameter(
            f"{text!r} is not a date (2026-09-30) or date-time (2026-09-30T10:00[+08:00])",
            param_hint=param,
        ) from None
    if value.tzinfo is None:
        value = value.replace(tzinfo=naive_tz).astimezone(naive_tz)
    return value


def _parse_interval(
    text: str, cal: Calendar, naive_tz: tzinfo, hours: bool
) -> tuple[date, date] | tuple[datetime, datetime]:
    left, sep, right = text.partition("..")
    if not sep:
        raise click.BadParameter(f"{text!r}: expected FROM..TO", param_hint="--exclude")
    a = _parse_instant(left, cal, naive_tz, "--exclude")
    b = _parse_instant(right, cal, naive_tz, "--exclude")
    if hours:
        return (a, b)
    return (a.astimezone(cal.tz).date(), b.astimezone(cal.tz).date())


@main.group("calendar")
def calendar_group() -> None:
    """Working-day calendars: due dates and yearly schedules."""


@calendar_group.command("due")
@_calendar_option
@click.option(
    "--start",
    required=True,
    metavar="DATE_OR_TIME",
    help="2026-09-30 (that local date), 2026-09-30T10:00 (read in --tz) or with an offset.",
)
@click.option("--period", required=True, help='"7 working days", "60 日", "48 hours", ...')
@click.option(
    "--rollover",
    type=click.Choice(ROLLOVERS),
    default="non_working_day",
    show_default=True,
    help="Calendar-day periods: how a last day on a rest day moves.",
)
@click.option("--tz", "tz_name", help="Zone of a naive --start (default: the calendar's zone).")
@click.option(
    "--exclude-days",
    type=click.IntRange(min=0),
    default=0,
    help="Excluded units already counted, in the period's unit (added to the period).",
)
@click.option(
    "--exclude",
    "excluded",
    multiple=True,
    metavar="FROM..TO",
    help="Excluded interval (commissioned..received); repeatable.",
)
@click.option("--extend", "extensions", multiple=True, metavar="PERIOD", help="Extension.")
@click.option(
    "--end",
    type=click.Choice(["midnight", "close"]),
    default="midnight",
    show_default=True,
    help="End at 24:00 of the last day, or at closing time (needs business hours).",
)
@_calendar_dir_option
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def due_cmd(
    calendar_name: str,
    start: str,
    period: str,
    rollover: str,
    tz_name: str | None,
    exclude_days: int,
    excluded: tuple[str, ...],
    extensions: tuple[str, ...],
    end: str,
    calendar_dirs: tuple[Path, ...],
    as_json: bool,
) -> None:
    """When a period started at --start ends (the start day is not counted)."""
    cal = _registry(calendar_dirs).get(calendar_name)
    naive_tz = _zone_param(tz_name, "--tz") or cal.tz
    start_at = _parse_instant(start, cal, naive_tz, "--start")
    p = parse_period(period)
    hours = p.unit in (Unit.HOURS, Unit.BUSINESS_HOURS)
    intervals = [_parse_interval(x, cal, naive_tz, hours) for x in excluded]
    result = cal.due(
        start_at,
        p,
        rollover=cast(Rollover, rollover),
        excluded_days=exclude_days,
        excluded=intervals,
        extensions=list(extensions),
        end=cast(End, end),
    )
    if as_json:
        emit_json(result.to_dict())
        return
    click.echo(f"calendar     {cal.name} ({cal.tz.key})  fingerprint {result.fingerprint[:16]}")
    click.echo(f"start        {result.start_at.isoformat()}")
    click.echo(f"period       {result.period} (rollover: {result.rollover})")
    flag = "  PROVISIONAL" if result.provisional else ""
    click.echo(
        f"due on       {result.due_on.isoformat()} ({_WEEKDAY[result.due_on.weekday()]}){flag}"
    )
    click.echo(f"due at       {result.due_at.isoformat()}")
    click.echo("explanation:")
    for line in result.explanation:
        click.echo(f"  - {line}")


def _runs(days: Sequence[DayInfo]) -> list[tuple[date, date, str]]:
    runs: list[tuple[date, date, str]] = []
    for info in days:
        name = info.name or ""
        if runs and runs[-1][2] == name and runs[-1][1] + timedelta(days=1) == info.on:
            runs[-1] = (runs[-1][0], info.on, name)
        else:
            runs.append((info.on, info.on, name))
    return runs


@calendar_group.command("show")
@_calendar_option
@click.option("--year", type=click.IntRange(1, 9999), required=True)
@_calendar_dir_option
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def show_cmd(calendar_name: str, year: int, calendar_dirs: tuple[Path, ...], as_json: bool) -> None:
    """Days off (with names), make-up working days and the working-day count of a year."""
    cal = _registry(calendar_dirs).get(calendar_name)
    s = cal.summarize_year(year)
    warnings = [cal.provisional_warning([year])] if s.provisional else []
    if as_json:
        emit_json(
            {
                "calendar": cal.name,
                "year": year,
                "timezone": cal.tz.key,
                "source": cal.source,
                "fingerprint": s.fingerprint,
                "provisional": s.provisional,
                "working_days": s.working_days,
                "rest_days": s.rest_days,
                "days_off": [
                    {"date": i.on, "weekday": _WEEKDAY[i.on.weekday()], "name": i.name}
                    for i in s.days_off
                ],
                "make_up_working_days": [
                    {"date": i.on, "weekday": _WEEKDAY[i.on.weekday()], "name": i.name}
                    for i in s.make_up_working_days
                ],
                "business_hours": cal.business_hours.to_dict() if cal.business_hours else None,
                "warnings": warnings,
            }
        )
        return
    flag = "  PROVISIONAL" if s.provisional else ""
    click.echo(
        f"{cal.name} {year} ({cal.tz.key}): {s.working_days} working days, "
        f"{s.rest_days} rest days{flag}"
    )
    click.echo(f"source       {cal.source}")
    click.echo(f"fingerprint  {s.fingerprint}")
    if cal.business_hours is not None:
        click.echo(f"open         {cal.business_hours.describe()} on working days")
    click.echo("days off:" if s.days_off else "days off: none listed (weekends only)")
    for a, b, name in _runs(s.days_off):
        span = a.isoformat() if a == b else f"{a.isoformat()}..{b.isoformat()}"
        days = (
            _WEEKDAY[a.weekday()] if a == b else f"{_WEEKDAY[a.weekday()]}-{_WEEKDAY[b.weekday()]}"
        )
        click.echo(f"  {span:<22} {days:<8} {name}")
    if s.make_up_working_days:
        click.echo("make-up working days (调休上班):")
        for info in s.make_up_working_days:
            click.echo(
                f"  {info.on.isoformat():<22} {_WEEKDAY[info.on.weekday()]:<8} {info.name or ''}"
            )
    for w in warnings:
        click.echo(f"warning: {w}")


@calendar_group.command("list")
@_calendar_dir_option
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def list_cmd(calendar_dirs: tuple[Path, ...], as_json: bool) -> None:
    """Calendars available by name (plus holidays:CC[-SUB] for any country)."""
    registry = _registry(calendar_dirs)
    rows = []
    for name in registry.names():
        cal = registry.get(name)
        rows.append({"name": name, "timezone": cal.tz.key, "source": cal.source})
    if as_json:
        emit_json(rows)
        return
    for row in rows:
        click.echo(f"{row['name']:<16} {row['timezone']:<20} {row['source']}")
    click.echo(f"{'holidays:CC-SUB':<16} {'(country zone)':<20} holidays package, any country")
