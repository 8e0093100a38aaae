"""Plugins: directories of Python files that register steps and connectors.

Plugins written for the reference engine import `aetherflow.core.api`. While loading them
the compiler provides that module from the runtime it vendors, so the same files work at
compile time (to learn their step types, required inputs and input schemas) and in the
artifact (where they are vendored under aetherflow_plugins/ and imported by name).

Like the engine, every `*.py` file below a plugin directory whose name does not start with
`_` is loaded, in sorted order, with the directory on sys.path for sibling imports. The
files are read here once (what is checked is what is vendored); they are imported in a
child process under a time limit (plugin_import.py), so that what they print, how long
they take and what they do to the interpreter never reach the compile.
"""

from __future__ import annotations

import dataclasses
import hashlib
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, field

from aetherflow_compiler.diagnostics import Diagnostic
from aetherflow_compiler.frontend.schema_check import plugin_schema_problem
from aetherflow_compiler.project.plugin_import import ImportJob, Registered, import_plugins
from aetherflow_compiler.project.sources import read_regular
from aetherflow_compiler.steps import StepRegistry, StepType, default_registry
from aetherflow_compiler.steps.types import ConnectorType

PLUGIN_PACKAGE_DIR = "aetherflow_plugins"
# Each plugin file gets this long to import at compile time (seconds), unless
# AETHERFLOW_PLUGIN_IMPORT_TIMEOUT says otherwise.
IMPORT_TIMEOUT_VARIABLE = "AETHERFLOW_PLUGIN_IMPORT_TIMEOUT"
DEFAULT_IMPORT_TIMEOUT = 30.0

IMPORT_HINT = "plugins may import aetherflow.core.api, the standard library and their own files"
_HINTS = {
    "import": IMPORT_HINT,
    "timeout": (
        f"a plugin file runs when it is imported, by the compiler and by the artifact: keep that quick; "
        f"{IMPORT_TIMEOUT_VARIABLE}=SECONDS gives each file more time (default {DEFAULT_IMPORT_TIMEOUT:g})"
    ),
    "registry": "fix the registration in the plugin file",
    "error": "a plugin file runs when it is imported: it must not end the process",
}


@dataclass(frozen=True)
class PluginFile:
    root: str  # the plugin directory as given
    path: str  # absolute path of the file
    rel: str  # path below the root, with '/'
    module: str  # the name the artifact imports it by ('' for helpers starting with '_')
    data: bytes = field(default=b"", repr=False, compare=False)  # its content, read once


