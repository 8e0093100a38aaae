"""Template syntax, template roots and the static reference checks, for templates and `when`.

What can be known before running is checked here: `steps.X` must be an earlier step of
the same job, `jobs.J` a job that runs earlier, output keys must be declared by a step,
and known step types must be able to return the key that is read.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

from aetherflow_compiler.diagnostics import Diagnostic
from aetherflow_compiler.frontend.checks.context import FlowContext, JobView, StepView
from aetherflow_compiler.frontend.loader import Path
from aetherflow_compiler.frontend.parse_template import TemplateSyntaxError, parse_template
from aetherflow_compiler.frontend.parse_when import WhenSyntaxError, parse_when
from aetherflow_compiler.ir.template import Ref
from aetherflow_compiler.ir.when import JobAttr, JobOutput, referenced_jobs
from aetherflow_compiler.suggest import did_you_mean, listing
from aetherflow_compiler.walk import iter_strings, mapping

STEP_ROOTS = ("env", "steps", "job", "jobs", "run_id", "flow_id", "result")
ENV_ONLY = ("env",)

# Reports a problem at the token being checked: (code, message, hint) -> Diagnostic.
Bad = Callable[..., Diagnostic]


def check_templates(ctx: FlowContext) -> list[Diagnostic]:
    out: list[Diagnostic] = []
    data = mapping(ctx.doc.data)
    # Flow metadata and resources are rendered with the env root only.
    out.extend(_check_env_only(ctx, data.get("flow"), ("flow",), "flow settings"))
    for name, resource in mapping(data.get("resources")).items():
        res = mapping(resource)
        for section in ("config", "options"):
            out.extend(
                _check_env_only(ctx, res.get(section), ("resources", name, section), "resources")
            )
    for job in ctx.jobs:
        for step in job.steps:
            for section in ("inputs", "outputs"):
                value = step.data.get(section)
                for path, string in iter_strings(value, step.path + (section,)):
                    out.extend(_check_step_string(ctx, job, step, section, path, string))
    return out


def check_profile_templates(ctx: FlowContext) -> list[Diagnostic]:
    """Profiles files: config and options of every profile see the env root only."""
    out: list[Diagnostic] = []
    for name, profile in mapping(ctx.doc.data).items():
        for section in ("config", "options"):
            out.extend(
                _check_env_only(ctx, mapping(profile).get(section), (name, section), "profiles")
            )
    return out


def _parse(ctx: FlowContext, path: Path, string: str) -> tuple[list[Ref], list[Diagnostic]]:
    try:
        template = parse_template(string)
    except TemplateSyntaxError as exc:
        return [], [ctx.at_offset(path, exc.offset, "AF401", exc.args[0], exc.detail)]
    return (list(template.refs) if template else []), []


# Reference problems that a template default turns into a warning: the engine renders the
# default whenever the key is missing, so a flow with such a token still runs there.
DEFAULTABLE = ("AF402", "AF403", "AF404", "AF405", "AF406", "AF407")


def _with_default(diag: Diagnostic | None, ref: Ref) -> Diagnostic | None:
    """A reference problem on a token with a default is the author saying "this may be
    missing": AF810, a warning that keeps the original code in its message."""
    if diag is None or ref.default is None or diag.code not in DEFAULTABLE:
        return diag
    return replace(
        diag,
        code="AF810",
        message=f"{diag.message} ({diag.code}); the default " f"'{ref.default}' is used every time",
        hint=diag.hint,
    )


def _check_env_only(ctx: FlowContext, value: object, base: Path, place: str) -> list[Diagnostic]:
    out: list[Diagnostic] = []
    for path, string in iter_strings(value, base):
        refs, errors = _parse(ctx, path, string)
        out.extend(errors)
        for ref in refs:
            diag = None
            if ref.root not in ENV_ONLY:
                diag = ctx.at_offset(
                    path,
                    ref.start,
                    "AF402",
                    f"'{ref.dotted}' cannot be used in {place}",
                    "only {{env.NAME}} is available here; these values are resolved before any job runs",
                )
            elif len(ref.path) > 2:
                diag = _env_too_deep(ctx, path, ref)
            diag = _with_default(diag, ref)
            if diag is not None:
                out.append(diag)
    return out


def _env_too_deep(ctx: FlowContext, path: Path, ref: Ref) -> Diagnostic:
    return ctx.at_offset(
        path,
        ref.start,
        "AF403",
        f"'{ref.dotted}' can never resolve: env values are strings",
        f"use {{{{env.{ref.path[1]}}}}}",
    )


