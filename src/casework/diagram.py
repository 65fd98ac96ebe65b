"""A workflow as a Mermaid ``stateDiagram-v2``, for documentation and review."""

from __future__ import annotations

from typing import Literal

from casework.spec import Label, TransitionSpec, WorkflowSpec

__all__ = ["to_mermaid"]

Lang = Literal["zh", "en", "both"]

# Words the stateDiagram grammar reads as keywords; a state with one of these names gets an
# alias id (its label still shows the name).
_RESERVED = frozenset(
    {"as", "class", "classdef", "click", "default", "direction", "end", "hide", "left", "note"}
    | {"of", "right", "state", "style"}
)

# Mermaid entity codes for characters its grammar would read as syntax.
_ESCAPES = str.maketrans(
    {
        "#": "#35;",
        '"': "#quot;",
        ";": "#59;",
        "<": "#lt;",
        ">": "#gt;",
        "%": "#37;",
        "{": "#123;",
        "}": "#125;",
    }
)


def _escape(text: str) -> str:
    return " ".join(text.split()).translate(_ESCAPES)


def _label_text(label: Label, name: str, lang: Lang) -> str:
    if lang == "both":
        parts = [p for p in (label.zh, label.en) if p]
        return " / ".join(parts) if parts else name
    return label.text(lang, fallback=name)


def _edge_text(t: TransitionSpec, lang: Lang) -> str:
    text = t.trigger
    shown = t.label.text(lang) if lang != "both" else ""
    if shown and shown.lower() != t.trigger.replace("_", " "):
        text = f"{t.trigger} {shown}"
    if t.guards:
        text += f" [{', '.join(g.label for g in t.guards)}]"
    if t.roles:
        text += f" ({', '.join(t.roles)})"
    return text


def _ids(spec: WorkflowSpec) -> dict[str, str]:
    taken = set(spec.states)
    ids: dict[str, str] = {}
    for name in spec.states:
        alias = name
        while alias in _RESERVED or (alias != name and alias in taken):
            alias += "_"
        taken.add(alias)
        ids[name] = alias
    return ids


def to_mermaid(spec: WorkflowSpec, *, lang: Lang = "both") -> str:
    """The workflow as a Mermaid ``stateDiagram-v2``.

    ``[*] --> <initial>``, one edge per (transition, source) labelled with the trigger, its
    guards and the roles allowed to fire it, and ``<final> --> [*]``. States are shown with their
    labels (``lang``: ``"zh"``, ``"en"`` or ``"both"``). Text is escaped with Mermaid entity
    codes, so labels may hold any character.
    """
    ids = _ids(spec)
    title = _label_text(spec.title, spec.name, lang)
    lines = [
        "stateDiagram-v2",
        f"    %% {spec.name} v{spec.version} ({_escape(title)}), effective {spec.effective_from}",
    ]
    for state in spec.states.values():
        text = _escape(_label_text(state.label, state.name, lang))
        if text != ids[state.name]:
            lines.append(f'    state "{text}" as {ids[state.name]}')
    initials = [s.name for s in spec.states.values() if s.initial]
    lines += [f"    [*] --> {ids[name]}" for name in initials]
    for t in spec.transitions:
        text = _escape(_edge_text(t, lang))
        lines += [f"    {ids[source]} --> {ids[t.dest]} : {text}" for source in t.sources]
    finals = [s.name for s in spec.states.values() if s.final]
    lines += [f"    {ids[name]} --> [*]" for name in finals]
    return "\n".join(lines) + "\n"
