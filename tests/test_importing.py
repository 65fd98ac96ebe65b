"""Importing historical cases from CSV: the public CFPB and Boston 311 files, bad rows, idempotent
re-runs, the audit chain, and the import CLI."""

from __future__ import annotations

import csv
import datetime as dt
import json
import sys
import threading
from collections import Counter
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

from casework import DefinitionError, Engine
from casework.audit import event_hash
from casework.clock import FrozenClock
from casework.importing import (
    ImportReport,
    _utc_parser,
    import_csv,
    load_mapping,
    parse_mapping,
)
from tests.conftest import ROOT, WORKFLOWS, Backend

MAPPINGS = ROOT / "examples" / "import"
WORKFLOW = WORKFLOWS / "consumer_complaint.yaml"
NOW = dt.datetime(2026, 5, 6, 1, 0, tzinfo=dt.UTC)
BOSTON_YEARS = (2013, 2014, 2015, 2016)

MAPPING = """
workflow: consumer_complaint
source: test
timezone: Asia/Shanghai
time_format: ["%Y-%m-%d %H:%M", "%d/%m/%Y"]
closed_state: archived
columns:
  external_id: id
  received_at: received
  closed_at: closed
  due_at: target
  summary: summary
  respondent: shop
  channel:
    column: via
    values: {phone: hotline, web: website, mail: email}
  category:
    column: kind
    values: {quality: product_quality_safety}
    match:
      - {contains: [refund, repair], value: after_sales}
    default: other
data:
  note: note
"""

HEADER = "id,received,closed,target,summary,shop,via,kind,note\n"


def open_engine(backend: Backend, **kw: Any) -> Engine:
    return backend.open(workflows=WORKFLOW, clock=FrozenClock(NOW), **kw)


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture
def mapping_file(tmp_path: Path) -> Path:
    return write(tmp_path, "mapping.yaml", MAPPING)


def rows_of(engine: Engine, sql: str) -> list[Any]:
    return engine.store.run(lambda conn: list(conn.execute(sa.text(sql))), read=True)


def clock_status(engine: Engine) -> dict[str, str]:
    """external_id -> status of its imported `resolution` clock."""
    t = engine.store.tables
    q = (
        sa.select(t.cases.c.external_id, t.deadlines.c.status)
        .select_from(t.deadlines.join(t.cases, t.cases.c.id == t.deadlines.c.case_id))
        .where(t.deadlines.c.clock == "resolution")
    )
    return dict(engine.store.run(lambda conn: [tuple(r) for r in conn.execute(q)], read=True))


# ---------------------------------------------------------------------------- small files


def test_bad_rows_are_reported_by_line_and_the_rest_imported(
    backend: Backend, tmp_path: Path, mapping_file: Path
) -> None:
    """A bad date, a missing id, an unknown channel and a row closed before it was received
    are listed with their line (counting a quoted line break) and skipped; the others land."""
    data = write(
        tmp_path,
        "cases.csv",
        HEADER
        + '1,2026-03-02 09:00,2026-03-03 10:00,2026-03-05 00:00,"two\nlines",Shop A,phone,quality,x\n'
        + "2,2026-03-31 25:00,,,bad hour,Shop B,web,refund please,\n"  # line 4
        + ",2026-03-04 09:00,,,no id,Shop B,web,other,\n"  # line 5
        + "4,2026-03-04 09:00,,,carrier pigeon,Shop C,pigeon,other,\n"  # line 6
        + "5,2026-03-05 09:00,2026-03-01 09:00,,closed first,Shop C,mail,other,\n"  # line 7
        + "6,05/03/2026,,,day-first date,Shop D,mail,repair,\n"
        + "1,2026-03-02 09:00,,,duplicate of line 2,Shop A,phone,quality,\n",
    )
    engine = open_engine(backend)
    try:
        rep = import_csv(engine, data, mapping_file)
        assert [(b.line, b.external_id) for b in rep.bad_rows] == [
            (4, "2"),
            (5, None),
            (6, "4"),
            (7, "5"),
        ]
        reasons = [b.reason for b in rep.bad_rows]
        assert reasons[0] == (
            "received_at: '2026-03-31 25:00' is not a time (%Y-%m-%d %H:%M or %d/%m/%Y)"
        )
        assert reasons[1] == "external_id: missing"
        assert reasons[2] == "channel: no mapping for 'pigeon'"
        assert reasons[3].startswith("closed_at 2026-03-01T01:00:00+00:00 is before received_at")
        assert (rep.rows, rep.created, rep.bad, rep.duplicates) == (7, 2, 4, 1)
        assert rep.deadlines == {"met": 1, "breached": 0, "running": 0}
        cases = {c.external_id: c for c in engine.list_cases()}
    finally:
        engine.close()
    assert set(cases) == {"1", "6"}
    one = cases["1"]
    assert (one.state, one.channel, one.category, one.respondent) == (
        "archived",
        "hotline",
        "product_quality_safety",
        "Shop A",
    )
    assert one.summary == "two\nlines"
    assert one.received_at == dt.datetime(2026, 3, 2, 1, 0, tzinfo=dt.UTC)  # 09:00 Shanghai
    assert one.closed_at == dt.datetime(2026, 3, 3, 2, 0, tzinfo=dt.UTC)
    assert one.data["original"] == {"channel": "phone", "category": "quality"}
    assert one.data["import"] == {"source": "test", "line": 2}
    assert one.data["note"] == "x"
    six = cases["6"]
    assert (six.state, six.closed_at, six.category) == ("received", None, "after_sales")
    assert six.received_at == dt.datetime(2026, 3, 4, 16, 0, tzinfo=dt.UTC)  # 5 March local


