"""The Python target: one black-formatted script per flow, generated from templates/."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

import black
import jinja2

from aetherflow_compiler import __version__, ir
from aetherflow_compiler.codegen import vendor
from aetherflow_compiler.codegen.literals import comment_text, py_literal, uses_dates
from aetherflow_compiler.steps import StepRegistry
from aetherflow_compiler.when import BoolOp, Compare, JobAttr, JobOutput, Literal, Not, WhenExpr

_BLACK_MODE = black.Mode(target_versions={black.TargetVersion.PY38})


@cache
def _template() -> jinja2.Template:
    env = jinja2.Environment(
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        undefined=jinja2.StrictUndefined,
        autoescape=False,
    )
    env.filters["lit"] = py_literal
    text = (resources.files("aetherflow_compiler._templates") / "flow.py.j2").read_text("utf-8")
    return env.from_string(text)


def when_code(expr: WhenExpr) -> str:
    """A `when` tree as a plain Python expression over the runtime's `jobs` view."""
    if isinstance(expr, Literal):
        return py_literal(expr.value)
    if isinstance(expr, JobOutput):
        args = [expr.job, expr.key, *expr.rest]
        return "jobs.output(" + ", ".join(py_literal(a) for a in args) + ")"
    if isinstance(expr, JobAttr):
        return f"jobs.{expr.attr}({py_literal(expr.job)})"
    if isinstance(expr, Compare):
        parts = [_operand(expr.left)]
        for op, right in zip(expr.ops, expr.comparators, strict=True):
            parts += [op, _operand(right)]
        return " ".join(parts)
    if isinstance(expr, BoolOp):
        return f" {expr.op} ".join(_operand(v) for v in expr.values)
    assert isinstance(expr, Not)
    return f"not {_operand(expr.operand)}"


def _operand(expr: WhenExpr) -> str:
    code = when_code(expr)
    return f"({code})" if isinstance(expr, (Compare, BoolOp, Not)) else code


def _identifiers(ids: list[str], prefix: str) -> dict[str, str]:
    """Job id -> Python function name, unique and deterministic."""
    out: dict[str, str] = {}
    used: set[str] = set()
    for job_id in ids:
        base = prefix + re.sub(r"\W", "_", job_id)
        name, n = base, 2
        while name in used:
            name, n = f"{base}_{n}", n + 1
        used.add(name)
        out[job_id] = name
    return out


@dataclass(frozen=True)
class RuntimeBundle:
    """The runtime vendored for one compile: its files, hash and step implementations."""

    files: dict[str, str]
    sha256: str
    step_modules: list[str]
    version: str


def runtime_bundle(flows: list[ir.Flow], registry: StepRegistry) -> RuntimeBundle:
    modules = sorted({_runtime_of(registry, t)[0] for f in flows for t in f.step_types()})
    files = vendor.runtime_files(modules)
    return RuntimeBundle(files, vendor.runtime_sha256(files), modules, vendor.runtime_version())


def _runtime_of(registry: StepRegistry, step_type: str) -> tuple[str, str]:
    known = registry.get(step_type)
    assert known is not None and known.runtime is not None, step_type
    return known.runtime


def generate_flow(flow: ir.Flow, registry: StepRegistry, bundle: RuntimeBundle, single_file: bool) -> str:
    """The black-formatted source of `<flow_id>.py`."""
    functions = _identifiers([j.id for j in flow.jobs], "job_")
    whens = _identifiers([j.id for j in flow.jobs], "when_")
    step_types = [(t, _runtime_of(registry, t)) for t in flow.step_types()]
    jobs = []
    for job in flow.jobs:
        jobs.append({
            "id": job.id,
            "function": functions[job.id],
            "when_name": whens[job.id],
            "when_code": when_code(job.when) if job.when is not None else None,
            "when_source": job.when_source,
            "origin": str(job.origin),
            "origin_comment": comment_text(str(job.origin)),
            "depends_on": ir.Seq(tuple(job.depends_on)),
            "description": job.description,
            "steps": [
                {
                    "id": step.id,
                    "type": step.type,
                    "inputs": step.inputs if step.inputs.entries else None,
                    "outputs": step.outputs if step.outputs.entries else None,
                    "on_no_data": step.skip_job_on_no_data,
                    "origin_comment": comment_text(str(step.origin)),
                }
                for step in job.steps
            ],
        })
    values: list[Any] = [flow.workspace.root, flow.state.path]
    values += [s.inputs for j in flow.jobs for s in j.steps] + [s.outputs for j in flow.jobs for s in j.steps]
    env_vars = ir.Map(tuple((name, has_default) for name, has_default in flow.env_refs().items()))
    source = _template().render(
        flow=flow,
        jobs=jobs,
        compiler_version=__version__,
        runtime_version=bundle.version,
        runtime_sha256=bundle.sha256,
        runtime_code=vendor.amalgamate(bundle.step_modules) if single_file else "",
        single_file=single_file,
        source_comment=comment_text(flow.source),
        script_name=f"{flow.id}.py",
        step_imports=sorted({runtime for _, runtime in step_types}),
        step_types=[(name, runtime[1]) for name, runtime in step_types],
        env_vars=env_vars,
        uses_dates=any(uses_dates(v) for v in values),
    )
    return black.format_str(source, mode=_BLACK_MODE)
