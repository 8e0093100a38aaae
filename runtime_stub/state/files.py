"""The file state backend: one JSON file per record, written to a temp file and renamed.

It also reads the shell artifact's step records: `steps/<job>.log`, the records of one job
appended one after another, each from a line "{" to a line "}" (a later record of a step
replaces an earlier one; a record cut short by a crash is not one).
"""

from __future__ import annotations

import os
import time

from .. import TYPE_CHECKING, new_sha256
from ..errors import StateStoreError
from .base import (
    RunLeaseFile,
    StateStore,
    damaged_record,
    decode_record,
    encode_record,
)

if TYPE_CHECKING:  # names for annotations only: importing typing slows every start
    from typing import Any, Dict, List, Optional, Tuple

    from .base import JobRow, StepRow


class FileState(StateStore):
    """Files under one directory; every write is a temp file renamed into place."""

    def __init__(self, path: str) -> None:
        self.path = path
        os.makedirs(os.path.join(path, "runs"), exist_ok=True)
        os.makedirs(os.path.join(path, "locks"), exist_ok=True)
        os.makedirs(os.path.join(path, "af_locks"), exist_ok=True)

    lease = None  # type: Optional[RunLeaseFile]

    def close(self) -> None:
        if self.lease is not None:
            self.lease.release()
            self.lease = None

    # -- the run lease: locks/run-<run_id>.lease -------------------------------------------
    def lease_run(self, run_id: str, flow_id: str) -> None:
        lease = RunLeaseFile(os.path.join(self.path, "locks", "run-%s.lease" % run_id))
        lease.acquire(run_id, flow_id)
        self.lease = lease

    def _write(self, path: str, data: Dict[str, Any]) -> None:
        tmp = "%s.%d.tmp" % (path, os.getpid())
        try:
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with open(tmp, "w", encoding="utf-8") as fh:
                fh.write(encode_record(data))
            os.replace(tmp, path)
        except (
            OSError
        ) as exc:  # a full disk, a read-only file system: the record stays as it was
            try:
                os.unlink(tmp)
            except OSError:
                pass
            raise StateStoreError(
                "the file state store %s cannot record the run: %s" % (self.path, exc)
            ) from None

    def _read(self, path: str) -> Optional[Dict[str, Any]]:
        """A lock file; None when there is none or it cannot be read (every lock file is
        replaced atomically, so one that cannot be read is no live run's: it is free).
        """
        try:
            with open(path, encoding="utf-8") as fh:
                return decode_record(fh.read())
        except (OSError, ValueError):
            return None

    def _record(self, path: str) -> Optional[Dict[str, Any]]:
        """A run, job or step record; None when there is none. One that cannot be read
        or decoded stops the run (StateStoreError): read as absent, a done step would
        run again."""
        where = "the file state store %s: %s" % (
            self.path,
            os.path.relpath(path, self.path),
        )
        try:
            with open(path, "rb") as fh:
                data = fh.read()
        except FileNotFoundError:
            return None
        except OSError as exc:  # a folder in its place, no permission
            raise damaged_record(
                where, "unreadable: %s" % (exc.strerror or exc)
            ) from None
        if not data:  # cut short: every record is written whole, then renamed
            raise damaged_record(where, "empty")
        try:
            text = data.decode("utf-8")
        except ValueError as exc:
            raise damaged_record(where, "not UTF-8: %s" % exc) from None
        return decode_record(text, where)

    def _run_dir(self, run_id: str) -> str:
        return os.path.join(self.path, "runs", run_id)

    # -- runs ------------------------------------------------------------------------
    def start_run(self, run_id: str, flow_id: str) -> None:
        path = os.path.join(self._run_dir(run_id), "run.json")
        data = self._record(path) or {"flow_id": flow_id, "started_ns": time.time_ns()}
        data.update({"status": "RUNNING", "updated_at": int(time.time())})
        self._write(path, data)

    def finish_run(self, run_id: str, status: str) -> None:
        path = os.path.join(self._run_dir(run_id), "run.json")
        data = self._record(path) or {}
        data.update({"status": status, "updated_at": int(time.time())})
        self._write(path, data)

    def latest_run(self, flow_id: str) -> Optional[Tuple[str, str]]:
        best: Optional[Tuple[int, str, str]] = None
        root = os.path.join(self.path, "runs")
        for run_id in os.listdir(root):
            data = self._record(os.path.join(root, run_id, "run.json"))
            if not data or data.get("flow_id") != flow_id:
                continue
            key = (int(data.get("started_ns", 0)), run_id, str(data.get("status")))
            if best is None or key > best:
                best = key
        return (best[1], best[2]) if best else None

    def run_status(self, run_id: str) -> Optional[str]:
        data = self._record(os.path.join(self._run_dir(run_id), "run.json"))
        return str(data["status"]) if data and "status" in data else None

    def run_flow(self, run_id: str) -> Optional[str]:
        data = self._record(os.path.join(self._run_dir(run_id), "run.json"))
        return str(data["flow_id"]) if data and "flow_id" in data else None

    # -- jobs and steps ------------------------------------------------------------------
    def _put_job(self, job_id: str, run_id: str, row: JobRow) -> None:
        status, outputs, skip_reason = row
        self._write(
            os.path.join(self._run_dir(run_id), "jobs", job_id + ".json"),
            {
                "status": status,
                "updated_at": int(time.time()),
                "outputs": outputs,
                "skip_reason": skip_reason,
            },
        )

    def _put_step(self, job_id: str, run_id: str, step_id: str, row: StepRow) -> None:
        status, result, promoted = row
        self._write(
            os.path.join(self._run_dir(run_id), "steps", job_id, step_id + ".json"),
            {
                "status": status,
                "updated_at": int(time.time()),
                "result": result,
                "promoted": promoted,
            },
        )

    def job_steps(self, job_id: str, run_id: str) -> Dict[str, StepRow]:
        out: Dict[str, StepRow] = {}
        log = os.path.join(self._run_dir(run_id), "steps", job_id + ".log")
        for data in _log_records(log):
            out[str(data.get("step"))] = (
                str(data.get("status")),
                dict(data.get("result") or {}),
                dict(data.get("promoted") or {}),
            )
        folder = os.path.join(self._run_dir(run_id), "steps", job_id)
        for name in os.listdir(folder) if os.path.isdir(folder) else []:
            record = (
                self._record(os.path.join(folder, name))
                if name.endswith(".json")
                else None
            )
            if record:
                out[name[:-5]] = (
                    str(record.get("status")),
                    dict(record.get("result") or {}),
                    dict(record.get("promoted") or {}),
                )
        return out

    def jobs(self, run_id: str) -> Dict[str, JobRow]:
        out: Dict[str, JobRow] = {}
        folder = os.path.join(self._run_dir(run_id), "jobs")
        if os.path.isdir(folder):
            for name in os.listdir(folder):
                if name.endswith(".json"):
                    data = self._record(os.path.join(folder, name))
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
            for entry in os.listdir(folder):
                if entry.endswith(".log"):
                    for data in _log_records(os.path.join(folder, entry)):
                        out[(entry[:-4], str(data.get("step")))] = str(
                            data.get("status")
                        )
                    continue
                if not os.path.isdir(os.path.join(folder, entry)):
                    continue  # not a job's folder of step records
                for name in os.listdir(os.path.join(folder, entry)):
                    if name.endswith(".json"):
                        record = self._record(os.path.join(folder, entry, name))
                        if record:
                            out[(entry, name[:-5])] = str(record.get("status"))
        return out

    # -- locks: locks/<sha256 of key>.json (the engine's namespace: with_lock keys), -------
    # af_locks/<sha256 of key>.json (the artifact's own flow and job locks); one mutex.
    def _lock_path(self, key: str, own: bool = False) -> str:
        return os.path.join(
            self.path,
            "af_locks" if own else "locks",
            _key_digest(key) + ".json",
        )

    def _mutex(self) -> "_FileMutex":
        return _FileMutex(os.path.join(self.path, "locks", ".mutex"))

    def acquire_lock(
        self, key: str, owner: str, ttl_seconds: int, own: bool = False
    ) -> bool:
        path = self._lock_path(key, own)
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

    def renew_lock(
        self, key: str, owner: str, ttl_seconds: int, own: bool = False
    ) -> None:
        path = self._lock_path(key, own)
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

    def release_lock(self, key: str, owner: str, own: bool = False) -> None:
        path = self._lock_path(key, own)
        with self._mutex():
            held = self._read(path)
            if held and held.get("owner") == owner:
                os.remove(path)


def _log_records(path: str) -> List[Dict[str, Any]]:
    """The complete records of a shell artifact's job log, in the order written."""
    try:
        with open(path, encoding="utf-8") as fh:
            lines = fh.read().split("\n")
    except OSError:
        return []
    out: List[Dict[str, Any]] = []
    chunk: Optional[List[str]] = None
    for line in lines:
        if line == "{":
            chunk = [line]
        elif chunk is not None:
            chunk.append(line)
            if line == "}":
                try:
                    out.append(decode_record("\n".join(chunk)))
                except ValueError:
                    pass
                chunk = None
    return out


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

        try:
            self.fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:  # a directory in its place, a read-only file system
            raise StateStoreError(
                "the file state store cannot lock %s: %s" % (self.path, exc)
            ) from None
        fcntl.flock(self.fd, fcntl.LOCK_EX)
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        import fcntl

        fcntl.flock(self.fd, fcntl.LOCK_UN)
        os.close(self.fd)
