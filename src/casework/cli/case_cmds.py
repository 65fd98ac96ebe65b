"""Case commands: intake, fire, show, list, history, audit, db."""

from __future__ import annotations

import datetime as dt
from typing import Any

import click

from casework.cli.app import Settings, emit_json, main, pass_settings
from casework.clock import ensure_aware
from casework.errors import InvalidInput
from casework.records import Actor, Case, Event


def parse_time(value: str | None, field: str) -> dt.datetime | None:
    """An ISO time with offset (``2026-05-06T09:00+08:00``); naive times are refused."""
    if value is None:
        return None
    return ensure_aware(value, field)


def parse_data(pairs: tuple[str, ...]) -> dict[str, Any]:
    data: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise InvalidInput("--data", f"{pair!r} is not KEY=VALUE")
        data[key.strip()] = value
    return data


def case_json(
    case: Case,
    *,
    reveal: bool = False,
    deadlines: list[dict[str, Any]] | None = None,
    events: list[Event] | None = None,
) -> dict[str, Any]:
    """The JSON form of a case the CLI prints (personal data masked unless ``reveal``)."""
    person = case.complainant if reveal else case.complainant.masked()
    out: dict[str, Any] = {
        "id": case.id,
        "workflow": case.workflow,
        "version": case.workflow_version,
        "state": case.state,
        "row_version": case.version,
        "channel": case.channel,
        "category": case.category,
        "external_id": case.external_id,
        "opened_at": case.opened_at.isoformat(),
        "accepted_at": case.accepted_at.isoformat() if case.accepted_at else None,
        "closed_at": case.closed_at.isoformat() if case.closed_at else None,
        "summary": case.summary,
        "complainant": {"name": person.name, "contact": person.contact},
        "respondent": case.respondent,
        "product": case.product,
        "amount": str(case.amount) if case.amount is not None else None,
        "remedy": case.remedy,
        "department": case.department,
        "assignee": case.assignee,
        "rehandle_count": case.rehandle_count,
        "escalation_count": case.escalation_count,
        "data": dict(case.data),
        "deadlines": deadlines if deadlines is not None else [],
    }
    if events is not None:
        out["events"] = [event_json(e) for e in events]
    return out


def event_json(e: Event) -> dict[str, Any]:
    return {
        "seq": e.seq,
        "kind": e.kind,
        "trigger": e.trigger,
        "from_state": e.from_state,
        "to_state": e.to_state,
        "actor": e.actor,
        "roles": list(e.roles),
        "data": dict(e.data),
        "occurred_at": e.occurred_at.isoformat(),
        "recorded_at": e.recorded_at.isoformat(),
        "hash": e.hash,
    }


def deadlines_json(settings: Settings, case_id: int) -> list[dict[str, Any]]:
    return [d.to_json() for d in settings.engine().deadlines(case_id)]


def deadline_filters(settings: Settings, overdue: bool, due_within: str | None) -> list[int] | None:
    """Ids of cases with an active clock overdue / due within a period; None = no filter."""
    if not overdue and not due_within:
        return None
    engine = settings.engine()
    now = engine.clock.now()
    if due_within:
        rows = engine.clocks.due_within(due_within, now)
    else:
        rows = engine.clocks.active_due_before(now)
    return sorted({d.case_id for d in rows})


