"""Hook registration: decorators, named hooks, installed integrations (entry points), and
payloads that survive the trip through the outbox unchanged."""

from __future__ import annotations

import datetime as dt
from importlib.metadata import EntryPoint
from typing import Any

import pytest

from casework import hooks as hk


def test_installed_integrations_register_themselves(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each entry point in group casework.integrations is called with the registry."""

    def fake_entry_points(group: str) -> list[EntryPoint]:
        assert group == "casework.integrations"
        return [EntryPoint("sms", "tests.test_hooks:_setup_sms", group)]

    monkeypatch.setattr(hk, "entry_points", fake_entry_points)
    registry = hk.HookRegistry()
    assert registry.load_entry_points() == ["sms"]
    assert registry.has_named("sms_gateway")
    for fn in registry.for_topic("deadline.breached"):
        fn("payload")
    assert _SENT == ["payload"]


_SENT: list[Any] = []


def _setup_sms(registry: hk.HookRegistry) -> None:
    registry.register("deadline.breached", _SENT.append)
    registry.register_named("sms_gateway", _SENT.append)


def test_decorator_registers_and_returns_the_function() -> None:
    registry = hk.HookRegistry()

    @registry.on("case.opened")
    def opened(payload: Any) -> None:
        pass

    assert registry.for_topic("case.opened") == (opened,)
    assert registry.topics == frozenset({"case.opened"})


@pytest.mark.parametrize(
    "payload",
    [
        hk.CaseTransitioned(
            idempotency_key="case:1:event:2",
            case_id=1,
            workflow="w",
            workflow_version=1,
            state="accepted",
            occurred_at=dt.datetime(2026, 5, 6, 1, tzinfo=dt.UTC),
            trigger="accept",
            from_state="received",
            to_state="accepted",
            actor="li",
            data={"reason": "ok"},
        ),
        hk.DeadlineExtended(
            idempotency_key="deadline:3:extended:1",
            case_id=1,
            workflow="w",
            workflow_version=1,
            state="handling",
            occurred_at=dt.datetime(2026, 5, 6, 1, tzinfo=dt.UTC),
            clock="handling",
            deadline_id=3,
            due_at=dt.datetime(2026, 6, 21, 16, tzinfo=dt.UTC),
            previous_due_at=dt.datetime(2026, 6, 5, 16, tzinfo=dt.UTC),
            reason="鉴定",
            approved_by="zhao",
            notify_consumer=True,
        ),
    ],
)
def test_payloads_round_trip_through_json(payload: hk.Payload) -> None:
    assert hk.payload_from_json(payload.topic, payload.to_json()) == payload


def test_risk_hotspot_payloads_are_delivered_as_frozen_objects() -> None:
    from casework.reporting import RiskHotspot

    hot = RiskHotspot(
        idempotency_key="risk:2026-07-01..2026-09-30:respondent:乐活健身",
        period_start="2026-07-01",
        period_end="2026-09-30",
        kind="respondent",
        value="乐活健身",
        count=42,
        previous=9,
        ratio=4.67,
        p_value=0.0001,
        occurred_at=dt.datetime(2026, 9, 30, 16, tzinfo=dt.UTC),
    )
    assert hk.payload_from_json("risk.hotspot", hot.to_json()) == hot


def test_transition_notifications_rebuild_into_their_payload_class(tmp_path: Any) -> None:
    """The engine writes case.transitioned rows by hand on its hot path; they must rebuild into
    exactly the payload a hook receives."""
    from casework import Actor
    from casework.testing import make_engine, outbox_payloads
    from tests.conftest import WORKFLOWS

    engine = make_engine(f"sqlite:///{tmp_path / 'h.db'}", workflows=WORKFLOWS)
    case = engine.intake("consumer_complaint", channel="hotline")
    engine.fire(case.id, "accept", Actor("li", {"clerk"}), data={"note": "ok"})
    (payload,) = [p for _, p in outbox_payloads(engine) if p.topic == "case.transitioned"]
    assert payload == hk.CaseTransitioned(
        idempotency_key=f"case:{case.id}:event:2",
        case_id=case.id,
        workflow="consumer_complaint",
        workflow_version=1,
        state="accepted",
        occurred_at=engine.clock.now(),
        trigger="accept",
        from_state="received",
        to_state="accepted",
        actor="li",
        data={"note": "ok"},
    )
    engine.close()
