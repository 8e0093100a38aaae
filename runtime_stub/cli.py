"""The command line of a compiled flow: run, plan, check-env, status, --version.

Exit codes: 0 no job FAILED; 1 a job FAILED (or a `when` could not be evaluated);
2 usage or configuration error (missing env, bad env file); 3 a flow or job lock is held
by another run, or the run id is running in another process.
"""

from __future__ import annotations

import json
import os
import re
import signal
import sys

from . import TYPE_CHECKING
from .environment import EnvFile, build_snapshot, env_file_from_option
from .errors import ConfigError, RunLive
from .runner import Flow, Job, Options, Recorder, Run, new_run_id, status_report
from .state import open_state
from .templating import render

if TYPE_CHECKING:  # names for annotations only: importing typing slows every start
    from typing import Any, Callable, Dict, List, Optional

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_CONFIG = 2
EXIT_LOCKED = 3
_RUN_ID = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")


USAGE = """usage: %(prog)s COMMAND [OPTIONS]   (compiled AetherFlow flow %(flow)s, from %(source)s)

commands:
  run         run the flow
                --run-id ID        run id (default: a new one); an existing id resumes that run
                --resume           continue the latest run if it did not succeed
                --job ID           run only this job (repeatable)
                --env-file F       dotenv file, *.json file or directory of files (repeatable)
                --keep-going       after a failed job, run later jobs that do not depend on it
                --log-format FMT   text or json events on stderr
                --json-summary F   write the final status object to F
  plan        print jobs and steps in order with their static inputs
  check-env   list the env variables the flow reads; exit 2 if one is missing
                --env-file F
  status      job and step statuses from the state store
                --run-id ID        (default: the latest run)
                --json             print one JSON object
                --env-file F
  verify      check every file of the deployed dist against its manifest.json
  --version   print the compiler version and the source hash

exit codes: 0 no job failed, 1 a job failed, 2 usage or configuration error,
3 a flow or job lock is held by another run, or the run id is running in another process
"""

# command -> {option: kind}; kinds: "flag", "value", "many" (repeatable value)
_OPTIONS = {
    "run": {
        "--run-id": "value",
        "--resume": "flag",
        "--job": "many",
        "--env-file": "many",
        "--keep-going": "flag",
        "--log-format": "value",
        "--json-summary": "value",
    },
    "plan": {},
    "check-env": {"--env-file": "many"},
    "status": {"--run-id": "value", "--json": "flag", "--env-file": "many"},
    "verify": {},
}


class UsageError(Exception):
    pass


class Args:
    """Parsed command line: `command` plus one attribute per option (dashes as '_')."""

    def __init__(self, command: str) -> None:
        self.command = command
        self.run_id: Optional[str] = None
        self.resume = False
        self.job: List[str] = []
        self.env_file: List[str] = []
        self.keep_going = False
        self.log_format: Optional[str] = None
        self.json_summary: Optional[str] = None
        self.json = False


def parse_args(argv: List[str]) -> Args:
    """A small parser for a small command line: importing argparse costs more than a
    whole short run spends on its own work."""
    if not argv:
        raise UsageError("a command is required")
    command, rest = argv[0], argv[1:]
    if command not in _OPTIONS:
        raise UsageError("unknown command %r" % command)
    options = _OPTIONS[command]
    args = Args(command)
    index = 0
    while index < len(rest):
        word = rest[index]
        name, given = word, None
        if word.startswith("--") and "=" in word:
            name, given = word.split("=", 1)
        kind = options.get(name)
        if kind is None:
            raise UsageError("unknown option %r for %s" % (word, command))
        attribute = name[2:].replace("-", "_")
        if kind == "flag":
            if given is not None:
                raise UsageError("option %s takes no value" % name)
            setattr(args, attribute, True)
        else:
            if given is None:
                index += 1
                if index >= len(rest):
                    raise UsageError("option %s needs a value" % name)
                given = rest[index]
            if kind == "many":
                getattr(args, attribute).append(given)
            else:
                setattr(args, attribute, given)
        index += 1
    if args.run_id is not None and args.resume:
        raise UsageError("use either --run-id or --resume")
    if args.log_format not in (None, "text", "json"):
        raise UsageError("--log-format must be text or json")
    return args


