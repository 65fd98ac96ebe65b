"""Render a :class:`~casework.reporting.Report`: Markdown (Chinese or English), self-contained
HTML with inline SVG charts, JSON and CSV.

Markdown and HTML share one outline that follows the organisation's annual report:
一、工作开展情况与成效 (intake, channels, completion, efficiency, task group, follow-up),
二、存在的问题与不足 (overdue cases, risk hot spots, repeat complaints), 三、下一步工作建议.
Every recommendation is derived from a figure and quotes it (:func:`recommendations`); a
recommendation whose threshold is not crossed is not made.
"""

from __future__ import annotations

import csv
import html
import io
import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal

import attrs

from casework.reporting import Report

if TYPE_CHECKING:
    from casework.engine import Engine

__all__ = ["FORMATS", "Labels", "recommendations", "render"]

Lang = Literal["zh", "en"]
FORMATS = ("md", "html", "json", "csv")

# Thresholds behind the recommendations (the organisation's targets; fractions).
TARGETS = {
    "on_time_rate": 0.95,
    "completion_rate": 0.80,
    "satisfaction_rate": 0.90,
    "coverage": 1.0,
    "unreachable_rate": 0.10,
    "rehandle_rate": 0.10,
    "escalation_share": 0.10,
    "intake_rise": 0.20,
}

_CHANNELS = {
    "hotline": ("热线电话", "Hotline"),
    "website": ("网站", "Website"),
    "email": ("电子邮件", "E-mail"),
    "offline": ("线下服务点", "Offline service points"),
    "third_party": ("第三方平台", "Third-party platforms"),
}
_CATEGORIES = {
    "product_quality_safety": ("产品质量安全", "Product quality and safety"),
    "contract_disclosure": ("合同条款与信息披露", "Contract terms and disclosure"),
    "after_sales": ("售后服务", "After-sales service"),
    "other": ("其他", "Other"),
}
_STATES = {
    "archived": ("已归档", "Archived"),
    "rejected": ("不予受理", "Not accepted"),
    "withdrawn": ("已撤回", "Withdrawn"),
    "transferred": ("已移送", "Transferred"),
}
_CLOCKS = {
    "acceptance": ("受理时限", "Acceptance"),
    "handling": ("办理时限", "Handling"),
    "task_group": ("专项小组时限", "Task group"),
    "resolution": ("处理时限（导入）", "Resolution (imported)"),
}
_KINDS = {
    "category": ("投诉类别", "Category"),
    "respondent": ("被投诉经营者", "Respondent"),
    "product": ("商品或服务", "Product"),
}
_UNSET = ("未填写", "Not given")


@attrs.frozen
class Labels:
    """Display names for channels, categories, states and clocks, by language. Built from
    the loaded workflows with :meth:`from_engine`; built-in names fill the gaps."""

    names: Mapping[str, Mapping[str, tuple[str, str]]] = attrs.field(factory=dict)

    @classmethod
    def from_engine(cls, engine: Engine) -> Labels:
        states: dict[str, tuple[str, str]] = {}
        clocks: dict[str, tuple[str, str]] = {}
        for spec in engine.workflows.all():
            for name, st in spec.states.items():
                if st.label.zh or st.label.en:
                    states[name] = (st.label.zh or name, st.label.en or name)
            for ck in spec.clocks:
                if ck.label.zh or ck.label.en:
                    clocks[ck.name] = (ck.label.zh or ck.name, ck.label.en or ck.name)
            for f in spec.followups:
                clocks[f"followup:{f.name}"] = (
                    f"回访时限（{f.name}）",
                    f"Follow-up visit ({f.name})",
                )
        return cls({"state": states, "clock": clocks})

    def get(self, kind: str, key: str, lang: Lang) -> str:
        if key == "(none)":
            return _UNSET[lang == "en"]
        builtin = {
            "channel": _CHANNELS,
            "category": _CATEGORIES,
            "state": _STATES,
            "clock": _CLOCKS,
            "kind": _KINDS,
        }.get(kind, {})
        pair = self.names.get(kind, {}).get(key) or builtin.get(key)
        return pair[lang == "en"] if pair else key


# ---------------------------------------------------------------------------- formatting


def _pct(v: float | None, lang: Lang = "zh") -> str:
    if v is None:
        return "—"
    return f"{v * 100:.1f}%"


def _num(v: float | int | None) -> str:
    if v is None:
        return "—"
    if isinstance(v, int):
        return f"{v:,}"
    return f"{v:,.2f}".rstrip("0").rstrip(".")


def _p(p: float) -> str:
    """A p-value for people: ``= 0.0031``, ``< 1e-12``."""
    return "< 1e-12" if p < 1e-12 else f"= {p:.2g}"


