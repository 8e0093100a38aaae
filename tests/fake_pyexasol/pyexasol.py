"""A stand-in for pyexasol, Exasol's driver, for tests that cannot have an Exasol server.

It has the part of pyexasol's API that connectors use: connect(**options) refuses the
arguments pyexasol's ExaConnection refuses; execute(query, query_params=None) returns a
statement with fetchone, fetchmany (default size 10000), fetchall, iteration, rowcount(),
columns() (a dict of column name -> data type, as pyexasol returns), column_names() and
close(). Values come as pyexasol gives them without a fetch mapper: DECIMAL(18,0) as int,
other decimals and dates as strings.

Every call is appended as one JSON line to the file named by $FAKE_PYEXASOL_LOG. Every
query returns the same table; a query containing FAIL raises ExaQueryError. With
$FAKE_PYEXASOL_COLUMNS=list, columns() returns a list of mappings with a name each, the
shape the engine's connector reads types from.
"""

import json
import os

__version__ = "0.0-fake"

# The keyword arguments of pyexasol.ExaConnection (1.x).
CONNECT_ARGUMENTS = {
    "dsn",
    "user",
    "password",
    "schema",
    "autocommit",
    "snapshot_transactions",
    "connection_timeout",
    "socket_timeout",
    "query_timeout",
    "compression",
    "encryption",
    "fetch_dict",
    "fetch_mapper",
    "fetch_size_bytes",
    "lower_ident",
    "quote_ident",
    "json_lib",
    "verbose_error",
    "debug",
    "debug_logdir",
    "udf_output_bind_address",
    "udf_output_connect_address",
    "udf_output_dir",
    "http_proxy",
    "resolve_hostnames",
    "client_name",
    "client_version",
    "client_os_username",
    "protocol_version",
    "websocket_sslopt",
    "access_token",
    "refresh_token",
}

COLUMNS = [
    ("ID", {"type": "DECIMAL", "precision": 18, "scale": 0}),
    ("CUSTOMER", {"type": "VARCHAR", "size": 100, "characterSet": "UTF8"}),
    ("AMOUNT", {"type": "DECIMAL", "precision": 10, "scale": 2}),
    ("DAY", {"type": "DATE", "size": 4}),
    ("NOTE", {"type": "VARCHAR", "size": 200, "characterSet": "UTF8"}),
]
ROWS = [
    (1, "Ada", "12.50", "2026-01-02", None),
    (2, "Boé", "3.00", "2026-01-03", "tab\there"),
    (3, "Cy", "7.25", "2026-01-04", 'quote "x", comma'),
]


def _log(call, **details):
    with open(os.environ["FAKE_PYEXASOL_LOG"], "a", encoding="utf-8") as fh:
        fh.write(json.dumps({"call": call, **details}, sort_keys=True) + "\n")


class ExaError(Exception):
    pass


class ExaQueryError(ExaError):
    def __init__(self, query, code, message):
        super().__init__(f"({code}) {message}")
        self.query = query
        self.code = code


class ExaStatement:
    def __init__(self, connection, query, query_params):
        self.connection = connection
        self.query = query
        self.query_params = query_params
        self.is_closed = False
        self._rows = list(ROWS)
        self._pos = 0

    def __iter__(self):
        _log("statement.iter")
        return self

    def __next__(self):
        row = self.fetchone()
        if row is None:
            raise StopIteration
        return row

    def fetchone(self):
        if self._pos >= len(self._rows):
            return None
        self._pos += 1
        return self._rows[self._pos - 1]

    def fetchmany(self, size=10000):
        _log("statement.fetchmany", size=size)
        rows = self._rows[self._pos : self._pos + size]
        self._pos += len(rows)
        return rows

    def fetchall(self):
        _log("statement.fetchall")
        rows = self._rows[self._pos :]
        self._pos = len(self._rows)
        return rows

    def rowcount(self):
        return len(self._rows)

    def columns(self):
        if os.environ.get("FAKE_PYEXASOL_COLUMNS") == "list":
            return [dict(meta, name=name) for name, meta in COLUMNS]
        return {name: dict(meta) for name, meta in COLUMNS}

    def column_names(self):
        return [name for name, _meta in COLUMNS]

    def close(self):
        _log("statement.close")
        self.is_closed = True


class ExaConnection:
    def __init__(self, **options):
        unknown = sorted(set(options) - CONNECT_ARGUMENTS)
        if unknown:
            raise TypeError(
                f"ExaConnection.__init__() got an unexpected keyword argument {unknown[0]!r}"
            )
        self.options = options
        self.is_closed = False

    def execute(self, query, query_params=None):
        _log("execute", query=query, query_params=query_params)
        if "FAIL" in query:
            raise ExaQueryError(query, "42000", "syntax error, unexpected FAIL")
        return ExaStatement(self, query, query_params)

    def close(self):
        _log("connection.close")
        self.is_closed = True


def connect(**kwargs):
    _log("connect", kwargs=kwargs)
    return ExaConnection(**kwargs)
