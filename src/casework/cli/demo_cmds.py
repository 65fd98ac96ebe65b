"""``casework demo``: simulate a quarter on an embedded SQLite file and print its report."""

from __future__ import annotations

import datetime as dt
import sys
import time
from pathlib import Path

import click

from casework.cli.app import Settings, main, pass_settings


@main.command()
@click.option(
    "--seed", type=int, default=7, show_default=True, help="Random seed (same seed, same run)."
)
@click.option(
    "--cases",
    "n_cases",
    type=click.IntRange(min=10),
    default=2000,
    show_default=True,
    help="Complaints to simulate over the quarter.",
)
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("demo-out"),
    show_default=True,
    help="Folder for the database (casework.db) and report.html; emptied first.",
)
@click.option("--lang", type=click.Choice(["zh", "en"]), default="zh", show_default=True)
@pass_settings
def demo(settings: Settings, seed: int, n_cases: int, out_dir: Path, lang: str) -> None:
    """Simulate a quarter of a complaint desk on the real engine, then print its report.

    Writes OUT/casework.db (open it with --db sqlite:///OUT/casework.db) and OUT/report.html.
    """
    from casework.clock import FrozenClock
    from casework.demo import open_demo_engine, run_demo
    from casework.report_render import render
    from casework.reporting import build_report, queue_risk_alerts

    out_dir.mkdir(parents=True, exist_ok=True)
    db_path = out_dir / "casework.db"
    for suffix in ("", "-wal", "-shm"):
        Path(f"{db_path}{suffix}").unlink(missing_ok=True)
    clock = FrozenClock(dt.datetime(2026, 7, 1, tzinfo=dt.UTC))
    engine = open_demo_engine(f"sqlite:///{db_path}", settings.workflows, clock)
    started = time.perf_counter()
    with click.progressbar(length=92, label="simulating 2026 Q3", file=sys.stderr) as bar:
        done = [0]

        def progress(day: int, total: int) -> None:
            bar.update(day - done[0])
            done[0] = day

        result = run_demo(engine, clock, seed=seed, cases=n_cases, progress=progress)
    elapsed = time.perf_counter() - started
    report = build_report(engine, result.start, result.end, workflow="consumer_complaint")
    alerts = queue_risk_alerts(engine, report)
    click.echo(
        f"{result.cases} complaints, {result.steps} steps, {result.deadline_steps} deadline "
        f"steps, {result.visits} follow-up visits in {elapsed:.1f} s; {alerts} risk alert(s) "
        "queued",
        err=True,
    )
    click.echo(render(report, "md", lang=lang))  # type: ignore[arg-type]
    html = out_dir / "report.html"
    html.write_text(render(report, "html", lang=lang), encoding="utf-8")  # type: ignore[arg-type]
    engine.close()
    engine.store.engine.dispose()
    click.echo(f"wrote {html} and {db_path}", err=True)
