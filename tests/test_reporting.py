"""Period reports: figures by hand count on a small fixture, identical on SQLite and PostgreSQL,
hot spots and their hook, and the md/html/json/csv renderings and CLI."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import math
import sqlite3
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import chinese_calendar
import pytest
import sqlalchemy as sa
import yaml
from click.testing import CliRunner

from casework import Actor, Engine
from casework.clock import FrozenClock
from casework.records import mask
from casework.report_render import Labels, recommendations, render
from casework.reporting import (
    HotspotRule,
    _utc_offsets,
    binomial_upper_tail,
    build_report,
    queue_risk_alerts,
    weighted_percentile,
)
from tests.conftest import WORKFLOWS, Backend

SH = ZoneInfo("Asia/Shanghai")
MAY = (dt.date(2026, 5, 1), dt.date(2026, 5, 31))
C1, C2 = "13812345678", "wei@example.com"

clerk = Actor("li.clerk", {"clerk"})
agent = Actor("wang.agent", {"agent"})
sup = Actor("zhao.sup", {"supervisor"})
tg = Actor("tg.lead", {"task_group"})


def at(month: int, day: int, hour: int = 10, minute: int = 0) -> dt.datetime:
    return dt.datetime(2026, month, day, hour, minute, tzinfo=SH)


@pytest.fixture(scope="session")
def workflow_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """consumer_complaint without its follow-up policy: visits are rows the tests insert, so
    the figures do not depend on the follow-up scheduler."""
    doc = yaml.safe_load((WORKFLOWS / "consumer_complaint.yaml").read_text(encoding="utf-8"))
    doc.pop("followups", None)
    path = tmp_path_factory.mktemp("wf") / "consumer_complaint.yaml"
    path.write_text(yaml.safe_dump(doc, allow_unicode=True), encoding="utf-8")
    return path


def open_engine(backend: Backend, workflow_file: Path, now: dt.datetime) -> Engine:
    return backend.open(workflows=workflow_file, clock=FrozenClock(now))


def visit(
    engine: Engine,
    case_id: int,
    outcome: str | None,
    recorded: dt.datetime,
    status: str = "completed",
) -> None:
    f = engine.store.tables.followups

    def work(conn: sa.Connection) -> None:
        conn.execute(
            sa.insert(f).values(
                case_id=case_id,
                policy="satisfaction",
                status=status,
                selected_because="sample",
                channel="phone",
                attempts=1,
                max_attempts=3,
                created_at=recorded - dt.timedelta(days=1),
                due_at=recorded,
                outcome=outcome,
                recorded_at=recorded,
                recorded_by="caller",
                data={},
            )
        )

    engine.store.run(work)


def build_fixture(engine: Engine) -> dict[str, int]:
    """Ten cases around May 2026 (Shanghai). The expected figures are counted by hand in
    :func:`test_report_figures_match_a_hand_count`."""
    ids: dict[str, int] = {}

    def intake(
        name: str,
        when: dt.datetime,
        channel: str,
        category: str | None = None,
        contact: str | None = None,
        department: str = "d1",
        **kw: Any,
    ) -> int:
        case = engine.intake(
            "consumer_complaint",
            channel=channel,
            category=category,
            received_at=when,
            complainant={"contact": contact},
            department=department,
            external_id=f"fx-{name}",
            **kw,
        )
        ids[name] = case.id
        return case.id

    fire = engine.fire
    # J: received in March, accepted, still open: handling overdue since April.
    j = intake("J", at(3, 20), "hotline", "other")
    fire(j, "accept", clerk, at=at(3, 21))
    # A: received in April, answered and archived in May.
    a = intake("A", at(4, 20), "hotline", "after_sales", C1, respondent="Shop X")
    fire(a, "accept", clerk, at=at(4, 21))
    fire(a, "investigate", agent, at=at(4, 22))
    fire(a, "handle", agent, at=at(4, 23))
    fire(a, "respond", agent, at=at(5, 6))
    fire(a, "archive", sup, at=at(5, 12))
    # B: received and accepted in April; its handling clock falls due on 27 May, still open.
    b = intake("B", at(4, 25), "website", "other")
    fire(b, "accept", clerk, at=at(4, 26))
    # C: May, answered, archived: 200 hours.
    c = intake("C", at(5, 6, 9), "hotline", "product_quality_safety", C1)
    fire(c, "accept", clerk, at=at(5, 6, 15))
    fire(c, "investigate", agent, at=at(5, 7))
    fire(c, "handle", agent, at=at(5, 8))
    fire(c, "respond", agent, at=at(5, 11))
    fire(c, "archive", sup, at=at(5, 14, 17))
    # D: not accepted after 24 hours.
    d = intake("D", at(5, 7), "email", "product_quality_safety", C1)
    fire(d, "reject", clerk, data={"reason": "outside our remit"}, at=at(5, 8))
    # E: escalated to the task group, extended, resolved, then reopened.
    e = intake("E", at(5, 8, 11), "website", "contract_disclosure", C2, department="d2")
    fire(e, "accept", clerk, at=at(5, 9))
    engine.extend(e, "handling", sup, reason="awaiting a test report", at=at(5, 9, 12))
    fire(e, "escalate", agent, data={"reason": "complex"}, at=at(5, 10))
    fire(e, "resolve", tg, at=at(5, 20))
    fire(e, "reopen", sup, at=at(5, 25))
    # F: withdrawn after 24 hours.
    f = intake("F", at(5, 15), "offline", "other")
    fire(f, "withdraw", clerk, at=at(5, 16))
    # G: never accepted: its acceptance clock falls due on 30 May 00:00.
    intake("G", at(5, 20), "hotline", "after_sales", C2, department="d2")
    # H: received at the very end of May; I: just after it.
    intake("H", at(5, 31, 23), "website", "after_sales")
    intake("I", at(6, 1, 0, 30), "hotline", "other")
    # Visits (rows as the follow-up module writes them).
    visit(engine, a, "unreachable", at(5, 10), status="unreachable")
    visit(engine, a, "satisfied", at(5, 11))
    visit(engine, c, "basically_satisfied", at(5, 13))
    visit(engine, e, "dissatisfied", at(5, 22))
    return ids


def wd(a: dt.datetime, b: dt.datetime) -> int:
    """Working days in (a, b], counted with the chinese_calendar package (independently)."""
    d0, d1 = a.date(), b.date()
    return sum(
        chinese_calendar.is_workday(d0 + dt.timedelta(days=i)) for i in range(1, (d1 - d0).days + 1)
    )


def test_report_figures_match_a_hand_count(backend: Backend, workflow_file: Path) -> None:
    """Every figure of the May report equals the count made by hand from the fixture."""
    engine = open_engine(backend, workflow_file, at(6, 10))
    try:
        build_fixture(engine)
        r = build_report(engine, *MAY)
    finally:
        engine.close()
    assert r.intake_total == 6  # C D E F G H (I is June, A B J earlier)
    assert dict(r.by_channel) == {"hotline": 2, "website": 2, "email": 1, "offline": 1}
    assert dict(r.by_category) == {
        "product_quality_safety": 2,
        "after_sales": 2,
        "contract_disclosure": 1,
        "other": 1,
    }
    assert (r.accepted, r.not_accepted) == (2, 1)  # C E / D
    assert r.open_at_start == 3  # A B J
    assert r.completed == 4  # A C D F
    assert dict(r.completed_by_state) == {"archived": 2, "rejected": 1, "withdrawn": 1}
    assert r.completion_rate == round(4 / 9, 4)
    assert r.intake_completed == 3  # C D F
    # Handling time of A C D F: 528 h, 200 h, 24 h, 24 h.
    h = r.handling
    assert h.count == 4
    assert h.mean_hours == 194.0
    assert h.median_hours == 112.0
    assert h.p90_hours == 429.6
    days = sorted(
        [
            wd(at(4, 20), at(5, 12)),
            wd(at(5, 6, 9), at(5, 14, 17)),
            wd(at(5, 7), at(5, 8)),
            wd(at(5, 15), at(5, 16)),
        ]
    )
    assert h.mean_working_days == round(sum(days) / 4, 2)
    assert h.median_working_days == round((days[1] + days[2]) / 2, 2)
    assert h.p90_working_days == round(days[2] + (days[3] - days[2]) * 0.7, 2)
    clocks = {c.clock: (c.met, c.late, c.overdue_running) for c in r.clocks}
    assert clocks == {
        "acceptance": (4, 0, 1),  # C D E F met; G overdue
        "handling": (3, 0, 1),  # A C E met; B overdue (J fell due in April)
        "task_group": (1, 0, 0),  # E
    }
    assert r.on_time_rate == 0.8
    assert (r.escalated, r.escalated_cases, dict(r.escalation_reasons)) == (1, 1, {"complex": 1})
    assert (r.extensions, dict(r.extensions_by_clock)) == (1, {"handling": 1})
    f = r.followup
    assert (f.reached_feedback, f.visited, f.rehandled) == (3, 3, 1)  # A C E; E reopened
    assert (f.satisfied, f.basically_satisfied, f.dissatisfied, f.unreachable) == (1, 1, 1, 1)
    assert f.coverage == 1.0
    assert f.satisfaction_rate == round(2 / 3, 4)
    assert f.unreachable_rate == 0.25
    assert f.rehandle_rate == round(1 / 3, 4)
    assert r.open_at_end == 5  # B E G H J
    assert r.overdue_open == 3  # B (handling) G (acceptance) J (handling)
    assert [w.intake for w in r.weeks] == [2, 1, 2, 0, 1]
    assert [w.days for w in r.weeks] == [7, 7, 7, 7, 3]
    assert r.repeat_complainant_count == 2
    assert sorted((x.contact, x.cases) for x in r.repeat_complainants) == sorted(
        [(mask(C1), 2), (mask(C2), 2)]
    )
    assert C1 not in json.dumps(r.to_json()) and C2 not in json.dumps(r.to_json())
    p = r.previous
    assert (p.start, p.end) == (dt.date(2026, 3, 31), dt.date(2026, 4, 30))
    assert (p.intake_total, p.accepted, p.not_accepted, p.completed) == (2, 2, 0, 0)
    assert p.completion_rate == 0.0  # nothing of J + A + B was completed in April
    assert p.on_time_rate == round(2 / 3, 4)  # A B acceptance met, J handling overdue
    assert (p.escalated, p.open_at_end, p.overdue_open) == (0, 3, 1)
    assert r.changes()["intake_total"] == {"current": 6, "previous": 2, "delta": 4, "relative": 2.0}
    assert r.hotspots == ()  # counts far below the minimum


def test_report_scoped_to_a_department_or_workflow(backend: Backend, workflow_file: Path) -> None:
    """--department counts only that department's cases, in every figure."""
    engine = open_engine(backend, workflow_file, at(6, 10))
    try:
        build_fixture(engine)
        r = build_report(engine, *MAY, department="d2")
        whole = build_report(engine, *MAY, workflow="consumer_complaint")
    finally:
        engine.close()
    assert r.intake_total == 2  # E G
    assert dict(r.by_channel) == {"website": 1, "hotline": 1}
    assert r.escalated == 1 and r.extensions == 1
    assert {c.clock: c.judged for c in r.clocks} == {
        "acceptance": 2,
        "handling": 1,
        "task_group": 1,
    }
    assert r.overdue_open == 1  # G
    assert r.followup.visits == 1 and r.followup.dissatisfied == 1
    assert whole.intake_total == 6 and whole.timezone == "Asia/Shanghai"


