"""Running a compiled flow: jobs in declared order, steps in order, state, locks, resume.

Generated scripts describe the flow with `Flow` and `Job` and write each job as a
function of plain `run.step(...)` calls. `Run` executes them with the semantics of the
reference engine (section 4 of the language spec); `plan` walks the same functions with a
recorder instead of running anything.
"""

from __future__ import annotations

import os
import sys
import time

from . import TYPE_CHECKING
from .connectors import Connectors
from .environment import build_snapshot
from .errors import (
    ConfigError,
    LockHeld,
    MissingKeyError,
    RunLive,
    StateStoreError,
    StepError,
    TemplateError,
    WhenError,
    WorkspaceError,
)
from .logs import EventLog
from .results import FAILED, SKIPPED, SUCCESS, StepResult
from .secrets_provider import load_secrets_provider
from .settings import ignored_settings, load_settings
from .state import open_state
from .templating import render, show
from .workspace import Workspace

if TYPE_CHECKING:  # names for annotations only: importing typing slows every start
    from typing import Any, Callable, Dict, List, Optional, Tuple

BLOCKED = "BLOCKED"
RUNNING = "RUNNING"


class Flow:
    """Static facts about a flow, written into the artifact by the compiler."""

    def __init__(
        self,
        flow_id: str,
        source: str,
        source_sha256: str,
        compiler_version: str,
        description: Optional[str],
        workspace_root: Any,
        cleanup_policy: str,
        layout: Dict[str, Any],
        state_backend: str,
        state_path: Any,
        lock_scope: str,
        lock_ttl_seconds: Any,
        env_vars: Dict[str, bool],
        resources: Optional[Dict[str, Any]] = None,
        packages: Optional[Dict[str, str]] = None,
        bundle_env_files: Tuple[Tuple[str, str, bool, str], ...] = (),
        vendored: Tuple[str, ...] = (),
        start_checks: Tuple[Any, ...] = (),
        bundle_dirs: bool = False,
    ) -> None:
        self.flow_id = flow_id
        self.source = source
        self.source_sha256 = source_sha256
        self.compiler_version = compiler_version
        self.description = description
        self.workspace_root = workspace_root
        self.cleanup_policy = cleanup_policy
        self.layout = layout
        self.state_backend = state_backend
        self.state_path = state_path
        self.lock_scope = lock_scope
        self.lock_ttl_seconds = lock_ttl_seconds
        self.env_vars = env_vars  # env variable -> True when every use has a default
        self.resources = resources or {}  # name -> resources.Resource
        self.packages = (
            packages or {}
        )  # import name -> the pip package a host must have
        # A bundle manifest's env files: (type, path, optional, prefix), loaded at run time
        self.bundle_env_files = bundle_env_files
        # Folders below aetherflow_vendor/ of the host packages compiled into the dist
        self.vendored = vendored
        # [job, step, section, templates]: what the engine's validation renders with the
        # environment before a run and an env value can fail (check_start_templates)
        self.start_checks = start_checks
        # Compiled from a bundle manifest: RUN_ENV names the bundle's folder
        self.bundle_dirs = bundle_dirs


class Job:
    def __init__(
        self,
        job_id: str,
        body: Callable[[Any], None],
        origin: str,
        depends_on: Tuple[str, ...] = (),
        when: Optional[Callable[[Any], Any]] = None,
        when_source: Optional[str] = None,
        description: Optional[str] = None,
    ) -> None:
        self.id = job_id
        self.body = body
        self.origin = origin
        self.depends_on = depends_on
        self.when = when
        self.when_source = when_source
        self.description = description


def _as_namespace(value: Any) -> Any:
    """A value as the engine's `when` reads it: every mapping, inside lists too, becomes a
    SimpleNamespace, so an empty one is true and two compare by their items."""
    if isinstance(value, dict):
        from types import SimpleNamespace

        return SimpleNamespace(**{str(k): _as_namespace(v) for k, v in value.items()})
    if isinstance(value, list):
        return [_as_namespace(item) for item in value]
    return value