@dataclass
class PluginSet:
    roots: list[str] = field(default_factory=list)
    files: list[PluginFile] = field(default_factory=list)
    steps: dict[str, Registered] = field(default_factory=dict)  # step type -> its class
    connectors: dict[tuple[str, str], Registered] = field(
        default_factory=dict
    )  # (kind, driver) -> its class
    diagnostics: list[Diagnostic] = field(default_factory=list)  # errors
    warnings: list[Diagnostic] = field(default_factory=list)
    skipped: set[str] = field(default_factory=set)  # files (rel) that failed to import, not strict
    # (file as the user named it, or "" before any file, what it printed while imported):
    # kept off stdout, for the command line to show on stderr.
    output: list[tuple[str, str]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.diagnostics


def compile_mode(given: str | None, environ: Mapping[str, str]) -> str:
    """--mode, else AETHERFLOW_MODE, else internal_fast."""
    return (given or environ.get("AETHERFLOW_MODE", "") or "internal_fast").strip().lower()


def import_timeout(environ: Mapping[str, str]) -> float:
    """Seconds each plugin file may take to import: AETHERFLOW_PLUGIN_IMPORT_TIMEOUT, else
    30. ValueError (a usage error) for anything but a positive number."""
    raw = environ.get(IMPORT_TIMEOUT_VARIABLE, "").strip()
    if not raw:
        return DEFAULT_IMPORT_TIMEOUT
    try:
        value = float(raw)
    except ValueError:
        value = math.nan
    if not (0 < value < math.inf):
        raise ValueError(
            f"{IMPORT_TIMEOUT_VARIABLE} must be a number of seconds greater than 0, not {raw!r}"
        )
    return value


def plugin_dirs(
    given: list[str], environ: Mapping[str, str], mode: str = "internal_fast"
) -> list[str]:
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


def _files(root: str) -> tuple[list[PluginFile], list[tuple[str, OSError]]]:
    """Every .py file below root, in the engine's order (sorted by path components), and
    the folders that cannot be listed (with why)."""
    out = []
    unreadable: list[tuple[str, OSError]] = []

    def failed(exc: OSError) -> None:
        unreadable.append((str(exc.filename) if exc.filename is not None else root, exc))

    for base, dirs, names in os.walk(root, onerror=failed):
        dirs[:] = sorted(d for d in dirs if d != "__pycache__" and not d.startswith("."))
        for name in sorted(names):
            if not name.endswith(".py"):
                continue
            path = os.path.join(base, name)
            rel = os.path.relpath(path, root).replace(os.sep, "/")
            module = "" if name.startswith("_") else rel[:-3].replace("/", ".")
            out.append(PluginFile(root, os.path.abspath(path), rel, module))
    return sorted(out, key=lambda p: p.rel.split("/")), unreadable


def load_plugins(
    roots: list[str], strict: bool = True, timeout: float = DEFAULT_IMPORT_TIMEOUT
) -> PluginSet:
    """Read every plugin file, import them (in a child process, each within `timeout`
    seconds) with `aetherflow.core.api` provided, and collect what they register. A file
    that cannot be read or fails to import is an error, or with `strict` false (the
    engine's AETHERFLOW_PLUGIN_STRICT=false) a warning, and the file is skipped."""
    result = PluginSet(roots=list(roots))
    jobs: list[ImportJob] = []
    for root in roots:
        if not os.path.isdir(root):
            result.diagnostics.append(
                Diagnostic(root, 1, 1, "AF703", "plugin directory does not exist")
            )
            continue
        found, unreadable = _files(root)
        for folder, exc in unreadable:
            result.diagnostics.append(
                Diagnostic(
                    folder,
                    1,
                    1,
                    "AF703",
                    f"cannot read plugin folder: {exc.strerror or type(exc).__name__}",
                    "every folder below a plugin directory is loaded: make it readable, or move it out",
                )
            )
        for plugin in found:
            try:
                data = read_regular(plugin.path)
            except OSError as exc:
                _failed(
                    result,
                    plugin,
                    1,
                    f"cannot read plugin file: {exc.strerror or type(exc).__name__}",
                    strict,
                    "a plugin file must be a readable regular file (a link must lead to one)",
                )
                continue
            result.files.append(dataclasses.replace(plugin, data=data))
            if plugin.module:
                jobs.append(ImportJob(plugin.path, os.path.abspath(root), plugin.module))
    outcome = import_plugins(jobs, [p.path for p in result.files], timeout)
    by_path = {p.path: p for p in result.files}
    for problem in outcome.problems:
        failed = by_path.get(problem.file)
        if problem.kind == "import" and failed is not None:
            _failed(result, failed, problem.line, problem.message, strict)
        else:
            result.diagnostics.append(
                Diagnostic(
                    _shown(by_path, problem.file),
                    problem.line,
                    1,
                    "AF703",
                    problem.message,
                    _HINTS.get(problem.kind, _HINTS["registry"]),
                )
            )
    result.steps = {r.key[0]: r for r in outcome.steps}
    result.connectors = {(r.key[0], r.key[1]): r for r in outcome.connectors}
    result.output = [(_shown(by_path, path) if path else "", text) for path, text in outcome.output]
    _check_modules(result)
    return result


def _shown(by_path: dict[str, PluginFile], path: str) -> str:
    """A plugin file as the user named it: its directory as given, then its path below."""
    plugin = by_path.get(path)
    return os.path.join(plugin.root, plugin.rel) if plugin is not None else path


def _failed(
    result: PluginSet,
    plugin: PluginFile,
    line: int,
    message: str,
    strict: bool,
    hint: str = IMPORT_HINT,
) -> None:
    where = os.path.join(plugin.root, plugin.rel)
    if strict:
        result.diagnostics.append(Diagnostic(where, line, 1, "AF703", message, hint))
    else:
        result.skipped.add(plugin.rel)
        result.warnings.append(
            Diagnostic(
                where,
                line,
                1,
                "AF811",
                message + "; skipped (AETHERFLOW_PLUGIN_STRICT=false)",
                "what the file registers is unknown to this compile, and the artifact skips it too",
            )
        )


def _check_modules(result: PluginSet) -> None:
    """Every file lands in aetherflow_plugins/ under its path below its root: two roots
    may not both hold the same path."""
    seen: dict[str, PluginFile] = {}
    for plugin in result.files:
        if plugin.rel in seen:
            result.diagnostics.append(
                Diagnostic(
                    os.path.join(plugin.root, plugin.rel),
                    1,
                    1,
                    "AF703",
                    f"plugin file {plugin.rel} is also in {seen[plugin.rel].root}",
                    "plugin files are vendored and imported by their path below the plugin directory; "
                    "rename one of them",
                )
            )
        seen[plugin.rel] = plugin


def register(plugins: PluginSet, registry: StepRegistry) -> None:
    """Make the plugins' step and connector types known to the checks and the compiler."""
    for name, cls in sorted(plugins.steps.items()):
        schema = cls.input_schema
        problem = plugin_schema_problem(schema) if schema is not None else None
        if problem is not None:
            plugins.diagnostics.append(
                _at(
                    plugins,
                    cls,
                    "AF703",
                    f"plugin step type {name}: {problem}",
                    "fix the step class's input_schema attribute",
                )
            )
            continue
        replaced = registry.get(name)
        if replaced is not None and not replaced.plugin:
            plugins.warnings.append(
                _at(
                    plugins,
                    cls,
                    "AF809",
                    f"plugin step type {name} (class {cls.class_name}) replaces the built-in "
                    f"step type {name}",
                    "its inputs are checked against the plugin class; give it another name "
                    "to keep the built-in",
                )
            )
        registry.register(
            StepType(
                name,
                outputs=frozenset(cls.outputs) if cls.outputs is not None else None,
                can_skip=True,
                plugin=True,
                input_schema=schema,
                required_inputs=tuple(sorted(cls.required_inputs)),
            )
        )
    for (kind, driver), cls in sorted(plugins.connectors.items()):
        previous = registry.register_connector(
            ConnectorType(kind, driver, runtime=None, plugin=True)
        )
        if previous is not None and not previous.plugin:
            plugins.warnings.append(
                _at(
                    plugins,
                    cls,
                    "AF809",
                    f"plugin connector {kind}:{driver} (class {cls.class_name}) replaces the "
                    f"built-in connector {kind}:{driver}",
                    "register it under its own driver name to keep the built-in",
                )
            )


def toolchain(
    given: list[str],
    environ: Mapping[str, str],
    mode: str | None = None,
    archive_drivers: tuple[str, ...] | None = None,
) -> tuple[StepRegistry, PluginSet]:
    """The registry one validate or compile works with: built-ins, the plugins from
    --plugins and AETHERFLOW_PLUGIN_PATHS, and the mode's policy (--mode or AETHERFLOW_MODE).
    ValueError for an AETHERFLOW_PLUGIN_IMPORT_TIMEOUT that is not a number of seconds."""
    registry = default_registry()
    registry.enterprise = compile_mode(mode, environ) == "enterprise"
    if archive_drivers is not None:
        registry.archive_drivers = archive_drivers
    strict = (environ.get("AETHERFLOW_PLUGIN_STRICT", "true") or "true").lower() == "true"
    roots = plugin_dirs(given, environ, "enterprise" if registry.enterprise else "internal_fast")
    plugins = load_plugins(
        roots, strict, import_timeout(environ) if roots else DEFAULT_IMPORT_TIMEOUT
    )
    if plugins.ok:
        register(plugins, registry)
    digest = hashlib.sha256(b"enterprise" if registry.enterprise else b"internal_fast")
    digest.update(",".join(registry.archive_drivers).encode())
    for plugin in plugins.files:
        digest.update(b"\0" + plugin.rel.encode("utf-8", "surrogatepass") + b"\0" + plugin.data)
    registry.fingerprint = digest.hexdigest() if plugins.files or registry.enterprise else ""
    return registry, plugins


def vendored_files(plugins: PluginSet) -> dict[str, bytes]:
    """The plugin files as they ship in the output: aetherflow_plugins/<path below root>,
    with the content that was checked."""
    return {f"{PLUGIN_PACKAGE_DIR}/{plugin.rel}": plugin.data for plugin in plugins.files}


def plugin_entry_files(plugins: PluginSet) -> list[str]:
    """The files an artifact runs to register the plugins (below aetherflow_plugins/), in
    the engine's load order; files whose name starts with `_` are helpers they import."""
    return [p.rel for p in plugins.files if p.module and p.rel not in plugins.skipped]


def _at(plugins: PluginSet, cls: Registered, code: str, message: str, hint: str) -> Diagnostic:
    """A diagnostic at the plugin class's definition, the file shown as the user named it."""
    return Diagnostic(
        _shown({p.path: p for p in plugins.files}, cls.file), cls.line, 1, code, message, hint
    )
