"""Follow-up visit (回访) commands: list, record, waive."""

from __future__ import annotations

import click

from casework.cli.app import Settings, emit_json, main, pass_settings
from casework.cli.case_cmds import parse_time
from casework.records import Actor
from casework.spec import FOLLOWUP_OUTCOMES


@main.group()
def followup() -> None:
    """Follow-up visits and satisfaction."""


@followup.command("list")
@click.option("--due", "due_only", is_flag=True, help="Only visits awaiting an outcome now.")
@click.option("--case", "case_id", type=int, help="Only this case's visits.")
@click.option(
    "--status",
    type=click.Choice(["scheduled", "due", "completed", "unreachable", "waived", "cancelled"]),
)
@click.option("--limit", type=click.IntRange(min=1), default=None)
@click.option("--json", "as_json", is_flag=True)
@pass_settings
def followup_list(
    settings: Settings,
    due_only: bool,
    case_id: int | None,
    status: str | None,
    limit: int | None,
    as_json: bool,
) -> None:
    """List follow-up visits (soonest first)."""
    visits = settings.engine().followups.list(
        due_only=due_only, case_id=case_id, status=status, limit=limit
    )
    if as_json:
        emit_json([v.to_json() for v in visits])
        return
    for v in visits:
        outcome = f" → {v.outcome}" if v.outcome else ""
        click.echo(
            f"{v.id:>6} case {v.case_id:<8} {v.status:11} {v.channel:7} "
            f"due {v.due_at.isoformat()} attempt {v.attempts}/{v.max_attempts}{outcome}"
        )
    click.echo(f"{len(visits)} visit(s)")


@followup.command("record")
@click.argument("case_id", type=int)
@click.option("--outcome", required=True, type=click.Choice(FOLLOWUP_OUTCOMES))
@click.option("--score", type=click.IntRange(1, 5), help="Satisfaction score 1–5.")
@click.option("--comment")
@click.option("--actor", required=True, help="Who recorded the outcome.")
@click.option("--role", "roles", multiple=True, required=True)
@click.option("--at", "at", help="When the visit took place (ISO with offset).")
@click.option("--json", "as_json", is_flag=True)
@pass_settings
def followup_record(
    settings: Settings,
    case_id: int,
    outcome: str,
    score: int | None,
    comment: str | None,
    actor: str,
    roles: tuple[str, ...],
    at: str | None,
    as_json: bool,
) -> None:
    """Record the outcome of CASE_ID's pending visit."""
    engine = settings.engine()
    visit = engine.record_followup(
        case_id,
        outcome,
        Actor(actor, frozenset(roles)),
        score=score,
        comment=comment,
        at=parse_time(at, "--at"),
    )
    if as_json:
        emit_json(visit.to_json())
    else:
        case = engine.get(case_id)
        click.echo(f"case {case_id}: visit {visit.id} {visit.status}; case now {case.state}")


@followup.command("waive")
@click.argument("case_id", type=int)
@click.option("--actor", required=True)
@click.option("--role", "roles", multiple=True, required=True)
@click.option("--reason", required=True)
@pass_settings
def followup_waive(
    settings: Settings, case_id: int, actor: str, roles: tuple[str, ...], reason: str
) -> None:
    """Waive CASE_ID's pending visit (permitted roles only; audited)."""
    visit = settings.engine().waive_followup(case_id, Actor(actor, frozenset(roles)), reason=reason)
    click.echo(f"case {case_id}: visit {visit.id} waived")
