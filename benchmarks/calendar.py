"""Due-date computations per second: casework's indexed calendar vs a naive day-by-day loop.

Both run in this process over the same random cases (starts 2004-01-01 .. 2026-09-30, mixed
working-day and calendar-day periods, all three rollover policies) and must agree. The naive
loop walks day by day calling ``chinese_calendar.is_workday`` — what one writes without an
index. Bars: >= 200,000 computations/s and >= 20x the naive loop.

    python benchmarks/calendar.py [--n 200000] [--json]

With ``--json`` the last line is one JSON object. Exit status 1 when a bar is missed or the two
methods disagree.
"""

# This file is called calendar.py: keep its folder off sys.path, or it would shadow the
# standard library's ``calendar`` module for everything imported below.
import os
import sys

_here = os.path.dirname(os.path.abspath(__file__))
sys.path[:] = [p for p in sys.path if os.path.abspath(p or os.curdir) != _here]

import argparse  # noqa: E402
import json  # noqa: E402
import random  # noqa: E402
import time  # noqa: E402
from datetime import date, datetime, timedelta  # noqa: E402
from zoneinfo import ZoneInfo  # noqa: E402

import chinese_calendar  # noqa: E402
from chinese_calendar import constants as cc_constants  # noqa: E402

from casework.calendars import default_registry, parse_period  # noqa: E402
from casework.periods import Period, Unit  # noqa: E402

BAR_PER_S = 200_000
BAR_SPEEDUP = 20.0
PERIODS = ("5 working days", "7 working days", "15 working days", "20 工作日", "30 days", "60 日")
ROLLOVERS = ("non_working_day", "statutory_holiday_block", "none")
FIRST = date(2004, 1, 1)
LAST = date(2026, 9, 30)  # the longest case still ends inside the package's data (2026)

Case = tuple[date, Period, str]


def make_cases(n: int, seed: int) -> list[Case]:
    rnd = random.Random(seed)
    periods = [parse_period(p) for p in PERIODS]
    lo, hi = FIRST.toordinal(), LAST.toordinal()
    return [
        (date.fromordinal(rnd.randint(lo, hi)), rnd.choice(periods), rnd.choice(ROLLOVERS))
        for _ in range(n)
    ]


def naive_due(start: date, period: Period, rollover: str) -> date:
    """The day-by-day loop: counts working days one by one via chinese_calendar."""
    one = timedelta(days=1)
    if period.unit is Unit.WORKING_DAYS:
        d, counted = start, 0
        while counted < period.amount:
            d += one
            if chinese_calendar.is_workday(d):
                counted += 1
        return d
    d = start + timedelta(days=period.amount)
    if rollover == "non_working_day":
        while not chinese_calendar.is_workday(d):
            d += one
    elif rollover == "statutory_holiday_block":
        while d in cc_constants.holidays:
            d += one
    return d


def rate(fn: object, cases: list[Case]) -> tuple[float, list[date]]:
    call = fn  # a bound method or function
    out: list[date] = []
    append = out.append
    t0 = time.perf_counter()
    for start, period, rollover in cases:
        append(call(start, period, rollover))  # type: ignore[operator]
    elapsed = time.perf_counter() - t0
    return len(cases) / elapsed, out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=200_000, help="cases for casework")
    parser.add_argument("--naive-n", type=int, default=None, help="cases for the naive loop")
    parser.add_argument("--seed", type=int, default=20260415)
    parser.add_argument("--json", action="store_true", help="last line: one JSON object")
    args = parser.parse_args(argv)

    cal = default_registry().get("cn")
    cases = make_cases(args.n, args.seed)
    naive_n = args.naive_n or max(1_000, args.n // 40)
    naive_cases = cases[:naive_n]

    cal.due_date(FIRST, parse_period("1 working day"))  # build the index outside the timing
    best_cw = 0.0
    cw_out: list[date] = []
    for _ in range(3):  # best of three: the machine may be busy
        r, cw_out = rate(cal.due_date, cases)
        best_cw = max(best_cw, r)
    naive_rate, naive_out = rate(naive_due, naive_cases)
    mismatches = sum(1 for a, b in zip(cw_out, naive_out, strict=False) if a != b)

    # The full public call (aware start, Due record with lazy explanation), for information.
    tz = ZoneInfo("Asia/Shanghai")
    full = [(datetime(d.year, d.month, d.day, 10, tzinfo=tz), p, r) for d, p, r in cases]
    due = cal.due
    t0 = time.perf_counter()
    for start_at, period, rollover in full:
        due(start_at, period, rollover=rollover)  # type: ignore[arg-type]
    full_rate = len(full) / (time.perf_counter() - t0)

    speedup = best_cw / naive_rate
    ok = best_cw >= BAR_PER_S and speedup >= BAR_SPEEDUP and mismatches == 0
    print(f"cases: {len(cases)} casework, {len(naive_cases)} naive (seed {args.seed})")
    print(f"casework Calendar.due_date: {best_cw:>12,.0f} /s   (bar {BAR_PER_S:,}/s)")
    print(f"naive is_workday loop:      {naive_rate:>12,.0f} /s")
    print(f"speedup:                    {speedup:>12.1f} x   (bar {BAR_SPEEDUP:.0f}x)")
    print(f"casework Calendar.due:      {full_rate:>12,.0f} /s   (full Due record, for info)")
    print(f"mismatches vs naive:        {mismatches:>12}")
    print("bars met" if ok else "BARS NOT MET")
    if args.json:
        print(
            json.dumps(
                {
                    "casework_per_s": round(best_cw),
                    "naive_per_s": round(naive_rate),
                    "speedup": round(speedup, 1),
                    "casework_due_record_per_s": round(full_rate),
                    "n": len(cases),
                    "naive_n": len(naive_cases),
                    "mismatches": mismatches,
                    "bar_per_s": BAR_PER_S,
                    "bar_speedup": BAR_SPEEDUP,
                    "per_s_bar_met": best_cw >= BAR_PER_S,
                    "speedup_bar_met": speedup >= BAR_SPEEDUP,
                    "bars_met": ok,
                }
            )
        )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
