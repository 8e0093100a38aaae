"""The PostgreSQL state backend, chosen at deploy time by AETHERFLOW_STATE_URL.

Many hosts share one database: the engine's tables (job_runs, step_runs, locks), ours
(af_runs, af_step_results, af_job_outputs, af_locks) and af_schema, its version. Times, lock expiry
above all, come from the database's clock, never a host's: hosts whose clocks disagree
still exclude each other. The driver is psycopg 3 (a host package; `--wheelhouse` vendors
it). A lost connection is retried with backoff for AETHERFLOW_STATE_RETRY_SECONDS (30 by
default); every write is idempotent, so a write that reached the server before the
connection broke is harmless to repeat.
"""

from __future__ import annotations

import os
import socket
import time

from .. import TYPE_CHECKING
from ..errors import ConfigError, StateStoreError
from .base import SqlStateStore, encode_record, run_live_message

if TYPE_CHECKING:  # names for annotations only: importing typing slows every start
    from typing import Any, Callable, Dict, List, Optional, Tuple

    from .base import JobRow, StepRow

# af_schema's version. A runtime refuses a store of a higher version, so it grows only
# with a change that older runtimes cannot write beside. A table they merely do not use
# is added in place instead (_TABLES, under the schema lock), keeping the version:
# af_locks (the artifact's own flow and job locks, apart from the engine's `locks`) came
# after version 1, and an older artifact goes on writing to a store that has it.
SCHEMA_VERSION = 1
# Every table of the current layout exists: nothing to create.
_LAYOUT_PRESENT = "SELECT to_regclass('af_schema') IS NOT NULL AND to_regclass('af_locks') IS NOT NULL"
# The database's clock, as the engine's integer epoch seconds.
NOW = "floor(extract(epoch from clock_timestamp()))::bigint"
_TABLES = (
    "CREATE TABLE IF NOT EXISTS af_schema(version integer NOT NULL)",
    "CREATE TABLE IF NOT EXISTS job_runs(job_id text NOT NULL, run_id text NOT NULL, status text NOT NULL,"
    " updated_at bigint NOT NULL, PRIMARY KEY(job_id, run_id))",
    "CREATE TABLE IF NOT EXISTS step_runs(job_id text NOT NULL, run_id text NOT NULL, step_id text NOT NULL,"
    " status text NOT NULL, updated_at bigint NOT NULL, PRIMARY KEY(job_id, run_id, step_id))",
    "CREATE TABLE IF NOT EXISTS locks(key text PRIMARY KEY, owner text NOT NULL, expires_at bigint NOT NULL)",
    "CREATE TABLE IF NOT EXISTS af_locks(key text PRIMARY KEY, owner text NOT NULL, expires_at bigint NOT NULL)",
    "CREATE TABLE IF NOT EXISTS af_runs(run_id text PRIMARY KEY, flow_id text NOT NULL, status text NOT NULL,"
    " started_at bigint NOT NULL, updated_at bigint NOT NULL, seq bigserial)",
    "CREATE TABLE IF NOT EXISTS af_step_results(job_id text NOT NULL, run_id text NOT NULL, step_id text NOT NULL,"
    " result_json text NOT NULL, promoted_json text NOT NULL, PRIMARY KEY(job_id, run_id, step_id))",
    "CREATE TABLE IF NOT EXISTS af_job_outputs(job_id text NOT NULL, run_id text NOT NULL, outputs_json text"
    " NOT NULL, skip_reason text, host text NOT NULL, pid integer NOT NULL, ran_at timestamptz NOT NULL,"
    " PRIMARY KEY(job_id, run_id))",
)
# Concurrent first use: one creator at a time (CREATE TABLE IF NOT EXISTS alone races).
_SCHEMA_LOCK = 0x4166_5354  # "AfST"
# The run lease; and the server probes this session's connection after 30 s of silence,
# so that the lease of a host lost without closing it goes within about a minute (the
# server's default waits hours). Settings of this session only, in the same round trip.
_TAKE_LEASE = (
    "SELECT pg_try_advisory_lock(%s), set_config('tcp_keepalives_idle', '30', false),"
    " set_config('tcp_keepalives_interval', '10', false),"
    " set_config('tcp_keepalives_count', '3', false)"
)


def redacted(url: str) -> str:
    """The URL without its password, for messages."""
    head, sep, rest = url.partition("://")
    if "@" not in rest:
        return url
    credentials, _, host = rest.rpartition("@")
    user = credentials.split(":", 1)[0]
    return "%s%s%s@%s" % (head, sep, user, host)


