"""Finding the YAML files to work on, reading them, and telling flows, profiles, scheduler
files and bundle manifests apart."""

from __future__ import annotations

import errno
import json
import os
import stat
from dataclasses import dataclass, field
from typing import Any

from aetherflow_compiler.diagnostics import Diagnostic

YAML_SUFFIXES = (".yaml", ".yml")
MANIFEST = "manifest.json"  # what `aetherflow compile` writes at the top of a dist
_PROFILE_KEYS = {"config", "options", "decode"}
_NOT_REGULAR = (
    (stat.S_ISFIFO, "a FIFO"),
    (stat.S_ISSOCK, "a socket"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
)


def read_regular(path: str, limit: int | None = None) -> bytes:
    """The bytes of the regular file `path` (at most `limit` of them), without ever
    blocking: a FIFO, a socket or a device is refused with an OSError whose strerror says
    what it is, a directory with IsADirectoryError."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0))
    except OSError as exc:
        if exc.errno == errno.ENXIO and stat.S_ISSOCK(_mode(path)):  # what open() says of a socket
            raise OSError(errno.ENXIO, "not a regular file but a socket", path) from None
        raise
    with os.fdopen(fd, "rb") as fh:
        mode = os.fstat(fd).st_mode
        if stat.S_ISDIR(mode):
            raise IsADirectoryError(errno.EISDIR, "Is a directory", path)
        if not stat.S_ISREG(mode):
            what = next((word for test, word in _NOT_REGULAR if test(mode)), "a special file")
            raise OSError(errno.EINVAL, f"not a regular file but {what}", path)
        return fh.read() if limit is None else fh.read(limit)


def _mode(path: str) -> int:
    try:
        return os.stat(path).st_mode
    except OSError:
        return 0


@dataclass
class Sources:
    """The files a command works on, found from the paths it was given."""

    files: list[str] = field(default_factory=list)  # each once, in the order first found
    # File -> the name artifacts use for it: relative to the directory it was found under,
    # or the bare file name for files given directly. Independent of the working
    # directory and of where the repository lives, so output is the same on every machine.
    names: dict[str, str] = field(default_factory=dict)
    problems: list[Diagnostic] = field(default_factory=list)  # paths missing, folders unreadable


def find_sources(paths: list[str], exclude: list[str] | tuple[str, ...] = ()) -> Sources:
    """Files given directly, plus `*.yaml`/`*.yml` found under directories (sorted).
    Directories are searched through symbolic links (each directory once, so a link loop
    ends), leaving out hidden entries, compiled dists (a folder holding the manifest.json
    of `aetherflow compile`) and the folders of `exclude` (the output directory). A folder
    that cannot be listed is a problem (AF100): its flows would be left out silently."""
    found = Sources()
    skip = {_identity(path) for path in exclude} - {None}
    for given in paths:
        if os.path.isdir(given):
            prefix = os.path.join(os.path.normpath(given), "")
            for path in _walk(given, skip, found.problems):
                # Found below `given`, so the name is the rest of the path (what relpath says, for less)
                rel = (
                    path[len(prefix) :] if path.startswith(prefix) else os.path.relpath(path, given)
                )
                found.names.setdefault(path, rel.replace(os.sep, "/"))
                found.files.append(path)
        elif os.path.lexists(
            given
        ):  # a file, or a link that does not lead to one: reading it says why
            path = os.path.normpath(given)
            found.names.setdefault(path, os.path.basename(path))
            found.files.append(path)
        else:
            found.problems.append(
                Diagnostic(given, 1, 1, "AF100", "cannot read file: no such file or directory")
            )
    found.files = list(dict.fromkeys(found.files))
    return found


def expand_paths(paths: list[str]) -> tuple[list[str], list[Diagnostic]]:
    """(files, problems) of find_sources."""
    found = find_sources(paths)
    return found.files, found.problems


def _walk(top: str, skip: set[tuple[int, int] | None], problems: list[Diagnostic]) -> list[str]:
    """The YAML files below `top`, sorted; folders that cannot be listed go to `problems`."""
    out: list[str] = []
    seen = {_identity(top)}

    def failed(exc: OSError) -> None:
        folder = str(exc.filename) if exc.filename is not None else top
        problems.append(
            Diagnostic(
                os.path.normpath(folder),
                1,
                1,
                "AF100",
                f"cannot read folder: {exc.strerror or type(exc).__name__}",
                "the flows in it would be left out: make it readable, or move it out of the paths given",
            )
        )

    for root, dirs, names in os.walk(top, onerror=failed, followlinks=True):
        kept = []
        for name in sorted(dirs):
            if name.startswith("."):
                continue
            folder = os.path.join(root, name)
            identity = _identity(folder)
            if identity in seen or identity in skip or is_dist(folder):
                continue  # visited already (a link loop), the output, or a compiled dist
            seen.add(identity)
            kept.append(name)
        dirs[:] = kept
        for name in names:
            if name.endswith(YAML_SUFFIXES) and not name.startswith("."):
                out.append(os.path.normpath(os.path.join(root, name)))
    return sorted(out)


def _identity(path: str) -> tuple[int, int] | None:
    """(device, inode) of the directory `path` leads to; None when there is none."""
    try:
        info = os.stat(path)
    except (OSError, ValueError):
        return None
    return (info.st_dev, info.st_ino)


def is_dist(folder: str) -> bool:
    """True when `folder` holds the manifest.json of `aetherflow compile`."""
    try:
        with open(os.path.join(folder, MANIFEST), "rb") as fh:
            if not stat.S_ISREG(os.fstat(fh.fileno()).st_mode):
                return False
            data = json.loads(fh.read(1 << 20))
    except (OSError, ValueError):
        return False
    return (
        isinstance(data, dict)
        and isinstance(data.get("compiler"), dict)
        and data["compiler"].get("name") == "aetherflow-compiler"
    )


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
