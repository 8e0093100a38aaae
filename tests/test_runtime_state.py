"""State store, resume, locks and the artifact's own command line."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from conftest import Project, run_cli, statuses
from polling import text_of, wait_for

RESUMABLE = """\
jobs:
  - id: a
    steps:
      - id: first
        type: external.process
        inputs: {command: ["sh", "-c", "echo first >> ../../../ledger; echo ok"], cwd: ".", log: {stdout: capture}}
        outputs: {first_out: "{{result.stdout}}"}
      - id: gate
        type: external.process
        inputs: {command: ["sh", "-c", "echo gate >> ../../../ledger; test -f \\"$GATE\\""], cwd: ".", env: {GATE: "{{env.GATE_FILE}}"}}
      - id: after
        type: external.process
        inputs: {command: ["sh", "-c", "echo after >> ../../../ledger; echo $PREV"], cwd: ".", env: {PREV: "{{steps.first.stdout}}"}, log: {stdout: capture}}
        outputs: {echoed: "{{result.stdout}}"}
  - id: b
    depends_on: [a]
    when: jobs.a.outputs.first_out == "ok\\n"
    steps:
      - {id: s, type: external.process, inputs: {command: ["true"]}}
"""


@pytest.mark.parametrize("backend", ["sqlite", "file"])
def test_resume_with_the_same_run_id_never_reruns_done_steps(
    project: Project, backend: str
) -> None:
    project.flow("resumable", RESUMABLE, backend=backend)
    gate = project.root / "gate"
    env = {"GATE_FILE": str(gate)}
    project.run("resumable", "run", "--run-id", "r1", env=env, check_exit=1)
    assert statuses(project.status("resumable", "r1")) == {
        "a": ("FAILED", {"first": "SUCCESS", "gate": "FAILED"})
    }
    gate.write_text("")
    proc = project.run("resumable", "run", "--run-id", "r1", env=env, check_exit=0)
    report = project.status("resumable", "r1")
    assert report["status"] == "SUCCESS"
    assert statuses(report) == {
        "a": ("SUCCESS", {"first": "SUCCESS", "gate": "SUCCESS", "after": "SUCCESS"}),
        "b": ("SUCCESS", {"s": "SUCCESS"}),
    }
    ledger = (project.work / "resumable" / "ledger").read_text().split()
    assert ledger == ["first", "gate", "gate", "after"]  # first ran once
    # steps.first and jobs.a.outputs from before the crash still resolve after resume.
    assert report["jobs"]["a"]["outputs"] == {"first_out": "ok\n", "echoed": "ok\n"}
    assert "(resumed)" in proc.stderr


def test_resume_option_continues_the_latest_unsuccessful_run(project: Project) -> None:
    project.flow("resumable", RESUMABLE)
    gate = project.root / "gate"
    env = {"GATE_FILE": str(gate)}
    assert (
        "nothing to resume"
        in project.run("resumable", "run", "--resume", env=env, check_exit=0).stderr
    )
    project.run("resumable", "run", "--run-id", "first-try", env=env, check_exit=1)
    gate.write_text("")
    project.run("resumable", "run", "--resume", env=env, check_exit=0)
    assert project.status("resumable", "first-try")["status"] == "SUCCESS"
    assert "succeeded" in project.run("resumable", "run", "--resume", env=env, check_exit=0).stderr


def test_kill_9_mid_run_then_resume(project: Project) -> None:
    steps = "".join(
        f"      - id: s{i}\n"
        f"        type: external.process\n"
        f"        inputs: {{command: [sh, -c, 'echo s{i} >> ../../../ledger; sleep 0.05'], cwd: .}}\n"
        for i in range(20)
    )
    project.flow("crashy", "jobs:\n  - id: a\n    steps:\n" + steps)
    proc = subprocess.Popen(
        [sys.executable, "-I", "-S", str(project.dist / "crashy.py"), "run", "--run-id", "r1"],
        stderr=subprocess.DEVNULL,
    )
    ledger = project.work / "crashy" / "ledger"
    wait_for(lambda: len(text_of(ledger).split()) >= 8, timeout=20, what="8 steps in the ledger")
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    with sqlite3.connect(project.state("crashy")) as conn:
        done = [r[0] for r in conn.execute("SELECT step_id FROM step_runs WHERE status='SUCCESS'")]
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    assert 5 <= len(done) < 20
    project.run("crashy", "run", "--run-id", "r1", check_exit=0)
    lines = ledger.read_text().split()
    assert sorted(set(lines)) == sorted(f"s{i}" for i in range(20))  # every step at least once
    for step_id in done:
        assert lines.count(step_id) == 1  # recorded as done: never again
    assert statuses(project.status("crashy", "r1"))["a"][0] == "SUCCESS"


LOCKED = """\
jobs:
  - id: a
    steps:
      - {id: s, type: external.process, inputs: {command: ["sh", "-c", "touch ../../../started; sleep 3"], cwd: "."}}
