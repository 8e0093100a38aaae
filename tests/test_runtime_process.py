"""external.process in compiled artifacts: argv, env, timeouts, retries, logs, checks."""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path

import pytest

from conftest import Project, alive, statuses
from polling import text_of, wait_for


def _outputs(project: Project, flow_id: str, run_id: str = "r1", job: str = "a") -> dict:  # type: ignore[type-arg]
    return project.status(flow_id, run_id)["jobs"][job]["outputs"]  # type: ignore[no-any-return]


def test_command_string_is_one_argv_element_and_args_are_appended(project: Project) -> None:
    printer = "import json,sys; print(json.dumps(sys.argv[1:]))"
    project.flow("argv", f"""\
        jobs:
          - id: a
            steps:
              - id: list
                type: external.process
                inputs: {{command: ["python3", "-c", {json.dumps(printer)}, "a b"], args: [1, null, true, 2.5], log: {{stdout: capture}}}}
                outputs: {{out: "{{{{result.stdout}}}}"}}
              - id: single
                type: external.process
                inputs: {{command: "echo hi", log: {{stderr: capture}}}}
        """)
    proc = project.run("argv", "run", "--run-id", "r1", check_exit=1)
    assert json.loads(_outputs(project, "argv")["out"]) == ["a b", "1", "None", "True", "2.5"]
    # "echo hi" is the program name, not a shell line.
    assert "cannot start 'echo hi'" in proc.stderr


def test_shell_joins_argv_with_quoting(project: Project) -> None:
    project.flow("shell", """\
        jobs:
          - id: a
            steps:
              - id: s
                type: external.process
                inputs: {command: ["printf", "%s|", "it's", "$HOME", "a;b"], shell: true, log: {stdout: capture}}
                outputs: {out: "{{result.stdout}}"}
        """)
    project.run("shell", "run", "--run-id", "r1", check_exit=0)
    assert _outputs(project, "shell")["out"] == "it's|$HOME|a;b|"


def test_env_inheritance_and_flow_variables(project: Project) -> None:
    dump = "import json,os; print(json.dumps({k: os.environ.get(k) for k in ['OUTER','X','NUL','AETHERFLOW_FLOW_ID','AETHERFLOW_RUN_ID']}))"
    project.flow("envs", f"""\
        jobs:
          - id: a
            steps:
              - id: inherit
                type: external.process
                inputs: {{command: ["python3", "-c", {json.dumps(dump)}], env: {{X: 1, NUL: null}}, log: {{stdout: capture}}}}
                outputs: {{inherit: "{{{{result.stdout}}}}"}}
              - id: clean
                type: external.process
                inputs: {{command: ["/usr/bin/env"], inherit_env: false, env: {{ONLY: me}}, log: {{stdout: capture}}}}
                outputs: {{clean: "{{{{result.stdout}}}}"}}
        """)
    project.run("envs", "run", "--run-id", "r1", env={"OUTER": "yes"}, check_exit=0)
    out = _outputs(project, "envs")
    assert json.loads(out["inherit"]) == {"OUTER": "yes", "X": "1", "NUL": "", "AETHERFLOW_FLOW_ID": "envs",
                                          "AETHERFLOW_RUN_ID": "r1"}
    assert sorted(out["clean"].split()) == ["AETHERFLOW_FLOW_ID=envs", "AETHERFLOW_RUN_ID=r1", "ONLY=me"]


def test_timeout_kills_the_whole_process_group(project: Project) -> None:
    project.flow("slow", """\
        jobs:
          - id: a
            steps:
              - id: hang
                type: external.process
                inputs:
                  command: ["sh", "-c", "trap '' TERM; sleep 60 & echo $! > child.pid; wait"]
                  cwd: "."
                  timeout_seconds: 1
                  kill_grace_seconds: 1
        """)
    started = time.monotonic()
    proc = project.run("slow", "run", "--run-id", "r1", check_exit=1)
    assert time.monotonic() - started < 15
    assert "timed out after 1s" in proc.stderr
    pid = int((project.work / "slow" / "a" / "r1" / "artifacts" / "child.pid").read_text())
    wait_for(lambda: not alive(pid), timeout=5, what="the background grandchild to end after the timeout")


