"""The `aetherflow.core.api` that plugins written for the reference engine import.

It offers every name of the engine's `__all__`. Step classes are built as
Step(step_id, inputs, ctx, job_id) and run with run(); they return a dict (SUCCESS with
that output) or a StepResult. Connector classes are built with one ConnectorInit (or, for
older ones, with (config, options)). The ctx a step gets is a RunContext with the
engine's fields. The spec classes and RemoteFileMeta (spec_models.py) are imported on
first use: flows whose plugins do not use them do not pay for dataclasses and typing.

install_api_modules() makes `import aetherflow.core.api` give this module;
load_plugin_files() then runs the vendored plugin files the way the engine loads them.
"""

from __future__ import annotations

import abc
import os
import sys

from . import TYPE_CHECKING

# ConnectorBase, ConnectorError, ConnectorInit, register_connector, Settings and
# StepResult are re-exported: plugins import them from here.
from .connectors import (  # noqa: F401
    CONNECTOR_TYPES,
    ConnectorBase,
    ConnectorError,
    ConnectorInit,
    register_connector,
)
from .results import SKIPPED, SUCCESS, StepResult  # noqa: F401
from .runner import StepContext, new_run_id  # noqa: F401
from .settings import Settings  # noqa: F401

if TYPE_CHECKING:  # names for annotations only: importing typing slows every start
    from typing import Any, Dict, List, Optional, Set

    from .runner import Run

