"""Engine projects compile unchanged: plugins that replace built-ins, the engine's settings,
and compile errors for exactly what the engine fails on at run time.

The fixtures reproduce the patterns of the engine's public demo projects (plugins named
like built-in steps, steps naming resources only a profile defines, `src`/`dst` inputs the
built-in zip never reads, a misspelt plugin step type); they are written here.
"""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

from conftest import Project, run_cli


def _plugins(root: Path, files: dict[str, str]) -> Path:
    folder = root / "plugins"
    for name, source in files.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text(textwrap.dedent(source))
    return folder


def _flow(
    project: Project, flow_id: str, *steps: dict, jobs: tuple[dict, ...] = (), compile: bool = True
) -> None:
    """flows/<flow_id>.yaml: a job `a` of `steps` (or the given `jobs`), each job written as
    one line of JSON (YAML reads it). Compiled unless told not to."""
    text = "jobs:\n" + "".join(
        f"  - {json.dumps(job)}\n" for job in jobs or ({"id": "a", "steps": list(steps)},)
    )
    project.write_flow(f"{flow_id}.yaml", project.header(flow_id) + text)
    if compile:
        project.compile()


def _true(step_id: str, command: str = "true") -> dict:
    return {"id": step_id, "type": "external.process", "inputs": {"command": [command]}}


# A plugin step, and a flow `p` whose one step runs it and promotes what it says.
HELLO = """\
    from aetherflow.core.api import Step, register_step

    @register_step("acme_hello")
    class Hello(Step):
        def run(self):
            return {"said": "hello"}
    """
HELLO_STEP = {"id": "s", "type": "acme_hello", "outputs": {"said": "{{result.said}}"}}


REPLACING = {
    "steps/listing.py": """\
        from aetherflow.core.api import Step, register_step

        @register_step("sftp_list_files")
        class LocalListing(Step):
            required_inputs = {"resource", "remote_dir"}

            def run(self):
                self.validate()
                names = self.ctx.connectors[self.inputs["resource"]].listdir(self.inputs["remote_dir"])
                return {"files": sorted(names), "count": len(names)}
        """,
    "connectors/local.py": """\
        import os
        from aetherflow.core.api import ConnectorBase, ConnectorInit, register_connector

        @register_connector(kind="sftp", driver="paramiko")
        class FolderAsSftp(ConnectorBase):
            def __init__(self, init: ConnectorInit):
                super().__init__(init)
                self.base = init.config["base_dir"]

            def listdir(self, path):
                return os.listdir(os.path.join(self.base, path))
        """,
}


def test_plugins_replace_built_in_steps_and_connectors(project: Project) -> None:
    plugins = _plugins(project.root, REPLACING)
    inbox = project.root / "remote" / "inbox"
    inbox.mkdir(parents=True)
    for name in ("b.zip", "a.zip"):
        (inbox / name).write_text("x")
    project.write_flow(
        "listing.yaml",
        project.header(
            "listing",
            extra=textwrap.dedent(f"""\
        resources:
          remote: {{kind: sftp, driver: paramiko, config: {{base_dir: {json.dumps(str(inbox.parent))}}}}}
        jobs:
          - id: fetch
            steps:
              - id: list
                type: sftp_list_files
                inputs: {{resource: remote, remote_dir: inbox}}
                outputs: {{files: "{{{{result.files}}}}", count: "{{{{result.count}}}}"}}
        """),
        ),
    )
    compiled = project.compile("--plugins", str(plugins))
    warnings = [line for line in compiled.stdout.splitlines() if " AF809 " in line]
    assert len(warnings) == 2, compiled.stdout
    assert any(
        "steps/listing.py:3:1: warning AF809 plugin step type sftp_list_files (class LocalListing)"
        in w
        for w in warnings
    )
    assert any(
        "connectors/local.py:4:1: warning AF809 plugin connector sftp:paramiko (class FolderAsSftp)"
        in w
        for w in warnings
    )
    manifest = json.loads((project.dist / "manifest.json").read_text())
    assert manifest["flows"]["listing"]["packages"] == []  # the built-in's paramiko is not needed
    assert not (project.dist / "aetherflow_runtime" / "steps" / "remote.py").exists()
    project.run("listing", "run", "--run-id", "r1", check_exit=0)
    outputs = project.status("listing", "r1")["jobs"]["fetch"]["outputs"]
    assert outputs == {"files": ["a.zip", "b.zip"], "count": 2}


