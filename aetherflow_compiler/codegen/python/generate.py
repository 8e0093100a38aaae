"""The Python target: one black-formatted script per flow, generated from templates/."""

from __future__ import annotations

from functools import cache
from typing import Any

from aetherflow_compiler import __version__, package_data
from aetherflow_compiler.codegen.literals import (
    comment_text,
    function_names,
    py_literal,
    to_node,
    uses_dates,
)
from aetherflow_compiler.codegen.python.layout import Atom, Call, Collection, Node, fits, flat
from aetherflow_compiler.codegen.python.layout import text as layout_text
from aetherflow_compiler.codegen.runtime.bundle import RuntimeBundle
from aetherflow_compiler.codegen.runtime.package import amalgamate
from aetherflow_compiler.ir import nodes as ir
from aetherflow_compiler.ir.nodes import EnvFile
from aetherflow_compiler.ir.template import Template
from aetherflow_compiler.ir.validation import start_checks
from aetherflow_compiler.ir.when import BoolOp, Compare, JobAttr, JobOutput, Literal, Not, WhenExpr
from aetherflow_compiler.steps import StepRegistry


@cache
def _template() -> Any:
    import jinja2  # imported on first use: a compile that hits the cache never needs it

    env = jinja2.Environment(
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        undefined=jinja2.StrictUndefined,
        autoescape=False,
    )
    text = package_data.read_text(package_data.TEMPLATES, "flow.py.j2")
    return env.from_string(text)


def when_code(expr: WhenExpr) -> str:
    """A `when` tree as a plain Python expression over the runtime's `jobs` view."""
    if isinstance(expr, Literal):
        return _literal_code(expr.value)
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


def _literal_code(value: object) -> str:
    """A `when` literal; bytes and imaginary numbers too, which YAML values never are."""
    if isinstance(value, complex):
        return flat(Call("complex", ((None, to_node(value.real)), (None, to_node(value.imag)))))
    if isinstance(value, bytes):
        return "bytes(" + py_literal(list(value)) + ")"
    return py_literal(value)


def _operand(expr: WhenExpr) -> str:
    code = when_code(expr)
    return f"({code})" if isinstance(expr, (Compare, BoolOp, Not)) else code


def _runtime_of(registry: StepRegistry, step_type: str) -> tuple[str, str] | None:
    """(module, function) of a built-in step type; None for a plugin's."""
    known = registry.get(step_type)
    assert known is not None and (known.runtime is not None or known.plugin), step_type
    return known.runtime


def uses_plugins(flow: ir.Flow, registry: StepRegistry) -> bool:
    """True when a step type or a connector of the flow comes from a plugin."""
    steps = (registry.get(t) for t in flow.step_types())
    connectors = (registry.connector(r.kind, r.driver) for r in flow.resources)
    return any(t is not None and t.plugin for t in steps) or any(
        c is not None and c.plugin for c in connectors
    )


def _when_function(name: str, code: str) -> str:
    """`def when_x(jobs): return bool(...)`; black lays out the rare expression too long
    for one line (boolean operators are split by rules the layout module does not copy)."""
    source = f"def {name}(jobs):\n    return bool({code})\n"
    if fits(f"    return bool({code})"):
        return source
    import black

    return black.format_str(source, mode=black.Mode(target_versions={black.TargetVersion.PY38}))


def requirements(flow: ir.Flow, registry: StepRegistry) -> tuple[list[str], dict[str, str]]:
    """The runtime modules a flow's steps and connectors need, and the packages (import
    name -> pip name) a host must have for them."""
    modules = {
        runtime[0]
        for runtime in map(lambda t: _runtime_of(registry, t), flow.step_types())
        if runtime
    }
    for resource in flow.resources:
        connector = registry.connector(resource.kind, resource.driver)
        if connector is None:
            continue  # AF814: no step names it; a lookup fails at run time, as in the engine
        assert connector.runtime is not None or connector.plugin, resource.name
        if connector.runtime is not None:
            modules.add(connector.runtime)
    if uses_plugins(flow, registry):
        modules.add("plugin_api")  # aetherflow.core.api for the vendored plugin files
    packages = {module: package for module, package, _why, _path in _package_uses(flow, registry)}
    return sorted(modules), dict(sorted(packages.items()))


def package_needs(flow: ir.Flow, registry: StepRegistry) -> list[tuple[str, str, tuple[Any, ...]]]:
    """(pip requirement, what needs it, its YAML path) for every host package of the flow:
    the packages of `requirements`, each with the first step or resource that needs it."""
    first: dict[str, tuple[str, str, tuple[Any, ...]]] = {}
    for _module, package, why, path in _package_uses(flow, registry):
        first.setdefault(package, (package, why, path))
    return [first[name] for name in sorted(first)]


