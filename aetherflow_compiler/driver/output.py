"""Writing the dist: atomically replacing the output directory with the generated files,
or comparing them with it (`--check`: `drift`), and the JSON text every written file uses."""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
from typing import Any

from aetherflow_compiler.project.sources import is_dist, read_regular

EXECUTABLE = 0o755
REGULAR = 0o644


def file_mode(path: str) -> int:
    return EXECUTABLE if "/" not in path and path.endswith((".py", ".sh")) else REGULAR


def drift(files: dict[str, bytes], output: str) -> list[tuple[str, str]]:
    """(state, path) for every difference between generated files and `output`. Only the
    files a compile writes are read (regular files only: a FIFO there never blocks); a
    file that cannot be read differs."""
    found: dict[str, bytes | None] = {}
    modes: dict[str, int] = {}
    if os.path.isdir(output):
        for root, _dirs, names in os.walk(output):
            folder = os.path.relpath(root, output).replace(os.sep, "/")
            for name in names:
                rel = name if folder == "." else f"{folder}/{name}"
                if rel not in files:
                    if "__pycache__" not in rel.split("/"):  # else bytecode Python wrote itself
                        found[rel] = None
                    continue
                try:
                    found[rel], modes[rel] = _read_with_mode(os.path.join(root, name))
                except OSError:
                    found[rel] = None
    out = []
    for path in sorted(set(files) | set(found)):
        if path not in found:
            out.append(("missing", path))
        elif path not in files:
            out.append(("unexpected", path))
        elif files[path] != found[path]:
            out.append(("differs", path))
        elif modes[path] & 0o777 != file_mode(path):
            out.append(("mode differs", path))
    return out


def _read_with_mode(path: str) -> tuple[bytes, int]:
    data = read_regular(path)
    return data, os.stat(path).st_mode


class OutputError(Exception):
    pass


def output_target(output: str) -> str:
    """The directory a compile writes for `-o output`: the output itself, or, when it is a
    symbolic link, where the link leads (the link stays, its target is replaced)."""
    output = os.path.abspath(output)
    return os.path.realpath(output) if os.path.islink(output) else output


def write_output(files: dict[str, bytes], output: str) -> list[tuple[str, str]]:
    """Make `output` hold exactly `files`; returns what changed, as drift() names it
    ([] when it already held them: nothing is touched).

    Otherwise everything is assembled in a temp directory next to `output`, which is then
    swapped into place, so `output` is never half-written. Files that did not change are
    hard-linked from the previous output instead of being written again. An `output` that
    is a symbolic link is written through: its target is replaced, the link stays.
    OutputError when it cannot be written.
    """
    shown = output
    output = output_target(output)
    parent = os.path.dirname(output)
    if os.path.lexists(output) and not _is_compiler_output(output):
        what = "a file" if not os.path.isdir(output) else "a directory"
        raise OutputError(
            f"refusing to replace {shown}: it is {what} that was not written by aetherflow compile"
        )
    if os.path.lexists(parent) and not os.path.isdir(parent):
        raise OutputError(f"cannot write {shown}: {parent} is not a directory")
    try:
        return _swap(files, output, parent)
    except OSError as exc:
        raise OutputError(
            f"cannot write {shown}: {exc.strerror or type(exc).__name__}"
            + (f" ({exc.filename})" if exc.filename else "")
        ) from None


def _swap(files: dict[str, bytes], output: str, parent: str) -> list[tuple[str, str]]:
    found = (
        drift(files, output)
        if os.path.isdir(output)
        else [("missing", path) for path in sorted(files)]
    )
    changes = {path for _, path in found}
    if not found and os.path.isdir(output):
        return []
    os.makedirs(parent, exist_ok=True)
    # Beside the output, named after it (cut short: the name of `output` may be as long as a name can be)
    stem = _short(os.path.basename(output), 100)
    staging = tempfile.mkdtemp(prefix=f".{stem}.tmp-", dir=parent)
    try:
        for rel, data in files.items():
            target = os.path.join(staging, *rel.split("/"))
            os.makedirs(os.path.dirname(target), exist_ok=True)
            if rel not in changes and _link(os.path.join(output, *rel.split("/")), target):
                continue
            with open(target, "wb") as fh:
                fh.write(data)
            os.chmod(target, file_mode(rel))
        os.chmod(staging, 0o755)
        old = None
        if os.path.lexists(output):
            old = tempfile.mkdtemp(prefix=f".{stem}.old-", dir=parent)
            os.rmdir(old)
            os.rename(output, old)
        os.rename(staging, output)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return found


def _short(name: str, size: int) -> str:
    """`name` cut to at most `size` bytes of the file system's encoding, whole characters only."""
    while len(os.fsencode(name)) > size:
        name = name[:-1]
    return name


def _link(source: str, target: str) -> bool:
    try:
        os.link(source, target)
    except OSError:
        return False
    return True


def _is_compiler_output(path: str) -> bool:
    """An empty directory, or one holding the manifest.json of `aetherflow compile`."""
    if not os.path.isdir(path):
        return False
    try:
        if not os.listdir(path):
            return True
    except OSError:
        return False
    return is_dist(path)


def json_text(value: Any, indent: int | None = 2, sort_keys: bool = True) -> str:
    """JSON text with non-ASCII characters as they are, and lone surrogates (what Python
    makes of a file name that is not UTF-8) as \\u escapes, so that it is always UTF-8."""
    text = json.dumps(value, indent=indent, sort_keys=sort_keys, ensure_ascii=False)
    return _SURROGATE.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


_SURROGATE = re.compile("[\ud800-\udfff]")
