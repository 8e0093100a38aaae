"""Which flows can become shell scripts (a check of the front end, on the IR): `blockers()` says what stands in the way (the
step types, templates, ids and `when` forms the sh target cannot express)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from aetherflow_compiler.ir import nodes as ir
from aetherflow_compiler.ir.nodes import templates_at, templates_in
from aetherflow_compiler.ir.template import Template
from aetherflow_compiler.ir.when import BoolOp, Compare, JobOutput, Literal, Not, WhenExpr

STEP_TYPES = ("external.process", "check_items", "with_lock")
_SHELL_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
# Ids the runtime keeps in space-separated lists and file names (AF813 warns of others).
_SHELL_ID = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_-]*$")


@dataclass(frozen=True)
class Blocker:
    """Why a flow has no shell artifact: a path into the YAML document and the reason."""

    path: tuple[Any, ...]
    message: str


# --- what the sh target cannot express -------------------------------------------------


def blockers(flow: ir.Flow, plugin_types: frozenset[str] = frozenset()) -> list[Blocker]:
    """What stands in the way of a shell artifact; `plugin_types` are step types a plugin
    provides (a plugin may replace a built-in: the shell has no plugins)."""
    out: list[Blocker] = []
    for resource in flow.resources:
        out.append(
            Blocker(
                ("resources", resource.name),
                f"resource '{resource.name}': the sh target has no connectors",
            )
        )
    for value, path in (
        (flow.workspace.root, ("flow", "workspace", "root")),
        (flow.state.path, ("flow", "state", "path")),
        (flow.locks.ttl_seconds, ("flow", "locks", "ttl_seconds")),
    ):
        out.extend(_template_blockers(value, path, ("env",), "flow settings"))
    for key, value in flow.workspace.layout.entries:
        out.extend(
            _template_blockers(
                value, ("flow", "workspace", "layout", key), ("env",), "flow settings"
            )
        )
    for name in flow.env_refs():
        if not _SHELL_NAME.match(name):
            out.append(
                Blocker(("flow",), f"env variable '{name}' is not a name the shell can hold")
            )
    if not _SHELL_ID.match(flow.id):
        out.append(
            Blocker(
                ("flow", "id"), f"flow id {flow.id!r} is not made of letters, digits, '_' and '-'"
            )
        )
    for ji, job in enumerate(flow.jobs):
        if not _SHELL_ID.match(job.id):
            out.append(
                Blocker(
                    ("jobs", ji, "id"),
                    f"job id {job.id!r} is not made of letters, digits, '_' and '-'",
                )
            )
        for si, step in enumerate(job.steps):
            if not _SHELL_ID.match(step.id):
                out.append(
                    Blocker(
                        ("jobs", ji, "steps", si, "id"),
                        f"step id {step.id!r} is not made of letters, digits, '_' and '-'",
                    )
                )
        if job.when is not None:
            reason = _when_blocker(job.when)
            if reason:
                out.append(Blocker(("jobs", ji, "when"), f"job '{job.id}': {reason}"))
        for si, step in enumerate(job.steps):
            out.extend(_step_blockers(step, ("jobs", ji, "steps", si), True, plugin_types))
            out.extend(_output_blockers(step, ("jobs", ji, "steps", si, "outputs")))
    return out


def _step_blockers(
    step: ir.Step | ir.Map, path: tuple[Any, ...], allow_lock: bool, plugin_types: frozenset[str]
) -> list[Blocker]:
    if isinstance(step, ir.Step):
        step_type, inputs, name = step.type, step.inputs, f"step '{step.id}'"
    else:
        raw_inputs = step.get("inputs")
        step_type, name = str(step.get("type")), "the embedded step"
        inputs = raw_inputs if isinstance(raw_inputs, ir.Map) else ir.Map(())
    if step_type in plugin_types:
        return [
            Blocker(
                path + ("type",),
                f"{name}: step type '{step_type}' comes from a plugin, and the sh "
                "target has no plugins",
            )
        ]
    if step_type not in STEP_TYPES:
        return [
            Blocker(
                path + ("type",),
                f"{name}: step type '{step_type}' has no sh implementation "
                f"(the sh target runs {', '.join(STEP_TYPES)}; others need connectors "
                "or Python)",
            )
        ]
    out: list[Blocker] = []
    where = f"{name} ({step_type})"
    if step_type == "with_lock":
        inner = inputs.get("step")
        if isinstance(inner, ir.Map):
            out.extend(_step_blockers(inner, path + ("inputs", "step"), False, plugin_types))
    if step_type == "external.process":
        value = inputs.get("env")
        if isinstance(value, Template):
            out.append(
                Blocker(
                    path + ("inputs", "env"),
                    f"{where}: input 'env' is one template (a mapping known at "
                    "run time); the sh target needs its entries written out",
                )
            )
    for at, template in templates_at(inputs, path + ("inputs",)):
        problem = _ref_problem(template, "inputs")
        if problem:
            out.append(Blocker(at, f"{where}: {problem}"))
            break
    return out


def _ref_problem(template: Template, section: str) -> str | None:
    """Why the sh target cannot resolve one of a template's references, or None."""
    for ref in template.refs:
        path = ref.path
        fine = (
            (ref.root == "env" and len(path) == 2)
            or (ref.root in ("flow_id", "run_id") and len(path) == 1)
            or (
                ref.root == "job"
                and (path == ("job", "id") or (len(path) == 3 and path[1] == "outputs"))
            )
            or (ref.root == "steps" and len(path) == 3)
            or (
                ref.root == "jobs"
                and (
                    (len(path) == 4 and path[2] == "outputs")
                    or (len(path) == 3 and path[2] in ("status", "skip_reason"))
                )
            )
            or (ref.root == "result" and section == "outputs" and len(path) == 2)
        )
        if not fine:
            return (
                f"template '{{{{{ref.dotted}}}}}' reads a whole result, a whole job or a nested value, "
                "which the sh target does not resolve"
            )
    return None