def _package_uses(
    flow: ir.Flow, registry: StepRegistry
) -> list[tuple[str, str, str, tuple[Any, ...]]]:
    """(import name, pip name, what needs it, its YAML path) for every use of a host
    package: resources' connectors, then steps (embedded steps at any depth included)."""
    out: list[tuple[str, str, str, tuple[Any, ...]]] = []
    for resource in flow.resources:
        connector = registry.connector(resource.kind, resource.driver)
        for module, package in connector.packages if connector is not None else ():
            out.append(
                (
                    module,
                    package,
                    f"resource '{resource.name}' ({resource.kind}:{resource.driver})",
                    ("resources", resource.name),
                )
            )
    for node in flow.step_nodes():
        step_type = registry.get(node.type)
        where = node.path[:4]  # the job's step, for an embedded one too
        for module, package in step_type.packages if step_type is not None else ():
            out.append((module, package, f"step '{node.step.id}' ({node.type})", where))
        if _adhoc_encrypted_archive(node):  # zip/unzip with a password: the runtime uses pyzipper
            out.append(
                ("pyzipper", "pyzipper", f"step '{node.step.id}' (an encrypted archive)", where)
            )
    return out


def _start_checks_node(checks: list[tuple[str, str, str, list[Template]]]) -> Node:
    return Collection(
        "[",
        "]",
        tuple(
            ("", to_node([job_id, step_id, section, list(templates)]))
            for job_id, step_id, section, templates in checks
        ),
    )


def _adhoc_encrypted_archive(node: ir.StepNode) -> bool:
    """zip/unzip with a password and no archive resource: the runtime uses pyzipper."""
    if node.type not in ("zip", "unzip"):
        return False
    inputs = node.inputs
    return inputs.get("password") not in (None, "") and not (
        inputs.get("resource") or inputs.get("connector")
    )


def _resource_node(resource: ir.Resource) -> Node:
    return Call(
        "Resource",
        (
            ("kind", to_node(resource.kind)),
            ("driver", to_node(resource.driver)),
            ("config", to_node(resource.config)),
            ("options", to_node(resource.options)),
            ("decode", to_node([list(d) for d in resource.decode])),
            ("profile", to_node(resource.profile)),
            ("profile_merged", to_node(resource.profile_merged)),
        ),
    )


