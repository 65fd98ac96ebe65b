"""Workflow files → WorkflowSpec: complete validation, every problem at once, with lines."""

from __future__ import annotations

import datetime as dt
import json
import textwrap
from pathlib import Path

import pytest

from casework.errors import DefinitionError, Problem
from casework.loading import (
    SCHEMA_PATH,
    check_files,
    json_schema,
    load_workflow,
    load_workflow_text,
    load_workflows,
    validate_paths,
)
from casework.periods import Period, Unit
from casework.spec import Comparison, GuardSpec, WorkflowSpec

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = Path(__file__).resolve().parent / "fixtures" / "workflows"
DEFAULT = ROOT / "workflows" / "consumer_complaint.yaml"

HEADER = """\
workflow: demo
version: 1
effective_from: 2020-01-01
roles: [clerk]
"""

# A valid two-step workflow that the small tests below break one piece at a time.
BASE = (
    HEADER
    + """\
states:
  open: {initial: true}
  working: {}
  done: {final: true}
transitions:
  - {trigger: start, source: open, dest: working, roles: [clerk]}
  - {trigger: finish, source: working, dest: done, roles: [clerk]}
"""
)


def problems_of(text: str) -> list[Problem]:
    with pytest.raises(DefinitionError) as info:
        load_workflow_text(textwrap.dedent(text), source="t.yaml")
    return list(info.value.problems)


def one_problem(text: str) -> Problem:
    found = problems_of(text)
    assert len(found) == 1, "\n".join(p.render() for p in found)
    return found[0]


def with_extra(extra: str) -> str:
    return BASE + textwrap.dedent(extra)


# --- the default workflow -------------------------------------------------------------------


def test_base_fixture_is_valid() -> None:
    """The baseline the small tests modify loads cleanly (so each test's problem is its own)."""
    spec = load_workflow_text(BASE)
    assert spec.initial == "open" and spec.finals == {"done"}


def test_shipped_workflows_all_validate() -> None:
    """Every workflows/*.yaml shipped with casework is valid."""
    files = sorted((ROOT / "workflows").glob("*.y*ml"))
    assert files
    assert validate_paths(files) == []


def test_shipped_workflows_point_editors_at_the_schema() -> None:
    """Shipped files start with the yaml-language-server comment naming the published schema."""
    for file in sorted((ROOT / "workflows").glob("*.y*ml")):
        first = file.read_text(encoding="utf-8").splitlines()[0]
        assert (
            first == "# yaml-language-server: $schema=../src/casework/schema/workflow.schema.json"
        )
        assert (file.parent / first.split("=", 1)[1]).resolve() == SCHEMA_PATH.resolve()


def test_default_workflow_has_the_contract_states_and_triggers() -> None:
    """consumer_complaint v1: the state, trigger, source and role names other code relies on."""
    spec = load_workflow(DEFAULT)
    assert (spec.name, spec.version, spec.effective_from) == (
        "consumer_complaint",
        1,
        dt.date(2020, 1, 1),
    )
    assert (spec.timezone, spec.calendar, spec.metadata["basis"]) == (
        "Asia/Shanghai",
        "cn",
        "policy",
    )
    assert list(spec.states) == [
        "received",
        "accepted",
        "investigating",
        "handling",
        "escalated",
        "feedback",
        "archived",
        "rejected",
        "withdrawn",
        "transferred",
    ]
    assert spec.initial == "received"
    assert spec.finals == {"archived", "rejected", "withdrawn", "transferred"}
    assert all(s.label.zh and s.label.en for s in spec.states.values())
    edges = {
        t.trigger: (set(t.sources), t.dest, set(t.roles), t.requires) for t in spec.transitions
    }
    assert edges == {
        "accept": ({"received"}, "accepted", {"clerk", "supervisor"}, ()),
        "reject": ({"received"}, "rejected", {"clerk", "supervisor"}, ("reason",)),
        "transfer": (
            {"received", "accepted", "investigating"},
            "transferred",
            {"clerk", "supervisor"},
            (),
        ),
        "investigate": ({"accepted"}, "investigating", {"agent", "supervisor"}, ()),
        "handle": ({"investigating"}, "handling", {"agent", "supervisor"}, ()),
        "escalate": (
            {"accepted", "investigating", "handling"},
            "escalated",
            {"agent", "supervisor", "system"},
            ("reason",),
        ),
        "resolve": ({"escalated"}, "feedback", {"task_group"}, ()),
        "respond": ({"handling"}, "feedback", {"agent", "supervisor"}, ()),
        "reopen": ({"feedback"}, "handling", {"supervisor", "system"}, ()),
        "archive": ({"feedback"}, "archived", {"supervisor", "system"}, ()),
        "withdraw": (
            {"received", "accepted", "investigating", "handling", "escalated"},
            "withdrawn",
            {"clerk", "agent", "supervisor"},
            (),
        ),
    }
    assert spec.roles == ("clerk", "agent", "supervisor", "task_group", "senior")
    assert spec.channels == ("hotline", "website", "email", "offline", "third_party")
    assert spec.categories == (
        "product_quality_safety",
        "contract_disclosure",
        "after_sales",
        "other",
    )


