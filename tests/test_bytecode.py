"""The runtime's bytecode shipped in the dist (docs/artifacts.md#shipped-bytecode): used
by the hosts' interpreter on a read-only dist, checked by verify, deterministic, and named
per interpreter with --bytecode / --no-bytecode."""

from __future__ import annotations

import glob
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

from conftest import run_cli

FLOW = """\
version: 1
flow:
  id: hello
  workspace: {root: work, cleanup_policy: never}
  state: {path: state/hello.sqlite}
jobs:
  - id: main
    steps:
      - {id: s0, type: external.process, inputs: {command: ["true"]}}
"""
TAG = sys.implementation.cache_tag


def _project(tmp_path: Path) -> Path:
    (tmp_path / "flows").mkdir(parents=True)
    (tmp_path / "flows" / "hello.yaml").write_text(FLOW)
    return tmp_path


def _compile(
    root: Path, out: str, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(Path(sys.executable).parent / "aetherflow"), "compile", "flows", "-o", out, *args],
        cwd=root,
        capture_output=True,
        text=True,
        env=env,
    )


def _pycs(dist: Path) -> dict[str, bytes]:
    return {p.relative_to(dist).as_posix(): p.read_bytes() for p in sorted(dist.rglob("*.pyc"))}


def _other_python() -> str | None:
    """A CPython of another minor version than the one running the tests."""
    names = [f"python3.{minor}" for minor in range(8, 15) if minor != sys.version_info[1]]
    found = [shutil.which(name) for name in names]
    found += sorted(glob.glob(os.path.expanduser("~/.pyenv/versions/3.*/bin/python3")))
    for path in filter(None, found):
        probe = subprocess.run(
            [path, "-c", "import sys; print(sys.implementation.cache_tag)"],
            capture_output=True,
            text=True,
        )
        if probe.returncode == 0 and probe.stdout.strip() not in ("", TAG):
            return path
    return None