def generate_flow(
    flow: ir.Flow,
    registry: StepRegistry,
    bundle: RuntimeBundle,
    single_file: bool,
    plugin_files: tuple[str, ...] = (),
    env_files: tuple[EnvFile, ...] = (),
    vendored: tuple[str, ...] = (),
    from_bundle: bool = False,
) -> str:
    """The source of `<flow_id>.py`, laid out as black would. `plugin_files` are the
    vendored plugin files (below aetherflow_plugins/) the script runs when the flow uses
    a plugin's step or connector; `env_files` a bundle manifest's env files, loaded at
    run time; `from_bundle` when the flow comes from a bundle manifest (the folder
    variables of ir.RUN_ENV then name the bundle's folder)."""
    functions = function_names([j.id for j in flow.jobs], "job_")
    whens = function_names([j.id for j in flow.jobs], "when_")
    step_types = [(t, _runtime_of(registry, t)) for t in flow.step_types()]
    plugins = uses_plugins(flow, registry)
    assert not (plugins and single_file), "--single-file with plugins is refused before generating"
    env_vars = ir.Map(tuple((name, has_default) for name, has_default in flow.env_refs().items()))
    _modules, packages = requirements(flow, registry)
    connector_modules = sorted(
        {
            c.runtime
            for c in (registry.connector(r.kind, r.driver) for r in flow.resources)
            if c and c.runtime
        }
    )
    resources = Collection(
        "{", "}", tuple((py_literal(r.name) + ": ", _resource_node(r)) for r in flow.resources)
    )
    flow_call = Call(
        "Flow",
        (
            ("flow_id", to_node(flow.id)),
            ("source", to_node(flow.source)),
            ("source_sha256", to_node(flow.source_sha256)),
            ("compiler_version", to_node(__version__)),
            ("description", to_node(flow.description)),
            ("workspace_root", to_node(flow.workspace.root)),
            ("cleanup_policy", to_node(flow.workspace.cleanup_policy)),
            ("layout", to_node(flow.workspace.layout)),
            ("state_backend", to_node(flow.state.backend)),
            ("state_path", to_node(flow.state.path)),
            ("lock_scope", to_node(flow.locks.scope)),
            ("lock_ttl_seconds", to_node(flow.locks.ttl_seconds)),
            ("env_vars", to_node(env_vars)),
            *((("resources", Atom("RESOURCES")),) if flow.resources else ()),
            *((("packages", to_node(packages)),) if packages else ()),
            *(
                (
                    (
                        "bundle_env_files",
                        to_node([[f.type, f.path, f.optional, f.prefix] for f in env_files]),
                    ),
                )
                if env_files
                else ()
            ),
            *((("vendored", Atom("VENDORED")),) if vendored else ()),
            *((("bundle_dirs", Atom("True")),) if from_bundle else ()),
            *(
                (("start_checks", _start_checks_node(checks)),)
                if (checks := start_checks(flow))
                else ()
            ),
        ),
    )
    jobs = []
    job_calls: list[tuple[str | None, Node]] = []
    for job in flow.jobs:
        steps = []
        for step in job.steps:
            args: list[tuple[str | None, Node]] = [
                (None, to_node(step.id)),
                (None, to_node(step.type)),
            ]
            if step.inputs.entries:
                args.append(("inputs", to_node(step.inputs)))
            if step.outputs.entries:
                args.append(("outputs", to_node(step.outputs)))
            if step.skip_job_on_no_data:
                args.append(("on_no_data", to_node("skip_job")))
            steps.append(
                {
                    "origin_comment": comment_text(str(step.origin)),
                    "call": layout_text(Call("run.step", tuple(args)), 4),
                }
            )
        when = None
        if job.when is not None:
            when = _when_function(whens[job.id], when_code(job.when))
        jobs.append(
            {
                "function": functions[job.id],
                "origin_comment": comment_text(str(job.origin)),
                "when": when,
                "steps": steps,
            }
        )
        job_args: list[tuple[str | None, Node]] = [
            (None, to_node(job.id)),
            (None, Atom(functions[job.id])),
            ("origin", to_node(str(job.origin))),
        ]
        if job.depends_on:
            job_args.append(("depends_on", to_node(list(job.depends_on))))
        if job.when is not None:
            job_args += [("when", Atom(whens[job.id])), ("when_source", to_node(job.when_source))]
        if job.description:
            job_args.append(("description", to_node(job.description)))
        job_calls.append((None, Call("Job", tuple(job_args))))
    jobs_list = Collection("[", "]", tuple(("", node) for _, node in job_calls))
    types_map = Collection(
        "{",
        "}",
        tuple(
            (
                py_literal(name) + ": ",
                Atom(runtime[1]) if runtime else Call("plugin_step", ((None, to_node(name)),)),
            )
            for name, runtime in step_types
        ),
    )
    load_plugins = Call(
        "load_plugin_files",
        (
            (
                None,
                Atom(
                    'os.path.join(os.path.dirname(os.path.abspath(__file__)), "aetherflow_plugins")'
                ),
            ),
            (None, to_node(list(plugin_files))),
        ),
    )
    values: list[Any] = [flow.workspace.root, flow.state.path]
    values += [r.config for r in flow.resources] + [r.options for r in flow.resources]
    values += [s.inputs for j in flow.jobs for s in j.steps] + [
        s.outputs for j in flow.jobs for s in j.steps
    ]
    return _template().render(
        flow=flow,
        jobs=jobs,
        compiler_version=__version__,
        runtime_version_literal=py_literal(bundle.version),
        runtime_sha256_literal=py_literal(bundle.sha256),
        runtime_code=amalgamate(bundle.modules) if single_file else "",
        single_file=single_file,
        source_comment=comment_text(flow.source),
        script_name=comment_text(f"{flow.id}.py"),
        step_imports=sorted({runtime for _, runtime in step_types if runtime}),
        load_plugins_statement=layout_text(load_plugins, 0) if plugins else None,
        flow_statement=layout_text(flow_call, 0, "FLOW = "),
        resources_statement=layout_text(resources, 0, "RESOURCES = ") if flow.resources else None,
        connector_modules=connector_modules,
        jobs_statement=layout_text(jobs_list, 0, "JOBS = "),
        step_types_statement=layout_text(types_map, 0, "STEP_TYPES = "),
        uses_dates=any(uses_dates(v) for v in values),
        vendored_statement=(
            layout_text(
                Collection("(", ")", tuple(("", to_node(f)) for f in vendored)), 0, "VENDORED = "
            )
            if vendored
            else None
        ),
    )
