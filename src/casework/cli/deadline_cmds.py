"""Deadline, hook-delivery and worker commands: run-due, explain, extend, stop-clock, outbox,
worker."""

from __future__ import annotations

import signal
import threading
from typing import Any

import click

from casework.cli.app import Settings, emit_json, main, pass_settings
from casework.cli.case_cmds import parse_time
from casework.records import Actor


@main.command("run-due")
@click.option(
    "--now", "now", help="Treat this instant as now (ISO with offset); default: the clock."
)
@click.option("--deliver/--no-deliver", default=True, help="Also deliver hook notifications.")
@click.option("--json", "as_json", is_flag=True)
@pass_settings
def run_due(settings: Settings, now: str | None, deliver: bool, as_json: bool) -> None:
    """Apply every deadline step that is due (late steps fire once)."""
    engine = settings.engine()
    report = engine.run_due(parse_time(now, "--now"))
    delivered = engine.deliver_hooks() if deliver else None
    if as_json:
        out: dict[str, Any] = report.to_json()
        if delivered is not None:
            out["hooks"] = delivered.to_json()
        emit_json(out)
    else:
        click.echo(
            f"{report.steps} step(s): {report.warnings} warning(s), {report.breaches} breach(es), "
            f"{report.triggers_fired} trigger(s) fired"
        )


@main.command()
@click.argument("case_id", type=int)
@click.argument("clock")
@click.option("--json", "as_json", is_flag=True)
@pass_settings
def explain(settings: Settings, case_id: int, clock: str, as_json: bool) -> None:
    """Why CLOCK of CASE_ID is due when: start, pauses, extensions, days counted."""
    lines = settings.engine().explain(case_id, clock)
    if as_json:
        emit_json({"case_id": case_id, "clock": clock, "explanation": lines})
    else:
        click.echo("\n".join(lines))


@main.command()
@click.argument("case_id", type=int)
@click.argument("clock")
@click.option("--actor", required=True)
@click.option("--role", "roles", multiple=True, required=True)
@click.option("--reason", required=True, help="Why the extension is needed (audited).")
@click.option("--to", "to", help="Extend to this total period (default: the next rung).")
@click.option("--request-only", is_flag=True, help="Only request; an approver decides later.")
@click.option("--at", "at", help="Business time (ISO with offset).")
@click.option("--json", "as_json", is_flag=True)
@pass_settings
def extend(
    settings: Settings,
    case_id: int,
    clock: str,
    actor: str,
    roles: tuple[str, ...],
    reason: str,
    to: str | None,
    request_only: bool,
    at: str | None,
    as_json: bool,
) -> None:
    """Request (and, with an approving role, grant) an extension of CLOCK."""
    deadline = settings.engine().extend(
        case_id,
        clock,
        Actor(actor, frozenset(roles)),
        reason=reason,
        to=to,
        at=parse_time(at, "--at"),
        approve=not request_only,
    )
    if as_json:
        emit_json(deadline.to_json())
    elif deadline.data.get("pending_extension"):
        click.echo(f"case {case_id}: extension of {clock} requested; awaiting approval")
    else:
        click.echo(
            f"case {case_id}: {clock} now {deadline.period}, due {deadline.due_at.isoformat()}"
        )


@main.command("decide-extension")
@click.argument("case_id", type=int)
@click.argument("clock")
@click.option("--actor", required=True)
@click.option("--role", "roles", multiple=True, required=True)
@click.option("--approve/--refuse", required=True)
@click.option("--reason")
@click.option("--json", "as_json", is_flag=True)
@pass_settings
def decide_extension(
    settings: Settings,
    case_id: int,
    clock: str,
    actor: str,
    roles: tuple[str, ...],
    approve: bool,
    reason: str | None,
    as_json: bool,
) -> None:
    """Approve or refuse the pending extension request of CLOCK."""
    deadline = settings.engine().decide_extension(
        case_id, clock, Actor(actor, frozenset(roles)), approve=approve, reason=reason
    )
    if as_json:
        emit_json(deadline.to_json())
    else:
        click.echo(f"case {case_id}: {clock} {deadline.period}, due {deadline.due_at.isoformat()}")