"""


def test_flow_lock_makes_a_concurrent_run_exit_3(project: Project) -> None:
    project.flow(
        "locked",
        LOCKED,
        extra="  locks: {scope: flow, ttl_seconds: 60}\n".replace("  locks", "  locks"),
    )
    holder = subprocess.Popen(
        [sys.executable, "-I", "-S", str(project.dist / "locked.py"), "run", "--run-id", "one"],
        stderr=subprocess.DEVNULL,
    )
    started = project.work / "locked" / "started"
    wait_for(started.exists, timeout=10, what="the holder's step to start")
    loser = project.run("locked", "run", "--run-id", "two", check_exit=3)
    assert "flow lock" in loser.stderr or "lock_held" in loser.stderr
    assert holder.wait(timeout=30) == 0
    assert project.db_rows("locked", "SELECT * FROM locks") == []  # released
    project.run("locked", "run", "--run-id", "three", check_exit=0)


def test_a_held_lock_is_renewed_while_its_holder_runs(project: Project) -> None:
    project.flow(
        "renew",
        LOCKED.replace("sleep 3", "sleep 5"),
        extra="  locks: {scope: flow, ttl_seconds: 2}\n",
    )
    holder = subprocess.Popen(
        [sys.executable, "-I", "-S", str(project.dist / "renew.py"), "run", "--run-id", "one"],
        stderr=subprocess.DEVNULL,
    )
    started = project.work / "renew" / "started"
    wait_for(started.exists, timeout=10, what="the holder's step to start")
    time.sleep(3.5)  # the behaviour: past the 2 s TTL, only renewal keeps the lock
    project.run("renew", "run", "--run-id", "two", check_exit=3)
    assert holder.wait(timeout=30) == 0


def test_stale_lock_is_taken_over_after_its_ttl(project: Project) -> None:
    project.flow(
        "stale", LOCKED.replace("sleep 3", "true"), extra="  locks: {scope: job, ttl_seconds: 60}\n"
    )
    project.run("stale", "run", "--run-id", "init", check_exit=0)
    with sqlite3.connect(project.state("stale")) as conn:
        conn.execute(
            "INSERT INTO af_locks(key, owner, expires_at) VALUES ('job:stale:a', 'dead-run', ?)",
            (int(time.time()) + 60,),
        )
    project.run("stale", "run", "--run-id", "blocked", check_exit=3)
    with sqlite3.connect(project.state("stale")) as conn:
        conn.execute(
            "UPDATE af_locks SET expires_at=? WHERE owner='dead-run'", (int(time.time()) - 1,)
        )
    project.run("stale", "run", "--run-id", "later", check_exit=0)


OWN_KEYS = """\
jobs:
  - id: a
    steps:
      - id: job_key
        type: with_lock
        inputs:
          lock_key: "job:{{flow_id}}:{{job.id}}"
          step: {type: external.process, inputs: {command: ["sh", "-c", "echo job >> ../../../ledger"], cwd: "."}}
      - id: flow_key
        type: with_lock
        inputs:
          lock_key: "flow:{{flow_id}}"
          step: {type: external.process, inputs: {command: ["sh", "-c", "echo flow >> ../../../ledger"], cwd: "."}}
