"""Workflow files (YAML) → :class:`~casework.spec.WorkflowSpec`, reporting every problem at once.

A file is composed into a YAML node tree (so every key and list item keeps its line) and walked
once. Each problem is recorded with its file, line and dotted path, and the walk goes on; only a
document without a single problem becomes a spec. Nothing half-valid is returned:
:func:`load_workflow` and :func:`load_workflows` raise :class:`~casework.errors.DefinitionError`
listing everything that is wrong.

The keys each part of a file accepts are declared once, in the ``_*_KEYS`` tables below. The
validator reads them for unknown and missing keys, and :func:`json_schema` builds the published
JSON Schema (``casework/schema/workflow.schema.json``) from the same tables, so the two cannot
drift apart.
"""

from __future__ import annotations

import datetime as dt
import difflib
import hashlib
import itertools
import json
import re
import zoneinfo
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, Final

import attrs
import yaml
from yaml.constructor import SafeConstructor
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from casework.errors import DefinitionError, PeriodError, Problem
from casework.periods import Period
from casework.spec import (
    COMPARISON_OPS,
    ROLLOVERS,
    ClockSpec,
    Comparison,
    ExtensionStep,
    FollowUpSpec,
    GuardSpec,
    Label,
    LadderStep,
    QuietHours,
    StateSpec,
    TransitionSpec,
    WorkflowSpec,
)

__all__ = [
    "CASE_FIELDS",
    "FOLLOWUP_CHANNELS",
    "SCHEMA_PATH",
    "SYSTEM_ROLE",
    "WORKFLOW_SUFFIXES",
    "FileCheck",
    "check_files",
    "json_schema",
    "load_workflow",
    "load_workflow_text",
    "load_workflows",
    "validate_paths",
    "write_json_schema",
]

SYSTEM_ROLE: Final = "system"
"""The actor clocks and follow-ups fire as; always allowed in ``roles`` lists, never declared."""

CASE_FIELDS: Final = ("amount", "category", "channel", "product", "respondent", "state")
"""Case attributes a comparison guard may test (besides ``data.KEY`` and ``input.KEY``)."""

FOLLOWUP_CHANNELS: Final = ("phone", "sms", "email", "on_site")
PIN_BY: Final = ("received", "accepted")
BASES: Final = ("law", "policy")
ON_SATISFIED: Final = ("allow_archive", "archive")

SCHEMA_PATH: Final = Path(__file__).parent / "schema" / "workflow.schema.json"
"""Where the published JSON Schema lives (regenerate with ``python -m casework.loading``)."""

WORKFLOW_SUFFIXES: Final = (".yaml", ".yml")

_IDENT_RE = re.compile(r"^[a-z][a-z0-9_]*$")
_FIELD_RE = re.compile(r"^(data|input)\.[A-Za-z0-9_]+(\.[A-Za-z0-9_]+)*$")
_PERCENT_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*%\s*$")
_TIME_RE = re.compile(r"^\s*(\d{1,2}):(\d{2})\s*$")

_TAG = "tag:yaml.org,2002:"
_STR, _INT, _FLOAT, _BOOL, _NULL, _DATE = (
    _TAG + t for t in ("str", "int", "float", "bool", "null", "timestamp")
)


# --------------------------------------------------------------------------------------------
# The format, declared once: validator key sets and JSON Schema come from these tables.


@attrs.frozen
class _Key:
    name: str
    schema: Mapping[str, Any]
    description: str
    required: bool = False


def _ref(name: str) -> dict[str, Any]:
    return {"$ref": f"#/$defs/{name}"}


def _ids(*, min_items: int = 0) -> dict[str, Any]:
    out: dict[str, Any] = {"type": "array", "items": _ref("identifier"), "uniqueItems": True}
    if min_items:
        out["minItems"] = min_items
    return out


def _enum(values: Sequence[str]) -> dict[str, Any]:
    return {"type": "string", "enum": list(values)}


_BOOL_S: Final = {"type": "boolean"}
_TEXT_S: Final = {"type": "string"}

_LABEL_KEYS: Final = (
    _Key("zh", _TEXT_S, "Chinese name."),
    _Key("en", _TEXT_S, "English name."),
)

_TOP_KEYS: Final = (
    _Key(
        "workflow", _ref("identifier"), "Name of the workflow, the same in all its versions.", True
    ),
    _Key("version", {"type": "integer", "minimum": 1}, "Version number (1, 2, ...).", True),
    _Key(
        "effective_from",
        _ref("date"),
        "First day (local) on which new cases pin this version (YYYY-MM-DD).",
        True,
    ),
    _Key(
        "effective_until",
        _ref("date"),
        "Last day (local, inclusive) on which new cases pin this version; optional.",
    ),
    _Key("title", _ref("label"), "Name of the workflow for people (zh/en)."),
    _Key("description", _TEXT_S, "Free text for people."),
    _Key(
        "timezone", _TEXT_S, "IANA time zone of the local dates and times. Default Asia/Shanghai."
    ),
    _Key("calendar", _TEXT_S, "Default working-day calendar of clocks and follow-ups. Default cn."),
    _Key(
        "pin_by",
        _enum(PIN_BY),
        "Which date of a case picks the version in force: received (default) or accepted.",
    ),
    _Key("metadata", {"type": "object"}, "Free mapping for the host (e.g. basis: policy)."),
    _Key(
        "roles",
        _ids(min_items=1),
        'Roles that may fire triggers. "system" (clocks, follow-ups) is always implied.',
        True,
    ),
    _Key("channels", _ids(), "Intake channels a case may arrive through."),
    _Key("categories", _ids(), "Complaint categories a case may carry."),
    _Key("guards", _ids(), "Names of guard predicates the host registers in code."),
    _Key("hooks", _ids(), "Names of hook callables the host registers (used by clock ladders)."),
    _Key(
        "states",
        {
            "type": "object",
            "propertyNames": _ref("identifier"),
            "additionalProperties": _ref("state"),
            "minProperties": 1,
        },
        "The states, by name. Exactly one is initial; at least one is final.",
        True,
    ),
    _Key(
        "transitions",
        {"type": "array", "items": _ref("transition"), "minItems": 1},
        "What may happen: a trigger moves a case from source state(s) to dest.",
        True,
    ),
    _Key(
        "clocks",
        {
            "type": "object",
            "propertyNames": _ref("identifier"),
            "additionalProperties": _ref("clock"),
        },
        "Deadline clocks, by name.",
    ),
    _Key(
        "followups",
        {
            "type": "object",
            "propertyNames": _ref("identifier"),
            "additionalProperties": _ref("followup"),
        },
        "Follow-up visit (回访) policies, by name.",
    ),
)

_STATE_KEYS: Final = (
    _Key("initial", _BOOL_S, "The state a new case starts in (exactly one)."),
    _Key("final", _BOOL_S, "A case here is closed; no transition may leave it."),
    _Key("label", _ref("label"), "Name for people (zh/en)."),
    _Key("description", _TEXT_S, "Free text for people."),
)

_TRANSITION_KEYS: Final = (
    _Key("trigger", _ref("identifier"), "The verb that fires this transition (accept).", True),
    _Key(
        "source",
        {
            "anyOf": [
                {"const": "*", "description": "Every non-final state."},
                _ref("identifier"),
                {"type": "array", "items": _ref("identifier"), "minItems": 1},
            ]
        },
        'A state, a list of states, or "*" for every non-final state.',
        True,
    ),
    _Key("dest", _ref("identifier"), "The state the case moves to.", True),
    _Key(
        "roles",
        _ids(min_items=1),
        'Roles allowed to fire it (declared roles, or "system").',
        True,
    ),
    _Key("requires", _ids(), "Fields the command's data must carry (e.g. reason)."),
    _Key(
        "guards",
        {"type": "array", "items": _ref("guard")},
        "All must pass: declared guard names, or comparisons {field, op, value}.",
    ),
    _Key("label", _ref("label"), "Name for people (zh/en)."),
)

_COMPARISON_KEYS: Final = (
    _Key(
        "field",
        {"type": "string"},
        f"A case field ({', '.join(CASE_FIELDS)}), data.KEY (host data) or input.KEY "
        "(the command's data).",
        True,
    ),
    _Key("op", _enum(COMPARISON_OPS), "Comparison operator.", True),
    _Key("value", {}, "Value to compare with (a list for in/not_in; none for present/absent)."),
)

