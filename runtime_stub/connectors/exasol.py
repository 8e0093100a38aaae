"""db:exasol with pyexasol on the host. pyexasol is not DB-API: a connection's
execute(sql, params) returns a statement with fetchmany/fetchall (or iteration), and
its column names come from whichever of the statement's accessors the installed version
has. One connection per run, closed when the run ends, as with the engine.

config: dsn, user, password (required), schema (opened after connecting when set).
options: connect_args, beyond the engine: more keyword arguments for pyexasol.connect()
(connection_timeout, socket_timeout, query_timeout, encryption, ...). The engine's
options.timeout is refused with a message: pyexasol.connect() has no such argument.
"""

from __future__ import annotations

from .. import TYPE_CHECKING
from . import ConnectorError, KeptConnection, register_connector, require_package
from .sqlite import DbConnector, infer_types

if TYPE_CHECKING:  # names for annotations only: importing typing slows every start
    from typing import Any, Iterator, List, Optional, Tuple


def _exasol_declared_type(declared: Optional[str], scale: Optional[int]) -> type:
    """The Python type of a column from its declared SQL type (object when unknown)."""
    import datetime
    import decimal

    if isinstance(scale, int) and not isinstance(scale, bool):
        return int if scale == 0 else decimal.Decimal
    text = (declared or "").lower()
    rules = (
        (("bool",), bool),
        (("timestamp", "datetime"), datetime.datetime),
        (("date",), datetime.date),
        (("int",), int),
        (("decimal", "number", "numeric"), decimal.Decimal),
        (("float", "double", "real"), float),
        (("binary", "blob", "bytea"), bytes),
        (("char", "text", "string"), str),
    )
    for words, python_type in rules:
        if any(word in text for word in words):
            return python_type
    return object


def _exasol_typed_columns(statement: Any) -> Optional[Tuple[List[str], List[type]]]:
    """(names, types) when statement.columns() lists one mapping per column."""
    columns = getattr(statement, "columns", None)
    if not callable(columns):
        return None
    try:
        meta = columns()
    except Exception:
        return None
    if not (isinstance(meta, list) and meta and isinstance(meta[0], dict)):
        return None
    names: List[str] = []
    types: List[type] = []
    for column in meta:
        if not column.get("name"):
            continue
        declared = None
        for key in ("type_name", "type", "sql_type", "data_type"):
            if column.get(key) is not None:
                declared = str(column[key])
                break
        scale = column.get("scale")
        names.append(str(column["name"]))
        types.append(
            _exasol_declared_type(declared, scale if isinstance(scale, int) else None)
        )
    return (names, types) if names else None


def _exasol_column_names(statement: Any) -> List[str]:
    """Column names from the first accessor that gives some: columns() (mappings or
    names), column_names() and its spellings, description, or a meta mapping."""
    columns = getattr(statement, "columns", None)
    if callable(columns):
        try:
            meta = columns()
            if isinstance(meta, list) and meta:
                if isinstance(meta[0], dict) and "name" in meta[0]:
                    names = [str(c["name"]) for c in meta if c.get("name")]
                    if names:
                        return names
                if isinstance(meta[0], str):
                    return [str(c) for c in meta]
        except Exception:
            pass
    for attribute in ("colnames", "column_names", "columns_names", "names"):
        if hasattr(statement, attribute):
            try:
                value = getattr(statement, attribute)
                value = value() if callable(value) else value
                names = [str(c) for c in value if c is not None]
                if names:
                    return names
            except Exception:
                pass
    try:
        description = getattr(statement, "description", None)
        if description:
            names = [str(d[0]) for d in description if d and len(d) > 0]
            if names:
                return names
    except Exception:
        pass
    for attribute in ("meta", "metadata", "query_meta"):
        meta = getattr(statement, attribute, None)
        if not isinstance(meta, dict):
            continue
        for key in ("columns", "cols", "column_names"):
            if isinstance(meta.get(key), list):
                names = [
                    str(c.get("name") if isinstance(c, dict) else c) for c in meta[key]
                ]
                names = [n for n in names if n and n != "None"]
                if names:
                    return names
    return []


def _exasol_release(statement: Any) -> None:
    """Close a statement with the first of close/free/drop it has; errors are ignored."""
    for method in ("close", "free", "drop"):
        release = getattr(statement, method, None)
        if callable(release):
            try:
                release()
            except Exception:
                pass
            return


