"""The project config: `[tool.aetherflow]` in pyproject.toml, or the same keys at the top
of an aetherflow.toml (docs/configuration.md).

The keys are the names of `compile`'s flags without `--`; their values are what the flags
take (an array for a repeatable flag, a boolean for an on/off flag). Paths of the compiling
machine are relative to the config file's folder. Finding the file (`find_config`) reads as
little as it can: `aetherflow compile` with nothing to do is mostly the interpreter's start.
"""

from __future__ import annotations

import os
import re
import sys
from dataclasses import dataclass, field
from typing import Any

from aetherflow_compiler.cli.toml_positions import KeyPath, Position, Positions, key_positions
from aetherflow_compiler.diagnostics import Diagnostic
from aetherflow_compiler.project.sources import read_regular
from aetherflow_compiler.suggest import closest, did_you_mean, one_of

CONFIG_NAME = "aetherflow.toml"
PYPROJECT = "pyproject.toml"
TABLE = ("tool", "aetherflow")
# A folder with one of these is a repository's root: the search for a config stops there.
ROOT_MARKERS = (".git", ".hg")

# What a key's value is: "path" and "paths" are files of the compiling machine (relative to
# the config's folder); "string" and "strings" are taken as written (host paths, names).
# "globs" are patterns of the files found in folders (a pattern with a / is made absolute
# from the config's folder).
PATH, PATHS, STRING, STRINGS, BOOL, CHOICE = "path", "paths", "string", "strings", "bool", "choice"
GLOBS = "globs"


@dataclass(frozen=True)
class Key:
    name: str
    kind: str
    choices: tuple[str, ...] = ()
    form: str = ""  # a regular expression each string must match
    form_name: str = ""  # ... as the flag's help writes it
    example: str = ""


KEYS: dict[str, Key] = {
    k.name: k
    for k in [
        # what is compiled (validate and explain read these too)
        Key("paths", PATHS),
        Key("profiles", PATH),
        Key("plugins", PATHS),
        Key("mode", CHOICE, ("internal_fast", "enterprise")),
        Key("bundle-manifest", PATH),
        # which of the YAML files found in folders are AetherFlow files (validate and compile)
        Key("include", GLOBS),
        Key("exclude", GLOBS),
        # how
        Key("output", PATH),
        Key("target", CHOICE, ("python", "sh", "all")),
        Key("single-file", BOOL),
        Key("schedule", PATH),
        Key("archive", PATH),
        Key("wheelhouse", PATH),
        Key("python-version", STRING, form=r"\d+\.\d+", form_name="X.Y", example="3.12"),
        Key("platform", STRINGS),
        Key("bytecode", STRINGS),
        Key("no-bytecode", BOOL),
        # the deploy options: where and how the hosts run the dist
        Key("deploy-dir", STRING),
        Key("log-dir", STRING),
        Key("python", STRING),
        Key("k8s-image", STRING),
        Key("k8s-claim", STRING),
        Key("k8s-namespace", STRING),
        Key(
            "k8s-request", STRINGS, form=r"[^=]+=.+", form_name="NAME=QUANTITY", example="cpu=250m"
        ),
        Key("shared-state", BOOL),
        Key("state-env-file", STRING),
        Key("state-secret", STRING),
        # what validate and compile print (cli/formats.py)
        Key("format", CHOICE, ("text", "json", "github", "sarif", "gitlab", "junit")),
    ]
}

# Flags that are not project settings: how one run is made, not what the project is.
NOT_CONFIG = {
    "check": "--check is how CI runs compile, not a project setting: pass it on the command line",
    "diff": "--diff is how a reviewer runs compile, not a project setting: pass it on the command line",
    "json": 'the output format is format = "json" (or text, github, sarif, gitlab, junit)',
    "no-cache": "the compile cache is the machine's: pass --no-cache, or set AETHERFLOW_CACHE_DIR",
    "flow-yaml": "use paths = [...] for the flows (relative to this file)",
    "config": "a config cannot name another config",
}
CONFLICTS = [
    ("bundle-manifest", "paths"),
    ("bundle-manifest", "profiles"),
    ("bundle-manifest", "plugins"),
    ("bytecode", "no-bytecode"),
]