def test_default_workflow_clocks_are_policy_periods() -> None:
    """The three clocks: periods, start/stop, ladder step names, extensions; all basis policy."""
    spec = load_workflow(DEFAULT)
    acceptance, handling, task_group = (
        spec.clock(n) for n in ("acceptance", "handling", "task_group")
    )
    assert all(c.basis == "policy" for c in spec.clocks)
    assert acceptance.period == Period(7, Unit.WORKING_DAYS)
    assert acceptance.start_states == ("received",)
    assert acceptance.stop_triggers == ("accept", "reject", "transfer", "withdraw")
    assert [s.name for s in acceptance.ladder] == ["at_50", "before_1_working_day"]
    assert handling.period == Period(30, Unit.DAYS)
    assert handling.start_triggers == ("accept",)
    assert handling.stop_states == ("feedback", "archived", "rejected", "withdrawn", "transferred")
    assert handling.restart_triggers == ("reopen",)
    assert [(s.name, s.fire) for s in handling.ladder] == [
        ("at_80", None),
        ("after_1_working_day", "escalate"),
    ]
    assert [(str(e.to), e.roles) for e in handling.extensions] == [
        ("45 days", ("supervisor",)),
        ("60 days", ("senior",)),
    ]
    assert task_group.period == Period(15, Unit.WORKING_DAYS)
    assert task_group.start_states == ("escalated",)
    assert task_group.stop_states == ("feedback", "withdrawn")


def test_default_workflow_followup_policy() -> None:
    """The satisfaction follow-up (回访) policy as the contract states it."""
    (f,) = load_workflow(DEFAULT).followups
    assert f.name == "satisfaction"
    assert f.after_triggers == ("respond", "resolve")
    assert f.delay == Period(3, Unit.WORKING_DAYS)
    assert (f.sample, f.channel, f.attempts) == (1.0, "phone", 3)
    assert f.retry_every == Period(1, Unit.DAYS)
    assert f.quiet_hours is not None
    assert (f.quiet_hours.start, f.quiet_hours.end) == (dt.time(21), dt.time(8))
    assert f.quiet_hours.calendar == "cn"
    assert f.deadline == Period(7, Unit.WORKING_DAYS)
    assert (f.max_rehandles, f.reopen_trigger, f.escalate_trigger) == (2, "reopen", "escalate")
    assert (f.on_satisfied, f.archive_trigger, f.required) == ("allow_archive", "archive", True)
    assert f.waiver_roles == ("supervisor",)


# --- the broken fixture: every problem at once ---------------------------------------------


def test_broken_fixture_reports_every_problem_at_once_with_lines_and_hints() -> None:
    """One load reports all 12 problems of broken_many.yaml, each with its line, path and hint."""
    path = FIXTURES / "broken_many.yaml"
    with pytest.raises(DefinitionError) as info:
        load_workflow(path)
    got = [(p.line, p.path, p.message) for p in info.value.problems]
    expected = [
        (5, "timezone", "unknown time zone 'Asia/Shanghia' (did you mean 'Asia/Shanghai'?)"),
        (6, "titel", "unknown key 'titel' (did you mean 'title'?)"),
        (11, "states.accepted.initial", "a second initial state"),
        (13, "states.closed", "duplicate key 'closed' (first defined at line 12)"),
        (14, "states.limbo", "dead end"),
        (15, "states.orphan", "unreachable"),
        (20, "transitions[0].roles[1]", "unknown role 'supervisr' (did you mean 'supervisor'?)"),
        (
            21,
            "transitions[0].guards[0]",
            "unknown guard 'has_contcat' (did you mean 'has_contact'?)",
        ),
        (24, "transitions[1].dest", "unknown state 'closd' (did you mean 'closed'?)"),
        (31, "transitions[3].source", "transition out of final state 'closed'"),
        (40, "clocks.acceptance.period", 'unknown unit (did you mean "7 working days"?)'),
        (
            42,
            "clocks.acceptance.stop.triggers[0]",
            "unknown trigger 'acept' (did you mean 'accept'?)",
        ),
    ]
    assert len(got) == len(expected)
    for (line, path_, message), (want_line, want_path, want_text) in zip(
        got, expected, strict=True
    ):
        assert (line, path_) == (want_line, want_path)
        assert want_text in message
    assert all(p.file == str(path) for p in info.value.problems)