@main.command()
@click.option("--workflow", "-w", required=True, help="Workflow name, e.g. consumer_complaint.")
@click.option("--channel", "-c", required=True, help="hotline, website, email, offline, ...")
@click.option("--external-id", help="The channel's own id; makes intake idempotent.")
@click.option("--category", help="e.g. product_quality_safety.")
@click.option("--summary", help="One line describing the complaint.")
@click.option("--description", help="The full complaint text.")
@click.option("--respondent", help="The business complained about.")
@click.option("--product", help="Product or service concerned.")
@click.option("--amount", help="Amount in dispute.")
@click.option("--remedy", help="What the consumer asks for.")
@click.option("--name", "complainant_name", help="Complainant's name (personal data).")
@click.option(
    "--contact", "complainant_contact", help="Complainant's phone/e-mail (personal data)."
)
@click.option("--department", help="Handling department.")
@click.option("--at", "at", help="Time received, ISO 8601 with offset (default: now).")
@click.option("--json", "as_json", is_flag=True, help="Print the case as JSON.")
@pass_settings
def intake(
    settings: Settings,
    workflow: str,
    channel: str,
    external_id: str | None,
    category: str | None,
    summary: str | None,
    description: str | None,
    respondent: str | None,
    product: str | None,
    amount: str | None,
    remedy: str | None,
    complainant_name: str | None,
    complainant_contact: str | None,
    department: str | None,
    at: str | None,
    as_json: bool,
) -> None:
    """Take in a complaint (idempotent on channel + external id)."""
    engine = settings.engine()
    case = engine.intake(
        workflow,
        channel=channel,
        external_id=external_id,
        category=category,
        summary=summary,
        description=description,
        respondent=respondent,
        product=product,
        amount=amount,
        remedy=remedy,
        complainant={"name": complainant_name, "contact": complainant_contact},
        department=department,
        received_at=parse_time(at, "--at"),
    )
    if as_json:
        emit_json(case_json(case, deadlines=deadlines_json(settings, case.id)))
    else:
        click.echo(f"case {case.id}: {case.workflow} v{case.workflow_version}, state {case.state}")


@main.command()
@click.argument("case_id", type=int)
@click.argument("trigger")
@click.option("--actor", required=True, help="Who acts (an id).")
@click.option("--role", "roles", multiple=True, required=True, help="Role acted in (repeatable).")
@click.option("--reason", help="Reason (required by some triggers, e.g. reject, escalate).")
@click.option("--data", "pairs", multiple=True, help="KEY=VALUE carried by the step (repeatable).")
@click.option("--at", "at", help="Business time of the step, ISO 8601 with offset (default now).")
@click.option("--expect-version", type=int, help="Fail if the case's row version differs.")
@click.option("--json", "as_json", is_flag=True)
@pass_settings
def fire(
    settings: Settings,
    case_id: int,
    trigger: str,
    actor: str,
    roles: tuple[str, ...],
    reason: str | None,
    pairs: tuple[str, ...],
    at: str | None,
    expect_version: int | None,
    as_json: bool,
) -> None:
    """Fire TRIGGER on case CASE_ID."""
    data = parse_data(pairs)
    if reason is not None:
        data["reason"] = reason
    engine = settings.engine()
    case = engine.fire(
        case_id,
        trigger,
        Actor(actor, frozenset(roles)),
        data=data,
        at=parse_time(at, "--at"),
        expected_version=expect_version,
    )
    if as_json:
        emit_json(case_json(case, deadlines=deadlines_json(settings, case.id)))
    else:
        click.echo(f"case {case.id}: {trigger} → {case.state}")


@main.command()
@click.argument("case_id", type=int)
@click.option("--json", "as_json", is_flag=True)
@click.option("--reveal", is_flag=True, help="Show the complainant's personal data unmasked.")
@pass_settings
def show(settings: Settings, case_id: int, as_json: bool, reveal: bool) -> None:
    """Show one case with its deadlines and events."""
    engine = settings.engine()
    case = engine.get(case_id)
    data = case_json(
        case,
        reveal=reveal,
        deadlines=deadlines_json(settings, case_id),
        events=engine.history(case_id),
    )
    if as_json:
        emit_json(data)
        return
    click.echo(f"case {case.id}  {case.workflow} v{case.workflow_version}  state: {case.state}")
    for key in (
        "channel",
        "category",
        "external_id",
        "opened_at",
        "closed_at",
        "summary",
        "respondent",
        "assignee",
    ):
        if data.get(key):
            click.echo(f"  {key:12} {data[key]}")
    person = data["complainant"]
    if person["name"] or person["contact"]:
        click.echo(f"  {'complainant':12} {person['name'] or ''} {person['contact'] or ''}")
    allowed = engine.allowed_triggers(case)
    click.echo(f"  {'next':12} {', '.join(allowed) or '(final)'}")
    for d in data["deadlines"]:
        flag = " (provisional)" if d.get("provisional") else ""
        click.echo(f"  deadline {d['clock']:12} {d['status']:9} due {d['due_at']}{flag}")
    for e in data["events"]:
        click.echo(
            f"  #{e['seq']:<3} {e['occurred_at']}  {e['actor']:12} "
            f"{e['trigger'] or e['kind']}: {e['from_state'] or ''} → {e['to_state'] or ''}"
        )