def _share(part: int, whole: int) -> str:
    return _pct(part / whole) if whole else "—"


def _change(current: int, previous: int, lang: Lang) -> str:
    """'较上期增加 12 件（+8.0%）' / 'up 12 (+8.0%) on the previous period'."""
    delta = current - previous
    rel = f"{delta / previous * 100:+.1f}%" if previous else None
    if lang == "zh":
        if delta == 0:
            return "与上期持平"
        word = "增加" if delta > 0 else "减少"
        return f"较上期（{_num(previous)} 件）{word} {_num(abs(delta))} 件" + (
            f"（{rel}）" if rel else ""
        )
    if delta == 0:
        return "unchanged from the previous period"
    word = "up" if delta > 0 else "down"
    return f"{word} {_num(abs(delta))} on the previous period ({_num(previous)})" + (
        f", {rel}" if rel else ""
    )


def _pp(current: float | None, previous: float | None, lang: Lang) -> str:
    if current is None or previous is None:
        return ""
    d = (current - previous) * 100
    if lang == "zh":
        return f"（上期 {_pct(previous)}，{'+' if d >= 0 else ''}{d:.1f} 个百分点）"
    return f" (previous period {_pct(previous)}, {'+' if d >= 0 else ''}{d:.1f} points)"


# ---------------------------------------------------------------------------- the outline


@attrs.frozen
class _Heading:
    level: int
    text: str


@attrs.frozen
class _Para:
    text: str


@attrs.frozen
class _Table:
    headers: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]


@attrs.frozen
class _List:
    items: tuple[str, ...]
    ordered: bool = True


@attrs.frozen
class _Chart:
    svg: str
    caption: str


Block = _Heading | _Para | _Table | _List | _Chart


def _t(lang: Lang, zh: str, en: str) -> str:
    return zh if lang == "zh" else en


