"""The state store: job and step statuses, step results, job outputs, runs and locks.

Two backends with one interface:
- `SqliteState`: the engine's tables (job_runs, step_runs, locks) so existing ops queries
  keep working, plus af_runs, af_step_results and af_job_outputs. One connection per run,
  WAL journal, every write one transaction.
- `FileState`: the same information as JSON files, each written to a temp file and renamed.
"""

from __future__ import annotations

import json
import os
import time

if False:  # names for annotations only: importing typing slows every start
    from typing import Any, Dict, List, Optional, Tuple

from . import new_sha256
from .errors import ConfigError

# (status, result, promoted job outputs) of a step
StepRow = "Tuple[str, Dict[str, Any], Dict[str, Any]]"
# (status, outputs, skip_reason) of a job
JobRow = "Tuple[str, Dict[str, Any], Optional[str]]"


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, sort_keys=False, default=str)


def _loads(text: Optional[str]) -> Dict[str, Any]:
    if not text:
        return {}
    value = json.loads(text)
    return value if isinstance(value, dict) else {}


def open_state(backend: str, path: str) -> Any:
    if backend == "file":
        try:
            return FileState(path)
        except OSError as exc:
            raise ConfigError(
                "cannot open the file state store at %s: %s" % (path, exc)
            ) from None
    import sqlite3  # only flows with SQLite state pay for the import

    try:
        return SqliteState(path)
    except (OSError, sqlite3.Error) as exc:
        raise ConfigError(
            "cannot open the sqlite state store at %s: %s" % (path, exc)
        ) from None


class SqliteState:
    def __init__(self, path: str) -> None:
        self.path = path
        parent = os.path.dirname(os.path.abspath(path))
        os.makedirs(parent, exist_ok=True)
        import sqlite3

        self.conn = sqlite3.connect(path, timeout=30, isolation_level=None)
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
        return _Transaction(self.conn)

    def close(self) -> None:
        self.conn.close()

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

    def latest_run(self, flow_id: str) -> Optional[Tuple[str, str]]:
        row = self.conn.execute(
            "SELECT run_id, status FROM af_runs WHERE flow_id=? ORDER BY rowid DESC LIMIT 1",
            (flow_id,),
        ).fetchone()
        return (row[0], row[1]) if row else None

    def run_status(self, run_id: str) -> Optional[str]:
        row = self.conn.execute(
            "SELECT status FROM af_runs WHERE run_id=?", (run_id,)
        ).fetchone()
        return row[0] if row else None

    def run_flow(self, run_id: str) -> Optional[str]:
        row = self.conn.execute(
            "SELECT flow_id FROM af_runs WHERE run_id=?", (run_id,)
        ).fetchone()
        return row[0] if row else None

    # -- jobs and steps ------------------------------------------------------------------
    def set_job(
        self,
        job_id: str,
        run_id: str,
        status: str,
        outputs: Optional[Dict[str, Any]] = None,
        skip_reason: Optional[str] = None,
    ) -> None:
        now = int(time.time())
        with self._tx() as c:
            c.execute(
                "INSERT OR REPLACE INTO job_runs(job_id, run_id, status, updated_at) VALUES (?,?,?,?)",
                (job_id, run_id, status, now),
            )
            c.execute(
                "INSERT OR REPLACE INTO af_job_outputs(job_id, run_id, outputs_json, skip_reason)"
                " VALUES (?,?,?,?)",
                (job_id, run_id, _dumps(outputs or {}), skip_reason),
            )

    def set_step(
        self,
        job_id: str,
        run_id: str,
        step_id: str,
        status: str,
        result: Optional[Dict[str, Any]] = None,
        promoted: Optional[Dict[str, Any]] = None,
    ) -> None:
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
                (job_id, run_id, step_id, _dumps(result or {}), _dumps(promoted or {})),
            )

    def job_steps(self, job_id: str, run_id: str) -> Dict[str, StepRow]:
        """Every recorded step of one job in one run: step id -> (status, result, promoted)."""
        rows = self.conn.execute(
            "SELECT s.step_id, s.status, r.result_json, r.promoted_json FROM step_runs s"
            " LEFT JOIN af_step_results r"
            " ON r.job_id=s.job_id AND r.run_id=s.run_id AND r.step_id=s.step_id"
            " WHERE s.job_id=? AND s.run_id=?",
            (job_id, run_id),
        ).fetchall()
        return {r[0]: (r[1], _loads(r[2]), _loads(r[3])) for r in rows}

    def jobs(self, run_id: str) -> Dict[str, JobRow]:
        rows = self.conn.execute(
            "SELECT j.job_id, j.status, o.outputs_json, o.skip_reason FROM job_runs j LEFT JOIN af_job_outputs o"
            " ON o.job_id=j.job_id AND o.run_id=j.run_id WHERE j.run_id=?",
            (run_id,),
        ).fetchall()
        return {r[0]: (r[1], _loads(r[2]), r[3]) for r in rows}

    def steps(self, run_id: str) -> Dict[Tuple[str, str], str]:
        rows = self.conn.execute(
            "SELECT job_id, step_id, status FROM step_runs WHERE run_id=?", (run_id,)
        ).fetchall()
        return {(r[0], r[1]): r[2] for r in rows}

    # -- locks ---------------------------------------------------------------------------
    def acquire_lock(self, key: str, owner: str, ttl_seconds: int) -> bool:
        now = int(time.time())
        with self._tx() as c:
            c.execute("DELETE FROM locks WHERE expires_at <= ?", (now,))
            row = c.execute("SELECT owner FROM locks WHERE key=?", (key,)).fetchone()
            if row and row[0] != owner:
                return False
            c.execute(
                "INSERT OR REPLACE INTO locks(key, owner, expires_at) VALUES (?,?,?)",
                (key, owner, now + int(ttl_seconds)),
            )
            return True

    def renew_lock(self, key: str, owner: str, ttl_seconds: int) -> None:
        with self._tx() as c:
            c.execute(
                "UPDATE locks SET expires_at=? WHERE key=? AND owner=?",
                (int(time.time()) + int(ttl_seconds), key, owner),
            )

    def release_lock(self, key: str, owner: str) -> None:
        with self._tx() as c:
            c.execute("DELETE FROM locks WHERE key=? AND owner=?", (key, owner))