def test_audit_verify_passes_after_import(backend: Backend, tmp_path: Path) -> None:
    """Imported events chain exactly as casework.audit.event_hash computes, with awkward text
    (quotes, backslashes, Chinese, control characters) in the hashed fields too."""
    mapping = write(tmp_path, "m.yaml", MAPPING.replace("values: {quality:", "values: {质量:"))
    data = write(
        tmp_path,
        "cases.csv",
        HEADER
        + '"a""b\\\\c",2026-03-02 09:00,2026-03-03 10:00,,s,Shop,phone,质量,\n'
        + '"编号-7\t",2026-03-02 09:00,,,s,Shop,web,other,\n'
        + "plain,2026-03-02 09:00,2026-03-09 09:00,2026-03-05 00:00,s,Shop,mail,,\n",
    )
    engine = open_engine(backend)
    try:
        rep = import_csv(engine, data, mapping)
        assert rep.created == 3, rep.bad_rows
        report = engine.verify_audit()
        assert report.ok, report.findings
        assert report.events_checked == 5  # 3 opened + 2 closing
        for case in engine.list_cases():
            for ev in engine.history(case.id):
                assert ev.actor == "import" and ev.kind in ("opened", "imported")
                assert ev.hash == event_hash(
                    prev_hash=ev.prev_hash,
                    case_id=ev.case_id,
                    seq=ev.seq,
                    kind=ev.kind,
                    trigger=ev.trigger,
                    from_state=ev.from_state,
                    to_state=ev.to_state,
                    actor=ev.actor,
                    roles=ev.roles,
                    data=ev.data,
                    occurred_at=ev.occurred_at,
                    recorded_at=ev.recorded_at,
                )
        # The engine accepts imported cases as its own: a new command extends the chain.
        case = next(c for c in engine.list_cases() if c.state == "received")
        from casework import Actor

        engine.fire(case.id, "accept", Actor("li", {"clerk"}))
        assert engine.verify_audit().ok
    finally:
        engine.close()
    if backend.name == "sqlite":  # the CLI has no --schema option to reach the PG schema
        code, out, _ = cli(backend, "audit", "verify")
        assert code == 0 and out.strip().endswith("ok")