def recommendations(report: Report, lang: Lang = "zh", labels: Labels | None = None) -> list[str]:
    """Next steps derived from the figures: each one is made only when its figure crosses
    the threshold in :data:`TARGETS`, and quotes that figure."""
    lab = labels or Labels()
    out: list[str] = []
    r = report
    judged = [c for c in r.handling_clocks if c.judged]
    if r.on_time_rate is not None and r.on_time_rate < TARGETS["on_time_rate"] and judged:
        worst = min(judged, key=lambda c: (c.on_time_rate or 0.0, c.clock))
        name = lab.get("clock", worst.clock, lang)
        out.append(
            _t(
                lang,
                f"按时办结率为 {_pct(r.on_time_rate)}，低于 {_pct(TARGETS['on_time_rate'])} 的目标；"
                f"其中「{name}」按时率最低（{_pct(worst.on_time_rate)}，超时 "
                f"{worst.late + worst.overdue_running} 件），建议对该环节实行节点预警和逐件督办。",
                f"The on-time rate was {_pct(r.on_time_rate)}, below the "
                f"{_pct(TARGETS['on_time_rate'])} target; '{name}' fared worst "
                f"({_pct(worst.on_time_rate)}, {worst.late + worst.overdue_running} late): add "
                f"early warnings and case-by-case supervision at that step.",
            )
        )
    if r.overdue_open:
        out.append(
            _t(
                lang,
                f"期末仍有 {_num(r.overdue_open)} 件超期未办结（占未办结 {_num(r.open_at_end)} 件的 "
                f"{_share(r.overdue_open, r.open_at_end)}），建议逐件明确责任人和办结时限，限期清零。",
                f"{_num(r.overdue_open)} open cases were overdue at period end "
                f"({_share(r.overdue_open, r.open_at_end)} of {_num(r.open_at_end)} open): assign an "
                f"owner and a closing date to each and clear the backlog.",
            )
        )
    if r.completion_rate is not None and r.completion_rate < TARGETS["completion_rate"]:
        out.append(
            _t(
                lang,
                f"办结率为 {_pct(r.completion_rate)}（办结 {_num(r.completed)} 件 / 工作量 "
                f"{_num(r.workload)} 件），低于 {_pct(TARGETS['completion_rate'])}，建议加强积案清理。",
                f"The completion rate was {_pct(r.completion_rate)} ({_num(r.completed)} of a "
                f"workload of {_num(r.workload)}), below {_pct(TARGETS['completion_rate'])}: "
                f"work down the backlog.",
            )
        )
    for h in r.hotspots[:3]:
        kind = lab.get("kind", h.kind, lang)
        value = lab.get("category", h.value, lang) if h.kind == "category" else h.value
        rise = (
            _t(
                lang,
                f"为上期（{h.previous} 件）的 {h.ratio} 倍",
                f"{h.ratio}x the previous period's {h.previous}",
            )
            if h.previous
            else _t(lang, "上期为 0 件", "none in the previous period")
        )
        out.append(
            _t(
                lang,
                f"{kind}「{value}」本期投诉 {_num(h.count)} 件，{rise}（p {_p(h.p_value)}），"
                f"建议开展专项排查，必要时约谈经营者并发布消费提示。",
                f"{kind} '{value}': {_num(h.count)} complaints, {rise} (p {_p(h.p_value)}); "
                f"investigate, meet the business if needed and publish a consumer warning.",
            )
        )
    if r.repeat_complainant_count:
        most = max((x.cases for x in r.repeat_complainants), default=0)
        out.append(
            _t(
                lang,
                f"{r.repeat_complainant_count} 位投诉人在本期重复投诉（最多 {most} 件），"
                f"建议指定专人跟踪，查明未解决的原因。",
                f"{r.repeat_complainant_count} complainants filed more than once (up to {most} "
                f"cases): give each a named handler and find out why the first answer did not "
                f"settle it.",
            )
        )
    f = r.followup
    if f.satisfaction_rate is not None and f.satisfaction_rate < TARGETS["satisfaction_rate"]:
        out.append(
            _t(
                lang,
                f"满意率为 {_pct(f.satisfaction_rate)}（不满意 {f.dissatisfied} 件），低于 "
                f"{_pct(TARGETS['satisfaction_rate'])}，建议对不满意件逐件复核处理结果。",
                f"Satisfaction was {_pct(f.satisfaction_rate)} ({f.dissatisfied} dissatisfied), "
                f"below {_pct(TARGETS['satisfaction_rate'])}: review each dissatisfied case.",
            )
        )
    if f.coverage is not None and f.coverage < TARGETS["coverage"]:
        out.append(
            _t(
                lang,
                f"回访覆盖率为 {_pct(f.coverage)}（{f.visited}/{f.reached_feedback}），"
                f"建议补齐未回访案件，做到件件有回音。",
                f"Follow-up coverage was {_pct(f.coverage)} ({f.visited} of "
                f"{f.reached_feedback}): complete the missing visits.",
            )
        )
    if f.unreachable_rate is not None and f.unreachable_rate > TARGETS["unreachable_rate"]:
        out.append(
            _t(
                lang,
                f"回访联系不上率为 {_pct(f.unreachable_rate)}（{f.unreachable} 件），"
                f"建议受理时核实联系方式并增加短信、邮件等回访渠道。",
                f"{_pct(f.unreachable_rate)} of visits could not reach the consumer "
                f"({f.unreachable}): verify contacts at intake and add SMS/e-mail follow-ups.",
            )
        )
    if f.rehandle_rate is not None and f.rehandle_rate > TARGETS["rehandle_rate"]:
        out.append(
            _t(
                lang,
                f"重新处理率为 {_pct(f.rehandle_rate)}（{f.rehandled} 件），建议加强答复前的质量把关。",
                f"The re-handling rate was {_pct(f.rehandle_rate)} ({f.rehandled}): check answers "
                f"before they go out.",
            )
        )
    if r.intake_total and r.escalated / r.intake_total > TARGETS["escalation_share"]:
        top = r.escalation_reasons[0][0] if r.escalation_reasons else "—"
        out.append(
            _t(
                lang,
                f"升级至专项小组 {r.escalated} 次，占本期接收量的 "
                f"{_share(r.escalated, r.intake_total)}（首要原因：{top}），建议前移疑难件研判。",
                f"{r.escalated} escalations to the task group, {_share(r.escalated, r.intake_total)}"
                f" of intake (first reason: {top}): triage difficult cases earlier.",
            )
        )
    p = r.previous
    if (
        p.intake_total
        and (r.intake_total - p.intake_total) / p.intake_total > TARGETS["intake_rise"]
    ):
        out.append(
            _t(
                lang,
                f"本期投诉量 {_num(r.intake_total)} 件，较上期增长 "
                f"{(r.intake_total - p.intake_total) / p.intake_total * 100:.1f}%，"
                f"建议相应调配受理和办理力量。",
                f"Intake rose {(r.intake_total - p.intake_total) / p.intake_total * 100:.1f}% to "
                f"{_num(r.intake_total)}: adjust intake and handling capacity.",
            )
        )
    if not out:
        out.append(
            _t(
                lang,
                f"本期各项指标均达到目标（按时率 {_pct(r.on_time_rate)}，办结率 "
                f"{_pct(r.completion_rate)}，满意率 {_pct(r.satisfaction_rate)}），"
                f"建议保持现有工作机制。",
                f"Every figure met its target (on time {_pct(r.on_time_rate)}, completion "
                f"{_pct(r.completion_rate)}, satisfaction {_pct(r.satisfaction_rate)}): keep the "
                f"current arrangements.",
            )
        )
    return out