def test_retries_on_listed_exit_codes_with_backoff(project: Project) -> None:
    script = 'n=$(cat count 2>/dev/null || echo 0); n=$((n+1)); echo $n > count; [ $n -ge 3 ] || exit 75'
    project.flow("retry", f"""\
        jobs:
          - id: a
            steps:
              - id: flaky
                type: external.process
                inputs:
                  command: ["sh", "-c", {json.dumps(script)}]
                  cwd: "."
                  retry: {{max_attempts: 3, retry_on_exit_codes: [75], backoff_seconds: 0.2, backoff_multiplier: 2}}
                outputs: {{attempts: "{{{{result.attempts}}}}"}}
              - id: unlisted
                type: external.process
                inputs:
                  command: ["sh", "-c", "echo x >> tries; exit 3"]
                  cwd: "."
                  retry: {{max_attempts: 5, retry_on_exit_codes: [75]}}
        """)
    started = time.monotonic()
    project.run("retry", "run", "--run-id", "r1", check_exit=1)
    assert time.monotonic() - started >= 0.6  # 0.2 + 0.4 s of backoff
    assert _outputs(project, "retry")["attempts"] == 3
    assert (project.work / "retry" / "a" / "r1" / "artifacts" / "tries").read_text() == "x\n"  # no retry on 3


def test_retry_on_timeout_and_file_logs_across_attempts(project: Project) -> None:
    script = 'n=$(cat count 2>/dev/null || echo 0); n=$((n+1)); echo $n > count; echo "attempt $n"; echo "err $n" >&2; [ $n -ge 2 ] || sleep 30'
    project.flow("tmo", f"""\
        jobs:
          - id: a
            steps:
              - id: s
                type: external.process
                inputs:
                  command: ["sh", "-c", {json.dumps(script)}]
                  cwd: "."
                  timeout_seconds: 1
                  kill_grace_seconds: 1
                  retry: {{max_attempts: 2, retry_on_timeout: true}}
                  log: {{stdout: file, stderr: file, file_path: logs/s.log}}
                outputs: {{log: "{{{{result.log_file}}}}", attempts: "{{{{result.attempts}}}}"}}
        """)
    project.run("tmo", "run", "--run-id", "r1", check_exit=0)
    out = _outputs(project, "tmo")
    assert out["attempts"] == 2
    log = Path(out["log"]).read_text()
    assert "attempt 1" in log and "attempt 2" in log and "err 2" in log


def test_capture_is_complete_and_bounded(project: Project) -> None:
    big = "import sys; sys.stdout.write('x' * 300000); sys.stderr.write('y' * 5000)"
    project.flow("cap", f"""\
        jobs:
          - id: a
            steps:
              - id: full
                type: external.process
                inputs: {{command: ["python3", "-c", {json.dumps(big)}], log: {{stdout: capture, stderr: capture, max_capture_kb: 1024}}}}
                outputs: {{n_out: "{{{{result.stdout}}}}", n_err: "{{{{result.stderr}}}}"}}
              - id: bounded
                type: external.process
                inputs: {{command: ["python3", "-c", {json.dumps(big)}], log: {{stdout: capture, stderr: discard, max_capture_kb: 1}}}}
                outputs: {{small: "{{{{result.stdout}}}}"}}
        """)
    project.run("cap", "run", "--run-id", "r1", check_exit=0)
    out = _outputs(project, "cap")
    assert len(out["n_out"]) == 300000 and len(out["n_err"]) == 5000
    assert out["small"] == "x" * 1024