@pytest.mark.unit
def test_a_replaced_step_is_checked_against_the_plugin_not_the_built_in(project: Project) -> None:
    plugins = _plugins(project.root, REPLACING)
    project.write_flow(
        "bad.yaml",
        project.header(
            "bad",
            extra=textwrap.dedent("""\
        resources:
          remote: {kind: sftp, driver: paramiko, config: {base_dir: /srv}}
        jobs:
          - id: fetch
            steps:
              - {id: list, type: sftp_list_files, inputs: {resource: remote}}
        """),
        ),
    )
    result = run_cli(["validate", "--plugins", str(plugins), str(project.flows)])
    assert result.exit_code == 2
    assert "AF602" in result.stdout and "remote_dir" in result.stdout
    assert "AF601" not in result.stdout  # the built-in's schema would also miss 'remote_dir'


@pytest.mark.unit
def test_steps_naming_undeclared_resources_fail_compiling_as_they_fail_the_engine(
    project: Project,
) -> None:
    """The pattern of the engine's local demos: resources only a profile names, zip
    inputs the built-in never reads, and a plugin step type spelt wrong."""
    plugins = _plugins(
        project.root,
        {
            **REPLACING,
            "steps/csv.py": """\
        from aetherflow.core.api import Step, register_step

        @register_step("demo_generate_csv")
        class Generate(Step):
            def run(self):
                return {}
        """,
        },
    )
    profiles = project.root / "profiles.yaml"
    profiles.write_text("remote_local:\n  config: {base_dir: /tmp/inbox}\n")
    flow = project.write_flow(
        "demo.yaml",
        project.header(
            "demo",
            extra=textwrap.dedent("""\
        jobs:
          - id: pipeline
            steps:
              - {id: list, type: sftp_list_files, inputs: {resource: remote_local, remote_dir: inbox}}
              - {id: pack, type: zip, inputs: {src: transformed, dst: out/payload.zip}}
              - {id: report, type: demo_write_csv, inputs: {output: data/a.csv}}
        """),
        ),
    )
    result = run_cli(
        ["validate", "--plugins", str(plugins), "--profiles", str(profiles), str(project.flows)]
    )
    assert result.exit_code == 2
    lines = result.stdout.splitlines()
    assert any(
        f"{flow}:9:62: error AF308 step type sftp_list_files uses unknown resource 'remote_local'"
        in line
        for line in lines
    ), result.stdout
    assert "a profile named 'remote_local' exists" in result.stdout
    assert f"{flow}:10:40: error AF601 unknown input 'src' for zip" in result.stdout
    assert f"{flow}:10:58: error AF601 unknown input 'dst' for zip" in result.stdout
    assert f"{flow}:11:28: error AF306 unknown step type 'demo_write_csv'" in result.stdout
    assert "did you mean 'demo_generate_csv'?" in result.stdout


def test_a_plugin_that_fails_to_import_is_skipped_when_not_strict(project: Project) -> None:
    plugins = _plugins(project.root, {"broken.py": "import acme_sdk_missing\n", "fine.py": HELLO})
    _flow(project, "p", HELLO_STEP, compile=False)
    strict = run_cli(
        ["compile", str(project.flows), "-o", str(project.dist), "--plugins", str(plugins)]
    )
    assert strict.exit_code == 2 and "AF703 plugin failed to import" in strict.stdout
    lenient = run_cli(
        ["compile", str(project.flows), "-o", str(project.dist), "--plugins", str(plugins)],
        env={"AETHERFLOW_PLUGIN_STRICT": "false"},
    )
    assert lenient.exit_code == 0, lenient.stdout
    assert "AF811" in lenient.stdout
    # The artifact does not try the skipped file again (the host may lack the package too).
    project.run("p", "run", "--run-id", "r1", check_exit=0)
    assert project.status("p", "r1")["jobs"]["a"]["outputs"] == {"said": "hello"}


def test_settings_module_and_ignored_settings(project: Project) -> None:
    _flow(project, "s", _true("s"))
    (project.dist / "team_settings.py").write_text(
        'SETTINGS = {"log_format": "json", "log_level": "WARNING"}\n'
    )
    proc = project.run(
        "s",
        "run",
        "--run-id",
        "r1",
        check_exit=0,
        env={"AETHERFLOW_SETTINGS_MODULE": "team_settings", "AETHERFLOW_STRICT_TEMPLATES": "false"},
    )
    events = [json.loads(line) for line in proc.stderr.splitlines() if line.startswith("{")]
    assert [e["event"] for e in events] == ["setting_ignored"]  # WARNING and above, as JSON
    assert "AETHERFLOW_STRICT_TEMPLATES" in events[0]["detail"]
    broken = project.run(
        "s", "run", env={"AETHERFLOW_SETTINGS_MODULE": "no_such_module"}, check_exit=2
    )
    assert "AETHERFLOW_SETTINGS_MODULE" in broken.stderr and "Traceback" not in broken.stderr