class Jobs:
    """What `when` reads: jobs.<id>.outputs.<key>, .status and .skip_reason."""

    def __init__(self, entries: Dict[str, Dict[str, Any]]) -> None:
        self.entries = entries

    def _entry(self, job_id: str) -> Dict[str, Any]:
        if job_id not in self.entries:
            raise WhenError("job '%s' has not run in this run" % job_id)
        return self.entries[job_id]

    def output(self, job_id: str, key: str, *rest: str) -> Any:
        entry = self._entry(job_id)
        outputs = entry.get("outputs") or {}
        if key not in outputs:
            raise WhenError(
                "job '%s' (%s) has no output '%s'" % (job_id, entry.get("status"), key)
            )
        value = outputs[key]
        for part in rest:
            if not isinstance(value, dict) or part not in value:
                raise WhenError(
                    "job '%s' output '%s' has no '%s'" % (job_id, key, part)
                )
            value = value[part]
        return _as_namespace(value)

    def status(self, job_id: str) -> Any:
        return self._entry(job_id)["status"]

    def skip_reason(self, job_id: str) -> Any:
        entry = self._entry(job_id)
        if "skip_reason" not in entry:
            raise WhenError(
                "job '%s' (%s) has no skip_reason" % (job_id, entry.get("status"))
            )
        return entry["skip_reason"]


class Options:
    def __init__(
        self,
        run_id: str,
        selected: Tuple[str, ...] = (),
        keep_going: bool = False,
        env_files: Optional[List[Any]] = None,
        log_format: Optional[str] = None,
        bundle_root: str = "",
    ) -> None:
        self.run_id = run_id
        self.selected = selected
        self.keep_going = keep_going
        self.env_files = env_files or []
        self.log_format = log_format
        # Where a bundle's files are at run time ($AETHERFLOW_BUNDLE_ROOT, else the dist)
        self.bundle_root = bundle_root


class _JobFailed(Exception):
    def __init__(self, cause: BaseException) -> None:
        super().__init__(str(cause))
        self.cause = cause


