"""The lifecycle benchmark runs end to end on a few cases and reports a fair comparison.

No timing is asserted (that is the benchmark's own job); this checks the report's shape, that
all three approaches processed every step, and that the raw ``sqlite3`` ceiling really writes
what casework writes — the same rows and the same statements per step.
"""

from __future__ import annotations

import pytest

from tests.conftest import run_benchmark

N = 30
KEYS = {
    "n",
    "casework_per_s",
    "raw_per_s",
    "naive_per_s",
    "ratio_vs_raw",
    "speedup_vs_naive",
    "steps",
    "statements_per_step",
    "raw_rows_identical",
    "memory_growth_kib",
    "memory_flat",
    "bars_met",
}
STEPS = ("intake", "accept", "investigate", "handle", "respond", "archive")


@pytest.fixture(scope="module")
def report() -> dict[str, object]:
    return run_benchmark("lifecycle.py", "--n", str(N), timeout=300)[0]


@pytest.mark.slow
def test_json_line_has_every_key_with_sane_values(report: dict[str, object]) -> None:
    assert set(report) >= KEYS
    assert report["n"] == N
    for key in ("casework_per_s", "raw_per_s", "naive_per_s", "ratio_vs_raw", "speedup_vs_naive"):
        value = report[key]
        assert isinstance(value, int | float) and value > 0, key
    assert isinstance(report["bars_met"], bool)
    assert isinstance(report["memory_flat"], bool)


@pytest.mark.slow
def test_all_three_approaches_processed_the_same_number_of_steps(
    report: dict[str, object],
) -> None:
    assert report["steps"] == {"casework": N * 6, "raw": N * 6, "naive": N * 6}


@pytest.mark.slow
def test_raw_ceiling_writes_exactly_what_casework_writes(report: dict[str, object]) -> None:
    """If casework's writes change, benchmarks/lifecycle.py's RawApproach must follow."""
    assert report["raw_rows_identical"] is True, report.get("row_differences")
    statements = report["statements_per_step"]
    assert isinstance(statements, dict)
    assert set(statements["casework"]) == set(STEPS)
    assert statements["raw"] == statements["casework"]
    for step in STEPS:
        assert statements["casework"][step]["COMMIT"] == 1, step
        assert statements["naive"][step]["COMMIT"] == 1, step
