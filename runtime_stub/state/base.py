"""The state store's one interface and the record encoding its backends share."""

from __future__ import annotations

import json
import os
import time

from .. import TYPE_CHECKING
from ..errors import StateStoreError

if TYPE_CHECKING:  # names for annotations only: importing typing slows every start
    from typing import Any, Dict, List, Optional, Tuple

    # (status, result, promoted job outputs) of a step
    StepRow = Tuple[str, Dict[str, Any], Dict[str, Any]]
    # (status, outputs, skip_reason) of a job
    JobRow = Tuple[str, Dict[str, Any], Optional[str]]


def encode_record(value: Any) -> str:
    if value == {}:
        return "{}"  # most steps promote nothing: no encoder run for it
    return json.dumps(value, ensure_ascii=False, sort_keys=False, default=str)


def decode_record(text: Optional[str], where: str = "") -> Dict[str, Any]:
    """A record encode_record wrote ({} for none). One that is not a JSON object is
    damaged: StateStoreError naming `where` (the store and the record), or ValueError
    when no `where` is given. A damaged record is never read as "not done": that would
    run a done step again."""
    if not text:
        return {}
    try:
        value = json.loads(text)
    except (ValueError, RecursionError) as exc:
        problem = "not JSON: %s" % exc
    else:
        if isinstance(value, dict):
            return value
        problem = "a JSON %s, not an object" % type(value).__name__
    if not where:
        raise ValueError(problem)
    raise damaged_record(where, problem)


def damaged_record(where: str, problem: str) -> StateStoreError:
    return StateStoreError(
        "%s is damaged (%s): repair or delete that record (a step without a record "
        "runs again), or use a new run id" % (where, problem)
    )


def decoded_step_rows(
    store: str, job_id: str, run_id: str, rows: Any
) -> Dict[str, StepRow]:
    """job_steps() of a database store from its rows (step_id, status, result_json,
    promoted_json); a damaged record is named by `store`, its table and the step."""
    out = {}
    for step_id, status, result, promoted in rows:
        try:
            out[step_id] = (status, decode_record(result), decode_record(promoted))
        except ValueError as exc:
            raise damaged_record(
                "%s: af_step_results of step %s (job %s, run %s)"
                % (store, step_id, job_id, run_id),
                str(exc),
            ) from None
    return out


def decoded_job_rows(store: str, run_id: str, rows: Any) -> Dict[str, JobRow]:
    """jobs() of a database store from its rows (job_id, status, outputs_json,
    skip_reason); a damaged record is named like decoded_step_rows names one."""
    out = {}
    for job_id, status, outputs, reason in rows:
        try:
            out[job_id] = (status, decode_record(outputs), reason)
        except ValueError as exc:
            raise damaged_record(
                "%s: af_job_outputs of job %s (run %s)" % (store, job_id, run_id),
                str(exc),
            ) from None
    return out


class StateStore:
    """What the runner asks of a state backend. Every write is durable when it returns:
    a step's record is committed before the next step starts."""

    path = ""

    def close(self) -> None:
        raise NotImplementedError

    # runs
    def start_run(self, run_id: str, flow_id: str) -> None:
        raise NotImplementedError

    def finish_run(self, run_id: str, status: str) -> None:
        raise NotImplementedError

    def latest_run(self, flow_id: str) -> Optional[Tuple[str, str]]:
        """(run_id, status) of the flow's newest run."""
        raise NotImplementedError

    def run_status(self, run_id: str) -> Optional[str]:
        raise NotImplementedError

    def run_flow(self, run_id: str) -> Optional[str]:
        """The flow a run id belongs to (a run id is never reused for another flow)."""
        raise NotImplementedError

    def lease_run(self, run_id: str, flow_id: str) -> None:
        """Make this process the one live holder of `run_id` in this store until close(),
        or raise RunLive naming the process that is. Called before anything of the run is
        written; a holder that dies (kill -9, power loss) frees it at once."""
        raise NotImplementedError

    # jobs and steps
    def set_job(
        self,
        job_id: str,
        run_id: str,
        status: str,
        outputs: Optional[Dict[str, Any]] = None,
        skip_reason: Optional[str] = None,
    ) -> None:
        self._put_job(job_id, run_id, (status, outputs or {}, skip_reason))

    def set_step(
        self,
        job_id: str,
        run_id: str,
        step_id: str,
        status: str,
        result: Optional[Dict[str, Any]] = None,
        promoted: Optional[Dict[str, Any]] = None,
    ) -> None:
        self._put_step(job_id, run_id, step_id, (status, result or {}, promoted or {}))

    # what a backend writes for set_job and set_step: the row, with no None for a record
    def _put_job(self, job_id: str, run_id: str, row: JobRow) -> None:
        raise NotImplementedError

    def _put_step(self, job_id: str, run_id: str, step_id: str, row: StepRow) -> None:
        raise NotImplementedError

    def job_steps(self, job_id: str, run_id: str) -> Dict[str, StepRow]:
        raise NotImplementedError

    def jobs(self, run_id: str) -> Dict[str, JobRow]:
        raise NotImplementedError

    def steps(self, run_id: str) -> Dict[Tuple[str, str], str]:
        raise NotImplementedError

    def ran_on(self, run_id: str) -> Dict[str, Dict[str, Any]]:
        """Where each job of the run last ran ({job: {"host", "pid", "at"}}), for stores
        that many hosts share; the others do not record it."""
        return {}

    # locks: `key` held by `owner` (a run id) until its expiry. Two namespaces: the
    # engine's (the `locks` table: with_lock keys, what the engine itself would hold) and,
    # with own=True, the artifact's own flow and job locks (`af_locks`), so that a
    # with_lock key never collides with them.
    def acquire_lock(
        self, key: str, owner: str, ttl_seconds: int, own: bool = False
    ) -> bool:
        raise NotImplementedError

    def renew_lock(
        self, key: str, owner: str, ttl_seconds: int, own: bool = False
    ) -> None:
        raise NotImplementedError

    def release_lock(self, key: str, owner: str, own: bool = False) -> None:
        raise NotImplementedError