class _Transaction:
    """BEGIN IMMEDIATE ... COMMIT (ROLLBACK on error) on an autocommit connection."""

    def __init__(self, conn: Any) -> None:
        self.conn = conn

    def __enter__(self) -> Any:
        self.conn.execute("BEGIN IMMEDIATE")
        return self.conn

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        self.conn.execute("ROLLBACK" if exc_type else "COMMIT")


class FileState:
    """Files under one directory; every write is a temp file renamed into place."""

    def __init__(self, path: str) -> None:
        self.path = path
        os.makedirs(os.path.join(path, "runs"), exist_ok=True)
        os.makedirs(os.path.join(path, "locks"), exist_ok=True)

    def close(self) -> None:
        pass

    def _write(self, path: str, data: Dict[str, Any]) -> None:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        tmp = "%s.%d.tmp" % (path, os.getpid())
        with open(tmp, "w", encoding="utf-8") as fh:
            fh.write(_dumps(data))
        os.replace(tmp, path)

    def _read(self, path: str) -> Optional[Dict[str, Any]]:
        try:
            with open(path, encoding="utf-8") as fh:
                return _loads(fh.read())
        except (OSError, ValueError):
            return None

    def _run_dir(self, run_id: str) -> str:
        return os.path.join(self.path, "runs", run_id)

    # -- runs ------------------------------------------------------------------------
    def start_run(self, run_id: str, flow_id: str) -> None:
        path = os.path.join(self._run_dir(run_id), "run.json")
        data = self._read(path) or {"flow_id": flow_id, "started_ns": time.time_ns()}
        data.update({"status": "RUNNING", "updated_at": int(time.time())})
        self._write(path, data)

    def finish_run(self, run_id: str, status: str) -> None:
        path = os.path.join(self._run_dir(run_id), "run.json")
        data = self._read(path) or {}
        data.update({"status": status, "updated_at": int(time.time())})
        self._write(path, data)

    def latest_run(self, flow_id: str) -> Optional[Tuple[str, str]]:
        best: Optional[Tuple[int, str, str]] = None
        root = os.path.join(self.path, "runs")
        for run_id in os.listdir(root):
            data = self._read(os.path.join(root, run_id, "run.json"))
            if not data or data.get("flow_id") != flow_id:
                continue
            key = (int(data.get("started_ns", 0)), run_id, str(data.get("status")))
            if best is None or key > best:
                best = key
        return (best[1], best[2]) if best else None

    def run_status(self, run_id: str) -> Optional[str]:
        data = self._read(os.path.join(self._run_dir(run_id), "run.json"))
        return str(data["status"]) if data and "status" in data else None

    def run_flow(self, run_id: str) -> Optional[str]:
        data = self._read(os.path.join(self._run_dir(run_id), "run.json"))
        return str(data["flow_id"]) if data and "flow_id" in data else None

    # -- jobs and steps ------------------------------------------------------------------
    def set_job(
        self,
        job_id: str,
        run_id: str,
        status: str,
        outputs: Optional[Dict[str, Any]] = None,
        skip_reason: Optional[str] = None,
    ) -> None:
        self._write(
            os.path.join(self._run_dir(run_id), "jobs", job_id + ".json"),
            {
                "status": status,
                "updated_at": int(time.time()),
                "outputs": outputs or {},
                "skip_reason": skip_reason,
            },
        )

    def set_step(
        self,
        job_id: str,
        run_id: str,
        step_id: str,
        status: str,
        result: Optional[Dict[str, Any]] = None,
        promoted: Optional[Dict[str, Any]] = None,
    ) -> None:
        self._write(
            os.path.join(self._run_dir(run_id), "steps", job_id, step_id + ".json"),
            {
                "status": status,
                "updated_at": int(time.time()),
                "result": result or {},
                "promoted": promoted or {},
            },
        )

    def job_steps(self, job_id: str, run_id: str) -> Dict[str, StepRow]:
        out: Dict[str, StepRow] = {}
        folder = os.path.join(self._run_dir(run_id), "steps", job_id)
        for name in os.listdir(folder) if os.path.isdir(folder) else []:
            data = (
                self._read(os.path.join(folder, name))
                if name.endswith(".json")
                else None
            )
            if data:
                out[name[:-5]] = (
                    str(data.get("status")),
                    dict(data.get("result") or {}),
                    dict(data.get("promoted") or {}),
                )
        return out

    def jobs(self, run_id: str) -> Dict[str, JobRow]:
        out: Dict[str, JobRow] = {}
        folder = os.path.join(self._run_dir(run_id), "jobs")
        if os.path.isdir(folder):
            for name in os.listdir(folder):
                if name.endswith(".json"):
                    data = self._read(os.path.join(folder, name))
                    if data:
                        out[name[:-5]] = (
                            str(data.get("status")),
                            dict(data.get("outputs") or {}),
                            data.get("skip_reason"),
                        )
        return out

    def steps(self, run_id: str) -> Dict[Tuple[str, str], str]:
        out: Dict[Tuple[str, str], str] = {}
        folder = os.path.join(self._run_dir(run_id), "steps")
        if os.path.isdir(folder):
            for job_id in os.listdir(folder):
                for name in os.listdir(os.path.join(folder, job_id)):
                    if name.endswith(".json"):
                        data = self._read(os.path.join(folder, job_id, name))
                        if data:
                            out[(job_id, name[:-5])] = str(data.get("status"))
        return out

    # -- locks ---------------------------------------------------------------------------
    def _lock_path(self, key: str) -> str:
        return os.path.join(
            self.path,
            "locks",
            _key_digest(key) + ".json",
        )

    def _mutex(self) -> "_FileMutex":
        return _FileMutex(os.path.join(self.path, "locks", ".mutex"))

    def acquire_lock(self, key: str, owner: str, ttl_seconds: int) -> bool:
        path = self._lock_path(key)
        now = int(time.time())
        with self._mutex():
            held = self._read(path)
            if (
                held
                and int(held.get("expires_at", 0)) > now
                and held.get("owner") != owner
            ):
                return False
            self._write(
                path, {"key": key, "owner": owner, "expires_at": now + int(ttl_seconds)}
            )
            return True

    def renew_lock(self, key: str, owner: str, ttl_seconds: int) -> None:
        path = self._lock_path(key)
        with self._mutex():
            held = self._read(path)
            if held and held.get("owner") == owner:
                self._write(
                    path,
                    {
                        "key": key,
                        "owner": owner,
                        "expires_at": int(time.time()) + int(ttl_seconds),
                    },
                )

    def release_lock(self, key: str, owner: str) -> None:
        path = self._lock_path(key)
        with self._mutex():
            held = self._read(path)
            if held and held.get("owner") == owner:
                os.remove(path)

    def lock_rows(self) -> List[Dict[str, Any]]:
        folder = os.path.join(self.path, "locks")
        rows = [
            self._read(os.path.join(folder, n))
            for n in sorted(os.listdir(folder))
            if n.endswith(".json")
        ]
        return [r for r in rows if r]


def _key_digest(key: str) -> str:
    digest = new_sha256()
    digest.update(key.encode("utf-8"))
    return str(digest.hexdigest())


class _FileMutex:
    """An exclusive flock held only while a lock file is examined and replaced.

    The kernel drops it when its holder dies, so a killed run never blocks others here;
    the lock *files* it guards carry the TTL semantics.
    """

    def __init__(self, path: str) -> None:
        self.path = path
        self.fd = -1

    def __enter__(self) -> "_FileMutex":
        import fcntl

        self.fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        fcntl.flock(self.fd, fcntl.LOCK_EX)
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        import fcntl

        fcntl.flock(self.fd, fcntl.LOCK_UN)
        os.close(self.fd)
