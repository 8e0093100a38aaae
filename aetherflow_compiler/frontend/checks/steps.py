"""Step types, the resources steps use, input combinations and `on_no_data`."""

from __future__ import annotations

from typing import Any

from aetherflow_compiler.diagnostics import Diagnostic
from aetherflow_compiler.frontend.checks.context import (
    FlowContext,
    JobView,
    StepView,
    embedded_steps,
)
from aetherflow_compiler.frontend.loader import Path
from aetherflow_compiler.frontend.schema_check import check_plugin_inputs
from aetherflow_compiler.suggest import POOL_LIMIT, closest, did_you_mean, hint_from
from aetherflow_compiler.walk import mapping, mapping_at, text


def check_steps(ctx: FlowContext) -> list[Diagnostic]:
    out: list[Diagnostic] = []
    resources = mapping_at(ctx.doc.data, "resources")
    for job in ctx.jobs:
        for step in job.steps:
            for each in (step, *embedded_steps(ctx.registry, step)):  # with_lock's, at any depth
                out.extend(_check_type(ctx, each.type, each.path + ("type",)))
                out.extend(
                    _check_resource(ctx, each.type, each.inputs, each.path + ("inputs",), resources)
                )
                out.extend(_check_plugin_inputs(ctx, each.type, each.data, each.path))
                if (
                    each.type == "external.process"
                    and each.type not in ctx.registry.plugin_type_names()
                ):
                    out.extend(_check_process(ctx, each.inputs, each.path + ("inputs",)))
                out.extend(
                    _check_enterprise_archive(ctx, each.type, each.inputs, each.path, resources)
                )
        out.extend(_check_on_no_data(ctx, job))
    return out


def _check_type(ctx: FlowContext, step_type: str | None, path: Path) -> list[Diagnostic]:
    if step_type is None or ctx.registry.get(step_type) is not None:
        return []
    hint = did_you_mean(step_type, ctx.registry.names()) or (
        "known types: " + ", ".join(ctx.registry.names()) + "; a plugin's types need --plugins DIR"
    )
    return [ctx.at(path, "AF306", f"unknown step type '{step_type}'", hint)]


def _check_resource(
    ctx: FlowContext,
    step_type: str | None,
    inputs: dict[Any, Any],
    path: Path,
    resources: dict[Any, Any],
) -> list[Diagnostic]:
    """A resource a step names must be declared: the engine hands steps only the flow's
    resources (`ctx.connectors`), so any other name fails the step when it runs. Plugin
    steps follow the built-ins' convention of an input called `resource`."""
    known = ctx.registry.get(step_type) if step_type else None
    if known is None or (known.resource_kind is None and not known.plugin):
        return []
    out = []
    for key in ("resource", "connector") if not known.plugin else ("resource",):
        name = inputs.get(key)
        if not isinstance(name, str) or "{{" in name:
            continue
        if name not in resources:
            if isinstance(mapping(ctx.profiles).get(name), dict) and (
                len(resources) > POOL_LIMIT or not closest(name, resources)
            ):
                hint = (
                    f"a profile named '{name}' exists, but profiles only configure declared resources: "
                    f"declare it under 'resources:' with kind, driver and profile: {name}"
                )
            else:
                hint = (
                    "define it under 'resources:'"
                    if not resources
                    else hint_from(name, resources, "resources in this flow")
                )
            out.append(
                ctx.at(
                    path + (key,),
                    "AF308",
                    f"step type {step_type} uses unknown resource '{name}'",
                    hint,
                )
            )
            continue
        kind = mapping(resources[name]).get("kind")
        if (
            known.resource_kind is not None
            and isinstance(kind, str)
            and kind != known.resource_kind
        ):
            out.append(
                ctx.at(
                    path + (key,),
                    "AF309",
                    f"{step_type} needs a resource of kind '{known.resource_kind}', but '{name}' is of kind '{kind}'",
                )
            )
    return out


def _check_enterprise_archive(
    ctx: FlowContext,
    step_type: str | None,
    inputs: dict[Any, Any],
    path: Path,
    resources: dict[Any, Any],
) -> list[Diagnostic]:
    """Enterprise mode: zip and unzip must use a declared archive resource (the engine
    fails such a step at run time; here it is known before)."""
    if not ctx.registry.enterprise or step_type not in ("zip", "unzip"):
        return []
    if inputs.get("resource") or inputs.get("connector") or "archive_default" in resources:
        return []
    return [
        ctx.at(
            path + ("type",),
            "AF704",
            f"{step_type} needs a declared archive resource in enterprise mode",
            "add an archive resource (driver zipfile or pyzipper) and name it in the step's "
            "'resource' input, or call it archive_default",
        )
    ]


