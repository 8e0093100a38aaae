"""Plugins: directories of Python files that register steps and connectors.

Plugins written for the reference engine import `aetherflow.core.api`. While loading them
the compiler provides that module from the runtime it vendors, so the same files work at
compile time (to learn their step types, required inputs and input schemas) and in the
artifact (where they are vendored under aetherflow_plugins/ and imported by name).

Like the engine, every `*.py` file below a plugin directory whose name does not start with
`_` is loaded, in sorted order, with the directory on sys.path for sibling imports.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import os
import sys
import traceback
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from aetherflow_compiler.diagnostics import Diagnostic
from aetherflow_compiler.schema_check import plugin_schema_problem
from aetherflow_compiler.steps import StepRegistry, StepType, default_registry
from aetherflow_compiler.steps.types import ConnectorType

API_MODULES = ("aetherflow", "aetherflow.core", "aetherflow.core.api")
PLUGIN_PACKAGE_DIR = "aetherflow_plugins"


@dataclass(frozen=True)
class PluginFile:
    root: str  # the plugin directory as given
    path: str  # absolute path of the file
    rel: str  # path below the root, with '/'
    module: str  # the name the artifact imports it by ('' for helpers starting with '_')


@dataclass
class PluginSet:
    roots: list[str] = field(default_factory=list)
    files: list[PluginFile] = field(default_factory=list)
    steps: dict[str, Any] = field(default_factory=dict)  # step type -> class
    connectors: dict[tuple[str, str], Any] = field(default_factory=dict)  # (kind, driver) -> class
    diagnostics: list[Diagnostic] = field(default_factory=list)  # errors
    warnings: list[Diagnostic] = field(default_factory=list)
    skipped: set[str] = field(default_factory=set)  # files (rel) that failed to import, not strict

    @property
    def ok(self) -> bool:
        return not self.diagnostics


def compile_mode(given: str | None, environ: Mapping[str, str]) -> str:
    """--mode, else AETHERFLOW_MODE, else internal_fast."""
    return (given or environ.get("AETHERFLOW_MODE", "") or "internal_fast").strip().lower()


def plugin_dirs(given: list[str], environ: Mapping[str, str], mode: str = "internal_fast") -> list[str]:
    """--plugins directories, then AETHERFLOW_PLUGIN_PATHS (comma separated) unless the mode
    is enterprise, where only directories named on the command line count."""
    dirs = list(given)
    if mode != "enterprise":
        dirs += [p for p in environ.get("AETHERFLOW_PLUGIN_PATHS", "").split(",") if p.strip()]
    unique: list[str] = []
    for d in dirs:
        if d not in unique:
            unique.append(d)
    return unique


def _files(root: str) -> list[PluginFile]:
    """Every .py file below root, in the engine's order (sorted by path components)."""
    out = []
    for base, dirs, names in os.walk(root):
        dirs[:] = sorted(d for d in dirs if d != "__pycache__" and not d.startswith("."))
        for name in sorted(names):
            if not name.endswith(".py"):
                continue
            path = os.path.join(base, name)
            rel = os.path.relpath(path, root).replace(os.sep, "/")
            module = "" if name.startswith("_") else rel[:-3].replace("/", ".")
            out.append(PluginFile(root, os.path.abspath(path), rel, module))
    return sorted(out, key=lambda p: p.rel.split("/"))


