"""A stand-in for the `smbclient` module (smbprotocol), for tests only: no SMB server can
run here. It offers what the runtime's and the engine's smb:smbclient connectors call
(register_session, scandir, open_file) over a local directory: the UNC path
\\\\SERVER\\SHARE\\dir\\file is AF_FAKE_SMB_ROOT/SHARE/dir/file. register_session refuses
a password other than AF_FAKE_SMB_PASSWORD with a message that repeats it, as a careless
driver might, and every call is appended to AF_FAKE_SMB_LOG (one JSON object a line)."""

from __future__ import annotations

import json
import os
import re

_UNC = re.compile(r"^\\\\([^\\/]+)\\([^\\/]+)(?:[\\/](.*))?$")
_sessions: dict[str, str] = {}


def _log(call: str, **data: object) -> None:
    path = os.environ.get("AF_FAKE_SMB_LOG")
    if path:
        with open(path, "a", encoding="utf-8") as fh:
            fh.write(json.dumps({"call": call, **data}) + "\n")


def register_session(server, username=None, password=None, port=445, connection_timeout=60, **_kw):
    _log("register_session", server=server, username=username, port=port)
    if password != os.environ.get("AF_FAKE_SMB_PASSWORD"):
        raise ValueError(f"STATUS_LOGON_FAILURE for {username} with password {password}")
    _sessions[server.lower()] = username or ""


def _local(unc: str) -> str:
    match = _UNC.match(unc)
    if not match:
        raise ValueError(f"not a UNC path: {unc!r}")
    server, share, rest = match.group(1), match.group(2), match.group(3) or ""
    if server.lower() not in _sessions:
        raise ValueError(f"no session registered for {server}")
    parts = [p for p in re.split(r"[\\/]", rest) if p]
    if ".." in parts:
        raise ValueError("'..' in an SMB path")
    return os.path.join(os.environ["AF_FAKE_SMB_ROOT"], share, *parts)


class _Entry:
    def __init__(self, unc_dir: str, entry: os.DirEntry) -> None:
        self.name = entry.name
        self.path = unc_dir.rstrip("\\") + "\\" + entry.name
        self._entry = entry

    def is_dir(self) -> bool:
        return self._entry.is_dir()

    def is_file(self) -> bool:
        return self._entry.is_file()

    def stat(self) -> os.stat_result:
        return self._entry.stat()


def scandir(path: str, **_kw):
    _log("scandir", path=path)
    with os.scandir(_local(path)) as found:
        return [_Entry(path, e) for e in sorted(found, key=lambda e: e.name)]


def open_file(path: str, mode: str = "r", **_kw):
    _log("open_file", path=path, mode=mode)
    if "r" not in mode:
        raise PermissionError("the stand-in is read-only")
    return open(_local(path), mode)