def test_success_checks_and_exit_codes(project: Project) -> None:
    def flow(flow_id: str, success: str, command: str = "touch out.csv") -> None:
        project.write_flow(f"{flow_id}.yaml", project.header(flow_id) + f"""\
jobs:
  - id: a
    steps:
      - id: s
        type: external.process
        inputs: {{command: ["sh", "-c", "{command}"], cwd: ".", success: {success}}}
""")

    flow("req_ok", "{require_files: [out.csv], require_glob: ['*.csv'], forbid_files: [error.flag]}")
    flow("req_missing", "{require_files: [missing.csv]}")
    flow("forbid", "{forbid_files: [out.csv]}")
    flow("glob", "{require_glob: ['*.parquet']}")
    flow("codes", "{exit_codes: [0, 3]}", "exit 3")
    project.compile()
    project.run("req_ok", "run", check_exit=0)
    assert "missing_required_file:missing.csv" in project.run("req_missing", "run", check_exit=1).stderr
    assert "forbidden_file_present:out.csv" in project.run("forbid", "run", check_exit=1).stderr
    assert "missing_required_glob:*.parquet" in project.run("glob", "run", check_exit=1).stderr
    project.run("codes", "run", check_exit=0)


def test_marker_idempotency_skips_the_step(project: Project) -> None:
    project.flow("marker", """\
        jobs:
          - id: a
            steps:
              - id: build
                type: external.process
                inputs:
                  command: ["sh", "-c", "echo built >> ledger; touch done.marker"]
                  cwd: "."
                  idempotency: {strategy: marker, marker_path: done.marker}
                outputs: {reason: "{{result.reason:none}}"}
              - {id: after, type: external.process, inputs: {command: ["true"]}}
        """)
    artifacts = project.work / "marker" / "a" / "r1" / "artifacts"
    artifacts.mkdir(parents=True)
    (artifacts / "done.marker").write_text("")
    project.run("marker", "run", "--run-id", "r1", check_exit=0)
    report = project.status("marker", "r1")
    assert statuses(report) == {"a": ("SUCCESS", {"build": "SKIPPED", "after": "SUCCESS"})}
    assert report["jobs"]["a"]["outputs"] == {"reason": "marker_present"}
    assert not (artifacts / "ledger").exists()


def test_atomic_dir_replaces_or_merges_the_final_directory(project: Project) -> None:
    for flow_id, rename in (("atomic", "true"), ("merge", "false")):
        project.write_flow(f"{flow_id}.yaml", project.header(flow_id) + f"""\
jobs:
  - id: a
    steps:
      - id: s
        type: external.process
        inputs:
          command: ["sh", "-c", "ls \\"$AETHERFLOW_OUTPUT_DIR\\" > seen.txt; echo new > \\"$AETHERFLOW_OUTPUT_DIR/new.txt\\""]
          cwd: "."
          idempotency: {{strategy: atomic_dir, temp_output_dir: out.tmp, final_output_dir: out, atomic_rename: {rename}}}
""")
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
    assert sorted(os.listdir(project.work / "atomic" / "a" / "r1" / "artifacts" / "out")) == ["new.txt"]
    assert sorted(os.listdir(project.work / "merge" / "a" / "r1" / "artifacts" / "out")) == ["new.txt", "old.txt"]


def test_paths_outside_the_sandbox_are_refused(project: Project) -> None:
    project.flow("sandbox", """\
        jobs:
          - id: a
            steps:
              - {id: s, type: external.process, inputs: {command: ["true"], cwd: /etc}}
        """)
    assert "outside the sandbox" in project.run("sandbox", "run", check_exit=1).stderr
    project.run("sandbox", "run", env={"AETHERFLOW_STRICT_SANDBOX": "false"}, check_exit=0)


def test_sigterm_to_the_artifact_kills_the_running_step(project: Project) -> None:
    import subprocess
    import sys

    project.flow("term", """\
        jobs:
          - id: a
            steps:
              - {id: s, type: external.process, inputs: {command: ["sh", "-c", "echo $$ > step.pid; sleep 60"], cwd: "."}}
        """)
    proc = subprocess.Popen([sys.executable, "-I", "-S", str(project.dist / "term.py"), "run", "--run-id", "r1"],
                            stderr=subprocess.PIPE, text=True)
    pid_file = project.work / "term" / "a" / "r1" / "artifacts" / "step.pid"
    wait_for(lambda: text_of(pid_file), timeout=10, what="the step's pid file")
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=10) == 128 + signal.SIGTERM
    step_pid = int(pid_file.read_text())
    wait_for(lambda: not alive(step_pid), timeout=5, what="the step to end after SIGTERM")
    assert project.status("term", "r1")["status"] == "INTERRUPTED"


