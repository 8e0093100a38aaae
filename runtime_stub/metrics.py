"""AETHERFLOW_METRICS_MODULE: the engine's metrics hook.

The setting names an importable module exposing `METRICS`, an object with any of
on_run_start, on_run_end, on_job_start, on_job_end, on_step_start and on_step_end. They are
called with the engine's keyword arguments, which is how teams feed Prometheus, StatsD or
OpenTelemetry. A hook that raises never fails the run: it becomes a `metrics_error`
warning event. Imported only by runs that set the variable.
"""

from __future__ import annotations

import time

from . import TYPE_CHECKING
from .errors import ConfigError

if TYPE_CHECKING:  # names for annotations only: importing typing slows every start
    from typing import Any, Dict, List


class MetricsHook:
    """Calls the sink, and keeps the engine's run summary for on_run_end: the jobs that
    started (not BLOCKED, not skipped by `when`) with the steps that ran."""

    def __init__(self, sink: Any, log: Any, flow_id: str, run_id: str) -> None:
        self.sink = sink
        self.log = log
        self.ids = {"flow_id": flow_id, "run_id": run_id}
        self.started = time.monotonic()
        self.jobs: List[Dict[str, Any]] = []

    def _call(self, hook: str, **fields: Any) -> None:
        method = getattr(self.sink, hook, None)
        if method is None:
            return
        try:
            method(**self.ids, **fields)
        except Exception as exc:
            self.log.warning(
                "metrics_error", hook=hook, error="%s: %s" % (type(exc).__name__, exc)
            )

    def run_start(self) -> None:
        self._call("on_run_start")

    def job_start(self, job_id: str) -> None:
        self.jobs.append(
            {
                "job_id": job_id,
                "status": "RUNNING",
                "duration_ms": 0,
                "skip_reason": None,
                "steps": [],
            }
        )
        self._call("on_job_start", job_id=job_id)

    def step_start(self, job_id: str, step_id: str, step_type: str) -> None:
        self._call("on_step_start", job_id=job_id, step_id=step_id, step_type=step_type)

    def step_end(
        self, job_id: str, step_id: str, step_type: str, status: str, duration_ms: int
    ) -> None:
        if self.jobs and self.jobs[-1]["job_id"] == job_id:
            self.jobs[-1]["steps"].append(
                {
                    "step_id": step_id,
                    "step_type": step_type,
                    "status": status,
                    "duration_ms": duration_ms,
                }
            )
        self._call(
            "on_step_end",
            job_id=job_id,
            step_id=step_id,
            step_type=step_type,
            status=status,
            duration_ms=duration_ms,
        )

    def job_end(
        self, job_id: str, status: str, duration_ms: int, skip_reason: Any = None
    ) -> None:
        if self.jobs and self.jobs[-1]["job_id"] == job_id:
            self.jobs[-1].update(
                status=status, duration_ms=duration_ms, skip_reason=skip_reason
            )
        self._call("on_job_end", job_id=job_id, status=status, duration_ms=duration_ms)

    def run_end(self, statuses: Dict[str, str]) -> None:
        counts: Dict[str, int] = {}
        for status in statuses.values():
            counts[status] = counts.get(status, 0) + 1
        summary: Dict[str, Any] = dict(self.ids)
        summary.update(
            duration_ms=int((time.monotonic() - self.started) * 1000),
            status_counts=counts,
            jobs=self.jobs,
        )
        self._call("on_run_end", summary=summary)


def load_metrics(module_name: str, log: Any, flow_id: str, run_id: str) -> MetricsHook:
    import importlib

    try:
        module = importlib.import_module(module_name)
    except Exception as exc:
        raise ConfigError(
            "cannot import the metrics module %s (AETHERFLOW_METRICS_MODULE): %s: %s; with "
            "`python3 -I` PYTHONPATH is ignored: put the module next to the flow script"
            % (module_name, type(exc).__name__, exc)
        ) from None
    sink = getattr(module, "METRICS", None)
    if sink is None:
        raise ConfigError(
            "the metrics module %s (AETHERFLOW_METRICS_MODULE) must expose METRICS"
            % module_name
        )
    return MetricsHook(sink, log, flow_id, run_id)