def test_handling_time_counts_each_workflows_own_calendar(
    backend: Backend, workflow_file: Path, tmp_path: Path
) -> None:
    """Completed cases of two workflows: working days on each one's calendar, one figure."""
    doc = yaml.safe_load(workflow_file.read_text(encoding="utf-8"))
    folder = tmp_path / "workflows"
    folder.mkdir()
    (folder / "consumer_complaint.yaml").write_text(workflow_file.read_text(encoding="utf-8"))
    doc.update(workflow="weekend_desk", calendar="weekends")
    (folder / "weekend_desk.yaml").write_text(yaml.safe_dump(doc, allow_unicode=True))
    engine = backend.open(workflows=folder, clock=FrozenClock(at(6, 10)))
    try:
        for name in ("consumer_complaint", "weekend_desk"):
            case = engine.intake(name, channel="hotline", category="other", received_at=at(4, 30))
            engine.fire(case.id, "withdraw", clerk, at=at(5, 6))
        r = build_report(engine, *MAY)
    finally:
        engine.close()
    assert dict(r.completed_by_state) == {"withdrawn": 2}
    h = r.handling
    assert (h.count, h.mean_hours, h.median_hours) == (2, 144.0, 144.0)
    # (30 Apr, 6 May]: on the PRC calendar 1-5 May are the Labour Day holiday, leaving 6 May;
    # Monday to Friday leaves 1, 4, 5 and 6 May.
    assert wd(at(4, 30), at(5, 6)) == 1
    assert (h.mean_working_days, h.median_working_days, h.p90_working_days) == (2.5, 2.5, 3.7)