"""


@pytest.mark.parametrize("backend", ["sqlite", "file"])
@pytest.mark.parametrize("scope", ["job", "flow"])
def test_the_artifacts_own_locks_never_collide_with_a_with_lock_key(
    project: Project, backend: str, scope: str
) -> None:
    """The engine takes no flow or job lock: a with_lock key spelled like one is the user's.
    The artifact keeps its own in af_locks (af_locks/ for files), and `locks` holds only
    what the engine would hold."""
    project.flow(
        "own", OWN_KEYS, backend=backend, extra=f"  locks: {{scope: {scope}, ttl_seconds: 60}}\n"
    )
    project.run("own", "run", "--run-id", "r1", check_exit=0)
    assert (project.work / "own" / "ledger").read_text().split() == ["job", "flow"]
    if backend == "sqlite":
        assert project.db_rows("own", "SELECT * FROM locks") == []
        assert project.db_rows("own", "SELECT * FROM af_locks") == []
        # A with_lock key held elsewhere fails that step only; the run's own lock is apart.
        with sqlite3.connect(project.state("own")) as conn:
            conn.execute(
                "INSERT INTO locks VALUES ('job:own:a', 'someone-else', ?)",
                (int(time.time()) + 60,),
            )
    else:
        state = project.root / "state" / "own-files"
        assert not [p for p in (state / "locks").iterdir() if p.suffix == ".json"]
        assert not [p for p in (state / "af_locks").iterdir() if p.suffix == ".json"]
        (state / "locks" / (hashlib.sha256(b"job:own:a").hexdigest() + ".json")).write_text(
            json.dumps(
                {"key": "job:own:a", "owner": "someone-else", "expires_at": int(time.time()) + 60}
            )
        )
    proc = project.run("own", "run", "--run-id", "r2", check_exit=1)
    assert "Lock not acquired: job:own:a" in proc.stderr
    assert statuses(project.status("own", "r2"))["a"] == ("FAILED", {"job_key": "FAILED"})


def test_a_store_of_an_older_artifact_gets_af_locks_and_its_runs_resume(project: Project) -> None:
    """An older artifact kept its job locks in `locks`: a run it left behind (killed with
    its job lock held) resumes with this one, whose job lock lives in af_locks; the old
    row just expires. A table af_locks of another program is refused, as the others are."""
    project.flow(
        "old", LOCKED.replace("sleep 3", "true"), extra="  locks: {scope: job, ttl_seconds: 60}\n"
    )
    state = project.state("old")
    state.parent.mkdir(parents=True)
    with sqlite3.connect(state) as conn:  # the tables an older artifact made, no af_locks
        for table in (
            "job_runs(job_id TEXT, run_id TEXT, status TEXT, updated_at INTEGER,"
            " PRIMARY KEY(job_id, run_id))",
            "step_runs(job_id TEXT, run_id TEXT, step_id TEXT, status TEXT, updated_at INTEGER,"
            " PRIMARY KEY(job_id, run_id, step_id))",
            "locks(key TEXT PRIMARY KEY, owner TEXT NOT NULL, expires_at INTEGER NOT NULL)",
            "af_runs(run_id TEXT PRIMARY KEY, flow_id TEXT, status TEXT, started_at INTEGER,"
            " updated_at INTEGER)",
            "af_step_results(job_id TEXT, run_id TEXT, step_id TEXT, result_json TEXT,"
            " promoted_json TEXT, PRIMARY KEY(job_id, run_id, step_id))",
            "af_job_outputs(job_id TEXT, run_id TEXT, outputs_json TEXT, skip_reason TEXT,"
            " PRIMARY KEY(job_id, run_id))",
        ):
            conn.execute("CREATE TABLE " + table)
        conn.execute("INSERT INTO af_runs VALUES ('r1', 'old', 'RUNNING', 1, 1)")
        conn.execute("INSERT INTO job_runs VALUES ('a', 'r1', 'RUNNING', 1)")
        conn.execute("INSERT INTO locks VALUES ('job:old:a', 'r1', ?)", (int(time.time()) + 60,))
    project.run("old", "run", "--run-id", "r1", check_exit=0)
    assert project.status("old", "r1")["status"] == "SUCCESS"
    assert project.db_rows("old", "SELECT key, owner FROM locks") == [
        ("job:old:a", "r1")
    ]  # expires in time
    assert project.db_rows("old", "SELECT * FROM af_locks") == []
    other = project.root / "state" / "other.sqlite"
    with sqlite3.connect(other) as conn:
        conn.execute("CREATE TABLE af_locks(name TEXT)")
    project.write_flow(
        "old.yaml",
        project.header("old").replace(str(state), str(other)) + "jobs:\n  - {id: a, steps: []}\n",
    )
    project.compile()
    proc = project.run("old", "run", check_exit=2)
    assert "its table af_locks lacks the columns key, owner, expires_at" in proc.stderr


@pytest.mark.parametrize("backend", ["sqlite", "file"])
def test_a_with_lock_of_ttl_zero_or_less_is_taken_again_inside(
    project: Project, backend: str
) -> None:
    """As in the engine: a lock whose TTL is 0 or less expires as it is taken, so a
    with_lock of the same key inside it takes the key (one of a positive TTL is refused)."""
    nested = """\
        jobs:
          - id: a
            steps:
              - id: outer
                type: with_lock
                inputs:
                  lock_key: k
                  ttl_seconds: TTL
                  step:
                    type: with_lock
                    inputs:
                      lock_key: k
                      step: {type: external.process, inputs: {command: ["sh", "-c", "echo in >> ../../../ledger"], cwd: "."}}
        """
    for ttl, code in (("0", 0), ("-5", 0), ("1", 1)):
        project.flow(
            "zero", nested.replace("TTL", ttl), backend=backend, extra="  locks: {scope: none}\n"
        )
        proc = project.run("zero", "run", check_exit=code)
        if code:
            assert "Lock not acquired: k" in proc.stderr
    assert (project.work / "zero" / "ledger").read_text().split() == ["in", "in"]
    if backend == "sqlite":
        assert project.db_rows("zero", "SELECT * FROM locks") == []


def test_with_lock_fails_the_step_when_the_key_is_held(project: Project) -> None:
    project.flow(
        "wl",
        """\
        jobs:
          - id: a
            steps:
              - id: guarded
                type: with_lock
                inputs:
                  lock_key: "nightly-{{flow_id}}"
                  ttl_seconds: 30
                  step: {type: check_items, inputs: {items: [a, b]}}
                outputs: {n: "{{result.count}}"}
        """,
    )
    project.run("wl", "run", "--run-id", "r1", check_exit=0)
    assert project.status("wl", "r1")["jobs"]["a"]["outputs"] == {"n": 2}
    with sqlite3.connect(project.state("wl")) as conn:
        assert conn.execute("SELECT count(*) FROM locks").fetchone() == (0,)
        conn.execute(
            "INSERT INTO locks VALUES ('nightly-wl', 'someone-else', ?)", (int(time.time()) + 30,)
        )
    proc = project.run("wl", "run", "--run-id", "r2", check_exit=1)
    assert "Lock not acquired: nightly-wl" in proc.stderr


def test_file_backend_writes_the_same_information_as_files(project: Project) -> None:
    project.flow("files", RESUMABLE, backend="file")
    (project.root / "gate").write_text("")
    project.run(
        "files",
        "run",
        "--run-id",
        "r1",
        env={"GATE_FILE": str(project.root / "gate")},
        check_exit=0,
    )
    root = project.root / "state" / "files-files" / "runs" / "r1"
    job = json.loads((root / "jobs" / "a.json").read_text())
    assert job["status"] == "SUCCESS" and job["outputs"]["first_out"] == "ok\n"
    step = json.loads((root / "steps" / "a" / "first.json").read_text())
    assert step["status"] == "SUCCESS" and step["result"]["exit_code"] == 0
    assert not [p for p in root.rglob("*.tmp")]


def test_a_run_id_of_another_flow_is_refused(project: Project) -> None:
    shared = project.root / "state" / "shared.sqlite"
    for flow_id in ("one", "two"):
        header = project.header(flow_id).replace(str(project.state(flow_id)), str(shared))
        project.write_flow(f"{flow_id}.yaml", header + "jobs:\n  - {id: a, steps: []}\n")
    project.compile()
    project.run("one", "run", "--run-id", "2026-11-28", check_exit=0)
    proc = project.run("two", "run", "--run-id", "2026-11-28", check_exit=2)
    assert "already belongs to flow one" in proc.stderr


def test_plan_check_env_status_and_version(project: Project) -> None:
    project.flow("cli", RESUMABLE)
    plan = project.run("cli", "plan", check_exit=0).stdout
    assert "job a  [cli.yaml:" in plan and "step gate  external.process" in plan
    assert '"GATE": "{{env.GATE_FILE}}"' in plan
    assert "when: jobs.a.outputs.first_out" in plan
    check = project.run("cli", "check-env", check_exit=2)
    assert "GATE_FILE" in check.stdout and "MISSING" in check.stdout
    assert project.run(
        "cli", "check-env", env={"GATE_FILE": "/x"}, check_exit=0
    ).stdout.split() == ["GATE_FILE", "set"]
    version = project.run("cli", "--version", check_exit=0).stdout
    assert version.startswith("cli: compiled by aetherflow-compiler 0.1.0 from cli.yaml (sha256 ")
    assert "no run of cli" in project.run("cli", "status", check_exit=2).stderr
    project.run("cli", "run", "--run-id", "r9", env={"GATE_FILE": "/nonexistent"}, check_exit=1)
    text = project.run("cli", "status", check_exit=0).stdout
    assert text.splitlines()[0] == "run r9 of cli: FAILED"
    assert project.run("cli", "run", "--run-id", "../x", check_exit=2).stderr.startswith(
        "error: invalid run id"
    )
    assert "unknown job 'zzz'" in project.run("cli", "run", "--job", "zzz", check_exit=2).stderr


def test_json_logs_and_summary_file(project: Project) -> None:
    project.flow("jl", RESUMABLE)
    summary = project.root / "summary.json"
    (project.root / "gate").write_text("")
    proc = project.run(
        "jl",
        "run",
        "--run-id",
        "r1",
        "--log-format",
        "json",
        "--json-summary",
        str(summary),
        env={"GATE_FILE": str(project.root / "gate")},
        check_exit=0,
    )
    events = [json.loads(line) for line in proc.stderr.splitlines()]
    for event in events:
        assert {
            "event",
            "ts_ms",
            "flow_id",
            "run_id",
            "job_id",
            "step_id",
            "status",
            "duration_ms",
        } <= set(event)
        assert event["flow_id"] == "jl" and event["run_id"] == "r1"
    kinds = [e["event"] for e in events]
    assert kinds[0] == "run_start" and kinds[-1] == "run_end"
    assert {"job_start", "job_end", "step_start", "step_end"} <= set(kinds)
    final = events[-1]
    written = json.loads(summary.read_text())
    assert written == project.status("jl", "r1")
    assert final["jobs"] == written["jobs"] and final["status"] == "SUCCESS"
    assert list(written["jobs"]) == ["a", "b"] and list(written["jobs"]["a"]["steps"]) == [
        "first",
        "gate",
        "after",
    ]
    # The same through the environment setting.
    again = project.run(
        "jl", "run", env={"GATE_FILE": str(project.root / "gate"), "AETHERFLOW_LOG_FORMAT": "json"}
    )
    assert all(line.startswith("{") for line in again.stderr.splitlines())


def test_runtime_mismatch_is_refused(project: Project) -> None:
    project.flow("mismatch", "jobs: []\n")
    (project.dist / "aetherflow_runtime" / "logs.py").write_text(
        (project.dist / "aetherflow_runtime" / "logs.py").read_text() + "\n# edited\n"
    )
    proc = project.run("mismatch", "plan", check_exit=2)
    assert "does not match this flow script" in proc.stderr
    os.remove(project.dist / "aetherflow_runtime" / "__init__.py")
    import shutil

    shutil.rmtree(project.dist / "aetherflow_runtime")
    assert "aetherflow_runtime/ is missing" in project.run("mismatch", "plan", check_exit=2).stderr


FORBIDDEN = """\
jobs:
  - id: a
    steps:
      - {id: first, type: external.process, inputs: {command: ["sh", "-c", "echo first >> ../../../ledger"], cwd: "."}}
      - id: use
        type: external.process
        inputs: {command: ["sh", "-c", "echo \\"$2\\" >> ../../../ledger", "sh", FIRST_ARG, "v={{env.X}}"], cwd: "."}
