"""AETHERFLOW_METRICS_TEXTFILE: a run of a compiled flow leaves its metrics in the
Prometheus text format for node_exporter's textfile collector. Every file is read back
with prometheus_client's own parser, as the collector would."""

from __future__ import annotations

import glob
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from conftest import Project
from polling import text_of, wait_for

Series = dict[str, dict[tuple[tuple[str, str], ...], float]]


def read_metrics(path: Path) -> Series:
    """Metric name -> {sorted label pairs: value}; asserts what the collector needs: a
    HELP and TYPE for every metric, gauges only, no series given twice."""
    text = path.read_text()
    out: Series = {}
    for family in text_string_to_metric_families(text):
        assert family.type == "gauge", family.name
        assert family.documentation, family.name
        assert f"# HELP {family.name} " in text and f"# TYPE {family.name} gauge\n" in text
        for sample in family.samples:
            key = tuple(sorted(sample.labels.items()))
            assert key not in out.setdefault(sample.name, {}), (sample.name, key)
            out[sample.name][key] = sample.value
    return out


def value(series: Series, name: str, **labels: str) -> float:
    return series[name][tuple(sorted(labels.items()))]


def labelled(series: Series, name: str, key: str, **where: str) -> dict[str, str]:
    """{labels[key]: labels['status']} over the series of `name` whose labels match `where`."""
    out = {}
    for pairs, number in series[name].items():
        labels = dict(pairs)
        if all(labels.get(k) == v for k, v in where.items()):
            assert number == 1, (name, labels)
            out[labels[key]] = labels["status"]
    return out


MIXED = """\
    jobs:
      - id: extract
        steps:
          - {id: fetch, type: external.process, inputs: {command: ["sleep", "0.2"]}}
          - {id: 'say "hi"', type: external.process, inputs: {command: ["true"]}}
      - id: load
        depends_on: [extract]
        steps:
          - {id: bad, type: external.process, inputs: {command: ["false"]}}
          - {id: never, type: external.process, inputs: {command: ["true"]}}
      - id: report
        depends_on: [load]
        steps:
          - {id: mail, type: external.process, inputs: {command: ["true"]}}
      - id: weekly
        when: "false"
        steps:
          - {id: sum, type: external.process, inputs: {command: ["true"]}}
      - id: tidy
        steps:
          - {id: empty, type: check_items, inputs: {items: []}, on_no_data: skip_job}
          - {id: rm, type: external.process, inputs: {command: ["true"]}}
    """