def test_rerun_creates_nothing_and_partial_overlap_adds_only_new_rows(
    backend: Backend, tmp_path: Path, mapping_file: Path
) -> None:
    """Idempotent on (channel, external_id): a second run writes nothing; a file that
    overlaps adds only its new rows; the same id on another channel is another case."""
    first = write(
        tmp_path,
        "a.csv",
        HEADER + "".join(f"{i},2026-03-02 09:00,,,s,Shop,phone,,\n" for i in range(2500)),
    )
    second = write(
        tmp_path,
        "b.csv",
        HEADER
        + "".join(f"{i},2026-03-02 09:00,,,s,Shop,phone,,\n" for i in range(2400, 2600))
        + "7,2026-03-02 09:00,,,s,Shop,web,,\n",
    )
    engine = open_engine(backend)
    try:
        r1 = import_csv(engine, first, mapping_file, batch_size=1000)
        r2 = import_csv(engine, first, mapping_file, batch_size=1000)
        r3 = import_csv(engine, second, mapping_file, batch_size=64)
        n_cases = rows_of(engine, f"SELECT count(*) FROM {table(backend, 'cases')}")[0][0]
        n_events = rows_of(engine, f"SELECT count(*) FROM {table(backend, 'events')}")[0][0]
    finally:
        engine.close()
    assert (r1.created, r1.existing) == (2500, 0)
    assert (r2.created, r2.existing) == (0, 2500)
    assert (r3.created, r3.existing) == (101, 100)
    assert (n_cases, n_events) == (2601, 2601)


def table(backend: Backend, name: str) -> str:
    return f'"{backend.schema}".{name}' if backend.schema else name


def writer_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "casework-import-writer"]


def numbered(n: int, start: int = 0) -> str:
    return HEADER + "".join(f"{i},2026-03-02 09:00,,,s,Shop,phone,,\n" for i in range(start, n))


def test_cases_are_numbered_by_receipt_within_each_batch(
    backend: Backend, tmp_path: Path, mapping_file: Path
) -> None:
    """Within a batch, cases get their ids in order of receipt (file order among equal
    times); batches keep file order. Each case still carries its own line."""
    received = ["03-05", "03-02", "03-04", "03-02", "03-09", "03-01", "03-03"]
    text = HEADER + "".join(
        f"r{i},2026-{day} 09:00,,,s,Shop,phone,,\n" for i, day in enumerate(received)
    )
    data = write(tmp_path, "c.csv", text)
    engine = open_engine(backend)
    try:
        import_csv(engine, data, mapping_file, batch_size=4)
        cases = engine.list_cases()
    finally:
        engine.close()
    # Batch 1 is r0..r3 (r1 and r3 received together), batch 2 is r4..r6.
    assert [c.external_id for c in cases] == ["r1", "r3", "r2", "r0", "r5", "r6", "r4"]
    assert [c.data["import"]["line"] for c in cases] == [3, 5, 4, 2, 7, 8, 6]


def test_a_failing_batch_stops_the_import_after_the_batches_before_it(
    backend: Backend, tmp_path: Path, mapping_file: Path
) -> None:
    """The database refuses a row of the second batch (a trigger): the error reaches the
    caller, the first batch stays committed, the second and third are not written, and no
    writer thread is left behind."""
    engine = open_engine(backend)
    cases = table(backend, "cases")
    if backend.name == "sqlite":
        trigger = [
            f"CREATE TRIGGER refuse BEFORE INSERT ON {cases} WHEN NEW.external_id = '1500' "
            "BEGIN SELECT RAISE(ABORT, 'refused'); END"
        ]
    else:
        fn = table(backend, "refuse")
        trigger = [
            f"CREATE FUNCTION {fn}() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
            "IF NEW.external_id = '1500' THEN RAISE EXCEPTION 'refused'; END IF; "
            "RETURN NEW; END $$",
            f"CREATE TRIGGER refuse BEFORE INSERT ON {cases} FOR EACH ROW EXECUTE FUNCTION {fn}()",
        ]

    def install(conn: sa.Connection) -> None:
        for sql in trigger:
            conn.exec_driver_sql(sql)

    try:
        engine.store.run(install)
        data = write(tmp_path, "c.csv", numbered(3000))
        with pytest.raises(sa.exc.DBAPIError, match="refused"):
            import_csv(engine, data, mapping_file, batch_size=1000)
        assert not writer_threads()
        ids = rows_of(engine, f"SELECT external_id FROM {cases}")
        events = rows_of(engine, f"SELECT count(*) FROM {table(backend, 'events')}")[0][0]
    finally:
        engine.close()
    assert sorted(int(r[0]) for r in ids) == list(range(1000))
    assert events == 1000