class Run:
    def __init__(
        self,
        flow: Flow,
        jobs: List[Job],
        step_types: Dict[str, Callable[..., Any]],
        options: Options,
        environ: Dict[str, str],
    ) -> None:
        self.flow = flow
        self.jobs = jobs
        self.step_types = step_types
        self.options = options
        self.run_id = options.run_id
        self.env = build_snapshot(environ, options.env_files)
        # The engine's settings, from the snapshot and AETHERFLOW_SETTINGS_MODULE.
        self.settings = load_settings(self.env)
        # The secrets provider expands the whole snapshot and decodes resource values.
        self.secrets = load_secrets_provider(
            self.settings.secrets_module, self.settings.secrets_path
        )
        if self.secrets is not None:
            self.env = self.secrets.expand(self.env)
        fmt = (options.log_format or str(self.settings.log_format or "text")).lower()
        self.log = EventLog(
            flow.flow_id,
            "json" if fmt == "json" else "text",
            str(self.settings.log_level or "INFO"),
        )
        self.log.run_id = self.run_id
        for note in ignored_settings(self.settings):
            self.log.warning("setting_ignored", detail=note)
        self.metrics: Optional[Any] = None
        # AETHERFLOW_METRICS_TEXTFILE: where the run's Prometheus metrics go (textfile.py)
        self.textfile = self.env.get("AETHERFLOW_METRICS_TEXTFILE") or None
        if self.settings.metrics_module:
            from .metrics import load_metrics  # only runs with a metrics sink need it

            self.metrics = load_metrics(
                str(self.settings.metrics_module), self.log, flow.flow_id, self.run_id
            )
        meta = {"env": self.env}
        try:
            root = str(render(flow.workspace_root, meta))
            layout = {k: str(v) for k, v in render(flow.layout, meta).items()}
            state_path = str(render(flow.state_path, meta))
            self.lock_ttl = int(render(flow.lock_ttl_seconds, meta))
        except MissingKeyError as exc:
            raise ConfigError(
                "flow settings need env variable %s: %s"
                % (exc.path[4:] or exc.path, exc)
            ) from None
        except (TemplateError, ValueError) as exc:
            raise ConfigError("flow settings cannot be resolved: %s" % exc) from None
        if flow.start_checks:  # with the environment the engine's validation sees
            check_start_templates(flow.start_checks, self.env)
        # As the engine: the workspace root as written (or, from a bundle, the bundle's
        # folder) for steps and templates, whatever the environment said.
        folder = options.bundle_root if flow.bundle_dirs else path_text(root)
        for name in RUN_ENV:
            self.env[name] = folder
        # Resolved before anything runs, like the engine: a bad resource stops the run (exit 2).
        resolved: Dict[str, Dict[str, Any]] = {}
        if flow.resources:
            from .resources import (
                resolve_resources,
            )  # only flows with resources need it

            resolved = resolve_resources(flow.resources, self.env, self.secrets)
        self.connectors = Connectors(resolved, settings=self.settings)
        sandbox = self.env.get("AETHERFLOW_STRICT_SANDBOX", "true").lower() in (
            "1",
            "true",
            "yes",
            "y",
            "on",
        )
        self.workspace = Workspace(
            root, flow.flow_id, self.run_id, layout, flow.cleanup_policy, sandbox
        )
        self.workspace.check()  # a root that is a file or read-only: exit 2, nothing run
        self.state = open_state(flow.state_backend, state_path, self.env)
        # One live process per run id: a second one stops here, before it writes anything
        # to the run's state (exit 3); the lease goes with state.close().
        try:
            self.state.lease_run(self.run_id, flow.flow_id)
        except RunLive as exc:
            self.state.close()
            self.log.error("run_live", detail=str(exc))
            raise
        except OSError as exc:
            self.state.close()
            raise ConfigError(
                "cannot take the lease of run %s in the state store %s: %s"
                % (self.run_id, self.state.path or state_path, exc)
            ) from None
        except BaseException:
            self.state.close()
            raise
        api = sys.modules.get("aetherflow.core.api")
        if api is not None:  # plugins are loaded: their connectors get a RunContext
            self.connectors.ctx = api.RunContext.for_run(self)
        try:
            owner = self.state.run_flow(self.run_id)
            if (
                owner == flow.flow_id
            ):  # a resume: a damaged record stops it before it starts
                self.state.jobs(self.run_id)
                for job in jobs:
                    self.state.job_steps(job.id, self.run_id)
        except StateStoreError:
            self.state.close()
            raise
        if owner is not None and owner != flow.flow_id:
            self.state.close()
            raise ConfigError(
                "run id %s already belongs to flow %s in the state store %s; the engine's tables "
                "do not separate flows, so use another run id"
                % (self.run_id, owner, self.state.path or state_path)
            )
        # (own, key) -> TTL of every lock this run holds; own: the flow and job locks,
        # in a namespace of their own (af_locks), apart from with_lock keys.
        self.held_locks: Dict[Tuple[bool, str], int] = {}
        self.state_error: Optional[BaseException] = (
            None  # the store failed: write nothing more
        )
        self.last_renewal = time.monotonic()
        self.statuses: Dict[str, str] = {}
        self.job_entries: Dict[str, Dict[str, Any]] = {}
        self.summary: List[Dict[str, Any]] = []
        self.failure_causes: List[BaseException] = []
        self.last_status: Dict[str, Any] = {}
        # The job and step running now, for the metrics of an interrupted run:
        # (job, its JobRun, monotonic start), cleared when the job is finished.
        self.current_job: Optional[Tuple[Job, JobRun, float]] = None

    # -- locks ----------------------------------------------------------------------------
    def acquire_lock(self, key: str, ttl: int, own: bool = False) -> bool:
        """Not reentrant, as in the engine: a key this run holds already is held, unless
        its TTL is 0 or less: such a lock expires as it is taken, so anyone takes it."""
        held = self.held_locks.get((own, key))
        if held is not None and held > 0:
            return False
        if not self.state.acquire_lock(key, self.run_id, ttl, own):
            return False
        self.held_locks[(own, key)] = ttl
        return True

    def release_lock(self, key: str, own: bool = False) -> None:
        self.held_locks.pop((own, key), None)
        if self.state_error is not None:
            return  # the store records nothing more; the lock expires after its TTL
        try:
            self.state.release_lock(key, self.run_id, own)
        except StateStoreError as exc:
            self.state_error = exc
            raise

    def renewed_locks(self) -> bool:
        """True while the run holds a lock that needs renewing (a TTL above 0: one of 0
        or less has expired as it was taken, and renewing it would change nothing)."""
        return any(ttl > 0 for ttl in self.held_locks.values())

    def heartbeat(self) -> None:
        """Renew held locks when a third of the shortest TTL has passed."""
        if not self.held_locks:
            return
        ttls = [ttl for ttl in self.held_locks.values() if ttl > 0]
        if not ttls:
            return
        now = time.monotonic()
        if now - self.last_renewal < max(1.0, min(ttls) / 3.0):
            return
        self.last_renewal = now
        for (own, key), ttl in list(self.held_locks.items()):
            if ttl > 0:
                self.state.renew_lock(key, self.run_id, ttl, own)

    # -- the run --------------------------------------------------------------------------
    def execute(self) -> int:
        """Run the selected jobs; returns the exit code (see EXIT_* in cli)."""
        started = time.monotonic()
        wall_started = time.time()
        flow_lock = "flow:%s" % self.flow.flow_id
        self.log.info("run_start", source=self.flow.source)
        if self.flow.lock_scope == "flow" and not self.acquire_lock(
            flow_lock, self.lock_ttl, own=True
        ):
            self.log.error(
                "lock_held",
                key=flow_lock,
                detail="another run of this flow holds the flow lock",
            )
            self.state.close()
            return 3
        self.state.start_run(self.run_id, self.flow.flow_id)
        run_status = "INTERRUPTED"
        code = 1
        if self.metrics is not None:
            self.metrics.run_start()
        try:
            code = self._execute_jobs()
            run_status = {0: SUCCESS, 3: "LOCKED"}.get(code, FAILED)
        except StateStoreError as exc:
            self.state_error = exc
            raise
        except SystemExit as exc:  # SIGTERM or SIGINT (cli._on_signal): 128 + signal
            code = exc.code if isinstance(exc.code, int) else 1
            raise
        finally:
            for name in self.connectors.close_all():
                self.log.warning("connector_close_failed", resource=name)
            if self.state_error is not None:
                # What was recorded stays as it is: nothing more is written (exit 2).
                self.log.error("state_store_failed", error=str(self.state_error))
                self.log.info("run_end", status=FAILED, duration_ms=_ms(started))
                run_status, code = FAILED, 2
            else:
                for own, key in list(self.held_locks):
                    self.release_lock(key, own)
                self.state.finish_run(self.run_id, run_status)
                self.last_status = self.status_object(run_status)
                details = (
                    {"jobs": self.last_status["jobs"], "summary": self.summary}
                    if self.log.fmt == "json"
                    else {}
                )
                self.log.info(
                    "run_end", status=run_status, duration_ms=_ms(started), **details
                )
                if self.metrics is not None:
                    self.metrics.run_end(self.statuses)
            self.state.close()
            if self.textfile is not None:
                self._write_textfile(run_status, code, wall_started)
        return code

    def _write_textfile(self, run_status: str, code: int, started: float) -> None:
        from .textfile import (
            exposition,
            write_textfile,
        )  # only runs that set the variable

        flow_id, ended, jobs = (
            self.flow.flow_id,
            time.time(),
            self.metrics_jobs(run_status),
        )
        write_textfile(
            str(self.textfile),
            self.log,
            lambda: exposition(flow_id, run_status, code, started, ended, jobs),
        )

    def metrics_jobs(self, run_status: str) -> List[Dict[str, Any]]:
        """The summary's jobs, with the job and step that were running when the run
        stopped (INTERRUPTED by a signal, else FAILED) and, after them, the selected jobs
        not reached."""
        jobs = list(self.summary)
        if self.current_job is not None:
            job, body, job_started = self.current_job
            stopped = "INTERRUPTED" if run_status == "INTERRUPTED" else FAILED
            steps = list(body.summary)
            if body.current_step is not None:
                step_id, step_type, step_started = body.current_step
                steps.append(
                    {
                        "step_id": step_id,
                        "step_type": step_type,
                        "status": stopped,
                        "duration_ms": _ms(step_started),
                    }
                )
            jobs.append(
                {
                    "job_id": job.id,
                    "status": stopped,
                    "duration_ms": _ms(job_started),
                    "steps": steps,
                }
            )
        listed = {entry["job_id"] for entry in jobs}
        for job in self.jobs:
            if job.id in listed:
                continue
            if not self.options.selected or job.id in self.options.selected:
                jobs.append(
                    {
                        "job_id": job.id,
                        "status": "NOT_REACHED",
                        "duration_ms": 0,
                        "steps": [],
                    }
                )
        return jobs

    def _execute_jobs(self) -> int:
        prior = self.state.jobs(self.run_id)
        for index, job in enumerate(self.jobs):
            if self.options.selected and job.id not in self.options.selected:
                # An earlier attempt of this run id ran it: dependants see its result.
                if job.id in prior:
                    status, outputs, reason = prior[job.id]
                    self._remember(job.id, status, outputs, reason)
                continue
            try:
                self._run_job(job)
            except WhenError as exc:
                self.log.error("run_aborted", job_id=job.id, detail=str(exc))
                self._not_reached(index)
                return 1
            except LockHeld as exc:
                self.log.error("run_aborted", job_id=job.id, detail=str(exc))
                self._not_reached(index)
                return 3
            if self.statuses.get(job.id) == FAILED and not self.options.keep_going:
                self._not_reached(index + 1)
                break
        if not any(status == FAILED for status in self.statuses.values()):
            return 0
        if any(
            (isinstance(c, MissingKeyError) and c.is_env)
            or isinstance(c, WorkspaceError)
            for c in self.failure_causes
        ):
            return 2
        return 1

    def _not_reached(self, start: int) -> None:
        for job in self.jobs[start:]:
            if not self.options.selected or job.id in self.options.selected:
                self.summary.append(
                    {
                        "job_id": job.id,
                        "status": "NOT_REACHED",
                        "duration_ms": 0,
                        "steps": [],
                    }
                )

    def _remember(
        self, job_id: str, status: str, outputs: Dict[str, Any], reason: Optional[str]
    ) -> None:
        self.statuses[job_id] = status
        entry: Dict[str, Any] = {"status": status, "outputs": outputs}
        if reason is not None:
            entry["skip_reason"] = reason
        self.job_entries[job_id] = entry

    def _finish_job(
        self,
        job: Job,
        status: str,
        started: float,
        steps: List[Dict[str, Any]],
        outputs: Optional[Dict[str, Any]] = None,
        reason: Optional[str] = None,
    ) -> None:
        outputs = outputs or {}
        self.state.set_job(job.id, self.run_id, status, outputs, reason)
        self._remember(job.id, status, outputs, reason)
        duration = _ms(started)
        self.log.info(
            "job_end",
            job_id=job.id,
            status=status,
            duration_ms=duration,
            skip_reason=reason,
        )
        self.summary.append(
            {
                "job_id": job.id,
                "status": status,
                "duration_ms": duration,
                "skip_reason": reason,
                "steps": steps,
            }
        )
        self.current_job = None

    def _run_job(self, job: Job) -> None:
        started = time.monotonic()
        if any(self.statuses.get(dep) != SUCCESS for dep in job.depends_on):
            self.log.info(
                "job_blocked", job_id=job.id, depends_on=",".join(job.depends_on)
            )
            self._finish_job(job, BLOCKED, started, [])
            return
        if job.when is not None:
            try:
                condition = bool(job.when(Jobs(self.job_entries)))
            # An absent output, or ordering values of different types (as Python does).
            except (WhenError, TypeError) as exc:
                raise WhenError(
                    "invalid when for job '%s' (%s): %s" % (job.id, job.origin, exc)
                ) from None
            if not condition:
                self.log.info("job_skipped", job_id=job.id, when=job.when_source)
                self._finish_job(job, SKIPPED, started, [], reason="condition=false")
                return
        job_lock = "job:%s:%s" % (self.flow.flow_id, job.id)
        if self.flow.lock_scope == "job" and not self.acquire_lock(
            job_lock, self.lock_ttl, own=True
        ):
            self.log.error("lock_held", job_id=job.id, key=job_lock)
            raise LockHeld("job lock %r is held by another run" % job_lock)
        try:
            self.state.set_job(job.id, self.run_id, RUNNING)
            self.log.info("job_start", job_id=job.id)
            if self.metrics is not None:
                self.metrics.job_start(job.id)
            body = JobRun(self, job)
            self.current_job = (job, body, started)
            try:
                self.workspace.prepare(job.id)
                job.body(body)
            except (_JobFailed, WorkspaceError) as exc:
                cause = exc.cause if isinstance(exc, _JobFailed) else exc
                self.failure_causes.append(cause)
                self.log.error("job_failed", job_id=job.id, error=_one_line(cause))
                self._finish_job(job, FAILED, started, body.summary, body.outputs)
                self._job_metric(job.id, FAILED, started, None)
                self.workspace.cleanup(job.id, succeeded=False)
                return
            if body.skip_reason is not None:
                self._finish_job(
                    job, SKIPPED, started, body.summary, body.outputs, body.skip_reason
                )
                self._job_metric(job.id, SKIPPED, started, body.skip_reason)
            else:
                self._finish_job(job, SUCCESS, started, body.summary, body.outputs)
                self._job_metric(job.id, SUCCESS, started, None)
            self.workspace.cleanup(job.id, succeeded=True)
        finally:
            if self.flow.lock_scope == "job":
                self.release_lock(job_lock, own=True)

    def _job_metric(
        self, job_id: str, status: str, started: float, reason: Optional[str]
    ) -> None:
        if self.metrics is not None:
            self.metrics.job_end(job_id, status, _ms(started), reason)

    # -- reporting ------------------------------------------------------------------------
    def status_object(self, run_status: str) -> Dict[str, Any]:
        return status_report(
            self.flow,
            self.jobs,
            self.run_id,
            run_status,
            self.state.jobs(self.run_id),
            self.state.steps(self.run_id),
            self.state.ran_on(self.run_id),
        )


