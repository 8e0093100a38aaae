"""The connector types (resource kind and driver) the runtime implements."""

from __future__ import annotations

from aetherflow_compiler.steps.types import ConnectorType

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
