"""db:sqlite3 with the standard library: `config.path`, or `config.url` as sqlite:///path."""

from __future__ import annotations

from .. import TYPE_CHECKING
from . import ConnectorBase, ConnectorError, register_connector

if TYPE_CHECKING:  # names for annotations only: importing typing slows every start
    from typing import Any, Iterator, List, Optional, Tuple


def infer_types(columns: List[str], sample: List[Tuple[Any, ...]]) -> List[type]:
    """Python type per column: the type of its first non-null value in the sample."""
    types: List[type] = []
    for index in range(len(columns)):
        found: type = object
        for row in sample:
            if index < len(row) and row[index] is not None:
                found = type(row[index])
                break
        types.append(found)
    return types


def fetch_stream(
    cursor: Any, close: Any, fetch_size: int, sample_size: int
) -> Tuple[List[str], Iterator[Any], List[type]]:
    """(columns, rows iterator, python types) over an executed DB-API cursor."""
    columns = [d[0] for d in cursor.description] if cursor.description else []
    sample: List[Tuple[Any, ...]] = []
    while len(sample) < sample_size:
        batch = cursor.fetchmany(min(fetch_size, sample_size - len(sample)))
        if not batch:
            break
        sample.extend(tuple(r) for r in batch)

    def rows() -> Iterator[Any]:
        try:
            for row in sample:
                yield row
            while True:
                batch = cursor.fetchmany(fetch_size)
                if not batch:
                    return
                for row in batch:
                    yield tuple(row)
        finally:
            close()

    return columns, rows(), infer_types(columns, sample)


class DbConnector(ConnectorBase):
    """What every db connector offers besides execute: read (columns and rows),
    fetchall (the same) and fetchmany (columns, a row iterator and python types, for
    results too big to hold); a driver gives read and _stream, fetchmany's work."""

    def read(
        self, sql: str, params: Optional[Any] = None
    ) -> Tuple[List[str], List[Tuple[Any, ...]]]:
        raise NotImplementedError

    def fetchall(
        self, sql: str, params: Optional[Any] = None
    ) -> Tuple[List[str], List[Tuple[Any, ...]]]:
        return self.read(sql, params)

    def fetchmany(
        self,
        sql: str,
        params: Optional[Any],
        *,
        fetch_size: int,
        sample_size: int = 200,
    ) -> Any:
        return self._stream(sql, params, fetch_size, sample_size)

    def _stream(self, sql: str, params: Any, fetch_size: int, sample_size: int) -> Any:
        raise NotImplementedError


class DbApiConnector(DbConnector):
    """read/fetchall/fetchmany over a DB-API connection from `connect()`: one connection
    per query, closed when its rows are consumed. Subclasses may keep one connection per
    run by overriding `open_cursor`."""

    def connect(self) -> Any:
        raise NotImplementedError

    def open_cursor(
        self, sql: str, params: Optional[Any], fetch_size: int = 0
    ) -> Tuple[Any, Any]:
        """(executed cursor, function that releases it)."""
        conn = self.connect()
        try:
            cursor = conn.cursor()
            if fetch_size:
                cursor.arraysize = fetch_size
            cursor.execute(sql, params or {})
        except BaseException:
            conn.close()
            raise
        return cursor, conn.close

    def read(
        self, sql: str, params: Optional[Any] = None
    ) -> Tuple[List[str], List[Tuple[Any, ...]]]:
        cursor, release = self.open_cursor(sql, params)
        try:
            columns = [d[0] for d in cursor.description] if cursor.description else []
            return columns, [tuple(r) for r in cursor.fetchall()]
        finally:
            release()

    def _stream(self, sql: str, params: Any, fetch_size: int, sample_size: int) -> Any:
        cursor, release = self.open_cursor(sql, params, fetch_size)
        return fetch_stream(cursor, release, fetch_size, sample_size)


@register_connector("db", "sqlite3")
class SqliteConnector(DbApiConnector):
    def _path(self) -> str:
        url = str(self.config.get("url") or "").strip()
        if url.startswith("sqlite:///"):
            return url[len("sqlite:///") :]
        if url == ":memory:":
            return url
        path = self.config.get("path")
        if path:
            return str(path)
        raise ConnectorError(
            "db:sqlite3 resource %s needs config.path or config.url" % self.name
        )

    def connect(self) -> Any:
        import sqlite3

        return sqlite3.connect(self._path(), check_same_thread=False)

    def execute(self, sql: str, params: Optional[Any] = None) -> int:
        conn = self.connect()
        try:
            with conn:
                return int(conn.execute(sql, params or {}).rowcount)
        finally:
            conn.close()