def status_report(
    flow: Flow,
    jobs: List[Job],
    run_id: str,
    run_status: Optional[str],
    job_rows: Dict[str, Any],
    step_rows: Dict[Tuple[str, str], str],
    ran_on: Optional[Dict[str, Dict[str, Any]]] = None,
) -> Dict[str, Any]:
    """The machine-readable status: jobs and steps in declared order, unreached jobs left out."""
    out_jobs: Dict[str, Any] = {}
    for job in jobs:
        if job.id not in job_rows:
            continue
        status, outputs, _reason = job_rows[job.id]
        steps: Dict[str, str] = {}
        for step_id in step_ids(job):
            if (job.id, step_id) in step_rows:
                steps[step_id] = step_rows[(job.id, step_id)]
        out_jobs[job.id] = {"status": status, "outputs": outputs, "steps": steps}
        if ran_on is not None and job.id in ran_on:
            out_jobs[job.id]["ran_on"] = ran_on[job.id]
    return {
        "flow_id": flow.flow_id,
        "run_id": run_id,
        "status": run_status or "UNKNOWN",
        "jobs": out_jobs,
    }


class JobRun:
    """The `run` object a job function receives: each `step(...)` runs one step."""

    def __init__(self, run: Run, job: Job) -> None:
        self.run = run
        self.job = job
        self.results: Dict[str, Dict[str, Any]] = {}  # steps.<id> of this job
        self.outputs: Dict[str, Any] = {}  # job.outputs, promoted by steps
        self.skip_reason: Optional[str] = None
        self.summary: List[Dict[str, Any]] = []
        self.current_step: Optional[Tuple[str, str, float]] = None  # (id, type, start)
        # What an earlier attempt of this run recorded, read once (resume).
        self.recorded = run.state.job_steps(job.id, run.run_id)

    def _context(self, result: Dict[str, Any]) -> Dict[str, Any]:
        return {
            "env": self.run.env,
            "steps": self.results,
            "job": {"id": self.job.id, "outputs": self.outputs},
            "run_id": self.run.run_id,
            "flow_id": self.run.flow.flow_id,
            "result": result,
            "jobs": self.run.job_entries,
        }

    def step(
        self,
        step_id: str,
        step_type: str,
        inputs: Optional[Dict[str, Any]] = None,
        outputs: Optional[Dict[str, Any]] = None,
        on_no_data: Optional[str] = None,
    ) -> None:
        run, job = self.run, self.job
        run.heartbeat()
        # An earlier step reported no data (on_no_data: skip_job): skip the rest.
        if self.skip_reason is not None:
            skipped = {"skipped": True, "reason": self.skip_reason}
            run.state.set_step(job.id, run.run_id, step_id, SKIPPED, skipped)
            self.results[step_id] = skipped
            self._summarize(step_id, step_type, SKIPPED, time.monotonic())
            return
        previous = self.recorded.get(step_id)
        if previous is not None and previous[0] in (SUCCESS, SKIPPED):
            status, result, promoted = previous  # resume: done before, never run again
            self.results[step_id] = result
            self.outputs.update(promoted)
            run.log.info("step_resumed", job_id=job.id, step_id=step_id, status=status)
            if status == SKIPPED and on_no_data == "skip_job":
                self.skip_reason = str(
                    result.get("reason") or "step requested skip_job"
                )
            self._summarize(step_id, step_type, status, time.monotonic(), resumed=True)
            return

        started = time.monotonic()
        self.current_step = (step_id, step_type, started)
        run.log.info("step_start", job_id=job.id, step_id=step_id, step_type=step_type)
        if run.metrics is not None:
            run.metrics.step_start(job.id, step_id, step_type)
        try:
            rendered = render(inputs or {}, self._context({}))
            impl = run.step_types[step_type]
            raw = impl(StepContext(run, job.id, step_id), rendered)
        except Exception as exc:
            run.state.set_step(
                job.id, run.run_id, step_id, FAILED, {"error": _one_line(exc)}
            )
            run.log.error(
                "step_end",
                job_id=job.id,
                step_id=step_id,
                status=FAILED,
                duration_ms=_ms(started),
                error=_one_line(exc),
            )
            self._summarize(step_id, step_type, FAILED, started)
            self._step_metric(step_id, step_type, FAILED, started)
            raise _JobFailed(exc) from None
        if isinstance(raw, StepResult):
            status = SKIPPED if raw.status == SKIPPED else SUCCESS
            result = raw.as_output()
        else:
            status, result = SUCCESS, dict(raw or {})
        self.results[step_id] = result
        promoted = {}
        promote_error: Optional[Exception] = None
        if outputs:
            try:
                promoted = render(outputs, self._context(result))
            except TemplateError as exc:
                promote_error = exc
        run.state.set_step(job.id, run.run_id, step_id, status, result, promoted)
        self.outputs.update(promoted)
        run.log.info(
            "step_end",
            job_id=job.id,
            step_id=step_id,
            status=status,
            duration_ms=_ms(started),
        )
        self._summarize(step_id, step_type, status, started)
        self._step_metric(step_id, step_type, status, started)
        if promote_error is not None:
            raise _JobFailed(promote_error)
        if status == SKIPPED and on_no_data == "skip_job":
            self.skip_reason = str(result.get("reason") or "step requested skip_job")
            run.log.info(
                "job_no_data", job_id=job.id, step_id=step_id, reason=self.skip_reason
            )

    def _step_metric(
        self, step_id: str, step_type: str, status: str, started: float
    ) -> None:
        if self.run.metrics is not None:
            self.run.metrics.step_end(
                self.job.id, step_id, step_type, status, _ms(started)
            )

    def _summarize(
        self,
        step_id: str,
        step_type: str,
        status: str,
        started: float,
        resumed: bool = False,
    ) -> None:
        self.current_step = None
        entry: Dict[str, Any] = {
            "step_id": step_id,
            "step_type": step_type,
            "status": status,
            "duration_ms": _ms(started),
        }
        if resumed:
            entry["resumed"] = True
        self.summary.append(entry)