_EDGE_KEYS: Final = (
    _Key("states", _ids(), "Entering any of these states."),
    _Key("triggers", _ids(), "Firing any of these triggers."),
)

_LADDER_KEYS: Final = (
    _Key("at", _ref("percentage"), 'At this fraction of the period ("50%" or 0.5).'),
    _Key("before", _ref("period"), "This long before the due time."),
    _Key("after", _ref("period"), "This long after the breach."),
    _Key("fire", _ref("identifier"), 'A trigger to fire as actor "system".'),
    _Key("hooks", _ids(), "Declared hooks to call."),
)

_EXTENSION_KEYS: Final = (
    _Key("to", _ref("period"), "The new total period (longer than the previous one).", True),
    _Key("roles", _ids(min_items=1), "Roles that may approve this extension.", True),
    _Key("notify", _BOOL_S, "Tell the consumer the new date (default true)."),
    _Key(
        "up_to",
        _BOOL_S,
        "The approver may grant any total above the previous one up to 'to' (default false).",
    ),
)

_CLOCK_KEYS: Final = (
    _Key("label", _ref("label"), "Name for people (zh/en)."),
    _Key("period", _ref("period"), "How long the clock runs (7 working days, 30 days).", True),
    _Key("calendar", _TEXT_S, "Working-day calendar. Default: the workflow's calendar."),
    _Key(
        "rollover",
        _enum(ROLLOVERS),
        "What happens to a due date on a rest day. Default non_working_day.",
    ),
    _Key("basis", _enum(BASES), "Whether the period is set by law or by policy (default)."),
    _Key("legal_basis", _TEXT_S, "The article that sets the period, when basis is law."),
    _Key(
        "start",
        _ref("clock_edge"),
        "When the clock starts: entering states and/or firing triggers.",
        True,
    ),
    _Key(
        "stop",
        _ref("clock_edge"),
        "When the clock stops (met if before due): entering states and/or firing triggers.",
        True,
    ),
    _Key("pause", _ids(), "States in which the clock is paused (time excluded)."),
    _Key("max_pause", _ref("period"), "Longest total pause allowed."),
    _Key("restart", _ids(), "Triggers that restart the clock from zero."),
    _Key(
        "ladder",
        {"type": "array", "items": _ref("ladder_step")},
        "Warnings and escalations: each step has exactly one of at, before, after.",
    ),
    _Key(
        "extensions",
        {"type": "array", "items": _ref("extension")},
        "Extension rungs, each longer than the previous one and the period.",
    ),
    _Key(
        "outlives_closure",
        _BOOL_S,
        "Keep running after the case reaches a final state (default false); it is then stopped "
        "by recording one of its stop triggers (Engine.stop_clock, casework stop-clock).",
    ),
)

_ALWAYS_FOR_KEYS: Final = (
    _Key("escalated", _BOOL_S, "Always visit escalated cases (default true)."),
    _Key("reopened", _BOOL_S, "Always visit reopened cases (default true)."),
    _Key("categories", _ids(), "Always visit cases of these categories."),
)

_QUIET_HOURS_KEYS: Final = (
    _Key("start", _ref("time"), 'Local time quiet hours begin ("21:00").', True),
    _Key("end", _ref("time"), 'Local time quiet hours end ("08:00").', True),
    _Key("calendar", _TEXT_S, "Also quiet on the rest days of this calendar."),
)

_FOLLOWUP_KEYS: Final = (
    _Key("after", _ids(min_items=1), "Triggers after which a visit is planned.", True),
    _Key("delay", _ref("period"), "How long after the trigger the visit is due.", True),
    _Key("sample", _ref("percentage"), 'Share of cases visited ("30%" or 0.3). Default 100%.'),
    _Key("always_for", _ref("always_for"), "Cases always visited whatever the sample."),
    _Key("channel", _enum(FOLLOWUP_CHANNELS), "How the visit is made. Default phone."),
    _Key("attempts", {"type": "integer", "minimum": 1}, "Attempts before unreachable (3)."),
    _Key("retry_every", _ref("period"), "Wait between attempts."),
    _Key("quiet_hours", _ref("quiet_hours"), "No visit in these hours."),
    _Key("deadline", _ref("period"), "The visit's own deadline."),
    _Key("calendar", _TEXT_S, "Calendar of delay and deadline. Default: the workflow's."),
    _Key(
        "max_rehandles",
        {"type": "integer", "minimum": 0},
        "Re-handlings after dissatisfaction before escalating (2).",
    ),
    _Key("reopen_trigger", _ref("identifier"), "Trigger that re-opens a case (reopen)."),
    _Key(
        "escalate_trigger",
        {"anyOf": [_ref("identifier"), {"type": "null"}]},
        "Trigger fired after max_rehandles (escalate), or null.",
    ),
    _Key("on_satisfied", _enum(ON_SATISFIED), "allow_archive (default) or archive at once."),
    _Key("archive_trigger", _ref("identifier"), "Trigger that archives a case (archive)."),
    _Key("required", _BOOL_S, "Archiving is refused while a visit is pending unless waived."),
    _Key("waiver_roles", _ids(), "Roles that may waive a pending visit (supervisor)."),
)


def _object(keys: Sequence[_Key], description: str, **extra: Any) -> dict[str, Any]:
    props = {k.name: {**k.schema, "description": k.description} for k in keys}
    out: dict[str, Any] = {"type": "object", "description": description, "properties": props}
    required = [k.name for k in keys if k.required]
    if required:
        out["required"] = required
    out["additionalProperties"] = False
    out.update(extra)
    return out


