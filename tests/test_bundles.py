"""Bundle manifests read when compiling, and the engine's command line as a drop-in.

Fetching from each source type against real peers is tests/test_bundle_fetch.py; here:
what `validate`, `compile`, `explain`, `run`, `doctor` and `bundle` do with a manifest.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from conftest import ROOT, run_cli

EXAMPLE = ROOT / "examples" / "engine-project"


@pytest.fixture
def engine_project(tmp_path: Path) -> Path:
    project = tmp_path / "engine-project"
    shutil.copytree(EXAMPLE, project)
    subprocess.run(
        [sys.executable, "tools/make_warehouse.py", "warehouse.sqlite"], cwd=project, check=True
    )
    return project


def _env(project: Path) -> dict[str, str]:
    return {
        "WAREHOUSE_DB": str(project / "warehouse.sqlite"),
        "AETHERFLOW_WORK_ROOT": str(project / "work"),
        "AETHERFLOW_STATE_ROOT": str(project / "state"),
        "ORDERS_NOTES": str(project / "notes.txt"),
    }


def _artifact(
    dist: Path, flow: str, *args: str, env: dict[str, str]
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-I", "-S", str(dist / f"{flow}.py"), *args],
        capture_output=True,
        text=True,
        env={"PATH": os.environ["PATH"], **env},
        timeout=120,
    )


def test_compile_a_bundle_manifest(engine_project: Path) -> None:
    manifest = engine_project / "manifest.yaml"
    dist = engine_project / "dist"
    result = run_cli(["compile", "--bundle-manifest", str(manifest), "-o", str(dist)])
    assert result.exit_code == 0, result.stdout + result.stderr
    data = json.loads((dist / "manifest.json").read_text())
    assert (
        data["bundle"]["id"] == "orders"
        and data["bundle"]["entry_flow"] == "flows/orders_daily.yaml"
    )
    assert data["sources"] == {
        "orders_daily.yaml": data["sources"]["orders_daily.yaml"],
        "profiles.yaml": data["sources"]["profiles.yaml"],
    }
    assert (dist / "aetherflow_plugins" / "steps" / "csv_summary.py").is_file()
    proc = _artifact(dist, "orders_daily", "run", "--run-id", "r1", env=_env(engine_project))
    assert proc.returncode == 0, proc.stderr
    assert (engine_project / "notes.txt").read_text().startswith("2 orders, 14.75 in total: ")
    # The fingerprint is made of contents: a copy with other modification times compiles the same.
    copy = engine_project.parent / "copy"
    shutil.copytree(engine_project, copy)
    for path in copy.rglob("*"):
        os.utime(path, (1_000_000, 1_000_000))
    assert (
        run_cli(
            ["compile", "--bundle-manifest", str(copy / "manifest.yaml"), "-o", str(copy / "dist2")]
        ).exit_code
        == 0
    )
    assert (copy / "dist2" / "manifest.json").read_bytes() == (dist / "manifest.json").read_bytes()


def test_validate_and_explain_with_a_bundle_manifest(engine_project: Path) -> None:
    manifest = str(engine_project / "manifest.yaml")
    valid = run_cli(["validate", "--bundle-manifest", manifest])
    assert valid.exit_code == 0 and valid.stderr == "2 files valid\n"
    explained = run_cli(["explain", "--bundle-manifest", manifest])
    assert (
        explained.exit_code == 0
        and "warehouse" in explained.stdout
        and "profile warehouse" in explained.stdout
    )
    engine_style = run_cli(
        ["validate", "--flow-yaml", "flows/orders_daily.yaml", "--bundle-manifest", manifest]
    )
    assert engine_style.exit_code == 0
    both = run_cli(["validate", "--bundle-manifest", manifest, "--profiles", "p.yaml"])
    assert (
        both.exit_code == 2
        and "a bundle manifest names the flows, profiles and plugins: drop --profiles"
        in both.stderr
    )


def test_a_broken_bundle_is_located_in_the_manifest(engine_project: Path) -> None:
    manifest = engine_project / "manifest.yaml"
    manifest.write_text(
        manifest.read_text().replace(
            "entry_flow: flows/orders_daily.yaml", "entry_flow: flows/orders.yaml"
        )
    )
    (engine_project / "bundle" / "profiles.yaml").unlink()
    result = run_cli(
        ["compile", "--bundle-manifest", str(manifest), "-o", str(engine_project / "dist")]
    )
    assert result.exit_code == 2
    assert (
        f"{manifest}:19:15: error AF319 bundle orders has no entry_flow 'flows/orders.yaml'"
        in result.stdout
    )
    assert "did you mean 'flows/orders_daily.yaml'?" in result.stdout
    assert (
        f"{manifest}:17:20: error AF319 bundle orders has no layout.profiles_file 'profiles.yaml'"
        in result.stdout
    )
    assert not (engine_project / "dist").exists()


@pytest.mark.unit
def test_local_demo_patterns_get_the_same_verdict_through_the_manifest(tmp_path: Path) -> None:
    """A bundle laid out like the engine's local demos (resources only in the profiles,
    zip inputs the built-in never reads): the same errors through --bundle-manifest as
    through --profiles and --plugins."""
    bundle = tmp_path / "uc"
    (bundle / "flows").mkdir(parents=True)
    (bundle / "plugins").mkdir()
    (bundle / "plugins" / "hello.py").write_text(textwrap.dedent("""\
        from aetherflow.core.api import Step, register_step

        @register_step("smb_upload_files")
        class Upload(Step):
            required_inputs = {"resource", "local_files"}

            def run(self):
                return {}
        """))
    (bundle / "profiles.yaml").write_text("smb_local:\n  config: {base_dir: /tmp/outbox}\n")
    (bundle / "flows" / "demo.yaml").write_text(textwrap.dedent("""\
        version: 1
        flow: {id: demo}
        jobs:
          - id: pipeline
            steps:
              - {id: pack, type: zip, inputs: {src: out, dst: out.zip}}
              - {id: push, type: smb_upload_files, inputs: {resource: smb_local, local_files: [out.zip]}}
        """))
    (bundle / "manifest.yaml").write_text(textwrap.dedent("""\
        version: 1
        bundle:
          id: uc
          source: {type: filesystem, base_path: .}
          layout: {flows_dir: flows, profiles_file: profiles.yaml, plugins_dir: plugins}
          entry_flow: flows/demo.yaml
        """))
    direct = run_cli(
        [
            "validate",
            "--profiles",
            str(bundle / "profiles.yaml"),
            "--plugins",
            str(bundle / "plugins"),
            str(bundle / "flows"),
        ]
    )
    through = run_cli(["validate", "--bundle-manifest", str(bundle / "manifest.yaml")])
    assert direct.exit_code == through.exit_code == 2

    def codes(text: str) -> list[str]:
        return sorted(re.findall(r": (?:error|warning|note) (AF\d{3}) ", text))

    assert (
        codes(direct.stdout)
        == codes(through.stdout)
        == ["AF308", "AF601", "AF601", "AF602", "AF602", "AF809"]
    )


def test_a_bundle_from_sqlite_with_a_wrong_checksum_is_refused(tmp_path: Path) -> None:
    db = tmp_path / "assets.sqlite"
    flow = b"version: 1\nflow: {id: remote}\njobs: []\n"
    with sqlite3.connect(db) as conn:
        conn.execute(
            "CREATE TABLE assets(bundle TEXT, path TEXT, sha256 TEXT, data BLOB, updated_at REAL, size INT)"
        )
        conn.execute(
            "INSERT INTO assets VALUES ('r', 'flows/remote.yaml', 'not-the-sha', ?, 1.0, ?)",
            (flow, len(flow)),
        )
        conn.execute(
            "INSERT INTO assets VALUES ('r', 'profiles.yaml', NULL, ?, 1.0, 3)", (b"{}\n",)
        )
    conn.close()
    manifest = tmp_path / "manifest.yaml"
    manifest.write_text(textwrap.dedent(f"""\
        version: 1
        bundle:
          id: r
          source: {{type: db, resource: assets}}
          layout: {{flows_dir: flows, profiles_file: profiles.yaml}}
          entry_flow: flows/remote.yaml
        resources:
          assets: {{kind: db, driver: sqlite3, config: {{path: {json.dumps(str(db))}}}}}
        """))
    refused = run_cli(["compile", "--bundle-manifest", str(manifest), "-o", str(tmp_path / "dist")])
    assert (
        refused.exit_code == 2 and f"{manifest}:4:11: error AF321 " in refused.stdout
    ), refused.stdout
    with sqlite3.connect(db) as conn:
        import hashlib

        conn.execute(
            "UPDATE assets SET sha256=? WHERE path='flows/remote.yaml'",
            (hashlib.sha256(flow).hexdigest(),),
        )
    conn.close()
    compiled = run_cli(
        ["compile", "--bundle-manifest", str(manifest), "-o", str(tmp_path / "dist")]
    )
    assert compiled.exit_code == 0, compiled.stdout
    assert json.loads((tmp_path / "dist" / "manifest.json").read_text())["bundle"]["source"] == "db"


def test_bundle_env_files_load_at_run_time_from_the_deployed_dist(engine_project: Path) -> None:
    manifest = engine_project / "manifest.yaml"
    manifest.write_text(
        manifest.read_text()
        + "env_files:\n  - env/orders.env\n  - {type: dotenv, path: env/more.env, "
        "optional: true}\n"
    )
    dist = engine_project / "dist"
    result = run_cli(
        ["compile", "--bundle-manifest", str(manifest), "-o", str(dist), "--target", "all"]
    )
    assert result.exit_code == 0, result.stdout
    # One note per flow; the env_files reason has no place in the flow file.
    assert result.stdout.count(": note AF806 no sh artifact for flow 'orders_daily'") == 1
    assert "\n  the bundle manifest's env_files are loaded by the Python artifact only\n" in (
        result.stdout
    )
    assert not (dist / "env").exists()  # env values are never copied into a dist
    env = _env(engine_project)
    missing = _artifact(dist, "orders_daily", "run", env=env)
    assert (
        missing.returncode == 2 and f"env file not found: {dist}/env/orders.env" in missing.stderr
    )
    (dist / "env").mkdir()
    (dist / "env" / "orders.env").write_text("ORDERS_DAY=2026-01-30\n")
    ran = _artifact(dist, "orders_daily", "run", env=env)
    assert ran.returncode == 0, ran.stderr
    assert (engine_project / "notes.txt").read_text().startswith("1 orders, 1.0 in total: ")


def test_scheduler_items_run_the_compiled_bundle(engine_project: Path) -> None:
    scheduler = engine_project / "scheduler.yaml"
    scheduler.write_text(
        scheduler.read_text() + "  - {id: other, cron: '0 1 * * *', bundle_manifest: other.yaml}\n"
    )
    dist = engine_project / "dist"
    result = run_cli(
        [
            "compile",
            "--bundle-manifest",
            str(engine_project / "manifest.yaml"),
            "-o",
            str(dist),
            "--schedule",
            str(scheduler),
        ]
    )
    assert result.exit_code == 0, result.stdout
    assert (
        f"{scheduler}:8:53: warning AF815 item 'other' runs bundle other.yaml, which is not the one being compiled"
        in result.stdout
    )
    crontab = (dist / "schedule" / "crontab").read_text()
    assert "orders_daily.py run" in crontab and "other" not in crontab


def _aetherflow(
    *args: str, env: dict[str, str], cwd: Path, importtime: bool = False
) -> subprocess.CompletedProcess[str]:
    """The console script as a user runs it (through aetherflow_compiler.cli.entry)."""
    code = "import sys; from aetherflow_compiler.cli.entry import main; sys.argv[0] = 'aetherflow'; sys.exit(main())"
    flags = ["-X", "importtime"] if importtime else []
    return subprocess.run(
        [sys.executable, *flags, "-c", code, *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env={"PATH": os.environ["PATH"], "HOME": str(cwd), **env},
        timeout=300,
    )


def test_run_compiles_once_and_runs_the_artifact(engine_project: Path) -> None:
    env = {**_env(engine_project), "AETHERFLOW_CACHE_DIR": str(engine_project / "cache")}
    argv = ["run", "--flow-yaml", "flows/orders_daily.yaml", "--bundle-manifest", "manifest.yaml"]
    first = _aetherflow(*argv, "--run-id", "a1", env=env, cwd=engine_project)
    assert first.returncode == 0, first.stderr
    second = _aetherflow(*argv, "--run-id", "a2", env=env, cwd=engine_project, importtime=True)
    assert second.returncode == 0, second.stderr
    imported = [line for line in second.stderr.splitlines() if line.startswith("import time:")]
    assert imported and not [
        line for line in imported if "aetherflow_compiler.driver" in line or " click" in line
    ]
    assert len((engine_project / "notes.txt").read_text().splitlines()) == 2
    # --flow-job runs one job; an earlier run id resumes it.
    job = _aetherflow(*argv, "--run-id", "a3", "--flow-job", "export", env=env, cwd=engine_project)
    assert job.returncode == 0 and "announce" not in job.stderr.split("run a3 of orders_daily")[1]
    # A changed flow compiles again.
    flow = engine_project / "bundle" / "flows" / "orders_daily.yaml"
    flow.write_text(
        flow.read_text().replace("{{env.ORDERS_DAY:2026-01-31}}", "{{env.ORDERS_DAY:2026-01-30}}")
    )
    _aetherflow(*argv, "--run-id", "a4", env=env, cwd=engine_project)
    assert (engine_project / "notes.txt").read_text().splitlines()[-1].startswith("1 orders")


def test_run_exit_codes(tmp_path: Path) -> None:
    (tmp_path / "ok.yaml").write_text(
        "version: 1\nflow: {id: ok, workspace: {root: w}, state: {path: s.sqlite}}\n"
        "jobs: [{id: a, steps: [{id: s, type: external.process, inputs: "
        "{command: ['true']}}]}]\n"
    )
    (tmp_path / "bad.yaml").write_text(
        "version: 1\nflow: {id: bad}\njobs: [{id: a, steps: [{id: s, type: nope}]}]\n"
    )
    (tmp_path / "fails.yaml").write_text(
        "version: 1\nflow: {id: fails, workspace: {root: w}, state: {path: f.sqlite}}"
        "\njobs: [{id: a, steps: [{id: s, type: external.process, inputs: "
        "{command: ['false']}}]}]\n"
    )
    env = {"AETHERFLOW_CACHE_DIR": str(tmp_path / "cache")}
    assert _aetherflow("run", "--flow-yaml", "ok.yaml", env=env, cwd=tmp_path).returncode == 0
    assert (
        _aetherflow("run", "ok.yaml", env=env, cwd=tmp_path).returncode == 0
    )  # the path as an argument too
    failed = _aetherflow("run", "--flow-yaml", "fails.yaml", env=env, cwd=tmp_path)
    assert failed.returncode == 1 and "job_failed" in failed.stderr
    invalid = _aetherflow("run", "--flow-yaml", "bad.yaml", env=env, cwd=tmp_path)
    assert (
        invalid.returncode == 2
        and "bad.yaml:3:38: error AF306 unknown step type 'nope'" in invalid.stdout
    )
    assert "Traceback" not in invalid.stderr + failed.stderr


def test_doctor_and_the_bundle_commands(engine_project: Path) -> None:
    env = {**_env(engine_project), "AETHERFLOW_CACHE_DIR": str(engine_project / "cache")}
    doctor = _aetherflow(
        "doctor",
        "--flow-yaml",
        "flows/orders_daily.yaml",
        "--bundle-manifest",
        "manifest.yaml",
        env=env,
        cwd=engine_project,
    )
    assert doctor.returncode == 0 and "WAREHOUSE_DB" in doctor.stdout
    for command in ("sync", "status"):
        said = _aetherflow(
            "bundle", command, "--bundle-manifest", "manifest.yaml", env=env, cwd=engine_project
        )
        assert said.returncode == 0 and "bundles are read at compile time now" in said.stderr
    as_json = _aetherflow(
        "bundle",
        "status",
        "--bundle-manifest",
        "manifest.yaml",
        "--json",
        env=env,
        cwd=engine_project,
    )
    assert json.loads(as_json.stdout)["synced"] is False