def test_report_renders_in_the_house_format() -> None:
    """str(DefinitionError): 'file: N problems' then '  line N    path: message', by line."""
    path = FIXTURES / "broken_many.yaml"
    with pytest.raises(DefinitionError) as info:
        load_workflow(path)
    lines = str(info.value).splitlines()
    assert lines[0] == f"{path}: 12 problems"
    assert lines[1] == (
        "  line 5    timezone: unknown time zone 'Asia/Shanghia' (did you mean 'Asia/Shanghai'?)"
    )
    assert (
        "  line 24   transitions[1].dest: unknown state 'closd' (did you mean 'closed'?)" in lines
    )
    assert isinstance(info.value, ValueError)


def test_nothing_half_valid_is_returned() -> None:
    """A single problem anywhere makes the whole load fail; no partial spec comes back."""
    with pytest.raises(DefinitionError):
        load_workflow_text(BASE.replace("finish, source", "finish, sauce"))


# --- graph rules (python-statemachine style) ----------------------------------------------


def test_graph_no_initial_state() -> None:
    """A workflow without an initial state is rejected."""
    p = one_problem(BASE.replace("open: {initial: true}", "open: {}"))
    assert (p.path, p.line) == ("states", 5)
    assert "no initial state" in p.message


def test_graph_two_initial_states() -> None:
    """Two initial states are rejected at the second one."""
    p = one_problem(BASE.replace("working: {}", "working: {initial: true}"))
    assert (p.path, p.line) == ("states.working.initial", 7)
    assert "second initial state ('open' is already initial)" in p.message


def test_graph_no_final_state() -> None:
    """A workflow without a final state is rejected (and nothing can end)."""
    found = problems_of(
        BASE.replace("done: {final: true}", "done: {}")
        + "  - {trigger: again, source: done, dest: open, roles: [clerk]}\n"
    )
    assert [(p.path, p.message) for p in found] == [
        ("states", "no final state (mark at least one with final: true)"),
    ]


def test_graph_transition_out_of_final_state() -> None:
    """No transition may leave a final state."""
    p = one_problem(BASE + "  - {trigger: undo, source: done, dest: working, roles: [clerk]}\n")
    assert (p.path, p.line) == ("transitions[2].source", 12)
    assert "transition out of final state 'done'" in p.message


def test_graph_unreachable_state() -> None:
    """A state no path reaches from the initial state is rejected."""
    p = one_problem(
        BASE.replace("  done:", "  island: {}\n  done:")
        + "  - {trigger: leave, source: island, dest: done, roles: [clerk]}\n"
    )
    assert (p.path, p.line) == ("states.island", 8)
    assert "unreachable" in p.message


def test_graph_dead_end() -> None:
    """A non-final state with no way out is a dead end."""
    p = one_problem(
        BASE.replace("  done:", "  stuck: {}\n  done:")
        + "  - {trigger: park, source: working, dest: stuck, roles: [clerk]}\n"
    )
    assert (p.path, p.line) == ("states.stuck", 8)
    assert p.message.startswith("dead end")


def test_graph_every_state_can_reach_a_final_state() -> None:
    """States caught in a loop with no exit to a final state are rejected, each of them."""
    found = problems_of(
        BASE.replace("  done:", "  ping: {}\n  pong: {}\n  done:")
        + "  - {trigger: hit, source: working, dest: ping, roles: [clerk]}\n"
        + "  - {trigger: hit, source: ping, dest: pong, roles: [clerk]}\n"
        + "  - {trigger: back, source: pong, dest: ping, roles: [clerk]}\n"
    )
    assert [(p.path, p.message) for p in found] == [
        ("states.ping", "no path from here to a final state"),
        ("states.pong", "no path from here to a final state"),
    ]


def test_graph_state_cannot_be_initial_and_final() -> None:
    """One state may not be both initial and final."""
    found = problems_of(BASE.replace("open: {initial: true}", "open: {initial: true, final: true}"))
    assert any("both initial and final" in p.message for p in found)


# --- references -----------------------------------------------------------------------------


def test_star_source_means_every_non_final_state() -> None:
    """source: '*' expands to every non-final state, in state order."""
    spec = load_workflow_text(
        BASE + "  - {trigger: drop, source: '*', dest: done, roles: [clerk]}\n"
    )
    assert spec.transitions[-1].sources == ("open", "working")


def test_same_trigger_same_source_two_dests_unguarded_is_ambiguous() -> None:
    """An unguarded transition makes a later one (same trigger and source, other dest) dead."""
    p = one_problem(BASE + "  - {trigger: finish, source: working, dest: open, roles: [clerk]}\n")
    assert (p.path, p.line) == ("transitions[2]", 12)
    assert "ambiguous: transitions[1] already takes 'finish' from 'working'" in p.message