def json_schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of a workflow document, for editors and other tools.

    It is generated from the same key tables the loader validates with. It checks shapes only;
    references (unknown states, roles, triggers) and the graph rules need :func:`load_workflow`.
    """
    defs: dict[str, Any] = {
        "identifier": {
            "type": "string",
            "pattern": _IDENT_RE.pattern,
            "description": "Lowercase letters, digits and _, starting with a letter.",
        },
        "date": {"type": "string", "format": "date", "description": "A date, YYYY-MM-DD."},
        "time": {
            "type": "string",
            "pattern": r"^([01]?\d|2[0-3]):[0-5]\d$",
            "description": 'A local time of day, "HH:MM" (quote it).',
        },
        "period": {
            "type": "string",
            "pattern": r"^\s*\d+\s*\S.*$",
            "description": "A whole number and a unit: working days, days, hours, business "
            "hours (or 工作日, 日, 天, 自然日, 小时).",
            "examples": ["7 working days", "30 days", "48 hours", "7 工作日", "60 日"],
        },
        "percentage": {
            "anyOf": [
                {"type": "string", "pattern": r"^\s*\d+(\.\d+)?\s*%\s*$"},
                {"type": "number", "minimum": 0, "maximum": 1},
            ],
            "description": 'A percentage ("50%") or a fraction (0.5).',
        },
        "label": _object(_LABEL_KEYS, "A name for people.", minProperties=1),
        "state": _object(_STATE_KEYS, "A state."),
        "transition": _object(_TRANSITION_KEYS, "A transition."),
        "comparison": _object(_COMPARISON_KEYS, "A declarative guard: field op value."),
        "guard": {
            "anyOf": [_ref("identifier"), _ref("comparison")],
            "description": "A declared guard name, or a comparison.",
        },
        "clock_edge": _object(
            _EDGE_KEYS, "States and/or triggers (at least one non-empty).", minProperties=1
        ),
        "ladder_step": _object(
            _LADDER_KEYS,
            "A ladder step: exactly one of at, before, after.",
            oneOf=[{"required": ["at"]}, {"required": ["before"]}, {"required": ["after"]}],
        ),
        "extension": _object(_EXTENSION_KEYS, "An extension rung."),
        "clock": _object(_CLOCK_KEYS, "A deadline clock."),
        "always_for": _object(_ALWAYS_FOR_KEYS, "Cases always visited."),
        "quiet_hours": _object(_QUIET_HOURS_KEYS, "Quiet hours."),
        "followup": _object(_FOLLOWUP_KEYS, "A follow-up visit (回访) policy."),
    }
    top = _object(_TOP_KEYS, "A casework workflow definition (one version of one workflow).")
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": "urn:casework:workflow",
        "title": "casework workflow",
        **top,
        "$defs": defs,
    }


def write_json_schema(path: str | Path | None = None) -> Path:
    """Write :func:`json_schema` to ``path`` (default :data:`SCHEMA_PATH`) and return the path."""
    target = Path(path) if path is not None else SCHEMA_PATH
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(_schema_text(), encoding="utf-8")
    return target


def _schema_text() -> str:
    return json.dumps(json_schema(), ensure_ascii=False, indent=2) + "\n"


# --------------------------------------------------------------------------------------------
# Small helpers


def _suggest(word: str, options: Iterable[str]) -> str:
    close = difflib.get_close_matches(word, list(options), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _line(node: Node) -> int:
    return int(node.start_mark.line) + 1


def _has_items(node: Node | None, key: str) -> bool:
    """Whether the mapping ``node`` gives ``key`` a non-empty list (bad shapes are reported
    elsewhere and count as given, so one mistake is not reported twice)."""
    if not isinstance(node, MappingNode):
        return True
    for k, v in node.value:
        if isinstance(k, ScalarNode) and k.value == key:
            return not isinstance(v, SequenceNode) or bool(v.value)
    return False


def _describe(node: Node) -> str:
    if isinstance(node, MappingNode):
        return "a mapping"
    if isinstance(node, SequenceNode):
        return "a list"
    tag, value = node.tag, node.value
    if tag == _NULL:
        return "nothing"
    if tag == _STR:
        return f"text {value!r}"
    if tag in (_INT, _FLOAT):
        return f"the number {value}"
    if tag == _BOOL:
        return f"the boolean {value}"
    if tag == _DATE:
        return f"the date {value}"
    return repr(value)


def _step_name(kind: str, fraction: float | None, offset: Period | None) -> str:
    if kind == "fraction":
        assert fraction is not None
        pct = f"{round(fraction * 100, 6):g}".replace(".", "_")
        return f"at_{pct}"
    assert offset is not None
    return f"{kind}_{str(offset).replace(' ', '_')}"


def _json_default(value: Any) -> Any:
    iso = getattr(value, "isoformat", None)
    if callable(iso):
        return iso()
    if isinstance(value, (set, frozenset)):
        return sorted(value, key=repr)
    if isinstance(value, bytes):
        return value.hex()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


# libyaml's composer when PyYAML has it: ten times faster, with the same line marks.
_LOADER: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

# --------------------------------------------------------------------------------------------
# One document


class _Map:
    """A checked YAML mapping: its keys (first occurrence wins; duplicates are reported
    separately) with the nodes of each key and value."""

    def __init__(self, node: MappingNode, path: str) -> None:
        self.node = node
        self.path = path
        self.items: dict[str, tuple[Node, Node]] = {}

    def get(self, key: str) -> Node | None:
        item = self.items.get(key)
        return item[1] if item else None

    def has(self, key: str) -> bool:
        return key in self.items

    def child(self, key: str) -> str:
        return _join(self.path, key)

    def line(self, key: str | None = None) -> int:
        if key is not None and key in self.items:
            return _line(self.items[key][0])
        return _line(self.node)


@attrs.frozen
class _DocInfo:
    file: str | None
    lines: Mapping[str, int]


class _Parser:
    """Walks one composed YAML document, collecting problems; :meth:`parse` returns the spec
    only when there are none."""

    def __init__(self, root: Node, file: str | None) -> None:
        self.root = root
        self.file = file
        self.problems: list[Problem] = []
        self.constructor = SafeConstructor()
        self.lines: dict[str, int] = {}
        self.calendar = "cn"
        self.roles: list[str] = []
        self.channels: list[str] = []
        self.categories: list[str] = []
        self.guards: list[str] = []
        self.hooks: list[str] = []
        self.states: dict[str, StateSpec] = {}
        self.state_lines: dict[str, int] = {}
        self.initial_lines: dict[str, int] = {}
        self.transitions: list[TransitionSpec] = []
        self.trigger_roles: dict[str, set[str]] = {}
        self.states_ok = False
        # Declaration lists that are themselves broken: names checked against them are not
        # reported again as unknown.
        self.broken: set[str] = set()
        self.transitions_ok = False

    # -- reporting ---------------------------------------------------------------------------

    def add(self, path: str, message: str, at: Node | int | None = None) -> None:
        line = _line(at) if isinstance(at, Node) else at
        self.problems.append(Problem(path, message, line, self.file))

    # -- generic node readers ------------------------------------------------------------------

    def scan_duplicates(self, node: Node, path: str, seen: set[int]) -> None:
        """Report every duplicate mapping key in the document (YAML would silently keep the
        last one)."""
        if id(node) in seen:
            return
        seen.add(id(node))
        if isinstance(node, MappingNode):
            first: dict[Any, int] = {}
            for k, v in node.value:
                key = k.value if isinstance(k, ScalarNode) else None
                child = _join(path, str(key)) if key is not None else path
                if key is not None and k.tag != _TAG + "merge":
                    if key in first:
                        self.add(
                            child, f"duplicate key {key!r} (first defined at line {first[key]})", k
                        )
                    else:
                        first[key] = _line(k)
                self.scan_duplicates(v, child, seen)
        elif isinstance(node, SequenceNode):
            for i, item in enumerate(node.value):
                self.scan_duplicates(item, f"{path}[{i}]", seen)

    def as_map(
        self, node: Node, path: str, keys: Sequence[_Key] | None = None, what: str = "a mapping"
    ) -> _Map | None:
        if not isinstance(node, MappingNode):
            self.add(path, f"expected {what}, got {_describe(node)}", node)
            return None
        try:
            self.constructor.flatten_mapping(node)
        except yaml.YAMLError as exc:
            self.add(path, f"bad merge key: {getattr(exc, 'problem', exc)}", node)
            return None
        m = _Map(node, path)
        for k, v in node.value:
            if not (isinstance(k, ScalarNode) and k.tag == _STR):
                self.add(path, f"keys must be text, got {_describe(k)} (quote it)", k)
                continue
            # Last wins, as in YAML: explicit keys override merged ones (duplicates are
            # reported by scan_duplicates).
            m.items[str(k.value)] = (k, v)
        if keys is not None:
            allowed = [k.name for k in keys]
            for name, (knode, _) in m.items.items():
                if name not in allowed:
                    hint = _suggest(name, allowed) or f"; expected one of: {', '.join(allowed)}"
                    self.add(m.child(name), f"unknown key {name!r}{hint}", knode)
            for key in keys:
                if key.required and key.name not in m.items:
                    self.add(m.child(key.name), "missing (required)", node)
        return m

    def as_seq(self, node: Node, path: str, what: str = "a list") -> list[Node] | None:
        if not isinstance(node, SequenceNode):
            hint = ""
            if isinstance(node, ScalarNode) and node.tag == _STR:
                hint = f" (write [{node.value}])"
            self.add(path, f"expected {what}, got {_describe(node)}{hint}", node)
            return None
        return list(node.value)

    def value(self, node: Node, path: str) -> tuple[bool, Any]:
        try:
            return True, self.constructor.construct_object(node, deep=True)
        except (yaml.YAMLError, ValueError, TypeError) as exc:
            self.add(path, f"cannot read value: {getattr(exc, 'problem', None) or exc}", node)
            return False, None

    def scalar(self, node: Node, path: str, tags: Sequence[str], what: str) -> Any | None:
        if not isinstance(node, ScalarNode) or node.tag not in tags:
            self.add(path, f"expected {what}, got {_describe(node)}", node)
            return None
        ok, value = self.value(node, path)
        return value if ok else None

    def text(self, node: Node | None, path: str) -> str | None:
        if node is None:
            return None
        value = self.scalar(node, path, (_STR,), "text")
        return value if isinstance(value, str) else None

    def ident(self, node: Node | None, path: str, what: str = "an identifier") -> str | None:
        if node is None:
            return None
        if not (isinstance(node, ScalarNode) and node.tag == _STR):
            self.add(path, f"expected {what}, got {_describe(node)}", node)
            return None
        value = str(node.value)
        if not _IDENT_RE.match(value):
            fixed = re.sub(r"[^a-z0-9_]+", "_", value.strip().lower()).strip("_")
            hint = f" (did you mean {fixed!r}?)" if _IDENT_RE.match(fixed) else ""
            self.add(
                path,
                f"{value!r} is not a valid name: use lowercase letters, digits and _, "
                f"starting with a letter{hint}",
                node,
            )
            return None
        return value

    def ident_list(
        self, node: Node | None, path: str, *, non_empty: bool = False
    ) -> list[tuple[str, Node, str]]:
        """Identifiers of a list, each with its node and path; reports duplicates."""
        if node is None:
            return []
        items = self.as_seq(node, path)
        if items is None:
            return []
        if non_empty and not items:
            self.add(path, "must not be empty", node)
        out: list[tuple[str, Node, str]] = []
        seen: set[str] = set()
        for i, item in enumerate(items):
            ipath = f"{path}[{i}]"
            name = self.ident(item, ipath)
            if name is None:
                continue
            if name in seen:
                self.add(ipath, f"{name!r} is listed twice", item)
                continue
            seen.add(name)
            out.append((name, item, ipath))
        return out

    def integer(self, node: Node | None, path: str, minimum: int) -> int | None:
        if node is None:
            return None
        value = self.scalar(node, path, (_INT,), "a whole number")
        if not isinstance(value, int):
            return None
        if value < minimum:
            self.add(path, f"must be at least {minimum}, got {value}", node)
            return None
        return value

    def boolean(self, node: Node | None, path: str) -> bool | None:
        if node is None:
            return None
        value = self.scalar(node, path, (_BOOL,), "true or false")
        return value if isinstance(value, bool) else None

    def date(self, node: Node | None, path: str) -> dt.date | None:
        if node is None:
            return None
        if isinstance(node, ScalarNode) and node.tag == _STR:
            try:
                return dt.date.fromisoformat(str(node.value).strip())
            except ValueError as exc:
                self.add(path, f"bad date {node.value!r}: {exc} (write YYYY-MM-DD)", node)
                return None
        if not (isinstance(node, ScalarNode) and node.tag == _DATE):
            self.add(path, f"expected a date (YYYY-MM-DD), got {_describe(node)}", node)
            return None
        try:
            value = self.constructor.construct_object(node)
        except ValueError as exc:
            self.add(path, f"bad date {node.value!r}: {exc}", node)
            return None
        if isinstance(value, dt.datetime):
            self.add(
                path, f"expected a date (YYYY-MM-DD), got a date and time {node.value!r}", node
            )
            return None
        return value if isinstance(value, dt.date) else None

    def period(self, node: Node | None, path: str, *, positive: bool = True) -> Period | None:
        if node is None:
            return None
        if not isinstance(node, ScalarNode) or node.tag in (_NULL, _BOOL):
            self.add(path, f'expected a period like "7 working days", got {_describe(node)}', node)
            return None
        try:
            period = Period.parse(str(node.value))
        except PeriodError as exc:
            self.add(path, str(exc), node)
            return None
        if positive and period.amount == 0:
            self.add(path, f"{node.value!r}: must be longer than zero", node)
            return None
        return period

    def fraction(self, node: Node | None, path: str, *, whole_ok: bool) -> float | None:
        """A percentage ("50%") or a fraction (0.5). ``whole_ok``: 0 and 100% are allowed,
        otherwise the value must lie strictly between them."""
        if node is None:
            return None
        example = 'expected a percentage like "50%" or a fraction like 0.5'
        if not isinstance(node, ScalarNode):
            self.add(path, f"{example}, got {_describe(node)}", node)
            return None
        if node.tag == _STR:
            m = _PERCENT_RE.match(str(node.value))
            if not m:
                self.add(path, f"{example}, got {_describe(node)}", node)
                return None
            value = float(m.group(1)) / 100
        elif node.tag in (_INT, _FLOAT):
            ok, raw = self.value(node, path)
            if not ok:
                return None
            value = float(raw)
            if value > 1:
                self.add(path, f'{raw} is more than 1 (did you mean "{raw:g}%"?)', node)
                return None
        else:
            self.add(path, f"{example}, got {_describe(node)}", node)
            return None
        if whole_ok and not 0 <= value <= 1:
            self.add(path, f"{node.value!r}: must be between 0% and 100%", node)
            return None
        if not whole_ok and not 0 < value < 1:
            self.add(path, f"{node.value!r}: must be strictly between 0% and 100%", node)
            return None
        return value

    def time(self, node: Node | None, path: str) -> dt.time | None:
        if node is None:
            return None
        # The raw text, because YAML 1.1 reads an unquoted 21:00 as the number 1260.
        m = _TIME_RE.match(str(node.value)) if isinstance(node, ScalarNode) else None
        if m and int(m.group(1)) < 24 and int(m.group(2)) < 60:
            return dt.time(int(m.group(1)), int(m.group(2)))
        self.add(path, f'expected a time like "21:00", got {_describe(node)}', node)
        return None

    def choice(self, node: Node | None, path: str, choices: Sequence[str]) -> str | None:
        if node is None:
            return None
        if not (isinstance(node, ScalarNode) and node.tag == _STR):
            self.add(path, f"expected one of {', '.join(choices)}; got {_describe(node)}", node)
            return None
        value = str(node.value)
        if value not in choices:
            # "=>" is a common slip for ">=", and difflib would offer ">".
            swapped = f" (did you mean {value[::-1]!r}?)" if value[::-1] in choices else ""
            hint = swapped or _suggest(value, choices) or f"; expected one of: {', '.join(choices)}"
            self.add(path, f"unknown value {value!r}{hint}", node)
            return None
        return value

    def label(self, node: Node | None, path: str) -> Label:
        if node is None:
            return Label()
        m = self.as_map(node, path, _LABEL_KEYS, "a label like {zh: 已受理, en: Accepted}")
        if m is None:
            return Label()
        if not m.items:
            self.add(path, "needs zh and/or en", node)
        return Label(
            zh=self.text(m.get("zh"), m.child("zh")), en=self.text(m.get("en"), m.child("en"))
        )

    # -- references ------------------------------------------------------------------------

    def check_ref(
        self, name: str, node: Node | int, path: str, known: Iterable[str], kind: str, where: str
    ) -> bool:
        options = list(known)
        if name in options or where.rstrip(":") in self.broken:
            return True
        hint = _suggest(name, options) or (f" (declare it under {where})" if where else "")
        self.add(path, f"unknown {kind} {name!r}{hint}", node)
        return False

    def state_refs(self, node: Node | None, path: str, *, final_ok: bool = True) -> list[str]:
        out: list[str] = []
        for name, n, p in self.ident_list(node, path):
            if not self.states_ok:
                out.append(name)
            elif self.check_ref(name, n, p, self.states, "state", "states:"):
                if not final_ok and self.states[name].final:
                    self.add(p, f"{name!r} is a final state; a clock cannot pause there", n)
                    continue
                out.append(name)
        return out

    def trigger_refs(self, node: Node | None, path: str, *, non_empty: bool = False) -> list[str]:
        return [
            name
            for name, n, p in self.ident_list(node, path, non_empty=non_empty)
            if self.check_trigger(name, n, p)
        ]

    def check_trigger(self, name: str, node: Node | int, path: str) -> bool:
        if not self.transitions_ok:
            return True
        return self.check_ref(name, node, path, self.trigger_roles, "trigger", "")

    def role_refs(self, node: Node | None, path: str, *, non_empty: bool = False) -> list[str]:
        known = [*self.roles, SYSTEM_ROLE]
        return [
            name
            for name, n, p in self.ident_list(node, path, non_empty=non_empty)
            if self.check_ref(name, n, p, known, "role", "roles:")
        ]

    def needs_system(self, trigger: str, at: Node | int, path: str, why: str) -> None:
        roles = self.trigger_roles.get(trigger)
        if roles is not None and SYSTEM_ROLE not in roles:
            self.add(
                path,
                f"{why} fires {trigger!r} as actor 'system', but no transition of {trigger!r} "
                "allows role 'system' (add it to that transition's roles)",
                at,
            )

    # -- the document --------------------------------------------------------------------------

    def parse(self) -> WorkflowSpec | None:
        self.scan_duplicates(self.root, "", set())
        top = self.as_map(self.root, "", _TOP_KEYS, "a workflow mapping (workflow:, version:, ...)")
        if top is None:
            return None
        for key in ("workflow", "version", "effective_from", "effective_until"):
            if top.has(key):
                self.lines[key] = top.line(key)

        name = self.ident(top.get("workflow"), "workflow")
        version = self.integer(top.get("version"), "version", 1)
        effective_from = self.date(top.get("effective_from"), "effective_from")
        effective_until = self.date(top.get("effective_until"), "effective_until")
        if effective_from and effective_until and effective_until < effective_from:
            self.add(
                "effective_until",
                f"{effective_until} is before effective_from {effective_from}",
                top.line("effective_until"),
            )
        title = self.label(top.get("title"), "title")
        description = self.text(top.get("description"), "description")
        timezone = self.timezone(top.get("timezone"))
        calendar = self.text(top.get("calendar"), "calendar")
        if calendar is not None and not calendar.strip():
            self.add("calendar", "must not be empty", top.get("calendar"))
        self.calendar = calendar or "cn"
        pin_by = self.choice(top.get("pin_by"), "pin_by", PIN_BY) or "received"
        metadata: dict[str, Any] = {}
        meta_node = top.get("metadata")
        if meta_node is not None and self.as_map(meta_node, "metadata") is not None:
            ok, value = self.value(meta_node, "metadata")
            metadata = value if ok and isinstance(value, dict) else {}

        for key in ("roles", "channels", "categories", "guards", "hooks"):
            node = top.get(key)
            if node is not None and not isinstance(node, SequenceNode):
                self.broken.add(key)
        self.roles = [n for n, _, _ in self.ident_list(top.get("roles"), "roles", non_empty=True)]
        self.channels = [n for n, _, _ in self.ident_list(top.get("channels"), "channels")]
        self.categories = [n for n, _, _ in self.ident_list(top.get("categories"), "categories")]
        self.guards = [n for n, _, _ in self.ident_list(top.get("guards"), "guards")]
        self.hooks = [n for n, _, _ in self.ident_list(top.get("hooks"), "hooks")]

        if top.has("states"):
            self.parse_states(top.items["states"])
        if top.has("transitions"):
            self.parse_transitions(top.items["transitions"][1])
        clocks = self.parse_clocks(top.get("clocks"))
        followups = self.parse_followups(top.get("followups"))
        if self.states_ok and self.transitions_ok:
            self.check_graph(top.line("states"))

        if self.problems:
            return None
        assert name is not None and version is not None and effective_from is not None
        return WorkflowSpec(
            name=name,
            version=version,
            effective_from=effective_from,
            effective_until=effective_until,
            states=dict(self.states),
            transitions=tuple(self.transitions),
            roles=tuple(self.roles),
            title=title,
            description=description,
            timezone=timezone or "Asia/Shanghai",
            calendar=self.calendar,
            pin_by="accepted" if pin_by == "accepted" else "received",
            channels=tuple(self.channels),
            categories=tuple(self.categories),
            guards=tuple(self.guards),
            hooks=tuple(self.hooks),
            clocks=tuple(clocks),
            followups=tuple(followups),
            metadata=metadata,
            source=self.file,
            fingerprint=self.fingerprint(),
        )

    def fingerprint(self) -> str:
        content = SafeConstructor().construct_document(self.root)
        canonical = json.dumps(
            content,
            sort_keys=True,
            ensure_ascii=False,
            separators=(",", ":"),
            default=_json_default,
        )
        return hashlib.sha256(canonical.encode("utf-8")).hexdigest()

    def timezone(self, node: Node | None) -> str | None:
        tz = self.text(node, "timezone")
        if tz is None or node is None:
            return None
        try:
            zoneinfo.ZoneInfo(tz)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            hint = _suggest(tz, zoneinfo.available_timezones())
            self.add("timezone", f"unknown time zone {tz!r}{hint}", node)
            return None
        return tz

    # -- states --------------------------------------------------------------------------------

    def parse_states(self, item: tuple[Node, Node]) -> None:
        key_node, node = item
        m = self.as_map(node, "states", what="a mapping of state names")
        if m is None:
            return
        if not m.items:
            self.add("states", "must define at least one state", key_node)
        for raw, (knode, vnode) in m.items.items():
            path = f"states.{raw}"
            name = self.ident(knode, path, "a state name")
            if name is None:
                continue
            self.state_lines[name] = _line(knode)
            if isinstance(vnode, ScalarNode) and vnode.tag == _NULL:
                self.states[name] = StateSpec(name)
                continue
            sm = self.as_map(vnode, path, _STATE_KEYS)
            if sm is None:
                continue
            self.initial_lines[name] = sm.line("initial")
            self.states[name] = StateSpec(
                name=name,
                label=self.label(sm.get("label"), sm.child("label")),
                initial=bool(self.boolean(sm.get("initial"), sm.child("initial"))),
                final=bool(self.boolean(sm.get("final"), sm.child("final"))),
                description=self.text(sm.get("description"), sm.child("description")),
            )
        self.states_ok = bool(self.states)

    # -- transitions ---------------------------------------------------------------------------

    def parse_transitions(self, node: Node) -> None:
        items = self.as_seq(node, "transitions", "a list of transitions")
        if items is None:
            return
        if not items:
            self.add("transitions", "must define at least one transition", node)
        finals = [s.name for s in self.states.values() if s.final]
        non_finals = [s.name for s in self.states.values() if not s.final]
        # (trigger, source) -> [(index, dest, guarded)], to find ambiguous choices
        seen: dict[tuple[str, str], list[tuple[int, str, bool]]] = {}
        ambiguous: dict[tuple[int, int, str], list[str]] = {}
        lines: list[int] = []
        for i, item in enumerate(items):
            path = f"transitions[{i}]"
            lines.append(_line(item))
            m = self.as_map(item, path, _TRANSITION_KEYS, "a transition mapping")
            if m is None:
                continue
            trigger = self.ident(m.get("trigger"), m.child("trigger"), "a trigger name")
            sources = self.sources(m.get("source"), m.child("source"), finals, non_finals)
            dest = self.ident(m.get("dest"), m.child("dest"), "a state name")
            if dest is not None and self.states_ok:
                dest_node = m.get("dest")
                assert dest_node is not None
                if not self.check_ref(dest, dest_node, m.child("dest"), self.states, "state", ""):
                    dest = None
            roles = self.role_refs(m.get("roles"), m.child("roles"), non_empty=True)
            requires = [n for n, _, _ in self.ident_list(m.get("requires"), m.child("requires"))]
            guards = self.guard_list(m.get("guards"), m.child("guards"))
            label = self.label(m.get("label"), m.child("label"))
            if trigger is None:
                continue
            self.trigger_roles.setdefault(trigger, set()).update(roles)
            if sources is None or dest is None:
                continue
            self.transitions.append(
                TransitionSpec(
                    trigger=trigger,
                    sources=tuple(sources),
                    dest=dest,
                    roles=tuple(roles),
                    guards=tuple(guards),
                    requires=tuple(requires),
                    label=label,
                )
            )
            for source in sources:
                earlier = seen.setdefault((trigger, source), [])
                for j, other_dest, guarded in earlier:
                    if other_dest != dest and not guarded:
                        ambiguous.setdefault((j, i, trigger), []).append(source)
                earlier.append((i, dest, bool(guards)))
        for (j, i, trigger), states in ambiguous.items():
            self.add(
                f"transitions[{i}]",
                f"ambiguous: transitions[{j}] already takes {trigger!r} from "
                f"{', '.join(repr(s) for s in states)} elsewhere without guards, so this one "
                f"can never fire (add guards to transitions[{j}])",
                lines[i],
            )
        self.transitions_ok = bool(self.trigger_roles)

    def sources(
        self, node: Node | None, path: str, finals: Sequence[str], non_finals: Sequence[str]
    ) -> list[str] | None:
        if node is None:
            return None
        if isinstance(node, ScalarNode) and node.value == "*" and node.tag == _STR:
            return list(non_finals)
        entries: list[tuple[str, Node, str]]
        if isinstance(node, SequenceNode):
            for i, item in enumerate(node.value):
                if isinstance(item, ScalarNode) and item.value == "*":
                    self.add(f"{path}[{i}]", "'*' stands alone: write source: '*'", item)
                    return None
            entries = self.ident_list(node, path, non_empty=True)
            if len(entries) != len(node.value):
                return None
        else:
            name = self.ident(node, path, 'a state, a list of states, or "*"')
            if name is None:
                return None
            entries = [(name, node, path)]
        ok = True
        for name, n, p in entries:
            if not self.states_ok:
                continue
            if not self.check_ref(name, n, p, self.states, "state", ""):
                ok = False
            elif name in finals:
                self.add(
                    p, f"transition out of final state {name!r}; a final state has no exits", n
                )
                ok = False
        return [name for name, _, _ in entries] if ok else None

    def guard_list(self, node: Node | None, path: str) -> list[GuardSpec]:
        if node is None:
            return []
        items = self.as_seq(node, path, "a list of guards")
        out: list[GuardSpec] = []
        for i, item in enumerate(items or []):
            ipath = f"{path}[{i}]"
            if isinstance(item, MappingNode):
                comparison = self.comparison(item, ipath)
                if comparison is not None:
                    out.append(GuardSpec(comparison=comparison))
                continue
            name = self.ident(item, ipath, "a guard name or {field, op, value}")
            if name is not None and self.check_ref(
                name, item, ipath, self.guards, "guard", "guards:"
            ):
                out.append(GuardSpec(name=name))
        return out

    def comparison(self, node: Node, path: str) -> Comparison | None:
        m = self.as_map(node, path, _COMPARISON_KEYS)
        if m is None:
            return None
        field = self.text(m.get("field"), m.child("field"))
        op = self.choice(m.get("op"), m.child("op"), COMPARISON_OPS)
        if field is not None and not (field in CASE_FIELDS or _FIELD_RE.match(field)):
            field_node = m.get("field")
            assert field_node is not None
            hint = _suggest(field, CASE_FIELDS)
            self.add(
                m.child("field"),
                f"unknown field {field!r}{hint}; use a case field ({', '.join(CASE_FIELDS)}), "
                "data.KEY or input.KEY",
                field_node,
            )
            field = None
        value: Any = None
        value_node = m.get("value")
        if op in ("present", "absent"):
            if value_node is not None:
                self.add(m.child("value"), f"op {op!r} takes no value", value_node)
                return None
        elif op is not None:
            if value_node is None:
                self.add(m.child("value"), f"missing (op {op!r} needs a value)", node)
                return None
            ok, value = self.value(value_node, m.child("value"))
            if not ok:
                return None
            if op in ("in", "not_in") and not isinstance(value, list):
                self.add(m.child("value"), f"op {op!r} needs a list of values", value_node)
                return None
            if op in ("<", "<=", ">", ">=") and (
                isinstance(value, (bool, list, dict)) or value is None
            ):
                self.add(m.child("value"), f"op {op!r} needs a number, date or text", value_node)
                return None
            if field in ("category", "channel"):
                declared = self.categories if field == "category" else self.channels
                values = value if isinstance(value, list) else [value]
                for v in values:
                    if declared and v not in declared:
                        hint = _suggest(str(v), declared)
                        self.add(m.child("value"), f"unknown {field} {v!r}{hint}", value_node)
                        return None
        if field is None or op is None:
            return None
        return Comparison(field=field, op=op, value=value)

    # -- clocks --------------------------------------------------------------------------------

    def parse_clocks(self, node: Node | None) -> list[ClockSpec]:
        if node is None:
            return []
        m = self.as_map(node, "clocks", what="a mapping of clock names")
        out: list[ClockSpec] = []
        for raw, (knode, vnode) in (m.items if m else {}).items():
            path = f"clocks.{raw}"
            name = self.ident(knode, path, "a clock name")
            clock = self.clock(name or raw, vnode, path)
            if name is not None and clock is not None:
                out.append(clock)
        return out

    def edges(self, node: Node | None, path: str) -> tuple[list[str], list[str]]:
        if node is None:
            return [], []
        m = self.as_map(node, path, _EDGE_KEYS, "a mapping {states: [...], triggers: [...]}")
        if m is None:
            return [], []
        states = self.state_refs(m.get("states"), m.child("states"))
        triggers = self.trigger_refs(m.get("triggers"), m.child("triggers"))
        given = [m.get("states"), m.get("triggers")]
        if all(n is None or (isinstance(n, SequenceNode) and not n.value) for n in given):
            self.add(path, "needs at least one state or trigger", node)
        return states, triggers

    def clock(self, name: str, node: Node, path: str) -> ClockSpec | None:
        m = self.as_map(node, path, _CLOCK_KEYS, "a clock mapping")
        if m is None:
            return None
        period = self.period(m.get("period"), m.child("period"))
        calendar = self.text(m.get("calendar"), m.child("calendar"))
        rollover = self.choice(m.get("rollover"), m.child("rollover"), ROLLOVERS)
        basis = self.choice(m.get("basis"), m.child("basis"), BASES)
        start_states, start_triggers = self.edges(m.get("start"), m.child("start"))
        stop_states, stop_triggers = self.edges(m.get("stop"), m.child("stop"))
        pause = self.state_refs(m.get("pause"), m.child("pause"), final_ok=False)
        max_pause = self.period(m.get("max_pause"), m.child("max_pause"), positive=False)
        restart = self.trigger_refs(m.get("restart"), m.child("restart"))
        ladder = self.ladder(m.get("ladder"), m.child("ladder"), period)
        extensions = self.extensions(m.get("extensions"), m.child("extensions"), period)
        outlives = self.boolean(m.get("outlives_closure"), m.child("outlives_closure"))
        if outlives and m.get("stop") is not None and not _has_items(m.get("stop"), "triggers"):
            # After closure no state can be entered: only a recorded stop trigger ends the run.
            self.add(
                m.child("outlives_closure"),
                "a clock that outlives closure needs stop triggers: once the case is closed no "
                "state can be entered, so nothing else could stop it "
                "(add stop: {triggers: [...]}, e.g. the trigger that records the work as done)",
                m.line("outlives_closure"),
            )
        if period is None or m.get("start") is None or m.get("stop") is None:
            return None
        return ClockSpec(
            name=name,
            period=period,
            calendar=calendar or self.calendar,
            rollover=next((r for r in ROLLOVERS if r == rollover), "non_working_day"),
            start_states=tuple(start_states),
            start_triggers=tuple(start_triggers),
            stop_states=tuple(stop_states),
            stop_triggers=tuple(stop_triggers),
            pause_states=tuple(pause),
            restart_triggers=tuple(restart),
            max_pause=max_pause,
            basis="law" if basis == "law" else "policy",
            legal_basis=self.text(m.get("legal_basis"), m.child("legal_basis")),
            label=self.label(m.get("label"), m.child("label")),
            ladder=tuple(ladder),
            extensions=tuple(extensions),
            outlives_closure=bool(outlives),
        )

    def ladder(self, node: Node | None, path: str, period: Period | None) -> list[LadderStep]:
        if node is None:
            return []
        out: list[LadderStep] = []
        names: dict[str, int] = {}
        for i, item in enumerate(self.as_seq(node, path, "a list of ladder steps") or []):
            ipath = f"{path}[{i}]"
            m = self.as_map(item, ipath, _LADDER_KEYS, "a ladder step mapping")
            if m is None:
                continue
            given = [k for k in ("at", "before", "after") if m.has(k)]
            if len(given) != 1:
                what = "none" if not given else " and ".join(repr(k) for k in given)
                self.add(ipath, f"needs exactly one of 'at', 'before', 'after' (got {what})", item)
                continue
            kind = given[0]
            fraction: float | None = None
            offset: Period | None = None
            if kind == "at":
                fraction = self.fraction(m.get("at"), m.child("at"), whole_ok=False)
                if fraction is None:
                    continue
            else:
                offset = self.period(m.get(kind), m.child(kind))
                if offset is None:
                    continue
                if (
                    kind == "before"
                    and period is not None
                    and offset.unit == period.unit
                    and offset.amount >= period.amount
                ):
                    self.add(
                        m.child(kind),
                        f"{offset} before due is not within the period ({period})",
                        m.line(kind),
                    )
            fire = self.ident(m.get("fire"), m.child("fire"), "a trigger name")
            fire_node = m.get("fire")
            if fire is not None and fire_node is not None:
                if self.check_trigger(fire, fire_node, m.child("fire")):
                    self.needs_system(fire, fire_node, m.child("fire"), "this step")
                else:
                    fire = None
            hooks = [
                h
                for h, n, p in self.ident_list(m.get("hooks"), m.child("hooks"))
                if self.check_ref(h, n, p, self.hooks, "hook", "hooks:")
            ]
            step_kind = "fraction" if kind == "at" else kind
            name = _step_name(step_kind, fraction, offset)
            if name in names:
                self.add(ipath, f"same step as {path}[{names[name]}] ({name})", item)
                continue
            names[name] = i
            out.append(
                LadderStep(
                    name=name,
                    kind="fraction" if kind == "at" else "before" if kind == "before" else "after",
                    fraction=fraction,
                    offset=offset,
                    fire=fire,
                    hooks=tuple(hooks),
                )
            )
        return out

    def extensions(
        self, node: Node | None, path: str, period: Period | None
    ) -> list[ExtensionStep]:
        if node is None:
            return []
        out: list[ExtensionStep] = []
        previous, what = period, "the period"
        for i, item in enumerate(self.as_seq(node, path, "a list of extensions") or []):
            ipath = f"{path}[{i}]"
            m = self.as_map(item, ipath, _EXTENSION_KEYS, "an extension mapping")
            if m is None:
                continue
            to = self.period(m.get("to"), m.child("to"))
            roles = self.role_refs(m.get("roles"), m.child("roles"), non_empty=True)
            notify = self.boolean(m.get("notify"), m.child("notify"))
            up_to = self.boolean(m.get("up_to"), m.child("up_to"))
            if to is None:
                continue
            if previous is not None and to.unit is not previous.unit:
                # An extension is added to the period in its own unit (calendars convention).
                self.add(
                    m.child("to"),
                    f"{to} is counted in {to.unit.value}, {what} ({previous}) in "
                    f"{previous.unit.value}; use the same unit",
                    m.line("to"),
                )
            elif previous is not None and to.amount <= previous.amount:
                self.add(
                    m.child("to"), f"{to} is not longer than {what} ({previous})", m.line("to")
                )
            else:
                previous, what = to, f"{path}[{i}].to"
            out.append(
                ExtensionStep(
                    to=to, roles=tuple(roles), notify=notify is not False, up_to=up_to is True
                )
            )
        return out

    # -- follow-ups ----------------------------------------------------------------------------

    def parse_followups(self, node: Node | None) -> list[FollowUpSpec]:
        if node is None:
            return []
        m = self.as_map(node, "followups", what="a mapping of follow-up names")
        out: list[FollowUpSpec] = []
        for raw, (knode, vnode) in (m.items if m else {}).items():
            path = f"followups.{raw}"
            name = self.ident(knode, path, "a follow-up name")
            followup = self.followup(name or raw, vnode, path)
            if name is not None and followup is not None:
                out.append(followup)
        return out

    def followup(self, name: str, node: Node, path: str) -> FollowUpSpec | None:
        m = self.as_map(node, path, _FOLLOWUP_KEYS, "a follow-up mapping")
        if m is None:
            return None
        defaults = FollowUpSpec(name=name, after_triggers=(), delay=Period.parse("0 days"))
        after = self.trigger_refs(m.get("after"), m.child("after"), non_empty=True)
        delay = self.period(m.get("delay"), m.child("delay"), positive=False)
        sample = self.fraction(m.get("sample"), m.child("sample"), whole_ok=True)

        always_escalated, always_reopened = defaults.always_escalated, defaults.always_reopened
        always_categories: list[str] = []
        always_node = m.get("always_for")
        if always_node is not None:
            am = self.as_map(always_node, m.child("always_for"), _ALWAYS_FOR_KEYS)
            if am is not None:
                esc = self.boolean(am.get("escalated"), am.child("escalated"))
                reo = self.boolean(am.get("reopened"), am.child("reopened"))
                always_escalated = always_escalated if esc is None else esc
                always_reopened = always_reopened if reo is None else reo
                always_categories = [
                    c
                    for c, n, p in self.ident_list(am.get("categories"), am.child("categories"))
                    if self.check_ref(c, n, p, self.categories, "category", "categories:")
                ]

        channel = self.choice(m.get("channel"), m.child("channel"), FOLLOWUP_CHANNELS)
        attempts = self.integer(m.get("attempts"), m.child("attempts"), 1)
        retry_every = self.period(m.get("retry_every"), m.child("retry_every"))
        quiet_hours = self.quiet_hours(m.get("quiet_hours"), m.child("quiet_hours"))
        deadline = self.period(m.get("deadline"), m.child("deadline"))
        calendar = self.text(m.get("calendar"), m.child("calendar"))
        max_rehandles = self.integer(m.get("max_rehandles"), m.child("max_rehandles"), 0)
        on_satisfied = self.choice(m.get("on_satisfied"), m.child("on_satisfied"), ON_SATISFIED)
        required = self.boolean(m.get("required"), m.child("required"))
        waiver_roles = (
            self.role_refs(m.get("waiver_roles"), m.child("waiver_roles"))
            if m.has("waiver_roles")
            else list(defaults.waiver_roles)
        )
        if not m.has("waiver_roles"):
            for role in waiver_roles:
                if role not in self.roles:
                    self.add(
                        m.child("waiver_roles"),
                        f"default waiver role {role!r} is not declared under roles:; "
                        "set waiver_roles",
                        node,
                    )

        def trigger(key: str, default: str | None, fired_by_system: bool) -> str | None:
            tnode = m.get(key)
            if tnode is not None and isinstance(tnode, ScalarNode) and tnode.tag == _NULL:
                if key != "escalate_trigger":
                    self.add(m.child(key), "must name a trigger", tnode)
                return None
            value = self.ident(tnode, m.child(key), "a trigger name") if tnode else default
            if value is None:
                return None
            at: Node | int = tnode if tnode is not None else m.line()
            if tnode is None and self.transitions_ok and value not in self.trigger_roles:
                self.add(
                    m.child(key),
                    f"the default {value!r} is not a trigger of this workflow; set {key}",
                    at,
                )
                return None
            if not self.check_trigger(value, at, m.child(key)):
                return None
            if fired_by_system:
                self.needs_system(value, at, m.child(key), "the follow-up")
            return value

        reopen_trigger = trigger("reopen_trigger", defaults.reopen_trigger, True)
        escalate_trigger = trigger("escalate_trigger", defaults.escalate_trigger, True)
        archive_trigger = trigger(
            "archive_trigger", defaults.archive_trigger, on_satisfied == "archive"
        )
        if not after or delay is None or reopen_trigger is None or archive_trigger is None:
            return None
        return FollowUpSpec(
            name=name,
            after_triggers=tuple(after),
            delay=delay,
            sample=defaults.sample if sample is None else sample,
            always_escalated=always_escalated,
            always_reopened=always_reopened,
            always_categories=tuple(always_categories),
            channel=channel or defaults.channel,
            attempts=defaults.attempts if attempts is None else attempts,
            retry_every=retry_every,
            quiet_hours=quiet_hours,
            deadline=deadline,
            calendar=calendar,
            max_rehandles=defaults.max_rehandles if max_rehandles is None else max_rehandles,
            reopen_trigger=reopen_trigger,
            escalate_trigger=escalate_trigger,
            on_satisfied="archive" if on_satisfied == "archive" else "allow_archive",
            archive_trigger=archive_trigger,
            required=defaults.required if required is None else required,
            waiver_roles=tuple(waiver_roles),
        )

    def quiet_hours(self, node: Node | None, path: str) -> QuietHours | None:
        if node is None:
            return None
        m = self.as_map(node, path, _QUIET_HOURS_KEYS, 'a mapping {start: "21:00", end: "08:00"}')
        if m is None:
            return None
        start = self.time(m.get("start"), m.child("start"))
        end = self.time(m.get("end"), m.child("end"))
        calendar = self.text(m.get("calendar"), m.child("calendar"))
        if start is None or end is None:
            return None
        if start == end:
            self.add(path, "start and end are the same time", node)
            return None
        return QuietHours(start=start, end=end, calendar=calendar)

    # -- graph ---------------------------------------------------------------------------------

    def check_graph(self, states_line: int) -> None:
        """The python-statemachine checks: one initial, some final, every state reachable, no
        dead ends, a final state reachable from everywhere. (Exits from final states are
        reported where the transition names its source.)"""
        states = self.states
        initials = [s.name for s in states.values() if s.initial]
        finals = {s.name for s in states.values() if s.final}
        if not initials:
            self.add(
                "states", "no initial state (mark exactly one with initial: true)", states_line
            )
        for extra in initials[1:]:
            self.add(
                f"states.{extra}.initial",
                f"a second initial state ({initials[0]!r} is already initial); "
                "exactly one is allowed",
                self.initial_lines.get(extra, self.state_lines[extra]),
            )
        if not finals:
            self.add("states", "no final state (mark at least one with final: true)", states_line)
        for name in initials:
            if name in finals:
                self.add(
                    f"states.{name}",
                    "a state cannot be both initial and final",
                    self.state_lines[name],
                )

        forward: dict[str, set[str]] = {s: set() for s in states}
        backward: dict[str, set[str]] = {s: set() for s in states}
        for t in self.transitions:
            for source in t.sources:
                forward[source].add(t.dest)
                backward[t.dest].add(source)

        reachable = _closure(initials, forward)
        reaches_final = _closure(finals, backward)
        for name in states:
            line = self.state_lines[name]
            if initials and name not in reachable:
                self.add(
                    f"states.{name}",
                    f"unreachable: no path leads here from the initial state {initials[0]!r}",
                    line,
                )
            if name in finals:
                continue
            if not forward[name]:
                self.add(
                    f"states.{name}",
                    "dead end: no transition leaves this non-final state "
                    "(add one, or mark it final: true)",
                    line,
                )
            elif finals and name not in reaches_final:
                self.add(f"states.{name}", "no path from here to a final state", line)


def _closure(roots: Iterable[str], edges: Mapping[str, set[str]]) -> set[str]:
    seen = set(roots)
    todo = list(seen)
    while todo:
        for nxt in edges.get(todo.pop(), ()):
            if nxt not in seen:
                seen.add(nxt)
                todo.append(nxt)
    return seen


# --------------------------------------------------------------------------------------------
# Files


@attrs.frozen
class _Loaded:
    spec: WorkflowSpec
    info: _DocInfo


def _sorted(problems: Iterable[Problem]) -> list[Problem]:
    # Stable: problems on one line keep the order they were found in.
    return sorted(problems, key=lambda p: (p.line is None, p.line or 0))


def _parse_text(text: str, file: str) -> tuple[list[_Loaded], list[Problem], int]:
    """Every document of ``text``: the valid ones, all problems, and the document count."""
    try:
        roots = list(yaml.compose_all(text, Loader=_LOADER))
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = int(mark.line) + 1 if mark is not None else None
        message = " ".join(filter(None, [exc.context, exc.problem])) or str(exc)
        return [], [Problem("", f"YAML syntax error: {message}", line, file)], 0
    except yaml.YAMLError as exc:
        return [], [Problem("", f"YAML syntax error: {exc}", None, file)], 0
    roots = [r for r in roots if r is not None]
    if not roots:
        return [], [Problem("", "no workflow in this file (it is empty)", None, file)], 0
    loaded: list[_Loaded] = []
    problems: list[Problem] = []
    for root in roots:
        parser = _Parser(root, file)
        spec = parser.parse()
        problems += parser.problems
        if spec is not None:
            loaded.append(_Loaded(spec, _DocInfo(file, dict(parser.lines))))
    names = {item.spec.name for item in loaded}
    if len(names) > 1:
        first = loaded[0].spec.name
        for item in loaded[1:]:
            if item.spec.name != first:
                problems.append(
                    Problem(
                        "workflow",
                        f"{item.spec.name!r}: the documents of one file are versions of one "
                        f"workflow ({first!r}); put other workflows in their own file",
                        item.info.lines.get("workflow"),
                        file,
                    )
                )
    return loaded, problems, len(roots)


def _check_versions(loaded: Sequence[_Loaded]) -> dict[str | None, list[Problem]]:
    """Across documents and files: no (name, version) twice, and each workflow's versions take
    effect one after the other. Problems are charged to the later document."""
    out: dict[str | None, list[Problem]] = {}

    def add(item: _Loaded, key: str, message: str) -> None:
        problem = Problem(key, message, item.info.lines.get(key), item.info.file)
        out.setdefault(item.info.file, []).append(problem)

    first: dict[tuple[str, int], _Loaded] = {}
    by_name: dict[str, list[_Loaded]] = {}
    for item in loaded:
        other = first.get(item.spec.key)
        if other is not None:
            where = f"{other.info.file}, line {other.info.lines.get('version')}"
            add(
                item,
                "version",
                f"{item.spec.name!r} version {item.spec.version} is already defined ({where})",
            )
            continue
        first[item.spec.key] = item
        by_name.setdefault(item.spec.name, []).append(item)
    for versions in by_name.values():
        versions.sort(key=lambda i: i.spec.version)
        for prev, item in itertools.pairwise(versions):
            a, b = prev.spec, item.spec
            if b.effective_from <= a.effective_from:
                add(
                    item,
                    "effective_from",
                    f"{b.effective_from} must be later than version {a.version}'s "
                    f"effective_from {a.effective_from}",
                )
            elif a.effective_until is not None and a.effective_until >= b.effective_from:
                add(
                    prev,
                    "effective_until",
                    f"{a.effective_until} overlaps version {b.version}, in force from "
                    f"{b.effective_from}",
                )
    return out


@attrs.frozen
class FileCheck:
    """The outcome of checking one file: its valid workflow versions, or its problems."""

    path: str
    specs: tuple[WorkflowSpec, ...]
    problems: tuple[Problem, ...]

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def error(self) -> DefinitionError | None:
        return DefinitionError(self.path, self.problems) if self.problems else None


PathArg = str | Path


def _expand(paths: PathArg | Iterable[PathArg]) -> list[tuple[str, str | None]]:
    """Files to read, each with a problem when it cannot be listed."""
    items = [paths] if isinstance(paths, (str, Path)) else list(paths)
    out: list[tuple[str, str | None]] = []
    seen: set[Path] = set()
    for item in items:
        path = Path(item)
        if path.is_dir():
            files = sorted(
                p for p in path.iterdir() if p.is_file() and p.suffix in WORKFLOW_SUFFIXES
            )
            if not files:
                out.append((str(path), "no workflow files (*.yaml, *.yml) in this folder"))
            for file in files:
                if file.resolve() not in seen:
                    seen.add(file.resolve())
                    out.append((str(file), None))
        elif path.is_file():
            if path.resolve() not in seen:
                seen.add(path.resolve())
                out.append((str(path), None))
        else:
            out.append((str(path), "no such file or folder"))
    return out


def check_files(paths: PathArg | Iterable[PathArg]) -> list[FileCheck]:
    """Check files and folders (``*.yaml``/``*.yml``, not recursive), one result per file.

    Besides each document's own problems, (name, version) must be unique across all of them,
    and each workflow's versions must take effect in version order."""
    files = _expand(paths)
    per_file: dict[str, tuple[list[_Loaded], list[Problem]]] = {}
    for file, unreadable in files:
        if unreadable is not None:
            per_file[file] = ([], [Problem("", unreadable, None, file)])
            continue
        try:
            text = Path(file).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            per_file[file] = ([], [Problem("", f"cannot read: {exc}", None, file)])
            continue
        loaded, problems, _ = _parse_text(text, file)
        per_file[file] = (loaded, problems)
    cross = _check_versions([item for loaded, _ in per_file.values() for item in loaded])
    out: list[FileCheck] = []
    for file, (loaded, problems) in per_file.items():
        problems = _sorted([*problems, *cross.get(file, [])])
        specs = () if problems else tuple(item.spec for item in loaded)
        out.append(FileCheck(file, specs, tuple(problems)))
    return out