def _check_step_string(
    ctx: FlowContext, job: JobView, step: StepView, section: str, path: Path, string: str
) -> list[Diagnostic]:
    refs, out = _parse(ctx, path, string)
    for ref in refs:
        diag = _with_default(_check_step_ref(ctx, job, step, section, path, ref), ref)
        if diag is not None:
            out.append(diag)
    return out


def _check_step_ref(
    ctx: FlowContext, job: JobView, step: StepView, section: str, path: Path, ref: Ref
) -> Diagnostic | None:
    root, rest = ref.root, ref.path[1:]

    def bad(code: str, message: str, hint: str | None = None) -> Diagnostic:
        return ctx.at_offset(path, ref.start, code, message, hint)

    if root not in STEP_ROOTS:
        hint = did_you_mean(root, STEP_ROOTS) or "allowed roots: " + ", ".join(STEP_ROOTS)
        return bad("AF402", f"unknown template root '{root}' in '{ref.dotted}'", hint)
    if root == "result" and section == "inputs":
        return bad(
            "AF402",
            f"'{ref.dotted}' cannot be used in inputs: result is only bound in step outputs",
            "read an earlier step's result with steps.<step_id>.<key>",
        )
    if root == "env":
        return _env_too_deep(ctx, path, ref) if len(ref.path) > 2 else None
    if root in ("run_id", "flow_id"):
        if rest:
            return bad(
                "AF403",
                f"'{ref.dotted}' can never resolve: {root} is a string",
                f"use {{{{{root}}}}}",
            )
        return None
    if root == "job":
        return _check_job_ref(ctx, job, step, ref, bad)
    if root == "jobs":
        return _check_jobs_ref(ctx, job, ref, bad)
    if root == "steps":
        return _check_steps_ref(ctx, job, step, section, ref, bad)
    # result.<key> in outputs: the step's own result.
    if rest:
        return _check_result_key(ctx, step, rest[0], ref.dotted, bad)
    return None


def _check_job_ref(
    ctx: FlowContext, job: JobView, step: StepView, ref: Ref, bad: Bad
) -> Diagnostic | None:
    rest = ref.path[1:]
    if not rest or rest == ("id",):
        return None
    if rest[0] != "outputs":
        return bad(
            "AF403",
            f"'{ref.dotted}' can never resolve",
            "the job root offers job.id and job.outputs.<key>",
        )
    if len(rest) == 1:
        return None
    key = rest[1]
    if not job.declares(key, before=step.index):
        declared, count = job.output_keys(before=step.index)
        hint = did_you_mean(key, declared) or (
            "job outputs seen here come from the outputs of earlier steps of this job: "
            + listing(declared, count, "(none declared)")
        )
        return bad(
            "AF406",
            f"'{ref.dotted}': no earlier step of job '{job.id}' declares output '{key}'",
            hint,
        )
    return None


def _check_jobs_ref(ctx: FlowContext, job: JobView, ref: Ref, bad: Bad) -> Diagnostic | None:
    rest = ref.path[1:]
    if not rest:
        return None
    problem = _job_reference_problem(
        ctx,
        job,
        rest[0],
        rest[1] if len(rest) > 1 else None,
        rest[2] if len(rest) > 2 else None,
        ref.dotted,
    )
    if problem is None:
        return None
    code, message, hint = problem
    return bad(code, message, hint)


def _job_reference_problem(
    ctx: FlowContext, job: JobView, target_id: str, attr: str | None, key: str | None, dotted: str
) -> tuple[str, str, str | None] | None:
    """Shared by templates and `when`: is `jobs.<target>.<attr>[.<key>]` readable from `job`?"""
    target = ctx.job(target_id)
    if target is None:
        earlier, count = ctx.job_ids(before=job.index)
        hint = did_you_mean(target_id, earlier) or "jobs that run before this one: " + listing(
            earlier, count
        )
        return "AF405", f"'{dotted}' names unknown job '{target_id}'", hint
    if target.index >= job.index:
        where = "this job itself" if target.index == job.index else "a job that runs later"
        return (
            "AF405",
            f"'{dotted}' reads job '{target_id}', which is {where}",
            "jobs run in declared order: only jobs declared above this one have outputs",
        )
    if attr is None or attr in ("status", "skip_reason"):
        return None
    if attr != "outputs":
        return (
            "AF403",
            f"'{dotted}' can never resolve",
            "use jobs.<job_id>.outputs.<key>, jobs.<job_id>.status or jobs.<job_id>.skip_reason",
        )
    if key is None:
        return None
    if not target.declares(key):
        declared, count = target.output_keys()
        hint = did_you_mean(key, declared) or f"job '{target_id}' declares: " + listing(
            declared, count, "(no outputs)"
        )
        return "AF406", f"'{dotted}': no step of job '{target_id}' declares output '{key}'", hint
    return None


