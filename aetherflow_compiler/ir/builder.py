"""Build the IR from a document that passed every check.

Defaults of the language are filled in here, profiles are merged into resources, and
every templated string is parsed once. Nothing here reports problems: `validate` did.
"""

from __future__ import annotations

from typing import Any

from aetherflow_compiler.frontend.loader import Document, Path
from aetherflow_compiler.frontend.parse_template import TemplateSyntaxError, parse_template
from aetherflow_compiler.frontend.parse_when import parse_when
from aetherflow_compiler.frontend.resource_values import decode_requests, deep_merge
from aetherflow_compiler.ir import nodes as ir
from aetherflow_compiler.walk import mapping, sequence

DEFAULT_LAYOUT = {"artifacts": "artifacts", "scratch": "scratch", "manifests": "manifests"}


def to_value(raw: Any, lenient: bool = False) -> ir.Value:
    """YAML data -> IR value; strings holding templates become parsed Templates.

    `lenient`: a string that is not a valid template stays a string. For values merged
    from a profiles file, which may have errors here: compile analyses each flow before
    it reports the profiles file's errors (and then writes nothing).
    """
    if isinstance(raw, str):
        try:
            template = parse_template(raw)
        except TemplateSyntaxError:
            if not lenient:
                raise
            template = None
        return template if template is not None else raw
    if isinstance(raw, dict):
        return ir.Map(tuple((k, to_value(v, lenient)) for k, v in raw.items()))
    if isinstance(raw, list):
        return ir.Seq(tuple(to_value(v, lenient) for v in raw))
    return raw


def build_flow(doc: Document, source_name: str, profiles: dict[str, Any] | None = None) -> ir.Flow:
    data = mapping(doc.data)
    meta = mapping(data.get("flow"))

    def origin(path: Path) -> ir.Origin:
        return ir.Origin(source_name, doc.span(path).line)

    workspace = mapping(meta.get("workspace"))
    state = mapping(meta.get("state"))
    locks = mapping(meta.get("locks"))
    layout = dict(DEFAULT_LAYOUT)
    layout.update(mapping(workspace.get("layout")))

    resources = []
    for name, raw in mapping(data.get("resources")).items():
        res = mapping(raw)
        profile_name = res.get("profile")
        profile = (
            mapping((profiles or {}).get(profile_name)) if isinstance(profile_name, str) else {}
        )
        config = deep_merge(mapping(profile.get("config")), mapping(res.get("config")))
        options = deep_merge(mapping(profile.get("options")), mapping(res.get("options")))
        decode = [
            (section, dotted) for section, dotted, _ in decode_requests(profile.get("decode"))
        ]
        decode += [(section, dotted) for section, dotted, _ in decode_requests(res.get("decode"))]
        resources.append(
            ir.Resource(
                name=str(name),
                kind=res["kind"],
                driver=res["driver"],
                profile=profile_name if isinstance(profile_name, str) else None,
                config=_as_map(to_value(config, lenient=True)),
                options=_as_map(to_value(options, lenient=True)),
                decode=tuple(dict.fromkeys(decode)),
                origin=origin(("resources", name)),
                profile_merged=not isinstance(profile_name, str)
                or profile_name in (profiles or {}),
            )
        )

    jobs = []
    for ji, raw_job in enumerate(sequence(data.get("jobs"))):
        job = mapping(raw_job)
        steps = []
        for si, raw_step in enumerate(sequence(job.get("steps"))):
            step = mapping(raw_step)
            steps.append(
                ir.Step(
                    id=step["id"],
                    type=step["type"],
                    inputs=_as_map(to_value(mapping(step.get("inputs")))),
                    outputs=_as_map(to_value(mapping(step.get("outputs")))),
                    skip_job_on_no_data=step.get("on_no_data") == "skip_job",
                    origin=origin(("jobs", ji, "steps", si)),
                )
            )
        when_source = job.get("when")
        if not isinstance(when_source, str) or not when_source.strip():
            when_source = None
        jobs.append(
            ir.Job(
                id=job["id"],
                description=job.get("description"),
                depends_on=tuple(job.get("depends_on") or ()),
                when=parse_when(when_source) if when_source is not None else None,
                when_source=when_source,
                steps=tuple(steps),
                origin=origin(("jobs", ji)),
            )
        )

    return ir.Flow(
        id=meta["id"],
        description=meta.get("description"),
        source=source_name,
        source_sha256=doc.sha256,
        workspace=ir.Workspace(
            root=to_value(workspace.get("root", "/tmp/work")),
            cleanup_policy=workspace.get("cleanup_policy", "on_success"),
            layout=_as_map(to_value(layout)),
        ),
        state=ir.StateConfig(
            backend=state.get("backend", "sqlite"),
            path=to_value(state.get("path", "/tmp/state/aetherflow.sqlite")),
        ),
        locks=ir.LockConfig(
            scope=locks.get("scope", "job"), ttl_seconds=to_value(locks.get("ttl_seconds", 3600))
        ),
        resources=tuple(resources),
        jobs=tuple(jobs),
        origin=origin(("flow",)),
    )


def _as_map(value: ir.Value) -> ir.Map:
    assert isinstance(value, ir.Map)
    return value