@dataclass(frozen=True)
class ConfigFile:
    """A project config file found (or named with --config)."""

    path: str  # as shown in diagnostics
    table: KeyPath  # where its keys are: TABLE in a pyproject.toml, () in any other file
    shadowed: str | None = None  # a pyproject.toml with a table beside the aetherflow.toml used

    @property
    def folder(self) -> str:
        return os.path.dirname(os.path.abspath(self.path))

    @property
    def where(self) -> str:
        return "[tool.aetherflow]" if self.table else os.path.basename(self.path)


@dataclass
class ProjectConfig:
    """A valid config: each key given, its value with relative paths resolved."""

    file: ConfigFile
    values: dict[str, Any] = field(default_factory=dict)
    warnings: list[Diagnostic] = field(default_factory=list)


def config_file(path: str) -> ConfigFile:
    """The file `--config` names: a pyproject.toml holds its keys in [tool.aetherflow]."""
    return ConfigFile(path, TABLE if os.path.basename(path) == PYPROJECT else ())


def find_config(start: str) -> ConfigFile | None:
    """The nearest config from `start` upward, stopping at the repository's root: in each
    folder aetherflow.toml first, then a pyproject.toml that has a [tool.aetherflow] table
    (one without is passed over, as black does)."""
    folder = os.path.abspath(start)
    while True:
        own = os.path.join(folder, CONFIG_NAME)
        pyproject = os.path.join(folder, PYPROJECT)
        with_table = pyproject if os.path.isfile(pyproject) and _has_table(pyproject) else None
        if os.path.isfile(own):
            return ConfigFile(_shown(own), (), _shown(with_table) if with_table else None)
        if with_table:
            return ConfigFile(_shown(with_table), TABLE)
        parent = os.path.dirname(folder)
        if parent == folder or any(os.path.exists(os.path.join(folder, m)) for m in ROOT_MARKERS):
            return None
        folder = parent


def _shown(path: str) -> str:
    """A path as diagnostics show it: relative to the working directory."""
    rel = os.path.relpath(path)
    return rel if len(rel) < len(path) else path


def _has_table(pyproject: str) -> bool:
    """Whether the file may hold [tool.aetherflow]. A file that does not say `aetherflow`
    is not parsed; one that does but is not valid TOML counts (its load reports AF901)."""
    try:
        with open(pyproject, "rb") as fh:
            raw = fh.read()
    except OSError:
        return False
    if b"aetherflow" not in raw:
        return False
    try:
        data = toml_parser().loads(raw.decode("utf-8"))
    except (ValueError, UnicodeDecodeError):  # TOMLDecodeError is a ValueError
        return True
    tool = data.get("tool")
    return isinstance(tool, dict) and "aetherflow" in tool


def toml_parser() -> Any:
    """tomllib, or tomli (the same parser, a dependency there) before Python 3.11."""
    import importlib

    return importlib.import_module("tomllib" if sys.version_info >= (3, 11) else "tomli")


# --- loading and checking -----------------------------------------------------------------


