"""A content-hash cache, so that files which did not change cost nothing to compile again.

Entries are keyed by the sha256 of everything that decides them: the compiler's own code
(every file of the installed package, so an edited compiler never reads stale entries),
the source bytes, the name the source is shown under, the profiles file, and, for
generated scripts, the vendored runtime and the options. Entries are small JSON or text
files written atomically; a damaged or missing entry is simply a miss.

Location: $AETHERFLOW_CACHE_DIR, else $XDG_CACHE_HOME/aetherflow-compiler, else
~/.cache/aetherflow-compiler.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
from functools import cache
from typing import Any

from aetherflow_compiler import __version__, package_data

_PACKAGES = ("aetherflow_compiler", package_data.RUNTIME, package_data.TEMPLATES)


@cache
def compiler_fingerprint() -> str:
    """sha256 over the compiler's code, schemas, templates and runtime sources."""
    digest = hashlib.sha256(__version__.encode())
    for package in _PACKAGES:
        for rel, data in package_data.walk(package, (".py", ".json", ".j2", ".sh")):
            digest.update(f"{package}/{rel}".encode() + b"\0" + data + b"\0")
    return digest.hexdigest()


def cache_dir() -> str:
    explicit = os.environ.get("AETHERFLOW_CACHE_DIR")
    if explicit:
        return explicit
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "aetherflow-compiler")


def key(*parts: bytes | str) -> str:
    """sha256 over `parts`, each length-prefixed. Text is UTF-8, lone surrogates included
    (a file name that is not UTF-8 reaches Python as one), so that every text has a key."""
    digest = hashlib.sha256()
    for part in parts:
        data = part.encode("utf-8", "surrogatepass") if isinstance(part, str) else part
        digest.update(len(data).to_bytes(8, "big") + data)
    return digest.hexdigest()


class CompileCache:
    def __init__(self, root: str | None = None, enabled: bool = True) -> None:
        self.root = os.path.join(root or cache_dir(), "v1")
        self.enabled = enabled

    def _path(self, kind: str, digest: str, suffix: str) -> str:
        return os.path.join(self.root, kind, digest[:2], digest + suffix)

    def get_json(self, kind: str, digest: str) -> dict[str, Any] | None:
        if not self.enabled:
            return None
        try:
            with open(self._path(kind, digest, ".json"), "rb") as fh:
                value = json.loads(fh.read().decode("utf-8", "surrogatepass"))
        except (OSError, ValueError):  # UnicodeDecodeError too: a damaged entry is a miss
            return None
        return value if isinstance(value, dict) else None

    def put_json(self, kind: str, digest: str, value: dict[str, Any]) -> None:
        self._put(
            self._path(kind, digest, ".json"), json.dumps(value, ensure_ascii=False, sort_keys=True)
        )

    def get_text(self, kind: str, digest: str) -> str | None:
        if not self.enabled:
            return None
        try:
            with open(self._path(kind, digest, ".txt"), "rb") as fh:
                data = fh.read()
        except OSError:
            return None
        try:  # the text exactly as put: no newline translation (a "\r" in a value stays one)
            return data.decode("utf-8", "surrogatepass")
        except UnicodeDecodeError:
            return None  # a damaged entry is a miss

    def put_text(self, kind: str, digest: str, text: str) -> None:
        self._put(self._path(kind, digest, ".txt"), text.encode("utf-8", "surrogatepass"))

    def get_bytes(self, kind: str, digest: str) -> bytes | None:
        if not self.enabled:
            return None
        try:
            with open(self._path(kind, digest, ".bin"), "rb") as fh:
                return fh.read()
        except OSError:
            return None

    def put_bytes(self, kind: str, digest: str, data: bytes) -> None:
        self._put(self._path(kind, digest, ".bin"), data)

    def _put(self, path: str, data: str | bytes) -> None:
        if not self.enabled:
            return
        tmp = None
        try:
            os.makedirs(os.path.dirname(path), exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=os.path.dirname(path), suffix=".tmp")
            with os.fdopen(fd, "wb") as fh:
                fh.write(data.encode("utf-8", "surrogatepass") if isinstance(data, str) else data)
            os.replace(tmp, path)
        except (
            OSError
        ):  # a cache that cannot be written (read-only, full, not a folder) is only a slower compile
            if tmp is not None:
                with contextlib.suppress(OSError):
                    os.unlink(tmp)