def _comparable(report_json: dict[str, Any]) -> dict[str, Any]:
    out = dict(report_json)
    out["period"] = {k: v for k, v in out["period"].items() if k != "generated_at"}
    return out


def test_report_is_identical_on_sqlite_and_postgresql(
    sqlite_backend: Backend, pg_backend: Backend, workflow_file: Path
) -> None:
    """The same data gives byte-identical figures on both backends, in Shanghai and in a zone
    with daylight saving time (local days computed in SQL on each)."""
    outputs = []
    for be in (sqlite_backend, pg_backend):
        engine = open_engine(be, workflow_file, at(6, 10))
        try:
            build_fixture(engine)
            rule = HotspotRule(min_count=1, min_ratio=1.0, alpha=1.0)
            reports = [
                build_report(engine, *MAY, rule=rule),
                build_report(
                    engine,
                    dt.date(2026, 3, 1),
                    dt.date(2026, 5, 31),
                    tz="America/New_York",
                    rule=rule,
                ),
                build_report(engine, dt.date(2026, 5, 6), dt.date(2026, 5, 12)),
            ]
            outputs.append([json.dumps(_comparable(x.to_json()), sort_keys=True) for x in reports])
        finally:
            engine.close()
    assert outputs[0] == outputs[1]
    assert json.loads(outputs[0][0])["hotspots"]  # the loose rule finds some