def main(
    flow: Flow,
    jobs: List[Job],
    step_types: Dict[str, Callable[..., Any]],
    argv: Optional[List[str]] = None,
) -> int:
    argv = sys.argv[1:] if argv is None else argv
    prog = os.path.basename(sys.argv[0]) or flow.flow_id
    usage = USAGE % {"prog": prog, "flow": flow.flow_id, "source": flow.source}
    if argv in (["-h"], ["--help"]):
        sys.stdout.write(usage)
        return EXIT_OK
    if argv == ["--version"]:
        print(
            "%s: compiled by aetherflow-compiler %s from %s (sha256 %s)"
            % (flow.flow_id, flow.compiler_version, flow.source, flow.source_sha256)
        )
        return EXIT_OK
    try:
        args = parse_args(argv)
    except UsageError as exc:
        sys.stderr.write("error: %s\n\n%s" % (exc, usage))
        return EXIT_CONFIG
    try:
        if args.command == "run":
            return _run(flow, jobs, step_types, args)
        if args.command == "plan":
            return _plan(flow, jobs)
        if args.command == "check-env":
            return _check_env(flow, args)
        if args.command == "verify":
            return _verify()
        return _status(flow, jobs, args)
    except ConfigError as exc:
        sys.stderr.write("error: %s\n" % exc)
        return EXIT_CONFIG
    except RunLive:  # the run_live event names the process that runs it
        return EXIT_LOCKED
    except Exception as exc:
        damaged = _damaged_bytecode(exc)
        if damaged is None:
            raise
        sys.stderr.write(
            "error: the runtime's bytecode %s cannot be loaded (%s: %s)\n"
            "  `%s verify` lists the files that differ; deploy the compiled directory again\n"
            % (damaged, type(exc).__name__, exc, sys.argv[0])
        )
        return EXIT_CONFIG


def _damaged_bytecode(exc: BaseException) -> Optional[str]:
    """The .pyc of a module imported on first use, when Python's import machinery failed
    to unmarshal it (a corrupt file behind a valid header: `marshal data too short`),
    else None. The runtime's sources are hashed at start; its bytecode is not."""
    tb = exc.__traceback__
    while tb is not None and tb.tb_next is not None:
        tb = tb.tb_next
    if tb is None or not isinstance(exc, (EOFError, ValueError, TypeError)):
        return None
    frame = tb.tb_frame
    if not frame.f_code.co_filename.startswith("<frozen importlib"):
        return None
    path = frame.f_locals.get("bytecode_path")
    return str(path) if path else None


def _bundle_root() -> str:
    """Where a bundle's files are at run time: $AETHERFLOW_BUNDLE_ROOT, else the folder
    of the flow script (the deployed dist)."""
    return os.environ.get("AETHERFLOW_BUNDLE_ROOT") or os.path.dirname(
        os.path.abspath(sys.argv[0])
    )


def _env_files(args: Args, flow: Flow) -> List[Any]:
    """The bundle manifest's env files (relative to _bundle_root()), then --env-file
    options: later files win."""
    root = _bundle_root()
    bundle = [
        EnvFile(kind, os.path.join(root, path), optional, prefix)
        for kind, path, optional, prefix in flow.bundle_env_files
    ]
    return bundle + [env_file_from_option(path) for path in args.env_file]


def _on_signal(signum: int, frame: Any) -> None:
    # Unwind through the runner's finally blocks: the child process group is killed,
    # locks are released and the run is recorded INTERRUPTED.
    raise SystemExit(128 + signum)