def _outline(r: Report, lang: Lang, lab: Labels, charts: bool) -> list[Block]:
    T = _translator(lang)
    b: list[Block] = []
    scope = []
    if r.workflow:
        scope.append(T(f"工作流 {r.workflow}", f"workflow {r.workflow}"))
    if r.department:
        scope.append(T(f"部门 {r.department}", f"department {r.department}"))
    b.append(
        _Heading(
            1,
            T(
                f"消费投诉处理工作报告（{r.start.isoformat()} 至 {r.end.isoformat()}）",
                f"Consumer complaint handling report, {r.start.isoformat()} to {r.end.isoformat()}",
            ),
        )
    )
    b.append(
        _Para(
            T(
                f"统计范围：{'、'.join(scope) or '全部投诉'}；时区 {r.timezone}；统计期 {r.days} 天，"
                f"上期为 {r.previous.start.isoformat()} 至 {r.previous.end.isoformat()}；"
                f"数据截至 {r.as_of.isoformat()}。",
                f"Scope: {', '.join(scope) or 'all complaints'}; time zone {r.timezone}; {r.days} days, "
                f"compared with {r.previous.start.isoformat()} to {r.previous.end.isoformat()}; data as "
                f"of {r.as_of.isoformat()}.",
            )
        )
    )

    # 一、工作开展情况与成效
    b.append(_Heading(2, T("一、工作开展情况与成效", "1. Work carried out and results")))
    b.append(_Heading(3, T("（一）受理概况", "(1) Intake")))
    b.append(
        _Para(
            T(
                f"本期共接收投诉 **{_num(r.intake_total)}** 件，{_change(r.intake_total, r.previous.intake_total, lang)}。"
                f"其中已受理 {_num(r.accepted)} 件，不予受理 {_num(r.not_accepted)} 件"
                f"（受理率 {_pct(r.acceptance_rate)}）。",
                f"**{_num(r.intake_total)}** complaints were received, "
                f"{_change(r.intake_total, r.previous.intake_total, lang)}. {_num(r.accepted)} were "
                f"accepted and {_num(r.not_accepted)} not accepted (acceptance rate "
                f"{_pct(r.acceptance_rate)}).",
            )
        )
    )
    if r.by_category:
        b.append(
            _Table(
                (T("投诉类别", "Category"), T("件数", "Cases"), T("占比", "Share")),
                tuple(
                    (lab.get("category", k, lang), _num(n), _share(n, r.intake_total))
                    for k, n in r.by_category
                ),
            )
        )
    b.append(_Heading(3, T("（二）渠道分布", "(2) Channels")))
    if r.by_channel:
        b.append(
            _Table(
                (T("渠道", "Channel"), T("件数", "Cases"), T("占比", "Share")),
                tuple(
                    (lab.get("channel", k, lang), _num(n), _share(n, r.intake_total))
                    for k, n in r.by_channel
                ),
            )
        )
        if charts:
            b.append(
                _Chart(
                    bar_chart([(lab.get("channel", k, lang), n) for k, n in r.by_channel]),
                    T("渠道分布", "Intake by channel"),
                )
            )
            b.append(
                _Chart(
                    line_chart([(w.start.strftime("%m-%d"), w.intake) for w in r.weeks]),
                    T("每周接收量", "Weekly intake"),
                )
            )
    else:
        b.append(_Para(T("本期未接收投诉。", "No complaints were received.")))

    b.append(_Heading(3, T("（三）办结情况", "(3) Completion")))
    b.append(
        _Para(
            T(
                f"本期办结 **{_num(r.completed)}** 件（上期结转 {_num(r.open_at_start)} 件、本期接收 "
                f"{_num(r.intake_total)} 件），办结率 **{_pct(r.completion_rate)}**"
                f"{_pp(r.completion_rate, r.previous.completion_rate, lang)}；本期接收的投诉中已办结 "
                f"{_num(r.intake_completed)} 件（{_pct(r.intake_completion_rate)}）。",
                f"**{_num(r.completed)}** cases were completed (carried over {_num(r.open_at_start)}, "
                f"received {_num(r.intake_total)}): completion rate **{_pct(r.completion_rate)}**"
                f"{_pp(r.completion_rate, r.previous.completion_rate, lang)}. Of this period's intake, "
                f"{_num(r.intake_completed)} ({_pct(r.intake_completion_rate)}) are already completed.",
            )
        )
    )
    if r.completed_by_state:
        b.append(
            _Table(
                (T("办结方式", "Outcome"), T("件数", "Cases"), T("占比", "Share")),
                tuple(
                    (lab.get("state", k, lang), _num(n), _share(n, r.completed))
                    for k, n in r.completed_by_state
                ),
            )
        )

    b.append(_Heading(3, T("（四）处理效率", "(4) Efficiency")))
    h = r.handling
    b.append(
        _Para(
            T(
                f"按时率 **{_pct(r.on_time_rate)}**{_pp(r.on_time_rate, r.previous.on_time_rate, lang)}。"
                f"已办结案件平均处理时长 {_num(h.mean_hours)} 小时（{_num(h.mean_working_days)} 个工作日），"
                f"中位数 {_num(h.median_hours)} 小时（{_num(h.median_working_days)} 个工作日），"
                f"90% 分位 {_num(h.p90_hours)} 小时（{_num(h.p90_working_days)} 个工作日）。",
                f"On-time rate **{_pct(r.on_time_rate)}**"
                f"{_pp(r.on_time_rate, r.previous.on_time_rate, lang)}. Completed cases took "
                f"{_num(h.mean_hours)} hours on average ({_num(h.mean_working_days)} working days); "
                f"median {_num(h.median_hours)} h ({_num(h.median_working_days)} wd), 90th percentile "
                f"{_num(h.p90_hours)} h ({_num(h.p90_working_days)} wd).",
            )
        )
    )
    if r.clocks:
        b.append(
            _Table(
                (
                    T("时限", "Clock"),
                    T("按时", "Met"),
                    T("超时办结", "Late"),
                    T("超期未办", "Overdue, open"),
                    T("按时率", "On time"),
                ),
                tuple(
                    (
                        lab.get("clock", c.clock, lang),
                        _num(c.met),
                        _num(c.late),
                        _num(c.overdue_running),
                        _pct(c.on_time_rate),
                    )
                    for c in r.clocks
                ),
            )
        )
        if charts and any(w.met + w.late for w in r.weeks):
            b.append(
                _Chart(
                    line_chart(
                        [(w.start.strftime("%m-%d"), w.on_time_rate) for w in r.weeks], percent=True
                    ),
                    T("每周按时率", "On-time rate by week"),
                )
            )

    b.append(_Heading(3, T("（五）专项小组", "(5) Special task group")))
    b.append(
        _Para(
            T(
                f"复杂疑难案件升级至专项小组 {_num(r.escalated)} 次，涉及 {_num(r.escalated_cases)} 件"
                f"（上期 {_num(r.previous.escalated)} 次）；批准延期 {_num(r.extensions)} 次。",
                f"{_num(r.escalated)} escalations to the special task group, covering "
                f"{_num(r.escalated_cases)} cases (previous period {_num(r.previous.escalated)}); "
                f"{_num(r.extensions)} extensions granted.",
            )
        )
    )
    if r.escalation_reasons:
        b.append(
            _Table(
                (T("升级原因", "Reason"), T("次数", "Times")),
                tuple((k, _num(n)) for k, n in r.escalation_reasons[:10]),
            )
        )
    if r.extensions_by_clock:
        b.append(
            _Table(
                (T("延期时限", "Extended clock"), T("次数", "Times")),
                tuple((lab.get("clock", k, lang), _num(n)) for k, n in r.extensions_by_clock),
            )
        )

    b.append(_Heading(3, T("（六）回访与满意度", "(6) Follow-up and satisfaction")))
    f = r.followup
    b.append(
        _Para(
            T(
                f"本期答复 {_num(f.reached_feedback)} 件，已回访 {_num(f.visited)} 件，回访覆盖率 "
                f"{_pct(f.coverage)}；本期完成回访 {_num(f.visits)} 次，满意率 **{_pct(f.satisfaction_rate)}**"
                f"{_pp(f.satisfaction_rate, r.previous.satisfaction_rate, lang)}，联系不上率 "
                f"{_pct(f.unreachable_rate)}；重新处理率 {_pct(f.rehandle_rate)}。",
                f"{_num(f.reached_feedback)} cases were answered and {_num(f.visited)} of them visited "
                f"(coverage {_pct(f.coverage)}). {_num(f.visits)} visits were completed: satisfaction "
                f"**{_pct(f.satisfaction_rate)}**{_pp(f.satisfaction_rate, r.previous.satisfaction_rate, lang)}, "
                f"unreachable {_pct(f.unreachable_rate)}; re-handled {_pct(f.rehandle_rate)}.",
            )
        )
    )
    outcomes = [
        (T("满意", "Satisfied"), f.satisfied),
        (T("基本满意", "Basically satisfied"), f.basically_satisfied),
        (T("不满意", "Dissatisfied"), f.dissatisfied),
        (T("联系不上", "Unreachable"), f.unreachable),
    ]
    if charts and any(n for _, n in outcomes):
        b.append(_Chart(bar_chart(outcomes), T("回访结果", "Follow-up outcomes")))

    # 二、存在的问题与不足
    b.append(_Heading(2, T("二、存在的问题与不足", "2. Problems and shortcomings")))
    b.append(_Heading(3, T("（一）超期情况", "(1) Overdue cases")))
    late = sum(c.late + c.overdue_running for c in r.handling_clocks)
    b.append(
        _Para(
            T(
                f"本期超时 {_num(late)} 件次；期末未办结 {_num(r.open_at_end)} 件，其中超期 "
                f"**{_num(r.overdue_open)}** 件（{_share(r.overdue_open, r.open_at_end)}，上期末 "
                f"{_num(r.previous.overdue_open)} 件）。",
                f"{_num(late)} clock verdicts were late. {_num(r.open_at_end)} cases were open at period "
                f"end, **{_num(r.overdue_open)}** of them overdue ({_share(r.overdue_open, r.open_at_end)}; "
                f"previous period end {_num(r.previous.overdue_open)}).",
            )
        )
    )
    b.append(_Heading(3, T("（二）风险热点", "(2) Risk hot spots")))
    rule = r.rule
    b.append(
        _Para(
            T(
                f"判定标准：本期件数不少于 {rule.min_count} 件、不低于上期的 {rule.min_ratio} 倍，"
                f"且单侧二项检验 p ≤ {rule.alpha}。",
                f"Rule: at least {rule.min_count} cases, at least {rule.min_ratio}x the previous "
                f"period, and a one-sided binomial test p ≤ {rule.alpha}.",
            )
        )
    )
    if r.hotspots:
        b.append(
            _Table(
                (
                    T("类型", "Kind"),
                    T("对象", "Value"),
                    T("本期", "Now"),
                    T("上期", "Before"),
                    T("倍数", "Ratio"),
                    "p",
                ),
                tuple(
                    (
                        lab.get("kind", x.kind, lang),
                        lab.get("category", x.value, lang) if x.kind == "category" else x.value,
                        _num(x.count),
                        _num(x.previous),
                        _num(x.ratio),
                        _p(x.p_value),
                    )
                    for x in r.hotspots
                ),
            )
        )
    else:
        b.append(_Para(T("本期未发现显著上升的风险热点。", "No significant rise was found.")))
    b.append(_Heading(3, T("（三）重复投诉", "(3) Repeat complaints")))
    if r.repeat_complainants:
        b.append(
            _Para(
                T(
                    f"{r.repeat_complainant_count} 位投诉人本期投诉 {rule.repeat_min} 件及以上"
                    f"（联系方式已脱敏）：",
                    f"{r.repeat_complainant_count} complainants filed {rule.repeat_min} or more cases "
                    f"(contacts masked):",
                )
            )
        )
        b.append(
            _Table(
                (T("投诉人", "Complainant"), T("件数", "Cases")),
                tuple((x.contact, _num(x.cases)) for x in r.repeat_complainants),
            )
        )
    else:
        b.append(_Para(T("本期未发现重复投诉。", "No complainant filed more than once.")))

    # 三、下一步工作建议
    b.append(_Heading(2, T("三、下一步工作建议", "3. Recommendations")))
    b.append(_List(tuple(recommendations(r, lang, lab))))

    b.append(_Heading(2, T("附：与上期对比", "Appendix: change on the previous period")))
    names = {
        "intake_total": T("接收量", "Intake"),
        "accepted": T("受理", "Accepted"),
        "not_accepted": T("不予受理", "Not accepted"),
        "completed": T("办结", "Completed"),
        "completion_rate": T("办结率", "Completion rate"),
        "on_time_rate": T("按时率", "On-time rate"),
        "satisfaction_rate": T("满意率", "Satisfaction rate"),
        "escalated": T("升级专项小组", "Escalations"),
        "open_at_end": T("期末未办结", "Open at end"),
        "overdue_open": T("期末超期", "Overdue at end"),
    }
    rows = []
    for key, ch in r.changes().items():
        rate = key.endswith("_rate")
        fmt: Callable[[Any], str] = _pct if rate else _num
        if ch["delta"] is None:
            delta = "—"
        elif rate:
            delta = f"{ch['delta'] * 100:+.1f} pp"
        else:
            delta = f"{ch['delta']:+,}" + (
                f" ({ch['relative'] * 100:+.1f}%)" if ch["relative"] is not None else ""
            )
        rows.append((names[key], fmt(ch["current"]), fmt(ch["previous"]), delta))
    b.append(
        _Table(
            (
                T("指标", "Figure"),
                T("本期", "This period"),
                T("上期", "Previous"),
                T("变化", "Change"),
            ),
            tuple(rows),
        )
    )
    return b


