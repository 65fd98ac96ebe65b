"""The deadline benchmark runs end to end on a tiny database and reports what it fired.

No timing is asserted (that is the benchmark's own job); this checks the report's shape, that
the workers fired exactly the steps that were seeded (warnings at ``NOW``, breaches at ``NOW2``,
once each, with consistent audit trails), and that both APScheduler baselines ran their jobs.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import run_benchmark

N = 2000
SMALL_N = 1000
BASELINE_N = 500
DUE = 200
BREACH = 50
KEYS = {
    "n_open",
    "n_open_small",
    "due_seeded",
    "breach_seeded",
    "startup_s",
    "catchup_steps",
    "catchup_s",
    "steps_per_s",
    "breach_steps",
    "breach_s",
    "worker_rss_mb",
    "worker_rss_mb_small_n",
    "rss_independent",
    "baseline_n",
    "baseline_memory",
    "baseline_sqlalchemy",
    "checks",
    "checks_ok",
    "bars",
    "bars_met",
}


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    cache: Path = tmp_path_factory.mktemp("bench-deadlines")
    data, printed = run_benchmark(
        "deadlines.py",
        *("--n", str(N), "--small-n", str(SMALL_N), "--baseline-n", str(BASELINE_N)),
        *("--due", str(DUE), "--breach", str(BREACH), "--repeat", "1"),
        *("--sql-timed", "100", "--cache-dir", str(cache)),
        timeout=300,
    )
    assert "catch-up rate" in printed  # the table comes before the JSON line
    return data


@pytest.mark.slow
def test_json_line_has_every_key(report: dict[str, object]) -> None:
    assert set(report) >= KEYS
    assert (report["n_open"], report["n_open_small"]) == (N, SMALL_N)
    assert report["baseline_n"] == BASELINE_N
    for key in ("startup_s", "catchup_s", "steps_per_s", "worker_rss_mb", "worker_rss_mb_small_n"):
        value = report[key]
        assert isinstance(value, int | float) and value > 0, key
    assert isinstance(report["bars_met"], bool)
    assert isinstance(report["rss_independent"], bool)
    bars = report["bars"]
    assert isinstance(bars, dict)
    assert set(bars) == {
        "rss_under_150mb",
        "rss_independent",
        "startup_under_5s",
        "steps_per_s_2000",
    }


@pytest.mark.slow
def test_workers_fire_exactly_the_seeded_steps(report: dict[str, object]) -> None:
    assert (report["due_seeded"], report["breach_seeded"]) == (DUE, BREACH)
    assert report["catchup_steps"] == DUE
    assert report["breach_steps"] == BREACH
    # Per run and per size: steps, outbox rows, audit events and chains, nothing left due.
    assert report["checks_ok"] is True, report["checks"]


@pytest.mark.slow
def test_baselines_ran_every_overdue_job(report: dict[str, object]) -> None:
    memory = report["baseline_memory"]
    sql = report["baseline_sqlalchemy"]
    assert isinstance(memory, dict) and isinstance(sql, dict)
    assert memory["fired"] == DUE
    assert sql["fired"] == DUE
    assert sql["add_timed_jobs"] == 100
    assert sql["bulk_loaded_jobs"] == BASELINE_N - 100
    # APScheduler's default misfire grace drops overdue one-shot jobs (architecture, guarantee 2).
    assert sql["default_grace_missed"] == sql["default_grace_overdue"] > 0
