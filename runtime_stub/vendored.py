"""Host packages vendored into the dist (`compile --wheelhouse`), and checking a deployed
dist against its manifest.json.

A vendored distribution lives in aetherflow_vendor/<name>-<version>/; a flow script puts
the folders of the distributions it needs at the end of sys.path, after the standard
library, so that they never shadow it and no other flow's packages are found.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys

if False:  # names for annotations only: importing typing slows every start
    from typing import Any, Dict, List, Tuple

VENDOR = "aetherflow_vendor"
MANIFEST = "manifest.json"


def use_vendored(script: str, folders: Tuple[str, ...]) -> None:
    base = os.path.join(os.path.dirname(os.path.abspath(script)), VENDOR)
    for folder in folders:
        path = os.path.join(base, folder)
        if path not in sys.path:
            sys.path.append(path)


def read_manifest(base: str) -> Dict[str, Any]:
    """The dist's manifest.json; ValueError when it is missing or not JSON."""
    path = os.path.join(base, MANIFEST)
    try:
        with open(path, "rb") as fh:
            return json.loads(fh.read().decode("utf-8"))  # type: ignore[no-any-return]
    except (OSError, ValueError) as exc:
        raise ValueError("cannot read %s: %s" % (path, exc)) from None


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
    artifacts = read_manifest(base).get("artifacts") or {}
    return len(artifacts), compare(base, artifacts)


def vendored_report(
    script: str, folders: Tuple[str, ...]
) -> Tuple[List[Tuple[str, str, str]], List[str]]:
    """([(name, version, folder)], problems) for the vendored distributions of a flow."""
    base = os.path.dirname(os.path.abspath(script))
    manifest = read_manifest(base)
    entries = manifest.get("vendored") or {}
    rows = []
    for folder in folders:
        entry = entries.get(folder) or {}
        rows.append(
            (str(entry.get("name", folder)), str(entry.get("version", "?")), folder)
        )
    tops = tuple(VENDOR + "/" + folder for folder in folders)
    return rows, compare(base, manifest.get("artifacts") or {}, tops)


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
            "%s differs from its manifest.json:\n%s\n"
            % (base, "\n".join("  " + p for p in problems))
        )
        return 2
    print("%s: %d files as compiled (manifest.json)" % (base, count))
    return 0
