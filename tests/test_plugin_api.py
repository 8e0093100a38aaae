"""aetherflow.core.api, the whole of the engine's plugin API, with the standard library only.

A plugin written in the engine's style uses every name of the API; it is compiled with
--plugins and run as an artifact with `python3 -I -S` (no pydantic, no site-packages).
A differential test runs the same probe against the reference engine and against the
vendored runtime and compares fields, defaults, dumps and validation errors.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from conftest import Project, run_cli

PLUGIN = '''\
"""A plugin in the engine's style: every name of aetherflow.core.api."""
import dataclasses
import json

from aetherflow.core.api import (
    STEP_SKIPPED,
    STEP_SUCCESS,
    CleanupPolicy,
    ConnectorBase,
    ConnectorError,
    ConnectorInit,
    FlowMetaSpec,
    FlowSpec,
    JobSpec,
    LockScope,
    LocksSpec,
    RemoteFileMeta,
    ResourceSpec,
    RunContext,
    Settings,
    StateSpec,
    Step,
    StepResult,
    StepSpec,
    WorkspaceSpec,
    get_connector,
    get_step,
    list_connectors,
    list_steps,
    new_run_id,
    register_connector,
    register_step,
    require,
    require_attr,
)

BUILT = []  # (resource name, instance number) of every connector built in this run


@register_connector("kv", "memory")
class Memory(ConnectorBase):
    """The engine's ConnectorBase is a Protocol: connectors set their own fields."""

    def __init__(self, init: ConnectorInit):
        self.name, self.kind, self.driver = init.name, init.kind, init.driver
        self.config, self.options = dict(init.config), dict(init.options)
        BUILT.append(init.name)
        self.number = len(BUILT)

    def get(self, key):
        return self.config["data"][key]

    def close(self):
        with open(self.config["marker"], "a") as fh:
            fh.write("%s#%d\\n" % (self.name, self.number))


@register_connector("kv", "legacy")
class Legacy:
    """An older connector: built as Cls(config, options)."""

    def __init__(self, config, options):
        self.config, self.options = config, options

    def close(self):
        pass


def _error(call):
    try:
        call()
    except Exception as exc:
        return [type(exc).__name__, str(exc).splitlines()[0]]
    return None


@register_step("api_files")
class Files(Step):
    def run(self):
        first = RemoteFileMeta(rel_path="in/a.csv", path="/srv/in/a.csv", name="a.csv", size=3, mtime=1.5)
        bigger = dataclasses.replace(first, size=30)
        folder = RemoteFileMeta(path="/srv/in", name="in", is_dir=True)
        try:
            first.size = 9
            frozen = False
        except dataclasses.FrozenInstanceError:
            frozen = True
        return {
            "fields": [f.name for f in dataclasses.fields(RemoteFileMeta)],
            "defaults": dataclasses.asdict(RemoteFileMeta()),
            "replaced": [first.size, bigger.size, bigger.name],
            "distinct": len({first, bigger, folder, dataclasses.replace(bigger, size=3)}),
            "equal": first == RemoteFileMeta(rel_path="in/a.csv", path="/srv/in/a.csv", name="a.csv", size=3, mtime=1.5),
            "frozen": frozen,
        }


@register_step("api_spec")
class Spec(Step):
    def run(self):
        raw = {
            "flow": {"id": "demo", "workspace": {"root": "/w", "cleanup_policy": "always"},
                     "locks": {"scope": "flow", "ttl_seconds": "60"}},
            "resources": {"db": {"kind": "db", "driver": "sqlite3", "config": {"path": "x.db"}}},
            "jobs": [{"id": "a", "steps": [{"id": "s", "type": "zip", "inputs": {"n": 1}}]},
                     {"id": "b", "depends_on": ["a"], "when": "jobs.a.status == 'SUCCESS'",
                      "steps": [{"id": "t", "type": "acme", "on_no_data": "skip_job"}]}],
        }
        spec = FlowSpec.model_validate(raw)
        built = FlowSpec(flow=FlowMetaSpec(id="demo", workspace=WorkspaceSpec(root="/w", cleanup_policy="always"),
                                           locks=LocksSpec(scope="flow", ttl_seconds=60)),
                         resources={"db": ResourceSpec(kind="db", driver="sqlite3", config={"path": "x.db"})},
                         jobs=[JobSpec(id="a", steps=[StepSpec(id="s", type="zip", inputs={"n": 1})]),
                               JobSpec(id="b", depends_on=["a"], when="jobs.a.status == 'SUCCESS'",
                                       steps=[{"id": "t", "type": "acme", "on_no_data": "skip_job"}])])
        copy = spec.model_copy(update={"version": 2})
        return {
            "same": built == spec,
            "types": [type(spec.flow).__name__, type(spec.flow.workspace).__name__,
                      type(spec.resources["db"]).__name__, type(spec.jobs[1].steps[0]).__name__],
            "flow": spec.flow.model_dump(),
            "resource": spec.resources["db"].model_dump(),
            "job_b": spec.jobs[1].model_dump(),
            "json_roundtrip": FlowSpec.model_validate_json(spec.model_dump_json()) == spec,
            "copy": [copy.version, spec.version, copy.flow is spec.flow],
            "defaults": [StateSpec().backend, StateSpec().path, LocksSpec().ttl_seconds,
                         WorkspaceSpec().layout, WorkspaceSpec().layout is not WorkspaceSpec().layout],
            "literals": [list(CleanupPolicy.__args__), list(LockScope.__args__)],
            "errors": {
                "extra": _error(lambda: ResourceSpec(kind="db", driver="x", colour="red")),
                "backend": _error(lambda: StateSpec(backend="postgres")),
                "scope": _error(lambda: FlowMetaSpec.model_validate({"id": "f", "locks": {"scope": "run"}})),
                "policy": _error(lambda: WorkspaceSpec(cleanup_policy="sometimes")),
                "missing": _error(lambda: FlowSpec.model_validate({"jobs": []})),
            },
            "value_error": isinstance(_raise(lambda: StateSpec(backend="x")), ValueError),
        }