def _template_blockers(
    value: ir.Value, path: tuple[Any, ...], roots: tuple[str, ...], where: str
) -> list[Blocker]:
    for template in templates_in(value):
        for ref in template.refs:
            if (
                ref.root not in roots
                or (ref.root == "env" and len(ref.path) != 2)
                or (ref.root in ("flow_id", "run_id") and len(ref.path) != 1)
            ):
                return [
                    Blocker(
                        path,
                        f"{where}: template '{{{{{ref.dotted}}}}}' cannot be resolved by the sh target "
                        f"(it resolves {', '.join(roots)})",
                    )
                ]
    return []


def _output_blockers(step: ir.Step, path: tuple[Any, ...]) -> list[Blocker]:
    out = []
    for key, value in step.outputs.entries:
        for at, template in templates_at(value, path + (key,)):
            problem = _ref_problem(template, "outputs")
            if problem:
                out.append(Blocker(at, f"step '{step.id}': output '{key}': {problem}"))
                break
    return out


def _when_blocker(expr: WhenExpr) -> str | None:
    if isinstance(expr, JobOutput) and expr.rest:
        return "`when` reads a nested output, which the sh target does not keep"
    if isinstance(expr, Literal) and isinstance(expr.value, (bytes, complex)):
        return "`when` compares with a bytes literal or an imaginary number, which the sh target has not"
    if isinstance(expr, Compare):
        for part in (expr.left, *expr.comparators):
            if isinstance(part, BoolOp):  # Python compares the operand `and`/`or` picks
                return "`when` compares the value of an `and`/`or`, which the sh target reads as true or false"
            reason = _when_blocker(part)
            if reason:
                return reason
    if isinstance(expr, BoolOp):
        for part in expr.values:
            reason = _when_blocker(part)
            if reason:
                return reason
    if isinstance(expr, Not):
        return _when_blocker(expr.operand)
    return None
