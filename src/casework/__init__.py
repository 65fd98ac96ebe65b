"""casework — consumer-complaint handling as durable, audited state machines.

from casework import Engine, Actor
engine = Engine.open("sqlite:///casework.db", workflows="workflows")
case = engine.intake("consumer_complaint", channel="hotline", summary="...")
engine.fire(case.id, "accept", Actor("li.clerk", {"clerk"}))
"""

from __future__ import annotations

from casework.audit import AuditFinding, AuditReport
from casework.calendars import Calendar, CalendarRegistry, Due, default_registry
from casework.clock import Clock, FrozenClock, SystemClock
from casework.deadlines import Deadline, RunReport
from casework.engine import Engine
from casework.errors import (
    AuditError,
    CalendarError,
    CaseNotFound,
    CaseworkError,
    CommandRejected,
    ConfigurationError,
    DefinitionError,
    GuardRejected,
    InvalidInput,
    MissingField,
    PeriodError,
    PermissionDenied,
    Problem,
    StaleCase,
    TriggerNotAllowed,
    WorkflowNotFound,
)
from casework.followups import FollowUp, FollowUpPending
from casework.hooks import HookRegistry, Payload
from casework.machine import GuardContext
from casework.outbox import DeliveryReport
from casework.periods import Period, Unit
from casework.records import Actor, Case, Complainant, Event
from casework.spec import WorkflowSpec

__all__ = [
    "Actor",
    "AuditError",
    "AuditFinding",
    "AuditReport",
    "Calendar",
    "CalendarError",
    "CalendarRegistry",
    "Case",
    "CaseNotFound",
    "CaseworkError",
    "Clock",
    "CommandRejected",
    "Complainant",
    "ConfigurationError",
    "Deadline",
    "DefinitionError",
    "DeliveryReport",
    "Due",
    "Engine",
    "Event",
    "FollowUp",
    "FollowUpPending",
    "FrozenClock",
    "GuardContext",
    "GuardRejected",
    "HookRegistry",
    "InvalidInput",
    "MissingField",
    "Payload",
    "Period",
    "PeriodError",
    "PermissionDenied",
    "Problem",
    "RunReport",
    "StaleCase",
    "SystemClock",
    "TriggerNotAllowed",
    "Unit",
    "WorkflowNotFound",
    "WorkflowSpec",
    "default_registry",
]
