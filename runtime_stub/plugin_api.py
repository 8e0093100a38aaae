"""The `aetherflow.core.api` that plugins written for the reference engine import.

Step classes are built as Step(step_id, inputs, ctx, job_id) and run with run(); they
return a dict (SUCCESS with that output) or a StepResult. Connector classes are built
with one ConnectorInit. The ctx they get (RunContext) offers what the engine's does.

install_api_modules() makes `import aetherflow.core.api` give this module;
load_plugin_files() then runs the vendored plugin files the way the engine loads them.
"""

from __future__ import annotations

import os
import sys

# ConnectorBase, ConnectorError, ConnectorInit, register_connector and StepResult are
# re-exported: plugins import them from here.
from .connectors import (  # noqa: F401
    CONNECTOR_TYPES,
    ConnectorBase,
    ConnectorError,
    ConnectorInit,
    register_connector,
)
from .results import SKIPPED, SUCCESS, StepResult  # noqa: F401
from .runner import new_run_id  # noqa: F401

if False:  # names for annotations only: importing typing slows every start
    from typing import Any, Dict, List, Set

__all__ = [
    "Step",
    "StepResult",
    "STEP_SUCCESS",
    "STEP_SKIPPED",
    "RunContext",
    "new_run_id",
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


def install_api_modules() -> None:
    """Provide aetherflow, aetherflow.core and aetherflow.core.api (this module)."""
    api = sys.modules[__name__]
    top = type(sys)("aetherflow")
    core = type(sys)("aetherflow.core")
    top.__path__ = []  # packages, so that submodule imports resolve through sys.modules
    core.__path__ = []
    top.core = core
    core.api = api
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
        if spec is None or spec.loader is None:
            raise ImportError("cannot load plugin file %s" % rel)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)


def require(spec: str) -> Any:
    """Import an optional dependency: "a.b" gives the module, "a.b:c" its attribute c."""
    import importlib

    if ":" in spec:
        module_name, attr = spec.split(":", 1)
        return require_attr(module_name, attr)
    try:
        return importlib.import_module(spec)
    except Exception as exc:
        raise RuntimeError(
            "Optional dependency missing: %s. Install it to use this connector/step."
            % spec
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
    if name not in PLUGIN_STEPS:
        raise KeyError("unknown plugin step type: %s" % name)
    return PLUGIN_STEPS[name]


def list_steps() -> List[str]:
    return sorted(PLUGIN_STEPS)


def get_connector(kind: str, driver: str) -> Any:
    return CONNECTOR_TYPES[(kind, driver)]


def list_connectors() -> List[str]:
    return sorted("%s:%s" % key for key in CONNECTOR_TYPES)


class Step:
    """Base class of plugin steps, as in the engine."""

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

    def run(self) -> Any:
        raise NotImplementedError


class _Settings:
    def __init__(self, work_root: str) -> None:
        self.work_root = work_root
        self.log_format = "text"


class RunContext:
    """The ctx a plugin step sees: flow_id, run_id, env, connectors, log, the job's
    directories and locks, like the engine's RunContext."""

    def __init__(self, step_ctx: Any) -> None:
        self._step = step_ctx
        self.flow_id = step_ctx.flow_id
        self.run_id = step_ctx.run_id
        self.env = step_ctx.env
        self.connectors = step_ctx.connectors
        self.resources = step_ctx.connectors.resources
        self.settings = _Settings(step_ctx.run.workspace.root)
        self._log: Any = None

    @property
    def log(self) -> Any:
        """A logging.Logger whose records become the run's events (imported on first use)."""
        if self._log is None:
            self._log = _plugin_logger(self._step)
        return self._log

    def _dir(self, job_id: str, which: str) -> Any:
        from pathlib import Path

        workspace = self._step.run.workspace
        path = (
            workspace.job_dir(job_id)
            if which == "job"
            else os.path.join(workspace.job_dir(job_id), workspace.layout[which])
        )
        os.makedirs(path, exist_ok=True)
        return Path(path)

    def job_dir(self, job_id: str) -> Any:
        return self._dir(job_id, "job")

    def artifacts_dir(self, job_id: str) -> Any:
        return self._dir(job_id, "artifacts")

    def scratch_dir(self, job_id: str) -> Any:
        return self._dir(job_id, "scratch")

    def manifests_dir(self, job_id: str) -> Any:
        return self._dir(job_id, "manifests")

    def acquire_lock(self, key: str, ttl_seconds: int) -> bool:
        return bool(self._step.acquire_lock(str(key), int(ttl_seconds)))

    def release_lock(self, key: str) -> None:
        self._step.release_lock(str(key))


def _plugin_logger(step_ctx: Any) -> Any:
    import logging

    class _ToEvents(logging.Handler):
        def emit(self, record: Any) -> None:
            level = (
                record.levelname
                if record.levelname in ("DEBUG", "INFO", "WARNING", "ERROR")
                else "ERROR"
            )
            step_ctx.log.event(
                "plugin_log",
                level,
                job_id=step_ctx.job_id,
                step_id=step_ctx.step_id,
                message=record.getMessage(),
            )

    logger = logging.getLogger("aetherflow.flow.%s.plugin" % step_ctx.flow_id)
    if not logger.handlers:
        logger.addHandler(_ToEvents())
        logger.setLevel(logging.DEBUG)
        logger.propagate = False
    return logger


def plugin_step(name: str) -> Any:
    """The step a vendored plugin registered under `name`, as the runner calls every
    step: a function of (ctx, inputs). The class is built as the engine builds it,
    Step(step_id, inputs, ctx, job_id), and run with run()."""
    cls = get_step(name)

    def run_plugin_step(ctx: Any, inputs: Dict[str, Any]) -> Any:
        return cls(ctx.step_id, inputs, RunContext(ctx), ctx.job_id).run()

    return run_plugin_step