def test_an_interrupted_import_keeps_whole_batches_and_resumes(
    backend: Backend, tmp_path: Path, mapping_file: Path
) -> None:
    """Stopped from the progress callback after the first batch: what was committed is a
    whole number of batches, the writer thread is gone, the interpreter's switch interval is
    back, and a re-run completes the file."""
    data = write(tmp_path, "c.csv", numbered(5000))

    class Stop(Exception):
        pass

    def stop(_: int) -> None:
        raise Stop

    interval = sys.getswitchinterval()
    engine = open_engine(backend)
    try:
        with pytest.raises(Stop):
            import_csv(engine, data, mapping_file, batch_size=1000, progress=stop)
        assert not writer_threads()
        assert sys.getswitchinterval() == interval
        n = rows_of(engine, f"SELECT count(*) FROM {table(backend, 'cases')}")[0][0]
        rep = import_csv(engine, data, mapping_file, batch_size=1000)
        assert engine.verify_audit().ok
    finally:
        engine.close()
    assert n in (1000, 2000, 3000, 4000)
    assert (rep.created, rep.existing) == (5000 - n, n)


def test_progress_reports_every_batch_and_adds_up_to_the_file(
    backend: Backend, tmp_path: Path, mapping_file: Path
) -> None:
    """progress(n) after each full batch commits and once at the end; the n add up to the
    characters after the header."""
    text = numbered(2500)
    data = write(tmp_path, "c.csv", text)
    calls: list[int] = []
    engine = open_engine(backend)
    try:
        rep = import_csv(engine, data, mapping_file, batch_size=1000, progress=calls.append)
    finally:
        engine.close()
    assert rep.created == 2500
    assert len(calls) == 2 + 1
    assert sum(calls) == len(text) - len(HEADER)


def test_import_on_a_host_connection_joins_the_host_transaction(
    backend: Backend, tmp_path: Path, mapping_file: Path
) -> None:
    """Given the host's Connection, the import runs on the calling thread inside the host's
    transaction: a rollback discards it, a commit keeps every batch."""
    open_engine(backend).close()
    data = write(tmp_path, "c.csv", numbered(250))
    host = backend.sa_engine()
    try:
        with host.connect() as conn:
            engine = Engine.open(
                conn,
                workflows=WORKFLOW,
                clock=FrozenClock(NOW),
                schema=backend.schema,
                create=False,
            )
            with conn.begin() as tx:
                rep = import_csv(engine, data, mapping_file, batch_size=100)
                assert not writer_threads()
                tx.rollback()
            with conn.begin():
                assert rep.created == 250 and engine.list_cases() == []
            with conn.begin():
                rep = import_csv(engine, data, mapping_file, batch_size=100)
            assert rep.created == 250
        reader = open_engine(backend)
        assert len(reader.list_cases(limit=1000)) == 250
        assert reader.verify_audit().ok
        reader.close()
    finally:
        host.dispose()


def test_the_default_as_of_reads_the_file_as_csv(
    backend: Backend, tmp_path: Path, mapping_file: Path
) -> None:
    """The as-of pass splits plain lines itself but leaves quoted fields to the csv module: a
    line inside a quoted, multi-line field is not a row, and its "times" do not count."""
    text = (
        HEADER
        + "1,2026-03-02 09:00,,2026-03-10 00:00,s,S,phone,,\n"
        + '2,2026-03-02 09:00,,,"first line\n'
        + 'x,2030-01-01 00:00,2030-01-01 00:00,2030-01-01 00:00,not a row",S,web,,\n'
    )
    engine = open_engine(backend)
    try:
        rep = import_csv(engine, write(tmp_path, "q.csv", text), mapping_file)
        summaries = sorted(c.summary or "" for c in engine.list_cases())
    finally:
        engine.close()
    assert rep.as_of == dt.datetime(2026, 3, 9, 16, 0, tzinfo=dt.UTC)  # 1's target
    assert rep.created == 2 and summaries[0].endswith("not a row")