def _translator(lang: Lang) -> Callable[[str, str], str]:
    return lambda zh, en: _t(lang, zh, en)


# ---------------------------------------------------------------------------- SVG charts

_COLORS = ("#2f6db5", "#e07b39", "#3a9c5a", "#b8434a", "#7b5ea7", "#8c8c8c")


def bar_chart(items: Sequence[tuple[str, int]], *, width: int = 560) -> str:
    """Horizontal bars with values, as a standalone ``<svg>``."""
    row, label_w, pad = 26, 170, 8
    top = max((v for _, v in items), default=0) or 1
    height = row * len(items) + 2 * pad
    bar_w = width - label_w - 70
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" font-family="sans-serif" font-size="12">'
    ]
    for i, (label, value) in enumerate(items):
        y = pad + i * row
        w = round(bar_w * value / top, 1)
        parts.append(
            f'<text x="{label_w - 6}" y="{y + 17}" text-anchor="end">{html.escape(label)}</text>'
            f'<rect x="{label_w}" y="{y + 4}" width="{w}" height="{row - 8}" '
            f'fill="{_COLORS[i % len(_COLORS)]}"><title>{html.escape(label)}: {value}</title>'
            f"</rect>"
            f'<text x="{label_w + w + 6}" y="{y + 17}">{value:,}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)


def line_chart(
    points: Sequence[tuple[str, float | int | None]],
    *,
    percent: bool = False,
    width: int = 560,
    height: int = 220,
) -> str:
    """A line over labelled points (``None`` leaves a gap), as a standalone ``<svg>``."""
    left, right, top_pad, bottom = 48, 16, 14, 36
    values = [v for _, v in points if v is not None]
    ymax = 1.0 if percent else float(max(values, default=0) or 1)
    plot_w, plot_h = width - left - right, height - top_pad - bottom
    n = len(points)

    def x(i: int) -> float:
        return left + (plot_w * i / (n - 1) if n > 1 else plot_w / 2)

    def y(v: float) -> float:
        return top_pad + plot_h * (1 - v / ymax)

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" font-family="sans-serif" font-size="11">',
        f'<line x1="{left}" y1="{top_pad + plot_h}" x2="{width - right}" '
        f'y2="{top_pad + plot_h}" stroke="#999"/>',
        f'<line x1="{left}" y1="{top_pad}" x2="{left}" y2="{top_pad + plot_h}" stroke="#999"/>',
    ]
    for frac in (0.0, 0.5, 1.0):
        tick = ymax * frac
        label = f"{tick * 100:.0f}%" if percent else f"{tick:,.0f}"
        parts.append(
            f'<text x="{left - 4}" y="{y(tick) + 4:.1f}" text-anchor="end">{label}</text>'
            f'<line x1="{left}" y1="{y(tick):.1f}" x2="{width - right}" y2="{y(tick):.1f}" '
            f'stroke="#eee"/>'
        )
    segment: list[str] = []
    segments: list[list[str]] = []
    for i, (_, v) in enumerate(points):
        if v is None:
            if segment:
                segments.append(segment)
            segment = []
            continue
        segment.append(f"{x(i):.1f},{y(float(v)):.1f}")
    if segment:
        segments.append(segment)
    for seg in segments:
        parts.append(
            f'<polyline fill="none" stroke="{_COLORS[0]}" stroke-width="2" '
            f'points="{" ".join(seg)}"/>'
        )
    step = max(1, n // 8)
    for i, (label, v) in enumerate(points):
        if v is not None:
            shown = f"{float(v) * 100:.1f}%" if percent else f"{v:,}"
            parts.append(
                f'<circle cx="{x(i):.1f}" cy="{y(float(v)):.1f}" r="3" fill="{_COLORS[0]}">'
                f"<title>{html.escape(label)}: {shown}</title></circle>"
            )
        if i % step == 0 or i == n - 1:
            parts.append(
                f'<text x="{x(i):.1f}" y="{height - bottom + 16}" text-anchor="middle">'
                f"{html.escape(label)}</text>"
            )
    parts.append("</svg>")
    return "".join(parts)


# ---------------------------------------------------------------------------- writers


def _md_cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def to_markdown(blocks: Iterable[Block]) -> str:
    out: list[str] = []
    for b in blocks:
        if isinstance(b, _Heading):
            out.append(f"{'#' * b.level} {b.text}\n")
        elif isinstance(b, _Para):
            out.append(b.text + "\n")
        elif isinstance(b, _Table):
            out.append("| " + " | ".join(_md_cell(h) for h in b.headers) + " |")
            out.append(
                "|" + "|".join("---" if i == 0 else "---:" for i in range(len(b.headers))) + "|"
            )
            out.extend("| " + " | ".join(_md_cell(c) for c in row) + " |" for row in b.rows)
            out.append("")
        elif isinstance(b, _List):
            out.extend(
                f"{i}. {item}" if b.ordered else f"- {item}" for i, item in enumerate(b.items, 1)
            )
            out.append("")
    return "\n".join(out).rstrip() + "\n"


def _inline(text: str) -> str:
    """Escape, then turn ``**bold**`` into ``<strong>``."""
    parts = html.escape(text).split("**")
    return "".join(f"<strong>{p}</strong>" if i % 2 else p for i, p in enumerate(parts))


_CSS = """
body{font-family:-apple-system,"PingFang SC","Microsoft YaHei","Noto Sans CJK SC",sans-serif;
max-width:880px;margin:2em auto;padding:0 1em;color:#222;line-height:1.6}
h1{font-size:1.5em;border-bottom:2px solid #2f6db5;padding-bottom:.3em}
h2{font-size:1.25em;margin-top:1.6em;color:#2f6db5}h3{font-size:1.05em;margin-top:1.2em}
table{border-collapse:collapse;margin:.6em 0 1em}th,td{border:1px solid #ccc;padding:.25em .7em}
th{background:#f3f6fa}td:not(:first-child){text-align:right}
figure{margin:1em 0}figcaption{font-size:.9em;color:#555}
"""


def to_html(blocks: Iterable[Block], title: str, lang: Lang) -> str:
    out = [
        "<!DOCTYPE html>",
        f'<html lang="{"zh-CN" if lang == "zh" else "en"}"><head><meta charset="utf-8">',
        f"<title>{html.escape(title)}</title><style>{_CSS}</style></head><body>",
    ]
    for b in blocks:
        if isinstance(b, _Heading):
            out.append(f"<h{b.level}>{_inline(b.text)}</h{b.level}>")
        elif isinstance(b, _Para):
            out.append(f"<p>{_inline(b.text)}</p>")
        elif isinstance(b, _Table):
            out.append(
                "<table><thead><tr>"
                + "".join(f"<th>{html.escape(h)}</th>" for h in b.headers)
                + "</tr></thead><tbody>"
            )
            out.extend(
                "<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>"
                for row in b.rows
            )
            out.append("</tbody></table>")
        elif isinstance(b, _List):
            tag = "ol" if b.ordered else "ul"
            out.append(
                f"<{tag}>" + "".join(f"<li>{_inline(i)}</li>" for i in b.items) + f"</{tag}>"
            )
        elif isinstance(b, _Chart):
            out.append(f"<figure>{b.svg}<figcaption>{html.escape(b.caption)}</figcaption></figure>")
    out.append("</body></html>")
    return "\n".join(out) + "\n"


def _flatten(prefix: list[str], value: Any, out: list[tuple[str, str, str]]) -> None:
    if isinstance(value, Mapping):
        for k, v in value.items():
            _flatten([*prefix, str(k)], v, out)
    elif isinstance(value, list):
        for i, v in enumerate(value):
            _flatten([*prefix, str(i)], v, out)
    else:
        text = "" if value is None else json.dumps(value) if isinstance(value, bool) else str(value)
        out.append((prefix[0], ".".join(prefix[1:]), text))


def to_csv(report: Report) -> str:
    """``metric,key,value`` rows: one per figure of the JSON form (``key`` is the path below
    the top-level figure, e.g. ``by_channel,hotline,120``)."""
    rows: list[tuple[str, str, str]] = []
    _flatten([], report.to_json(), rows)
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(("metric", "key", "value"))
    w.writerows(rows)
    return buf.getvalue()


def render(
    report: Report,
    fmt: str = "md",
    *,
    lang: Lang = "zh",
    labels: Labels | None = None,
) -> str:
    """The report as ``md``, ``html``, ``json`` or ``csv`` text (``lang`` for md/html)."""
    if fmt == "json":
        return json.dumps(report.to_json(), ensure_ascii=False, indent=2) + "\n"
    if fmt == "csv":
        return to_csv(report)
    if lang not in ("zh", "en"):
        raise ValueError(f"unknown language {lang!r}: zh or en")
    lab = labels or Labels()
    if fmt == "md":
        return to_markdown(_outline(report, lang, lab, charts=False))
    if fmt == "html":
        blocks = _outline(report, lang, lab, charts=True)
        title = blocks[0].text if isinstance(blocks[0], _Heading) else "casework report"
        return to_html(blocks, title, lang)
    raise ValueError(f"unknown format {fmt!r}: one of {', '.join(FORMATS)}")
