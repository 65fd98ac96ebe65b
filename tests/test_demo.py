"""``casework demo``: a simulated quarter on the real engine, deterministic for a seed, ending
with the Markdown report on stdout and a self-contained HTML report on disk."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from click.testing import CliRunner

from casework.cli import main
from tests.conftest import WORKFLOWS


def run_demo(out: Path, seed: int) -> str:
    result = CliRunner().invoke(
        main,
        [
            "--workflows",
            str(WORKFLOWS),
            "demo",
            "--cases",
            "120",
            "--seed",
            str(seed),
            "--out",
            str(out),
        ],
    )
    assert result.exit_code == 0, result.output
    return result.stdout


def snapshot(db: Path) -> list[tuple[object, ...]]:
    with sqlite3.connect(db) as conn:
        return conn.execute(
            "SELECT id, state, channel, category, respondent, rehandle_count FROM cases ORDER BY id"
        ).fetchall()


def test_demo_prints_the_report_and_writes_html_deterministically(tmp_path: Path) -> None:
    first = run_demo(tmp_path / "a", seed=3)
    assert "# 消费投诉处理工作报告" in first and "## 一、工作开展情况与成效" in first
    html = (tmp_path / "a" / "report.html").read_text(encoding="utf-8")
    assert html.lstrip().lower().startswith("<!doctype html") and "<svg" in html
    assert "http://" not in html.replace("http://www.w3.org/2000/svg", "")  # no CDN
    states = {row[1] for row in snapshot(tmp_path / "a" / "casework.db")}
    assert {"archived", "rejected"} <= states, "cases reach different outcomes"
    second = run_demo(tmp_path / "b", seed=3)
    assert snapshot(tmp_path / "a" / "casework.db") == snapshot(tmp_path / "b" / "casework.db")
    assert first == second
    run_demo(tmp_path / "c", seed=4)
    assert snapshot(tmp_path / "c" / "casework.db") != snapshot(tmp_path / "a" / "casework.db")


def test_demo_database_passes_the_audit(tmp_path: Path) -> None:
    run_demo(tmp_path, seed=5)
    result = CliRunner().invoke(
        main,
        [
            "--db",
            f"sqlite:///{tmp_path / 'casework.db'}",
            "--workflows",
            str(WORKFLOWS),
            "audit",
            "verify",
        ],
    )
    assert result.exit_code == 0, result.output
