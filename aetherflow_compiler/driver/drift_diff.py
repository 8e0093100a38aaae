"""`compile --check --diff`: what a compile would change in the output directory, as a
unified diff for reviewers reading CI logs (black's `--diff`)."""

from __future__ import annotations

import difflib
import os

from aetherflow_compiler.driver.output import file_mode
from aetherflow_compiler.project.sources import read_regular


def _text(data: bytes) -> list[str] | None:
    """The lines of a text file; None for bytes that are not UTF-8 text (bytecode)."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return None
    return None if "\0" in text else text.splitlines(keepends=True)


def _read(path: str) -> bytes | None:
    """The file's bytes; None when it cannot be read (or is no regular file: a FIFO never blocks)."""
    try:
        return read_regular(path)
    except OSError:
        return None


def unified_diff(changes: list[tuple[str, str]], files: dict[str, bytes], output: str) -> str:
    """One unified diff per changed file (drift()'s `changes`), `a/` being what `output`
    holds and `b/` what the compile writes; binary files and modes get one line each."""
    out: list[str] = []
    for state, path in changes:
        shown = os.path.join(output, path).replace(os.sep, "/")
        on_disk = os.path.join(output, *path.split("/"))
        if state == "mode differs":
            try:
                mode = os.stat(on_disk).st_mode & 0o777
            except OSError:
                continue  # gone since drift() looked
            out.append(f"mode of {shown}: {mode:o} -> {file_mode(path):o}\n")
            continue
        old = b"" if state == "missing" else _read(on_disk)
        if old is None:
            out.append(f"cannot read a/{shown}\n")
            continue
        new = b"" if state == "unexpected" else files[path]
        old_lines, new_lines = _text(old), _text(new)
        a = "/dev/null" if state == "missing" else f"a/{shown}"
        b = "/dev/null" if state == "unexpected" else f"b/{shown}"
        if old_lines is None or new_lines is None:
            out.append(f"Binary files {a} and {b} differ\n")
            continue
        for line in difflib.unified_diff(old_lines, new_lines, a, b):
            out.append(line if line.endswith("\n") else line + "\n\\ No newline at end of file\n")
    return "".join(out)