# A step with no timeout, no capture, no cwd and no shell is started with posix_spawn and
# waited for directly; the others go through subprocess.Popen. Both must behave alike.
SPAWN_PATHS = {"posix_spawn": "", "Popen": ', cwd: "."'}


@pytest.mark.parametrize("path", sorted(SPAWN_PATHS))
def test_both_ways_of_starting_a_program_give_the_same_child_and_results(project: Project, path: str) -> None:
    extra = SPAWN_PATHS[path]
    log = project.work / "spawn" / "a" / "r1" / "artifacts" / "out.log"
    probe = ("import os; "
             "print(os.getsid(0) == os.getpid(), os.environ.get('AETHERFLOW_RUN_ID'), os.environ.get('FROM_STEP'))")
    project.flow("spawn", f"""\
        jobs:
          - id: a
            steps:
              - {{id: probe, type: external.process, inputs: {{command: [python3, -c, "{probe}"],
                  env: {{FROM_STEP: here}}, log: {{stdout: file, stderr: discard, file_path: out.log}}{extra}}}}}
              - {{id: quiet, type: external.process, inputs: {{command: [sh, -c, "echo lost; echo lost >&2"],
                  log: {{stdout: discard, stderr: discard}}{extra}}}}}
              - {{id: again, type: external.process, inputs: {{command: [sh, -c, "grep SigIgn /proc/$$/status"],
                  log: {{stdout: file, file_path: out.log}}{extra}}}}}
          - id: killed
            steps:
              - {{id: s, type: external.process, inputs: {{command: [sh, -c, "kill -9 $$"]{extra}}}}}
          - id: missing
            steps:
              - {{id: s, type: external.process, inputs: {{command: [no-such-program-here]{extra}}}}}
        """)
    proc = project.run("spawn", "run", "--run-id", "r1", "--keep-going")
    assert proc.returncode == 1, proc.stderr
    first, ignored = log.read_text().splitlines()
    assert first == "True r1 here"  # its own session, the run's and the step's env
    assert not int(ignored.split()[1], 16) & (1 << (signal.SIGPIPE - 1)), "SIGPIPE ignored in the step"
    assert "lost" not in proc.stdout + proc.stderr
    report = project.status("spawn", "r1")
    assert statuses(report) == {"a": ("SUCCESS", {"probe": "SUCCESS", "quiet": "SUCCESS", "again": "SUCCESS"}),
                                "killed": ("FAILED", {"s": "FAILED"}), "missing": ("FAILED", {"s": "FAILED"})}
    assert "external.process failed with exit code -9" in proc.stderr
    assert "cannot start 'no-such-program-here': No such file or directory" in proc.stderr


@pytest.mark.parametrize("path", sorted(SPAWN_PATHS))
def test_sigterm_kills_the_step_and_a_held_lock_is_renewed_either_way(project: Project, path: str) -> None:
    import subprocess
    import sys

    pid_file = project.root / f"step-{path}.pid"
    project.flow("term", f"""\
        jobs:
          - id: a
            steps:
              - {{id: s, type: external.process, inputs: {{command: ["sh", "-c", "echo $$ > {pid_file}; sleep 60"]{SPAWN_PATHS[path]}}}}}
        """, extra="  locks: {scope: flow, ttl_seconds: 2}\n")
    proc = subprocess.Popen([sys.executable, "-I", "-S", str(project.dist / "term.py"), "run", "--run-id", "r1"],
                            stderr=subprocess.PIPE, text=True)
    wait_for(lambda: text_of(pid_file), timeout=10, what="the step's pid file")
    time.sleep(3)  # the behaviour: past the 2 s TTL, only renewal while the step runs keeps the lock
    project.run("term", "run", "--run-id", "r2", check_exit=3)
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=10) == 128 + signal.SIGTERM
    step_pid = int(pid_file.read_text())
    wait_for(lambda: not alive(step_pid), timeout=5, what="the step to end after SIGTERM")
    assert project.status("term", "r1")["status"] == "INTERRUPTED"