def test_hotspots_flag_significant_rises_only(backend: Backend, workflow_file: Path) -> None:
    """A respondent rising from 4 to 20 cases is a hot spot; one rising from 9 to 12 is not."""
    engine = open_engine(backend, workflow_file, at(6, 10))
    try:
        # (respondent, channel, month, first day, cases on consecutive days)
        for respondent, channel, month, first, n in (
            ("Rising Ltd", "hotline", 4, 5, 4),
            ("Rising Ltd", "hotline", 5, 2, 20),
            ("Steady Co", "website", 4, 10, 9),
            ("Steady Co", "website", 5, 10, 12),
        ):
            for i in range(n):
                engine.intake(
                    "consumer_complaint",
                    channel=channel,
                    respondent=respondent,
                    received_at=at(month, first + i),
                )
        r = build_report(engine, *MAY)
        flagged = [(h.kind, h.value, h.count, h.previous) for h in r.hotspots]
        assert flagged == [("respondent", "Rising Ltd", 20, 4)]
        assert r.hotspots[0].p_value == pytest.approx(binomial_upper_tail(20, 24))
        assert r.hotspots[0].ratio == 5.0

        n = queue_risk_alerts(engine, r)
        assert queue_risk_alerts(engine, r) == n == 1
        t = engine.store.tables.outbox
        rows = engine.store.run(
            lambda conn: list(conn.execute(sa.select(t).where(t.c.topic == "risk.hotspot"))),
            read=True,
        )
    finally:
        engine.close()
    assert len(rows) == 1  # queued once although asked twice
    assert rows[0].key == "risk:2026-05-01..2026-05-31:respondent:Rising Ltd"
    assert rows[0].payload["count"] == 20 and rows[0].payload["previous"] == 4