def new_run_id() -> str:
    return os.urandom(6).hex()


class StepContext:
    """What a step implementation may use."""

    def __init__(self, run: Run, job_id: str, step_id: str) -> None:
        self.run = run
        self.flow_id = run.flow.flow_id
        self.run_id = run.run_id
        self.job_id = job_id
        self.step_id = step_id
        self.env = run.env
        self.log = run.log
        self.connectors = run.connectors

    def resolve_path(self, path: Any) -> str:
        return self.run.workspace.resolve(self.job_id, str(path))

    def artifacts_dir(self) -> str:
        return self.run.workspace.artifacts_dir(self.job_id)

    def heartbeat(self) -> None:
        self.run.heartbeat()

    def holds_locks(self) -> bool:
        """True while the run holds locks, which need renewing as a step runs."""
        return self.run.renewed_locks()

    def sleep(self, seconds: float) -> None:
        end = time.monotonic() + seconds
        while True:
            left = end - time.monotonic()
            if left <= 0:
                return
            time.sleep(min(left, 1.0))
            self.run.heartbeat()

    def acquire_lock(self, key: str, ttl: int) -> bool:
        return self.run.acquire_lock(key, ttl)

    def release_lock(self, key: str) -> None:
        self.run.release_lock(key)

    def run_step(self, step_type: str, step_id: str, inputs: Dict[str, Any]) -> Any:
        """Run another step type here (with_lock's embedded step)."""
        if step_type not in self.run.step_types:
            raise StepError(
                "step type %r is not compiled into this artifact" % step_type
            )
        return self.run.step_types[step_type](self.child(step_id), inputs)

    def child(self, step_id: str) -> "StepContext":
        return StepContext(self.run, self.job_id, step_id)


