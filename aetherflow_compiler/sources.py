"""Finding the YAML files to work on, and telling flows, profiles, scheduler files and bundle
manifests apart."""

from __future__ import annotations

import os
from typing import Any

YAML_SUFFIXES = (".yaml", ".yml")
_PROFILE_KEYS = {"config", "options", "decode"}


def expand_paths(paths: list[str]) -> tuple[list[str], list[str]]:
    """Files given directly, plus `*.yaml`/`*.yml` found under directories (sorted, hidden
    entries skipped). Returns (files, missing paths)."""
    files: list[str] = []
    missing: list[str] = []
    for given in paths:
        if os.path.isdir(given):
            found = []
            for root, dirs, names in os.walk(given):
                dirs[:] = sorted(d for d in dirs if not d.startswith("."))
                for name in names:
                    if name.endswith(YAML_SUFFIXES) and not name.startswith("."):
                        found.append(os.path.normpath(os.path.join(root, name)))
            files.extend(sorted(found))
        elif os.path.exists(given):
            files.append(os.path.normpath(given))
        else:
            missing.append(given)
    return list(dict.fromkeys(files)), missing  # each file once, in the order first found


def detect_kind(data: Any, path: str) -> str:
    """'flow', 'profiles', 'scheduler' or 'manifest' (a bundle manifest), from the content
    first and the file name second. `version` appears in all but profiles files."""
    base = os.path.basename(path).lower()
    if isinstance(data, dict):
        keys = set(data)
        if "bundle" in keys and not keys & {"flow", "jobs"}:
            return "manifest"
        if keys & {"items", "timezone"} and not keys & {"flow", "jobs"}:
            return "scheduler"
        if keys & {"flow", "jobs", "version", "resources"}:
            return "flow"
        if data and all(isinstance(v, dict) and set(v) <= _PROFILE_KEYS for v in data.values()):
            return "profiles"
    if base.startswith("profiles"):
        return "profiles"
    if base.startswith("scheduler") or base.startswith("schedule"):
        return "scheduler"
    return "flow"
