"""``casework demo``: a quarter of a realistic complaint desk, simulated on the real engine.

Complaints arrive from every channel (fewer at weekends and on holidays), clerks accept or
reject them, agents investigate and handle them with realistic delays, complex ones go to the
special task group, some deadlines are missed, and follow-up visits come back with mixed
outcomes — the dissatisfied are reopened. Time is a :class:`FrozenClock` moved from event to
event; the APScheduler adapter's ``tick`` runs whenever a deadline or visit falls due, exactly as
a worker would. Everything is seeded: the same ``seed`` gives the same database and report.
"""

from __future__ import annotations

import datetime as dt
import heapq
import itertools
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from casework.clock import FrozenClock
from casework.engine import Engine
from casework.errors import CommandRejected
from casework.hooks import FollowUpDue, HookRegistry
from casework.records import Actor

SHANGHAI = dt.timezone(dt.timedelta(hours=8))
QUARTER_START = dt.date(2026, 7, 1)
QUARTER_DAYS = 92

CHANNELS = [
    ("hotline", 0.38),
    ("website", 0.27),
    ("third_party", 0.18),
    ("email", 0.09),
    ("offline", 0.08),
]
CATEGORIES = [
    ("after_sales", 0.38),
    ("product_quality_safety", 0.27),
    ("contract_disclosure", 0.22),
    ("other", 0.13),
]
MERCHANTS = [
    "华联电器",
    "优品家居",
    "速达快递",
    "乐活健身",
    "星辰教育",
    "安心保险代理",
    "鲜果到家",
    "明月旅行社",
    "极客数码",
    "好邻居超市",
    "云端通信",
    "美好装修",
]
PRODUCTS = {
    "after_sales": ["洗衣机维修", "空调安装", "手机保修", "家具退换"],
    "product_quality_safety": ["电动车电池", "儿童玩具", "食品变质", "电暖器"],
    "contract_disclosure": ["预付卡", "健身会员", "培训课程", "装修合同"],
    "other": ["快递延误", "宽带资费", "旅游行程", "停车收费"],
}
REMEDIES = ["退款", "更换", "维修", "赔偿", "道歉并说明"]

CLERK = Actor("demo.clerk", {"clerk"})
AGENT = Actor("demo.agent", {"agent"})
SUPERVISOR = Actor("demo.supervisor", {"supervisor"})
SENIOR = Actor("demo.senior", {"senior"})
TASK_GROUP = Actor("demo.taskgroup", {"task_group"})
CALLER = Actor("demo.callcentre", {"agent"})


@dataclass
class DemoResult:
    """What the simulation did (the report is computed from the database, not from this)."""

    cases: int = 0
    steps: int = 0
    refused: int = 0
    deadline_steps: int = 0
    visits: int = 0
    start: dt.date = QUARTER_START
    end: dt.date = QUARTER_START
    counts: dict[str, int] = field(default_factory=dict)


def _pick(rng: random.Random, weighted: list[tuple[str, float]]) -> str:
    return rng.choices([k for k, _ in weighted], weights=[w for _, w in weighted])[0]


