"""Embed casework in a host application that has its own SQLAlchemy engine and tables.

The host writes its own row and a casework step in ONE transaction: both commit together, or
both roll back together. casework's tables live beside the host's under a prefix (``cw_``).

    python examples/embed_in_host.py

What it shows, in order:

1. casework's tables are created once, with a prefix, in the host's database;
2. the host opens casework on a ``Connection``: casework then joins the host's transaction and
   commits nothing itself;
3. a host row + a casework step commit together;
4. a casework step + a host row roll back together (no case change, no audit event, no hook
   notification, no host row);
5. a casework command that is refused inside the host's transaction undoes only its own half
   (a savepoint): the host's row still commits.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import sqlalchemy as sa

from casework import Actor, Engine, TriggerNotAllowed
from casework.store import install_sqlite_settings

WORKFLOWS = Path(__file__).resolve().parents[1] / "workflows"
PREFIX = "cw_"

CLERK = Actor("li.clerk", {"clerk"})
AGENT = Actor("wang.agent", {"agent"})

# The host's own schema: a ticket per phone call, pointing at the casework case it opened.
host_md = sa.MetaData()
tickets = sa.Table(
    "tickets",
    host_md,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("ref", sa.String(32), nullable=False, unique=True),
    sa.Column("case_id", sa.Integer),
    sa.Column("status", sa.String(32), nullable=False),
)


class HostError(Exception):
    """Something in the host's own logic failed after casework had done its part."""


def ticket_status(conn: sa.Connection, ref: str) -> str | None:
    return conn.execute(sa.select(tickets.c.status).where(tickets.c.ref == ref)).scalar()


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="casework-host-") as tmp:
        url = f"sqlite:///{Path(tmp) / 'host.db'}"
        host = sa.create_engine(url)
        # SQLite only: pysqlite defers BEGIN until the first write, so a SAVEPOINT issued first
        # would open (and its RELEASE commit) the transaction on its own. These settings give
        # every transaction a real BEGIN (plus WAL and synchronous=FULL).
        install_sqlite_settings(host)
        host_md.create_all(host)

        # 1. casework's tables, once (what `casework db upgrade` does at deploy time).
        Engine.open(host, workflows=WORKFLOWS, prefix=PREFIX).close()  # leaves `host` open
        names = sorted(sa.inspect(host).get_table_names())
        print(f"tables in the host database: {', '.join(names)}")
        assert "tickets" in names and f"{PREFIX}cases" in names

        with host.connect() as conn:
            # 2. casework on the host's connection: it joins whatever transaction is open.
            cw = Engine.open(conn, workflows=WORKFLOWS, prefix=PREFIX, create=False)

            # 3. Commit together.
            with conn.begin():
                case = cw.intake("consumer_complaint", channel="hotline", external_id="T-1001")
                conn.execute(
                    sa.insert(tickets).values(ref="T-1001", case_id=case.id, status="registered")
                )
                cw.fire(case.id, "accept", CLERK)
            with conn.begin():
                state, status = cw.get(case.id).state, ticket_status(conn, "T-1001")
                events = len(cw.history(case.id))
            print(f"committed together: case {case.id} is {state!r} with {events} events,", end=" ")
            print(f"ticket T-1001 is {status!r}")
            assert (state, status, events) == ("accepted", "registered", 2)

            # 4. Roll back together: the casework step goes first, then the host fails.
            try:
                with conn.begin():
                    cw.fire(case.id, "investigate", AGENT)
                    conn.execute(
                        sa.update(tickets)
                        .where(tickets.c.ref == "T-1001")
                        .values(status="investigating")
                    )
                    raise HostError("the host's CRM call failed")
            except HostError as exc:
                print(f"host transaction rolled back ({exc})")
            with conn.begin():
                state, status = cw.get(case.id).state, ticket_status(conn, "T-1001")
                events = len(cw.history(case.id))
                outbox = conn.execute(
                    sa.select(sa.func.count()).select_from(cw.store.tables.outbox)
                ).scalar_one()
            print(
                f"rolled back together: case {case.id} is still {state!r} with {events} events",
                end=" ",
            )
            print(f"and {outbox} hook notifications; ticket T-1001 is still {status!r}")
            assert (state, status, events, outbox) == ("accepted", "registered", 2, 2)

            # 5. A refused casework command undoes only its own savepoint.
            with conn.begin():
                conn.execute(
                    sa.update(tickets).where(tickets.c.ref == "T-1001").values(status="callback")
                )
                try:
                    cw.fire(case.id, "archive", CLERK)  # not allowed from 'accepted'
                except TriggerNotAllowed as exc:
                    print(f"casework refused inside the host transaction: {exc}")
            with conn.begin():
                state, status = cw.get(case.id).state, ticket_status(conn, "T-1001")
            print(f"host row kept, casework untouched: ticket T-1001 is {status!r},", end=" ")
            print(f"case {case.id} is {state!r}")
            assert (state, status) == ("accepted", "callback")

        # A separate reader (another process, say) sees exactly the committed state.
        with Engine.open(url, workflows=WORKFLOWS, prefix=PREFIX, create=False) as reader:
            report = reader.verify_audit()
            cases = reader.list_cases()
            print(f"a fresh reader sees {len(cases)} case(s); audit chain intact: {report.ok}")
            assert report.ok
        host.dispose()
    print("OK: host rows and casework steps commit and roll back together")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
