"""The SQLite state backend: the engine's tables plus the results and outputs ours adds."""

from __future__ import annotations

import os
import time

from .. import TYPE_CHECKING
from ..errors import ConfigError, StateStoreError
from .base import RunLeaseFile, SqlStateStore, encode_record

if TYPE_CHECKING:  # names for annotations only: importing typing slows every start
    from typing import Any, List, Optional, Tuple

    from .base import JobRow, StepRow

# The columns this store reads and writes, per table: a table of that name without them
# belongs to another program's database.
SQLITE_COLUMNS = (
    ("job_runs", ("job_id", "run_id", "status", "updated_at")),
    ("step_runs", ("job_id", "run_id", "step_id", "status", "updated_at")),
    ("locks", ("key", "owner", "expires_at")),
    ("af_locks", ("key", "owner", "expires_at")),
    ("af_runs", ("run_id", "flow_id", "status", "started_at", "updated_at")),
    (
        "af_step_results",
        ("job_id", "run_id", "step_id", "result_json", "promoted_json"),
    ),
    ("af_job_outputs", ("job_id", "run_id", "outputs_json", "skip_reason")),
)


class SqliteState(SqlStateStore):
    kind = "sqlite"
    run_order = "rowid"
    lease: Optional[RunLeaseFile] = None

    def __init__(self, path: str) -> None:
        self.path = path
        parent = os.path.dirname(os.path.abspath(path))
        os.makedirs(parent, exist_ok=True)
        import sqlite3

        self.conn = sqlite3.connect(path, timeout=30, isolation_level=None)
        # Before anything is written (WAL mode, tables): refuse another program's database.
        for table, columns in SQLITE_COLUMNS:
            found = [
                row[1] for row in self.conn.execute("PRAGMA table_info(%s)" % table)
            ]
            missing = [name for name in columns if name not in found]
            if found and missing:
                self.conn.close()
                raise ConfigError(
                    "the sqlite state store %s is another program's database: its table %s "
                    "lacks the columns %s (it has %s); nothing was written to it: point "
                    "state.path at a file of its own"
                    % (path, table, ", ".join(missing), ", ".join(found))
                )
        # Switching a new database to WAL can fail at once with "database is locked" when
        # other runs open it at the same moment (the busy timeout does not always apply).
        deadline = time.monotonic() + 30
        while True:
            try:
                self.conn.execute("PRAGMA journal_mode=WAL")
                break
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) or time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        self.conn.execute("PRAGMA synchronous=NORMAL")
        with self._tx() as c:
            c.execute(
                "CREATE TABLE IF NOT EXISTS job_runs(job_id TEXT NOT NULL, run_id TEXT NOT NULL,"
                " status TEXT NOT NULL, updated_at INTEGER NOT NULL, PRIMARY KEY(job_id, run_id))"
            )
            c.execute(
                "CREATE TABLE IF NOT EXISTS step_runs(job_id TEXT NOT NULL, run_id TEXT NOT NULL,"
                " step_id TEXT NOT NULL, status TEXT NOT NULL, updated_at INTEGER NOT NULL,"
                " PRIMARY KEY(job_id, run_id, step_id))"
            )
            c.execute(
                "CREATE TABLE IF NOT EXISTS locks(key TEXT PRIMARY KEY, owner TEXT NOT NULL,"
                " expires_at INTEGER NOT NULL)"
            )
            # The artifact's own flow and job locks, apart from the engine's `locks`
            # (with_lock keys): a store of an older artifact gets it here, in place.
            c.execute(
                "CREATE TABLE IF NOT EXISTS af_locks(key TEXT PRIMARY KEY, owner TEXT NOT NULL,"
                " expires_at INTEGER NOT NULL)"
            )
            c.execute(
                "CREATE TABLE IF NOT EXISTS af_runs(run_id TEXT PRIMARY KEY, flow_id TEXT NOT NULL,"
                " status TEXT NOT NULL, started_at INTEGER NOT NULL, updated_at INTEGER NOT NULL)"
            )
            c.execute(
                "CREATE TABLE IF NOT EXISTS af_step_results(job_id TEXT NOT NULL, run_id TEXT NOT NULL,"
                " step_id TEXT NOT NULL, result_json TEXT NOT NULL, promoted_json TEXT NOT NULL,"
                " PRIMARY KEY(job_id, run_id, step_id))"
            )
            c.execute(
                "CREATE TABLE IF NOT EXISTS af_job_outputs(job_id TEXT NOT NULL, run_id TEXT NOT NULL,"
                " outputs_json TEXT NOT NULL, skip_reason TEXT, PRIMARY KEY(job_id, run_id))"
            )

    def _tx(self) -> "_Transaction":
        return _Transaction(self.conn, self.path)

    def close(self) -> None:
        self.conn.close()
        if self.lease is not None:
            self.lease.release()
            self.lease = None

    # -- the run lease: <database>-run-<run_id>.lease beside the database ---------------
    def lease_run(self, run_id: str, flow_id: str) -> None:
        lease = RunLeaseFile("%s-run-%s.lease" % (self.path, run_id))
        lease.acquire(run_id, flow_id)
        self.lease = lease

    # -- runs ------------------------------------------------------------------------
    def start_run(self, run_id: str, flow_id: str) -> None:
        now = int(time.time())
        with self._tx() as c:
            # INSERT OR IGNORE + UPDATE rather than an upsert: SQLite before 3.24 has none.
            c.execute(
                "INSERT OR IGNORE INTO af_runs(run_id, flow_id, status, started_at, updated_at)"
                " VALUES (?,?,?,?,?)",
                (run_id, flow_id, "RUNNING", now, now),
            )
            c.execute(
                "UPDATE af_runs SET status=?, updated_at=? WHERE run_id=?",
                ("RUNNING", now, run_id),
            )

    def finish_run(self, run_id: str, status: str) -> None:
        with self._tx() as c:
            c.execute(
                "UPDATE af_runs SET status=?, updated_at=? WHERE run_id=?",
                (status, int(time.time()), run_id),
            )

    # -- jobs and steps ------------------------------------------------------------------
    def _put_job(self, job_id: str, run_id: str, row: JobRow) -> None:
        status, outputs, skip_reason = row
        now = int(time.time())
        with self._tx() as c:
            c.execute(
                "INSERT OR REPLACE INTO job_runs(job_id, run_id, status, updated_at) VALUES (?,?,?,?)",
                (job_id, run_id, status, now),
            )
            c.execute(
                "INSERT OR REPLACE INTO af_job_outputs(job_id, run_id, outputs_json, skip_reason)"
                " VALUES (?,?,?,?)",
                (job_id, run_id, encode_record(outputs), skip_reason),
            )

    def _put_step(self, job_id: str, run_id: str, step_id: str, row: StepRow) -> None:
        status, result, promoted = row
        now = int(time.time())
        with self._tx() as c:
            c.execute(
                "INSERT OR REPLACE INTO step_runs(job_id, run_id, step_id, status, updated_at)"
                " VALUES (?,?,?,?,?)",
                (job_id, run_id, step_id, status, now),
            )
            c.execute(
                "INSERT OR REPLACE INTO af_step_results(job_id, run_id, step_id, result_json, promoted_json)"
                " VALUES (?,?,?,?,?)",
                (
                    job_id,
                    run_id,
                    step_id,
                    encode_record(result),
                    encode_record(promoted),
                ),
            )

    def _rows(self, sql: str, args: Tuple[Any, ...]) -> List[Any]:
        return self.conn.execute(sql, args).fetchall()

    # -- locks: the engine's `locks` table, or `af_locks` for the artifact's own --------
    def acquire_lock(
        self, key: str, owner: str, ttl_seconds: int, own: bool = False
    ) -> bool:
        table = "af_locks" if own else "locks"
        now = int(time.time())
        with self._tx() as c:
            c.execute("DELETE FROM %s WHERE expires_at <= ?" % table, (now,))
            row = c.execute(
                "SELECT owner FROM %s WHERE key=?" % table, (key,)
            ).fetchone()
            if row and row[0] != owner:
                return False
            c.execute(
                "INSERT OR REPLACE INTO %s(key, owner, expires_at) VALUES (?,?,?)"
                % table,
                (key, owner, now + int(ttl_seconds)),
            )
            return True

    def renew_lock(
        self, key: str, owner: str, ttl_seconds: int, own: bool = False
    ) -> None:
        with self._tx() as c:
            c.execute(
                "UPDATE %s SET expires_at=? WHERE key=? AND owner=?"
                % ("af_locks" if own else "locks"),
                (int(time.time()) + int(ttl_seconds), key, owner),
            )

    def release_lock(self, key: str, owner: str, own: bool = False) -> None:
        with self._tx() as c:
            c.execute(
                "DELETE FROM %s WHERE key=? AND owner=?"
                % ("af_locks" if own else "locks"),
                (key, owner),
            )


class _Transaction:
    """BEGIN IMMEDIATE ... COMMIT (ROLLBACK on error) on an autocommit connection."""

    def __init__(self, conn: Any, path: str) -> None:
        self.conn = conn
        self.path = path

    def __enter__(self) -> Any:
        import sqlite3

        try:
            self.conn.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as exc:
            raise _failed(self.path, exc) from None
        return self.conn

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        import sqlite3

        try:
            self.conn.execute("ROLLBACK" if exc_type else "COMMIT")
        except sqlite3.Error as error:
            if exc_type is None:
                raise _failed(self.path, error) from None
        if exc_type is not None and issubclass(exc_type, sqlite3.Error):
            raise _failed(self.path, exc) from None


def _failed(path: str, exc: BaseException) -> StateStoreError:
    return StateStoreError(
        "the sqlite state store %s cannot record the run: %s" % (path, exc)
    )
