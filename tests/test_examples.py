"""The shipped examples run standalone (``python examples/<name>.py``) and show what they claim."""

from __future__ import annotations

import subprocess
import sys

from tests.conftest import ROOT


def run_example(name: str) -> str:
    proc = subprocess.run(
        [sys.executable, str(ROOT / "examples" / name)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, f"{name} exited {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
    return proc.stdout


def test_quickstart_walks_a_complaint_to_feedback_and_explains_its_clock() -> None:
    out = run_example("quickstart.py")
    assert "case 1 opened: state=received" in out
    assert "respond      by wang.agent  -> feedback" in out
    assert "audit chain intact: True" in out
    assert '"clock": "handling", "status": "met"' in out
    assert "case 1, clock handling: 30 days on calendar cn" in out


def test_embed_in_host_commits_and_rolls_back_host_rows_and_casework_together() -> None:
    out = run_example("embed_in_host.py")
    assert "cw_cases" in out and "tickets" in out
    assert "committed together: case 1 is 'accepted'" in out
    assert "rolled back together: case 1 is still 'accepted' with 2 events" in out
    assert "host row kept, casework untouched: ticket T-1001 is 'callback'" in out
    assert out.rstrip().endswith("OK: host rows and casework steps commit and roll back together")


def test_deadline_alerts_shows_warning_retry_breach_and_escalation() -> None:
    out = run_example("deadline_alerts.py")
    assert (
        "log   hook for deadline.warning (deadline:2:at_80) failed: SMS gateway unreachable" in out
    )
    assert "SMS   case 1: handling at 80%" in out
    assert "PAGE  case 1: handling breached (breach), key deadline:2:breach" in out
    assert "BOARD case 1 escalated by system" in out
    assert "case 1 is now 'escalated'" in out
    assert "undelivered notifications for these hooks: 0" in out