def test_repeat_complainants_are_masked_in_alerts(backend: Backend, workflow_file: Path) -> None:
    """A complainant with 3 cases is reported with a masked contact and a pseudonymous key."""
    engine = open_engine(backend, workflow_file, at(6, 10))
    try:
        for i in range(3):
            engine.intake(
                "consumer_complaint",
                channel="hotline",
                received_at=at(5, 4 + i),
                complainant={"contact": C1},
            )
        r = build_report(engine, *MAY)
        queue_risk_alerts(engine, r)
        t = engine.store.tables.outbox
        payloads = engine.store.run(
            lambda conn: [row.payload for row in conn.execute(sa.select(t))], read=True
        )
    finally:
        engine.close()
    assert [(x.contact, x.cases) for x in r.repeat_complainants] == [(mask(C1), 3)]
    alerts = [p for p in payloads if p.get("kind") == "complainant"]
    assert len(alerts) == 1
    assert alerts[0]["value"] == mask(C1) and C1 not in json.dumps(payloads)


def test_empty_period_has_no_rates(engine: Engine) -> None:
    """With no data every count is 0 and every rate is None (nothing to divide by)."""
    r = build_report(engine, *MAY)
    assert r.intake_total == 0 and r.completed == 0
    assert r.completion_rate is None and r.on_time_rate is None and r.satisfaction_rate is None
    assert r.handling.count == 0 and r.handling.median_hours is None
    assert "建议保持现有工作机制" in render(r, "md")


def test_bad_periods_are_refused(engine: Engine) -> None:
    """An end before the start, an unknown zone or workflow is refused clearly."""
    from casework.errors import InvalidInput, WorkflowNotFound

    with pytest.raises(InvalidInput, match="before"):
        build_report(engine, dt.date(2026, 5, 2), dt.date(2026, 5, 1))
    with pytest.raises(InvalidInput, match="time zone"):
        build_report(engine, *MAY, tz="Mars/Olympus")
    with pytest.raises(WorkflowNotFound):
        build_report(engine, *MAY, workflow="nope")


# ---------------------------------------------------------------------------- statistics


def test_binomial_tail_matches_exact_sums() -> None:
    """The log-space tail equals the exact sum of binomial terms."""
    for k, n in [(0, 5), (3, 5), (5, 5), (20, 24), (15, 40), (60, 100)]:
        exact = sum(math.comb(n, i) for i in range(k, n + 1)) / 2**n
        assert binomial_upper_tail(k, n) == pytest.approx(exact, rel=1e-12)
    assert binomial_upper_tail(6, 5) == 0.0


def test_weighted_percentile_equals_the_expanded_list() -> None:
    """Percentiles of (value, count) pairs equal linear interpolation over the full list."""
    pairs = [(0, 3), (1, 2), (4, 1), (9, 4)]
    flat = sorted(v for v, c in pairs for _ in range(c))
    for p in (0.0, 0.25, 0.5, 0.9, 1.0):
        pos = p * (len(flat) - 1)
        lo, hi = math.floor(pos), math.ceil(pos)
        expected = flat[lo] + (flat[hi] - flat[lo]) * (pos - lo)
        assert weighted_percentile(pairs, p) == pytest.approx(expected)


