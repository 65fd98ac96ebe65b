"""The workflows an engine knows: every version of every workflow, and their compiled machines."""

from __future__ import annotations

import datetime as dt
import difflib
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path

from casework.errors import WorkflowNotFound
from casework.machine import CompiledWorkflow, Guard, GuardContext
from casework.spec import WorkflowSpec


class WorkflowRegistry:
    """Versions by name, sorted by ``effective_from``; one compiled machine per version."""

    def __init__(
        self,
        specs: Iterable[WorkflowSpec],
        guards: Mapping[str, Guard | Callable[[GuardContext], bool]],
    ) -> None:
        self._versions: dict[str, list[WorkflowSpec]] = {}
        for spec in specs:
            self._versions.setdefault(spec.name, []).append(spec)
        for versions in self._versions.values():
            versions.sort(key=lambda s: (s.effective_from, s.version))
        # Compile every version up front: a missing guard is a setup error, found at start.
        self._compiled = {
            s.key: CompiledWorkflow(s, guards) for vs in self._versions.values() for s in vs
        }

    @classmethod
    def from_path(
        cls, path: str | Path, guards: Mapping[str, Guard | Callable[[GuardContext], bool]]
    ) -> WorkflowRegistry:
        from casework.loading import load_workflows

        return cls(load_workflows(path), guards)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(sorted(self._versions))

    def versions(self, name: str) -> tuple[WorkflowSpec, ...]:
        return tuple(self._known(name))

    def all(self) -> tuple[WorkflowSpec, ...]:
        return tuple(s for name in self.names for s in self._versions[name])

    def _known(self, name: str) -> list[WorkflowSpec]:
        try:
            return self._versions[name]
        except KeyError:
            close = difflib.get_close_matches(name, list(self._versions), n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            known = ", ".join(self.names) or "none loaded"
            raise WorkflowNotFound(
                name, f"no workflow named {name!r}{hint}; known: {known}"
            ) from None

    def in_force(self, name: str, on: dt.date) -> WorkflowSpec:
        """The version whose ``effective_from`` is the latest one on or before ``on``."""
        chosen = None
        for spec in self._known(name):
            if spec.effective_from <= on and (
                spec.effective_until is None or on <= spec.effective_until
            ):
                chosen = spec
        if chosen is None:
            first = self._known(name)[0].effective_from
            raise WorkflowNotFound(
                name,
                f"workflow {name!r} has no version in force on {on} (the first starts {first})",
            )
        return chosen

    def get(self, name: str, version: int) -> WorkflowSpec:
        for spec in self._known(name):
            if spec.version == version:
                return spec
        raise WorkflowNotFound(name, f"workflow {name!r} has no version {version}")

    def compiled(self, name: str, version: int) -> CompiledWorkflow:
        try:
            return self._compiled[(name, version)]
        except KeyError:
            self.get(name, version)  # raises the clear error
            raise