def test_a_metrics_sink_sees_failures_and_never_fails_the_run(project: Project) -> None:
    _flow(project, "m", _true("ok"), _true("bad", "false"))
    (project.dist / "sink.py").write_text(textwrap.dedent("""\
        import json

        class Sink:
            def __getattr__(self, hook):
                def record(**kw):
                    with open("calls.jsonl", "a") as fh:
                        fh.write(json.dumps([hook, kw.get("step_id"), kw.get("status")]) + "\\n")
                    if hook == "on_run_end":
                        raise ValueError("the backend is down")
                return record

        METRICS = Sink()
        """))
    proc = project.run("m", "run", check_exit=1, env={"AETHERFLOW_METRICS_MODULE": "sink"})
    assert "metrics_error hook=on_run_end error=ValueError: the backend is down" in proc.stderr
    calls = [json.loads(line) for line in (project.root / "calls.jsonl").read_text().splitlines()]
    assert calls == [
        ["on_run_start", None, None],
        ["on_job_start", None, None],
        ["on_step_start", "ok", None],
        ["on_step_end", "ok", "SUCCESS"],
        ["on_step_start", "bad", None],
        ["on_step_end", "bad", "FAILED"],
        ["on_job_end", None, "FAILED"],
        ["on_run_end", None, None],
    ]
    missing = project.run("m", "run", check_exit=2, env={"AETHERFLOW_METRICS_MODULE": "nope"})
    assert "cannot import the metrics module nope" in missing.stderr


def test_nested_with_lock_of_the_same_key_fails_the_inner_acquire(project: Project) -> None:
    def with_lock(step: dict, step_id: str | None = None) -> dict:
        lock = {"type": "with_lock", "inputs": {"lock_key": "k", "step": step}}
        return {"id": step_id, **lock} if step_id else lock

    inner = {"type": "external.process", "inputs": {"command": ["true"]}}
    _flow(
        project,
        "locks",
        jobs=(
            {"id": "a", "steps": [with_lock(with_lock(inner), "outer")]},
            {"id": "b", "steps": [with_lock(inner, "free")]},
        ),
    )
    proc = project.run("locks", "run", "--run-id", "r1", "--keep-going", check_exit=1)
    assert "Lock not acquired: k" in proc.stderr
    jobs = project.status("locks", "r1")["jobs"]
    assert jobs["a"]["status"] == "FAILED" and jobs["b"]["status"] == "SUCCESS"
    assert project.db_rows("locks", "SELECT key FROM locks") == []


def test_a_vendored_plugin_that_fails_on_the_host_is_exit_2_or_skipped(project: Project) -> None:
    plugins = _plugins(
        project.root,
        {
            "needs_sdk.py": """\
            import os
            if os.environ.get("NO_SDK_HERE"):
                raise ImportError("No module named 'acme_sdk'")
            """,
            "hello.py": HELLO,
        },
    )
    _flow(project, "p", HELLO_STEP, compile=False)
    project.compile("--plugins", str(plugins))
    failed = project.run("p", "run", env={"NO_SDK_HERE": "1"}, check_exit=2)
    assert failed.stderr == (
        "error: plugin file needs_sdk.py failed to import: ImportError: "
        "No module named 'acme_sdk'\n"
    )
    skipped = project.run(
        "p",
        "run",
        "--run-id",
        "r2",
        check_exit=0,
        env={"NO_SDK_HERE": "1", "AETHERFLOW_PLUGIN_STRICT": "false"},
    )
    assert "warning: plugin_skipped plugin file needs_sdk.py failed to import" in skipped.stderr
    assert project.status("p", "r2")["jobs"]["a"]["outputs"] == {"said": "hello"}


