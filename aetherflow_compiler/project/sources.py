"""Finding the YAML files to work on, reading them, and telling flows, profiles, scheduler
files and bundle manifests apart."""

from __future__ import annotations

import errno
import json
import os
import re
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
    # Files whose kind their content decides (found in a folder, or every file with
    # Selection.every_file): one that is not an AetherFlow file is skipped, not checked.
    by_content: set[str] = field(default_factory=set)
    pinned: set[str] = field(default_factory=set)  # matched by `include`: AetherFlow files


@dataclass(frozen=True)
class Selection:
    """The project config's `include` and `exclude` globs (glob_regex says how they match)
    and whether files named directly are found by what they are too (`--skip-other-files`,
    for tools such as pre-commit that pass every YAML file)."""

    include: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    every_file: bool = False

    def excluded(self, path: str) -> bool:
        return _matches(self.exclude, path)

    def included(self, path: str) -> bool:
        return _matches(self.include, path)


def glob_regex(pattern: str) -> re.Pattern[str]:
    """A glob as ruff and .gitignore read it: `*` and `?` within one name, `**` any number
    of folders, `[...]` a set. A pattern with a `/` matches a whole path (an absolute one:
    the project config makes its patterns absolute from its folder); one without matches
    any file or folder name along the path."""
    out = []
    i = 0
    while i < len(pattern):
        ch = pattern[i]
        if pattern.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
            continue
        if pattern.startswith("**", i):
            out.append(".*")
            i += 2
            continue
        if ch == "*":
            out.append("[^/]*")
        elif ch == "?":
            out.append("[^/]")
        elif ch == "[" and "]" in pattern[i + 2 :]:
            end = pattern.index("]", i + 2)  # a ] right after [ is part of the set
            body = pattern[i + 1 : end].replace("\\", "\\\\")
            out.append("[" + ("^" + body[1:] if body.startswith("!") else body) + "]")
            i = end + 1
            continue
        else:
            out.append(re.escape(ch))
        i += 1
    body = "".join(out)
    if "/" not in pattern.rstrip("/"):
        return re.compile(f"(?:.*/)?{body.rstrip('/')}(?:/.*)?")  # a name anywhere on the path
    return re.compile(f"{body.rstrip('/')}(?:/.*)?")  # the path, or a folder holding it


def _matches(patterns: tuple[str, ...], path: str) -> bool:
    if not patterns:
        return False
    full = os.path.abspath(path).replace(os.sep, "/")
    return any(glob_regex(p).fullmatch(full) for p in patterns)


def find_sources(
    paths: list[str],
    exclude: list[str] | tuple[str, ...] = (),
    selection: Selection = Selection(),
) -> Sources:
    """Files given directly, plus `*.yaml`/`*.yml` found under directories (sorted).
    Directories are searched through symbolic links (each directory once, so a link loop
    ends), leaving out hidden entries, compiled dists (a folder holding the manifest.json
    of `aetherflow compile`), the folders of `exclude` (the output directory) and what
    the selection excludes. A folder that cannot be listed is a problem (AF100): its
    flows would be left out silently. Files found in folders are `by_content`."""
    found = Sources()
    skip = {_identity(path) for path in exclude} - {None}
    for given in paths:
        if os.path.isdir(given):
            prefix = os.path.join(os.path.normpath(given), "")
            for path in _walk(given, skip, found.problems, selection):
                found.by_content.add(path)
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
            if selection.every_file:
                if selection.excluded(path):
                    continue
                found.by_content.add(path)
            found.names.setdefault(path, os.path.basename(path))
            found.files.append(path)
        else:
            found.problems.append(
                Diagnostic(given, 1, 1, "AF100", "cannot read file: no such file or directory")
            )
    found.files = list(dict.fromkeys(found.files))
    found.pinned = {path for path in found.by_content if selection.included(path)}
    return found


def expand_paths(paths: list[str]) -> tuple[list[str], list[Diagnostic]]:
    """(files, problems) of find_sources."""
    found = find_sources(paths)
    return found.files, found.problems


