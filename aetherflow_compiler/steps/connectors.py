"""The connector types (resource kind and driver) the runtime implements."""

from __future__ import annotations

from aetherflow_compiler.steps.types import ConnectorType

_SQLALCHEMY = (("sqlalchemy", "sqlalchemy"),)

BUILTIN_CONNECTORS = [
    ConnectorType("db", "sqlite3", "connectors.sqlite"),
    ConnectorType("db", "duckdb", "connectors.db_drivers", (("duckdb", "duckdb"),)),
    ConnectorType("db", "sqlalchemy", "connectors.db_drivers", _SQLALCHEMY),
    ConnectorType("db", "postgres", "connectors.db_drivers", _SQLALCHEMY),
    ConnectorType("db", "mysql", "connectors.db_drivers", _SQLALCHEMY),
    ConnectorType("db", "oracledb", "connectors.db_drivers", (("oracledb", "oracledb"),)),
    ConnectorType("db", "exasol", "connectors.exasol", (("pyexasol", "pyexasol"),)),
    ConnectorType("mail", "smtp", "connectors.smtp"),
    ConnectorType("archive", "zipfile", "connectors.archive"),
    ConnectorType("archive", "pyzipper", "connectors.archive", (("pyzipper", "pyzipper"),)),
    ConnectorType("archive", "os", "connectors.archive", programs="the programs `zip` and `unzip`"),
    ConnectorType("archive", "pyminizip", "connectors.archive", (("pyminizip", "pyminizip"),)),
    ConnectorType(
        "archive", "external", "connectors.archive", programs="the programs its config names"
    ),
    ConnectorType("sftp", "paramiko", "connectors.sftp", (("paramiko", "paramiko"),)),
    ConnectorType("smb", "smbclient", "connectors.smb", (("smbclient", "smbprotocol"),)),
    ConnectorType("smb", "pysmb", "connectors.smb", (("smb", "pysmb"),)),
    ConnectorType("rest", "httpx", "connectors.rest", (("httpx", "httpx"),)),
]