def test_a_failed_run_reports_every_status_duration_and_count(project: Project) -> None:
    project.flow("nightly", MIXED)
    prom = project.root / "textfile" / "nightly.prom"
    prom.parent.mkdir()
    before = time.time()
    proc = project.run(
        "nightly",
        "run",
        "--keep-going",
        env={"AETHERFLOW_METRICS_TEXTFILE": str(prom)},
        check_exit=1,
    )
    after = time.time()
    assert "metrics_textfile_failed" not in proc.stderr
    m = read_metrics(prom)
    flow = {"flow_id": "nightly"}
    assert value(m, "aetherflow_run_success", **flow) == 0
    assert labelled(m, "aetherflow_run_status", "flow_id") == {"nightly": "FAILED"}
    assert value(m, "aetherflow_run_exit_code", **flow) == 1
    start = value(m, "aetherflow_run_start_timestamp_seconds", **flow)
    end = value(m, "aetherflow_run_end_timestamp_seconds", **flow)
    assert before <= start <= end <= after
    assert abs(value(m, "aetherflow_run_duration_seconds", **flow) - (end - start)) < 0.01
    assert labelled(m, "aetherflow_job_status", "job_id") == {
        "extract": "SUCCESS",
        "load": "FAILED",
        "report": "BLOCKED",
        "weekly": "SKIPPED",
        "tidy": "SKIPPED",
    }
    assert labelled(m, "aetherflow_step_status", "step_id", job_id="extract") == {
        "fetch": "SUCCESS",
        'say "hi"': "SUCCESS",
    }  # a double quote survives the escaping
    assert labelled(m, "aetherflow_step_status", "step_id", job_id="load") == {"bad": "FAILED"}
    assert labelled(m, "aetherflow_step_status", "step_id", job_id="tidy") == {
        "empty": "SKIPPED",
        "rm": "SKIPPED",
    }
    jobs = {
        status: value(m, "aetherflow_run_jobs", status=status, **flow)
        for status in ("SUCCESS", "FAILED", "SKIPPED", "BLOCKED", "NOT_REACHED", "INTERRUPTED")
    }
    assert jobs == {
        "SUCCESS": 1,
        "FAILED": 1,
        "SKIPPED": 2,
        "BLOCKED": 1,
        "NOT_REACHED": 0,
        "INTERRUPTED": 0,
    }
    steps = {
        status: value(m, "aetherflow_run_steps", status=status, **flow)
        for status in ("SUCCESS", "FAILED", "SKIPPED", "INTERRUPTED")
    }
    assert steps == {"SUCCESS": 2, "FAILED": 1, "SKIPPED": 2, "INTERRUPTED": 0}
    fetch = value(m, "aetherflow_step_duration_seconds", job_id="extract", step_id="fetch", **flow)
    assert 0.2 <= fetch < 5
    extract = value(m, "aetherflow_job_duration_seconds", job_id="extract", **flow)
    assert fetch <= extract <= value(m, "aetherflow_run_duration_seconds", **flow)
    assert all(d >= 0 for d in m["aetherflow_step_duration_seconds"].values())
    assert all(d >= 0 for d in m["aetherflow_job_duration_seconds"].values())
    assert set(m["aetherflow_step_resumed"].values()) == {0}
    assert value(m, "aetherflow_run_steps_resumed", **flow) == 0
    # Every series names its flow; none is labelled `job`, which Prometheus sets itself.
    for name, entries in m.items():
        for pairs in entries:
            assert dict(pairs)["flow_id"] == "nightly" and "job" not in dict(pairs), name


def test_success_replaces_the_file_atomically_and_resumed_steps_show_as_resumed(
    project: Project,
) -> None:
    marker = project.root / "upstream-ready"
    project.flow(
        "daily",
        f"""\
        jobs:
          - id: a
            steps:
              - {{id: download, type: external.process, inputs: {{command: ["true"]}}}}
              - {{id: wait, type: external.process, inputs: {{command: ["test", "-e", "{marker}"]}}}}
        """,
    )
    folder = project.root / "textfile"
    folder.mkdir()
    prom = folder / "daily.prom"
    env = {"AETHERFLOW_METRICS_TEXTFILE": str(prom)}
    project.run("daily", "run", "--run-id", "r1", env=env, check_exit=1)
    first = read_metrics(prom)
    assert labelled(first, "aetherflow_run_status", "flow_id") == {"daily": "FAILED"}
    assert labelled(first, "aetherflow_step_status", "step_id") == {
        "download": "SUCCESS",
        "wait": "FAILED",
    }
    old_inode = prom.stat().st_ino
    marker.write_text("")
    project.run("daily", "run", "--run-id", "r1", env=env, check_exit=0)  # resumes r1
    assert prom.stat().st_ino != old_inode  # renamed over, not rewritten in place
    m = read_metrics(prom)
    assert value(m, "aetherflow_run_success", flow_id="daily") == 1
    assert labelled(m, "aetherflow_run_status", "flow_id") == {"daily": "SUCCESS"}
    assert value(m, "aetherflow_run_exit_code", flow_id="daily") == 0
    assert labelled(m, "aetherflow_step_status", "step_id") == {
        "download": "SUCCESS",
        "wait": "SUCCESS",
    }
    ids = {"flow_id": "daily", "job_id": "a"}
    assert value(m, "aetherflow_step_resumed", step_id="download", **ids) == 1
    assert value(m, "aetherflow_step_resumed", step_id="wait", **ids) == 0
    assert value(m, "aetherflow_run_steps_resumed", flow_id="daily") == 1
    assert value(m, "aetherflow_run_steps", status="SUCCESS", flow_id="daily") == 2
    # A resumed step did not run in this run: it has no duration of its own.
    assert set(m["aetherflow_step_duration_seconds"]) == {
        tuple(sorted({**ids, "step_id": "wait"}.items()))
    }
    assert sorted(os.listdir(folder)) == ["daily.prom"]  # no temporary file is left


