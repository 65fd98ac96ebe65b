"""The ``casework`` command line: a thin client of the public API."""

from __future__ import annotations

# Subcommand modules register themselves on ``main`` when imported.
from casework.cli import (  # noqa: F401
    calendar_cmds,
    case_cmds,
    deadline_cmds,
    demo_cmds,
    followup_cmds,
    import_cmds,
    report_cmds,
    workflow_cmds,
)
from casework.cli.app import main

__all__ = ["main"]