def test_same_trigger_same_source_same_dest_is_fine() -> None:
    """Two transitions for one (trigger, source, dest), e.g. for different roles, are allowed."""
    spec = load_workflow_text(
        BASE.replace("roles: [clerk]\n", "roles: [clerk, boss]\n", 1).replace(
            "roles: [clerk]", "roles: [clerk, boss]", 1
        )
        + "  - {trigger: finish, source: working, dest: done, roles: [boss]}\n"
    )
    assert len(spec.transitions) == 3


def test_guarded_alternatives_are_not_ambiguous() -> None:
    """A guarded first choice with an unguarded fallback is a legal branch."""
    text = BASE.replace(
        "  - {trigger: finish, source: working, dest: done, roles: [clerk]}",
        "  - {trigger: finish, source: working, dest: open, roles: [clerk],\n"
        "     guards: [{field: amount, op: '>', value: 100}]}\n"
        "  - {trigger: finish, source: working, dest: done, roles: [clerk]}",
    )
    assert len(load_workflow_text(text).transitions) == 3


def test_system_role_is_implicit() -> None:
    """'system' may appear in roles lists without being declared."""
    spec = load_workflow_text(BASE.replace("roles: [clerk]}", "roles: [clerk, system]}", 1))
    assert spec.transitions[0].roles == ("clerk", "system")


def test_unknown_nested_key_suggests_the_right_one() -> None:
    """Unknown keys are reported wherever they are, with a did-you-mean."""
    p = one_problem(BASE.replace("working: {}", "working: {lable: {en: Working}}"))
    assert (p.path, p.line) == ("states.working.lable", 7)
    assert p.message == "unknown key 'lable' (did you mean 'label'?)"


def test_missing_required_keys_are_each_reported() -> None:
    """Each missing required key is its own problem."""
    found = problems_of("workflow: demo\nstates: {a: {initial: true, final: true}}\n")
    missing = {p.path for p in found if p.message == "missing (required)"}
    assert missing == {"version", "effective_from", "roles", "transitions"}


def test_bad_identifier_suggests_a_valid_one() -> None:
    """Names follow ^[a-z][a-z0-9_]*$; a fixable name gets a suggestion."""
    p = one_problem(BASE.replace("workflow: demo", "workflow: Demo-Flow"))
    assert p.path == "workflow"
    assert "(did you mean 'demo_flow'?)" in p.message


def test_bad_values_each_reported() -> None:
    """Bad date, percentage, enum value, integer and boolean are all reported in one go."""
    text = (
        BASE.replace("effective_from: 2020-01-01", "effective_from: 2020-02-30")
        .replace("version: 1", "version: 0")
        .replace("working: {}", "working: {final: yes please}")
        + """\
clocks:
  c:
    period: 3 days
    rollover: non_workday
    start: {states: [open]}
    stop: {states: [done]}
    ladder: [{at: 150%}, {at: 50}]
"""
    )
    found = {p.path: p.message for p in problems_of(text)}
    assert "day is out of range" in found["effective_from"]
    assert found["version"] == "must be at least 1, got 0"
    assert found["states.working.final"].startswith("expected true or false")
    assert found["clocks.c.rollover"] == (
        "unknown value 'non_workday' (did you mean 'non_working_day'?)"
    )
    assert "strictly between 0% and 100%" in found["clocks.c.ladder[0].at"]
    assert found["clocks.c.ladder[1].at"] == '50 is more than 1 (did you mean "50%"?)'


def test_list_given_as_text_gets_a_hint() -> None:
    """roles: clerk (not a list) says how to write it."""
    p = one_problem(BASE.replace("roles: [clerk]\n", "roles: clerk\n", 1))
    assert p.message == "expected a list, got text 'clerk' (write [clerk])"


def test_undeclared_hook_and_bad_ladder_steps() -> None:
    """Hooks must be declared; a step needs exactly one of at/before/after; steps are unique."""
    found = problems_of(
        with_extra("""\
            clocks:
              c:
                period: 3 days
                start: {states: [open]}
                stop: {states: [done]}
                ladder:
                  - {at: 50%, hooks: [notify_boss]}
                  - {at: 25%, before: 1 day}
                  - {}
                  - {at: 0.5}
                  - {before: 5 days}
            """)
    )
    messages = {p.path: p.message for p in found}
    assert messages["clocks.c.ladder[0].hooks[0]"] == (
        "unknown hook 'notify_boss' (declare it under hooks:)"
    )
    assert (
        "exactly one of 'at', 'before', 'after' (got 'at' and 'before')"
        in messages["clocks.c.ladder[1]"]
    )
    assert "(got none)" in messages["clocks.c.ladder[2]"]
    assert messages["clocks.c.ladder[3]"] == "same step as clocks.c.ladder[0] (at_50)"
    assert "not within the period" in messages["clocks.c.ladder[4].before"]