def test_open_cases_are_judged_at_the_as_of_instant(
    backend: Backend, tmp_path: Path, mapping_file: Path
) -> None:
    """Open with a target: breached when the target is at or before as-of, else running;
    closed: met when closed at or before the target, breached after it. The default as-of is
    the latest time in the file; --as-of overrides it."""
    text = (
        HEADER
        + "m,2026-03-02 09:00,2026-03-04 09:00,2026-03-04 09:00,s,S,phone,,\n"
        + "b,2026-03-02 09:00,2026-03-04 09:01,2026-03-04 09:00,s,S,phone,,\n"
        + "o1,2026-03-02 09:00,,2026-03-10 00:00,s,S,phone,,\n"
        + "o2,2026-03-02 09:00,,2026-03-20 00:00,s,S,phone,,\n"
    )
    data = write(tmp_path, "t.csv", text)
    later = text.replace("2026-03-20 00:00", "2026-03-20 00:01").replace(",2026", "x,2026", 0)
    later = "\n".join(
        line if i == 0 else "late-" + line for i, line in enumerate(later.strip().split("\n"))
    )
    late = write(tmp_path, "late.csv", later + "\n")
    engine = open_engine(backend)
    try:
        rep = import_csv(engine, data, mapping_file)
        # The latest time in the file is o2's target itself: at as-of, so breached.
        assert rep.as_of == dt.datetime(2026, 3, 19, 16, 0, tzinfo=dt.UTC)
        rep2 = import_csv(engine, late, mapping_file, as_of="2026-03-15T00:00:00+08:00")
        statuses = clock_status(engine)
    finally:
        engine.close()
    assert rep2.as_of == dt.datetime(2026, 3, 14, 16, 0, tzinfo=dt.UTC)
    assert statuses == {
        "m": "met",
        "b": "breached",
        "o1": "breached",
        "o2": "breached",
        "late-m": "met",
        "late-b": "breached",
        "late-o1": "breached",
        "late-o2": "running",
    }


def _zone_says(local: dt.datetime, zone: str) -> dt.datetime:
    """The instant a naive local time names in ``zone`` (fold=0: an ambiguous time is the
    first of the two, a skipped one takes the offset in force before the change)."""
    return local.replace(tzinfo=ZoneInfo(zone), fold=0).astimezone(dt.UTC)


def test_local_times_follow_the_zone_across_its_offset_changes(
    backend: Backend, tmp_path: Path
) -> None:
    """Naive times in a zone with daylight saving, every 30 minutes over both 2016 changes in
    New York (02:00-03:00 on 13 March does not exist; 01:00-02:00 on 6 November happens
    twice) and on ordinary days around them, import at the instants the zone's rules give."""
    mapping = write(
        tmp_path,
        "ny.yaml",
        MAPPING.replace("timezone: Asia/Shanghai", "timezone: America/New_York"),
    )
    starts = [dt.datetime(2016, 3, 12, 20, 0), dt.datetime(2016, 11, 5, 20, 0)]
    times = [s + dt.timedelta(minutes=30 * k) for s in starts for k in range(24)]
    fmt = "%Y-%m-%d %H:%M"
    text = HEADER + "".join(
        f"t{i},{t:{fmt}},{t + dt.timedelta(hours=5):{fmt}},,s,Shop,phone,,\n"
        for i, t in enumerate(times)
    )
    engine = open_engine(backend)
    try:
        rep = import_csv(engine, write(tmp_path, "ny.csv", text), mapping)
        cases = {c.external_id: c for c in engine.list_cases(limit=1000)}
    finally:
        engine.close()
    assert rep.created == len(times)
    wrong = [
        (t, cases[f"t{i}"].opened_at, cases[f"t{i}"].closed_at)
        for i, t in enumerate(times)
        if cases[f"t{i}"].opened_at != _zone_says(t, "America/New_York")
        or cases[f"t{i}"].closed_at != _zone_says(t + dt.timedelta(hours=5), "America/New_York")
    ]
    assert wrong == []


ZONES = (
    "America/New_York",
    "Europe/London",
    "Australia/Lord_Howe",  # a 30-minute change
    "America/Sao_Paulo",  # daylight saving until 2019, changes at midnight
    "Pacific/Apia",  # skipped 30 December 2011 altogether
    "Asia/Shanghai",
)