def _run(
    flow: Flow,
    jobs: List[Job],
    step_types: Dict[str, Callable[..., Any]],
    args: Args,
) -> int:
    known = [job.id for job in jobs]
    for job_id in args.job:
        if job_id not in known:
            raise ConfigError("unknown job %r (jobs: %s)" % (job_id, ", ".join(known)))
    run_id = args.run_id
    if run_id is not None and not _RUN_ID.match(run_id):
        raise ConfigError(
            "invalid run id %r: use letters, digits, '_', '.' and '-'" % run_id
        )
    if args.resume:
        latest = _latest_run(flow, _env_files(args, flow))
        if latest is None or latest[1] == "SUCCESS":
            sys.stderr.write(
                "nothing to resume: %s\n"
                % (
                    "no run of %s recorded" % flow.flow_id
                    if latest is None
                    else "the latest run %s succeeded" % latest[0]
                )
            )
            return EXIT_OK
        run_id = latest[0]
    if args.json_summary:  # checked before anything runs: fail fast, not after the run
        problem = _unwritable(args.json_summary)
        if problem:
            raise ConfigError("--json-summary %s %s" % (args.json_summary, problem))
    options = Options(
        run_id or new_run_id(),
        tuple(args.job),
        args.keep_going,
        _env_files(args, flow),
        args.log_format,
        _bundle_root(),
    )
    run = Run(flow, jobs, step_types, options, dict(os.environ))
    previous = {
        sig: signal.signal(sig, _on_signal) for sig in (signal.SIGTERM, signal.SIGINT)
    }
    try:
        code = run.execute()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    _print_summary(run, code)
    if args.json_summary:
        text = json.dumps(run.last_status, indent=2, ensure_ascii=False) + "\n"
        try:
            _write_summary(args.json_summary, text)
        except OSError as exc:
            # A full disk: the run is recorded as it ended, `status --json` prints it.
            sys.stderr.write(
                "error: cannot write --json-summary %s: %s\n" % (args.json_summary, exc)
            )
            return EXIT_CONFIG
    return code


def _unwritable(path: str) -> str:
    """Why `path` cannot be (re)written as a file, or ''. Mode bits are checked with
    access(2): a read-only file system is found for every user, a mode only for others
    than root."""
    if os.path.isdir(path):
        return "is a directory"
    if os.path.exists(path):
        return "" if os.access(path, os.W_OK) else "is not writable"
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        return "cannot be created: %s is not a directory" % folder
    if not os.access(folder, os.W_OK | os.X_OK):
        return "cannot be created: %s is not writable" % folder
    return ""


