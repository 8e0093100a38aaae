"""AETHERFLOW_METRICS_TEXTFILE: the run's metrics for node_exporter's textfile collector.

At the end of a run that started (whatever its outcome) the runner hands `write_textfile`
the run's summary, rendered by `exposition` in the Prometheus text exposition format
(version 0.0.4); it replaces PATH atomically: a temporary file in PATH's folder (a name
the collector skips: it reads only *.prom), written, fsync'd, renamed over PATH, and the
folder fsync'd. The collector therefore never reads half a file, and flows writing
different files into one folder never share a temporary name. docs/artifacts.md lists
the metrics.

Labels are `flow_id`, `job_id` and `step_id`, not `job`: Prometheus sets `job` (and
`instance`) on every scraped target and would rename a `job` label to `exported_job`.
The run id is not a label: a new series per run would grow the database without bound.
"""

from __future__ import annotations

import os

from . import TYPE_CHECKING

if TYPE_CHECKING:  # names for annotations only: importing typing slows every start
    from typing import Any, Callable, Dict, List, Optional, Tuple

JOB_STATUSES = ("SUCCESS", "FAILED", "SKIPPED", "BLOCKED", "NOT_REACHED", "INTERRUPTED")
STEP_STATUSES = ("SUCCESS", "FAILED", "SKIPPED", "INTERRUPTED")

# name -> help text; every metric is a gauge (a value of the last run, not a counter)
METRIC_HELP = (
    ("aetherflow_run_success", "1 if the last run of the flow succeeded, else 0."),
    (
        "aetherflow_run_status",
        "The status of the last run of the flow, as the status label (value 1).",
    ),
    ("aetherflow_run_exit_code", "The exit code of the last run of the flow."),
    (
        "aetherflow_run_start_timestamp_seconds",
        "When the last run of the flow started, in seconds since the Unix epoch.",
    ),
    (
        "aetherflow_run_end_timestamp_seconds",
        "When the last run of the flow ended, in seconds since the Unix epoch.",
    ),
    ("aetherflow_run_duration_seconds", "How long the last run of the flow took."),
    ("aetherflow_run_jobs", "Jobs of the last run by status."),
    (
        "aetherflow_run_steps",
        "Steps of the last run by status, resumed steps included.",
    ),
    (
        "aetherflow_run_steps_resumed",
        "Steps of the last run done by an earlier attempt of the same run id.",
    ),
    (
        "aetherflow_job_status",
        "The status of each job in the last run, as the status label (value 1).",
    ),
    ("aetherflow_job_duration_seconds", "How long each job took in the last run."),
    (
        "aetherflow_step_status",
        "The status of each step in the last run, as the status label (value 1).",
    ),
    (
        "aetherflow_step_resumed",
        "1 if the step was done by an earlier attempt of the same run id, else 0.",
    ),
    (
        "aetherflow_step_duration_seconds",
        "How long each step took in the last run (steps that ran in it, not resumed).",
    ),
)


def escape_label(value: str) -> str:
    """A label value as the text format writes it: backslash, double quote, newline."""
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _sample_value(value: float) -> str:
    if isinstance(value, int):
        return str(value)
    text = "%.6f" % value
    return text.rstrip("0").rstrip(".") if "." in text else text


def exposition(
    flow_id: str,
    status: str,
    exit_code: int,
    started: float,
    ended: float,
    jobs: List[Dict[str, Any]],
) -> str:
    """The text format for one run: `jobs` is the runner's summary (job entries with
    status, duration_ms and steps, each step with status, duration_ms and `resumed`)."""
    series: Dict[str, List[Tuple[Dict[str, str], float]]] = {
        n: [] for n, _ in METRIC_HELP
    }
    flow = {"flow_id": flow_id}

    def add(name: str, value: float, **labels: str) -> None:
        series[name].append((dict(flow, **labels), value))

    add("aetherflow_run_success", 1 if status == "SUCCESS" else 0)
    add("aetherflow_run_status", 1, status=status)
    add("aetherflow_run_exit_code", exit_code)
    add("aetherflow_run_start_timestamp_seconds", started)
    add("aetherflow_run_end_timestamp_seconds", ended)
    add("aetherflow_run_duration_seconds", max(0.0, ended - started))
    job_counts = dict.fromkeys(JOB_STATUSES, 0)
    step_counts = dict.fromkeys(STEP_STATUSES, 0)
    resumed_steps = 0
    for job in jobs:
        job_id = str(job["job_id"])
        job_counts[job["status"]] = job_counts.get(job["status"], 0) + 1
        add("aetherflow_job_status", 1, job_id=job_id, status=job["status"])
        if job["status"] != "NOT_REACHED":
            add(
                "aetherflow_job_duration_seconds",
                job["duration_ms"] / 1000.0,
                job_id=job_id,
            )
        for step in job["steps"]:
            ids = {"job_id": job_id, "step_id": str(step["step_id"])}
            resumed = bool(step.get("resumed"))
            step_counts[step["status"]] = step_counts.get(step["status"], 0) + 1
            resumed_steps += 1 if resumed else 0
            add("aetherflow_step_status", 1, **ids, status=step["status"])
            add("aetherflow_step_resumed", 1 if resumed else 0, **ids)
            if not resumed:
                add(
                    "aetherflow_step_duration_seconds",
                    step["duration_ms"] / 1000.0,
                    **ids,
                )
    for name, counts in (
        ("aetherflow_run_jobs", job_counts),
        ("aetherflow_run_steps", step_counts),
    ):
        for key, count in counts.items():
            add(name, count, status=key)
    add("aetherflow_run_steps_resumed", resumed_steps)
    lines = []
    for name, text in METRIC_HELP:
        if not series[name]:
            continue
        lines.append("# HELP %s %s" % (name, text))
        lines.append("# TYPE %s gauge" % name)
        for labels, value in series[name]:
            shown = ",".join(
                '%s="%s"' % (key, escape_label(val)) for key, val in labels.items()
            )
            lines.append("%s{%s} %s" % (name, shown, _sample_value(value)))
    return "\n".join(lines) + "\n"


def write_atomically(path: str, text: str) -> None:
    """Replace `path` with `text`: temporary file beside it, fsync, rename, fsync the
    folder. The file's mode follows the umask (0644 under the usual 022), so that a
    node_exporter running as another user can read it. Raises OSError."""
    folder = os.path.dirname(os.path.abspath(path))
    temp = os.path.join(
        folder,
        ".%s.%d.%s.tmp" % (os.path.basename(path), os.getpid(), os.urandom(4).hex()),
    )
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    renamed = False
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(temp, path)
        renamed = True
    finally:
        if not renamed:
            try:
                os.unlink(temp)
            except OSError:
                pass
    try:  # the rename itself survives a crash only once the folder is on disk
        dir_fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(dir_fd)
    except OSError:
        pass
    finally:
        os.close(dir_fd)


def write_textfile(path: str, log: Any, render: Callable[[], str]) -> Optional[str]:
    """Write what render() returns (exposition() of the run); a failure of either is a
    `metrics_textfile_failed` warning event, never a failed run. Returns the error text,
    or None when the file was written."""
    try:
        write_atomically(path, render())
    except Exception as exc:
        error = "%s: %s" % (type(exc).__name__, exc)
        log.warning("metrics_textfile_failed", path=path, error=error)
        return error
    return None
