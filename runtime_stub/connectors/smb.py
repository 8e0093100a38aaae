"""smb:smbclient (the `smbclient` module of the smbprotocol package) and smb:pysmb (the
pysmb package). One session per resource and run; either package must be on the host.

Config: server, share, username (or user), password, port (445); pysmb also reads
server_name, domain and client_name. Remote paths may be "dir/file", "/dir/file",
"SHARE:/dir/file" (another share), "C:\\dir\\file" (the drive is dropped) or a UNC path
"\\\\host\\share\\dir\\file", as with the engine.
"""

from __future__ import annotations

import re

from .. import TYPE_CHECKING
from . import (
    ConnectorBase,
    ConnectorError,
    KeptConnection,
    register_connector,
    require_package,
)
from .remote_meta import remote_file

if TYPE_CHECKING:  # names for annotations only: importing typing slows every start
    from typing import Any, List, Tuple

_DRIVE = re.compile(r"^[A-Za-z]:(?:[\\/].*)?$")
_UNC = re.compile(r"^\\\\[^\\/]+\\[^\\/]+(?:[\\/].*)?$")
_SHARE_PREFIX = re.compile(r"^([A-Za-z0-9_.-]+):[\\/](.*)$")


def split_share_path(path: str, default_share: Any) -> Tuple[str, str]:
    """(share, path inside the share with '/') for any accepted remote path form."""
    share = default_share
    raw = str(path).strip()
    if _UNC.match(raw):
        parts = raw.lstrip("\\").split("\\", 2)  # host, share, rest
        share = share or parts[1]
        raw = parts[2] if len(parts) == 3 else ""
    match = _SHARE_PREFIX.match(raw)
    if match and len(match.group(1)) != 1:  # "C:/x" is a drive, not a share
        share, raw = match.group(1), match.group(2)
    if _DRIVE.match(raw):
        raw = raw[2:].lstrip("\\/")
    if not share:
        raise ConnectorError(
            "SMB path %r needs a share (set config.share or write SHARE:/path)" % path
        )
    return str(share), raw.lstrip("\\/").replace("\\", "/")


def _parent(path: str) -> str:
    path = path.replace("\\", "/")
    return path.rsplit("/", 1)[0] if "/" in path else ""


@register_connector("smb", "smbclient")
class SmbclientConnector(ConnectorBase):
    _registered = False

    def _smbclient(self) -> Any:
        smbclient = require_package("smbclient", "smbprotocol", "smb:smbclient")
        if not self._registered:
            smbclient.register_session(
                str(self.config["server"]),
                username=self.config.get("username") or self.config.get("user"),
                password=self.config.get("password"),
                port=int(self.config.get("port", 445)),
                connection_timeout=int(self.options.get("timeout", 30) or 30),
            )
            self._registered = True
        return smbclient

    def _unc(self, path: str) -> str:
        raw = str(path).strip()
        if _UNC.match(raw):
            return raw
        share, inner = split_share_path(raw, self.config.get("share"))
        unc = "\\\\%s\\%s" % (self.config["server"], share)
        return unc + ("\\" + inner.replace("/", "\\") if inner else "")

    def list(self, remote_dir: str) -> List[Any]:  # RemoteFileMeta
        out = []
        for entry in self._smbclient().scandir(self._unc(remote_dir)):
            if entry.name in (".", ".."):
                continue
            is_dir = entry.is_dir()
            info = entry.stat()
            out.append(
                remote_file(
                    entry.path,
                    entry.name,
                    is_dir,
                    None if is_dir else info.st_size,
                    int(info.st_mtime) if info else None,
                )
            )
        return out

    def download(self, remote_path: str, local_path: str) -> None:
        import shutil

        smbclient = self._smbclient()
        with smbclient.open_file(self._unc(remote_path), mode="rb") as src:
            with open(local_path, "wb") as dst:
                shutil.copyfileobj(src, dst)

    def upload(self, local_path: str, remote_path: str) -> None:
        import shutil

        smbclient = self._smbclient()
        self.mkdir_recursive(_parent(remote_path))
        with open(local_path, "rb") as src:
            with smbclient.open_file(self._unc(remote_path), mode="wb") as dst:
                shutil.copyfileobj(src, dst)

    def delete(self, remote_path: str) -> None:
        smbclient = self._smbclient()
        try:
            smbclient.remove(self._unc(remote_path))
        except OSError:
            smbclient.rmdir(self._unc(remote_path))

    def mkdir(self, remote_dir: str) -> None:
        self._smbclient().mkdir(self._unc(remote_dir))

    def mkdir_recursive(self, remote_dir: str) -> None:
        if not remote_dir:
            return
        smbclient = self._smbclient()
        share, inner = split_share_path(remote_dir, self.config.get("share"))
        current = ""
        for part in [p for p in inner.split("/") if p]:
            current = "%s/%s" % (current, part) if current else part
            try:
                smbclient.mkdir(self._unc("%s:/%s" % (share, current)))
            except OSError:
                pass  # it exists