def test_a_reader_of_the_old_file_keeps_the_whole_old_file(project: Project) -> None:
    project.flow(
        "swap",
        """\
        jobs:
          - id: a
            steps:
              - {id: s, type: external.process, inputs: {command: ["true"]}}
        """,
    )
    prom = project.root / "swap.prom"
    env = {"AETHERFLOW_METRICS_TEXTFILE": str(prom)}
    project.run("swap", "run", "--run-id", "r1", env=env, check_exit=0)
    old_text = prom.read_text()
    with prom.open() as reader:
        project.run("swap", "run", "--run-id", "r2", env=env, check_exit=0)
        assert reader.read() == old_text  # the old file was replaced, never truncated
    new_text = prom.read_text()
    assert new_text != old_text and read_metrics(prom)["aetherflow_run_success"]


def test_a_sigterm_interrupted_run_writes_the_running_job_and_step(project: Project) -> None:
    pid_file = project.root / "step.pid"
    project.flow(
        "term",
        f"""\
        jobs:
          - id: a
            steps:
              - {{id: first, type: external.process, inputs: {{command: ["true"]}}}}
              - {{id: long, type: external.process, inputs: {{command: ["sh", "-c", "echo $$ > {pid_file}; sleep 60"]}}}}
              - {{id: after, type: external.process, inputs: {{command: ["true"]}}}}
          - id: b
            steps:
              - {{id: s, type: external.process, inputs: {{command: ["true"]}}}}
        """,
    )
    prom = project.root / "term.prom"
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "AETHERFLOW_METRICS_TEXTFILE": str(prom),
    }
    proc = subprocess.Popen(
        [sys.executable, "-I", "-S", str(project.dist / "term.py"), "run", "--run-id", "r1"],
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        cwd=project.root,
    )
    wait_for(lambda: text_of(pid_file), timeout=10, what="the long step's pid file")
    time.sleep(
        0.3
    )  # the behaviour: the step runs a while, and no metrics file is written meanwhile
    assert not prom.exists()  # written when the run ends, not before
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=10) == 128 + signal.SIGTERM
    assert proc.stderr is not None and "metrics_textfile_failed" not in proc.stderr.read()
    m = read_metrics(prom)
    flow = {"flow_id": "term"}
    assert value(m, "aetherflow_run_success", **flow) == 0
    assert labelled(m, "aetherflow_run_status", "flow_id") == {"term": "INTERRUPTED"}
    assert value(m, "aetherflow_run_exit_code", **flow) == 128 + signal.SIGTERM
    assert labelled(m, "aetherflow_job_status", "job_id") == {
        "a": "INTERRUPTED",
        "b": "NOT_REACHED",
    }
    assert labelled(m, "aetherflow_step_status", "step_id") == {
        "first": "SUCCESS",
        "long": "INTERRUPTED",
    }
    assert value(m, "aetherflow_step_duration_seconds", job_id="a", step_id="long", **flow) >= 0.3
    assert value(m, "aetherflow_run_jobs", status="INTERRUPTED", **flow) == 1
    assert value(m, "aetherflow_run_jobs", status="NOT_REACHED", **flow) == 1
    assert value(m, "aetherflow_run_steps", status="INTERRUPTED", **flow) == 1
    assert ("job_id", "b") not in {p for k in m["aetherflow_job_duration_seconds"] for p in k}
    assert project.status("term", "r1")["status"] == "INTERRUPTED"