class _Sim:
    def __init__(self, engine: Engine, clock: FrozenClock, rng: random.Random) -> None:
        self.engine = engine
        self.clock = clock
        self.rng = rng
        self.queue: list[tuple[dt.datetime, int, Callable[[], None]]] = []
        self.seq = itertools.count()
        self.result = DemoResult()
        self.due_visits: list[FollowUpDue] = []
        self.cal = engine.calendars.get("cn")

    def at(self, when: dt.datetime, action: Callable[[], None]) -> None:
        heapq.heappush(self.queue, (when, next(self.seq), action))

    def later(self, hours: float, action: Callable[[], None]) -> None:
        when = self.clock.now() + dt.timedelta(hours=hours)
        # People work office hours: push anything that lands at night to the next morning.
        local = when.astimezone(SHANGHAI)
        if local.hour < 9 or local.hour >= 18 or not self.cal.is_working_day(local.date()):
            day = local.date() if local.hour < 9 else local.date() + dt.timedelta(days=1)
            while not self.cal.is_working_day(day):
                day += dt.timedelta(days=1)
            minutes = self.rng.randint(0, 8 * 60)
            when = dt.datetime.combine(day, dt.time(9), tzinfo=SHANGHAI) + dt.timedelta(
                minutes=minutes
            )
        self.at(when, action)

    def fire(self, case_id: int, trigger: str, actor: Actor, **data: Any) -> bool:
        try:
            self.engine.fire(case_id, trigger, actor, data=data)
        except CommandRejected:
            self.result.refused += 1
            return False
        self.result.steps += 1
        self.result.counts[trigger] = self.result.counts.get(trigger, 0) + 1
        return True

    # ---------------------------------------------------------------- arrivals

    def schedule_arrivals(self, n_cases: int) -> None:
        days = [QUARTER_START + dt.timedelta(days=i) for i in range(QUARTER_DAYS)]
        weights = [1.0 if self.cal.is_working_day(d) else 0.45 for d in days]
        # A merchant whose complaints surge in the last month: a risk hot spot to find.
        for _ in range(n_cases):
            day = self.rng.choices(days, weights=weights)[0]
            minute = int(self.rng.triangular(7 * 60, 22 * 60, 11 * 60))
            when = dt.datetime.combine(day, dt.time(0), tzinfo=SHANGHAI) + dt.timedelta(
                minutes=minute
            )
            self.at(when, self.arrive)

    def arrive(self) -> None:
        rng = self.rng
        now = self.clock.now()
        category = _pick(rng, CATEGORIES)
        merchant = rng.choice(MERCHANTS)
        late_quarter = now.astimezone(SHANGHAI).date() >= QUARTER_START + dt.timedelta(days=60)
        if late_quarter and rng.random() < 0.12:
            merchant, category = "乐活健身", "contract_disclosure"  # 健身房跑路 surge
        repeat = rng.random() < 0.04
        contact = f"139{rng.randint(0, 40 if repeat else 99_999_999):08d}"
        case = self.engine.intake(
            "consumer_complaint",
            channel=_pick(rng, CHANNELS),
            external_id=f"D{self.result.cases + 1:06d}",
            category=category,
            summary=f"{merchant}：{rng.choice(PRODUCTS[category])}纠纷",
            respondent=merchant,
            product=rng.choice(PRODUCTS[category]),
            amount=round(rng.lognormvariate(6.5, 1.1), 2),
            remedy=rng.choice(REMEDIES),
            complainant={"name": f"消费者{rng.randint(1, 9999)}", "contact": contact},
            department=rng.choice(["一科", "二科", "三科"]),
        )
        self.result.cases += 1
        # Most are decided within a few working days; a few sit too long (acceptance breach).
        delay = rng.lognormvariate(3.0, 0.9) if rng.random() < 0.93 else rng.uniform(200, 400)
        self.later(delay, lambda: self.decide(case.id))

    # ---------------------------------------------------------------- handling

    def decide(self, case_id: int) -> None:
        r = self.rng.random()
        if r < 0.07:
            self.fire(case_id, "reject", CLERK, reason="不属于本部门管辖或超过时效")
        elif r < 0.10:
            self.fire(case_id, "transfer", CLERK, reason="移送相关行政机关")
        elif r < 0.12:
            self.fire(case_id, "withdraw", CLERK, reason="消费者撤回")
        elif self.fire(case_id, "accept", CLERK):
            self.later(self.rng.uniform(2, 40), lambda: self.investigate(case_id))

    def investigate(self, case_id: int) -> None:
        if self.fire(case_id, "investigate", AGENT):
            complex_case = self.rng.random() < 0.08
            self.later(self.rng.uniform(8, 120), lambda: self.handle(case_id, complex_case))

    def handle(self, case_id: int, complex_case: bool) -> None:
        if complex_case:
            if self.fire(
                case_id,
                "escalate",
                AGENT,
                reason=self.rng.choice(["群体性投诉", "涉及产品安全", "金额重大", "跨区域经营者"]),
            ):
                self.later(self.rng.uniform(60, 300), lambda: self.resolve(case_id))
            return
        if not self.fire(case_id, "handle", AGENT):
            return
        hours = self.rng.lognormvariate(4.6, 0.8)  # mediation: days to weeks
        if hours > 500 and self.rng.random() < 0.5:
            self.later(hours * 0.6, lambda: self.extend(case_id))
        self.later(hours, lambda: self.respond(case_id))

    def extend(self, case_id: int) -> None:
        try:
            self.engine.extend(case_id, "handling", SUPERVISOR, reason="需要补充鉴定材料")
            self.result.steps += 1
        except CommandRejected:
            self.result.refused += 1

    def respond(self, case_id: int) -> None:
        self.fire(case_id, "respond", AGENT)

    def resolve(self, case_id: int) -> None:
        self.fire(case_id, "resolve", TASK_GROUP)

    # ---------------------------------------------------------------- follow-ups

    def visit(self, payload: FollowUpDue) -> None:
        case_id = payload.case_id
        r = self.rng.random()
        outcome = (
            "satisfied"
            if r < 0.66
            else "basically_satisfied"
            if r < 0.82
            else "dissatisfied"
            if r < 0.90
            else "unreachable"
        )
        score = {"satisfied": 5, "basically_satisfied": 4, "dissatisfied": 2}.get(outcome)
        try:
            self.engine.record_followup(case_id, outcome, CALLER, score=score)
        except CommandRejected:
            self.result.refused += 1
            return
        self.result.visits += 1
        if outcome in ("satisfied", "basically_satisfied"):
            self.later(self.rng.uniform(2, 30), lambda: self.archive(case_id))
        elif outcome == "dissatisfied" and self.engine.get(case_id).state == "handling":
            self.later(self.rng.uniform(24, 200), lambda: self.respond(case_id))

    def archive(self, case_id: int) -> None:
        self.fire(case_id, "archive", SUPERVISOR)