def test_ladder_fire_needs_a_trigger_the_system_may_fire() -> None:
    """A ladder step fires as 'system': the trigger must exist and allow that role."""
    found = problems_of(
        with_extra("""\
            clocks:
              c:
                period: 3 days
                start: {states: [open]}
                stop: {states: [done]}
                ladder:
                  - {after: 1 day, fire: finish}
                  - {after: 2 days, fire: finnish}
            """)
    )
    assert [(p.path, p.message.split(",")[0]) for p in found] == [
        ("clocks.c.ladder[0].fire", "this step fires 'finish' as actor 'system'"),
        ("clocks.c.ladder[1].fire", "unknown trigger 'finnish' (did you mean 'finish'?)"),
    ]


def test_clock_edges_need_states_or_triggers_and_pause_not_final() -> None:
    """start/stop need at least one state or trigger; a clock cannot pause in a final state."""
    found = problems_of(
        with_extra("""\
            clocks:
              c:
                period: 3 days
                start: {states: [], triggers: []}
                stop: {triggers: [finish]}
                pause: [done]
            """)
    )
    assert {(p.path, p.message) for p in found} == {
        ("clocks.c.start", "needs at least one state or trigger"),
        ("clocks.c.pause[0]", "'done' is a final state; a clock cannot pause there"),
    }


def test_outlives_closure_needs_stop_triggers_and_is_located() -> None:
    """After closure no state can be entered: an outliving clock with only stop states could
    never stop; the problem points at the key's line. A bad value is a type error."""
    text = with_extra("""\
        clocks:
          c:
            period: 3 days
            start: {states: [open]}
            stop: {states: [done]}
            outlives_closure: true
          d:
            period: 3 days
            start: {states: [open]}
            stop: {triggers: [finish]}
            outlives_closure: sometimes
        """)
    found = problems_of(text)
    assert [(p.line, p.path) for p in found] == [
        (text.splitlines().index("    outlives_closure: true") + 1, "clocks.c.outlives_closure"),
        (
            text.splitlines().index("    outlives_closure: sometimes") + 1,
            "clocks.d.outlives_closure",
        ),
    ]
    assert "needs stop triggers" in found[0].message
    assert "add stop: {triggers: [...]}" in found[0].message
    assert "true or false" in found[1].message


def test_outlives_closure_is_read_into_the_spec() -> None:
    """Default false; true keeps the clock after closure (ladder fire steps are allowed)."""
    spec = load_workflow_text(
        with_extra("""\
            clocks:
              kept:
                period: 3 days
                start: {states: [working]}
                stop: {triggers: [finish]}
                outlives_closure: true
                ladder: [{after: 1 day, fire: finish}]
              plain:
                period: 3 days
                start: {states: [open]}
                stop: {states: [done]}
            """).replace("roles: [clerk]}\n", "roles: [clerk, system]}\n")
    )
    assert spec.clock("kept").outlives_closure is True
    assert spec.clock("plain").outlives_closure is False


def test_extensions_grow_in_the_same_unit() -> None:
    """Each extension is longer than the one before (or the period), in the period's own unit
    (an extension is added to the period's amount, so 30 days cannot grow to 45 working days)."""
    found = problems_of(
        with_extra("""\
            clocks:
              c:
                period: 30 days
                start: {states: [open]}
                stop: {states: [done]}
                extensions:
                  - {to: 20 days, roles: [clerk]}
                  - {to: 60 hours, roles: [clerk]}
                  - {to: 45 working days, roles: [boss]}
            """)
    )
    assert [(p.path, p.message) for p in found] == [
        ("clocks.c.extensions[0].to", "20 days is not longer than the period (30 days)"),
        (
            "clocks.c.extensions[1].to",
            "60 hours is counted in hours, the period (30 days) in days; use the same unit",
        ),
        ("clocks.c.extensions[2].roles[0]", "unknown role 'boss' (declare it under roles:)"),
        (
            "clocks.c.extensions[2].to",
            "45 working days is counted in working days, the period (30 days) in days; "
            "use the same unit",
        ),
    ]