def _raise(call):
    try:
        call()
    except Exception as exc:
        return exc


@register_step("api_ctx")
class Ctx(Step):
    def run(self):
        ctx = self.ctx
        other = "someone-else"
        locks = [
            ctx.state.acquire_lock("api:one", owner=ctx.run_id, ttl_seconds=60),
            ctx.state.acquire_lock("api:one", other, 60),  # held by this run
            ctx.acquire_lock("api:two", 60),
        ]
        ctx.state.release_lock("api:one", owner=ctx.run_id)
        locks.append(ctx.state.acquire_lock("api:one", other, 60))
        ctx.state.release_lock("api:one", other)
        ctx.release_lock("api:two")
        scratch = ctx.scratch_dir(self.job_id)
        (scratch / "note.txt").write_text("scratch")
        ctx.log.info("ctx step %s of job %s", self.id, self.job_id)
        return {
            "is_run_context": isinstance(ctx, RunContext),
            "is_settings": isinstance(ctx.settings, Settings),
            "settings": {k: ctx.settings.model_dump()[k] for k in
                         ("log_level", "plugin_strict", "connector_cache_default", "plugin_paths")},
            "settings_work_root": [type(ctx.settings.work_root).__name__, str(ctx.settings.work_root)],
            "work_root": [type(ctx.work_root).__name__, str(ctx.work_root)],
            "layout": ctx.layout,
            "ids": [ctx.flow_id, ctx.run_id],
            "dirs": [str(p.relative_to(ctx.work_root)) for p in (
                ctx.job_dir(self.job_id), ctx.artifacts_dir(self.job_id), scratch, ctx.manifests_dir(self.job_id))],
            "locks": locks,
            "step_status": ctx.state.get_step_status(self.job_id, ctx.run_id, "files"),
            "env": ctx.env.get("API_PROBE"),
            "resources": sorted(ctx.resources),
            "new_run_id": [len(new_run_id()), new_run_id() != new_run_id()],
        }


@register_step("api_connectors")
class Connectors(Step):
    def run(self):
        c = self.ctx.connectors
        store = c.get(kind="kv", name="store")
        again = c["store"]
        fresh = c.get(kind="kv", name="store", cache="none")
        scoped = [c.get(kind="kv", name="scoped").number, c.get(kind="kv", name="scoped").number]
        legacy = c.get(kind="kv", name="old")
        return {
            "suffix": store.get("suffix"),
            "cached": [store is again, fresh is store, store.number, fresh.number],
            "scoped": scoped,
            "legacy": [type(legacy).__name__, legacy.config["greeting"], legacy.options],
            "get_connector": get_connector("kv", "memory").__name__,
            "list_connectors": list_connectors(),
            "unknown": _error(lambda: get_connector("kv", "nope")),
            "error_is_runtime": issubclass(ConnectorError, RuntimeError),
        }


@register_step("api_registry")
class Registry(Step):
    def run(self):
        self.ctx.log.warning("registry step")
        return {
            "get_step": get_step("api_registry").__name__,
            "list_steps": list_steps(),
            "unknown": _error(lambda: get_step("api_nope")),
            "require": [require("json").__name__, require("json:dumps") is json.dumps,
                        require_attr("json", "loads") is json.loads],
            "require_missing": _error(lambda: require("api_no_such_module")),
            "require_attr_missing": _error(lambda: require_attr("json", "nope")),
            "statuses": [STEP_SUCCESS, STEP_SKIPPED],
            "result": StepResult(output={"a": 1}) == StepResult(status=STEP_SUCCESS, output={"a": 1}),
        }