class PostgresState(SqlStateStore):
    kind = "PostgreSQL"
    run_order = "seq"

    def __init__(self, url: str, retry_seconds: float = 30.0) -> None:
        import importlib  # psycopg is a host package, imported by name like the drivers

        try:
            psycopg = importlib.import_module("psycopg")
        except ImportError:
            raise ConfigError(
                "AETHERFLOW_STATE_URL selects PostgreSQL state, which needs the Python package "
                "psycopg on this host (pip install 'psycopg[binary]', or compile with --wheelhouse)"
            ) from None
        self.psycopg = psycopg
        self.url = url
        self.path = redacted(url)
        self.retry_seconds = retry_seconds
        self.host = socket.gethostname()
        self.conn = None  # type: Any
        # How this process's sessions show in pg_stat_activity, and so to a second
        # process of a live run id; the token tells this process's own sessions apart.
        self.session_name = "aetherflow %s %d@%s" % (
            os.urandom(4).hex(),
            os.getpid(),
            self.host,
        )
        self.lease_key: Optional[int] = None
        self.lease_run_id = ""
        self.lease_since = None  # type: Any
        self.run_started = False
        self._do(self._create_schema)

    # -- connection and retries ------------------------------------------------------------
    def _connect(self) -> Any:
        if self.conn is None or self.conn.closed:
            conn = self.psycopg.connect(
                self.url,
                autocommit=True,
                connect_timeout=10,
                application_name=self.session_name,
            )
            if self.lease_key is not None:
                try:
                    self._retake_lease(conn, self.lease_key)
                except BaseException:
                    conn.close()
                    raise
            self.conn = conn
        return self.conn

    def _do(self, work: Callable[[Any], Any]) -> Any:
        """work(conn) in one transaction; a lost connection is retried with backoff."""
        deadline = time.monotonic() + self.retry_seconds
        delay = 0.2
        while True:
            try:
                conn = self._connect()
                with conn.transaction():
                    return work(conn)
            except _OwnSessionLingers:
                if time.monotonic() + delay > deadline:
                    raise StateStoreError(
                        "the PostgreSQL state store %s: the run lease of run %s stays with "
                        "this process's lost connection; the run stops and records nothing "
                        "more" % (self.path, self.lease_run_id)
                    ) from None
                time.sleep(delay)
                delay = min(delay * 2, 2.0)
            except self.psycopg.OperationalError as exc:
                if self.conn is not None:
                    try:
                        self.conn.close()
                    except Exception:  # the connection is gone already
                        pass
                    self.conn = None
                if time.monotonic() + delay > deadline:
                    raise StateStoreError(
                        "the PostgreSQL state store %s is unreachable: %s"
                        % (
                            self.path,
                            (
                                str(exc).strip().splitlines()[0]
                                if str(exc).strip()
                                else exc
                            ),
                        )
                    ) from None
                time.sleep(delay)
                delay = min(delay * 2, 2.0)

    def _create_schema(self, conn: Any) -> None:
        # Most runs find the schema in place: two queries, no DDL and no lock.
        present = conn.execute(_LAYOUT_PRESENT).fetchone()[0]
        if present:
            row = conn.execute("SELECT max(version) FROM af_schema").fetchone()
            if row[0] == SCHEMA_VERSION:
                return
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (_SCHEMA_LOCK,))
        for statement in _TABLES:
            conn.execute(statement)
        row = conn.execute("SELECT max(version) FROM af_schema").fetchone()
        if row[0] is None:
            conn.execute(
                "INSERT INTO af_schema(version) VALUES (%s)", (SCHEMA_VERSION,)
            )
        elif row[0] > SCHEMA_VERSION:
            raise ConfigError(
                "the PostgreSQL state store %s has schema version %s; this runtime knows %s "
                "(compile the flow with a newer aetherflow-compiler)"
                % (self.path, row[0], SCHEMA_VERSION)
            )

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()  # the session ends: its advisory lock (the run lease) goes
            self.conn = None

    # -- the run lease: a session-level advisory lock on the run id ----------------------
    # It lives as long as this process's session: a holder that dies (kill -9, a host
    # lost) loses its connection and the lease with it, whatever host it ran on.
    def lease_run(self, run_id: str, flow_id: str) -> None:
        from ..errors import RunLive

        key = _run_lease_key(run_id)
        since: List[Any] = []

        def take(c: Any) -> Any:
            row = c.execute(_TAKE_LEASE + ", clock_timestamp()", (key,)).fetchone()
            if row[0]:
                since.append(row[-1])
                return None
            holder = _lease_session(c, key)
            row = c.execute(
                "SELECT flow_id FROM af_runs WHERE run_id=%s", (run_id,)
            ).fetchone()
            if row:
                holder["flow_id"] = row[0]
            return holder

        # A holder killed a moment ago holds it until the server sees its connection
        # close (milliseconds): look again briefly before calling it live.
        for pause in (0.05, 0.1, 0.0):
            holder = self._do(take)
            if holder is None:
                break
            time.sleep(pause)
        if holder is not None:
            raise RunLive(run_live_message(run_id, flow_id, holder))
        self.lease_key = key
        self.lease_run_id = run_id
        self.lease_since = since[-1]

    def _retake_lease(self, conn: Any, key: int) -> None:
        """On a new connection: the lease again, or the run must stop (it may be running
        elsewhere now). The lost session of this process may still hold it for a moment:
        it is ended, and the lease (`key`, self.lease_key) taken again."""
        for _ in range(2):
            if conn.execute(_TAKE_LEASE, (key,)).fetchone()[0]:
                self._check_unshared(conn)
                return
            holder = _lease_session(conn, key)
            if holder.get("backend_pid") is None:
                continue  # released (or its session ending) since: take it again
            name = str(holder.get("application_name") or "")
            if name.split(" ")[:2] != self.session_name.split(" ")[:2]:
                raise StateStoreError(
                    "the PostgreSQL state store %s: after a lost connection, run %s is "
                    "held by another process (pid %s on host %s, since %s); this one "
                    "stops and records nothing more"
                    % (
                        self.path,
                        self.lease_run_id,
                        holder.get("pid") or "unknown",
                        holder.get("host") or "unknown",
                        holder.get("since") or "unknown",
                    )
                )
            conn.execute(
                "SELECT pg_terminate_backend(%s)", (holder.get("backend_pid"),)
            )
        raise _OwnSessionLingers()

    def _check_unshared(self, conn: Any) -> None:
        """The lease is ours again; but while this process was disconnected, another may
        have taken it, run jobs of the run and ended. Then this one must not go on with
        what it had planned: steps would run twice."""
        run_id = self.lease_run_id
        other = conn.execute(
            "SELECT host, pid FROM af_job_outputs WHERE run_id=%s AND ran_at >= %s"
            " AND NOT (host=%s AND pid=%s) LIMIT 1",
            (run_id, self.lease_since, self.host, os.getpid()),
        ).fetchone()
        row = conn.execute(
            "SELECT status FROM af_runs WHERE run_id=%s", (run_id,)
        ).fetchone()
        ended = self.run_started and (row is None or row[0] != "RUNNING")
        if other is not None or ended:
            raise StateStoreError(
                "the PostgreSQL state store %s: while this process was disconnected, "
                "another (%s) ran run %s; this one stops and records nothing more"
                % (
                    self.path,
                    "pid %s on host %s" % (other[1], other[0]) if other else "unknown",
                    run_id,
                )
            )

    # -- runs --------------------------------------------------------------------------
    def start_run(self, run_id: str, flow_id: str) -> None:
        self.run_started = True
        self._do(
            lambda c: c.execute(
                "INSERT INTO af_runs(run_id, flow_id, status, started_at, updated_at)"
                " VALUES (%s, %s, 'RUNNING', " + NOW + ", " + NOW + ")"
                " ON CONFLICT (run_id) DO UPDATE SET status='RUNNING', updated_at="
                + NOW,
                (run_id, flow_id),
            )
        )

    def finish_run(self, run_id: str, status: str) -> None:
        self._do(
            lambda c: c.execute(
                "UPDATE af_runs SET status=%s, updated_at=" + NOW + " WHERE run_id=%s",
                (status, run_id),
            )
        )

    # -- jobs and steps ------------------------------------------------------------------
    def _put_job(self, job_id: str, run_id: str, row: JobRow) -> None:
        status, outputs, skip_reason = row

        def work(c: Any) -> None:
            c.execute(
                "INSERT INTO job_runs(job_id, run_id, status, updated_at) VALUES (%s, %s, %s, "
                + NOW
                + ") ON CONFLICT (job_id, run_id) DO UPDATE SET status=EXCLUDED.status,"
                " updated_at=EXCLUDED.updated_at",
                (job_id, run_id, status),
            )
            c.execute(
                "INSERT INTO af_job_outputs(job_id, run_id, outputs_json, skip_reason, host, pid,"
                " ran_at) VALUES (%s, %s, %s, %s, %s, %s, clock_timestamp()) ON CONFLICT (job_id,"
                " run_id) DO UPDATE SET outputs_json=EXCLUDED.outputs_json,"
                " skip_reason=EXCLUDED.skip_reason, host=EXCLUDED.host, pid=EXCLUDED.pid,"
                " ran_at=EXCLUDED.ran_at",
                (
                    job_id,
                    run_id,
                    encode_record(outputs),
                    skip_reason,
                    self.host,
                    os.getpid(),
                ),
            )

        self._do(work)

    def _put_step(self, job_id: str, run_id: str, step_id: str, row: StepRow) -> None:
        status, result, promoted = row

        def work(c: Any) -> None:
            c.execute(
                "INSERT INTO step_runs(job_id, run_id, step_id, status, updated_at) VALUES"
                " (%s, %s, %s, %s, "
                + NOW
                + ") ON CONFLICT (job_id, run_id, step_id) DO UPDATE"
                " SET status=EXCLUDED.status, updated_at=EXCLUDED.updated_at",
                (job_id, run_id, step_id, status),
            )
            c.execute(
                "INSERT INTO af_step_results(job_id, run_id, step_id, result_json, promoted_json)"
                " VALUES (%s, %s, %s, %s, %s) ON CONFLICT (job_id, run_id, step_id) DO UPDATE SET"
                " result_json=EXCLUDED.result_json, promoted_json=EXCLUDED.promoted_json",
                (
                    job_id,
                    run_id,
                    step_id,
                    encode_record(result),
                    encode_record(promoted),
                ),
            )

        self._do(work)

    def _rows(self, sql: str, args: Tuple[Any, ...]) -> List[Any]:
        # the shared SQL marks parameters `?`, as SQLite does; psycopg's marker is %s
        query = sql.replace("?", "%s")
        rows = self._do(lambda c: c.execute(query, args).fetchall())  # type: List[Any]
        return rows

    def ran_on(self, run_id: str) -> Dict[str, Dict[str, Any]]:
        rows = self._do(
            lambda c: c.execute(
                "SELECT job_id, host, pid, to_char(ran_at AT TIME ZONE 'UTC',"
                ' \'YYYY-MM-DD"T"HH24:MI:SS"Z"\') FROM af_job_outputs WHERE run_id=%s',
                (run_id,),
            ).fetchall()
        )
        return {r[0]: {"host": r[1], "pid": r[2], "at": r[3]} for r in rows}

    # -- locks: one statement each, expiry by the database's clock -----------------------
    # The engine's `locks` table (with_lock keys), or `af_locks` for the artifact's own.
    def acquire_lock(
        self, key: str, owner: str, ttl_seconds: int, own: bool = False
    ) -> bool:
        table = "af_locks" if own else "locks"
        row = self._do(
            lambda c: c.execute(
                "INSERT INTO "
                + table
                + "(key, owner, expires_at) VALUES (%s, %s, "
                + NOW
                + " + %s) ON CONFLICT (key) DO UPDATE SET owner=EXCLUDED.owner,"
                " expires_at=EXCLUDED.expires_at WHERE "
                + table
                + ".expires_at <= "
                + NOW
                + " OR "
                + table
                + ".owner=EXCLUDED.owner RETURNING owner",
                (key, owner, int(ttl_seconds)),
            ).fetchone()
        )
        return row is not None

    def renew_lock(
        self, key: str, owner: str, ttl_seconds: int, own: bool = False
    ) -> None:
        self._do(
            lambda c: c.execute(
                "UPDATE "
                + ("af_locks" if own else "locks")
                + " SET expires_at="
                + NOW
                + " + %s WHERE key=%s AND owner=%s",
                (int(ttl_seconds), key, owner),
            )
        )

    def release_lock(self, key: str, owner: str, own: bool = False) -> None:
        self._do(
            lambda c: c.execute(
                "DELETE FROM "
                + ("af_locks" if own else "locks")
                + " WHERE key=%s AND owner=%s",
                (key, owner),
            )
        )