def run_demo(
    engine: Engine,
    clock: FrozenClock,
    *,
    seed: int = 7,
    cases: int = 3000,
    progress: Callable[[int, int], None] | None = None,
) -> DemoResult:
    """Simulate a quarter on ``engine`` (whose clock must be ``clock``).

    ``progress(done, total)`` is called as simulated days pass. Deterministic for a seed.
    """
    from casework.scheduling import CaseworkScheduler

    rng = random.Random(seed)
    sim = _Sim(engine, clock, rng)
    engine.hooks.register("followup.due", sim.due_visits.append)
    adapter = CaseworkScheduler(engine)  # ticked by hand on simulated time, never started
    clock.set(dt.datetime.combine(QUARTER_START, dt.time(0), tzinfo=SHANGHAI))
    sim.schedule_arrivals(cases)
    end = dt.datetime.combine(
        QUARTER_START + dt.timedelta(days=QUARTER_DAYS), dt.time(0), tzinfo=SHANGHAI
    )
    last_day = -1
    # Like the adapter's wake-up job: know the earliest due row without asking the database
    # before every event — re-read after each tick, lowered when a command writes an earlier row.
    next_due: list[dt.datetime | None] = [engine.next_due_at()]

    def earlier(fire_at: dt.datetime) -> None:
        if next_due[0] is None or fire_at < next_due[0]:
            next_due[0] = fire_at

    engine.clocks.on_new_fire_at(earlier)
    while sim.queue and sim.queue[0][0] < end:
        when, _, action = heapq.heappop(sim.queue)
        while (due := next_due[0]) is not None and due <= when:
            clock.set(max(due, clock.now()))
            report = adapter.tick()
            sim.result.deadline_steps += report.steps
            next_due[0] = engine.next_due_at()
            visits, sim.due_visits[:] = list(sim.due_visits), []
            for payload in visits:
                sim.visit(payload)
            if next_due[0] is not None and next_due[0] <= clock.now():
                break
        clock.set(max(when, clock.now()))
        action()
        day = (when.astimezone(SHANGHAI).date() - QUARTER_START).days
        if progress is not None and day != last_day:
            last_day = day
            progress(min(day + 1, QUARTER_DAYS), QUARTER_DAYS)
    clock.set(end)
    sim.result.deadline_steps += adapter.tick().steps
    sim.result.start = QUARTER_START
    sim.result.end = QUARTER_START + dt.timedelta(days=QUARTER_DAYS - 1)
    return sim.result


def open_demo_engine(db_url: str, workflows: str | Path, clock: FrozenClock) -> Engine:
    """The demo's engine: SQLite in WAL with ``synchronous=NORMAL`` (durable across a process
    crash; the simulation does not need power-loss durability) and a demo hook registry."""
    from casework.store import create_sa_engine

    sa_url = db_url
    if sa_url.startswith("sqlite:///"):
        Path(sa_url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    bind = create_sa_engine(sa_url, synchronous="NORMAL") if sa_url.startswith("sqlite") else sa_url
    return Engine.open(bind, workflows=workflows, clock=clock, hooks=HookRegistry())
