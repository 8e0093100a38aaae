"""Connector types (resource kind and driver) the compiler knows."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ConnectorType:
    kind: str
    driver: str
    # Runtime module implementing it; None while the Python target does not support it.
    runtime: str | None = None
    # (import name, pip package) a host needs to use it.
    packages: tuple[tuple[str, str], ...] = ()
    # Registered by a plugin (vendored with the plugin, not from the runtime).
    plugin: bool = False

    @property
    def key(self) -> str:
        return f"{self.kind}:{self.driver}"


_SQLALCHEMY = (("sqlalchemy", "sqlalchemy"),)

BUILTIN_CONNECTORS = [
    ConnectorType("db", "sqlite3", "conn_sqlite"),
    ConnectorType("db", "duckdb", "conn_db_optional", (("duckdb", "duckdb"),)),
    ConnectorType("db", "sqlalchemy", "conn_db_optional", _SQLALCHEMY),
    ConnectorType("db", "postgres", "conn_db_optional", _SQLALCHEMY),
    ConnectorType("db", "mysql", "conn_db_optional", _SQLALCHEMY),
    ConnectorType("db", "oracledb", "conn_db_optional", (("oracledb", "oracledb"),)),
    ConnectorType("db", "exasol"),
    ConnectorType("mail", "smtp", "conn_smtp"),
    ConnectorType("archive", "zipfile", "conn_archive"),
    ConnectorType("archive", "pyzipper", "conn_archive", (("pyzipper", "pyzipper"),)),
    ConnectorType("archive", "os"),
    ConnectorType("archive", "pyminizip"),
    ConnectorType("archive", "external"),
    ConnectorType("sftp", "paramiko", "conn_sftp", (("paramiko", "paramiko"),)),
    ConnectorType("smb", "smbclient", "conn_smb", (("smbclient", "smbprotocol"),)),
    ConnectorType("smb", "pysmb", "conn_smb", (("smb", "pysmb"),)),
    ConnectorType("rest", "httpx"),
]