class Recorder:
    """Stands in for JobRun when planning: records step calls, runs nothing."""

    def __init__(self) -> None:
        self.steps: List[Dict[str, Any]] = []

    def step(
        self,
        step_id: str,
        step_type: str,
        inputs: Optional[Dict[str, Any]] = None,
        outputs: Optional[Dict[str, Any]] = None,
        on_no_data: Optional[str] = None,
    ) -> None:
        self.steps.append(
            {
                "id": step_id,
                "type": step_type,
                "inputs": show(inputs or {}),
                "outputs": show(outputs or {}),
                "on_no_data": on_no_data,
            }
        )


# Set in every run's env snapshot, as the engine sets them (docs/compatibility.md).
RUN_ENV = ("AETHERFLOW_LOCAL_ROOT_DIR", "AETHERFLOW_ACTIVE_DIR", "AETHERFLOW_CACHE_DIR")


def path_text(path: str) -> str:
    """`path` as str(pathlib.PurePosixPath(path)) writes it (the engine passes a Path):
    no empty or '.' parts, no trailing '/', '//' kept only as exactly two leading ones.
    """
    lead = "/" if path.startswith("/") else ""
    if path.startswith("//") and not path.startswith("///"):
        lead = "//"
    parts = [part for part in path.split("/") if part not in ("", ".")]
    return (lead + "/".join(parts)) or "."