def load_plugins(roots: list[str], strict: bool = True) -> PluginSet:
    """Import every plugin file with `aetherflow.core.api` provided; collect what they
    register. A file that fails to import is an error, or with `strict` false (the
    engine's AETHERFLOW_PLUGIN_STRICT=false) a warning, and the file is skipped."""
    result = PluginSet(roots=list(roots))
    if not roots:
        return result
    api = importlib.import_module("aetherflow_compiler._runtime.plugin_api")
    connectors = importlib.import_module("aetherflow_compiler._runtime.connectors")
    saved = {name: sys.modules.get(name) for name in API_MODULES}
    known_connectors = dict(connectors.CONNECTOR_TYPES)
    api.PLUGIN_STEPS.clear()
    api.install_api_modules()
    write_bytecode, sys.dont_write_bytecode = sys.dont_write_bytecode, True  # leave plugin dirs as they are
    try:
        for root in roots:
            if not os.path.isdir(root):
                result.diagnostics.append(Diagnostic(root, 1, 1, "AF703", "plugin directory does not exist"))
                continue
            sys.path.insert(0, os.path.abspath(root))
            try:
                for plugin in _files(root):
                    result.files.append(plugin)
                    if plugin.module:
                        _load(plugin, result, strict)
            finally:
                sys.path.remove(os.path.abspath(root))
        result.steps = dict(api.PLUGIN_STEPS)
        for key, cls in sorted(connectors.CONNECTOR_TYPES.items()):
            if known_connectors.get(key) is not cls:
                result.connectors[key] = cls
    finally:
        sys.dont_write_bytecode = write_bytecode
        for name, module in saved.items():
            if module is None:
                sys.modules.pop(name, None)
            else:
                sys.modules[name] = module
        connectors.CONNECTOR_TYPES.clear()  # leave the vendored runtime's registry as it was
        connectors.CONNECTOR_TYPES.update(known_connectors)
    _check_modules(result)
    return result


