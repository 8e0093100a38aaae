"""A defensive view of a flow document shared by the checks."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from aetherflow_compiler.diagnostics import Diagnostic
from aetherflow_compiler.loader import Document, Path
from aetherflow_compiler.steps import StepRegistry
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


@dataclass
class JobView:
    index: int
    path: Path
    data: dict[Any, Any]
    id: str | None
    steps: list[StepView] = field(default_factory=list)

    def output_keys(self, before: int | None = None) -> list[str]:
        """Keys promoted by this job's steps (only steps with index < `before` if given)."""
        keys: list[str] = []
        for step in self.steps:
            if before is not None and step.index >= before:
                break
            keys.extend(k for k in step.outputs if isinstance(k, str) and k not in keys)
        return keys


@dataclass
class FlowContext:
    doc: Document
    registry: StepRegistry
    profiles: dict[str, Any] | None = None
    jobs: list[JobView] = field(default_factory=list)

    @classmethod
    def of(cls, doc: Document, registry: StepRegistry, profiles: dict[str, Any] | None = None) -> FlowContext:
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
                        si, jpath + ("steps", si), step, text(step.get("id")), text(step.get("type")),
                        mapping(step.get("inputs")), mapping(step.get("outputs")),
                    )
                )
            ctx.jobs.append(view)
        return ctx

    def job(self, job_id: str) -> JobView | None:
        for job in self.jobs:
            if job.id == job_id:
                return job
        return None

    def at(self, path: Path, code: str, message: str, hint: str | None = None, *, key: bool = False) -> Diagnostic:
        span = self.doc.span(path, key=key)
        return Diagnostic(self.doc.path, span.line, span.column, code, message, hint)

    def at_offset(self, path: Path, offset: int, code: str, message: str, hint: str | None = None) -> Diagnostic:
        line, column = self.doc.position_in_scalar(path, offset)
        return Diagnostic(self.doc.path, line, column, code, message, hint)
