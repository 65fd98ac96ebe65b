"""`casework validate` and `casework diagram`."""

from __future__ import annotations

import shutil
import sys
import types
from pathlib import Path

from click.testing import CliRunner

import casework

# The CLI package imports sibling command modules written in parallel; stand in for any that
# do not exist yet so these commands can be tested on their own.
for _name in ("calendar_cmds", "case_cmds"):
    if not (Path(casework.__file__).parent / "cli" / f"{_name}.py").exists():
        sys.modules.setdefault(f"casework.cli.{_name}", types.ModuleType(f"casework.cli.{_name}"))

from casework.cli import main  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = Path(__file__).resolve().parent / "fixtures" / "workflows"
WORKFLOWS = ROOT / "workflows"


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.stdout, result.stderr


def test_validate_valid_folder_exits_0_with_one_line_per_workflow() -> None:
    """validate prints 'path: ok (workflow NAME vN, S states, T transitions)' and exits 0."""
    code, out, _ = run("validate", str(WORKFLOWS))
    assert code == 0
    assert (
        f"{WORKFLOWS / 'consumer_complaint.yaml'}: ok "
        "(workflow consumer_complaint v1, 10 states, 11 transitions)"
    ) in out.splitlines()


def test_validate_multi_version_file_reports_each_version() -> None:
    """A file with two versions gets one ok line per version."""
    code, out, _ = run("validate", str(FIXTURES / "multi_version.yaml"))
    assert code == 0
    assert out.splitlines() == [
        f"{FIXTURES / 'multi_version.yaml'}: ok (workflow ticket v1, 2 states, 1 transitions)",
        f"{FIXTURES / 'multi_version.yaml'}: ok (workflow ticket v2, 3 states, 2 transitions)",
    ]


def test_validate_broken_file_exits_1_and_lists_every_problem() -> None:
    """An invalid file prints its full report (every problem, with lines) and exits 1."""
    broken = FIXTURES / "broken_many.yaml"
    code, out, err = run("validate", str(broken), str(WORKFLOWS / "consumer_complaint.yaml"))
    assert code == 1
    lines = out.splitlines()
    assert lines[0] == f"{broken}: 12 problems"
    assert (
        "  line 24   transitions[1].dest: unknown state 'closd' (did you mean 'closed'?)" in lines
    )
    assert lines[-1].endswith("ok (workflow consumer_complaint v1, 10 states, 11 transitions)")
    assert err.strip() == "12 problems in 1 file"


def test_validate_one_report_per_file(tmp_path: Path) -> None:
    """Each invalid file in a folder gets its own report."""
    for name in ("a.yaml", "b.yaml"):
        shutil.copy(FIXTURES / "broken_many.yaml", tmp_path / name)
    code, out, err = run("validate", str(tmp_path))
    assert code == 1
    assert f"{tmp_path / 'a.yaml'}: 12 problems" in out.splitlines()
    assert f"{tmp_path / 'b.yaml'}: 12 problems" in out.splitlines()
    assert err.strip() == "24 problems in 2 files"


def test_validate_missing_path_exits_1() -> None:
    """A path that does not exist is a problem, not a crash."""
    code, out, _ = run("validate", "no/such/file.yaml")
    assert code == 1
    assert "no such file or folder" in out


def test_validate_needs_a_path() -> None:
    """validate without arguments is a usage error (exit 2)."""
    assert run("validate")[0] == 2


def test_diagram_by_name_from_the_workflows_folder() -> None:
    """diagram NAME looks the workflow up in --workflows and prints Mermaid."""
    code, out, _ = run("--workflows", str(WORKFLOWS), "diagram", "consumer_complaint")
    assert code == 0
    assert out.startswith("stateDiagram-v2\n")
    assert "    [*] --> received" in out.splitlines()


def test_diagram_by_path_and_version() -> None:
    """diagram FILE --version N draws that version; the default is the latest."""
    path = str(FIXTURES / "multi_version.yaml")
    code, latest, _ = run("diagram", path)
    assert code == 0 and "    new --> working : start (agent)" in latest.splitlines()
    code, first, _ = run("diagram", path, "--version", "1", "--lang", "en")
    assert code == 0 and "    new --> done : finish (agent)" in first.splitlines()


def test_diagram_unknown_name_or_version_exits_1_with_a_hint() -> None:
    """An unknown workflow name suggests the closest; an unknown version lists the known ones."""
    code, _, err = run("--workflows", str(WORKFLOWS), "diagram", "consumer_complain")
    assert code == 1
    assert "did you mean 'consumer_complaint'?" in err
    code, _, err = run("diagram", str(FIXTURES / "multi_version.yaml"), "--version", "7")
    assert code == 1
    assert err.strip() == "error: workflow 'ticket' has no version 7 (versions: 1, 2)"


def test_diagram_of_a_broken_file_prints_its_report() -> None:
    """diagram refuses an invalid file with the full problem report (exit 1)."""
    code, _, err = run("diagram", str(FIXTURES / "broken_many.yaml"))
    assert code == 1
    assert "12 problems" in err.splitlines()[0]
