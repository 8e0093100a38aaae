"""Database drivers that need a package on the host: db:duckdb, db:sqlalchemy (also
db:postgres and db:mysql, which take a SQLAlchemy URL) and db:oracledb. When the package
is missing, the step using the resource fails naming the package to install."""

from __future__ import annotations

import json

from .. import TYPE_CHECKING
from . import (
    ConnectorError,
    KeptConnection,
    register_connector,
    require_package,
)
from .sqlite import DbApiConnector, DbConnector, fetch_stream

if TYPE_CHECKING:  # names for annotations only: importing typing slows every start
    from typing import Any, Dict, List, Optional, Tuple


@register_connector("db", "duckdb")
class DuckdbConnector(KeptConnection, DbApiConnector):
    """config: path (default :memory:), read_only; options: extensions to INSTALL and
    LOAD, pragmas to set (both best effort, as the engine). One connection per run."""

    def connect(self) -> Any:
        if self._conn is not None:
            return self._conn
        duckdb = require_package("duckdb", "duckdb", "db:duckdb")
        conn = duckdb.connect(
            database=str(self.config.get("path") or ":memory:"),
            read_only=bool(self.config.get("read_only", False)),
        )
        for extension in self.options.get("extensions") or []:
            for verb in ("INSTALL", "LOAD"):
                try:
                    conn.execute("%s %s" % (verb, extension))
                except Exception:
                    pass  # best effort, as the engine
        for key, value in (self.options.get("pragmas") or {}).items():
            shown = json.dumps(value) if isinstance(value, (dict, list, str)) else value
            try:
                conn.execute("PRAGMA %s=%s" % (key, shown))
            except Exception:
                pass
        self._conn = conn
        return conn

    def open_cursor(
        self, sql: str, params: Optional[Any], fetch_size: int = 0
    ) -> Tuple[Any, Any]:
        cursor = self.connect().cursor()  # the run's connection stays open
        try:
            cursor.execute(sql, params or {})
        except BaseException:
            cursor.close()
            raise
        return cursor, cursor.close


class _SqlAlchemyConnector(DbConnector):
    _engine: Any = None

    def engine(self) -> Any:
        if self._engine is None:
            sqlalchemy = require_package(
                "sqlalchemy", "sqlalchemy", "db:%s" % self.driver
            )
            url = self.config.get("url")
            if not url:
                raise ConnectorError(
                    "db:%s resource %s needs config.url" % (self.driver, self.name)
                )
            pool = self.options.get("pool") or {}
            kwargs: Dict[str, Any] = {
                "connect_args": self.options.get("connect_args") or {},
                "pool_pre_ping": bool(
                    pool.get("pre_ping", self.options.get("pool_pre_ping", True))
                ),
            }
            if not str(url).startswith("sqlite"):  # SQLite's pool takes no sizes
                kwargs["pool_size"] = int(
                    pool.get("size", self.options.get("pool_size", 5))
                )
                kwargs["max_overflow"] = int(
                    pool.get("max_overflow", self.options.get("max_overflow", 10))
                )
                kwargs["pool_recycle"] = int(
                    pool.get("recycle_seconds", self.options.get("pool_recycle", 1800))
                )
            try:
                self._engine = sqlalchemy.create_engine(str(url), **kwargs)
            except ModuleNotFoundError as exc:  # the URL's DBAPI driver
                raise ConnectorError(
                    "db:%s resource %s: the database driver module '%s' is not installed "
                    "on this host (pip install the DBAPI package for this URL)"
                    % (self.driver, self.name, exc.name)
                ) from None
        return self._engine

    def read(
        self, sql: str, params: Optional[Any] = None
    ) -> Tuple[List[str], List[Tuple[Any, ...]]]:
        sqlalchemy = require_package("sqlalchemy", "sqlalchemy", "db:%s" % self.driver)
        with self.engine().connect() as conn:
            result = conn.execute(sqlalchemy.text(sql), params or {})
            return list(result.keys()), [tuple(r) for r in result.fetchall()]

    def _stream(self, sql: str, params: Any, fetch_size: int, sample_size: int) -> Any:
        sqlalchemy = require_package("sqlalchemy", "sqlalchemy", "db:%s" % self.driver)
        conn = self.engine().connect()
        result = conn.execute(sqlalchemy.text(sql), params or {})

        class _Cursor:
            description = [(k,) for k in result.keys()]

            @staticmethod
            def fetchmany(size: int) -> Any:
                return result.fetchmany(size)

        return fetch_stream(_Cursor(), conn.close, fetch_size, sample_size)

    def close(self) -> None:
        if self._engine is not None:
            self._engine.dispose()
            self._engine = None


register_connector("db", "sqlalchemy")(_SqlAlchemyConnector)
register_connector("db", "postgres")(_SqlAlchemyConnector)
register_connector("db", "mysql")(_SqlAlchemyConnector)


@register_connector("db", "oracledb")
class OracleConnector(DbApiConnector):
    def connect(self) -> Any:
        oracledb = require_package("oracledb", "oracledb", "db:oracledb")
        return oracledb.connect(
            user=self.config.get("user"),
            password=self.config.get("password"),
            dsn=self.config.get("dsn"),
        )