def _write_summary(path: str, text: str) -> None:
    """A regular file (or none) is replaced whole: a temporary file renamed over it, so
    that a reader never sees half of it; when that fails, an earlier run's summary is
    removed rather than left to be taken for this run's. Anything else at `path` (a
    link such as /dev/stdout, a pipe) is written through and never replaced."""
    import stat

    try:
        regular = stat.S_ISREG(os.lstat(path).st_mode)
    except FileNotFoundError:
        regular = True
    if not regular:
        with open(path, "w", encoding="utf-8") as fh:
            fh.write(text)
        return
    tmp = "%s.%d.tmp" % (path, os.getpid())
    try:
        with open(tmp, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except OSError:
        for stale in (tmp, path):
            try:
                os.unlink(stale)
            except OSError:
                pass
        raise


def _print_summary(run: Run, code: int) -> None:
    if run.log.fmt == "json":
        return  # the run_end event carries the same information
    lines = [
        "run %s of %s: %s (exit %d)"
        % (run.run_id, run.flow.flow_id, run.last_status.get("status"), code)
    ]
    for job in run.summary:
        reason = " (%s)" % job["skip_reason"] if job.get("skip_reason") else ""
        lines.append(
            "  %-24s %-11s %6d ms%s"
            % (job["job_id"], job["status"], job["duration_ms"], reason)
        )
        for step in job["steps"]:
            note = "  (resumed)" if step.get("resumed") else ""
            lines.append(
                "    %-22s %-11s %6d ms%s"
                % (step["step_id"], step["status"], step["duration_ms"], note)
            )
    sys.stderr.write("\n".join(lines) + "\n")


def _open_state(flow: Flow, env_files: List[Any]) -> Any:
    """The flow's state store, from one env snapshot: its path, or AETHERFLOW_STATE_URL."""
    env = build_snapshot(os.environ, env_files)
    try:
        path = str(render(flow.state_path, {"env": env}))
    except Exception as exc:
        raise ConfigError("cannot resolve the state path: %s" % exc) from None
    return open_state(flow.state_backend, path, env)


def _latest_run(flow: Flow, env_files: List[Any]) -> Optional[Any]:
    state = _open_state(flow, env_files)
    try:
        return state.latest_run(flow.flow_id)
    finally:
        state.close()


def _plan(flow: Flow, jobs: List[Job]) -> int:
    out = [
        "flow %s (compiled from %s by aetherflow-compiler %s)"
        % (flow.flow_id, flow.source, flow.compiler_version)
    ]
    out.append(
        "  workspace: %s (cleanup %s)"
        % (_shown(flow.workspace_root), flow.cleanup_policy)
    )
    out.append("  state:     %s %s" % (flow.state_backend, _shown(flow.state_path)))
    out.append(
        "  locks:     scope %s, ttl %s s"
        % (flow.lock_scope, _shown(flow.lock_ttl_seconds))
    )
    for job in jobs:
        extra = ""
        if job.depends_on:
            extra += "  depends_on: %s" % ", ".join(job.depends_on)
        if job.when_source:
            extra += "  when: %s" % job.when_source
        out.append("job %s  [%s]%s" % (job.id, job.origin, extra))
        recorder = Recorder()
        job.body(recorder)
        for step in recorder.steps:
            flag = "  on_no_data: skip_job" if step["on_no_data"] else ""
            out.append("  step %s  %s%s" % (step["id"], step["type"], flag))
            out.append(
                "    inputs:  %s"
                % json.dumps(step["inputs"], ensure_ascii=False, default=str)
            )
            if step["outputs"]:
                out.append(
                    "    outputs: %s"
                    % json.dumps(step["outputs"], ensure_ascii=False, default=str)
                )
    print("\n".join(out))
    return EXIT_OK


def _shown(value: Any) -> str:
    source = getattr(value, "source", None)
    return source() if callable(source) else str(value)


def _check_env(flow: Flow, args: Args) -> int:
    env = build_snapshot(os.environ, _env_files(args, flow))
    missing = []
    for name, has_default in sorted(flow.env_vars.items()):
        present = env.get(name, "") != ""
        state = (
            "set"
            if present
            else ("not set, has a default" if has_default else "MISSING")
        )
        print("%-32s %s" % (name, state))
        if not present and not has_default:
            missing.append(name)
    absent = []
    damaged: List[str] = []  # vendored files that are not as compiled
    if flow.vendored:
        from .vendored import vendored_report

        try:
            rows, damaged = vendored_report(sys.argv[0], flow.vendored)
        except ValueError as exc:
            raise ConfigError(str(exc)) from None
        for name, version, folder in rows:
            print(
                "%-32s %s %s (aetherflow_vendor/%s)"
                % ("vendored", name, version, folder)
            )
    packages = dict(flow.packages)
    if env.get("AETHERFLOW_STATE_URL"):  # the PostgreSQL state store's driver
        packages["psycopg"] = "psycopg"
    if packages:
        import importlib

        for module, package in sorted(packages.items()):
            try:
                importlib.import_module(module)
                found = True
            except Exception:  # not installed, or broken on this host
                found = False
            print(
                "%-32s %s"
                % ("package " + package, "importable" if found else "MISSING")
            )
            if not found:
                absent.append(package)
    if missing:
        sys.stderr.write("missing required env variables: %s\n" % ", ".join(missing))
    if damaged:
        sys.stderr.write(
            "vendored packages differ from manifest.json (deploy the compiled directory "
            "as a whole):\n%s\n" % "\n".join("  " + p for p in damaged)
        )
    if absent:
        sys.stderr.write(
            "missing Python packages: %s (install them for the python3 that runs this flow; "
            "`python3 -S` hides site-packages)\n" % ", ".join(absent)
        )
    return EXIT_CONFIG if missing or absent or damaged else EXIT_OK


def _verify() -> int:
    """`verify` of a --single-file script (the others run verify.py on its own)."""
    from .verify import report_dist

    return report_dist(sys.argv[0])


def _status(flow: Flow, jobs: List[Job], args: Args) -> int:
    state = _open_state(flow, _env_files(args, flow))
    try:
        run_id = args.run_id
        if run_id is None:
            latest = state.latest_run(flow.flow_id)
            if latest is None:
                raise ConfigError(
                    "no run of %s is recorded in the state store" % flow.flow_id
                )
            run_id = latest[0]
        job_rows = state.jobs(run_id)
        if not job_rows and state.run_status(run_id) is None:
            raise ConfigError("run %s is not recorded in the state store" % run_id)
        report = status_report(
            flow,
            jobs,
            run_id,
            state.run_status(run_id),
            job_rows,
            state.steps(run_id),
            state.ran_on(run_id),
        )
    finally:
        state.close()
    if args.json:
        print(json.dumps(report, indent=2, ensure_ascii=False, default=str))
        return EXIT_OK
    print("run %s of %s: %s" % (report["run_id"], report["flow_id"], report["status"]))
    for job_id, job in report["jobs"].items():
        print("  %-24s %s" % (job_id, job["status"]))
        for step_id, step_status in job["steps"].items():
            print("    %-22s %s" % (step_id, step_status))
    return EXIT_OK
