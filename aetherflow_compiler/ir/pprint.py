"""The IR as text, for people and golden tests (tests/golden/ir/): `format_flow(flow)`.

One line per setting, resource, job and step, each with the line it came from; values as
Python literals, templates as `<'text ', {env.X:'default'}>` (a standalone token as
`{ref}`), and `when` fully parenthesised, so that how the front end read a flow shows up
as a diff of this text before it shows up in generated code.
"""

from __future__ import annotations

import datetime

from aetherflow_compiler.ir import nodes as ir
from aetherflow_compiler.ir.template import Ref, Template
from aetherflow_compiler.ir.when import BoolOp, Compare, JobAttr, JobOutput, Literal, Not, WhenExpr

_INDENT = "    "


def format_flow(flow: ir.Flow) -> str:
    """The whole flow, ending with a newline."""
    lines = [
        f"flow {flow.id}  # {flow.origin}",
        f"{_INDENT}source {flow.source} sha256 {flow.source_sha256}",
    ]
    if flow.description is not None:
        lines.append(f"{_INDENT}description {format_value(flow.description)}")
    workspace = flow.workspace
    lines.append(
        f"{_INDENT}workspace root={format_value(workspace.root)} cleanup={workspace.cleanup_policy}"
        f" layout={format_value(workspace.layout)}"
    )
    lines.append(
        f"{_INDENT}state backend={flow.state.backend} path={format_value(flow.state.path)}"
    )
    lines.append(
        f"{_INDENT}locks scope={flow.locks.scope} ttl_seconds={format_value(flow.locks.ttl_seconds)}"
    )
    for resource in flow.resources:
        lines.append(
            f"{_INDENT}resource {resource.name} kind={resource.kind} driver={resource.driver}"
            f" profile={resource.profile}{'' if resource.profile_merged else ' (merged at run time)'}"
            f"  # {resource.origin}"
        )
        lines.append(f"{_INDENT * 2}config {format_value(resource.config)}")
        lines.append(f"{_INDENT * 2}options {format_value(resource.options)}")
        if resource.decode:
            lines.append(
                f"{_INDENT * 2}decode "
                + ", ".join(f"{section}.{path}" for section, path in resource.decode)
            )
    for job in flow.jobs:
        lines.extend(_job_lines(job))
    return "\n".join(lines) + "\n"


def _job_lines(job: ir.Job) -> list[str]:
    lines = [f"{_INDENT}job {job.id}  # {job.origin}"]
    if job.description is not None:
        lines.append(f"{_INDENT * 2}description {format_value(job.description)}")
    if job.depends_on:
        lines.append(f"{_INDENT * 2}depends_on {', '.join(job.depends_on)}")
    if job.when is not None:
        lines.append(f"{_INDENT * 2}when {format_when(job.when)}")
    for step in job.steps:
        flags = " skip_job_on_no_data" if step.skip_job_on_no_data else ""
        lines.append(f"{_INDENT * 2}step {step.id} {step.type}{flags}  # {step.origin}")
        for section, values in (("input", step.inputs), ("output", step.outputs)):
            for key, value in values.entries:
                lines.append(f"{_INDENT * 3}{section} {key} = {format_value(value)}")
    return lines


def format_value(value: ir.Value) -> str:
    """A value on one line: literals as Python writes them, templates, lists and mappings."""
    if isinstance(value, Template):
        if value.standalone:
            return _format_ref(value.refs[0])
        return (
            "<"
            + ", ".join(_format_ref(p) if isinstance(p, Ref) else repr(p.text) for p in value.parts)
            + ">"
        )
    if isinstance(value, ir.Seq):
        return "[" + ", ".join(format_value(item) for item in value.items) + "]"
    if isinstance(value, ir.Map):
        return (
            "{" + ", ".join(f"{key!r}: {format_value(item)}" for key, item in value.entries) + "}"
        )
    if isinstance(value, datetime.date):
        return f"date({value.isoformat()!r})"
    return repr(value)


def _format_ref(ref: Ref) -> str:
    return "{" + ref.dotted + ("" if ref.default is None else f":{ref.default!r}") + "}"


def format_when(expr: WhenExpr) -> str:
    """A `when` tree, every operation in parentheses."""
    if isinstance(expr, Literal):
        return repr(expr.value)
    if isinstance(expr, JobOutput):
        return ".".join(("jobs", expr.job, "outputs", expr.key, *expr.rest))
    if isinstance(expr, JobAttr):
        return f"jobs.{expr.job}.{expr.attr}"
    if isinstance(expr, Compare):
        parts = [format_when(expr.left)]
        for op, right in zip(expr.ops, expr.comparators, strict=True):
            parts += [op, format_when(right)]
        return "(" + " ".join(parts) + ")"
    if isinstance(expr, BoolOp):
        return "(" + f" {expr.op} ".join(format_when(v) for v in expr.values) + ")"
    assert isinstance(expr, Not)
    return f"(not {format_when(expr.operand)})"
