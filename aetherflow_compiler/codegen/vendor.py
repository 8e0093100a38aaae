"""Choosing, hashing and inlining the runtime that ships next to compiled flows."""

from __future__ import annotations

import ast
import hashlib
import re
from functools import cache
from importlib import resources

# Modules every artifact needs, in dependency order (the order of --single-file inlining).
CORE_MODULES = (
    "__init__", "errors", "templating", "environment", "logs", "results", "state", "workspace",
    "connectors", "secrets_provider", "resources", "plugin_api",
)
TAIL_MODULES = ("engine", "cli")
# Step and connector modules that import other optional modules.
DEPENDENCIES = {"conn_db_optional": ("conn_sqlite",), "step_zip": ("conn_archive",)}
PACKAGE = "aetherflow_runtime"



@cache
def runtime_source(module: str) -> str:
    return (resources.files("aetherflow_compiler._runtime") / f"{module}.py").read_text("utf-8")


def runtime_version() -> str:
    match = re.search(r'^RUNTIME_VERSION = "([^"]+)"$', runtime_source("__init__"), re.M)
    assert match, "runtime_stub/__init__.py must define RUNTIME_VERSION"
    return match.group(1)


def runtime_modules(modules: list[str]) -> list[str]:
    """Core modules, the given step and connector modules with what they import (each
    after its dependencies), then the engine: the order of --single-file inlining."""
    ordered: list[str] = []

    def add(module: str) -> None:
        if module in ordered:
            return
        for dependency in DEPENDENCIES.get(module, ()):
            add(dependency)
        ordered.append(module)

    for module in sorted(set(modules)):
        add(module)
    return [*CORE_MODULES, *ordered, *TAIL_MODULES]


def runtime_files(modules: list[str]) -> dict[str, str]:
    """File name -> source of the vendored runtime package."""
    return {f"{m}.py": runtime_source(m) for m in runtime_modules(modules)}


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
    to the file's header.
    """
    chunks = []
    for module in runtime_modules(list(modules)):
        source = runtime_source(module)
        drop: set[int] = set()
        for node in ast.walk(ast.parse(source)):  # function-level (lazy) imports too
            if isinstance(node, ast.ImportFrom) and (node.level > 0 or node.module == "__future__"):
                drop.update(range(node.lineno, (node.end_lineno or node.lineno) + 1))
        kept = [line for number, line in enumerate(source.splitlines(), 1) if number not in drop]
        chunks.append(f"# ---- {PACKAGE}/{module}.py ----\n" + "\n".join(kept).strip("\n") + "\n")
    # Dropped imports leave blank lines black would remove; format the block once.
    import black

    return black.format_str("\n\n".join(chunks), mode=black.Mode(target_versions={black.TargetVersion.PY38}))


def amalgamate(modules: list[str]) -> str:
    return _amalgamate(tuple(sorted(modules)))