def test_comparison_guards_are_checked() -> None:
    """Comparison guards: known op (with suggestion), known field, value shape per op."""
    text = HEADER + textwrap.dedent("""\
        categories: [goods, services]
        states:
          open: {initial: true}
          done: {final: true}
        transitions:
          - trigger: finish
            source: open
            dest: done
            roles: [clerk]
            guards:
              - {field: amount, op: "=>", value: 5}
              - {field: amont, op: "==", value: 5}
              - {field: category, op: in, value: goods}
              - {field: input.note, op: present, value: 1}
              - {field: category, op: in, value: [goods, servics]}
              - {field: data.level, op: ">", value: [1]}
              - {field: data.level, op: "=="}
              - {field: data.region, op: not_in, value: [north, south]}
              - {field: channel, op: "==", value: anything}
        """)
    found = [(p.path, p.message) for p in problems_of(text)]
    assert found == [
        ("transitions[0].guards[0].op", "unknown value '=>' (did you mean '>='?)"),
        (
            "transitions[0].guards[1].field",
            "unknown field 'amont' (did you mean 'amount'?); use a case field "
            "(amount, category, channel, product, respondent, state), data.KEY or input.KEY",
        ),
        ("transitions[0].guards[2].value", "op 'in' needs a list of values"),
        ("transitions[0].guards[3].value", "op 'present' takes no value"),
        ("transitions[0].guards[4].value", "unknown category 'servics' (did you mean 'services'?)"),
        ("transitions[0].guards[5].value", "op '>' needs a number, date or text"),
        ("transitions[0].guards[6].value", "missing (op '==' needs a value)"),
    ]


def test_comparison_guard_becomes_a_guardspec() -> None:
    """A valid comparison is kept as a GuardSpec with a Comparison."""
    spec = load_workflow(FIXTURES / "small_valid.yaml")
    assert spec.transitions[0].guards == (
        GuardSpec(name="has_contact"),
        GuardSpec(comparison=Comparison("channel", "in", ["web", "phone"])),
    )


def test_followup_references_are_checked() -> None:
    """Follow-ups: triggers exist, the system may fire reopen/escalate, categories declared,
    times are times, channel is known."""
    found = problems_of(
        with_extra("""\
            followups:
              visit:
                after: [finsh]
                delay: 1 day
                always_for: {categories: [food]}
                channel: fax
                quiet_hours: {start: "25:00", end: "08:00"}
                reopen_trigger: start
                escalate_trigger: null
                archive_trigger: finish
                waiver_roles: [clerk]
            """)
    )
    assert [(p.path, p.message.split(";")[0]) for p in found] == [
        ("followups.visit.after[0]", "unknown trigger 'finsh' (did you mean 'finish'?)"),
        (
            "followups.visit.always_for.categories[0]",
            "unknown category 'food' (declare it under categories:)",
        ),
        ("followups.visit.channel", "unknown value 'fax'"),
        ("followups.visit.quiet_hours.start", "expected a time like \"21:00\", got text '25:00'"),
        (
            "followups.visit.reopen_trigger",
            "the follow-up fires 'start' as actor 'system', but no transition of 'start' allows "
            "role 'system' (add it to that transition's roles)",
        ),
    ]


def test_followup_default_triggers_must_exist() -> None:
    """Omitted reopen_trigger/archive_trigger default to reopen/archive, which must exist."""
    found = problems_of(
        with_extra("""\
            followups:
              visit:
                after: [finish]
                delay: 1 day
                escalate_trigger: null
                waiver_roles: []
            """)
    )
    assert [(p.path, p.message) for p in found] == [
        (
            "followups.visit.reopen_trigger",
            "the default 'reopen' is not a trigger of this workflow; set reopen_trigger",
        ),
        (
            "followups.visit.archive_trigger",
            "the default 'archive' is not a trigger of this workflow; set archive_trigger",
        ),
    ]


def test_unquoted_times_are_read_as_times() -> None:
    """quiet_hours: {start: 21:00} works unquoted, though YAML 1.1 reads 21:00 as 1260."""
    (f,) = load_workflow(FIXTURES / "small_valid.yaml").followups
    assert f.quiet_hours is not None
    assert (f.quiet_hours.start, f.quiet_hours.end) == (dt.time(21), dt.time(7, 30))


def test_small_valid_fixture_maps_onto_the_spec() -> None:
    """Optional keys land in the right spec fields (defaults where omitted)."""
    spec = load_workflow(FIXTURES / "small_valid.yaml")
    assert (spec.timezone, spec.calendar, spec.pin_by) == ("Europe/Berlin", "de", "accepted")
    assert spec.effective_until == dt.date(2026, 4, 14)
    assert spec.metadata == {
        "basis": "law",
        "owner": "claims team",
        "reviewed_on": dt.date(2021, 2, 1),
    }
    (clock,) = spec.clocks
    assert clock.calendar == "de"  # inherited from the workflow
    assert clock.rollover == "statutory_holiday_block"
    assert (clock.basis, clock.legal_basis) == ("law", "Example Act §12")
    assert clock.pause_states == ("waiting_expert",)
    assert clock.max_pause == Period(30, Unit.DAYS)
    assert [s.name for s in clock.ladder] == ["at_50", "before_2_days", "after_1_day"]
    assert [e.notify for e in clock.extensions] == [True, False]
    (f,) = spec.followups
    assert (f.sample, f.always_escalated, f.always_reopened) == (0.25, False, True)
    assert (f.escalate_trigger, f.on_satisfied, f.required) == (None, "archive", False)


