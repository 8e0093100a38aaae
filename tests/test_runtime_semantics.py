"""Execution semantics of compiled artifacts (spec section 4), run with `python3 -I -S`."""

from __future__ import annotations

import json
import os

from conftest import Project, statuses

GATED = """\
jobs:
  - id: probe
    steps:
      - id: check
        type: check_items
        inputs: {items: "{{env.FILES:}}", min_count: 2}
        outputs: {has_data: "{{result.has_data}}", count: "{{result.count}}"}
  - id: extract
    depends_on: [probe]
    when: jobs.probe.outputs.has_data == true and jobs.probe.outputs.count >= 2
    steps:
      - id: load
        type: external.process
        inputs: {command: ["sh", "-c", "echo loaded $N > out.txt"], cwd: ".", env: {N: "{{jobs.probe.outputs.count}}"}}
        outputs: {rows: "{{jobs.probe.outputs.count}}"}
  - id: report
    depends_on: [extract]
    steps: []
"""


def test_when_true_runs_and_promotes_typed_outputs(project: Project) -> None:
    project.flow("gated", GATED)
    proc = project.run(
        "gated", "run", "--run-id", "r1", env={"FILES": "a.csv,b.csv,c.csv"}, check_exit=0
    )
    report = project.status("gated", "r1")
    assert report["status"] == "SUCCESS"
    assert statuses(report) == {
        "probe": ("SUCCESS", {"check": "SUCCESS"}),
        "extract": ("SUCCESS", {"load": "SUCCESS"}),
        "report": ("SUCCESS", {}),
    }
    # A standalone token keeps its type: count is the integer 3, not "3".
    assert report["jobs"]["probe"]["outputs"] == {"has_data": True, "count": 3}
    assert report["jobs"]["extract"]["outputs"] == {"rows": 3}
    assert (
        project.work / "gated" / "extract" / "r1" / "artifacts" / "out.txt"
    ).read_text() == "loaded 3\n"
    assert "run r1 of gated: SUCCESS (exit 0)" in proc.stderr


def test_when_false_skips_and_dependants_are_blocked_with_exit_0(project: Project) -> None:
    project.flow("gated", GATED)
    project.run("gated", "run", "--run-id", "r2", env={"FILES": "only-one.csv"}, check_exit=0)
    report = project.status("gated", "r2")
    assert statuses(report) == {
        "probe": ("SUCCESS", {"check": "SKIPPED"}),
        "extract": ("SKIPPED", {}),
        "report": ("BLOCKED", {}),
    }
    assert report["jobs"]["probe"]["outputs"] == {"has_data": False, "count": 1}
    rows = project.db_rows(
        "gated", "SELECT job_id, status FROM job_runs WHERE run_id='r2' ORDER BY job_id"
    )
    assert rows == [("extract", "SKIPPED"), ("probe", "SUCCESS"), ("report", "BLOCKED")]


NO_DATA = """\
jobs:
  - id: ingest
    steps:
      - id: pending
        type: check_items
        inputs: {items: "{{env.INBOX:}}"}
        outputs: {pending: "{{result.count}}"}
        on_no_data: skip_job
      - id: load
        type: external.process
        inputs: {command: ["sh", "-c", "echo ran >> ledger"], cwd: "."}
  - id: notify
    depends_on: [ingest]
    steps:
      - {id: ping, type: external.process, inputs: {command: ["true"]}}
  - id: audit
    steps:
      - {id: ping, type: external.process, inputs: {command: ["true"]}}
"""


def test_on_no_data_skips_the_rest_of_the_job_and_blocks_dependants(project: Project) -> None:
    project.flow("nodata", NO_DATA)
    project.run("nodata", "run", "--run-id", "r1", check_exit=0)
    report = project.status("nodata", "r1")
    assert statuses(report) == {
        "ingest": ("SKIPPED", {"pending": "SKIPPED", "load": "SKIPPED"}),
        "notify": ("BLOCKED", {}),
        "audit": ("SUCCESS", {"ping": "SUCCESS"}),
    }
    # The promoted output of the probe is kept even though the job was skipped.
    assert report["jobs"]["ingest"]["outputs"] == {"pending": 0}
    assert not (project.work / "nodata" / "ingest" / "r1" / "artifacts" / "ledger").exists()


FAILING = """\
jobs:
  - id: first
    steps:
      - {id: ok, type: external.process, inputs: {command: ["true"]}}
      - {id: boom, type: external.process, inputs: {command: ["sh", "-c", "echo broken >&2; exit 7"]}}
      - {id: never, type: external.process, inputs: {command: ["true"]}}
  - id: dependant
    depends_on: [first]
    steps:
      - {id: x, type: external.process, inputs: {command: ["true"]}}
  - id: independent
    steps:
      - {id: y, type: external.process, inputs: {command: ["true"]}}
"""