def _check_plugin_inputs(
    ctx: FlowContext, step_type: str | None, step: dict[Any, Any], path: Path
) -> list[Diagnostic]:
    """Required inputs a plugin's step class declares, and the input schema it ships."""
    known = ctx.registry.get(step_type) if step_type else None
    if (
        known is None
        or not known.plugin
        or (known.input_schema is None and not known.required_inputs)
    ):
        return []
    if "inputs" not in step and known.required_inputs:
        return [
            ctx.at(
                path,
                "AF602",
                f"{step_type} requires inputs ({', '.join(known.required_inputs)}), "
                "but this step has none",
                "add an 'inputs' mapping",
            )
        ]
    inputs = step.get("inputs")
    if not isinstance(inputs, dict):
        return []  # the flow schema reports the type
    schema: dict[str, Any] = dict(known.input_schema or {"type": "object"})
    schema["required"] = sorted({*schema.get("required", []), *known.required_inputs})
    return check_plugin_inputs(ctx.doc, schema, inputs, path + ("inputs",))


def _check_process(ctx: FlowContext, inputs: dict[Any, Any], path: Path) -> list[Diagnostic]:
    out = []
    for key in ("command", "args"):
        items = inputs.get(key)
        for index, item in enumerate(items if isinstance(items, list) else []):
            if isinstance(item, (list, dict)):
                shown = str(item)
                out.append(
                    ctx.at(
                        path + (key, index),
                        "AF812",
                        f"{key}[{index}] is a {'list' if isinstance(item, list) else 'mapping'}: the "
                        f"program gets one argument, its Python text {shown[:60]!r}",
                        "write each argument as its own element (the engine passes str() too)",
                    )
                )
    attempts = mapping(inputs.get("retry")).get("max_attempts")
    if isinstance(attempts, int) and not isinstance(attempts, bool) and attempts < 1:
        out.append(
            ctx.at(
                path + ("retry", "max_attempts"),
                "AF206",
                f"retry.max_attempts is {attempts}: the command is never run and the step fails",
                "use 1 for a single attempt (the default), more to retry",
            )
        )
    log = mapping(inputs.get("log"))
    if "file" in (log.get("stdout"), log.get("stderr")) and not log.get("file_path"):
        out.append(
            ctx.at(
                path + ("log",),
                "AF605",
                "log mode 'file' needs log.file_path",
                "add log.file_path (relative paths resolve under the job's artifacts dir)",
            )
        )
    idem = mapping(inputs.get("idempotency"))
    strategy = idem.get("strategy")
    if strategy == "atomic_dir":
        missing = [k for k in ("temp_output_dir", "final_output_dir") if not idem.get(k)]
        if missing:
            out.append(
                ctx.at(
                    path + ("idempotency",),
                    "AF605",
                    f"idempotency strategy atomic_dir needs {' and '.join(missing)}",
                )
            )
    if strategy == "marker":
        success = mapping(inputs.get("success"))
        if not idem.get("marker_path") and not success.get("marker_file"):
            out.append(
                ctx.at(
                    path + ("idempotency",),
                    "AF605",
                    "idempotency strategy marker needs marker_path (or success.marker_file)",
                    "without a marker path the step never skips; the engine ignores this silently",
                )
            )
    return out


def _never_skips(ctx: FlowContext, step: StepView) -> bool:
    """True when the step can never report SKIPPED, so `on_no_data` has no effect."""
    if step.type == "external.process":
        return mapping(step.inputs.get("idempotency")).get("strategy") != "marker"
    known = ctx.registry.get(step.type) if step.type else None
    if known is None:
        return False
    if known.inner_step_input:
        inner = mapping(step.inputs.get(known.inner_step_input))
        inner_type = text(inner.get("type"))
        if inner_type is None:
            return False
        probe = StepView(
            step.index, step.path, inner, None, inner_type, mapping(inner.get("inputs")), {}
        )
        return _never_skips(ctx, probe)
    return not known.can_skip


def _always_skips(step: StepView) -> str | None:
    """A reason when a probe step is written so that it reports no data on every run."""
    if step.type != "check_items":
        return None
    items = step.inputs.get("items")
    min_count = step.inputs.get("min_count", 1)
    if isinstance(min_count, float) and min_count.is_integer():
        min_count = int(min_count)  # 2.0 is 2, as the engine's int() reads it
    if isinstance(min_count, bool) or not isinstance(min_count, int):
        return None
    if isinstance(items, str):
        if "{{" in items:
            return None
        count = len([x for x in items.split(",") if x.strip()])
    elif isinstance(items, list):
        if any(isinstance(x, str) and "{{" in x for x in items):
            return None
        count = len(items)
    else:
        return None
    if count < min_count:
        return f"check_items has {count} literal item{'s' if count != 1 else ''} and min_count {min_count}"
    return None


def _check_on_no_data(ctx: FlowContext, job: JobView) -> list[Diagnostic]:
    out = []
    for position, step in enumerate(job.steps):
        if step.data.get("on_no_data") != "skip_job":
            continue
        if _never_skips(ctx, step):
            out.append(
                ctx.at(
                    step.path + ("on_no_data",),
                    "AF805",
                    f"on_no_data has no effect: step '{step.id}' ({step.type}) never reports no data",
                    "use a probe step such as check_items, or remove on_no_data",
                )
            )
            continue
        reason = _always_skips(step)
        later = job.steps[position + 1 :]
        if reason and later:
            out.append(
                ctx.at(
                    later[0].path,
                    "AF313",
                    f"step '{later[0].id}' can never run: step '{step.id}' always reports no data ({reason})",
                    "fix the probe step's inputs or remove the steps after it",
                )
            )
    return out