def check_start_templates(checks: Any, env: Dict[str, str]) -> None:
    """Refuse the run (ConfigError, exit 2, before anything is written) where the engine's
    validation does: it renders each step's inputs and outputs with the environment,
    run_id and flow_id as placeholders and every other root empty, stops a section at the
    first key that does not resolve, and fails when a rendered text holds forbidden
    syntax (an env value such as 'a{}b' inside 'v={{env.X}}'). The compiler lists only
    the templates an env value can decide."""
    context = {
        "env": env,
        "steps": {},
        "job": {},
        "run_id": "RUN_ID",
        "flow_id": "FLOW_ID",
        "result": {},
    }
    for job_id, step_id, section, templates in checks:
        try:
            for template in templates:
                render(template, context)
        except MissingKeyError:
            continue  # the validation stops this section here, as it does
        except TemplateError as exc:
            raise ConfigError(
                "job '%s', step '%s', %s: %s (the engine's validation renders step "
                "templates with the environment and refuses the run)"
                % (job_id, step_id, section, str(exc).replace("\n", " | "))
            ) from None


def step_ids(job: Job) -> List[str]:
    recorder = Recorder()
    job.body(recorder)
    return [s["id"] for s in recorder.steps]


def _ms(started: float) -> int:
    return int((time.monotonic() - started) * 1000)


def _one_line(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return text.replace("\n", " | ")
