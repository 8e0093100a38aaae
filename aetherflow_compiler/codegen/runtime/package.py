"""Choosing, hashing and inlining the runtime that ships next to compiled flows.

The runtime (runtime_stub/, installed as package_data.RUNTIME) is a package with
subpackages: `steps/`, `connectors/` and `state/` beside the runner, the command line and
the modules they share. A compile vendors the modules a flow names (its step and connector
modules) plus what every generated script imports (ENTRY_MODULES), and everything those
import, read from their own `from .x import ...` statements: no hand-kept list of
dependencies can fall behind the code.
"""

from __future__ import annotations

import ast
import hashlib
import re
from functools import cache

from aetherflow_compiler import package_data

# What templates/flow.py.j2 uses of every artifact: the package itself, its command line,
# the runner's Flow and Job, the template values Ref and Text, and verify.py, which the
# script runs on its own (by path) for `verify`.
ENTRY_MODULES = ("cli", "runner", "templating", "verify")


@cache
def _sources() -> dict[str, str]:
    """Relative path ('steps/process.py') -> source, for every module of the runtime."""
    return {
        path: data.decode("utf-8")
        for path, data in package_data.walk(package_data.RUNTIME, (".py",))
    }


def runtime_source(path: str) -> str:
    return _sources()[path]


def module_path(module: str) -> str:
    """The file of a dotted runtime module name: 'steps.process' -> 'steps/process.py',
    'state' -> 'state/__init__.py', '' -> '__init__.py'."""
    base = module.replace(".", "/")
    for path in (f"{base}.py", f"{base}/__init__.py" if base else "__init__.py"):
        if path in _sources():
            return path
    raise KeyError(f"no runtime module {module!r}")


def _package_of(path: str) -> list[str]:
    return path.split("/")[:-1]


def _parents(path: str) -> list[str]:
    """The __init__.py files Python runs before `path` (its packages, outermost first)."""
    parts = _package_of(path)
    inits = ["/".join([*parts[:n], "__init__.py"]) for n in range(len(parts) + 1)]
    return [p for p in inits if p != path]


def _imported(path: str, node: ast.ImportFrom) -> list[str]:
    """The runtime files a relative `from ... import ...` statement in `path` loads."""
    package = _package_of(path)
    base = package[: len(package) - (node.level - 1)]
    target = base + (node.module.split(".") if node.module else [])
    found = [module_path(".".join(target))]
    for alias in node.names:  # `from . import sqlite` names a submodule
        submodule = "/".join([*target, alias.name]) + ".py"
        if submodule in _sources():
            found.append(submodule)
    return found


@cache
def _imports(path: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(files imported when `path` is imported, files it imports lazily in functions)."""
    tree = ast.parse(runtime_source(path))
    top = {id(n) for n in tree.body}
    eager: list[str] = list(_parents(path))
    lazy: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.level > 0:
            (eager if id(node) in top else lazy).extend(_imported(path, node))
    return tuple(dict.fromkeys(eager)), tuple(dict.fromkeys(p for p in lazy if p not in eager))


def runtime_version() -> str:
    match = re.search(r'^RUNTIME_VERSION = "([^"]+)"$', runtime_source("__init__.py"), re.M)
    assert match, "runtime_stub/__init__.py must define RUNTIME_VERSION"
    return match.group(1)


def runtime_modules(modules: list[str]) -> list[str]:
    """The files to vendor for these step and connector modules (dotted names), with
    everything they and the entry modules import, each after what it imports at module
    level (the order of --single-file inlining); ties in alphabetical order."""
    wanted: set[str] = set()
    todo = [module_path(m) for m in ("", *ENTRY_MODULES, *modules)]
    while todo:
        path = todo.pop()
        if path not in wanted:
            wanted.add(path)
            eager, lazy = _imports(path)
            todo += [*eager, *lazy]
    ordered: list[str] = []
    visiting: list[str] = []

    def place(path: str) -> None:
        if path in ordered:
            return
        assert path not in visiting, f"runtime import cycle: {' -> '.join([*visiting, path])}"
        visiting.append(path)
        for dependency in sorted(_imports(path)[0]):
            place(dependency)
        visiting.pop()
        ordered.append(path)

    for path in sorted(wanted):
        place(path)
    return ordered


def runtime_files(modules: list[str]) -> dict[str, str]:
    """Relative path -> source of the vendored runtime package."""
    return {path: runtime_source(path) for path in sorted(runtime_modules(modules))}


def runtime_sha256(files: dict[str, str]) -> str:
    """Must equal aetherflow_runtime.runtime_sha256() over the written package."""
    digest = hashlib.sha256()
    for name in sorted(files):
        digest.update(name.encode("utf-8") + b"\0" + files[name].encode("utf-8") + b"\0")
    return digest.hexdigest()


@cache
def _amalgamate(modules: tuple[str, ...]) -> str:
    """The runtime as one block of code for --single-file artifacts.

    Each module's relative imports are dropped, lazy ones inside functions included (the
    names are defined in the same file), and `from __future__ import annotations` is left
    to the file's header. A block that held nothing but such imports (a `try:` around a
    lazy import) keeps a `pass` in place of the first.
    """
    chunks = []
    for path in runtime_modules(list(modules)):
        source = runtime_source(path)
        tree = ast.parse(source)
        dropped = [
            node
            for node in ast.walk(tree)  # function-level (lazy) imports too
            if isinstance(node, ast.ImportFrom) and (node.level > 0 or node.module == "__future__")
        ]
        drop = {
            n for node in dropped for n in range(node.lineno, (node.end_lineno or node.lineno) + 1)
        }
        ids = {id(node) for node in dropped}
        passes = {
            block[0].lineno: " " * block[0].col_offset + "pass"
            for node in ast.walk(tree)
            if not isinstance(node, ast.Module)
            for block in (getattr(node, f, None) for f in ("body", "orelse", "finalbody"))
            if isinstance(block, list) and block and all(id(stmt) in ids for stmt in block)
        }
        kept = [
            passes.get(number, line)
            for number, line in enumerate(source.splitlines(), 1)
            if number not in drop or number in passes
        ]
        chunks.append(
            f"# ---- {package_data.DIST_RUNTIME}/{path} ----\n" + "\n".join(kept).strip("\n") + "\n"
        )
    # Dropped imports leave blank lines black would remove; format the block once.
    import black

    return black.format_str(
        "\n\n".join(chunks), mode=black.Mode(target_versions={black.TargetVersion.PY38})
    )


def amalgamate(modules: list[str]) -> str:
    return _amalgamate(tuple(sorted(modules)))