def validate_paths(paths: PathArg | Iterable[PathArg]) -> list[DefinitionError]:
    """One :class:`DefinitionError` per invalid file (empty when everything is valid)."""
    return [c.error for c in check_files(paths) if c.error is not None]


def load_workflows(path_or_paths: PathArg | Iterable[PathArg]) -> list[WorkflowSpec]:
    """Every workflow version in a file, a folder of ``*.yaml``/``*.yml`` files, or several of
    those, sorted by (name, version).

    A file holds one workflow document, or several documents separated by ``---`` (versions of
    the same workflow). Raises one :class:`DefinitionError` listing every problem of every file.
    """
    checks = check_files(path_or_paths)
    errors = [c.error for c in checks if c.error is not None]
    if len(errors) == 1:
        raise errors[0]
    if errors:
        raise DefinitionError.merge(errors)
    return sorted((s for c in checks for s in c.specs), key=lambda s: s.key)


def load_workflow_text(text: str, source: str = "<string>") -> WorkflowSpec:
    """The one workflow document in ``text``; ``source`` names it in problems and on the spec."""
    loaded, problems, count = _parse_text(text, source)
    problems += [p for ps in _check_versions(loaded).values() for p in ps]
    if count > 1:
        problems.append(
            Problem(
                "",
                f"holds {count} documents (workflow versions); load it with load_workflows()",
                None,
                source,
            )
        )
    if problems:
        raise DefinitionError(source, _sorted(problems))
    return loaded[0].spec


def load_workflow(path: str | Path) -> WorkflowSpec:
    """The one workflow document in the file at ``path``. Raises :class:`DefinitionError`."""
    source = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise DefinitionError(source, [Problem("", f"cannot read: {exc}", None, source)]) from exc
    return load_workflow_text(text, source)


if __name__ == "__main__":
    print(f"wrote {write_json_schema()}")