def load_config(file: ConfigFile) -> tuple[ProjectConfig | None, list[Diagnostic]]:
    """The config of `file`, or None with located errors."""
    shown = file.path
    try:
        raw = read_regular(file.path)  # a FIFO or a device given as --config is refused, never read
    except OSError as exc:
        return None, [
            Diagnostic(
                shown, 1, 1, "AF100", f"cannot read file: {exc.strerror or type(exc).__name__}"
            )
        ]
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        return None, [Diagnostic(shown, line, 1, "AF102", "the project config is not valid UTF-8")]
    try:
        data = toml_parser().loads(text)
    except ValueError as exc:
        return None, [_syntax_error(shown, text, exc)]
    positions = key_positions(text)
    table: Any = data
    for part in file.table:
        table = table.get(part) if isinstance(table, dict) else None
    if file.table and table is None:
        return None, []  # the caller says that this pyproject.toml has no table
    problems: list[Diagnostic] = []
    config = ProjectConfig(file)
    if not isinstance(table, dict):
        at = positions.value(file.table) or Position(1, 1)
        return None, [
            Diagnostic(
                shown,
                at.line,
                at.column,
                "AF903",
                f"tool.aetherflow must be a table, not {_type_name(table)}",
                "write the keys under a [tool.aetherflow] header",
            )
        ]
    for key, value in table.items():
        path = (*file.table, key)
        spec = KEYS.get(key)
        if spec is None:
            problems.append(_unknown(file, positions, path, key, value))
            continue
        checked = _check(file, positions, path, spec, value, problems)
        if checked is not None:
            config.values[key] = checked
    for first, second in CONFLICTS:
        if first in table and second in table and table.get(second) not in (False, [], ""):
            at = positions.key((*file.table, second)) or Position(1, 1)
            problems.append(
                Diagnostic(
                    shown,
                    at.line,
                    at.column,
                    "AF905",
                    f"{second} cannot go with {first} "
                    f"(at line {(positions.key((*file.table, first)) or at).line})",
                    _conflict_hint(first, second),
                )
            )
    if file.shadowed:
        at = _table_position(file.shadowed)
        problems.append(
            Diagnostic(
                file.shadowed,
                at.line,
                at.column,
                "AF817",
                f"the [tool.aetherflow] table is ignored: "
                f"{shown} is beside it and is the project config",
                "keep the settings in one of the two files",
            )
        )
    errors = [d for d in problems if d.is_error]
    if errors:
        return None, sorted(problems)
    config.warnings = problems
    return config, []


def _table_position(pyproject: str) -> Position:
    try:
        with open(pyproject, encoding="utf-8") as fh:
            text = fh.read()
    except (OSError, UnicodeDecodeError):
        return Position(1, 1)
    positions = key_positions(text)
    return positions.values.get(TABLE) or positions.key(TABLE) or Position(1, 1)


def _conflict_hint(first: str, second: str) -> str:
    if first == "bundle-manifest":
        return "the bundle manifest names the flows, profiles and plugins: keep one of the two keys"
    return "no-bytecode ships none: keep one of the two keys"


def _syntax_error(shown: str, text: str, exc: ValueError) -> Diagnostic:
    message = str(exc)
    line, column = getattr(exc, "lineno", None), getattr(exc, "colno", None)
    found = re.search(r"\s*\(at line (\d+), column (\d+)\)", message)
    if found:
        line, column = line or int(found.group(1)), column or int(found.group(2))
        message = message[: found.start()] + message[found.end() :]
    elif "(at end of document)" in message:
        line = line or text.count("\n") + 1
        column = column or len(text.rsplit("\n", 1)[-1]) + 1
        message = message.replace(" (at end of document)", "")
    return Diagnostic(
        shown, line or 1, column or 1, "AF901", f"invalid TOML: {message[:1].lower()}{message[1:]}"
    )


def _unknown(
    file: ConfigFile, positions: Positions, path: KeyPath, key: str, value: Any
) -> Diagnostic:
    at = positions.key(path) or Position(1, 1)
    flat = (
        sorted(f"{key}-{sub}" for sub in value if f"{key}-{sub}" in KEYS)
        if isinstance(value, dict)
        else []
    )
    if flat:
        hint: str | None = (
            f"the keys are flat, like the flags: write {', '.join(flat)} directly in "
            f"{file.where}"
        )
    elif key in NOT_CONFIG:
        hint = NOT_CONFIG[key]
    elif key.replace("_", "-") in KEYS:
        hint = f"did you mean '{key.replace('_', '-')}'? The keys are written like the flags, in kebab-case"
    elif key.startswith("--") and key[2:] in KEYS:
        hint = f"did you mean '{key[2:]}'? The keys are the flags' names without --"
    elif key == "tool" and not file.table:
        hint = f"{os.path.basename(file.path)} holds the keys at its top level, without [tool.aetherflow]"
    else:
        hint = did_you_mean(key, KEYS) or f"the keys are: {one_of(KEYS)}"
    return Diagnostic(
        file.path, at.line, at.column, "AF902", f"unknown project config key '{key}'", hint
    )


