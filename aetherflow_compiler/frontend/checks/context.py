"""A defensive view of a flow document shared by the checks."""

from __future__ import annotations

import bisect
import itertools
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from aetherflow_compiler.diagnostics import Diagnostic
from aetherflow_compiler.frontend.loader import Document, Path
from aetherflow_compiler.steps import StepRegistry
from aetherflow_compiler.suggest import LIST_LIMIT, POOL_LIMIT
from aetherflow_compiler.walk import mapping, sequence, text


@dataclass
class StepView:
    index: int
    path: Path
    data: dict[Any, Any]
    id: str | None
    type: str | None
    inputs: dict[Any, Any]
    outputs: dict[Any, Any]


def embedded_steps(registry: StepRegistry, step: StepView) -> Iterator[StepView]:
    """The steps embedded in `step` (the input a step type names for it: with_lock's
    `step`), outermost first and at any depth; each view's path is its mapping's, and its
    index the job step's."""
    current = step
    while True:
        known = registry.get(current.type) if current.type else None
        name = known.inner_step_input if known is not None else None
        inner = current.inputs.get(name) if name else None
        if not isinstance(inner, dict):
            return
        current = StepView(
            step.index,
            current.path + ("inputs", name),
            inner,
            text(inner.get("id")),
            text(inner.get("type")),
            mapping(inner.get("inputs")),
            {},
        )
        yield current


@dataclass
class JobView:
    index: int
    path: Path
    data: dict[Any, Any]
    id: str | None
    steps: list[StepView] = field(default_factory=list)

    # Lookups by id and key, made once: the checks ask per template token, and a linear
    # search each time made a flow of 20,000 steps take two minutes.
    @cached_property
    def _first_step(self) -> dict[str, StepView]:
        out: dict[str, StepView] = {}
        for step in self.steps:
            if step.id is not None:
                out.setdefault(step.id, step)
        return out

    @cached_property
    def _first_output(self) -> dict[str, int]:
        """Output key -> index of the first step that declares it."""
        out: dict[str, int] = {}
        for step in self.steps:
            for key in step.outputs:
                if isinstance(key, str):
                    out.setdefault(key, step.index)
        return out

    def step(self, step_id: str) -> StepView | None:
        """The first step with this id."""
        return self._first_step.get(step_id)

    def step_ids(self, before: int) -> tuple[list[str], int]:
        """Ids of the steps with index < `before`, for a hint: all of them up to POOL_LIMIT
        (else the first LIST_LIMIT), and how many there are."""
        count = bisect.bisect_left(self._step_indexes, before)
        ids = [
            s.id
            for s in self.steps[: count if count <= POOL_LIMIT else LIST_LIMIT]
            if s.id is not None
        ]
        return ids, (len(ids) if count <= POOL_LIMIT else count)

    @cached_property
    def _step_indexes(self) -> list[int]:
        return [s.index for s in self.steps]

    def declares(self, key: str, before: int | None = None) -> bool:
        """Whether a step (one with index < `before`, if given) promotes `key`."""
        index = self._first_output.get(key)
        return index is not None and (before is None or index < before)

    def output_keys(self, before: int | None = None) -> tuple[list[str], int]:
        """Keys promoted by this job's steps (by steps with index < `before`, if given), as
        step_ids gives ids. Keys come in the order of their first step, so those of the
        earlier steps are a prefix."""
        firsts = self._first_output
        count = len(firsts) if before is None else bisect.bisect_left(self._output_indexes, before)
        keys = list(itertools.islice(firsts, count if count <= POOL_LIMIT else LIST_LIMIT))
        return keys, count

    @cached_property
    def _output_indexes(self) -> list[int]:
        return list(self._first_output.values())


@dataclass
class FlowContext:
    doc: Document
    registry: StepRegistry
    profiles: dict[str, Any] | None = None
    jobs: list[JobView] = field(default_factory=list)

    @classmethod
    def of(
        cls, doc: Document, registry: StepRegistry, profiles: dict[str, Any] | None = None
    ) -> FlowContext:
        ctx = cls(doc, registry, profiles)
        for ji, job in enumerate(sequence(mapping(doc.data).get("jobs"))):
            if not isinstance(job, dict):
                continue
            jpath: Path = ("jobs", ji)
            view = JobView(ji, jpath, job, text(job.get("id")))
            for si, step in enumerate(sequence(job.get("steps"))):
                if not isinstance(step, dict):
                    continue
                view.steps.append(
                    StepView(
                        si,
                        jpath + ("steps", si),
                        step,
                        text(step.get("id")),
                        text(step.get("type")),
                        mapping(step.get("inputs")),
                        mapping(step.get("outputs")),
                    )
                )
            ctx.jobs.append(view)
        return ctx

    @cached_property
    def _first_job(self) -> dict[str, JobView]:
        out: dict[str, JobView] = {}
        for job in self.jobs:
            if job.id is not None:
                out.setdefault(job.id, job)
        return out

    @cached_property
    def _step_owner(self) -> dict[str, JobView]:
        """Step id -> the first job with a step of that id."""
        out: dict[str, JobView] = {}
        for job in self.jobs:
            for step_id in job._first_step:
                out.setdefault(step_id, job)
        return out

    def job(self, job_id: str) -> JobView | None:
        return self._first_job.get(job_id)

    def job_with_step(self, step_id: str) -> JobView | None:
        return self._step_owner.get(step_id)

    def job_ids(self, before: int) -> tuple[list[str], int]:
        """Ids of the jobs with index < `before`, as JobView.step_ids gives step ids."""
        count = bisect.bisect_left(self._job_indexes, before)
        ids = [
            j.id
            for j in self.jobs[: count if count <= POOL_LIMIT else LIST_LIMIT]
            if j.id is not None
        ]
        return ids, (len(ids) if count <= POOL_LIMIT else count)

    @cached_property
    def _job_indexes(self) -> list[int]:
        return [j.index for j in self.jobs]

    def at(
        self, path: Path, code: str, message: str, hint: str | None = None, *, key: bool = False
    ) -> Diagnostic:
        span = self.doc.span(path, key=key)
        return Diagnostic(self.doc.path, span.line, span.column, code, message, hint)

    def at_offset(
        self, path: Path, offset: int, code: str, message: str, hint: str | None = None
    ) -> Diagnostic:
        line, column = self.doc.position_in_scalar(path, offset)
        return Diagnostic(self.doc.path, line, column, code, message, hint)