@main.command("stop-clock")
@click.argument("case_id", type=int)
@click.argument("clock")
@click.option("--actor", required=True, help="Who records the stop (an id).")
@click.option("--role", "roles", multiple=True, required=True, help="Role acted in (repeatable).")
@click.option("--reason", help="Note kept in the audit event (e.g. the check's outcome).")
@click.option("--at", "at", help="Business time of the stop, ISO 8601 with offset (default now).")
@click.option("--json", "as_json", is_flag=True)
@pass_settings
def stop_clock(
    settings: Settings,
    case_id: int,
    clock: str,
    actor: str,
    roles: tuple[str, ...],
    reason: str | None,
    at: str | None,
    as_json: bool,
) -> None:
    """Stop CLOCK of the closed case CASE_ID (a clock with outlives_closure: true).

    The actor needs a role the workflow gives the clock's stop triggers; the case's state does
    not change. On an open case, fire a stop trigger instead.
    """
    deadline = settings.engine().stop_clock(
        case_id,
        clock,
        Actor(actor, frozenset(roles)),
        reason=reason,
        at=parse_time(at, "--at"),
    )
    if as_json:
        emit_json(deadline.to_json())
    else:
        stopped = deadline.stopped_at.isoformat() if deadline.stopped_at else "?"
        click.echo(f"case {case_id}: {clock} {deadline.status} (stopped {stopped})")


@main.group()
def outbox() -> None:
    """Hook notifications waiting for delivery."""


@outbox.command("list")
@click.option("--dead", is_flag=True, help="Only undeliverable notifications.")
@click.option("--all", "show_all", is_flag=True, help="Delivered ones too.")
@click.option("--limit", type=click.IntRange(min=1), default=100)
@click.option("--json", "as_json", is_flag=True)
@pass_settings
def outbox_list(settings: Settings, dead: bool, show_all: bool, limit: int, as_json: bool) -> None:
    """List pending (or dead) hook notifications."""
    status = None if show_all else ("dead" if dead else "pending")
    entries = settings.engine().outbox.entries(status=status, limit=limit)
    if as_json:
        emit_json([e.to_json() for e in entries])
        return
    for e in entries:
        err = f"  last error: {e.last_error}" if e.last_error else ""
        click.echo(f"{e.id:>8} {e.status:9} {e.topic:18} {e.key:40} attempts {e.attempts}{err}")
    click.echo(f"{len(entries)} notification(s)")


@outbox.command("retry")
@click.argument("ids", nargs=-1, type=int)
@pass_settings
def outbox_retry(settings: Settings, ids: tuple[int, ...]) -> None:
    """Make dead notifications (all, or IDS) due again."""
    n = settings.engine().outbox.retry(list(ids) if ids else None)
    click.echo(f"{n} notification(s) due again")


@main.command()
@click.option(
    "--sweep",
    "sweep",
    type=click.FloatRange(min=0.1),
    default=30.0,
    show_default=True,
    help="Safety-net sweep period in seconds.",
)
@click.option("--once", is_flag=True, help="Catch up once and exit (no scheduler).")
@pass_settings
def worker(settings: Settings, sweep: float, once: bool) -> None:
    """Run the deadline worker: catch up on overdue steps, then keep firing them on time.

    Stops gracefully on SIGTERM or Ctrl-C (the running tick finishes first).
    """
    from casework.scheduling import CaseworkScheduler

    engine = settings.engine(require_hooks=True)
    changed = engine.clocks.recompute_provisional()
    if changed:
        click.echo(f"recomputed {changed} provisional due date(s) with new calendar data")
    adapter = CaseworkScheduler(engine, sweep_seconds=sweep)
    if once:
        report = adapter.tick()
        click.echo(f"caught up: {report.steps} step(s)")
        return
    stop = threading.Event()

    def _stop(signum: int, _frame: Any) -> None:
        click.echo(f"received {signal.Signals(signum).name}; shutting down", err=True)
        stop.set()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    adapter.start()
    click.echo(f"casework worker running (sweep every {sweep:g}s); SIGTERM to stop", err=True)
    while not stop.wait(3600):
        pass
    adapter.shutdown(wait=True)
    click.echo("worker stopped", err=True)