@settings(max_examples=400, deadline=None)
@given(
    zone=st.sampled_from(ZONES),
    local=st.datetimes(min_value=dt.datetime(1990, 1, 1), max_value=dt.datetime(2030, 12, 31)),
)
def test_a_naive_time_reads_as_the_zone_says(zone: str, local: dt.datetime) -> None:
    """The parser's per-day offsets give exactly what the zone's rules give for every time,
    including days whose offset changes."""
    parse = _utc_parser(("%Y-%m-%d %H:%M:%S.%f",), zone)
    got = parse(local.strftime("%Y-%m-%d %H:%M:%S.%f"))
    assert got.replace(tzinfo=dt.UTC) == _zone_says(local, zone)


def test_a_naive_time_reads_as_the_zone_says_on_every_change_day() -> None:
    """Every quarter hour of each day on which the zone changes its offset (1990-2030), and
    of the days either side."""
    for zone in ZONES:
        tz = ZoneInfo(zone)
        parse = _utc_parser(("%Y-%m-%d %H:%M",), zone)
        day = dt.date(1990, 1, 1)
        while day < dt.date(2031, 1, 1):
            here = dt.datetime.combine(day, dt.time(), tz).utcoffset()
            after = dt.datetime.combine(day + dt.timedelta(days=1), dt.time(), tz).utcoffset()
            if here != after:
                for k in range(-96, 192):
                    local = dt.datetime.combine(day, dt.time()) + dt.timedelta(minutes=15 * k)
                    got = parse(f"{local:%Y-%m-%d %H:%M}").replace(tzinfo=dt.UTC)
                    assert got == _zone_says(local, zone), (zone, local)
            day += dt.timedelta(days=1)


def test_cases_before_the_first_workflow_version_pin_to_it_or_are_refused(
    sqlite_backend: Backend, tmp_path: Path, mapping_file: Path
) -> None:
    """consumer_complaint v1 is in force from 2020-01-01: older records pin to it (counted),
    unless the mapping says before_first_version: reject."""
    data = write(tmp_path, "old.csv", HEADER + "1,2013-03-02 09:00,,,s,S,phone,,\n")
    engine = open_engine(sqlite_backend)
    try:
        rep = import_csv(engine, data, mapping_file)
        assert (rep.created, rep.pinned_to_earliest) == (1, 1)
        assert engine.list_cases()[0].workflow_version == 1
        strict = parse_mapping(MAPPING + "bad_rows: {before_first_version: reject}\n")
        data2 = write(tmp_path, "old2.csv", HEADER + "2,2013-03-02 09:00,,,s,S,phone,,\n")
        rep = import_csv(engine, data2, strict)
    finally:
        engine.close()
    assert rep.created == 0
    assert rep.bad_rows[0].reason == (
        "received_at: no version of consumer_complaint is in force on 2013-03-02"
    )


# ---------------------------------------------------------------------------- mapping errors


def test_mapping_problems_are_all_reported_with_lines() -> None:
    """Unknown keys, a bad zone, a missing required column: every problem at once."""
    text = """workflow: consumer_complaint
timezone: Mars/Olympus
colums: {}
columns:
  received_at: open_dt
  chanel: source
bad_rows: {closed_before_received: maybe}
"""
    with pytest.raises(DefinitionError) as err:
        parse_mapping(text, "m.yaml")
    rendered = [p.render() for p in err.value.problems]
    assert "  line 2    timezone: unknown time zone 'Mars/Olympus' (e.g. America/New_York)" in (
        rendered
    )
    assert any("colums: unknown key (did you mean 'columns'?)" in r for r in rendered)
    assert any("columns.chanel: unknown key (did you mean 'channel'?)" in r for r in rendered)
    assert any("columns.external_id: required" in r for r in rendered)
    assert any("closed_before_received: expected reject, clamp or keep" in r for r in rendered)