def _check_steps_ref(
    ctx: FlowContext, job: JobView, step: StepView, section: str, ref: Ref, bad: Bad
) -> Diagnostic | None:
    rest = ref.path[1:]
    if not rest:
        return None
    target_id = rest[0]
    limit = step.index + 1 if section == "outputs" else step.index
    target = job.step(target_id)  # the first step with that id: visible if any is
    if target is None or target.index >= limit:
        if target is not None:
            reason = "this step itself" if target.index == step.index else "a later step"
            return bad(
                "AF404",
                f"'{ref.dotted}' reads step '{target_id}', which is {reason}",
                "steps see the results of earlier steps of the same job only",
            )
        other = ctx.job_with_step(target_id)
        if other is not None:
            return bad(
                "AF404",
                f"'{ref.dotted}': step '{target_id}' belongs to job '{other.id}'",
                f"promote the value with outputs: in that step and read jobs.{other.id}.outputs.<key>",
            )
        names, count = job.step_ids(before=limit)
        hint = did_you_mean(target_id, names) or "earlier steps of this job: " + listing(
            names, count
        )
        return bad("AF404", f"'{ref.dotted}' names unknown step '{target_id}'", hint)
    if len(rest) > 1:
        return _check_result_key(ctx, target, rest[1], ref.dotted, bad)
    return None


def _check_result_key(
    ctx: FlowContext, step: StepView, key: str, dotted: str, bad: Bad
) -> Diagnostic | None:
    keys = _result_keys(ctx, step.type, step.inputs)
    if keys is None or key in keys:
        return None
    hint = did_you_mean(key, keys) or f"{step.type} returns: {', '.join(sorted(keys))}"
    return bad("AF407", f"'{dotted}': step '{step.id}' ({step.type}) never returns '{key}'", hint)


def _result_keys(
    ctx: FlowContext, step_type: str | None, inputs: dict[object, object]
) -> set[str] | None:
    """Every key a step's result may hold, or None when that cannot be known."""
    known = ctx.registry.get(step_type) if step_type else None
    if known is None:
        return None
    if known.inner_step_input:
        inner = mapping(inputs.get(known.inner_step_input))
        inner_type = inner.get("type")
        return _result_keys(
            ctx, inner_type if isinstance(inner_type, str) else None, mapping(inner.get("inputs"))
        )
    if known.outputs is None:
        return None
    keys = set(known.outputs)
    if known.extra_outputs_input:
        extra = inputs.get(known.extra_outputs_input)
        if extra is not None and not isinstance(extra, dict):
            return None
        keys.update(str(k) for k in mapping(extra))
    return keys


def check_when(ctx: FlowContext) -> list[Diagnostic]:
    out: list[Diagnostic] = []
    for job in ctx.jobs:
        source = job.data.get("when")
        if not isinstance(source, str) or not source.strip():
            continue
        path = job.path + ("when",)
        if "{{" in source:
            offset = source.index("{{")
            out.append(
                ctx.at_offset(
                    path,
                    offset,
                    "AF501",
                    "when is an expression, not a template",
                    "write jobs.<job_id>.outputs.<key> without braces",
                )
            )
            continue
        try:
            expr = parse_when(source)
        except WhenSyntaxError as exc:
            out.append(ctx.at_offset(path, exc.offset, exc.code, exc.message, exc.hint))
            continue
        for ref in referenced_jobs(expr):
            if isinstance(ref, JobOutput):
                dotted = ".".join(("jobs", ref.job, "outputs", ref.key) + ref.rest)
                problem = _job_reference_problem(ctx, job, ref.job, "outputs", ref.key, dotted)
            else:
                assert isinstance(ref, JobAttr)
                dotted = f"jobs.{ref.job}.{ref.attr}"
                problem = _job_reference_problem(ctx, job, ref.job, ref.attr, None, dotted)
            if problem is not None:
                code, message, hint = problem
                out.append(ctx.at_offset(path, ref.offset, code, f"in when: {message}", hint))
    return out
