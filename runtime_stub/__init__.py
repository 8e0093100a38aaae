"""aetherflow_runtime: the runtime vendored next to compiled AetherFlow flows.

One package, three names: `runtime_stub/` is its folder in the compiler's repository;
installed with the compiler (the wheel) it is the package `aetherflow_compiler._runtime`,
which the compiler reads when it vendors it; in a dist it is `aetherflow_runtime/`, next
to the flow scripts that import it. (The compiler spells the last two only as
`package_data.RUNTIME` and `package_data.DIST_RUNTIME`.)

Standard library only, CPython 3.8+. Generated flow scripts import it; it never imports
the compiler. The folders are the architecture:

    runner.py, cli.py        the runner (jobs, steps, resume, locks) and the command line
    vendored.py              host packages vendored with --wheelhouse
    verify.py                `verify`: the dist against manifest.json (standard library
                             only; flow scripts run it alone, so it works when the
                             package is damaged)
    state/                   the state store: one interface, the sqlite and files backends
    steps/                   built-in step implementations, one module per family
    connectors/              the connector registry and one module per kind of peer
    templating.py, environment.py, resources.py, secrets_provider.py, workspace.py,
    logs.py, results.py, errors.py
                             what those share
    plugin_api.py, spec_models.py
                             aetherflow.core.api for plugins (vendored only with plugins)

Modules import each other only with `from .x import ...` statements (a compile vendors
what those name, and `aetherflow compile --single-file` inlines them into one script), so
every module-level name is unique across the runtime.
"""

from __future__ import annotations

import os
import sys

# The runtime's modules name typing's classes in annotations only, behind
# `if TYPE_CHECKING:` (`from . import TYPE_CHECKING`): mypy reads such a block as true,
# Python skips it, so no start imports typing (a few ms). Defined before anything else.
TYPE_CHECKING = False

if TYPE_CHECKING:
    from hashlib import _Hash
    from typing import List

RUNTIME_VERSION = "0.1.0"


def new_sha256() -> _Hash:
    """A sha256 object without importing hashlib and OpenSSL (a few ms of every start)."""
    try:
        # (the interpreter's C modules: typeshed has no stubs for them)
        from _sha256 import sha256  # type: ignore[import-not-found]  # CPython 3.8-3.11
    except ImportError:
        try:
            from _sha2 import sha256  # type: ignore[import-not-found]  # CPython 3.12+
        except ImportError:
            from hashlib import sha256
    digest: _Hash = sha256()  # (the C modules' sha256 is untyped)
    return digest


def _py_files(folder: str, prefix: str = "") -> List[str]:
    """Relative paths ('steps/process.py') of the *.py files below folder."""
    found = []
    for entry in os.scandir(os.path.join(folder, prefix)):
        if entry.is_dir():
            if entry.name != "__pycache__":
                found += _py_files(folder, prefix + entry.name + "/")
        elif entry.name.endswith(".py"):
            found.append(prefix + entry.name)
    return found


def runtime_sha256(folder: str) -> str:
    """Hash of a vendored runtime: every *.py file's relative path and content, in
    sorted order of the paths."""
    digest = new_sha256()
    for name in sorted(_py_files(folder)):
        with open(os.path.join(folder, name), "rb") as fh:
            digest.update(name.encode("utf-8") + b"\0" + fh.read() + b"\0")
    return digest.hexdigest()


def verify_runtime(version: str, sha256: str) -> None:
    """Refuse to run next to a runtime other than the one the flow was compiled with."""
    folder = os.path.dirname(os.path.abspath(__file__))
    try:
        found = runtime_sha256(folder)
    except OSError as exc:  # a file that cannot be read: not the runtime compiled with
        found = "unreadable (%s)" % exc
    if version != RUNTIME_VERSION or sha256 != found:
        sys.stderr.write(
            "error: the runtime in %s does not match this flow script\n"
            "  expected runtime %s sha256 %s\n"
            "  found    runtime %s sha256 %s\n"
            "  `%s verify` lists the files that differ; deploy the compiled directory again\n"
            "  (flow scripts with aetherflow_runtime/, as a whole), or compile again.\n"
            % (folder, version, sha256, RUNTIME_VERSION, found, sys.argv[0])
        )
        sys.exit(2)