class SqlStateStore(StateStore):
    """The reads the two database stores (SQLite, PostgreSQL) share: the same SQL, which
    a backend runs through _rows() (a `?` marks a parameter); `kind` names the backend in
    messages about a damaged record."""

    kind = ""
    run_order = ""  # the af_runs column that orders a flow's runs, oldest first

    def _rows(self, sql: str, args: Tuple[Any, ...]) -> List[Any]:
        """The rows of one SELECT."""
        raise NotImplementedError

    def _label(self) -> str:
        return "the %s state store %s" % (self.kind, self.path)

    def latest_run(self, flow_id: str) -> Optional[Tuple[str, str]]:
        rows = self._rows(
            "SELECT run_id, status FROM af_runs WHERE flow_id=? ORDER BY %s DESC LIMIT 1"
            % self.run_order,
            (flow_id,),
        )
        return (rows[0][0], rows[0][1]) if rows else None

    def run_status(self, run_id: str) -> Optional[str]:
        rows = self._rows("SELECT status FROM af_runs WHERE run_id=?", (run_id,))
        return rows[0][0] if rows else None

    def run_flow(self, run_id: str) -> Optional[str]:
        rows = self._rows("SELECT flow_id FROM af_runs WHERE run_id=?", (run_id,))
        return rows[0][0] if rows else None

    def job_steps(self, job_id: str, run_id: str) -> Dict[str, StepRow]:
        """Every recorded step of one job in one run: step id -> (status, result, promoted)."""
        rows = self._rows(
            "SELECT s.step_id, s.status, r.result_json, r.promoted_json FROM step_runs s"
            " LEFT JOIN af_step_results r"
            " ON r.job_id=s.job_id AND r.run_id=s.run_id AND r.step_id=s.step_id"
            " WHERE s.job_id=? AND s.run_id=?",
            (job_id, run_id),
        )
        return decoded_step_rows(self._label(), job_id, run_id, rows)

    def jobs(self, run_id: str) -> Dict[str, JobRow]:
        rows = self._rows(
            "SELECT j.job_id, j.status, o.outputs_json, o.skip_reason FROM job_runs j"
            " LEFT JOIN af_job_outputs o ON o.job_id=j.job_id AND o.run_id=j.run_id"
            " WHERE j.run_id=?",
            (run_id,),
        )
        return decoded_job_rows(self._label(), run_id, rows)

    def steps(self, run_id: str) -> Dict[Tuple[str, str], str]:
        rows = self._rows(
            "SELECT job_id, step_id, status FROM step_runs WHERE run_id=?", (run_id,)
        )
        return {(r[0], r[1]): r[2] for r in rows}


def run_live_message(run_id: str, flow_id: str, holder: Dict[str, Any]) -> str:
    """What a second process of a live run id is told (exit 3)."""
    return "run %s of flow %s is already running: pid %s on host %s, since %s" % (
        run_id,
        holder.get("flow_id") or flow_id,
        holder.get("pid") or "unknown",
        holder.get("host") or "unknown",
        holder.get("since") or "unknown",
    )


class RunLeaseFile:
    """The run lease of the single-host stores (SQLite, files): an exclusive flock on a
    file per run id, whose content names the holder for messages. The kernel drops the
    flock when its holder dies, so a run killed with -9 is resumed at once, and pid reuse
    cannot fake a holder. One open and one flock per run, never per step.

    The holder removes the file when it ends, still holding the flock; a contender that
    opened the file before that finds the flock held, and one that gets the flock checks
    the path still names the file it locked (else it opens the new one)."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.fd = -1

    def acquire(self, run_id: str, flow_id: str) -> None:
        import fcntl

        from ..errors import RunLive

        while True:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)  # not inherited
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = _lease_holder(fd)
                os.close(fd)
                raise RunLive(run_live_message(run_id, flow_id, holder)) from None
            except BaseException:
                os.close(fd)
                raise
            try:
                now = os.stat(self.path)
                mine = os.fstat(fd)
                same = (now.st_dev, now.st_ino) == (mine.st_dev, mine.st_ino)
            except FileNotFoundError:
                same = False
            if not same:  # its holder removed it as we opened it: open the path again
                os.close(fd)
                continue
            record = {
                "run_id": run_id,
                "flow_id": flow_id,
                "pid": os.getpid(),
                "host": os.uname().nodename,
                "since": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            }
            try:
                os.ftruncate(fd, 0)
                os.write(fd, (json.dumps(record) + "\n").encode("utf-8"))
            except BaseException:
                os.close(fd)
                raise
            self.fd = fd
            return

    def release(self) -> None:
        if self.fd < 0:
            return
        try:
            os.unlink(self.path)  # while the flock is still held
        except OSError:
            pass
        os.close(self.fd)
        self.fd = -1


def _lease_holder(fd: int) -> Dict[str, Any]:
    """The holder's record from a lease file; it may not have written it yet."""
    for _ in range(10):
        try:
            data = os.pread(fd, 4096, 0)
        except OSError:
            return {}
        if data.endswith(b"\n"):
            try:
                value = json.loads(data.decode("utf-8"))
            except ValueError:
                return {}
            return value if isinstance(value, dict) else {}
        time.sleep(0.05)
    return {}
