"""The intermediate representation: plain frozen data, no behaviour beyond small queries.

Code generators consume only this (never YAML). Values are literals, `Template`s (parsed
once, at compile time), `Seq` and `Map`; `when` is a parsed expression tree. Every job,
step and resource keeps the file and line it came from, for comments in the artifact.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from aetherflow_compiler.ir.template import Ref, Template
from aetherflow_compiler.ir.when import WhenExpr


@dataclass(frozen=True)
class Seq:
    items: tuple[Value, ...]


@dataclass(frozen=True)
class Map:
    entries: tuple[tuple[Any, Value], ...]

    def get(self, key: Any, default: Value = None) -> Value:
        for k, v in self.entries:
            if k == key:
                return v
        return default

    def keys(self) -> list[Any]:
        return [k for k, _ in self.entries]


Value = None | bool | int | float | str | datetime.date | Template | Seq | Map


@dataclass(frozen=True)
class Origin:
    """Where something was written: the source name shown in artifacts, and its line."""

    file: str
    line: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}"


@dataclass(frozen=True)
class Step:
    id: str
    type: str
    inputs: Map
    outputs: Map
    skip_job_on_no_data: bool
    origin: Origin


# What every run sets in its env snapshot (and so every step's environment), as the
# engine does: the workspace root as written, or with a bundle the bundle's folder
# (docs/compatibility.md). A flow reading them needs no deployment to set them.
RUN_ENV = ("AETHERFLOW_LOCAL_ROOT_DIR", "AETHERFLOW_ACTIVE_DIR", "AETHERFLOW_CACHE_DIR")

# The input of a built-in step type that holds an embedded step (with_lock: `step`).
EMBEDDING_INPUTS = {"with_lock": "step"}


@dataclass(frozen=True)
class StepNode:
    """A job's step, or a step embedded in one (with_lock's `step`, at any depth)."""

    job: int  # the job's index in the flow
    step: Step  # the job's step: itself, or the one it is embedded in
    type: str
    inputs: Map
    path: tuple[Any, ...]  # ("jobs", j, "steps", s) + ("inputs", "step") per level


@dataclass(frozen=True)
class Job:
    id: str
    description: str | None
    depends_on: tuple[str, ...]
    when: WhenExpr | None
    when_source: str | None
    steps: tuple[Step, ...]
    origin: Origin


@dataclass(frozen=True)
class Resource:
    name: str
    kind: str
    driver: str
    profile: str | None
    config: Map
    options: Map
    # (section, dotted path) of every value passed through the secrets provider's decode().
    decode: tuple[tuple[str, str], ...]
    origin: Origin
    # False when the resource names a profile that was not given at compile time; the
    # artifact then overlays it from AETHERFLOW_PROFILES_JSON at run time.
    profile_merged: bool = True


@dataclass(frozen=True)
class Workspace:
    root: Value
    cleanup_policy: str  # on_success | always | never
    layout: Map  # artifacts, scratch, manifests (defaults merged in)


@dataclass(frozen=True)
class StateConfig:
    backend: str  # sqlite | file
    path: Value


@dataclass(frozen=True)
class LockConfig:
    scope: str  # none | job | flow
    ttl_seconds: Value


@dataclass(frozen=True)
class EnvFile:
    """An env file the artifact loads at run time (a bundle manifest's `env_files`), `path`
    relative to the deployed dist."""

    path: str
    type: str = "dotenv"
    optional: bool = False
    prefix: str = ""


@dataclass(frozen=True)
class Flow:
    id: str
    description: str | None
    source: str
    source_sha256: str
    workspace: Workspace
    state: StateConfig
    locks: LockConfig
    resources: tuple[Resource, ...]
    jobs: tuple[Job, ...]
    origin: Origin

    def step_types(self) -> list[str]:
        """Every step type the flow uses (embedded steps at any depth included), sorted."""
        return list(self._step_types)

    def env_refs(self) -> dict[str, bool]:
        """Env variable name -> True when every reference to it has a default (or the
        run sets it: RUN_ENV)."""
        return dict(self._env_refs)

    # The queries above are asked several times per compile; a Flow never changes, so
    # each is answered once (cached_property writes the instance's __dict__ directly).
    def step_nodes(self) -> Iterator[StepNode]:
        """Every step in declared order, each followed by the steps embedded in it, at
        any depth (with_lock around with_lock around a process: three nodes)."""
        for ji, job in enumerate(self.jobs):
            for si, step in enumerate(job.steps):
                node: StepNode | None = StepNode(
                    ji, step, step.type, step.inputs, ("jobs", ji, "steps", si)
                )
                while node is not None:
                    yield node
                    node = _embedded(node)

    @cached_property
    def _step_types(self) -> tuple[str, ...]:
        return tuple(sorted({node.type for node in self.step_nodes()}))

    @cached_property
    def _env_refs(self) -> dict[str, bool]:
        out: dict[str, bool] = {}
        for ref in self.refs():
            if ref.root == "env" and len(ref.path) >= 2:
                name = ref.path[1]
                out[name] = out.get(name, True) and (ref.default is not None or name in RUN_ENV)
        return dict(sorted(out.items()))

    def refs(self) -> Iterator[Ref]:
        values: list[Value] = [
            self.workspace.root,
            self.workspace.layout,
            self.state.path,
            self.locks.ttl_seconds,
        ]
        for res in self.resources:
            values.extend([res.config, res.options])
        for job in self.jobs:
            for step in job.steps:
                values.extend([step.inputs, step.outputs])
        for value in values:
            yield from value_refs(value)


def _embedded(node: StepNode) -> StepNode | None:
    """The step embedded in `node` (a mapping with a string type), if any."""
    name = EMBEDDING_INPUTS.get(node.type)
    inner = node.inputs.get(name) if name else None
    if not isinstance(inner, Map) or not isinstance(inner.get("type"), str):
        return None
    inputs = inner.get("inputs")
    return StepNode(
        node.job,
        node.step,
        str(inner.get("type")),
        inputs if isinstance(inputs, Map) else Map(()),
        node.path + ("inputs", name),
    )


def value_refs(value: Value) -> Iterator[Ref]:
    if isinstance(value, Template):
        yield from value.refs
    elif isinstance(value, Seq):
        for item in value.items:
            yield from value_refs(item)
    elif isinstance(value, Map):
        for _, item in value.entries:
            yield from value_refs(item)


def templates_at(value: Value, path: tuple[Any, ...]) -> Iterator[tuple[tuple[Any, ...], Template]]:
    """Every template in a value that reads something, with its path in the YAML document."""
    if isinstance(value, Template):
        if value.refs:
            yield path, value
    elif isinstance(value, Seq):
        for n, item in enumerate(value.items):
            yield from templates_at(item, path + (n,))
    elif isinstance(value, Map):
        for key, item in value.entries:
            yield from templates_at(item, path + (key,))


def templates_in(value: Value) -> Iterator[Template]:
    return (template for _, template in templates_at(value, ()))
