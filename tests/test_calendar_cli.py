"""``casework calendar``: the due/show/list contract, input interpretation, calendar folders,
and the error policy (exit 1 with one line for casework errors, exit 2 for usage errors)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from casework.cli import main


def run(*args: str, env: dict[str, str] | None = None) -> Result:
    runner = CliRunner()
    return runner.invoke(main, ["calendar", *args], env=env or {"CASEWORK_CALENDARS": ""})


def run_json(*args: str, env: dict[str, str] | None = None) -> Any:
    result = run(*args, "--json", env=env)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_due_json_contract_for_a_working_day_period_over_national_day() -> None:
    """7 working days from 2026-09-30: due_on 10-15, due_at 10-16 00:00 +08:00, with the
    explanation of the skipped block and the counted 调休 Saturday."""
    out = run_json("due", "--calendar", "cn", "--start", "2026-09-30", "--period", "7 working days")
    assert out["due_on"] == "2026-10-15"
    assert out["due_at"] == "2026-10-16T00:00:00+08:00"
    assert out["provisional"] is False and out["warnings"] == []
    assert out["calendar"] == "cn" and len(out["fingerprint"]) == 64
    assert "2026-10-01..2026-10-07 skipped: 国庆节 (holiday)" in out["explanation"]
    assert any(
        x.startswith("2026-10-10 counted: make-up working day (调休上班)")
        for x in out["explanation"]
    )


def test_due_readable_output() -> None:
    """Without --json the result is printed for people, explanation included."""
    result = run("due", "--start", "2026-09-30", "--period", "7 工作日")
    assert result.exit_code == 0, result.output
    assert "due on       2026-10-15 (Thu)" in result.output
    assert "due at       2026-10-16T00:00:00+08:00" in result.output
    assert "  - 2026-10-01..2026-10-07 skipped: 国庆节 (holiday)" in result.output


@pytest.mark.parametrize(
    ("start", "extra", "due_on"),
    [
        ("2026-09-30", [], "2026-10-15"),  # a bare date: that local date
        ("2026-09-29T20:00", [], "2026-10-14"),  # naive: read in the calendar zone (09-29)
        ("2026-09-29T20:00", ["--tz", "America/New_York"], "2026-10-15"),  # = 09-30 08:00 +08
        ("2026-09-29T18:00:00+00:00", [], "2026-10-15"),  # aware: converted (09-30 02:00 +08)
        ("2026-09-29T18:00:00Z", ["--tz", "UTC"], "2026-10-15"),  # --tz only reads naive input
    ],
)
def test_start_interpretation(start: str, extra: list[str], due_on: str) -> None:
    """A date is that day in the calendar zone; naive times are read in --tz (default the
    calendar's zone); aware times are converted to the calendar zone."""
    out = run_json("due", "--start", start, "--period", "7 working days", *extra)
    assert out["due_on"] == due_on


def test_rollover_option_and_exclude_days() -> None:
    """--rollover picks the policy; --exclude-days adds days before rollover."""
    base = ["due", "--start", "2026-10-07", "--period", "4 days"]
    assert run_json(*base)["due_on"] == "2026-10-12"
    assert run_json(*base, "--rollover", "statutory_holiday_block")["due_on"] == "2026-10-11"
    assert run_json(*base, "--rollover", "none")["due_on"] == "2026-10-11"
    out = run_json("due", "--start", "2026-03-01", "--period", "60 days", "--exclude-days", "10")
    assert out["due_on"] == "2026-05-11"
    interval = run_json(
        "due", "--start", "2026-03-01", "--period", "60 days", "--exclude", "2026-03-10..2026-03-20"
    )
    assert interval["due_on"] == "2026-05-11"
    extended = run_json(
        "due", "--start", "2026-09-01", "--period", "15 working days", "--extend", "15 working days"
    )
    assert (
        extended["due_on"]
        == run_json("due", "--start", "2026-09-01", "--period", "30 working days")["due_on"]
    )


def test_hour_periods() -> None:
    """48 hours is exact elapsed time from the start instant."""
    out = run_json("due", "--start", "2026-09-30T10:00", "--period", "48 hours")
    assert out["due_at"] == "2026-10-02T10:00:00+08:00" and out["due_on"] == "2026-10-02"


def test_unknown_year_is_provisional_with_a_warning() -> None:
    """2027 without data: a provisional date on weekends-only rules, warning names 2027."""
    out = run_json("due", "--start", "2026-12-28", "--period", "15 working days")
    assert out["due_on"] == "2027-01-18"
    assert out["provisional"] is True and out["missing_years"] == [2027]
    assert any("2027" in w for w in out["warnings"])


def _write_2027(folder: Path) -> None:
    days = [{"name": "元旦", "date": f"2027-01-0{d}", "isOffDay": True} for d in (1, 2, 3)]
    (folder / "2027.json").write_text(json.dumps({"year": 2027, "days": days}), "utf-8")


def test_calendar_dir_year_file_makes_2027_firm(tmp_path: Path) -> None:
    """--calendar-dir (or $CASEWORK_CALENDARS) with 2027.json: not provisional any more."""
    _write_2027(tmp_path)
    args = ("due", "--start", "2026-12-28", "--period", "15 working days")
    out = run_json(*args, "--calendar-dir", str(tmp_path))
    # 12-29..31 (3), 元旦 01-01..03 off, 01-04..08 (8), 01-11..15 (13), 01-18, 01-19
    assert out["provisional"] is False and out["due_on"] == "2027-01-19"
    via_env = run_json(*args, env={"CASEWORK_CALENDARS": str(tmp_path)})
    assert via_env == out


def test_custom_yaml_calendar_from_a_folder(tmp_path: Path) -> None:
    """A custom calendar in the folder is usable by name, in its own zone."""
    (tmp_path / "cn-xj.yaml").write_text(
        "extends: cn\ntimezone: Asia/Urumqi\ndays_off:\n  - {date: 2026-03-20, name: 肉孜节}\n",
        "utf-8",
    )
    out = run_json(
        "due", "--calendar", "cn-xj", "--calendar-dir", str(tmp_path),
        "--start", "2026-03-19", "--period", "1 working day",
    )  # fmt: skip
    assert out["due_on"] == "2026-03-23" and out["due_at"] == "2026-03-24T00:00:00+06:00"
    assert "2026-03-20 skipped: 肉孜节 (holiday)" in out["explanation"]
    listed = run_json("list", "--calendar-dir", str(tmp_path))
    assert {"cn", "cn-xj", "weekends"} <= {row["name"] for row in listed}


def test_show_year_json() -> None:
    """show lists days off with names, make-up working days, and the working-day count."""
    out = run_json("show", "--calendar", "cn", "--year", "2026")
    assert out["working_days"] == 248 and out["provisional"] is False
    assert {"date": "2026-10-01", "weekday": "Thu", "name": "国庆节"} in out["days_off"]
    assert [d["date"] for d in out["make_up_working_days"]] == [
        "2026-01-04",
        "2026-02-14",
        "2026-02-28",
        "2026-05-09",
        "2026-09-20",
        "2026-10-10",
    ]
    assert run_json("show", "--year", "2024")["working_days"] == 251
    assert run_json("show", "--year", "2025")["working_days"] == 248


def test_show_year_readable_and_provisional() -> None:
    """The readable form groups blocks; a year without data is flagged provisional."""
    result = run("show", "--year", "2026")
    assert result.exit_code == 0, result.output
    assert "248 working days" in result.output
    assert "2026-10-01..2026-10-07" in result.output and "国庆节" in result.output
    out = run_json("show", "--year", "2027")
    assert out["provisional"] is True and out["days_off"] == [] and out["warnings"]


def test_holidays_package_calendar_by_name() -> None:
    """holidays:US-MA works from the command line, in America/New_York."""
    out = run_json(
        "due", "--calendar", "holidays:US-MA", "--start", "2026-04-17", "--period", "1 working day"
    )
    assert out["due_on"] == "2026-04-21"  # Mon 04-20 is Patriots' Day
    assert out["due_at"] == "2026-04-22T00:00:00-04:00"


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["due", "--start", "2026-09-30", "--period", "7 workdays"], 1, 'did you mean "7 working'),
        (["due", "--calendar", "cm", "--start", "2026-09-30", "--period", "7 days"], 1, "'cn'"),
        (["due", "--start", "2026-13-30", "--period", "7 days"], 2, "--start"),
        (
            ["due", "--start", "2026-09-30T10:00", "--tz", "Mars/Base", "--period", "7 days"],
            2,
            "--tz",
        ),
        (["due", "--start", "2026-09-30", "--period", "7 days", "--rollover", "x"], 2, "rollover"),
        (["due", "--start", "2026-09-30", "--period", "4 business hours"], 1, "business hours"),
        (["due", "--start", "2026-09-30", "--period", "7 days", "--end", "close"], 1, "business"),
        (["show", "--year", "0"], 2, "--year"),
    ],
)
def test_bad_input_exit_codes(args: list[str], code: int, message: str) -> None:
    """Casework errors exit 1 with one line; usage errors exit 2."""
    result = run(*args)
    assert result.exit_code == code, result.output
    assert message in result.output
    if code == 1:
        assert result.output.count("\n") == 1 and "Traceback" not in result.output


def test_bad_yaml_in_calendar_dir_reports_file_and_line(tmp_path: Path) -> None:
    """A broken custom calendar fails the command with every problem, file and line."""
    (tmp_path / "bad.yaml").write_text("extends: cn\ndays_off:\n  - {date: 2026-02-30}\n", "utf-8")
    result = run("show", "--year", "2026", "--calendar-dir", str(tmp_path))
    assert result.exit_code == 1
    assert "bad.yaml: 1 problem" in result.output
    assert "line 3" in result.output and "days_off[0].date" in result.output
