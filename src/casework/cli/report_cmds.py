"""``casework report``: the period report in Markdown, HTML, JSON or CSV."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import click

from casework.cli.app import Settings, main, pass_settings
from casework.errors import InvalidInput


def _date(value: str, option: str) -> dt.date:
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise InvalidInput(option, f"{value!r} is not a date (YYYY-MM-DD)") from None


@main.command()
@click.option("--from", "start", required=True, help="First local day, YYYY-MM-DD.")
@click.option("--to", "end", required=True, help="Last local day (inclusive), YYYY-MM-DD.")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["md", "html", "json", "csv"]),
    default="md",
    show_default=True,
)
@click.option(
    "--lang",
    type=click.Choice(["zh", "en"]),
    default="zh",
    show_default=True,
    help="Language of md/html.",
)
@click.option("--workflow", help="Only this workflow (its time zone becomes the default).")
@click.option("--department", help="Only this department.")
@click.option("--tz", help="Time zone of the local days (default: workflow's, else Asia/Shanghai).")
@click.option(
    "--out",
    "out",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write to FILE instead of standard output.",
)
@click.option(
    "--alert",
    is_flag=True,
    help="Also queue a risk.hotspot notification per hot spot / repeat complainant.",
)
@pass_settings
def report(
    settings: Settings,
    start: str,
    end: str,
    fmt: str,
    lang: str,
    workflow: str | None,
    department: str | None,
    tz: str | None,
    out: Path | None,
    alert: bool,
) -> None:
    """The report for local days --from..--to (inclusive), compared with the previous period."""
    from casework.report_render import Labels, render
    from casework.reporting import build_report, queue_risk_alerts

    engine = settings.engine()
    rep = build_report(
        engine,
        _date(start, "--from"),
        _date(end, "--to"),
        workflow=workflow,
        department=department,
        tz=tz,
    )
    text = render(rep, fmt, lang=lang, labels=Labels.from_engine(engine))  # type: ignore[arg-type]
    if out is not None:
        out.write_text(text, encoding="utf-8")
        click.echo(f"report written to {out}", err=True)
    else:
        click.echo(text, nl=False)
    if alert:
        n = queue_risk_alerts(engine, rep)
        click.echo(f"{n} risk.hotspot notification(s) queued", err=True)