def test_utc_offsets_find_daylight_saving_changes_to_the_second() -> None:
    """New York changes offset at 07:00 UTC in March and 06:00 UTC in November."""
    first, changes = _utc_offsets(
        ZoneInfo("America/New_York"),
        dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
        dt.datetime(2026, 12, 31, tzinfo=dt.UTC),
    )
    assert first == -5 * 3600
    assert changes == [
        (dt.datetime(2026, 3, 8, 7, 0, tzinfo=dt.UTC), -4 * 3600),
        (dt.datetime(2026, 11, 1, 6, 0, tzinfo=dt.UTC), -5 * 3600),
    ]
    assert _utc_offsets(
        ZoneInfo("Asia/Shanghai"),
        dt.datetime(2000, 1, 1, tzinfo=dt.UTC),
        dt.datetime(2030, 1, 1, tzinfo=dt.UTC),
    ) == (8 * 3600, [])


# ---------------------------------------------------------------------------- rendering


@pytest.fixture
def may_report(sqlite_backend: Backend, workflow_file: Path) -> tuple[Any, Labels]:
    engine = open_engine(sqlite_backend, workflow_file, at(6, 10))
    try:
        build_fixture(engine)
        return build_report(engine, *MAY), Labels.from_engine(engine)
    finally:
        engine.close()


def test_markdown_follows_the_organisations_outline(may_report: tuple[Any, Labels]) -> None:
    """The Chinese report has the three parts and six sub-sections in order."""
    r, labels = may_report
    md = render(r, "md", labels=labels)
    headings = [line for line in md.splitlines() if line.startswith("#")]
    expected = [
        "一、工作开展情况与成效",
        "（一）受理概况",
        "（二）渠道分布",
        "（三）办结情况",
        "（四）处理效率",
        "（五）专项小组",
        "（六）回访与满意度",
        "二、存在的问题与不足",
        "（一）超期情况",
        "（二）风险热点",
        "（三）重复投诉",
        "三、下一步工作建议",
    ]
    positions = [next(i for i, h in enumerate(headings) if want in h) for want in expected]
    assert positions == sorted(positions)
    assert "本期共接收投诉 **6** 件" in md
    assert "办结率 **44.4%**" in md
    assert "| 热线电话 | 2 | 33.3% |" in md
    assert mask(C1) in md and C1 not in md


def test_recommendations_quote_the_figures_behind_them(may_report: tuple[Any, Labels]) -> None:
    """Each next step is triggered by a figure past its target and quotes it."""
    r, labels = may_report
    zh = recommendations(r, "zh", labels)
    assert any("按时办结率为 80.0%" in s for s in zh)  # below 95 %
    assert any("期末仍有 3 件超期未办结" in s for s in zh)
    assert any("满意率为 66.7%" in s for s in zh)
    assert any("2 位投诉人在本期重复投诉" in s for s in zh)
    assert not any("回访覆盖率" in s for s in zh)  # coverage is 100 %: nothing to say
    en = recommendations(r, "en", labels)
    assert len(en) == len(zh) and any("on-time rate was 80.0%" in s for s in en)


def test_english_markdown_on_request(may_report: tuple[Any, Labels]) -> None:
    r, labels = may_report
    md = render(r, "md", lang="en", labels=labels)
    assert "## 1. Work carried out and results" in md
    assert "## 2. Problems and shortcomings" in md and "## 3. Recommendations" in md
    assert "工作" not in md


def test_html_is_self_contained_with_inline_svg_charts(may_report: tuple[Any, Labels]) -> None:
    """Four inline SVG charts, no scripts, no external resources."""
    r, labels = may_report
    page = render(r, "html", labels=labels)
    assert page.startswith("<!DOCTYPE html>")
    assert page.count("<svg ") == 4  # channels, weekly intake, on-time by week, satisfaction
    assert "<script" not in page.lower()
    assert "src=" not in page and "href=" not in page
    assert "http" not in page.replace('xmlns="http://www.w3.org/2000/svg"', "")