def _type_name(value: Any) -> str:
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "a table"
    return "a date or time"


def _check(
    file: ConfigFile,
    positions: Positions,
    path: KeyPath,
    spec: Key,
    value: Any,
    problems: list[Diagnostic],
) -> Any:
    """The value with paths resolved, or None after adding its problems."""

    def problem(code: str, message: str, hint: str | None, index: int | None = None) -> None:
        at = (
            positions.element(path, index) if index is not None else positions.value(path)
        ) or Position(1, 1)
        problems.append(Diagnostic(file.path, at.line, at.column, code, message, hint))

    name = spec.name
    if spec.kind == BOOL:
        if not isinstance(value, bool):
            problem(
                "AF903",
                f"{name} must be a boolean (true or false), not {_type_name(value)} "
                f"({_short(value)})",
                f"write {name} = true, without quotes",
            )
            return None
        return value
    if spec.kind in (PATHS, STRINGS, GLOBS):
        if not isinstance(value, list):
            example = f'["{value}"]' if isinstance(value, str) else '["..."]'
            problem(
                "AF903",
                f"{name} must be an array of strings, not {_type_name(value)} ({_short(value)})",
                f"write {name} = {example}",
            )
            return None
        ok = True
        for index, item in enumerate(value):
            if not isinstance(item, str):
                problem(
                    "AF903",
                    f"{name}[{index}] must be a string, not {_type_name(item)} ({_short(item)})",
                    "quote it",
                    index,
                )
                ok = False
            elif not _valid_string(
                spec, f"{name}[{index}]", item, lambda m, h, i=index: problem("AF904", m, h, i)
            ):
                ok = False
        if not ok:
            return None
        return [_resolve(file, item, spec) for item in value]
    if not isinstance(value, str):
        problem(
            "AF903",
            f"{name} must be a string, not {_type_name(value)} ({_short(value)})",
            (
                f'write {name} = "..."'
                if spec.kind != CHOICE
                else f"use one of {one_of(spec.choices)}, quoted"
            ),
        )
        return None
    if not _valid_string(spec, name, value, lambda m, h: problem("AF904", m, h)):
        return None
    return _resolve(file, value, spec)


def _valid_string(spec: Key, name: str, value: str, report: Any) -> bool:
    if spec.kind == CHOICE and value not in spec.choices:
        best = closest(value, spec.choices)
        report(
            f"{name} must be one of {one_of(spec.choices)}, not '{value}'",
            f"did you mean '{best}'?" if best else f"use one of {one_of(spec.choices)}",
        )
        return False
    if not value.strip():
        report(
            f"{name} must not be empty",
            (
                f"remove {spec.name} to use the default"
                if name == spec.name
                else "remove the empty string"
            ),
        )
        return False
    if spec.form and not re.fullmatch(spec.form, value):
        report(f"{name} must be {spec.form_name}, not '{value}'", f"write it like {spec.example}")
        return False
    return True


def _short(value: Any) -> str:
    text = repr(value) if not isinstance(value, bool) else str(value).lower()
    return text if len(text) <= 40 else text[:37] + "..."


def _resolve(file: ConfigFile, value: str, spec: Key) -> str:
    """Paths of the compiling machine relative to the config's folder (shown relative to the
    working directory); `bytecode` names on PATH stay names, its paths are paths."""
    if spec.kind == GLOBS:
        slash = "/" in value.rstrip("/")
        return os.path.join(file.folder, value) if slash and not os.path.isabs(value) else value
    is_path = spec.kind in (PATH, PATHS) or (spec.name == "bytecode" and "/" in value)
    if not is_path or os.path.isabs(value):
        return value
    return _shown(os.path.normpath(os.path.join(file.folder, value)))