"""


def test_an_env_value_that_makes_a_step_template_forbidden_refuses_the_run_at_its_start(
    project: Project,
) -> None:
    """The engine's validation renders the steps' templates with the environment before the
    run: X='a{}b' in 'v={{env.X}}' gives forbidden syntax, and nothing runs (exit 2, no state,
    no workspace). It stops a step's inputs at the first key it cannot resolve there, so
    a step output read before the text leaves it to the step, which fails when it runs."""
    project.flow("fb", FORBIDDEN.replace("FIRST_ARG", '"x"'))
    proc = project.run("fb", "run", "--run-id", "r1", env={"X": "a{}b"}, check_exit=2)
    assert proc.stderr.splitlines()[-1] == (
        "error: job 'a', step 'use', inputs: Unsupported templating syntax. Use {{VAR}} or {{VAR:DEFAULT}} | "
        "the rendered value of 'v={{env.X}}' contains '{}' (the engine's validation renders step templates with "
        "the environment and refuses the run)"
    )
    assert not project.work.exists() and not project.state("fb").exists()
    project.run("fb", "run", "--run-id", "r2", env={"X": "a{b"}, check_exit=0)
    assert (project.work / "fb" / "ledger").read_text().split() == ["first", "v=a{b"]
    project.flow("fb", FORBIDDEN.replace("FIRST_ARG", '"{{steps.first.exit_code}}"'))
    proc = project.run("fb", "run", "--run-id", "r3", env={"X": "a{}b"}, check_exit=1)
    assert "contains '{}'" in proc.stderr
    assert statuses(project.status("fb", "r3"))["a"] == (
        "FAILED",
        {"first": "SUCCESS", "use": "FAILED"},
    )


DIRS = """\
jobs:
  - id: a
    steps:
      - id: dump
        type: external.process
        inputs:
          command: ["sh", "-c", "echo \\"$AETHERFLOW_LOCAL_ROOT_DIR|$AETHERFLOW_ACTIVE_DIR|$AETHERFLOW_CACHE_DIR|$1\\" > $OUT/dirs", "sh", "{{env.AETHERFLOW_ACTIVE_DIR}}/t"]
          env: {OUT: "{{env.OUT}}"}
      - id: clean
        type: external.process
        inputs: {command: ["/bin/sh", "-c", "n=$(env | grep -c '^AETHERFLOW_[A-Z_]*_DIR='); echo $n > $0/clean", "{{env.OUT}}"], inherit_env: false}