@register_connector("smb", "pysmb")
class PysmbConnector(KeptConnection):
    def _connection(self) -> Any:
        if self._conn is not None:
            return self._conn
        module = require_package("smb.SMBConnection", "pysmb", "smb:pysmb")
        server = str(self.config.get("server") or "").strip()
        if not server:
            raise ConnectorError(
                "smb:pysmb resource %s needs config.server" % self.name
            )
        conn = module.SMBConnection(
            self.config.get("username") or self.config.get("user") or "",
            self.config.get("password") or "",
            str(self.config.get("client_name") or "aetherflow"),
            str(self.config.get("server_name") or server),
            domain=self.config.get("domain") or "",
            use_ntlm_v2=True,
            is_direct_tcp=True,
        )
        port = int(self.config.get("port", 445))
        if not conn.connect(server, port):
            raise ConnectorError("smb:pysmb cannot connect to %s:%d" % (server, port))
        self._conn = conn
        return conn

    def _split(self, path: str) -> Tuple[str, str]:
        return split_share_path(path, self.config.get("share"))

    def list(self, remote_dir: str) -> List[Any]:  # RemoteFileMeta
        share, inner = self._split(remote_dir)
        out = []
        for entry in self._connection().listPath(share, "/" + inner):
            name = getattr(entry, "filename", None)
            if not name or name in (".", ".."):
                continue
            is_dir = bool(getattr(entry, "isDirectory", False))
            out.append(
                remote_file(
                    "%s/%s" % (remote_dir.rstrip("/"), name),
                    name,
                    is_dir,
                    None if is_dir else getattr(entry, "file_size", None),
                    getattr(entry, "last_write_time", None),
                )
            )
        return out

    def download(self, remote_path: str, local_path: str) -> None:
        share, inner = self._split(remote_path)
        with open(local_path, "wb") as fh:
            self._connection().retrieveFile(share, "/" + inner, fh)

    def upload(self, local_path: str, remote_path: str) -> None:
        share, inner = self._split(remote_path)
        self.mkdir_recursive("%s:/%s" % (share, _parent(inner)))
        with open(local_path, "rb") as fh:
            self._connection().storeFile(share, "/" + inner, fh)

    def delete(self, remote_path: str) -> None:
        share, inner = self._split(remote_path)
        try:
            self._connection().deleteFiles(share, "/" + inner)
        except Exception:
            self._connection().deleteDirectory(share, "/" + inner)

    def mkdir(self, remote_dir: str) -> None:
        share, inner = self._split(remote_dir)
        self._connection().createDirectory(share, "/" + inner)

    def mkdir_recursive(self, remote_dir: str) -> None:
        share, inner = self._split(remote_dir)
        current = ""
        for part in [p for p in inner.split("/") if p]:
            current = "%s/%s" % (current, part) if current else part
            try:
                self._connection().createDirectory(share, "/" + current)
            except Exception:
                pass  # it exists