def _exasol_rows(statement: Any, fetch_size: int) -> Iterator[Any]:
    """The statement's rows in batches of fetch_size, however this version offers them."""
    fetchmany = getattr(statement, "fetchmany", None)
    if callable(fetchmany):

        def batches() -> Iterator[Any]:
            while True:
                batch = fetchmany(fetch_size)
                if not batch:
                    return
                for row in batch:
                    yield row

        return batches()
    if hasattr(statement, "__iter__"):
        return iter(statement)
    fetchall = getattr(statement, "fetchall", None)
    if callable(fetchall):
        return iter(fetchall() or [])
    raise ConnectorError(
        "db:exasol: the pyexasol statement offers neither fetchmany, iteration nor fetchall"
    )


@register_connector("db", "exasol")
class ExasolConnector(KeptConnection, DbConnector):
    def connect_raw(self) -> Any:
        """The run's pyexasol connection, opened on first use."""
        if self._conn is not None:
            return self._conn
        pyexasol = require_package("pyexasol", "pyexasol", "db:exasol")
        for key in ("dsn", "user", "password"):
            if self.config.get(key) is None:
                raise ConnectorError(
                    "db:exasol resource %s needs config.%s" % (self.name, key)
                )
        if self.options.get("timeout") is not None:
            # The engine passes timeout=..., which pyexasol.connect() refuses.
            raise ConnectorError(
                "db:exasol resource %s: pyexasol has no 'timeout' argument; set "
                "options.connect_args.connection_timeout, socket_timeout or "
                "query_timeout instead" % self.name
            )
        kwargs = dict(self.options.get("connect_args") or {})
        kwargs["dsn"] = self.config["dsn"]
        kwargs["user"] = self.config["user"]
        kwargs["password"] = self.config["password"]
        if self.config.get("schema"):  # never schema=None
            kwargs["schema"] = self.config["schema"]
        self._conn = pyexasol.connect(**kwargs)
        return self._conn

    def connect(self) -> Any:
        """`with db.connect() as conn:` the run's connection (it stays open after)."""
        import contextlib

        return contextlib.nullcontext(self.connect_raw())

    def close(self) -> None:
        if self._conn is not None:
            try:
                self._conn.close()
            except Exception:
                pass  # as the engine: closing at the end of a run is best effort
            self._conn = None

    def execute(self, sql: str, params: Optional[Any] = None) -> int:
        statement = self.connect_raw().execute(sql, params or {})
        try:
            count = getattr(statement, "rowcount", None)
            return int((count() if callable(count) else count) or 0)
        except Exception:
            return 0
        finally:
            _exasol_release(statement)

    def read(
        self, sql: str, params: Optional[Any] = None
    ) -> Tuple[List[str], List[Tuple[Any, ...]]]:
        statement = self.connect_raw().execute(sql, params or {})
        try:
            columns = _exasol_column_names(statement)
            fetchall = getattr(statement, "fetchall", None)
            rows = [
                tuple(r)
                for r in ((fetchall() or []) if callable(fetchall) else statement)
            ]
            if not columns and rows:
                columns = ["col_%d" % (i + 1) for i in range(len(rows[0]))]
            return columns, rows
        finally:
            _exasol_release(statement)

    def _stream(
        self, sql: str, params: Any, fetch_size: int, sample_size: int
    ) -> Tuple[List[str], Iterator[Any], List[type]]:
        """(columns, rows iterator, python types): types from the statement's column
        metadata when it has some, else from the first `sample_size` rows."""
        statement = self.connect_raw().execute(
            sql, dict(params) if isinstance(params, dict) else (params or {})
        )
        try:
            typed = _exasol_typed_columns(statement)
            columns, types = typed if typed else (_exasol_column_names(statement), [])
            rows = _exasol_rows(statement, int(fetch_size))
            sample: List[Tuple[Any, ...]] = []
            if not types:
                for row in rows:
                    sample.append(tuple(row))
                    if len(sample) >= sample_size:
                        break
                if not columns and sample:
                    columns = ["col_%d" % (i + 1) for i in range(len(sample[0]))]
                types = infer_types(columns, sample)
            if columns and len(types) != len(columns):
                types = (types + [object] * len(columns))[: len(columns)]
        except BaseException:
            _exasol_release(statement)
            raise

        def stream() -> Iterator[Any]:
            try:
                for row in sample:
                    yield row
                for row in rows:
                    yield tuple(row)
            finally:
                _exasol_release(statement)

        return columns, stream(), types