def test_a_failed_step_fails_the_job_and_stops_the_run(project: Project) -> None:
    project.flow("failing", FAILING)
    proc = project.run("failing", "run", "--run-id", "r1", check_exit=1)
    report = project.status("failing", "r1")
    assert report["status"] == "FAILED"
    # Later jobs are not reached: no status rows, as with the engine.
    assert statuses(report) == {"first": ("FAILED", {"ok": "SUCCESS", "boom": "FAILED"})}
    assert "external.process failed with exit code 7" in proc.stderr
    assert "dependant" in proc.stderr and "NOT_REACHED" in proc.stderr


def test_keep_going_runs_independent_jobs_and_blocks_dependants(project: Project) -> None:
    project.flow("failing", FAILING)
    project.run("failing", "run", "--run-id", "r1", "--keep-going", check_exit=1)
    assert statuses(project.status("failing", "r1")) == {
        "first": ("FAILED", {"ok": "SUCCESS", "boom": "FAILED"}),
        "dependant": ("BLOCKED", {}),
        "independent": ("SUCCESS", {"y": "SUCCESS"}),
    }


def test_empty_job_succeeds_and_job_subset_runs_only_selected(project: Project) -> None:
    project.flow(
        "subset",
        """\
        jobs:
          - {id: a, steps: []}
          - id: b
            depends_on: [a]
            steps: [{id: s, type: external.process, inputs: {command: ["true"]}}]
          - {id: c, steps: []}
        """,
    )
    project.run("subset", "run", "--run-id", "r1", "--job", "a", "--job", "c", check_exit=0)
    assert statuses(project.status("subset", "r1")) == {"a": ("SUCCESS", {}), "c": ("SUCCESS", {})}
    # Later, the same run id with --job b: a's SUCCESS from the earlier attempt counts.
    project.run("subset", "run", "--run-id", "r1", "--job", "b", check_exit=0)
    assert project.status("subset", "r1")["jobs"]["b"]["status"] == "SUCCESS"
    # A new run with only b: a did not run in it, so b is BLOCKED (as with the engine).
    project.run("subset", "run", "--run-id", "r2", "--job", "b", check_exit=0)
    assert project.status("subset", "r2")["jobs"]["b"]["status"] == "BLOCKED"


def test_when_reading_an_absent_output_fails_the_run_naming_job_and_key(project: Project) -> None:
    project.flow(
        "absent",
        """\
        jobs:
          - id: probe
            when: "false"
            steps:
              - {id: c, type: check_items, inputs: {items: [a]}, outputs: {ready: "{{result.has_data}}"}}
          - id: load
            when: jobs.probe.outputs.ready == true
            steps: []
        """,
    )
    proc = project.run("absent", "run", "--run-id", "r1", check_exit=1)
    assert "invalid when for job 'load'" in proc.stderr
    assert "job 'probe' (SKIPPED) has no output 'ready'" in proc.stderr
    assert statuses(project.status("absent", "r1")) == {"probe": ("SKIPPED", {})}


def test_when_over_status_and_python_comparison_semantics(project: Project) -> None:
    project.flow(
        "statuses",
        """\
        jobs:
          - id: a
            steps:
              - {id: c, type: check_items, inputs: {items: [x, y]}, outputs: {n: "{{result.count}}", flag: "{{result.has_data}}"}}
          - id: b
            when: jobs.a.status == 'SUCCESS' and 1 < jobs.a.outputs.n <= 2 and jobs.a.outputs.flag == 1 and not TRUE == false
            steps: []
          - id: c
            when: jobs.b.status != "SUCCESS" or -1 > 0
            steps: []
          - id: d
            when: jobs.a.outputs.n > 'text'
            steps: []
        """,
    )
    proc = project.run("statuses", "run", "--run-id", "r1", check_exit=1)
    report = project.status("statuses", "r1")
    assert statuses(report)["b"] == ("SUCCESS", {})
    assert statuses(report)["c"] == ("SKIPPED", {})
    # Ordering an int against a string aborts the run like an invalid when.
    assert "invalid when for job 'd'" in proc.stderr and "d" not in report["jobs"]


def test_cleanup_policies(project: Project) -> None:
    for policy in ("on_success", "always", "never"):
        body = """\
            jobs:
              - id: ok
                steps: [{id: s, type: external.process, inputs: {command: ["sh", "-c", "touch ../scratch/x"], cwd: "."}}]
              - id: nodata
                steps: [{id: p, type: check_items, inputs: {items: []}, on_no_data: skip_job}]
              - id: bad
                steps: [{id: s, type: external.process, inputs: {command: ["false"]}}]
            """
        flow_id = f"clean_{policy}"
        header = project.header(flow_id).replace(
            "cleanup_policy: never", f"cleanup_policy: {policy}"
        )
        project.write_flow(f"{flow_id}.yaml", header + __import__("textwrap").dedent(body))
    project.compile()
    for policy, expect_ok_dir, expect_bad_dir in (
        ("on_success", False, True),
        ("always", False, False),
        ("never", True, True),
    ):
        flow_id = f"clean_{policy}"
        project.run(flow_id, "run", "--run-id", "r1", "--keep-going", check_exit=1)
        base = project.work / flow_id
        assert (base / "ok" / "r1").exists() == expect_ok_dir, policy
        assert (base / "nodata" / "r1").exists() == expect_ok_dir, policy
        assert (base / "bad" / "r1").exists() == expect_bad_dir, policy
        assert (base / "ok").is_dir()  # the <job_id> parent stays


