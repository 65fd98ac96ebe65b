"""Workflows as Mermaid stateDiagram-v2 text."""

from __future__ import annotations

from pathlib import Path

from casework.diagram import to_mermaid
from casework.loading import load_workflow, load_workflow_text

DEFAULT = Path(__file__).resolve().parent.parent / "workflows" / "consumer_complaint.yaml"


def test_default_workflow_diagram_has_initial_finals_and_edges() -> None:
    """The default workflow's diagram starts at received, ends at every final state and draws
    each (transition, source) edge labelled with its trigger and roles."""
    text = to_mermaid(load_workflow(DEFAULT))
    lines = [line.strip() for line in text.splitlines()]
    assert lines[0] == "stateDiagram-v2"
    assert "[*] --> received" in lines
    for final in ("archived", "rejected", "withdrawn", "transferred"):
        assert f"{final} --> [*]" in lines
    for edge in (
        "received --> accepted : accept (clerk, supervisor)",
        "received --> rejected : reject (clerk, supervisor)",
        "investigating --> transferred : transfer (clerk, supervisor)",
        "handling --> escalated : escalate (agent, supervisor, system)",
        "escalated --> feedback : resolve (task_group)",
        "feedback --> handling : reopen (supervisor, system)",
        "feedback --> archived : archive (supervisor, system)",
        "escalated --> withdrawn : withdraw (clerk, agent, supervisor)",
    ):
        assert edge in lines
    arrows = [line for line in lines if "-->" in line and "[*]" not in line]
    assert len(arrows) == 19  # every source of every transition


def test_state_labels_show_chinese_and_english() -> None:
    """States are drawn with their zh/en labels; --lang picks one language."""
    spec = load_workflow(DEFAULT)
    assert '    state "已接收 / Received" as received' in to_mermaid(spec).splitlines()
    assert '    state "已接收" as received' in to_mermaid(spec, lang="zh").splitlines()
    en = to_mermaid(spec, lang="en").splitlines()
    assert '    state "Not accepted" as rejected' in en
    assert "    received --> rejected : reject (clerk, supervisor)" in en


def test_labels_are_escaped_and_reserved_names_aliased() -> None:
    """Quotes, #, ;, <, > and % in labels become Mermaid entity codes; a state named like a
    Mermaid keyword ('end', 'state') gets an alias id but keeps its name as label."""
    spec = load_workflow_text(
        """\
workflow: odd
version: 1
effective_from: 2020-01-01
roles: [clerk]
states:
  state: {initial: true, label: {en: 'Say "hi"; #1 <b> 100%'}}
  end: {final: true}
transitions:
  - trigger: finish
    source: state
    dest: end
    roles: [clerk]
    guards: [{field: amount, op: ">=", value: 5}]
"""
    )
    lines = to_mermaid(spec).splitlines()
    assert '    state "Say #quot;hi#quot;#59; #35;1 #lt;b#gt; 100#37;" as state_' in lines
    assert '    state "end" as end_' in lines
    assert "    [*] --> state_" in lines
    assert "    state_ --> end_ : finish [amount #gt;= 5] (clerk)" in lines
    assert "    end_ --> [*]" in lines