def test_json_and_csv_carry_the_contract_keys(may_report: tuple[Any, Labels]) -> None:
    r, _ = may_report
    data = json.loads(render(r, "json"))
    for key in (
        "intake_total",
        "by_channel",
        "by_category",
        "completed",
        "completion_rate",
        "on_time_rate",
        "satisfaction_rate",
        "escalated",
        "overdue_open",
    ):
        assert key in data
    assert data["by_channel"]["hotline"] == 2 and data["overdue_open"] == 3
    rows = list(csv.DictReader(io.StringIO(render(r, "csv"))))
    index = {(row["metric"], row["key"]): row["value"] for row in rows}
    assert index[("intake_total", "")] == "6"
    assert index[("by_channel", "hotline")] == "2"
    assert index[("clocks", "acceptance.met")] == "4"


# ---------------------------------------------------------------------------- CLI


def test_cli_report_json_and_out_file(
    sqlite_backend: Backend, workflow_file: Path, tmp_path: Path
) -> None:
    """`casework report` prints JSON, writes --out files, and refuses bad dates in one line."""
    from casework.cli import main

    engine = open_engine(sqlite_backend, workflow_file, at(6, 10))
    try:
        build_fixture(engine)
    finally:
        engine.close()
    base = ["--db", sqlite_backend.url, "--workflows", str(workflow_file)]
    runner = CliRunner()
    res = runner.invoke(
        main, [*base, "report", "--from", "2026-05-01", "--to", "2026-05-31", "--format", "json"]
    )
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout)["intake_total"] == 6
    out = tmp_path / "r.html"
    res = runner.invoke(
        main,
        [
            *base,
            "report",
            "--from",
            "2026-05-01",
            "--to",
            "2026-05-31",
            "--format",
            "html",
            "--lang",
            "en",
            "--out",
            str(out),
        ],
    )
    assert res.exit_code == 0 and "<svg" in out.read_text(encoding="utf-8")
    res = runner.invoke(main, [*base, "report", "--from", "2026-13-01", "--to", "2026-05-31"])
    assert res.exit_code == 1
    assert res.stderr.strip().splitlines() == [
        "error: --from: '2026-13-01' is not a date (YYYY-MM-DD)"
    ]


def test_snapshot_readers_see_one_state_while_a_writer_commits(
    sqlite_backend: Backend, workflow_file: Path
) -> None:
    """The report's two reader connections share a snapshot: a commit after they start is
    invisible to both, and writers are not held back once they have started."""
    engine = open_engine(sqlite_backend, workflow_file, at(6, 10))
    try:
        engine.intake("consumer_complaint", channel="hotline", received_at=at(5, 1))
        assert engine.store.can_share_snapshot
        count = sa.select(sa.func.count()).select_from(engine.store.tables.cases)
        with engine.store.snapshot_readers(2) as readers:
            engine.intake("consumer_complaint", channel="email", received_at=at(5, 2))
            assert [r.execute(count).scalar_one() for r in readers] == [1, 1]
        assert engine.store.run(lambda conn: conn.execute(count).scalar_one(), read=True) == 2
    finally:
        engine.close()


def test_report_reads_beside_a_long_write(sqlite_backend: Backend, workflow_file: Path) -> None:
    """A writer holding the lock: the report does not wait for it (nor fail); it reads from
    one connection, the figures as they were committed."""
    engine = open_engine(sqlite_backend, workflow_file, at(6, 10))
    try:
        build_fixture(engine)
        expected = build_report(engine, *MAY).to_json()
        writer = sqlite3.connect(sqlite_backend.url.removeprefix("sqlite:///"), timeout=0)
        try:
            writer.isolation_level = None
            writer.execute("BEGIN IMMEDIATE")
            writer.execute("UPDATE cases SET summary = 'in progress'")
            report = build_report(engine, *MAY).to_json()
        finally:
            writer.execute("ROLLBACK")
            writer.close()
    finally:
        engine.close()
    for r in (expected, report):
        r["period"].pop("generated_at")
    assert report == expected