REMOTE_STYLE = {
    "connectors/folder_sftp.py": """\
        import dataclasses
        import os
        from typing import List

        from aetherflow.core.api import ConnectorBase, ConnectorInit, RemoteFileMeta, register_connector, require


        @register_connector(kind="sftp", driver="sftp-folder")
        class FolderSftp(ConnectorBase):
            def __init__(self, init: ConnectorInit):
                super().__init__(init)
                self.base = init.config["base_dir"]
                self.timeout = int(init.options.get("timeout", 30))
                require("stat")

            def listdir(self, remote_dir: str) -> List[RemoteFileMeta]:
                out = []
                for name in sorted(os.listdir(os.path.join(self.base, remote_dir))):
                    meta = RemoteFileMeta(path=f"{remote_dir}/{name}", name=name, size=1)
                    out.append(dataclasses.replace(meta, size=os.path.getsize(os.path.join(self.base, meta.path))))
                return out
        """,
    "connectors/mail_dummy.py": """\
        from aetherflow.core.api import ConnectorBase, register_connector

        @register_connector(kind="mail", driver="mail-dummy")
        class MailDummy(ConnectorBase):
            def send(self, to, subject, body):
                with open(self.config["outbox"], "a") as fh:
                    fh.write(f"{to}|{subject}|{body}\\n")
        """,
    "steps/remote.py": """\
        from aetherflow.core.api import STEP_SKIPPED, Step, StepResult, register_step

        @register_step("sftp_list_files_custom")
        class ListCustom(Step):
            required_inputs = {"resource", "remote_dir"}

            def run(self):
                metas = self.ctx.connectors[self.inputs["resource"]].listdir(self.inputs["remote_dir"])
                files = [m.path for m in metas if m.name.endswith(self.inputs.get("pattern", "*")[1:])]
                if not files:
                    return StepResult(status=STEP_SKIPPED, output={"has_data": False, "count": 0, "files": []},
                                      reason="no files")
                return {"has_data": True, "count": len(files), "files": files,
                        "bytes": sum(m.size for m in metas)}

        @register_step("mail_send_dummy")
        class MailCustom(Step):
            required_inputs = {"resource", "to", "subject"}

            def run(self):
                self.ctx.connectors[self.inputs["resource"]].send(
                    self.inputs["to"], self.inputs["subject"], self.inputs.get("body", ""))
                return {"sent": True}
        """,
}


def test_a_project_laid_out_like_the_engine_remote_demos(project: Project) -> None:
    """Plugin connectors with RemoteFileMeta, custom steps, profiles with env templates,
    `when` over counts in both directions: compiles, plans and runs as the engine would."""
    plugins = _plugins(project.root, REMOTE_STYLE)
    remote = project.root / "remote" / "inbox"
    remote.mkdir(parents=True)
    (remote / "a.zip").write_text("abc")
    (remote / "notes.txt").write_text("x")
    profiles = project.root / "profiles.yaml"
    profiles.write_text(textwrap.dedent("""\
        sftp_main:
          config: {base_dir: "{{env.SFTP_BASE}}"}
          options: {timeout: "{{env.SFTP_TIMEOUT:30}}"}
        mail_main:
          config: {outbox: "{{env.OUTBOX}}"}
        """))
    project.write_flow(
        "main.yaml",
        project.header(
            "remote_style",
            extra=textwrap.dedent("""\
        resources:
          sftp_main: {kind: sftp, driver: sftp-folder, profile: sftp_main}
          mail_main: {kind: mail, driver: mail-dummy, profile: mail_main}
        jobs:
          - id: ingest
            steps:
              - id: list_remote
                type: sftp_list_files_custom
                inputs: {resource: sftp_main, remote_dir: inbox, pattern: "*.zip"}
                outputs: {has_data: "{{ result.has_data }}", count: "{{ result.count }}", files: "{{ result.files }}"}
                on_no_data: skip_job
          - id: announce
            depends_on: [ingest]
            when: jobs.ingest.outputs.has_data
            steps:
              - id: email
                type: mail_send_dummy
                inputs:
                  resource: mail_main
                  to: "{{env.MAIL_TO:ops@example.com}}"
                  subject: "files {{jobs.ingest.outputs.count}}"
                  body: "{{jobs.ingest.outputs.files}}"
          - id: nothing
            when: jobs.ingest.outputs.count <= 0
            steps:
              - {id: email, type: mail_send_dummy, inputs: {resource: mail_main, to: ops, subject: none}}
        """),
        ),
    )
    project.compile("--plugins", str(plugins), "--profiles", str(profiles))
    assert "job announce" in project.run("remote_style", "plan", check_exit=0).stdout
    outbox = project.root / "outbox.txt"
    env = {"SFTP_BASE": str(remote.parent), "OUTBOX": str(outbox)}
    project.run("remote_style", "run", "--run-id", "r1", env=env, check_exit=0)
    jobs = project.status("remote_style", "r1")["jobs"]
    assert {job: data["status"] for job, data in jobs.items()} == {
        "ingest": "SUCCESS",
        "announce": "SUCCESS",
        "nothing": "SKIPPED",
    }
    assert jobs["ingest"]["outputs"] == {"has_data": True, "count": 1, "files": ["inbox/a.zip"]}
    assert outbox.read_text() == "ops@example.com|files 1|['inbox/a.zip']\n"