@register_step("api_wrap")
class Wrap(Step):
    """Runs another step type through get_step, as engine plugins can."""

    required_inputs = {"type"}

    def run(self):
        self.validate()
        inner = get_step(self.inputs["type"])
        return inner(self.id, self.inputs.get("inputs") or {}, self.ctx, self.job_id).run()


@register_step("api_probe")
class Probe(Step):
    def run(self):
        if self.inputs.get("empty"):
            return StepResult(status=STEP_SKIPPED, output={"seen": 0}, reason="nothing_new")
        return StepResult(status=STEP_SUCCESS, output={"seen": 1})


@register_step("api_fail")
class Fail(Step):
    def run(self):
        raise ConnectorError("peer said no")
'''


def _plugins(root: Path) -> Path:
    directory = root / "plugins"
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "api_plugin.py").write_text(PLUGIN)
    return directory


def _api_flow(project: Project) -> Path:
    marker = project.root / "closed.txt"
    kv = f'data: {{suffix: " bye"}}, marker: "{marker}"'
    project.write_flow(
        "api.yaml",
        project.header("api") + textwrap.dedent(f"""\
        resources:
          store: {{kind: kv, driver: memory, config: {{{kv}}}}}
          scoped: {{kind: kv, driver: memory, config: {{{kv}}}, options: {{cache: none}}}}
          old: {{kind: kv, driver: legacy, config: {{greeting: hi}}, options: {{retries: 2}}}}
        jobs:
          - id: prep
            steps:
              - id: hello
                type: external.process
                inputs: {{command: ["true"]}}
          - id: main
            depends_on: [prep]
            steps:
              - id: files
                type: api_files
                outputs: {{files: "{{{{result}}}}"}}
              - id: spec
                type: api_spec
                outputs: {{spec: "{{{{result}}}}"}}
              - id: ctx
                type: api_ctx
                outputs: {{ctx: "{{{{result}}}}"}}
              - id: conns
                type: api_connectors
                outputs: {{conns: "{{{{result}}}}"}}
              - id: registry
                type: api_registry
                outputs: {{registry: "{{{{result}}}}"}}
              - id: wrapped
                type: api_wrap
                inputs: {{type: external.process, inputs: {{command: [echo, wrapped], log: {{stdout: capture}}}}}}
                outputs: {{wrapped: "{{{{result.stdout}}}}", wrapped_code: "{{{{result.exit_code}}}}"}}
          - id: quiet
            depends_on: [main]
            steps:
              - id: probe
                type: api_probe
                inputs: {{empty: true}}
                on_no_data: skip_job
              - id: never
                type: api_probe
          - id: broken
            steps:
              - id: fail
                type: api_fail
        """),
    )
    return marker


EXPECTED_SPEC_ERRORS = {
    "extra": ["SpecValidationError", "1 validation error for ResourceSpec"],
    "backend": ["SpecValidationError", "1 validation error for StateSpec"],
    "scope": ["SpecValidationError", "1 validation error for FlowMetaSpec"],
    "policy": ["SpecValidationError", "1 validation error for WorkspaceSpec"],
    "missing": ["SpecValidationError", "1 validation error for FlowSpec"],
}


@pytest.mark.e2e
def test_every_name_of_the_api_works_in_an_artifact_without_pydantic(project: Project) -> None:
    plugins = _plugins(project.root)
    marker = _api_flow(project)
    project.compile("--plugins", str(plugins))
    runtime = project.dist / "aetherflow_runtime"
    assert (runtime / "plugin_api.py").exists() and (runtime / "spec_models.py").exists()

    env = {
        "API_PROBE": "seen",
        "AETHERFLOW_LOG_LEVEL": "DEBUG",
        "AETHERFLOW_PLUGIN_STRICT": "false",
    }
    proc = project.run(
        "api", "run", "--run-id", "r1", env=env, check_exit=1
    )  # the broken job fails
    status = project.status("api", "r1", env=env)
    jobs = status["jobs"]
    assert {job: data["status"] for job, data in jobs.items()} == {
        "prep": "SUCCESS",
        "main": "SUCCESS",
        "quiet": "SKIPPED",
        "broken": "FAILED",
    }
    assert jobs["quiet"]["steps"] == {"probe": "SKIPPED", "never": "SKIPPED"}
    assert "peer said no" in proc.stderr
    out = jobs["main"]["outputs"]

    assert out["files"] == {
        "fields": ["rel_path", "path", "name", "is_dir", "size", "mtime", "sha256"],
        "defaults": {
            "rel_path": None,
            "path": None,
            "name": None,
            "is_dir": False,
            "size": None,
            "mtime": None,
            "sha256": None,
        },
        "replaced": [3, 30, "a.csv"],
        "distinct": 3,
        "equal": True,
        "frozen": True,
    }

    spec = out["spec"]
    assert spec["same"] is True and spec["json_roundtrip"] is True
    assert spec["types"] == ["FlowMetaSpec", "WorkspaceSpec", "ResourceSpec", "StepSpec"]
    assert spec["flow"] == {
        "id": "demo",
        "description": None,
        "workspace": {
            "root": "/w",
            "cleanup_policy": "always",
            "layout": {"artifacts": "artifacts", "scratch": "scratch", "manifests": "manifests"},
        },
        "state": {"backend": "sqlite", "path": "/tmp/state/aetherflow.sqlite"},
        "locks": {"scope": "flow", "ttl_seconds": 60},
    }
    assert spec["resource"] == {
        "kind": "db",
        "driver": "sqlite3",
        "profile": None,
        "config": {"path": "x.db"},
        "options": {},
        "decode": {},
    }
    assert spec["job_b"] == {
        "id": "b",
        "description": None,
        "depends_on": ["a"],
        "when": "jobs.a.status == 'SUCCESS'",
        "steps": [
            {"id": "t", "type": "acme", "inputs": {}, "on_no_data": "skip_job", "outputs": {}}
        ],
    }
    assert spec["copy"] == [2, 1, True]
    assert spec["defaults"] == [
        "sqlite",
        "/tmp/state/aetherflow.sqlite",
        3600,
        {"artifacts": "artifacts", "scratch": "scratch", "manifests": "manifests"},
        True,
    ]
    assert spec["literals"] == [["on_success", "always", "never"], ["none", "job", "flow"]]
    assert spec["errors"] == EXPECTED_SPEC_ERRORS
    assert spec["value_error"] is True

    ctx = out["ctx"]
    assert ctx["is_run_context"] is True and ctx["is_settings"] is True
    assert ctx["settings"] == {
        "log_level": "DEBUG",
        "plugin_strict": False,
        "connector_cache_default": "run",
        "plugin_paths": [],
    }
    assert ctx["settings_work_root"] == ["PosixPath", str(project.work)]
    assert ctx["work_root"] == ["PosixPath", str(project.work)]
    assert ctx["layout"] == {
        "artifacts": "artifacts",
        "scratch": "scratch",
        "manifests": "manifests",
    }
    assert ctx["ids"] == ["api", "r1"]
    assert ctx["dirs"] == [
        "api/main/r1",
        "api/main/r1/artifacts",
        "api/main/r1/scratch",
        "api/main/r1/manifests",
    ]
    assert ctx["locks"] == [True, False, True, True]
    assert ctx["step_status"] == "SUCCESS"
    assert ctx["env"] == "seen"
    assert ctx["resources"] == ["old", "scoped", "store"]
    assert ctx["new_run_id"] == [12, True]
    assert (project.work / "api" / "main" / "r1" / "scratch" / "note.txt").read_text() == "scratch"
    # ctx.log records become run events of the step that logged them
    plugin_logs = [
        line.split("plugin_log ", 1)[1]
        for line in proc.stderr.splitlines()
        if " plugin_log " in line
    ]
    assert plugin_logs == [
        "job_id=main step_id=ctx message=ctx step ctx of job main",
        "job_id=main step_id=registry message=registry step",
    ]

    conns = out["conns"]
    assert conns["suffix"] == " bye"
    # run cache: one instance per resource; cache="none" and options.cache none build anew
    assert conns["cached"] == [True, False, 1, 2]
    assert conns["scoped"] == [3, 4]
    assert conns["legacy"] == ["Legacy", "hi", {"retries": 2}]
    assert conns["get_connector"] == "Memory"
    assert conns["list_connectors"] == ["kv:legacy", "kv:memory"]
    assert conns["unknown"] == [
        "KeyError",
        "\"Unknown connector: kv:nope. Loaded: ['kv:legacy', 'kv:memory']\"",
    ]
    assert conns["error_is_runtime"] is True
    # Only the run-cached connector is closed at the end of the run, once.
    assert marker.read_text() == "store#1\n"

    registry = out["registry"]
    assert registry["get_step"] == "Registry"
    assert {"api_ctx", "api_wrap", "external.process"} <= set(registry["list_steps"])
    assert registry["list_steps"] == sorted(registry["list_steps"])
    assert registry["unknown"][0] == "KeyError"
    assert registry["unknown"][1].startswith(
        "\"Unknown step type: api_nope. Loaded: ['api_connectors', "
    )
    assert registry["require"] == ["json", True, True]
    assert registry["require_missing"] == [
        "RuntimeError",
        "Optional dependency missing: Module api_no_such_module. Install it to use this connector/step.",
    ]
    assert registry["require_attr_missing"] == [
        "RuntimeError",
        "Optional dependency missing: Module json Attribute nope. Install it to use this connector/step.",
    ]
    assert registry["statuses"] == ["SUCCESS", "SKIPPED"]
    assert registry["result"] is True

    assert out["wrapped"] == "wrapped\n" and out["wrapped_code"] == 0


@pytest.mark.e2e
def test_star_import_gives_the_engines_all(project: Project) -> None:
    plugins = project.root / "plugins"
    plugins.mkdir()
    (plugins / "star.py").write_text(textwrap.dedent("""\
        from aetherflow.core.api import *  # noqa: F403
        import aetherflow.core.api as api


        @register_step("api_star")  # noqa: F405
        class Star(Step):  # noqa: F405
            def run(self):
                names = [n for n in api.__all__ if n in globals()]
                return {"all": list(api.__all__), "imported": names}
        """))
    project.write_flow(
        "star.yaml",
        project.header("star") + textwrap.dedent("""\
        jobs:
          - id: a
            steps:
              - id: s
                type: api_star
                outputs: {all: "{{result.all}}", imported: "{{result.imported}}"}
        """),
    )
    project.compile("--plugins", str(plugins))
    project.run("star", "run", "--run-id", "r1", check_exit=0)
    outputs = project.status("star", "r1")["jobs"]["a"]["outputs"]
    assert outputs["all"] == ENGINE_ALL
    assert outputs["imported"] == ENGINE_ALL


ENGINE_ALL = [
    "Step",
    "StepResult",
    "STEP_SUCCESS",
    "STEP_SKIPPED",
    "RunContext",
    "new_run_id",
    "Settings",
    "FlowSpec",
    "FlowMetaSpec",
    "JobSpec",
    "StepSpec",
    "ResourceSpec",
    "WorkspaceSpec",
    "StateSpec",
    "LocksSpec",
    "CleanupPolicy",
    "LockScope",
    "RemoteFileMeta",
    "ConnectorBase",
    "ConnectorInit",
    "ConnectorError",
    "register_step",
    "get_step",
    "list_steps",
    "register_connector",
    "get_connector",
    "list_connectors",
    "require",
    "require_attr",
]


# --- the connector cache policy and construction, on the runtime itself ----------------------


def _runtime() -> Any:
    import aetherflow_compiler._runtime.connectors as connectors
    import aetherflow_compiler._runtime.settings as settings

    return connectors, settings


@pytest.fixture
def kv_types() -> Any:
    connectors, _ = _runtime()
    saved = dict(connectors.CONNECTOR_TYPES)
    built: list[str] = []

    class Modern(connectors.ConnectorBase):
        def __init__(self, init: Any) -> None:
            super().__init__(init)
            built.append(init.name)

    class Legacy:
        def __init__(self, config: dict[str, Any], options: dict[str, Any]) -> None:
            built.append("legacy")
            self.config, self.options = config, options

    class Broken(connectors.ConnectorBase):
        def __init__(self, init: Any) -> None:
            raise TypeError("port must be an int")

    connectors.CONNECTOR_TYPES.update(
        {("kv", "modern"): Modern, ("kv", "legacy"): Legacy, ("kv", "broken"): Broken}
    )
    yield built
    connectors.CONNECTOR_TYPES.clear()
    connectors.CONNECTOR_TYPES.update(saved)


def _resources(**options: Any) -> dict[str, dict[str, Any]]:
    return {"r": {"kind": "kv", "driver": "modern", "config": {}, "options": options}}


@pytest.mark.parametrize(
    ("settings_values", "options", "call_cache", "same"),
    [
        ({}, {}, None, True),  # the default: run
        ({"connector_cache_default": "none"}, {}, None, False),
        ({"connector_cache_default": " Process "}, {}, None, True),  # process is run here
        ({"connector_cache_default": "weekly"}, {}, None, True),  # unknown: run, as in the engine
        (
            {"connector_cache_disabled": True},
            {"cache": "run"},
            None,
            False,
        ),  # disabled beats the resource
        ({"connector_cache_disabled": True}, {}, "run", True),  # the call beats everything
        ({}, {"cache": "NONE"}, None, False),  # the resource's options.cache
        (
            {"connector_cache_default": "none"},
            {"cache": "run"},
            None,
            True,
        ),  # resource beats the default
        ({}, {}, "none", False),
    ],
)
def test_connector_cache_policy_is_the_engines(
    kv_types: list[str],
    settings_values: dict[str, Any],
    options: dict[str, Any],
    call_cache: str | None,
    same: bool,
) -> None:
    connectors, settings = _runtime()
    manager = connectors.Connectors(
        _resources(**options), settings=settings.Settings(**settings_values)
    )
    first = manager.get(kind="kv", name="r", cache=call_cache)
    second = manager.get(kind="kv", name="r", cache=call_cache)
    assert (first is second) is same
    assert len(kv_types) == (1 if same else 2)


def test_connectors_without_settings_use_the_defaults_and_close_only_what_they_cache(
    kv_types: list[str],
) -> None:
    connectors, _ = _runtime()
    resources = {
        "r": {"kind": "kv", "driver": "modern", "config": {}, "options": {}},
        "top": {"kind": "kv", "driver": "modern", "config": {}, "options": {}, "cache": "none"},
    }
    manager = connectors.Connectors(resources)
    closed: list[str] = []
    cached = manager.get(kind="kv", name="r")
    cached.close = lambda: closed.append("r")
    uncached = manager.get(kind="kv", name="r", cache="none")
    uncached.close = lambda: closed.append("uncached")
    assert manager.get(kind="kv", name="top") is not manager.get(
        kind="kv", name="top"
    )  # the resource's cache key
    assert manager["r"] is cached
    assert manager.close_all() == [] and closed == ["r"]


def test_legacy_connectors_are_built_with_config_and_options(kv_types: list[str]) -> None:
    connectors, _ = _runtime()
    manager = connectors.Connectors(
        {"old": {"kind": "kv", "driver": "legacy", "config": {"a": 1}, "options": {"b": 2}}}
    )
    legacy = manager.get(kind="kv", name="old")
    assert (legacy.config, legacy.options) == ({"a": 1}, {"b": 2})
    # A TypeError raised inside a connector's own code is the error shown, not the
    # argument mismatch of the legacy retry.
    broken = connectors.Connectors(
        {"b": {"kind": "kv", "driver": "broken", "config": {}, "options": {}}}
    )
    with pytest.raises(TypeError, match="port must be an int"):
        broken.get(kind="kv", name="b")


def test_connector_init_compares_and_never_shows_its_values() -> None:
    connectors, _ = _runtime()
    one = connectors.ConnectorInit("db", "db", "postgres", {"password": "hunter2"}, {})
    assert one == connectors.ConnectorInit(
        name="db",
        kind="db",
        driver="postgres",
        config={"password": "hunter2"},
        options={},
        ctx=None,
    )
    assert "hunter2" not in repr(one)


# --- the differential test against the reference engine --------------------------------------

PROBE = r"""
import dataclasses, json, tempfile
import aetherflow.core.api as api
from aetherflow.core.api import *

out = {}
out["all"] = list(api.__all__)
out["remote_fields"] = [[f.name, f.default] for f in dataclasses.fields(RemoteFileMeta)]
params = RemoteFileMeta.__dataclass_params__
out["remote_params"] = [params.frozen, params.eq, RemoteFileMeta.__hash__ is not None]
out["remote_replace"] = dataclasses.asdict(dataclasses.replace(RemoteFileMeta(path="/a", size=3), size=4))
out["settings_default"] = Settings().model_dump()
env = {"AETHERFLOW_WORK_ROOT": "/w", "AETHERFLOW_PLUGIN_PATHS": "a,,b", "AETHERFLOW_PLUGIN_STRICT": "FALSE",
       "AETHERFLOW_CONNECTOR_CACHE_DISABLED": "True", "AETHERFLOW_METRICS_MODULE": "",
       "AETHERFLOW_LOG_LEVEL": "DEBUG", "AETHERFLOW_MODE_ENTERPRISE": "true",
       "AETHERFLOW_CONNECTOR_CACHE_DEFAULT": "process", "AETHERFLOW_SECRETS_PATH": "/s.py"}
out["settings_env"] = Settings.from_env(env).model_dump()
out["settings_overrides"] = Settings.from_env({}, overrides={"log_level": "WARNING"}).model_dump()
out["settings_copy"] = Settings().model_copy(update={"log_format": "json"}).model_dump()
out["settings_eq"] = [Settings() == Settings(), Settings() == Settings(log_level="DEBUG")]

minimal = {"WorkspaceSpec": {}, "StateSpec": {}, "LocksSpec": {}, "FlowMetaSpec": {"id": "f"},
           "ResourceSpec": {"kind": "db", "driver": "sqlite3"}, "StepSpec": {"id": "s", "type": "t"},
           "JobSpec": {"id": "j", "steps": []}, "FlowSpec": {"flow": {"id": "f"}, "jobs": []}}
for name, data in minimal.items():
    cls = getattr(api, name)
    out["fields " + name] = list(cls.model_fields)
    out["required " + name] = [n for n, f in cls.model_fields.items() if f.is_required()]
    out["dump " + name] = cls(**data).model_dump()
    out["validate " + name] = cls.model_validate(data).model_dump()
    out["eq " + name] = cls(**data) == cls.model_validate(data)

nested = {
    "version": "1",
    "flow": {"id": "orders", "description": "d", "workspace": {"root": "/w", "cleanup_policy": "never",
             "layout": {"artifacts": "out", "scratch": "tmp", "manifests": "m"}},
             "state": {"backend": "file", "path": "/s"}, "locks": {"scope": "none", "ttl_seconds": 5.0}},
    "resources": {"db": {"kind": "db", "driver": "postgres", "profile": "prod", "config": {"host": "h"},
                         "options": {"pool": {"size": 2}}, "decode": {"config": ["password"]}}},
    "jobs": [{"id": "a", "steps": [{"id": "s", "type": "zip", "inputs": {"files": ["x"]},
                                    "outputs": {"n": "{{result.count}}"}}]},
             {"id": "b", "description": None, "depends_on": ("a",), "when": "x",
              "steps": [{"id": "t", "type": "t", "on_no_data": "skip_job"}]}],
    "ignored_extra_key": 1,
}
spec = FlowSpec.model_validate(nested)
out["nested"] = spec.model_dump()
out["nested_json"] = json.loads(spec.model_dump_json())
out["nested_mode_json"] = spec.model_dump(mode="json")
out["nested_types"] = [type(spec.flow).__name__, type(spec.flow.state).__name__,
                       type(spec.resources["db"]).__name__, type(spec.jobs[1].steps[0]).__name__]
out["nested_exclude_defaults"] = spec.model_dump(exclude_defaults=True)
out["nested_exclude_none"] = spec.model_dump(exclude_none=True)
out["nested_exclude_unset"] = spec.model_dump(exclude_unset=True)
out["nested_include"] = spec.model_dump(include={"version", "jobs"})
out["nested_exclude"] = spec.flow.model_dump(exclude={"workspace", "state"})
out["nested_fields_set"] = sorted(spec.model_fields_set)
copy = spec.model_copy(update={"version": 7})
out["copy"] = [copy.version, spec.version, copy.flow is spec.flow, copy == spec, spec.model_copy() == spec]
deep = spec.model_copy(deep=True)
out["deep"] = [deep == spec, deep.flow is spec.flow]
out["same_instance"] = FlowMetaSpec.model_validate(spec.flow) is spec.flow
out["iter"] = [name for name, _ in spec.flow.locks]
try:
    hash(spec)
    out["hashable"] = True
except TypeError:
    out["hashable"] = False
try:
    spec.flow.colour = "red"
    out["set_unknown"] = None
except ValueError as exc:
    out["set_unknown"] = str(exc)

bad = {
    "extra": ("ResourceSpec", {"kind": "db", "driver": "x", "colour": "red", "size": 1}),
    "nested_extra": ("FlowSpec", {"flow": {"id": "f"}, "jobs": [],
                                  "resources": {"r": {"kind": "k", "driver": "d", "cache": "none"}}}),
    "backend": ("StateSpec", {"backend": "SQLITE"}),
    "scope": ("LocksSpec", {"scope": "run", "ttl_seconds": "x"}),
    "ttl_float": ("LocksSpec", {"ttl_seconds": 1.5}),
    "ttl_none": ("LocksSpec", {"ttl_seconds": None}),
    "policy_layout": ("WorkspaceSpec", {"cleanup_policy": "sometimes", "layout": {"a": 1}}),
    "layout_list": ("WorkspaceSpec", {"layout": ["a"]}),
    "on_no_data": ("StepSpec", {"id": "s", "type": "t", "on_no_data": "skip"}),
    "inputs_none": ("StepSpec", {"id": "s", "type": "t", "inputs": None}),
    "missing": ("FlowSpec", {}),
    "steps": ("JobSpec", {"id": 1, "depends_on": "a", "steps": [{"id": "s"}, 3]}),
    "not_a_dict": ("FlowSpec", [1]),
    "flow_type": ("FlowSpec", {"flow": 3, "jobs": "x"}),
    "config_key": ("ResourceSpec", {"kind": "k", "driver": "d", "config": {1: 2}}),
    "workspace_none": ("FlowMetaSpec", {"id": "f", "workspace": None}),
}
for key, (name, data) in bad.items():
    try:
        getattr(api, name).model_validate(data)
        out["bad " + key] = None
    except ValueError as exc:
        out["bad " + key] = [[e["type"], list(e["loc"]), e["msg"]] for e in exc.errors()]
        out["bad title " + key] = str(exc).splitlines()[0]

out["literals"] = [list(CleanupPolicy.__args__), list(LockScope.__args__)]
out["connector_init"] = vars(ConnectorInit("n", "k", "d", {"a": 1}, {}))
out["connector_init_eq"] = ConnectorInit("n", "k", "d", {}, {}) == ConnectorInit(name="n", kind="k", driver="d",
                                                                              config={}, options={}, ctx=None)
result = StepResult(status=STEP_SKIPPED, output={"a": 1}, reason="r")
out["step_result"] = [result.status, result.output, result.reason, result.as_output(), StepResult().status,
                      StepResult().output, result == StepResult(STEP_SKIPPED, {"a": 1}, "r")]
out["connector_error"] = [issubclass(ConnectorError, RuntimeError), str(ConnectorError("x"))]

class NoRun(Step):
    pass

try:
    NoRun("s", {}, None, "j")
    out["abstract"] = None
except TypeError:
    out["abstract"] = "TypeError"

class Needs(Step):
    required_inputs = {"a"}

    def run(self):
        return {}

try:
    Needs("s", {}, None, "j").validate()
except ValueError as exc:
    out["validate"] = str(exc)
out["step_attrs"] = vars(Needs("s", {"a": 1}, "CTX", "j"))

class State:
    def __init__(self):
        self.calls = []

    def acquire_lock(self, key, owner, ttl_seconds=600):
        self.calls.append(["acquire", key, owner, ttl_seconds])
        return True

    def release_lock(self, key, owner):
        self.calls.append(["release", key, owner])

root = tempfile.mkdtemp()
state = State()
ctx = RunContext(settings=Settings(), flow_id="f", run_id="r1", work_root=__import__("pathlib").Path(root),
                 layout={"artifacts": "a", "scratch": "s", "manifests": "m"}, state=state, resources={})
dirs = [ctx.job_dir("j"), ctx.artifacts_dir("j"), ctx.scratch_dir("j"), ctx.manifests_dir("j")]
out["ctx_dirs"] = [[str(p.relative_to(root)), p.is_dir()] for p in dirs]
out["ctx_locks"] = [ctx.acquire_lock("k", 30), ctx.release_lock("k"), state.calls]
out["ctx_defaults"] = [ctx.env, ctx.connectors, ctx.log.name, ctx.settings.log_level]
out["run_id"] = [len(new_run_id()), all(c in "0123456789abcdef" for c in new_run_id())]

try:
    get_step("api_nope")
except KeyError as exc:
    out["get_step"] = exc.args[0].split(" Loaded: ")[0]
try:
    get_connector("kv", "nope")
except KeyError as exc:
    out["get_connector"] = exc.args[0].split(" Loaded: ")[0]
for key, call in {"require": lambda: require("api_no_such_module"), "require_attr": lambda: require("json:nope"),
                  "require_attr2": lambda: require_attr("json", "nope")}.items():
    try:
        call()
    except RuntimeError as exc:
        out[key] = [str(exc), str(exc.__cause__)]

print(json.dumps(out, sort_keys=True, default=repr))
"""

OURS = """\
import sys
sys.path.insert(0, {dist!r})
from aetherflow_runtime.plugin_api import install_api_modules
install_api_modules()
"""


@pytest.mark.conformance
def test_api_matches_the_reference_engine(tmp_path: Path) -> None:
    from bench.oracle import oracle_python

    # Our side: the runtime as an artifact vendors it, run with the standard library only.
    project = Project(tmp_path / "ours")
    plugins = _plugins(project.root)
    _api_flow(project)
    assert (
        run_cli(
            ["compile", str(project.flows), "-o", str(project.dist), "--plugins", str(plugins)]
        ).exit_code
        == 0
    )
    ours_script = tmp_path / "ours_probe.py"
    ours_script.write_text(OURS.format(dist=str(project.dist)) + PROBE)
    engine_script = tmp_path / "engine_probe.py"
    engine_script.write_text(PROBE)

    def run(python: str, script: Path, flags: list[str]) -> dict[str, Any]:
        proc = subprocess.run(
            [python, *flags, str(script)], capture_output=True, text=True, timeout=120, cwd=tmp_path
        )
        assert proc.returncode == 0, proc.stderr
        data: dict[str, Any] = json.loads(proc.stdout)
        return data

    ours = run(sys.executable, ours_script, ["-I", "-S"])
    engine = run(oracle_python(), engine_script, ["-I"])
    assert ours.keys() == engine.keys()
    different = {
        key: {"ours": ours[key], "engine": engine[key]}
        for key in engine
        if ours[key] != engine[key]
    }
    assert different == {}
    # The probe saw what it should (so an empty comparison is not a vacuous one).
    assert engine["all"] == ENGINE_ALL
    assert engine["bad extra"] == [
        ["extra_forbidden", ["colour"], "Extra inputs are not permitted"],
        ["extra_forbidden", ["size"], "Extra inputs are not permitted"],
    ]
    assert engine["nested"]["flow"]["locks"] == {"scope": "none", "ttl_seconds": 5}