def test_yaml_syntax_error_has_a_line() -> None:
    """A YAML syntax error is one problem, with its line."""
    p = one_problem(HEADER + "states:\n  open: {initial: true\n  done: {}\n")
    assert p.message.startswith("YAML syntax error")
    assert p.line is not None


def test_empty_document_is_a_problem() -> None:
    """An empty file is not a workflow."""
    assert one_problem("# nothing\n").message == "no workflow in this file (it is empty)"


def test_top_level_must_be_a_mapping() -> None:
    """A list at the top is reported, not a crash."""
    assert one_problem("- a\n- b\n").message.startswith("expected a workflow mapping")


def test_non_text_keys_are_reported() -> None:
    """YAML 1.1 reads 'on:' as a boolean key; it is reported with a hint to quote it."""
    found = problems_of(BASE.replace("  working: {}", "  working: {}\n  on: {}"))
    assert found[0].message == "keys must be text, got the boolean on (quote it)"


# --- files, versions, fingerprints ---------------------------------------------------------


def test_multi_version_file_loads_two_versions() -> None:
    """Documents separated by --- are versions of one workflow, loaded together."""
    specs = load_workflows(FIXTURES / "multi_version.yaml")
    assert [(s.name, s.version, s.effective_from) for s in specs] == [
        ("ticket", 1, dt.date(2020, 1, 1)),
        ("ticket", 2, dt.date(2026, 4, 15)),
    ]
    assert list(specs[1].states) == ["new", "working", "done"]
    assert all(s.source == str(FIXTURES / "multi_version.yaml") for s in specs)


def test_load_workflow_refuses_a_multi_version_file() -> None:
    """load_workflow() returns one spec, so a file with two documents points to load_workflows."""
    with pytest.raises(DefinitionError) as info:
        load_workflow(FIXTURES / "multi_version.yaml")
    assert "load_workflows()" in str(info.value)


def write(tmp: Path, name: str, text: str) -> Path:
    path = tmp / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def version_doc(version: int, effective_from: str, until: str | None = None) -> str:
    doc = BASE.replace("version: 1", f"version: {version}").replace(
        "effective_from: 2020-01-01", f"effective_from: {effective_from}"
    )
    return doc + (f"effective_until: {until}\n" if until else "")


def test_versions_must_take_effect_in_order(tmp_path: Path) -> None:
    """Version 2 must start after version 1, in one file or across files."""
    write(tmp_path, "a.yaml", version_doc(1, "2021-01-01"))
    b = write(tmp_path, "b.yaml", version_doc(2, "2020-06-01"))
    with pytest.raises(DefinitionError) as info:
        load_workflows(tmp_path)
    (p,) = info.value.problems
    assert (p.file, p.path, p.line) == (str(b), "effective_from", 3)
    assert p.message == "2020-06-01 must be later than version 1's effective_from 2021-01-01"


def test_effective_until_must_not_overlap_the_next_version(tmp_path: Path) -> None:
    """A version's effective_until ends before the next version's effective_from."""
    write(
        tmp_path,
        "w.yaml",
        version_doc(1, "2020-01-01", "2021-06-30") + "---\n" + version_doc(2, "2021-06-01"),
    )
    with pytest.raises(DefinitionError) as info:
        load_workflows(tmp_path)
    (p,) = info.value.problems
    assert p.path == "effective_until"
    assert "overlaps version 2" in p.message


def test_duplicate_name_and_version_across_files(tmp_path: Path) -> None:
    """The same (workflow, version) in two files is reported in the second file."""
    a = write(tmp_path, "a.yaml", BASE)
    write(tmp_path, "b.yml", BASE)
    checks = check_files(tmp_path)
    assert [c.ok for c in checks] == [True, False]
    (p,) = checks[1].problems
    assert p.path == "version"
    assert p.message == f"'demo' version 1 is already defined ({a}, line 2)"


def test_one_file_holds_one_workflow_name(tmp_path: Path) -> None:
    """All documents of a file are versions of the same workflow."""
    other = version_doc(2, "2021-01-01").replace("workflow: demo", "workflow: other")
    write(tmp_path, "w.yaml", BASE + "---\n" + other)
    (check,) = check_files(tmp_path)
    (p,) = check.problems
    assert (p.path, p.line) == ("workflow", 13)
    assert "versions of one workflow ('demo')" in p.message