def test_every_running_job_gets_the_layout_directories(project: Project) -> None:
    extra = ""
    project.write_flow(
        "layout.yaml",
        project.header("layout").replace(
            "cleanup_policy: never}", "cleanup_policy: never, layout: {scratch: tmp}}"
        )
        + """\
jobs:
  - id: a
    steps:
      - {id: s, type: external.process, inputs: {command: ["sh", "-c", "test -d ../tmp && test -d ../manifests && pwd > here"], cwd: "."}}
"""
        + extra,
    )
    project.compile()
    project.run("layout", "run", "--run-id", "r1", check_exit=0)
    here = (project.work / "layout" / "a" / "r1" / "artifacts" / "here").read_text().strip()
    assert os.path.realpath(here) == os.path.realpath(
        project.work / "layout" / "a" / "r1" / "artifacts"
    )


def test_templates_defaults_empty_string_as_missing_and_typed_lists(project: Project) -> None:
    project.flow(
        "tpl",
        """\
        jobs:
          - id: a
            steps:
              - id: p
                type: external.process
                inputs:
                  command: ["python3", "-c", "import json,sys; print(json.dumps(sys.argv[1:]))"]
                  args: ["{{env.EMPTY:fallback}}", "{{env.URL:http://a:b }}", "x {{ env.URL:http://a:b }} y", "{{flow_id}}/{{job.id}}"]
                  log: {stdout: capture}
                outputs: {argv: "{{result.stdout}}", where: "{{run_id}}"}
              - id: q
                type: check_items
                inputs: {items: "{{steps.p.exit_code}},{{env.NOPE:}}"}
                outputs: {n: "{{result.count}}"}
        """,
    )
    project.run("tpl", "run", "--run-id", "r1", env={"EMPTY": ""}, check_exit=0)
    outputs = project.status("tpl", "r1")["jobs"]["a"]["outputs"]
    assert json.loads(outputs["argv"]) == ["fallback", "http://a:b ", "x http://a:b y", "tpl/a"]
    assert outputs["where"] == "r1" and outputs["n"] == 1


def test_missing_env_in_a_step_fails_the_job_with_exit_2(project: Project) -> None:
    project.flow(
        "needs_env",
        """\
        jobs:
          - id: a
            steps:
              - {id: s, type: external.process, inputs: {command: ["echo", "{{env.API_URL}}"]}}
        """,
    )
    proc = project.run("needs_env", "run", "--run-id", "r1", check_exit=2)
    assert "missing template key 'env.API_URL'" in proc.stderr
    assert statuses(project.status("needs_env", "r1")) == {"a": ("FAILED", {"s": "FAILED"})}
    project.run("needs_env", "run", "--run-id", "r2", env={"API_URL": "http://x"}, check_exit=0)


def test_env_files_json_setting_and_options_later_wins(project: Project) -> None:
    (project.root / "a.env").write_text("# comment\nA=from-dotenv\nB='quoted'\nSHARED=dotenv\n")
    (project.root / "b.json").write_text(json.dumps({"SHARED": "json", "N": 5, "OBJ": {"k": 1}}))
    secrets = project.root / "secrets"
    secrets.mkdir()
    (secrets / "TOKEN").write_text("t0k3n\n")
    (project.root / "late.env").write_text("SHARED=option\n")
    project.flow(
        "envs",
        """\
        jobs:
          - id: a
            steps:
              - id: p
                type: external.process
                inputs:
                  command: ["python3", "-c", "import json,os; print(json.dumps({k: os.environ.get(k) for k in ['A','B','SHARED','N','OBJ','TOKEN']}))"]
                  log: {stdout: capture}
                outputs: {env: "{{result.stdout}}"}
        """,
    )
    spec = json.dumps(
        [
            {"type": "dotenv", "path": str(project.root / "a.env")},
            {"type": "json", "path": str(project.root / "b.json")},
            {"type": "dir", "path": str(secrets)},
            {"type": "dotenv", "path": str(project.root / "nope.env"), "optional": True},
        ]
    )
    project.run(
        "envs",
        "run",
        "--run-id",
        "r1",
        "--env-file",
        str(project.root / "late.env"),
        env={"AETHERFLOW_ENV_FILES_JSON": spec},
        check_exit=0,
    )
    seen = json.loads(project.status("envs", "r1")["jobs"]["a"]["outputs"]["env"])
    assert seen == {
        "A": "from-dotenv",
        "B": "quoted",
        "SHARED": "option",
        "N": "5",
        "OBJ": '{"k": 1}',
        "TOKEN": "t0k3n",
    }
    bad = project.run("envs", "run", "--env-file", str(project.root / "missing.env"), check_exit=2)
    assert "env file not found" in bad.stderr