def test_flows_writing_into_one_folder_at_once_do_not_clash(project: Project) -> None:
    for name in ("one", "two", "three"):
        project.write_flow(
            f"{name}.yaml",
            project.header(name)
            + """\
jobs:
  - id: a
    steps:
"""
            + "".join(
                f'      - {{id: s{i}, type: external.process, inputs: {{command: ["true"]}}}}\n'
                for i in range(20)
            ),
        )
    project.compile()
    folder = project.root / "textfile"
    folder.mkdir()
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin")}
    procs = [
        subprocess.Popen(
            [sys.executable, "-I", "-S", str(project.dist / f"{name}.py"), "run"],
            stderr=subprocess.DEVNULL,
            cwd=project.root,
            env={**env, "AETHERFLOW_METRICS_TEXTFILE": str(folder / f"{name}.prom")},
        )
        for name in ("one", "two", "three")
    ]
    assert [p.wait(timeout=60) for p in procs] == [0, 0, 0]
    assert sorted(os.listdir(folder)) == ["one.prom", "three.prom", "two.prom"]
    for name in ("one", "two", "three"):
        m = read_metrics(folder / f"{name}.prom")
        assert labelled(m, "aetherflow_run_status", "flow_id") == {name: "SUCCESS"}
        assert value(m, "aetherflow_run_steps", flow_id=name, status="SUCCESS") == 20


def test_a_file_that_cannot_be_written_is_a_warning_and_never_changes_the_exit_code(
    project: Project,
) -> None:
    project.flow(
        "w",
        """\
        jobs:
          - id: a
            steps:
              - {id: s, type: external.process, inputs: {command: ["true"]}}
        """,
    )
    missing = project.root / "no-such-folder" / "w.prom"
    proc = project.run("w", "run", env={"AETHERFLOW_METRICS_TEXTFILE": str(missing)}, check_exit=0)
    warning = [line for line in proc.stderr.splitlines() if "metrics_textfile_failed" in line]
    assert len(warning) == 1 and "WARNING" in warning[0] and str(missing) in warning[0]
    assert "FileNotFoundError" in warning[0]
    assert "run_end status=SUCCESS" in proc.stderr and "Traceback" not in proc.stderr
    assert not missing.parent.exists()
    # PATH names a folder: the temporary file is written, the rename fails, and the
    # temporary file is removed again.
    folder = project.root / "textfile"
    (folder / "w.prom").mkdir(parents=True)
    proc = project.run(
        "w", "run", env={"AETHERFLOW_METRICS_TEXTFILE": str(folder / "w.prom")}, check_exit=0
    )
    assert "metrics_textfile_failed" in proc.stderr and "IsADirectoryError" in proc.stderr
    assert os.listdir(folder) == ["w.prom"] and os.listdir(folder / "w.prom") == []
    # A failed run keeps its exit code 1 when the metrics cannot be written either.
    project.flow(
        "f",
        """\
        jobs:
          - id: a
            steps:
              - {id: s, type: external.process, inputs: {command: ["false"]}}
        """,
    )
    proc = project.run("f", "run", env={"AETHERFLOW_METRICS_TEXTFILE": str(missing)}, check_exit=1)
    assert "metrics_textfile_failed" in proc.stderr


