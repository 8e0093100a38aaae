"""The files the compiler ships besides its own code, read through importlib.resources.

In the repository they are `runtime_stub/` (the runtime vendored into every dist),
`templates/` (Jinja2 templates of generated files) and `aetherflow_compiler/schemas/`;
in an installed wheel they are the packages named below.

The runtime has three names (runtime_stub/__init__.py says the same): `runtime_stub/` is
its folder in the repository, `RUNTIME` the package it is installed as with the compiler
(setup.py maps the folder to it), and `DIST_RUNTIME` the package it is in a dist, beside
the flow scripts that import it. The compiler uses the names only through these constants.
"""

from __future__ import annotations

from importlib import resources
from typing import Any

RUNTIME = "aetherflow_compiler._runtime"  # runtime_stub/, installed with the compiler
DIST_RUNTIME = "aetherflow_runtime"  # the runtime in a dist, next to the scripts
TEMPLATES = "aetherflow_compiler._templates"
SCHEMAS = "aetherflow_compiler.schemas"


def read_text(package: str, path: str) -> str:
    """A shipped text file, `path` relative to `package` ('/'-separated)."""
    entry: Any = resources.files(package)
    for part in path.split("/"):
        entry = entry / part
    return str(entry.read_text("utf-8"))


def walk(package: str, suffixes: tuple[str, ...]) -> list[tuple[str, bytes]]:
    """(relative path, content) of every file below `package` whose name ends with one
    of `suffixes`, subpackages included and __pycache__ left out, sorted by path."""
    return sorted(_walk(resources.files(package), "", suffixes))


def _walk(folder: Any, prefix: str, suffixes: tuple[str, ...]) -> list[tuple[str, bytes]]:
    out: list[tuple[str, bytes]] = []
    for child in folder.iterdir():
        name = f"{prefix}{child.name}"
        if child.is_dir():
            if child.name != "__pycache__":
                out.extend(_walk(child, name + "/", suffixes))
        elif child.name.endswith(suffixes):
            out.append((name, child.read_bytes()))
    return out