"""


@pytest.mark.parametrize("target", ["py", "sh"])
def test_the_engines_folder_variables_name_the_workspace_root_as_written(
    project: Project, tmp_path: Path, target: str
) -> None:
    """As the engine: AETHERFLOW_LOCAL_ROOT_DIR, _ACTIVE_DIR and _CACHE_DIR are the workspace
    root as written (as pathlib writes it: not made absolute), for steps and templates,
    whatever the environment said; a step with inherit_env: false has none of them."""
    header = project.header("dirs", "file").replace(
        json.dumps(str(project.work)), '"{{env.ROOT}}//./w/"'
    )
    project.write_flow("dirs.yaml", header + textwrap.dedent(DIRS))
    project.compile("--target", "all")
    env = {
        "ROOT": "rel",
        "OUT": str(tmp_path),
        "AETHERFLOW_ACTIVE_DIR": "outer",
        "AETHERFLOW_CACHE_DIR": "outer",
    }
    if target == "py":
        project.run("dirs", "run", env=env, check_exit=0)
        assert (
            "missing"
            not in project.run(
                "dirs", "check-env", env={"ROOT": "x", "OUT": "y"}, check_exit=0
            ).stderr
        )
    else:
        proc = subprocess.run(
            ["sh", str(project.dist / "dirs.sh"), "run"],
            capture_output=True,
            text=True,
            env={"PATH": os.environ["PATH"], **env},
            cwd=project.root,
            timeout=60,
        )
        assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "dirs").read_text() == "rel/w|rel/w|rel/w|rel/w/t\n"
    assert (tmp_path / "clean").read_text() == "0\n"


def test_from_a_bundle_the_folder_variables_name_the_bundles_folder(tmp_path: Path) -> None:
    """Compiled from a bundle manifest, they name where the bundle's files are at run time:
    $AETHERFLOW_BUNDLE_ROOT, else the dist (as for the manifest's env files); the engine's
    synced copy (<work root>/bundles/<id>/active) does not exist on a host."""
    bundle = tmp_path / "bundle"
    (bundle / "flows").mkdir(parents=True)
    (bundle / "flows" / "dirs.yaml").write_text(textwrap.dedent("""\
        version: 1
        flow: {id: dirs, workspace: {root: "{{env.WORK}}"}, state: {backend: file, path: "{{env.WORK}}/state"}}
        jobs:
          - id: a
            steps:
              - {id: dump, type: external.process, inputs: {command: ["sh", "-c", "echo \\"$AETHERFLOW_ACTIVE_DIR|$AETHERFLOW_LOCAL_ROOT_DIR|$AETHERFLOW_CACHE_DIR\\" >> $0/seen", "{{env.WORK}}"]}}
        """))
    (bundle / "profiles.yaml").write_text("{}\n")
    (tmp_path / "manifest.yaml").write_text(textwrap.dedent("""\
        version: 1
        bundle:
          id: b
          source: {type: filesystem, base_path: bundle}
          layout: {flows_dir: flows, profiles_file: profiles.yaml}
          entry_flow: flows/dirs.yaml
        """))
    dist = tmp_path / "dist"
    result = run_cli(
        [
            "compile",
            "--bundle-manifest",
            str(tmp_path / "manifest.yaml"),
            "-o",
            str(dist),
            "--target",
            "all",
        ]
    )
    assert result.exit_code == 0, result.stdout + result.stderr
    work = tmp_path / "work"
    base = {"PATH": os.environ["PATH"], "WORK": str(work)}
    for command in (
        [sys.executable, "-I", "-S", str(dist / "dirs.py"), "run"],
        ["sh", str(dist / "dirs.sh"), "run"],
    ):
        for extra in ({}, {"AETHERFLOW_BUNDLE_ROOT": "/srv/bundle"}):
            proc = subprocess.run(
                command,
                capture_output=True,
                text=True,
                env={**base, **extra},
                cwd=tmp_path,
                timeout=60,
            )
            assert proc.returncode == 0, proc.stderr
    assert (work / "seen").read_text().splitlines() == [
        f"{dist}|{dist}|{dist}",
        "/srv/bundle|/srv/bundle|/srv/bundle",
    ] * 2