def _load(plugin: PluginFile, result: PluginSet, strict: bool) -> None:
    spec = importlib.util.spec_from_file_location("aetherflow_plugin_" + plugin.module.replace(".", "_"), plugin.path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # so that classes can be traced back to their file
    try:
        spec.loader.exec_module(module)
    except KeyboardInterrupt:
        raise
    except BaseException as exc:  # a plugin that fails to import is a compile error
        line = 1
        for frame in reversed(traceback.extract_tb(exc.__traceback__)):
            if os.path.abspath(frame.filename) == plugin.path:
                line = frame.lineno or 1
                break
        if isinstance(exc, SyntaxError) and exc.filename and os.path.abspath(exc.filename) == plugin.path:
            line = exc.lineno or 1
        where = os.path.join(plugin.root, plugin.rel)
        message = f"plugin failed to import: {type(exc).__name__}: {exc}"
        if strict:
            result.diagnostics.append(Diagnostic(
                where, line, 1, "AF703", message,
                "plugins may import aetherflow.core.api, the standard library and their own files",
            ))
        else:
            result.skipped.add(plugin.rel)
            result.warnings.append(Diagnostic(
                where, line, 1, "AF811", message + "; skipped (AETHERFLOW_PLUGIN_STRICT=false)",
                "what the file registers is unknown to this compile, and the artifact skips it too",
            ))


def _check_modules(result: PluginSet) -> None:
    """Every file lands in aetherflow_plugins/ under its path below its root: two roots
    may not both hold the same path."""
    seen: dict[str, PluginFile] = {}
    for plugin in result.files:
        if plugin.rel in seen:
            result.diagnostics.append(Diagnostic(
                os.path.join(plugin.root, plugin.rel), 1, 1, "AF703",
                f"plugin file {plugin.rel} is also in {seen[plugin.rel].root}",
                "plugin files are vendored and imported by their path below the plugin directory; "
                "rename one of them",
            ))
        seen[plugin.rel] = plugin


def register(plugins: PluginSet, registry: StepRegistry) -> None:
    """Make the plugins' step and connector types known to the checks and the compiler."""
    for name, cls in sorted(plugins.steps.items()):
        schema = getattr(cls, "input_schema", None)
        required = tuple(sorted(getattr(cls, "required_inputs", ()) or ()))
        outputs = getattr(cls, "outputs", None)
        problem = plugin_schema_problem(schema) if schema is not None else None
        if problem is not None:
            plugins.diagnostics.append(_at(
                plugins, cls, "AF703", f"plugin step type {name}: {problem}",
                "fix the step class's input_schema attribute",
            ))
            continue
        replaced = registry.get(name)
        if replaced is not None and not replaced.plugin:
            plugins.warnings.append(_at(
                plugins, cls, "AF809", f"plugin step type {name} (class {cls.__name__}) replaces the built-in "
                f"step type {name}", "its inputs are checked against the plugin class; give it another name "
                "to keep the built-in",
            ))
        registry.register(StepType(
            name,
            outputs=frozenset(outputs) if isinstance(outputs, (set, frozenset, list, tuple)) else None,
            can_skip=True,
            plugin=True,
            input_schema=schema,
            required_inputs=required,
        ))
    for (kind, driver), cls in plugins.connectors.items():
        previous = registry.register_connector(ConnectorType(kind, driver, runtime=None, plugin=True))
        if previous is not None and not previous.plugin:
            plugins.warnings.append(_at(
                plugins, cls, "AF809", f"plugin connector {kind}:{driver} (class {cls.__name__}) replaces the "
                f"built-in connector {kind}:{driver}", "register it under its own driver name to keep the built-in",
            ))


def toolchain(given: list[str], environ: Mapping[str, str], mode: str | None = None,
              archive_drivers: tuple[str, ...] | None = None) -> tuple[StepRegistry, PluginSet]:
    """The registry one validate or compile works with: built-ins, the plugins from
    --plugins and AETHERFLOW_PLUGIN_PATHS, and the mode's policy (--mode or AETHERFLOW_MODE)."""
    registry = default_registry()
    registry.enterprise = compile_mode(mode, environ) == "enterprise"
    if archive_drivers is not None:
        registry.archive_drivers = archive_drivers
    strict = (environ.get("AETHERFLOW_PLUGIN_STRICT", "true") or "true").lower() == "true"
    plugins = load_plugins(plugin_dirs(given, environ, "enterprise" if registry.enterprise else "internal_fast"),
                           strict)
    if plugins.ok:
        register(plugins, registry)
    digest = hashlib.sha256(b"enterprise" if registry.enterprise else b"internal_fast")
    digest.update(",".join(registry.archive_drivers).encode())
    for plugin in plugins.files:
        with open(plugin.path, "rb") as fh:
            digest.update(b"\0" + plugin.rel.encode("utf-8") + b"\0" + fh.read())
    registry.fingerprint = digest.hexdigest() if plugins.files or registry.enterprise else ""
    return registry, plugins


def vendored_files(plugins: PluginSet) -> dict[str, bytes]:
    """The plugin files as they ship in the output: aetherflow_plugins/<path below root>."""
    out = {}
    for plugin in plugins.files:
        with open(plugin.path, "rb") as fh:
            out[f"{PLUGIN_PACKAGE_DIR}/{plugin.rel}"] = fh.read()
    return out


def plugin_entry_files(plugins: PluginSet) -> list[str]:
    """The files an artifact runs to register the plugins (below aetherflow_plugins/), in
    the engine's load order; files whose name starts with `_` are helpers they import."""
    return [p.rel for p in plugins.files if p.module and p.rel not in plugins.skipped]


def _at(plugins: PluginSet, cls: Any, code: str, message: str, hint: str) -> Diagnostic:
    """A diagnostic at the plugin class's definition, the file shown as the user named it."""
    import inspect

    module = sys.modules.get(getattr(cls, "__module__", ""))
    path = str(getattr(module, "__file__", None) or getattr(cls, "__module__", "plugin"))
    for plugin in plugins.files:
        if plugin.path == os.path.abspath(path):
            path = os.path.join(plugin.root, plugin.rel)
    try:
        line = inspect.getsourcelines(cls)[1]
    except (OSError, TypeError):
        line = 1
    return Diagnostic(path, line, 1, code, message, hint)