def test_problems_from_several_files_are_merged(tmp_path: Path) -> None:
    """load_workflows raises one error holding the problems of every bad file."""
    write(tmp_path, "a.yaml", BASE.replace("version: 1", "version: x"))
    write(tmp_path, "b.yaml", BASE.replace("effective_from: 2020-01-01", "effective_from: soon"))
    write(tmp_path, "c.yaml", BASE.replace("workflow: demo", "workflow: fine"))
    with pytest.raises(DefinitionError) as info:
        load_workflows(tmp_path)
    assert [(Path(p.file or "").name, p.path) for p in info.value.problems] == [
        ("a.yaml", "version"),
        ("b.yaml", "effective_from"),
    ]
    assert len(validate_paths(tmp_path)) == 2


def test_missing_path_and_empty_folder_are_problems(tmp_path: Path) -> None:
    """A path that does not exist, or a folder without workflow files, is reported."""
    (missing,) = validate_paths(tmp_path / "nope.yaml")
    assert missing.problems[0].message == "no such file or folder"
    (empty,) = validate_paths(tmp_path)
    assert "no workflow files" in empty.problems[0].message


def test_folder_loads_every_yaml_and_yml_sorted(tmp_path: Path) -> None:
    """A folder yields every *.yaml and *.yml workflow, sorted by (name, version); others are
    ignored."""
    write(tmp_path, "z.yml", BASE.replace("workflow: demo", "workflow: alpha"))
    write(tmp_path, "a.yaml", BASE)
    write(tmp_path, "notes.txt", "not a workflow")
    assert [s.name for s in load_workflows(tmp_path)] == ["alpha", "demo"]


def test_fingerprint_ignores_layout_but_not_content() -> None:
    """The fingerprint is the sha256 of the canonical content: comments, key order and flow
    style do not change it; a changed value does."""
    spec = load_workflow_text(BASE)
    relaid = "# a comment\n" + BASE.replace("  working: {}", "  working:\n    {}").replace(
        "version: 1\n", ""
    ).replace("workflow: demo\n", "workflow: demo\nversion: 1\n")
    assert load_workflow_text(relaid).fingerprint == spec.fingerprint
    assert len(spec.fingerprint) == 64
    changed = load_workflow_text(BASE.replace("roles: [clerk]}", "roles: [clerk, system]}", 1))
    assert changed.fingerprint != spec.fingerprint


def test_source_is_the_file_path() -> None:
    """spec.source is the path the spec was read from."""
    assert load_workflow(DEFAULT).source == str(DEFAULT)
    assert load_workflow_text(BASE, source="mem").source == "mem"


def test_specs_compare_by_content() -> None:
    """Two loads of one file give equal specs (source and fingerprint are not compared)."""
    a: WorkflowSpec = load_workflow(DEFAULT)
    assert a == load_workflow_text(DEFAULT.read_text(encoding="utf-8"))


# --- the JSON Schema ------------------------------------------------------------------------


def test_published_schema_is_current() -> None:
    """schema/workflow.schema.json equals json_schema(); regenerate with
    `python -m casework.loading`."""
    assert json.loads(SCHEMA_PATH.read_text(encoding="utf-8")) == json_schema()


def test_schema_is_draft_2020_12_and_described() -> None:
    """The schema declares draft 2020-12, forbids unknown keys and describes every property."""
    schema = json_schema()
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["required"] == [
        "workflow",
        "version",
        "effective_from",
        "roles",
        "states",
        "transitions",
    ]
    objects = [schema, *(d for d in schema["$defs"].values() if d.get("type") == "object")]
    for obj in objects:
        assert obj["additionalProperties"] is False
        for name, prop in obj["properties"].items():
            assert prop.get("description"), name


def test_shipped_files_satisfy_the_schema() -> None:
    """The default workflow validates against the schema (when jsonschema is installed)."""
    jsonschema = pytest.importorskip("jsonschema")
    import yaml

    class Yaml12ish(yaml.SafeLoader):
        """Dates stay text, as for editors that read YAML 1.2."""

    Yaml12ish.yaml_implicit_resolvers = {
        k: [r for r in rs if r[0] != "tag:yaml.org,2002:timestamp"]
        for k, rs in yaml.SafeLoader.yaml_implicit_resolvers.items()
    }
    validator = jsonschema.Draft202012Validator(json_schema())
    for doc in yaml.load_all(DEFAULT.read_text(encoding="utf-8"), Loader=Yaml12ish):
        assert list(validator.iter_errors(doc)) == []
    broken = yaml.load(
        (FIXTURES / "broken_many.yaml").read_text(encoding="utf-8"), Loader=Yaml12ish
    )
    assert list(validator.iter_errors(broken))
