"""external.process in compiled artifacts: argv, env, timeouts, retries, logs, checks."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import Project, alive, statuses
from polling import text_of, wait_for


def _outputs(project: Project, flow_id: str, run_id: str = "r1", job: str = "a") -> dict:  # type: ignore[type-arg]
    return project.status(flow_id, run_id)["jobs"][job]["outputs"]  # type: ignore[no-any-return]


def _flow(
    project: Project, flow_id: str, *jobs: dict, extra: str = "", compile: bool = True
) -> None:
    """flows/<flow_id>.yaml with `jobs`, each written as one line of JSON (YAML reads it);
    `extra` goes into the flow header. Compiled unless told not to."""
    text = "jobs:\n" + "".join(f"  - {json.dumps(job)}\n" for job in jobs)
    project.write_flow(f"{flow_id}.yaml", project.header(flow_id, extra=extra) + text)
    if compile:
        project.compile()


def _job(*steps: dict, job_id: str = "a") -> dict:
    return {"id": job_id, "steps": list(steps)}


def _step(step_id: str, inputs: dict, outputs: dict | None = None) -> dict:
    """An external.process step."""
    step = {"id": step_id, "type": "external.process", "inputs": inputs}
    return {**step, "outputs": outputs} if outputs else step


def _start(project: Project, flow_id: str, pid_file: Path) -> subprocess.Popen[str]:
    """Start a run of `flow_id` in the background; return once its step wrote pid_file."""
    proc = subprocess.Popen(
        [sys.executable, "-I", "-S", str(project.dist / f"{flow_id}.py"), "run", "--run-id", "r1"],
        stderr=subprocess.PIPE,
        text=True,
    )
    wait_for(lambda: text_of(pid_file), timeout=10, what="the step's pid file")
    return proc


def _terminate(project: Project, flow_id: str, proc: subprocess.Popen[str], pid_file: Path) -> None:
    """SIGTERM to the run: it ends 128+15, its step is gone and the run is INTERRUPTED."""
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=10) == 128 + signal.SIGTERM
    step_pid = int(pid_file.read_text())
    wait_for(lambda: not alive(step_pid), timeout=5, what="the step to end after SIGTERM")
    assert project.status(flow_id, "r1")["status"] == "INTERRUPTED"


def test_command_string_is_one_argv_element_and_args_are_appended(project: Project) -> None:
    printer = "import json,sys; print(json.dumps(sys.argv[1:]))"
    _flow(
        project,
        "argv",
        _job(
            _step(
                "list",
                {
                    "command": ["python3", "-c", printer, "a b"],
                    "args": [1, None, True, 2.5],
                    "log": {"stdout": "capture"},
                },
                {"out": "{{result.stdout}}"},
            ),
            _step("single", {"command": "echo hi", "log": {"stderr": "capture"}}),
        ),
    )
    proc = project.run("argv", "run", "--run-id", "r1", check_exit=1)
    assert json.loads(_outputs(project, "argv")["out"]) == ["a b", "1", "None", "True", "2.5"]
    # "echo hi" is the program name, not a shell line.
    assert "cannot start 'echo hi'" in proc.stderr


def test_shell_joins_argv_with_quoting(project: Project) -> None:
    _flow(
        project,
        "shell",
        _job(
            _step(
                "s",
                {
                    "command": ["printf", "%s|", "it's", "$HOME", "a;b"],
                    "shell": True,
                    "log": {"stdout": "capture"},
                },
                {"out": "{{result.stdout}}"},
            )
        ),
    )
    project.run("shell", "run", "--run-id", "r1", check_exit=0)
    assert _outputs(project, "shell")["out"] == "it's|$HOME|a;b|"


def test_env_inheritance_and_flow_variables(project: Project) -> None:
    dump = "import json,os; print(json.dumps({k: os.environ.get(k) for k in ['OUTER','X','NUL','AETHERFLOW_FLOW_ID','AETHERFLOW_RUN_ID']}))"
    _flow(
        project,
        "envs",
        _job(
            _step(
                "inherit",
                {
                    "command": ["python3", "-c", dump],
                    "env": {"X": 1, "NUL": None},
                    "log": {"stdout": "capture"},
                },
                {"inherit": "{{result.stdout}}"},
            ),
            _step(
                "clean",
                {
                    "command": ["/usr/bin/env"],
                    "inherit_env": False,
                    "env": {"ONLY": "me"},
                    "log": {"stdout": "capture"},
                },
                {"clean": "{{result.stdout}}"},
            ),
        ),
    )
    project.run("envs", "run", "--run-id", "r1", env={"OUTER": "yes"}, check_exit=0)
    out = _outputs(project, "envs")
    assert json.loads(out["inherit"]) == {
        "OUTER": "yes",
        "X": "1",
        "NUL": "",
        "AETHERFLOW_FLOW_ID": "envs",
        "AETHERFLOW_RUN_ID": "r1",
    }
    assert sorted(out["clean"].split()) == [
        "AETHERFLOW_FLOW_ID=envs",
        "AETHERFLOW_RUN_ID=r1",
        "ONLY=me",
    ]


def test_timeout_kills_the_whole_process_group(project: Project) -> None:
    _flow(
        project,
        "slow",
        _job(
            _step(
                "hang",
                {
                    "command": ["sh", "-c", "trap '' TERM; sleep 60 & echo $! > child.pid; wait"],
                    "cwd": ".",
                    "timeout_seconds": 1,
                    "kill_grace_seconds": 1,
                },
            )
        ),
    )
    started = time.monotonic()
    proc = project.run("slow", "run", "--run-id", "r1", check_exit=1)
    assert time.monotonic() - started < 15
    assert "timed out after 1s" in proc.stderr
    pid = int((project.work / "slow" / "a" / "r1" / "artifacts" / "child.pid").read_text())
    wait_for(
        lambda: not alive(pid), timeout=5, what="the background grandchild to end after the timeout"
    )


def test_retries_on_listed_exit_codes_with_backoff(project: Project) -> None:
    script = (
        "n=$(cat count 2>/dev/null || echo 0); n=$((n+1)); echo $n > count; [ $n -ge 3 ] || exit 75"
    )
    _flow(
        project,
        "retry",
        _job(
            _step(
                "flaky",
                {
                    "command": ["sh", "-c", script],
                    "cwd": ".",
                    "retry": {
                        "max_attempts": 3,
                        "retry_on_exit_codes": [75],
                        "backoff_seconds": 0.2,
                        "backoff_multiplier": 2,
                    },
                },
                {"attempts": "{{result.attempts}}"},
            ),
            _step(
                "unlisted",
                {
                    "command": ["sh", "-c", "echo x >> tries; exit 3"],
                    "cwd": ".",
                    "retry": {"max_attempts": 5, "retry_on_exit_codes": [75]},
                },
            ),
        ),
    )
    started = time.monotonic()
    project.run("retry", "run", "--run-id", "r1", check_exit=1)
    assert time.monotonic() - started >= 0.6  # 0.2 + 0.4 s of backoff
    assert _outputs(project, "retry")["attempts"] == 3
    assert (
        project.work / "retry" / "a" / "r1" / "artifacts" / "tries"
    ).read_text() == "x\n"  # no retry on 3


def test_retry_on_timeout_and_file_logs_across_attempts(project: Project) -> None:
    script = 'n=$(cat count 2>/dev/null || echo 0); n=$((n+1)); echo $n > count; echo "attempt $n"; echo "err $n" >&2; [ $n -ge 2 ] || sleep 30'
    _flow(
        project,
        "tmo",
        _job(
            _step(
                "s",
                {
                    "command": ["sh", "-c", script],
                    "cwd": ".",
                    "timeout_seconds": 1,
                    "kill_grace_seconds": 1,
                    "retry": {"max_attempts": 2, "retry_on_timeout": True},
                    "log": {"stdout": "file", "stderr": "file", "file_path": "logs/s.log"},
                },
                {"log": "{{result.log_file}}", "attempts": "{{result.attempts}}"},
            )
        ),
    )
    project.run("tmo", "run", "--run-id", "r1", check_exit=0)
    out = _outputs(project, "tmo")
    assert out["attempts"] == 2
    log = Path(out["log"]).read_text()
    assert "attempt 1" in log and "attempt 2" in log and "err 2" in log


def test_capture_is_complete_and_bounded(project: Project) -> None:
    big = "import sys; sys.stdout.write('x' * 300000); sys.stderr.write('y' * 5000)"
    _flow(
        project,
        "cap",
        _job(
            _step(
                "full",
                {
                    "command": ["python3", "-c", big],
                    "log": {"stdout": "capture", "stderr": "capture", "max_capture_kb": 1024},
                },
                {"n_out": "{{result.stdout}}", "n_err": "{{result.stderr}}"},
            ),
            _step(
                "bounded",
                {
                    "command": ["python3", "-c", big],
                    "log": {"stdout": "capture", "stderr": "discard", "max_capture_kb": 1},
                },
                {"small": "{{result.stdout}}"},
            ),
        ),
    )
    project.run("cap", "run", "--run-id", "r1", check_exit=0)
    out = _outputs(project, "cap")
    assert len(out["n_out"]) == 300000 and len(out["n_err"]) == 5000
    assert out["small"] == "x" * 1024


def test_success_checks_and_exit_codes(project: Project) -> None:
    def flow(flow_id: str, success: dict, command: str = "touch out.csv") -> None:
        _flow(
            project,
            flow_id,
            _job(_step("s", {"command": ["sh", "-c", command], "cwd": ".", "success": success})),
            compile=False,
        )

    flow(
        "req_ok",
        {"require_files": ["out.csv"], "require_glob": ["*.csv"], "forbid_files": ["error.flag"]},
    )
    flow("req_missing", {"require_files": ["missing.csv"]})
    flow("forbid", {"forbid_files": ["out.csv"]})
    flow("glob", {"require_glob": ["*.parquet"]})
    flow("codes", {"exit_codes": [0, 3]}, "exit 3")
    project.compile()
    project.run("req_ok", "run", check_exit=0)
    assert (
        "missing_required_file:missing.csv"
        in project.run("req_missing", "run", check_exit=1).stderr
    )
    assert "forbidden_file_present:out.csv" in project.run("forbid", "run", check_exit=1).stderr
    assert "missing_required_glob:*.parquet" in project.run("glob", "run", check_exit=1).stderr
    project.run("codes", "run", check_exit=0)


def test_marker_idempotency_skips_the_step(project: Project) -> None:
    _flow(
        project,
        "marker",
        _job(
            _step(
                "build",
                {
                    "command": ["sh", "-c", "echo built >> ledger; touch done.marker"],
                    "cwd": ".",
                    "idempotency": {"strategy": "marker", "marker_path": "done.marker"},
                },
                {"reason": "{{result.reason:none}}"},
            ),
            _step("after", {"command": ["true"]}),
        ),
    )
    artifacts = project.work / "marker" / "a" / "r1" / "artifacts"
    artifacts.mkdir(parents=True)
    (artifacts / "done.marker").write_text("")
    project.run("marker", "run", "--run-id", "r1", check_exit=0)
    report = project.status("marker", "r1")
    assert statuses(report) == {"a": ("SUCCESS", {"build": "SKIPPED", "after": "SUCCESS"})}
    assert report["jobs"]["a"]["outputs"] == {"reason": "marker_present"}
    assert not (artifacts / "ledger").exists()


def test_atomic_dir_replaces_or_merges_the_final_directory(project: Project) -> None:
    script = 'ls "$AETHERFLOW_OUTPUT_DIR" > seen.txt; echo new > "$AETHERFLOW_OUTPUT_DIR/new.txt"'
    for flow_id, rename in (("atomic", True), ("merge", False)):
        _flow(
            project,
            flow_id,
            _job(
                _step(
                    "s",
                    {
                        "command": ["sh", "-c", script],
                        "cwd": ".",
                        "idempotency": {
                            "strategy": "atomic_dir",
                            "temp_output_dir": "out.tmp",
                            "final_output_dir": "out",
                            "atomic_rename": rename,
                        },
                    },
                )
            ),
            compile=False,
        )
    project.compile()
    for flow_id in ("atomic", "merge"):
        artifacts = project.work / flow_id / "a" / "r1" / "artifacts"
        (artifacts / "out.tmp").mkdir(parents=True)
        (artifacts / "out.tmp" / "stale.txt").write_text("from a crashed try")
        (artifacts / "out").mkdir()
        (artifacts / "out" / "old.txt").write_text("previous")
        project.run(flow_id, "run", "--run-id", "r1", check_exit=0)
        assert (artifacts / "seen.txt").read_text() == ""  # the stale temp dir was emptied
        assert not (artifacts / "out.tmp").exists()
    assert sorted(os.listdir(project.work / "atomic" / "a" / "r1" / "artifacts" / "out")) == [
        "new.txt"
    ]
    assert sorted(os.listdir(project.work / "merge" / "a" / "r1" / "artifacts" / "out")) == [
        "new.txt",
        "old.txt",
    ]


def test_paths_outside_the_sandbox_are_refused(project: Project) -> None:
    _flow(project, "sandbox", _job(_step("s", {"command": ["true"], "cwd": "/etc"})))
    assert "outside the sandbox" in project.run("sandbox", "run", check_exit=1).stderr
    project.run("sandbox", "run", env={"AETHERFLOW_STRICT_SANDBOX": "false"}, check_exit=0)


def test_sigterm_to_the_artifact_kills_the_running_step(project: Project) -> None:
    _flow(
        project,
        "term",
        _job(_step("s", {"command": ["sh", "-c", "echo $$ > step.pid; sleep 60"], "cwd": "."})),
    )
    pid_file = project.work / "term" / "a" / "r1" / "artifacts" / "step.pid"
    proc = _start(project, "term", pid_file)
    _terminate(project, "term", proc, pid_file)


# A step with no timeout, no capture, no cwd and no shell is started with posix_spawn and
# waited for directly; the others go through subprocess.Popen. Both must behave alike.
SPAWN_PATHS: dict[str, dict[str, str]] = {"posix_spawn": {}, "Popen": {"cwd": "."}}


@pytest.mark.parametrize("path", sorted(SPAWN_PATHS))
def test_both_ways_of_starting_a_program_give_the_same_child_and_results(
    project: Project, path: str
) -> None:
    extra = SPAWN_PATHS[path]
    log = project.work / "spawn" / "a" / "r1" / "artifacts" / "out.log"
    probe = (
        "import os; "
        "print(os.getsid(0) == os.getpid(), os.environ.get('AETHERFLOW_RUN_ID'), os.environ.get('FROM_STEP'))"
    )
    _flow(
        project,
        "spawn",
        _job(
            _step(
                "probe",
                {
                    "command": ["python3", "-c", probe],
                    "env": {"FROM_STEP": "here"},
                    "log": {"stdout": "file", "stderr": "discard", "file_path": "out.log"},
                    **extra,
                },
            ),
            _step(
                "quiet",
                {
                    "command": ["sh", "-c", "echo lost; echo lost >&2"],
                    "log": {"stdout": "discard", "stderr": "discard"},
                    **extra,
                },
            ),
            _step(
                "again",
                {
                    "command": ["sh", "-c", "grep SigIgn /proc/$$/status"],
                    "log": {"stdout": "file", "file_path": "out.log"},
                    **extra,
                },
            ),
        ),
        _job(_step("s", {"command": ["sh", "-c", "kill -9 $$"], **extra}), job_id="killed"),
        _job(_step("s", {"command": ["no-such-program-here"], **extra}), job_id="missing"),
    )
    proc = project.run("spawn", "run", "--run-id", "r1", "--keep-going")
    assert proc.returncode == 1, proc.stderr
    first, ignored = log.read_text().splitlines()
    assert first == "True r1 here"  # its own session, the run's and the step's env
    assert not int(ignored.split()[1], 16) & (
        1 << (signal.SIGPIPE - 1)
    ), "SIGPIPE ignored in the step"
    assert "lost" not in proc.stdout + proc.stderr
    report = project.status("spawn", "r1")
    assert statuses(report) == {
        "a": ("SUCCESS", {"probe": "SUCCESS", "quiet": "SUCCESS", "again": "SUCCESS"}),
        "killed": ("FAILED", {"s": "FAILED"}),
        "missing": ("FAILED", {"s": "FAILED"}),
    }
    assert "external.process failed with exit code -9" in proc.stderr
    assert "cannot start 'no-such-program-here': No such file or directory" in proc.stderr


@pytest.mark.parametrize("path", sorted(SPAWN_PATHS))
def test_sigterm_kills_the_step_and_a_held_lock_is_renewed_either_way(
    project: Project, path: str
) -> None:
    pid_file = project.root / f"step-{path}.pid"
    _flow(
        project,
        "term",
        _job(
            _step(
                "s",
                {"command": ["sh", "-c", f"echo $$ > {pid_file}; sleep 60"], **SPAWN_PATHS[path]},
            )
        ),
        extra="  locks: {scope: flow, ttl_seconds: 2}\n",
    )
    proc = _start(project, "term", pid_file)
    time.sleep(
        3
    )  # the behaviour: past the 2 s TTL, only renewal while the step runs keeps the lock
    project.run("term", "run", "--run-id", "r2", check_exit=3)
    _terminate(project, "term", proc, pid_file)