def _imported_from(python: str, script: Path) -> dict[str, str]:
    """Runtime module file -> what Python loaded its code from, in a run with -B (no
    bytecode may be written, as on a read-only mount)."""
    proc = subprocess.run(
        [python, "-I", "-S", "-B", "-v", str(script), "run"],
        capture_output=True,
        text=True,
        cwd=script.parent.parent,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    loaded = {}
    for line in proc.stderr.splitlines():
        if line.startswith("# code object from ") and "aetherflow_runtime" in line:
            path = line[len("# code object from ") :].strip("'")
            module = path.replace(f"__pycache__{os.sep}", "").split(".")[0]
            loaded[module] = path
    return loaded


def test_a_read_only_dist_runs_its_runtime_from_the_shipped_bytecode(tmp_path: Path) -> None:
    root = _project(tmp_path)
    assert _compile(root, "dist").returncode == 0
    dist = root / "dist"
    manifest = json.loads((dist / "manifest.json").read_text())
    assert manifest["runtime"]["bytecode"] == [TAG]
    pycs = _pycs(dist)
    sources = sorted(
        p.relative_to(dist).as_posix() for p in (dist / "aetherflow_runtime").rglob("*.py")
    )
    assert len(pycs) == len(sources) and all(f".{TAG}.pyc" in p for p in pycs)
    assert set(pycs) <= set(manifest["artifacts"])
    loaded = _imported_from(sys.executable, dist / "hello.py")
    assert loaded, "no runtime module was imported"
    assert all(path.endswith(f".{TAG}.pyc") for path in loaded.values()), loaded
    # A writable dist: Python keeps the shipped files (valid checked-hash pycs).
    subprocess.run(
        [sys.executable, "-I", "-S", str(dist / "hello.py"), "run"],
        check=True,
        capture_output=True,
        cwd=root,
    )
    assert _pycs(dist) == pycs
    verify = subprocess.run(
        [sys.executable, "-I", "-S", str(dist / "hello.py"), "verify"],
        capture_output=True,
        text=True,
    )
    assert verify.returncode == 0, verify.stdout + verify.stderr


def test_verify_and_check_name_changed_bytecode_and_ignore_pythons_own(tmp_path: Path) -> None:
    root = _project(tmp_path)
    assert _compile(root, "dist").returncode == 0
    dist = root / "dist"
    other_cache = dist / "aetherflow_runtime" / "__pycache__" / "runner.cpython-399.pyc"
    other_cache.write_bytes(b"what another interpreter cached")
    assert _compile(root, "dist", "--check").returncode == 0
    shipped = dist / "aetherflow_runtime" / "__pycache__" / f"runner.{TAG}.pyc"
    shipped.write_bytes(shipped.read_bytes() + b"\0")
    verify = subprocess.run(
        [sys.executable, "-I", "-S", str(dist / "hello.py"), "verify"],
        capture_output=True,
        text=True,
    )
    assert verify.returncode == 2
    assert (
        f"changed: aetherflow_runtime/__pycache__/runner.{TAG}.pyc" in verify.stdout + verify.stderr
    )
    assert "cpython-399" not in verify.stdout + verify.stderr
    check = _compile(root, "dist", "--check")
    assert check.returncode == 1
    assert (
        f"differs: {os.path.join('dist', 'aetherflow_runtime', '__pycache__', f'runner.{TAG}.pyc')}"
        in check.stdout
    )


def test_verify_reads_no_bytecode_and_a_corrupt_pyc_fails_no_command_with_a_traceback(
    tmp_path: Path,
) -> None:
    """verify runs aetherflow_runtime/verify.py from source: its own corrupt pyc does not
    stop it. A corrupt pyc of a module imported later (the state store's) is exit 2
    naming that file, not a traceback."""
    root = _project(tmp_path)
    assert _compile(root, "dist").returncode == 0
    dist = root / "dist"
    for module in ("__pycache__/verify", "state/__pycache__/sqlite"):
        pyc = dist / "aetherflow_runtime" / f"{module}.{TAG}.pyc"
        pyc.write_bytes(pyc.read_bytes()[:24])  # the header kept: Python trusts it
    verify = subprocess.run(
        [sys.executable, "-I", "-S", str(dist / "hello.py"), "verify"],
        capture_output=True,
        text=True,
    )
    assert verify.returncode == 2 and verify.stderr.splitlines()[1:] == [
        f"  changed: aetherflow_runtime/__pycache__/verify.{TAG}.pyc",
        f"  changed: aetherflow_runtime/state/__pycache__/sqlite.{TAG}.pyc",
    ], verify.stderr
    run = subprocess.run(
        [sys.executable, "-I", "-S", str(dist / "hello.py"), "run"],
        capture_output=True,
        text=True,
        cwd=root,
    )
    assert run.returncode == 2 and "Traceback" not in run.stderr, run.stderr
    assert run.stderr.startswith(
        f"error: the runtime's bytecode {dist}/aetherflow_runtime/state/__pycache__/"
        f"sqlite.{TAG}.pyc cannot be loaded (EOFError: marshal data too short)\n"
    ), run.stderr
    assert not (root / "state").exists()


def test_bytecode_is_the_same_for_any_path_hash_seed_and_build(tmp_path: Path) -> None:
    """Compiled from two folders, with different hash seeds for the compiler, with and
    without the cache, and by another build of the same CPython minor version."""
    first = _project(tmp_path / "a")
    second = _project(tmp_path / "b" / "deeper")
    env = dict(os.environ, PYTHONHASHSEED="1", AETHERFLOW_CACHE_DIR=str(tmp_path / "cache"))
    assert _compile(first, "dist", env=env).returncode == 0
    env2 = dict(env, PYTHONHASHSEED="2")
    assert _compile(second, "dist", env=env2).returncode == 0
    assert _compile(second, "again", env=env2).returncode == 0  # from the cache
    assert _compile(second, "nocache", "--no-cache", env=env2).returncode == 0
    reference = _pycs(first / "dist")
    assert reference
    assert _pycs(second / "dist") == reference
    assert _pycs(second / "again") == reference
    assert _pycs(second / "nocache") == reference
    system = [
        p
        for p in ("/usr/bin/python3", "/usr/local/bin/python3")
        if os.path.exists(p) and os.path.realpath(p) != os.path.realpath(sys.executable)
    ]
    for python in system:  # the distribution's build, where it has the same version
        tag = subprocess.run(
            [python, "-c", "import sys; print(sys.implementation.cache_tag)"],
            capture_output=True,
            text=True,
        ).stdout.strip()
        if tag == TAG:
            assert (
                _compile(first, f"by-{Path(python).name}", "--bytecode", python, env=env).returncode
                == 0
            )
            assert _pycs(first / f"by-{Path(python).name}") == reference


def test_bytecode_for_the_hosts_interpreter_is_used_by_it(tmp_path: Path) -> None:
    other = _other_python()
    assert (
        other is not None
    ), "these tests need a second CPython minor version (pyenv's, or python3.X on PATH)"
    root = _project(tmp_path)
    result = _compile(root, "dist", "--bytecode", other, "--bytecode", sys.executable)
    assert result.returncode == 0, result.stderr
    dist = root / "dist"
    other_tag = subprocess.run(
        [other, "-c", "import sys; print(sys.implementation.cache_tag)"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    manifest = json.loads((dist / "manifest.json").read_text())
    assert manifest["runtime"]["bytecode"] == sorted([TAG, other_tag])
    loaded = _imported_from(other, dist / "hello.py")
    assert loaded and all(path.endswith(f".{other_tag}.pyc") for path in loaded.values()), loaded


def test_no_bytecode_and_usage_errors(tmp_path: Path) -> None:
    root = _project(tmp_path)
    assert _compile(root, "dist", "--no-bytecode").returncode == 0
    assert _pycs(root / "dist") == {}
    assert "bytecode" not in json.loads((root / "dist" / "manifest.json").read_text())["runtime"]
    missing = _compile(root, "dist2", "--bytecode", "python2.1")
    assert missing.returncode == 2
    assert "--bytecode python2.1: no such interpreter" in missing.stderr
    assert not (root / "dist2").exists()
    not_python = _compile(root, "dist3", "--bytecode", "/bin/false")
    assert not_python.returncode == 2
    assert "could not compile the runtime" in not_python.stderr
    assert "Traceback" not in not_python.stderr
    both = _compile(root, "dist4", "--bytecode", sys.executable, "--no-bytecode")
    assert both.returncode == 2 and "leave one out" in both.stderr
    single = run_cli(
        [
            "compile",
            "flows",
            "-o",
            str(root / "single"),
            "--single-file",
            "--bytecode",
            sys.executable,
        ],
        cwd=root,
    )
    assert single.exit_code == 2 and "--single-file" in single.stderr
    assert _compile(root, "single", "--single-file").returncode == 0
    assert _pycs(root / "single") == {}
