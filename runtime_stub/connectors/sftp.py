"""sftp:paramiko: one SSH session per resource and run, opened on first use and closed
at the end of the run. Needs the `paramiko` package on the host.

Config: host, port (22), user, password or pkey_path (any key type paramiko reads;
pkey_passphrase for an encrypted key), and, beyond the engine, known_hosts: with it the
server's host key must be listed there; without it any host key is accepted, as the
engine does. Options: timeout (30 s).
"""

from __future__ import annotations

import posixpath
import stat

from .. import TYPE_CHECKING
from . import (
    ConnectorBase,
    ConnectorError,
    register_connector,
    require_package,
)
from .remote_meta import remote_file

if TYPE_CHECKING:  # names for annotations only: importing typing slows every start
    from typing import Any, Dict, List


@register_connector("sftp", "paramiko")
class ParamikoSftp(ConnectorBase):
    _ssh: Any = None
    _sftp: Any = None

    def client(self) -> Any:
        """The paramiko SFTPClient of this run."""
        if self._sftp is not None:
            return self._sftp
        paramiko = require_package("paramiko", "paramiko", "sftp:paramiko")
        for key in ("host", "user"):
            if not self.config.get(key):
                raise ConnectorError(
                    "sftp:paramiko resource %s needs config.%s" % (self.name, key)
                )
        ssh = paramiko.SSHClient()
        known_hosts = self.config.get("known_hosts")
        if known_hosts:
            ssh.load_host_keys(str(known_hosts))
            ssh.set_missing_host_key_policy(paramiko.RejectPolicy())
        else:
            ssh.set_missing_host_key_policy(paramiko.AutoAddPolicy())
        kwargs: Dict[str, Any] = {
            "port": int(self.config.get("port", 22)),
            "username": str(self.config["user"]),
            "timeout": float(self.options.get("timeout", 30) or 30),
            "allow_agent": False,
            "look_for_keys": False,
        }
        if self.config.get("pkey_path"):
            kwargs["key_filename"] = str(self.config["pkey_path"])
            if self.config.get("pkey_passphrase"):
                kwargs["passphrase"] = str(self.config["pkey_passphrase"])
        else:
            kwargs["password"] = self.config.get("password")
        try:
            ssh.connect(str(self.config["host"]), **kwargs)
            self._sftp = ssh.open_sftp()
        except Exception as exc:  # the message never holds the password
            ssh.close()
            raise ConnectorError(
                "sftp:paramiko %s: cannot connect to %s (%s: %s)"
                % (self.name, self.config["host"], type(exc).__name__, exc)
            ) from None
        self._ssh = ssh
        return self._sftp

    def close(self) -> None:
        sftp, ssh = self._sftp, self._ssh
        self._sftp = self._ssh = None
        try:
            if sftp is not None:
                sftp.close()
        finally:
            if ssh is not None:
                ssh.close()

    def list(self, remote_dir: str) -> List[Any]:  # RemoteFileMeta
        out = []
        for attr in self.client().listdir_attr(remote_dir):
            if attr.filename in (".", ".."):
                continue
            is_dir = stat.S_ISDIR(attr.st_mode or 0)
            out.append(
                remote_file(
                    "%s/%s" % (remote_dir.rstrip("/"), attr.filename),
                    attr.filename,
                    is_dir,
                    None if is_dir else attr.st_size,
                    int(attr.st_mtime) if attr.st_mtime else None,
                )
            )
        return out

    def download(self, remote_path: str, local_path: str) -> None:
        self.client().get(remote_path, local_path)

    def upload(self, local_path: str, remote_path: str) -> None:
        self.mkdir_recursive(posixpath.dirname(remote_path))
        self.client().put(local_path, remote_path)

    def read_bytes(self, remote_path: str) -> bytes:
        with self.client().open(remote_path, "rb") as fh:
            return bytes(fh.read())

    def write_bytes(self, remote_path: str, data: bytes) -> None:
        self.mkdir_recursive(posixpath.dirname(remote_path))
        with self.client().open(remote_path, "wb") as fh:
            fh.write(data)

    def delete(self, remote_path: str) -> None:
        try:
            self.client().remove(remote_path)
        except IOError:
            self.client().rmdir(remote_path)  # it may be a directory

    def mkdir(self, remote_dir: str) -> None:
        self.client().mkdir(remote_dir)

    def mkdir_recursive(self, remote_dir: str) -> None:
        parts = []
        current = remote_dir
        while current not in ("", "/", "."):
            parts.append(current)
            current = posixpath.dirname(current)
        for path in reversed(parts):
            try:
                self.client().stat(path)
            except IOError:
                self.client().mkdir(path)
