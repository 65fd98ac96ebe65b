"""The report benchmark runs end to end on a small database and both methods agree.

No timing is asserted (that is the benchmark's own job); this checks that the SQL report and
the Python baseline computed over fetched rows give identical figures for both periods, on the
benchmark's own seeded data, and that the import part ran.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.conftest import ROOT, run_benchmark

N = 20_000
IMPORT_ROWS = 2_000


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    # A private temporary folder: the benchmark caches its database and CSV files there.
    env = {**os.environ, "TMPDIR": str(tmp_path_factory.mktemp("bench"))}
    # Exit 1 also when the methods disagree, checked below.
    args = ("--n", str(N), "--import-rows", str(IMPORT_ROWS))
    return run_benchmark("report.py", *args, timeout=600, env=env)[0]


@pytest.mark.slow
def test_sql_report_equals_the_python_baseline(report: dict[str, object]) -> None:
    assert report["n"] == N
    assert report["identical"] is True
    figures = report["figures"]
    assert isinstance(figures, dict)
    assert isinstance(figures["intake_total"], int) and figures["intake_total"] > N // 3
    assert isinstance(figures["completed"], int) and figures["completed"] > 0


@pytest.mark.slow
def test_import_ran_on_every_row(report: dict[str, object]) -> None:
    assert report["import_rows"] == IMPORT_ROWS
    rate = report["import_rows_per_s"]
    assert isinstance(rate, int) and rate > 0
    runs = report["import_runs_rows_per_s"]
    assert isinstance(runs, dict)
    # Three runs of each file by default; the figure reported is the median run.
    assert len(runs["synthetic"]) == 3 and sorted(runs["synthetic"])[1] == rate
    if Path(ROOT.parent / "shared" / "realdata" / "boston311").is_dir():
        boston = report["boston_rows_per_s"]
        assert isinstance(boston, int) and boston > 0
        assert len(runs["boston"]) == 3 and sorted(runs["boston"])[1] == boston