def _walk(
    top: str,
    skip: set[tuple[int, int] | None],
    problems: list[Diagnostic],
    selection: Selection = Selection(),
) -> list[str]:
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

    if selection.excluded(top):  # a folder named is searched: the patterns it matches do not apply
        apply = tuple(p for p in selection.exclude if not _matches((p,), top))
        selection = Selection(selection.include, apply, selection.every_file)
    for root, dirs, names in os.walk(top, onerror=failed, followlinks=True):
        kept = []
        for name in sorted(dirs):
            if name.startswith("."):
                continue
            folder = os.path.join(root, name)
            identity = _identity(folder)
            if (
                identity in seen
                or identity in skip
                or is_dist(folder)
                or selection.excluded(folder)
            ):
                continue  # visited already (a link loop), the output, a compiled dist, excluded
            seen.add(identity)
            kept.append(name)
        dirs[:] = kept
        for name in names:
            path = os.path.normpath(os.path.join(root, name))
            is_yaml = name.endswith(YAML_SUFFIXES) and not name.startswith(".")
            if is_yaml and not selection.excluded(path):
                out.append(path)
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


# What `classify` reads: the kinds' top-level keys (the schemas' properties).
_SCHEDULER_KEYS = {"version", "timezone", "items"}
OTHER = "other"  # the kind of a file found by content that is not an AetherFlow file
_TOP_KEY = re.compile(r"^([A-Za-z_][\w.-]*)[ \t]*:(?:[ \t]|$)", re.MULTILINE)
# `jobs:` whose first entry starts with `- id:`, as written (comments and blank lines between)
_JOBS_WITH_IDS = re.compile(
    r"^jobs[ \t]*:[ \t]*(?:#.*)?\n(?:[ \t]*(?:#.*)?\n)*[ \t]*-[ \t]+id[ \t]*:", re.MULTILINE
)


def classify(data: Any) -> str:
    """The kind of a file found in a folder, from its content alone (docs/validate.md
    states the rule): 'flow', 'manifest', 'scheduler', 'profiles', or OTHER for a file
    that is not an AetherFlow file (a CI workflow, a Kubernetes manifest, a compose file).

    A flow: a top-level `flow` key; or `jobs` as a list with `version` beside it or a job
    with an `id` (GitHub's, GitLab's and CircleCI's jobs are a mapping, Azure Pipelines'
    a list of `job:` entries); or `version` with `resources`, and `jobs` not a mapping. A
    bundle manifest: `bundle`. A scheduler file: `items` or `timezone`, and no key a
    scheduler file does not have. Profiles: every value a mapping (or empty), at least one
    with `config`, `options` or `decode`."""
    if not isinstance(data, dict):
        return OTHER
    keys = set(data)
    jobs = data.get("jobs")
    if (
        "flow" in keys
        or (
            isinstance(jobs, list)
            and ("version" in keys or any(isinstance(j, dict) and "id" in j for j in jobs))
        )
        or ({"version", "resources"} <= keys and not isinstance(jobs, dict))
    ):
        return "flow"
    if "bundle" in keys:
        return "manifest"
    if keys & {"items", "timezone"} and keys <= _SCHEDULER_KEYS:
        return "scheduler"
    if (
        data
        and all(isinstance(v, dict) or v is None for v in data.values())
        and any(isinstance(v, dict) and set(v) & _PROFILE_KEYS for v in data.values())
    ):
        return "profiles"
    return OTHER


def classify_text(text: str) -> str:
    """`classify` for a file that is not valid YAML (or not one document): its top-level
    keys as written at the start of a line. A flow: `flow`, or `jobs` whose first entry
    starts with `- id:`; a manifest: `bundle`; a scheduler file: `items` or `timezone`
    with only a scheduler file's keys. Anything else is OTHER."""
    keys = set(_TOP_KEY.findall(text))
    if "flow" in keys or _JOBS_WITH_IDS.search(text):
        return "flow"
    if "bundle" in keys:
        return "manifest"
    if keys & {"items", "timezone"} and keys <= _SCHEDULER_KEYS:
        return "scheduler"
    return OTHER
