"""The README stays true: its API tour runs as written, and the commands it names exist."""

from __future__ import annotations

import re
import shutil
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from casework.cli import main
from tests.conftest import ROOT, WORKFLOWS

README = (ROOT / "README.md").read_text(encoding="utf-8")


def python_blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", README, flags=re.S)


def test_the_api_tour_runs_as_written(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    shutil.copytree(WORKFLOWS, tmp_path / "workflows")
    monkeypatch.chdir(tmp_path)
    namespace: dict[str, Any] = {}
    exec(compile(python_blocks()[0], "README.md", "exec"), namespace)
    case, engine = namespace["case"], namespace["engine"]
    assert engine.get(case.id).state == "escalated"
    engine.close()


def test_every_cli_command_in_the_readme_exists() -> None:
    table = README.split("## The command line", 1)[1].split("\n## ", 1)[0]
    names = set(re.findall(r"^\| `([a-z-]+)", table, flags=re.M))
    names |= set(re.findall(r"/ `([a-z-]+)", table))
    assert names, "the README lists commands"
    for name in sorted(names):
        result = CliRunner().invoke(main, [name, "--help"])
        assert result.exit_code == 0, f"casework {name}: {result.output}"


def test_the_makefile_targets_the_readme_names() -> None:
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    for target in ("demo", "test", "bench", "lint"):
        assert re.search(rf"^{target}:", makefile, flags=re.M), target
    assert "make demo" in README and "make test" in README