def test_mapping_outputs_must_exist_in_the_workflow(
    sqlite_backend: Backend, tmp_path: Path
) -> None:
    """A channel, category or closed state the workflow does not know is refused up front,
    and so is a column the file's header lacks."""
    bad = MAPPING.replace("web: website", "web: webchat").replace(
        "closed_state: archived", "closed_state: handling"
    )
    data = write(tmp_path, "c.csv", HEADER + "1,2026-03-02 09:00,,,s,S,phone,,\n")
    engine = open_engine(sqlite_backend)
    try:
        with pytest.raises(DefinitionError) as err:
            import_csv(engine, data, parse_mapping(bad, "bad.yaml"))
        messages = [p.message for p in err.value.problems]
        assert any("'webchat' is not a channel of consumer_complaint" in m for m in messages)
        assert any("'handling' is not a final state" in m for m in messages)
        renamed = write(tmp_path, "r.csv", HEADER.replace("via", "source") + "1,x,,,,,,,\n")
        with pytest.raises(DefinitionError, match="column 'via' is not in the file's header"):
            import_csv(engine, renamed, parse_mapping(MAPPING, "m.yaml"))
    finally:
        engine.close()


# ---------------------------------------------------------------------------- the CLI


def cli(backend: Backend, *args: str) -> tuple[int, str, str]:
    from casework.cli import main

    res = CliRunner().invoke(main, ["--db", backend.url, "--workflows", str(WORKFLOW), *args])
    return res.exit_code, res.stdout, res.stderr


def test_import_cli_prints_a_summary_and_list_shows_imported_cases(
    sqlite_backend: Backend, tmp_path: Path, mapping_file: Path
) -> None:
    """`casework import` lists bad rows on stderr and summarises; --json prints the report;
    `casework list --json` carries external_id, opened_at, closed_at and the deadlines."""
    data = write(
        tmp_path,
        "c.csv",
        HEADER
        + "1,2026-03-02 09:00,2026-03-03 10:00,2026-03-05 00:00,s,S,phone,,\n"
        + "2,not a date,,,s,S,phone,,\n",
    )
    code, out, err = cli(sqlite_backend, "import", str(data), "--mapping", str(mapping_file))
    assert code == 0
    assert f"{data}: line 3 (2): received_at: 'not a date' is not a time" in err
    assert out.startswith("2 row(s): 1 created, 0 already present, 0 duplicate(s) in the file")
    code, out, _ = cli(
        sqlite_backend, "import", str(data), "--mapping", str(mapping_file), "--json"
    )
    summary = json.loads(out)
    assert (code, summary["created"], summary["existing"], summary["bad"]) == (0, 0, 1, 1)
    assert summary["bad_rows"][0]["line"] == 3
    code, out, _ = cli(sqlite_backend, "list", "--json")
    (case,) = json.loads(out)
    assert case["external_id"] == "1"
    assert case["opened_at"] == "2026-03-02T01:00:00+00:00"
    assert case["closed_at"] == "2026-03-03T02:00:00+00:00"
    assert [(d["clock"], d["status"], d["due_at"]) for d in case["deadlines"]] == [
        ("resolution", "met", "2026-03-04T16:00:00+00:00")
    ]
    code, _, err = cli(sqlite_backend, "import", str(data), "--mapping", str(data))
    assert code == 1 and err.count("\n") >= 1 and "problem" in err


# ---------------------------------------------------------------------------- real data


def boston_file(realdata: Path, year: int) -> Path:
    return realdata / "boston311" / f"boston311_animal_{year}.csv"


