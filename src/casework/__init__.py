"""casework — consumer-complaint handling as durable, audited state machines.

from casework import Engine, Actor
engine = Engine.open("sqlite:///casework.db", workflows="workflows")
case = engine.intake("consumer_complaint", channel="hotline", summary="...")
engine.fire(case.id, "accept", Actor("li.clerk", {"clerk"}))
"""

from __future__ import annotations

from casework.audit import AuditFinding, AuditReport
from casework.clock import Clock, FrozenClock, SystemClock
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
from casework.hooks import HookRegistry, Payload
from casework.machine import GuardContext
from casework.periods import Period, Unit
from casework.records import Actor, Case, Complainant, Event
from casework.spec import WorkflowSpec

__all__ = [
    "Actor",
    "AuditError",
    "AuditFinding",
    "AuditReport",
    "CalendarError",
    "Case",
    "CaseNotFound",
    "CaseworkError",
    "Clock",
    "CommandRejected",
    "Complainant",
    "ConfigurationError",
    "DefinitionError",
    "Engine",
    "Event",
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
    "StaleCase",
    "SystemClock",
    "TriggerNotAllowed",
    "Unit",
    "WorkflowNotFound",
    "WorkflowSpec",
]
