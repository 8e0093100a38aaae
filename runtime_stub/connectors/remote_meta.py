"""RemoteFileMeta: a remote file as the engine's remote connectors describe it.

The built-in sftp and smb connectors return these from `list()`, as the engine's do, so
plugin steps written for the engine can read `.path`, `.is_dir` or `dataclasses.replace`
them; the built-in list steps turn them into mappings with the same keys (outputs are
stored as JSON). aetherflow.core.api exports the same class.
"""

from __future__ import annotations

import dataclasses

from .. import TYPE_CHECKING

if TYPE_CHECKING:  # names for annotations only: importing typing slows every start
    from typing import Any, Optional


@dataclasses.dataclass(frozen=True)
class RemoteFileMeta:
    """The engine's fields, order and defaults (frozen: hashable, comparable)."""

    rel_path: Optional[str] = None
    path: Optional[str] = None
    name: Optional[str] = None
    is_dir: Optional[bool] = False
    size: Optional[int] = None
    mtime: Optional[float] = None
    sha256: Optional[str] = None


def remote_file(
    path: str, name: str, is_dir: bool, size: Any, mtime: Any, rel_path: Any = None
) -> RemoteFileMeta:
    return RemoteFileMeta(rel_path, path, name, is_dir, size, mtime)
