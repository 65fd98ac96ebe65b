"""``casework validate`` and ``casework diagram``: workflow files, without opening the engine."""

from __future__ import annotations

import difflib
from pathlib import Path

import click

from casework.cli.app import Settings, main, pass_settings
from casework.diagram import to_mermaid
from casework.errors import WorkflowNotFound
from casework.loading import WORKFLOW_SUFFIXES, check_files, load_workflows
from casework.spec import WorkflowSpec


@main.command("validate")
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=str))
def validate(paths: tuple[str, ...]) -> None:
    """Check workflow files (or folders of *.yaml/*.yml) and report every problem.

    Prints one line per valid workflow version and one report per invalid file. Exit status 0
    when everything is valid, 1 otherwise.
    """
    checks = check_files(paths)
    bad = 0
    total = 0
    for check in checks:
        if check.error is not None:
            bad += 1
            total += len(check.problems)
            click.echo(str(check.error))
            continue
        for spec in check.specs:
            click.echo(
                f"{check.path}: ok (workflow {spec.name} v{spec.version}, "
                f"{len(spec.states)} states, {len(spec.transitions)} transitions)"
            )
    if bad:
        files = f"{bad} file{'s' if bad != 1 else ''}"
        click.echo(f"{total} problem{'s' if total != 1 else ''} in {files}", err=True)
        raise SystemExit(1)


@main.command("diagram")
@click.argument("workflow")
@click.option("--version", "version", type=int, help="Version to draw (default: the latest).")
@click.option(
    "--lang",
    type=click.Choice(["both", "zh", "en"]),
    default="both",
    show_default=True,
    help="Language of state labels.",
)
@pass_settings
def diagram(settings: Settings, workflow: str, version: int | None, lang: str) -> None:
    """Print WORKFLOW as a Mermaid stateDiagram-v2.

    WORKFLOW is a workflow name, looked up in the --workflows folder, or the path of a file.
    """
    path = Path(workflow)
    if path.is_file() or path.suffix in WORKFLOW_SUFFIXES:
        specs = load_workflows(path)
        name = specs[0].name if specs else workflow
    else:
        name = workflow
        every = load_workflows(settings.workflows)
        specs = [s for s in every if s.name == name]
        if not specs:
            names = sorted({s.name for s in every})
            close = difflib.get_close_matches(name, names, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            known = f"; known: {', '.join(names)}" if names else ""
            raise WorkflowNotFound(
                name, f"no workflow named {name!r} in {settings.workflows}{hint}{known}"
            )
    spec = _pick(specs, name, version)
    click.echo(to_mermaid(spec, lang="zh" if lang == "zh" else "en" if lang == "en" else "both"))


def _pick(specs: list[WorkflowSpec], name: str, version: int | None) -> WorkflowSpec:
    ordered = sorted(specs, key=lambda s: s.version)
    if version is None:
        return ordered[-1]
    for spec in ordered:
        if spec.version == version:
            return spec
    have = ", ".join(str(s.version) for s in ordered)
    raise WorkflowNotFound(name, f"workflow {name!r} has no version {version} (versions: {have})")