@main.command("list")
@click.option("--workflow")
@click.option("--state")
@click.option("--channel")
@click.option("--category")
@click.option("--assignee")
@click.option("--opened-from", help="ISO time with offset (inclusive).")
@click.option("--opened-to", help="ISO time with offset (exclusive).")
@click.option("--open", "open_only", is_flag=True, help="Only cases not closed.")
@click.option("--overdue", is_flag=True, help="Only cases with a clock past its due time.")
@click.option(
    "--due-within", help='Only cases with a clock due within a period, e.g. "2 working days".'
)
@click.option("--limit", type=click.IntRange(min=1), default=None)
@click.option("--json", "as_json", is_flag=True)
@pass_settings
def list_cmd(
    settings: Settings,
    workflow: str | None,
    state: str | None,
    channel: str | None,
    category: str | None,
    assignee: str | None,
    opened_from: str | None,
    opened_to: str | None,
    open_only: bool,
    overdue: bool,
    due_within: str | None,
    limit: int | None,
    as_json: bool,
) -> None:
    """List cases matching the filters."""
    engine = settings.engine()
    ids = deadline_filters(settings, overdue, due_within)
    cases = engine.list_cases(
        workflow=workflow,
        state=state,
        channel=channel,
        category=category,
        assignee=assignee,
        opened_from=parse_time(opened_from, "--opened-from"),
        opened_to=parse_time(opened_to, "--opened-to"),
        open_only=open_only,
        ids=ids,
        limit=limit,
    )
    if as_json:
        by_case = engine.clocks.for_cases([c.id for c in cases])
        emit_json([case_json(c, deadlines=[d.to_json() for d in by_case[c.id]]) for c in cases])
        return
    for c in cases:
        click.echo(
            f"{c.id:>8}  {c.state:14} {c.channel:12} {c.category or '-':24} "
            f"{c.opened_at:%Y-%m-%d %H:%M}  {c.summary or ''}"
        )
    click.echo(f"{len(cases)} case(s)")


@main.command()
@click.argument("case_id", type=int)
@click.option("--json", "as_json", is_flag=True)
@pass_settings
def history(settings: Settings, case_id: int, as_json: bool) -> None:
    """A case's audit trail."""
    events = settings.engine().history(case_id)
    if as_json:
        emit_json([event_json(e) for e in events])
        return
    for e in events:
        click.echo(
            f"#{e.seq:<3} {e.occurred_at.isoformat()}  {e.actor:12} {e.kind:10} "
            f"{e.trigger or '':10} {e.from_state or ''} → {e.to_state or ''}"
        )


@main.group()
def audit() -> None:
    """Audit-trail integrity."""


@audit.command("verify")
@click.option("--case", "case_id", type=int, help="Only this case.")
@click.option("--json", "as_json", is_flag=True)
@pass_settings
def audit_verify(settings: Settings, case_id: int | None, as_json: bool) -> None:
    """Recompute every hash chain; exit 1 if any event was altered, removed or inserted."""
    report = settings.engine().verify_audit(case_id)
    if as_json:
        emit_json(
            {
                "ok": report.ok,
                "cases": report.cases_checked,
                "events": report.events_checked,
                "findings": [
                    {"case_id": f.case_id, "seq": f.seq, "message": f.message}
                    for f in report.findings
                ],
            }
        )
    else:
        for f in report.findings:
            click.echo(f"case {f.case_id} event #{f.seq or '-'}: {f.message}", err=True)
        click.echo(
            f"{report.cases_checked} case(s), {report.events_checked} event(s): "
            f"{'ok' if report.ok else f'{len(report.findings)} problem(s)'}"
        )
    if not report.ok:
        raise SystemExit(1)


@main.group()
def db() -> None:
    """Database schema."""


@db.command("upgrade")
@click.option("--prefix", default="", help="Table name prefix (e.g. cw_).")
@click.option("--schema", default=None, help="PostgreSQL schema to hold the tables.")
@pass_settings
def db_upgrade(settings: Settings, prefix: str, schema: str | None) -> None:
    """Create or migrate casework's tables to the current version."""
    from casework.migrations import current_revision, upgrade
    from casework.store import Store

    store = Store(settings.db, prefix=prefix, schema=schema)
    try:
        upgrade(store)
        click.echo(f"database at revision {current_revision(store)}")
    finally:
        store.dispose()
