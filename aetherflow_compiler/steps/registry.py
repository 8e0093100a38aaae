"""The step registry: what the compiler knows about each step type.

A step type's inputs are checked against a JSON Schema. Built-in types keep theirs in
the shipped flow schema (so editors see them too); plugin types will bring their own.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True)
class StepType:
    name: str
    # Keys the step's result may hold; None when unknown (plugins without a declaration).
    outputs: frozenset[str] | None = None
    # True when the step can report SKIPPED ("no data") at all.
    can_skip: bool = False
    # The resource kind that the `resource` input must name, if the step uses one.
    resource_kind: str | None = None
    # Input whose literal mapping keys are added to the result (external.process `outputs`).
    extra_outputs_input: str | None = None
    # Input holding an embedded step whose result this step returns (with_lock `step`).
    inner_step_input: str | None = None
    # (runtime module, function) implementing the step in the Python target; None while
    # the target does not support the step type yet.
    runtime: tuple[str, str] | None = None


class StepRegistry:
    """Name -> StepType. Extend with `register` (plugins); lookups never raise."""

    def __init__(self, types: Iterable[StepType] = ()) -> None:
        self._types: dict[str, StepType] = {}
        for t in types:
            self.register(t)

    def register(self, step_type: StepType) -> None:
        if step_type.name in self._types:
            raise ValueError(f"step type {step_type.name!r} is already registered")
        self._types[step_type.name] = step_type

    def get(self, name: str) -> StepType | None:
        return self._types.get(name)

    def names(self) -> list[str]:
        return sorted(self._types)


def default_registry() -> StepRegistry:
    from aetherflow_compiler.steps.builtins import BUILTIN_STEP_TYPES

    return StepRegistry(BUILTIN_STEP_TYPES)