class _OwnSessionLingers(Exception):
    """This process's lost session still holds the run lease: try again shortly."""


def _run_lease_key(run_id: str) -> int:
    """The advisory lock key of a run id: 64 bits of its sha256, signed (bigint)."""
    from .. import new_sha256

    digest = new_sha256()
    digest.update(b"aetherflow run\0" + run_id.encode("utf-8"))
    value = int(digest.hexdigest()[:16], 16)
    return value - (1 << 64) if value >= 1 << 63 else value


def _lease_session(conn: Any, key: int) -> Dict[str, Any]:
    """The session holding the advisory lock `key`: its backend pid, application_name
    and, from a name like this runtime's, the holder's pid and host; since = when that
    session started."""
    row = conn.execute(
        "SELECT a.pid, a.application_name, to_char(a.backend_start AT TIME ZONE 'UTC',"
        ' \'YYYY-MM-DD"T"HH24:MI:SS"Z"\') FROM pg_locks l'
        " LEFT JOIN pg_stat_activity a ON a.pid = l.pid"
        " WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1"
        " AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())"
        " AND l.classid = %s::bigint::oid AND l.objid = %s::bigint::oid",
        ((key >> 32) & 0xFFFFFFFF, key & 0xFFFFFFFF),
    ).fetchone()
    if row is None:
        return {}
    holder = {"backend_pid": row[0], "application_name": row[1], "since": row[2]}
    parts = str(row[1] or "").split(" ")
    if len(parts) == 3 and parts[0] == "aetherflow" and "@" in parts[2]:
        holder["pid"], holder["host"] = parts[2].split("@", 1)
    else:
        holder["pid"] = "%s (a database session)" % row[0]
    return holder