def test_a_run_that_never_started_writes_nothing(project: Project) -> None:
    project.flow(
        "u",
        """\
        jobs:
          - id: a
            steps:
              - {id: s, type: external.process, inputs: {command: ["echo", "{{env.NEEDED}}"]}}
        """,
        extra="  locks: {scope: flow, ttl_seconds: 60}\n",
    )
    prom = project.root / "u.prom"
    env = {"AETHERFLOW_METRICS_TEXTFILE": str(prom)}
    project.run("u", "run", "--job", "nope", env=env, check_exit=2)  # a usage error
    project.run("u", "run", "--bogus", env=env, check_exit=2)
    project.run("u", "plan", env=env, check_exit=0)
    project.run("u", "status", env=env, check_exit=2)  # no run recorded yet
    assert not prom.exists()
    # A run that started and failed on a missing env variable does write (exit 2).
    project.run("u", "run", env=env, check_exit=2)
    m = read_metrics(prom)
    assert labelled(m, "aetherflow_run_status", "flow_id") == {"u": "FAILED"}
    assert value(m, "aetherflow_run_exit_code", flow_id="u") == 2
    written = prom.read_bytes()
    # The flow lock held by another run: this run does not start and leaves the file alone.
    with sqlite3.connect(project.state("u")) as conn:
        conn.execute(
            "INSERT OR REPLACE INTO af_locks(key, owner, expires_at) VALUES (?, ?, ?)",
            ("flow:u", "another-run", int(time.time()) + 600),
        )
    proc = project.run("u", "run", env={**env, "NEEDED": "x"}, check_exit=3)
    assert "lock_held" in proc.stderr
    assert prom.read_bytes() == written


@pytest.mark.unit
def test_label_values_with_backslashes_quotes_and_newlines_parse_back_unchanged() -> None:
    # Flow, job and step ids cannot hold a backslash or a line break today; the writer
    # escapes them anyway, so that the file stays valid whatever a later id allows.
    from aetherflow_compiler._runtime.textfile import exposition

    odd = 'a\\b "c"\nd'
    jobs = [
        {
            "job_id": odd,
            "status": "SUCCESS",
            "duration_ms": 1500,
            "steps": [{"step_id": odd, "status": "SUCCESS", "duration_ms": 250}],
        }
    ]
    text = exposition(odd, "SUCCESS", 0, 100.0, 101.5, jobs)
    assert all(
        line.startswith(("# HELP aetherflow_", "# TYPE aetherflow_", "aetherflow_"))
        for line in text.splitlines()
    )  # no label value broke a line
    families = {f.name: f for f in text_string_to_metric_families(text)}
    (sample,) = families["aetherflow_step_duration_seconds"].samples
    assert sample.labels == {"flow_id": odd, "job_id": odd, "step_id": odd}
    assert sample.value == 0.25
    assert families["aetherflow_run_duration_seconds"].samples[0].value == 1.5


def _python38() -> str | None:
    """A working CPython 3.8 (pyenv's, or python3.8 on PATH: which may be a pyenv shim)."""
    for path in [
        *sorted(glob.glob(os.path.expanduser("~/.pyenv/versions/3.8*/bin/python3"))),
        shutil.which("python3.8"),
    ]:
        if (
            path
            and subprocess.run(
                [path, "-c", "import sys; assert sys.version_info[:2] == (3, 8)"],
                capture_output=True,
            ).returncode
            == 0
        ):
            return path
    return None


def test_a_single_file_artifact_on_the_oldest_python_writes_the_same_metrics(
    project: Project,
) -> None:
    project.write_flow(
        "solo.yaml",
        project.header("solo") + textwrap.dedent("""\
        jobs:
          - id: a
            steps:
              - {id: ok, type: external.process, inputs: {command: ["true"]}}
              - {id: bad, type: external.process, inputs: {command: ["false"]}}
        """),
    )
    project.compile("--single-file")
    assert sorted(p.name for p in project.dist.iterdir()) == ["manifest.json", "solo.py"]
    python = _python38() or sys.executable  # the runtime's floor where the machine has it
    prom = project.root / "solo.prom"
    proc = subprocess.run(
        [python, "-I", "-S", str(project.dist / "solo.py"), "run"],
        capture_output=True,
        text=True,
        cwd=project.root,
        timeout=60,
        env={
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "AETHERFLOW_METRICS_TEXTFILE": str(prom),
        },
    )
    assert proc.returncode == 1, proc.stderr
    m = read_metrics(prom)
    assert labelled(m, "aetherflow_run_status", "flow_id") == {"solo": "FAILED"}
    assert labelled(m, "aetherflow_step_status", "step_id") == {"ok": "SUCCESS", "bad": "FAILED"}
    assert value(m, "aetherflow_run_steps", flow_id="solo", status="FAILED") == 1