# The engine's __all__, in its order.
__all__ = [
    "Step",
    "StepResult",
    "STEP_SUCCESS",
    "STEP_SKIPPED",
    "RunContext",
    "new_run_id",
    "Settings",
    "FlowSpec",  # noqa: F822  (__getattr__ below)
    "FlowMetaSpec",  # noqa: F822  (__getattr__ below)
    "JobSpec",  # noqa: F822  (__getattr__ below)
    "StepSpec",  # noqa: F822  (__getattr__ below)
    "ResourceSpec",  # noqa: F822  (__getattr__ below)
    "WorkspaceSpec",  # noqa: F822  (__getattr__ below)
    "StateSpec",  # noqa: F822  (__getattr__ below)
    "LocksSpec",  # noqa: F822  (__getattr__ below)
    "CleanupPolicy",  # noqa: F822  (__getattr__ below)
    "LockScope",  # noqa: F822  (__getattr__ below)
    "RemoteFileMeta",  # noqa: F822  (__getattr__ below)
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

STEP_SUCCESS = SUCCESS
STEP_SKIPPED = SKIPPED
PLUGIN_STEPS: Dict[str, Any] = {}
# The step types of the running artifact (plugin and built-in), known once a plugin step
# runs; get_step offers the built-in ones as Step classes.
RUN_STEP_TYPES: Dict[str, Any] = {}
BUILTIN_STEP_CLASSES: Dict[str, Any] = {}
SPEC_MODEL_NAMES = (
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
)


def __getattr__(name: str) -> Any:
    """The spec classes and RemoteFileMeta, imported on first use (PEP 562)."""
    if name not in SPEC_MODEL_NAMES:
        raise AttributeError("module %r has no attribute %r" % (__name__, name))
    from . import spec_models

    namespace = globals()
    for each in SPEC_MODEL_NAMES:
        namespace[each] = getattr(spec_models, each)
    return namespace[name]


def install_api_modules() -> None:
    """Provide aetherflow, aetherflow.core and aetherflow.core.api (this module)."""
    api = sys.modules[__name__]
    top = type(sys)("aetherflow")
    core = type(sys)("aetherflow.core")
    top.__path__ = []  # packages, so that submodule imports resolve through sys.modules
    core.__path__ = []
    top.core = core  # type: ignore[attr-defined]  # a module object takes any attribute
    core.api = api  # type: ignore[attr-defined]  # as above
    sys.modules["aetherflow"] = top
    sys.modules["aetherflow.core"] = core
    sys.modules["aetherflow.core.api"] = api


def load_plugin_files(directory: str, files: List[str]) -> None:
    """Run each plugin file (a path below `directory`), in order, as the engine does:
    under its own module name, with `directory` on sys.path for the files' own imports.
    """
    import importlib.util

    install_api_modules()
    if directory not in sys.path:
        sys.path.insert(0, directory)
    for rel in files:
        parts = rel[: -len(".py")].split("/")
        name = "aetherflow_user_plugin_" + "_".join(parts[-4:])
        spec = importlib.util.spec_from_file_location(
            name, os.path.join(directory, *rel.split("/"))
        )
        try:
            if spec is None or spec.loader is None:
                raise ImportError("cannot load plugin file %s" % rel)
            module = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(module)
        except Exception as exc:
            _plugin_failed(rel, exc)


def _plugin_failed(rel: str, exc: BaseException) -> None:
    """A vendored plugin file that fails to import (a package missing on this host):
    exit 2, or with AETHERFLOW_PLUGIN_STRICT=false skip it, as the engine does."""
    problem = "plugin file %s failed to import: %s: %s" % (rel, type(exc).__name__, exc)
    strict = os.environ.get("AETHERFLOW_PLUGIN_STRICT", "true") or "true"
    if strict.lower() == "true":
        sys.stderr.write("error: %s\n" % problem)
        sys.exit(2)
    sys.stderr.write(
        "warning: plugin_skipped %s (AETHERFLOW_PLUGIN_STRICT=false)\n" % problem
    )


def require(spec: str) -> Any:
    """Import an optional dependency: "a.b" gives the module, "a.b:c" its attribute c.
    RuntimeError (from the import error) when it is missing, as in the engine."""
    import importlib

    try:
        if ":" in spec:
            module_name, attr = spec.split(":", 1)
            return require_attr(module_name, attr)
        return importlib.import_module(spec)
    except Exception as exc:
        raise RuntimeError(
            "Optional dependency missing: Module %s. "
            "Install it to use this connector/step." % spec
        ) from exc


def require_attr(module_name: str, attr_name: str) -> Any:
    import importlib

    try:
        return getattr(importlib.import_module(module_name), attr_name)
    except Exception as exc:
        raise RuntimeError(
            "Optional dependency missing: Module %s Attribute %s. "
            "Install it to use this connector/step." % (module_name, attr_name)
        ) from exc


def register_step(name: str) -> Any:
    def decorate(cls: Any) -> Any:
        PLUGIN_STEPS[name] = cls
        return cls

    return decorate


def get_step(name: str) -> Any:
    """The Step class of a step type: a plugin's, or (during a run) a built-in step type
    compiled into this artifact; KeyError naming the loaded ones otherwise."""
    if name in PLUGIN_STEPS:
        return PLUGIN_STEPS[name]
    if name in RUN_STEP_TYPES:
        if name not in BUILTIN_STEP_CLASSES:
            BUILTIN_STEP_CLASSES[name] = _builtin_step_class(name)
        return BUILTIN_STEP_CLASSES[name]
    raise KeyError("Unknown step type: %s. Loaded: %s" % (name, list_steps()))


def list_steps() -> List[str]:
    """Sorted step type names: the plugins' and, during a run, the built-in ones compiled
    into this artifact."""
    return sorted(set(PLUGIN_STEPS) | set(RUN_STEP_TYPES))


def get_connector(kind: str, driver: str) -> Any:
    if (kind, driver) not in CONNECTOR_TYPES:
        raise KeyError(
            "Unknown connector: %s:%s. Loaded: %s" % (kind, driver, list_connectors())
        )
    return CONNECTOR_TYPES[(kind, driver)]


def list_connectors() -> List[str]:
    """Sorted 'kind:driver' of the connectors loaded here: the built-in ones this artifact
    carries (those its flow uses) and every plugin connector."""
    return sorted("%s:%s" % key for key in CONNECTOR_TYPES)


class Step(abc.ABC):
    """Base class of plugin steps, as in the engine: run() must be defined."""

    required_inputs: Set[str] = set()

    def __init__(
        self, step_id: str, inputs: Dict[str, Any], ctx: Any, job_id: str
    ) -> None:
        self.id = step_id
        self.inputs = inputs
        self.ctx = ctx
        self.job_id = job_id

    def validate(self) -> None:
        missing = sorted(k for k in self.required_inputs if k not in self.inputs)
        if missing:
            raise ValueError("Step %s missing inputs: %s" % (self.id, missing))

    @abc.abstractmethod
    def run(self) -> Any:
        raise NotImplementedError


def _builtin_step_class(step_type: str) -> Any:
    """A Step class that runs the artifact's built-in `step_type` with the ctx's run."""

    class BuiltinStep(Step):
        def run(self) -> Any:
            step_ctx = getattr(self.ctx, "_step", None)
            if step_ctx is None:
                raise RuntimeError(
                    "step type %s runs only with the ctx of a running flow (self.ctx)"
                    % step_type
                )
            impl = step_ctx.run.step_types[step_type]
            return impl(StepContext(step_ctx.run, self.job_id, self.id), self.inputs)

    # the class attribute the engine's step classes have (a class body cannot read step_type)
    BuiltinStep.step_type = step_type  # type: ignore[attr-defined]
    BuiltinStep.__name__ = BuiltinStep.__qualname__ = "Builtin:" + step_type
    return BuiltinStep


class RunState:
    """ctx.state: the engine's StateStore lock calls, on this run's state store. Locks
    of this run (owner None or the run id) are renewed while the run goes on and
    released when it ends, like the runner's own."""

    def __init__(self, run: Run) -> None:
        self._run = run

    def _mine(self, owner: Any) -> bool:
        return owner is None or str(owner) == self._run.run_id

    def acquire_lock(self, key: str, owner: Any = None, ttl_seconds: int = 600) -> bool:
        if self._mine(owner):
            return bool(self._run.acquire_lock(str(key), int(ttl_seconds)))
        return bool(
            self._run.state.acquire_lock(str(key), str(owner), int(ttl_seconds))
        )

    def release_lock(self, key: str, owner: Any = None) -> None:
        if self._mine(owner):
            self._run.release_lock(str(key))
        else:
            self._run.state.release_lock(str(key), str(owner))

    def get_step_status(self, job_id: str, run_id: str, step_id: str) -> Optional[str]:
        return self._run.state.steps(str(run_id)).get((str(job_id), str(step_id)))


class RunContext:
    """The engine's RunContext: settings, flow_id, run_id, work_root (a pathlib.Path),
    layout, state, resources, env, connectors and log, with its job directory and lock
    methods. Plugin steps get one built from the runner's step context (for_step)."""

    def __init__(
        self,
        settings: Any,
        flow_id: str,
        run_id: str,
        work_root: Any,
        layout: Dict[str, str],
        state: Any,
        resources: Dict[str, Any],
        env: Optional[Dict[str, str]] = None,
        connectors: Any = None,
        log: Any = None,
    ) -> None:
        from pathlib import Path

        self._step: Any = None
        self._settings = settings
        self.flow_id = flow_id
        self.run_id = run_id
        self.work_root = Path(work_root)
        self.layout = layout
        self.state = state
        self.resources = resources
        self.env = {} if env is None else env
        self.connectors = {} if connectors is None else connectors
        self._log = log

    @classmethod
    def for_run(cls, run: Run) -> "RunContext":
        """The run's context, as the engine hands it to connectors (ConnectorInit.ctx)."""
        workspace = run.workspace
        ctx = cls(
            None,
            run.flow.flow_id,
            run.run_id,
            workspace.root,
            dict(workspace.layout),
            RunState(run),
            run.connectors.resources,
            run.env,
            run.connectors,
        )
        ctx._settings = run.settings.model_copy(update={"work_root": ctx.work_root})
        return ctx

    @classmethod
    def for_step(cls, step_ctx: StepContext) -> "RunContext":
        workspace = step_ctx.run.workspace
        ctx = cls(
            None,
            step_ctx.flow_id,
            step_ctx.run_id,
            workspace.root,
            dict(workspace.layout),
            RunState(step_ctx.run),
            step_ctx.connectors.resources,
            step_ctx.env,
            step_ctx.connectors,
        )
        ctx._step = step_ctx
        RUN_STEP_TYPES.update(step_ctx.run.step_types)
        return ctx

    @property
    def settings(self) -> Any:
        """The run's Settings, as the engine builds them: from the env snapshot and
        AETHERFLOW_SETTINGS_MODULE, with work_root the flow's workspace root (a Path).
        """
        if self._settings is None and self._step is not None:
            from .settings import load_settings

            base = getattr(self._step.run, "settings", None)
            if base is None:
                base = load_settings(self.env)
            self._settings = base.model_copy(update={"work_root": self.work_root})
        return self._settings

    @settings.setter
    def settings(self, value: Any) -> None:
        self._settings = value

    @property
    def log(self) -> Any:
        """A logging.Logger; in a run its records become the run's events."""
        if self._log is None:
            if self._step is not None:
                self._log = _plugin_logger(self._step)
            else:
                import logging

                self._log = logging.getLogger("aetherflow.core.context")
        return self._log

    @log.setter
    def log(self, value: Any) -> None:
        self._log = value

    def job_dir(self, job_id: str) -> Any:
        path = self.work_root / self.flow_id / job_id / self.run_id
        path.mkdir(parents=True, exist_ok=True)
        return path

    def _layout_dir(self, job_id: str, which: str) -> Any:
        path = self.job_dir(job_id) / self.layout[which]
        path.mkdir(parents=True, exist_ok=True)
        return path

    def artifacts_dir(self, job_id: str) -> Any:
        return self._layout_dir(job_id, "artifacts")

    def scratch_dir(self, job_id: str) -> Any:
        return self._layout_dir(job_id, "scratch")

    def manifests_dir(self, job_id: str) -> Any:
        return self._layout_dir(job_id, "manifests")

    def acquire_lock(self, key: str, ttl_seconds: int) -> bool:
        return bool(
            self.state.acquire_lock(key, owner=self.run_id, ttl_seconds=ttl_seconds)
        )

    def release_lock(self, key: str) -> None:
        self.state.release_lock(key, owner=self.run_id)

    def __repr__(self) -> str:  # never the env or resources: they may hold secrets
        return "RunContext(flow_id=%r, run_id=%r, work_root=%r)" % (
            self.flow_id,
            self.run_id,
            self.work_root,
        )


def _plugin_logger(step_ctx: StepContext) -> Any:
    """The flow's plugin logger; its records become events of the step that asked for
    it last (steps run one at a time)."""
    import logging

    class PluginEvents(logging.Handler):
        step: Any = None

        def emit(self, record: Any) -> None:
            step = self.step
            level = (
                record.levelname
                if record.levelname in ("DEBUG", "INFO", "WARNING", "ERROR")
                else "ERROR"
            )
            step.log.event(
                "plugin_log",
                level,
                job_id=step.job_id,
                step_id=step.step_id,
                message=record.getMessage(),
            )

    logger = logging.getLogger("aetherflow.flow.%s.plugin" % step_ctx.flow_id)
    handler = next(
        (h for h in logger.handlers if type(h).__name__ == "PluginEvents"), None
    )
    if handler is None:
        handler = PluginEvents()
        logger.addHandler(handler)
        logger.setLevel(logging.DEBUG)
        logger.propagate = False
    # a PluginEvents (found above by its class name, so typed as any logging.Handler)
    handler.step = step_ctx  # type: ignore[attr-defined]
    return logger


def plugin_step(name: str) -> Any:
    """The step a vendored plugin registered under `name`, as the runner calls every
    step: a function of (ctx, inputs). The class is built as the engine builds it,
    Step(step_id, inputs, ctx, job_id), and run with run()."""
    cls = get_step(name)

    def run_plugin_step(ctx: StepContext, inputs: Dict[str, Any]) -> Any:
        return cls(ctx.step_id, inputs, RunContext.for_step(ctx), ctx.job_id).run()

    return run_plugin_step
