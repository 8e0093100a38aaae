"""The state store's one interface and the record encoding its backends share."""

from __future__ import annotations

import json

if False:  # names for annotations only: importing typing slows every start
    from typing import Any, Dict, Optional, Tuple

from ..errors import StateStoreError

# (status, result, promoted job outputs) of a step
StepRow = "Tuple[str, Dict[str, Any], Dict[str, Any]]"
# (status, outputs, skip_reason) of a job
JobRow = "Tuple[str, Dict[str, Any], Optional[str]]"


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

    # jobs and steps
    def set_job(
        self,
        job_id: str,
        run_id: str,
        status: str,
        outputs: Optional[Dict[str, Any]] = None,
        skip_reason: Optional[str] = None,
    ) -> None:
        raise NotImplementedError

    def set_step(
        self,
        job_id: str,
        run_id: str,
        step_id: str,
        status: str,
        result: Optional[Dict[str, Any]] = None,
        promoted: Optional[Dict[str, Any]] = None,
    ) -> None:
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

    # locks: `key` held by `owner` (a run id) until its expiry
    def acquire_lock(self, key: str, owner: str, ttl_seconds: int) -> bool:
        raise NotImplementedError

    def renew_lock(self, key: str, owner: str, ttl_seconds: int) -> None:
        raise NotImplementedError

    def release_lock(self, key: str, owner: str) -> None:
        raise NotImplementedError
