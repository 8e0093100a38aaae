"""Bytecode of the vendored runtime, shipped in the dist for the hosts' interpreter.

A dist on a read-only mount (a Kubernetes ConfigMap, an image layer) cannot cache the
bytecode Python compiles, so without this every run compiles the runtime from source
again (about 20 ms of a 40 ms run). The compile therefore writes
`aetherflow_runtime/**/__pycache__/<module>.<cache tag>.pyc` itself:

- **checked-hash** pycs (PEP 552): Python checks each against its source's hash, so an
  edited runtime file is compiled from source as usual, never run from stale bytecode;
- **for a named interpreter**: bytecode is specific to a CPython minor version, so it is
  compiled by the interpreter the hosts run (`--bytecode PYTHON`, repeatable; by default
  the compiling one). Another version on a host ignores them and compiles from source;
- **deterministic**: the interpreter runs in a fresh process with PYTHONHASHSEED=0 (set
  and frozenset constants are marshalled in hash order before 3.11) and writes marshal
  format 2, which has no back-references (format 3 and later mark objects by their
  reference counts, which vary with whatever else the process holds).
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
from dataclasses import dataclass
from typing import Any

from aetherflow_compiler.cache import CompileCache, key

# Run by the target interpreter (CPython 3.8+, standard library only): reads
# {path: source} as JSON on stdin, writes {"tag": cache tag, "pycs": {path: base64}}.
_COMPILE_SCRIPT = """\
import base64, importlib.util, json, marshal, sys
sources = json.loads(sys.stdin.buffer.read().decode("utf-8"))
out = {}
for path, text in sorted(sources.items()):
    data = text.encode("utf-8")
    code = compile(data, path, "exec", dont_inherit=True, optimize=0)
    header = importlib.util.MAGIC_NUMBER + (3).to_bytes(4, "little") + importlib.util.source_hash(data)
    out[path] = base64.b64encode(header + marshal.dumps(code, 2)).decode("ascii")
sys.stdout.write(json.dumps({"tag": sys.implementation.cache_tag, "pycs": out}))
"""


class BytecodeError(Exception):
    """An interpreter named for bytecode cannot be run or cannot compile the runtime."""


@dataclass(frozen=True)
class Interpreter:
    """An interpreter to write bytecode for: `python` as given, `path` as found."""

    python: str
    path: str

    def fingerprint(self) -> str:
        """What decides its bytecode without running it: the file's identity and size."""
        if os.path.realpath(self.path) == os.path.realpath(sys.executable):
            return f"{sys.implementation.cache_tag} {sys.version}"
        stat = os.stat(self.path)
        return f"{os.path.realpath(self.path)} {stat.st_size} {stat.st_mtime_ns}"


def find_interpreter(python: str) -> Interpreter:
    """`python3.12` (looked up on PATH) or a path to an interpreter."""
    import shutil

    path = python if os.sep in python else shutil.which(python)
    if path is None or not os.access(path, os.X_OK):
        raise BytecodeError(
            f"--bytecode {python}: no such interpreter (give a name on PATH or a path)"
        )
    return Interpreter(python, path)


def default_interpreter(python_version: tuple[int, int] | None) -> Interpreter | None:
    """The compiling interpreter; for hosts of another version (`--python-version X.Y`
    with --wheelhouse), `pythonX.Y` where PATH has one, else None (no bytecode)."""
    if python_version is None or python_version == sys.version_info[:2]:
        return Interpreter(sys.executable, sys.executable)
    try:
        return find_interpreter(f"python{python_version[0]}.{python_version[1]}")
    except BytecodeError:
        return None


def pyc_path(path: str, tag: str) -> str:
    """'steps/process.py' -> 'steps/__pycache__/process.cpython-311.pyc'."""
    folder, _, name = path.rpartition("/")
    return f"{folder + '/' if folder else ''}__pycache__/{name[:-3]}.{tag}.pyc"


def runtime_bytecode(
    files: dict[str, str],
    runtime_sha256: str,
    interpreter: Interpreter,
    package: str,
    compile_cache: CompileCache | None = None,
) -> tuple[str, dict[str, bytes]]:
    """(cache tag, {dist path: pyc bytes}) for the runtime `files` (path -> source)."""
    digest = key("bytecode", interpreter.fingerprint(), runtime_sha256, package)
    cached = compile_cache.get_json("bytecode", digest) if compile_cache is not None else None
    if cached is None:
        cached = _compile(files, interpreter, package)
        if compile_cache is not None:
            compile_cache.put_json("bytecode", digest, cached)
    tag = str(cached["tag"])
    pycs = {
        f"{package}/{pyc_path(path, tag)}": base64.b64decode(data)
        for path, data in cached["pycs"].items()
    }
    return tag, dict(sorted(pycs.items()))


def _compile(files: dict[str, str], interpreter: Interpreter, package: str) -> dict[str, Any]:
    sources = {path: files[path] for path in sorted(files)}
    env = {
        "PYTHONHASHSEED": "0",
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "LC_ALL": "C.UTF-8",
    }
    try:
        proc = subprocess.run(
            [interpreter.path, "-I", "-S", "-B", "-c", _COMPILE_SCRIPT],
            input=json.dumps(sources).encode("utf-8"),
            capture_output=True,
            env=env,
            timeout=300,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise BytecodeError(
            f"--bytecode {interpreter.python}: cannot run {interpreter.path}: {exc}"
        ) from None
    if proc.returncode != 0:
        last = proc.stderr.decode("utf-8", "replace").strip().splitlines()[-1:] or ["no output"]
        raise BytecodeError(
            f"--bytecode {interpreter.python}: {interpreter.path} could not compile the runtime "
            f"(it must be CPython 3.8 or later): {last[0]}"
        )
    try:
        result = json.loads(proc.stdout)
        assert isinstance(result["tag"], str) and isinstance(result["pycs"], dict)
    except (ValueError, KeyError, AssertionError, TypeError):
        raise BytecodeError(
            f"--bytecode {interpreter.python}: unexpected output from {interpreter.path}"
        ) from None
    if not result["tag"]:
        raise BytecodeError(
            f"--bytecode {interpreter.python}: {interpreter.path} caches no bytecode"
        )
    return {"tag": result["tag"], "pycs": result["pycs"]}
