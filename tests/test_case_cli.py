"""The command line over the public API: intake/fire/show/list/history/audit/db, deadline
commands, exit codes (0 ok, 1 refused, 2 usage) and one clear line instead of a traceback."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from casework.cli import main
from tests.conftest import WORKFLOWS, Backend


@pytest.fixture
def cli(sqlite_backend: Backend) -> Any:
    """The CLI on a real SQLite file (PostgreSQL behaviour is covered through the API)."""
    backend = sqlite_backend
    runner = CliRunner()

    def run(*args: str, code: int = 0) -> Any:
        result = runner.invoke(main, ["--db", backend.url, "--workflows", str(WORKFLOWS), *args])
        assert result.exit_code == code, (result.output, result.exception)
        return result

    return run


def as_json(result: Any) -> Any:
    return json.loads(result.stdout)


def test_intake_fire_show_contract(cli: Any) -> None:
    made = as_json(
        cli(
            "intake",
            "--workflow",
            "consumer_complaint",
            "--channel",
            "hotline",
            "--external-id",
            "H-1",
            "--category",
            "after_sales",
            "--summary",
            "漏水",
            "--contact",
            "13812345678",
            "--at",
            "2026-05-06T09:00:00+08:00",
            "--json",
        )
    )
    case_id = made["id"]
    again = as_json(
        cli(
            "intake",
            "--workflow",
            "consumer_complaint",
            "--channel",
            "hotline",
            "--external-id",
            "H-1",
            "--json",
        )
    )
    assert again["id"] == case_id
    fired = as_json(
        cli(
            "fire",
            str(case_id),
            "accept",
            "--actor",
            "li",
            "--role",
            "clerk",
            "--at",
            "2026-05-07T10:00:00+08:00",
            "--json",
        )
    )
    assert fired["state"] == "accepted"
    shown = as_json(cli("show", str(case_id), "--json"))
    for key in (
        "id",
        "workflow",
        "version",
        "state",
        "channel",
        "category",
        "external_id",
        "opened_at",
        "closed_at",
        "deadlines",
        "events",
    ):
        assert key in shown
    assert shown["complainant"]["contact"] == "138*****678", "personal data masked by default"
    by_clock = {d["clock"]: d for d in shown["deadlines"]}
    assert by_clock["acceptance"]["status"] == "met"
    handling = by_clock["handling"]
    assert handling["due_on"] == "2026-06-08"  # 05-07 + 30 = 06-06 (Sat) → Mon 06-08
    assert set(handling) >= {"clock", "due_on", "due_at", "status", "provisional"}
    assert [e["trigger"] for e in shown["events"]] == [None, "accept"]
    revealed = as_json(cli("show", str(case_id), "--json", "--reveal"))
    assert revealed["complainant"]["contact"] == "13812345678"


def test_refusals_exit_1_with_one_line(cli: Any) -> None:
    made = as_json(cli("intake", "-w", "consumer_complaint", "-c", "email", "--json"))
    result = cli("fire", str(made["id"]), "accept", "--actor", "x", "--role", "agent", code=1)
    assert result.stderr.count("\n") == 1 and "may not fire 'accept'" in result.stderr
    result = cli("fire", str(made["id"]), "reject", "--actor", "x", "--role", "clerk", code=1)
    assert "requires reason" in result.stderr
    result = cli("fire", "999", "accept", "--actor", "x", "--role", "clerk", code=1)
    assert "no case" in result.stderr
    result = cli("intake", "-w", "consumer_complaint", "-c", "fax", code=1)
    assert "unknown channel" in result.stderr
    result = cli("intake", "-w", "consumer_complaint", "-c", "email", "--at", "2026-05-01", code=1)
    assert "naive" in result.stderr
    assert "Traceback" not in result.output
    cli("fire", str(made["id"]), code=2)  # usage error


def test_list_filters_and_overdue(cli: Any) -> None:
    cli("intake", "-w", "consumer_complaint", "-c", "hotline", "--at", "2020-01-06T09:00+08:00")
    cli("intake", "-w", "consumer_complaint", "-c", "website", "--at", "2099-01-06T09:00+08:00")
    listed = as_json(cli("list", "--json"))
    assert len(listed) == 2 and {"external_id", "opened_at", "closed_at", "deadlines"} <= set(
        listed[0]
    )
    assert [c["channel"] for c in as_json(cli("list", "--channel", "website", "--json"))] == [
        "website"
    ]
    overdue = as_json(cli("list", "--overdue", "--json"))
    assert [c["channel"] for c in overdue] == ["hotline"]
    soon = as_json(cli("list", "--due-within", "2 working days", "--json"))
    assert [c["channel"] for c in soon] == ["hotline"]


def test_run_due_explain_extend_and_outbox(cli: Any) -> None:
    made = as_json(
        cli(
            "intake",
            "-w",
            "consumer_complaint",
            "-c",
            "hotline",
            "--at",
            "2026-09-28T10:00:00+08:00",
            "--json",
        )
    )
    report = as_json(cli("run-due", "--now", "2026-10-20T10:00:00+08:00", "--json"))
    assert report["steps"] == 3 and report["breaches"] == 1
    explained = cli("explain", str(made["id"]), "acceptance").stdout
    assert "国庆节" in explained and "2026-10-13" in explained
    cli(
        "fire",
        str(made["id"]),
        "accept",
        "--actor",
        "li",
        "--role",
        "clerk",
        "--at",
        "2026-10-20T11:00:00+08:00",
    )
    ext = as_json(
        cli(
            "extend",
            str(made["id"]),
            "handling",
            "--actor",
            "zhao",
            "--role",
            "supervisor",
            "--reason",
            "需补充鉴定",
            "--json",
        )
    )
    assert ext["period"] == "45 days" and ext["extensions"] == 1
    pending = as_json(cli("outbox", "list", "--json"))
    assert {"case.opened", "deadline.breached", "deadline.extended"} <= {
        p["topic"] for p in pending
    }
    cli(
        "extend",
        str(made["id"]),
        "nope",
        "--actor",
        "z",
        "--role",
        "supervisor",
        "--reason",
        "x",
        code=1,
    )


def test_stop_clock_on_a_closed_case(cli: Any) -> None:
    """`casework stop-clock`: 0 with --json, 1 and one line when refused, 2 on usage errors."""
    made = as_json(
        cli(
            "intake",
            "-w",
            "samr_complaint",
            "-c",
            "hotline_12315",
            "--at",
            "2026-09-14T09:00:00+08:00",
            "--json",
        )
    )
    case_id = str(made["id"])
    for trigger, role, when, extra in [
        ("accept", "clerk", "2026-09-15T09:00:00+08:00", ()),
        ("mediate", "mediator", "2026-09-16T09:00:00+08:00", ()),
        ("flag_clue", "mediator", "2026-09-18T10:00:00+08:00", ("--reason", "疑似虚假宣传")),
        ("settle", "mediator", "2026-09-24T10:00:00+08:00", ()),
    ]:
        cli("fire", case_id, trigger, "--actor", "a", "--role", role, "--at", when, *extra)
    refused = cli(
        "fire", case_id, "complete_clue_check", "--actor", "w", "--role", "investigator", code=1
    )
    assert refused.stderr.count("\n") == 1 and "casework stop-clock" in refused.stderr
    denied = cli("stop-clock", case_id, "clue_check", "--actor", "z", "--role", "mediator", code=1)
    assert denied.stderr.count("\n") == 1 and "investigator, head" in denied.stderr
    stopped = as_json(
        cli(
            "stop-clock",
            case_id,
            "clue_check",
            "--actor",
            "wu",
            "--role",
            "investigator",
            "--reason",
            "核查完毕",
            "--at",
            "2026-10-12T15:00:00+08:00",
            "--json",
        )
    )
    assert (stopped["clock"], stopped["status"]) == ("clue_check", "met")
    assert stopped["stopped_at"] == "2026-10-12T07:00:00+00:00"
    shown = as_json(cli("show", case_id, "--json"))
    assert shown["state"] == "settled" and shown["events"][-1]["kind"] == "clock_stopped"
    again = cli("stop-clock", case_id, "clue_check", "--actor", "wu", "--role", "head", code=1)
    assert "is not running" in again.stderr and "Traceback" not in again.output
    plain = cli("stop-clock", case_id, "acceptance", "--actor", "wu", "--role", "head", code=1)
    assert "does not outlive closure" in plain.stderr
    cli("stop-clock", case_id, "clue_check", code=2)  # --actor and --role are required


def test_history_audit_and_db_upgrade(cli: Any, sqlite_backend: Backend) -> None:
    made = as_json(cli("intake", "-w", "consumer_complaint", "-c", "hotline", "--json"))
    cli("fire", str(made["id"]), "accept", "--actor", "li", "--role", "clerk")
    assert len(as_json(cli("history", str(made["id"]), "--json"))) == 2
    assert as_json(cli("audit", "verify", "--json"))["ok"] is True
    eng = sa.create_engine(sqlite_backend.url)
    with eng.begin() as conn:
        conn.execute(sa.text("UPDATE events SET actor = 'mallory' WHERE seq = 2"))
    eng.dispose()
    result = cli("audit", "verify", code=1)
    assert "altered" in result.stderr
    assert "database at revision" in cli("db", "upgrade").stdout


def test_db_upgrade_with_prefix(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'host.db'}"
    result = CliRunner().invoke(main, ["--db", url, "db", "upgrade", "--prefix", "cw_"])
    assert result.exit_code == 0, result.output
    names = sa.inspect(sa.create_engine(url)).get_table_names()
    assert {"cw_cases", "cw_events", "cw_outbox", "cw_deadlines"} <= set(names)


def test_unreachable_database_and_bad_urls_are_one_line_errors(tmp_path: Path) -> None:
    runner = CliRunner()
    for url, expected in [
        ("postgresql+psycopg://nobody@127.0.0.1:1/x", "error: database: connection failed"),
        ("not a url", "error: bad database URL"),
    ]:
        result = runner.invoke(main, ["--db", url, "--workflows", str(WORKFLOWS), "list"])
        assert result.exit_code == 1, result.output
        assert result.stderr.startswith(expected) and result.stderr.count("\n") == 1
