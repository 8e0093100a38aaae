"""`verify`: check every file of a deployed dist against its manifest.json.

This file imports nothing but the standard library, none of the runtime: for `verify` a
flow script runs it alone, from source (runpy), without importing the runtime package,
so that it can name the damaged files when the package itself no longer imports (a
truncated `__init__.py`, corrupt bytecode). `check-env` and `--single-file` scripts use
it as an ordinary module.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys

# mypy reads `if MYPY:` as true, as it does `if TYPE_CHECKING:` (this file runs alone, without
# the package's TYPE_CHECKING); names for annotations only: importing typing slows every start
MYPY = False
if MYPY:
    from typing import Any, Dict, List, Tuple

MANIFEST = "manifest.json"


def read_manifest(base: str) -> Dict[str, Any]:
    """The dist's manifest.json: a JSON object; ValueError naming the file when it is
    missing, unreadable, not JSON or not an object."""
    path = os.path.join(base, MANIFEST)
    try:
        with open(path, "rb") as fh:
            manifest = json.loads(fh.read().decode("utf-8"))
    except (OSError, ValueError, RecursionError) as exc:
        raise ValueError("cannot read %s: %s" % (path, exc)) from None
    if not isinstance(manifest, dict):
        raise ValueError(
            "%s is not a manifest of aetherflow compile (a JSON %s, not an object)"
            % (path, type(manifest).__name__)
        )
    return manifest


def manifest_artifacts(base: str, manifest: Dict[str, Any]) -> Dict[str, str]:
    """manifest.json's `artifacts` (relative path -> sha256), checked: ValueError when it
    is missing, not an object of strings, or names a path outside the dist."""
    artifacts = manifest.get("artifacts")
    where = os.path.join(base, MANIFEST)
    if not isinstance(artifacts, dict) or not all(
        isinstance(digest, str) for digest in artifacts.values()
    ):
        raise ValueError(
            "%s: 'artifacts' must be an object of file path -> sha256 (found %s)"
            % (where, "nothing" if artifacts is None else type(artifacts).__name__)
        )
    for path in artifacts:
        parts = path.split("/")
        if (
            os.path.isabs(path)
            or "\\" in path
            or "\0" in path
            or any(part in ("", ".", "..") for part in parts)
        ):
            raise ValueError(
                "%s: artifact %r is not a path inside the dist" % (where, path)
            )
    return artifacts


def file_sha256(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _python_cache(path: str) -> bool:
    return "__pycache__" in path.split("/")


def _found_files(base: str, top: str = "") -> List[str]:
    """Relative paths of the files below base/top, bytecode caches included."""
    found = []
    for root, dirs, names in os.walk(os.path.join(base, top)):
        dirs.sort()
        for name in names:
            rel = os.path.relpath(os.path.join(root, name), base).replace(os.sep, "/")
            found.append(rel)
    return sorted(found)


def compare(
    base: str, expected: Dict[str, str], tops: Tuple[str, ...] = ()
) -> List[str]:
    """'changed: P', 'missing: P', 'extra: P' for every file below base (or below the
    folders `tops`) that differs from `expected` (path -> sha256)."""
    problems = []
    if tops:
        found = [p for top in tops for p in _found_files(base, top)]
        wanted = {
            p: h
            for p, h in expected.items()
            if any(p.startswith(t + "/") for t in tops)
        }
    else:
        found = _found_files(base)
        wanted = dict(expected)
    for path in sorted(set(found) | set(wanted)):
        if path not in wanted:
            # Bytecode the compile did not ship is what Python caches itself.
            if path != MANIFEST and not _python_cache(path):
                problems.append("extra: " + path)
        elif path not in found:
            problems.append("missing: " + path)
        else:
            try:
                same = file_sha256(os.path.join(base, path)) == wanted[path]
            except OSError:  # a dangling link, a file without read permission
                problems.append("unreadable: " + path)
                continue
            if not same:
                problems.append("changed: " + path)
    return problems


def verify_dist(script: str) -> Tuple[int, List[str]]:
    """(files checked, problems) of the whole dist next to `script`."""
    base = os.path.dirname(os.path.abspath(script))
    artifacts = manifest_artifacts(base, read_manifest(base))
    return len(artifacts), compare(base, artifacts)


def report_dist(script: str) -> int:
    """`verify`: print what differs from manifest.json; 0 when nothing does, else 2."""
    base = os.path.dirname(os.path.abspath(script))
    try:
        count, problems = verify_dist(script)
    except ValueError as exc:
        sys.stderr.write("error: %s\n" % exc)
        return 2
    if problems:
        sys.stderr.write(
            "%s differs from its manifest.json (deploy the compiled directory again):\n%s\n"
            % (base, "\n".join("  " + p for p in problems))
        )
        return 2
    print("%s: %d files as compiled (manifest.json)" % (base, count))
    return 0
