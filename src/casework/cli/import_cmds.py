"""``casework import``: historical cases from a CSV file and a YAML column mapping."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from casework.cli.app import Settings, emit_json, main, pass_settings
from casework.cli.case_cmds import parse_time
from casework.importing import BATCH_SIZE

SHOWN_BAD_ROWS = 20


@main.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--mapping",
    "mapping_path",
    required=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="YAML column mapping (see docs/import.md and examples/import/).",
)
@click.option(
    "--as-of",
    "as_of",
    help="Judge open cases' targets at this instant (ISO with offset); default: the "
    "mapping's as_of, else the latest time in the file.",
)
@click.option(
    "--batch-size",
    type=click.IntRange(min=1),
    default=BATCH_SIZE,
    show_default=True,
    help="Rows per transaction.",
)
@click.option(
    "--json", "as_json", is_flag=True, help="Print the summary as JSON (no progress bar)."
)
@pass_settings
def import_cmd(
    settings: Settings,
    file: Path,
    mapping_path: Path,
    as_of: str | None,
    batch_size: int,
    as_json: bool,
) -> None:
    """Import the cases in FILE (idempotent on channel + external id; bad rows are listed and
    skipped)."""
    from casework.importing import import_csv, load_mapping

    mapping = load_mapping(mapping_path)
    engine = settings.engine()
    when = parse_time(as_of, "--as-of")
    if as_json:
        result = import_csv(engine, file, mapping, as_of=when, batch_size=batch_size)
        emit_json(result.to_json())
        return
    with click.progressbar(
        length=max(1, file.stat().st_size),
        label=f"importing {file.name}",
        file=sys.stderr,
    ) as bar:
        result = import_csv(
            engine, file, mapping, as_of=when, batch_size=batch_size, progress=bar.update
        )
    for bad in result.bad_rows[:SHOWN_BAD_ROWS]:
        ext = f" ({bad.external_id})" if bad.external_id else ""
        click.echo(f"{file}: line {bad.line}{ext}: {bad.reason}", err=True)
    if result.bad > SHOWN_BAD_ROWS:
        click.echo(
            f"... and {result.bad - SHOWN_BAD_ROWS} more bad row(s) (--json lists them)", err=True
        )
    deadlines = ", ".join(f"{k} {v}" for k, v in result.deadlines.items() if v)
    click.echo(
        f"{result.rows} row(s): {result.created} created, {result.existing} already present, "
        f"{result.duplicates} duplicate(s) in the file, {result.bad} bad; "
        f"{result.closed} closed"
        + (f", {result.clamped} closed before received (clamped)" if result.clamped else "")
        + (f"; resolution clocks: {deadlines}" if deadlines else "")
        + f" ({result.rows_per_second:,.0f} rows/s)"
    )