@pytest.mark.realdata
@pytest.mark.slow
def test_boston_resolution_clock_agrees_with_the_city_on_every_row(
    realdata: Path, sqlite_backend: Backend
) -> None:
    """For every row of 2013-2016, the imported `resolution` clock says what the city's
    on_time column says: OVERDUE iff a target is set and the case closed after it or is open
    (breached); ONTIME otherwise (met, or no clock when there is no target)."""
    mapping = load_mapping(MAPPINGS / "boston311.yaml")
    engine = open_engine(sqlite_backend)
    reports: list[ImportReport] = []
    try:
        for year in BOSTON_YEARS:
            reports.append(import_csv(engine, boston_file(realdata, year), mapping))
        statuses = clock_status(engine)
        states = dict(
            engine.store.run(
                lambda conn: [
                    tuple(r)
                    for r in conn.execute(
                        sa.select(
                            engine.store.tables.cases.c.external_id,
                            engine.store.tables.cases.c.state,
                        )
                    )
                ],
                read=True,
            )
        )
        assert engine.verify_audit().ok
    finally:
        engine.close()
    expected_rows = {2013: 3095, 2014: 5268, 2015: 6221, 2016: 7494}
    assert [r.rows for r in reports] == [expected_rows[y] for y in BOSTON_YEARS]
    assert [r.bad for r in reports] == [0, 0, 0, 0]
    assert sum(r.created for r in reports) == 22078
    # Eight cases are stamped closed seconds before they were opened; they close at opening.
    assert sum(r.clamped for r in reports) == 8
    mismatches = []
    n = 0
    for year in BOSTON_YEARS:
        with boston_file(realdata, year).open(newline="", encoding="utf-8") as f:
            for line, row in enumerate(csv.DictReader(f), start=2):
                n += 1
                ext = row["case_enquiry_id"]
                got = statuses.get(ext)
                verdict = "OVERDUE" if got == "breached" else "ONTIME"
                if got is None and row["sla_target_dt"]:
                    verdict = "missing clock"
                if verdict != row["on_time"]:
                    mismatches.append(f"{year} line {line} {ext}: {row['on_time']} vs {got}")
                want_state = "received" if row["case_status"] == "Open" else "archived"
                if states[ext] != want_state:
                    mismatches.append(f"{year} line {line} {ext}: state {states[ext]}")
    assert n == 22078
    assert not mismatches, f"{len(mismatches)} rows disagree:\n" + "\n".join(mismatches[:50])


@pytest.mark.realdata
def test_cfpb_2015_2020_skips_the_unzip_lines_and_imports_every_row(
    realdata: Path, backend: Backend
) -> None:
    """6,623 complaints after two junk lines; channels mapped from "Submitted via"; a re-run
    creates nothing."""
    path = realdata / "cfpb" / "cfpb_sample_2015_2020_tgschwartz.csv"
    engine = open_engine(backend)
    try:
        rep = import_csv(engine, path, MAPPINGS / "cfpb_2015_2020.yaml")
        again = import_csv(engine, path, MAPPINGS / "cfpb_2015_2020.yaml")
        # The file's first data row (case ids follow receipt within a batch, not the file).
        first = next(c for c in engine.list_cases(channel="website") if c.external_id == "3571115")
    finally:
        engine.close()
    assert (rep.rows, rep.bad, rep.created) == (6623, 0, 6623), rep.bad_rows[:5]
    assert dict(rep.by_channel) == {
        "website": 5143,
        "third_party": 627,
        "hotline": 482,
        "offline": 267 + 102,
        "email": 2,
    }
    assert rep.closed == 6623 and rep.clamped == 0
    assert (again.created, again.existing) == (0, 6623)
    # The first data row is on line 4 (two unzip lines and the header before it).
    assert first.data["import"]["line"] == 4
    assert first.state == "transferred"
    assert first.respondent == "TRANSUNION INTERMEDIATE HOLDINGS, INC."
    assert first.data["original"]["channel"] == "Web"


@pytest.mark.realdata
def test_cfpb_2013_reads_month_first_dates_and_tolerates_sent_before_received(
    realdata: Path, sqlite_backend: Backend
) -> None:
    """1,000 complaints with M/D/YYYY dates; the 23 sent to the company before the CFPB
    received them close at receipt, keeping the date as given."""
    path = realdata / "cfpb" / "cfpb_sample_2013_capitalprince100.csv"
    engine = open_engine(sqlite_backend)
    try:
        rep = import_csv(engine, path, MAPPINGS / "cfpb_2013.yaml")
        clamped = [c for c in engine.list_cases() if "closed_at_as_given" in c.data["import"]]
        assert engine.verify_audit().ok
    finally:
        engine.close()
    assert (rep.rows, rep.bad, rep.created, rep.clamped) == (1000, 0, 1000, 23)
    assert dict(rep.by_channel) == {
        "website": 691,
        "offline": 107 + 19,
        "third_party": 92,
        "hotline": 90,
        "email": 1,
    }
    assert len(clamped) == 23
    assert all(c.closed_at == c.received_at for c in clamped)
    # The original channel values are kept beside the mapped ones.
    originals = Counter(c.data["original"]["channel"] for c in clamped)
    assert set(originals) <= {"Web", "Referral", "Phone", "Postal mail", "Fax", "Email"}
    assert sum(originals.values()) == 23
