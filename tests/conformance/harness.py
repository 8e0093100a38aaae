"""Differential conformance: run each corpus flow with the reference engine and as a
compiled artifact, and compare what each did.

A case is a YAML file in cases/: its `jobs` (and optional `resources`, `settings`) make
the flow; `env`, `setup` and `runs` describe how it is run; `plugins` (file name ->
source) and `profiles` are given to both sides (--plugins/--profiles when compiling,
AETHERFLOW_PLUGIN_PATHS/AETHERFLOW_PROFILES_FILE for the engine); `modules` (file name ->
source) are importable modules, such as a metrics sink: on PYTHONPATH for the engine, next
to the flow script for the artifact (which runs with -I, where PYTHONPATH is ignored). Both sides run in separate
directories with the same layout (`cwd/`, `work/`, `state`), the same run id and the
same env, so that statuses, promoted outputs and written files can be compared as they
are. `$ROOT` in env values and setup paths stands for the side's directory.
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from bench.oracle import oracle_python

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
RUN_ID = "conf0001"
SETUP_MTIME = 1_700_000_000


@dataclass
class Case:
    name: str
    path: Path
    about: str
    flow_text: str
    env: dict[str, str] = field(default_factory=dict)
    setup: dict[str, str] = field(default_factory=dict)
    runs: list[dict[str, Any]] = field(default_factory=lambda: [{}])
    beyond: dict[str, Any] | None = None
    plugins: dict[str, str] = field(default_factory=dict)
    profiles: dict[str, Any] | None = None
    modules: dict[str, str] = field(default_factory=dict)
    # A code the compiler refuses the flow with, for every target, where the engine refuses
    # it too before running anything (its validation or its schema): no run to compare.
    refused: str | None = None

    @classmethod
    def load(cls, path: Path) -> Case:
        data = yaml.safe_load(path.read_text())
        name = path.stem
        settings = dict(data.get("settings") or {})
        flow: dict[str, Any] = {
            "version": 1,
            "flow": {
                "id": name,
                "workspace": {
                    "root": "{{env.CONF_WORK}}",
                    "cleanup_policy": settings.get("cleanup_policy", "never"),
                },
                "state": {
                    "backend": settings.get("backend", "sqlite"),
                    "path": "{{env.CONF_STATE}}",
                },
                "locks": {
                    "scope": settings.get("locks", "job"),
                    "ttl_seconds": settings.get("ttl_seconds", 600),
                },
            },
        }
        if "layout" in settings:
            flow["flow"]["workspace"]["layout"] = settings["layout"]
        if "resources" in data:
            flow["resources"] = data["resources"]
        flow["jobs"] = data["jobs"]
        text = yaml.safe_dump(flow, sort_keys=False, allow_unicode=True, width=1000)
        return cls(
            name,
            path,
            data.get("about", ""),
            text,
            {k: str(v) for k, v in (data.get("env") or {}).items()},
            data.get("setup") or {},
            data.get("runs") or [{}],
            data.get("beyond"),
            data.get("plugins") or {},
            data.get("profiles"),
            data.get("modules") or {},
            data.get("refused"),
        )

    def install_modules(self, dist: Path) -> None:
        """The case's modules next to the compiled flow script: the artifact's sys.path[0]."""
        for name, source in self.modules.items():
            (dist / name).write_text(source)

    def write_inputs(self, root: Path) -> tuple[list[str], dict[str, str]]:
        """Write the plugins and profiles under `root`; (compile arguments, engine env)."""
        args: list[str] = []
        env: dict[str, str] = {}
        if self.plugins:
            plugins = root / "plugins"
            plugins.mkdir()
            for name, source in self.plugins.items():
                (plugins / name).write_text(source)
            args += ["--plugins", str(plugins)]
            env["AETHERFLOW_PLUGIN_PATHS"] = str(plugins)
        if self.modules:
            pylib = root / "pylib"
            pylib.mkdir()
            for name, source in self.modules.items():
                (pylib / name).write_text(source)
            env["PYTHONPATH"] = str(pylib)
        if self.profiles is not None:
            profiles = root / "profiles.yaml"
            profiles.write_text(yaml.safe_dump(self.profiles, sort_keys=False))
            args += ["--profiles", str(profiles)]
            env["AETHERFLOW_PROFILES_FILE"] = str(profiles)
        return args, env


@dataclass
class Outcome:
    """What one side did in one run, normalized for comparison."""

    exit: str  # "success" | "failure"
    jobs: dict[str, dict[str, Any]]  # job -> {"status", "steps": {step: status}}
    outputs: dict[str, Any]  # job -> promoted outputs (jobs that finished in this run)
    files: dict[str, str]  # relative path -> "dir" or sha256 of the content
    detail: str = ""
    code: int | None = None  # the exit status itself (the engine's driver reports 0 or 1)

    def comparable(self, exit_code: bool = False) -> dict[str, Any]:
        """What both sides must agree on; with exit_code, the exit status itself rather than
        its class (two artifacts share one contract of exit statuses, the engine does not)."""
        view = {"exit": self.exit, "jobs": self.jobs, "outputs": self.outputs, "files": self.files}
        if exit_code:
            view["code"] = self.code
        return view


class Side:
    """One side of a comparison: its own root with cwd/, work/ and the state store."""

    def __init__(self, root: Path, case: Case) -> None:
        self.root = root
        self.case = case
        (root / "cwd").mkdir(parents=True, exist_ok=True)
        (root / "work").mkdir(parents=True, exist_ok=True)

    @property
    def state(self) -> Path:
        return self.root / "state"

    def expand(self, text: str) -> str:
        return text.replace("$ROOT", str(self.root))

    def prepare(self, setup: dict[str, str]) -> None:
        for rel, content in setup.items():
            target = Path(self.expand(rel)) if rel.startswith("$ROOT") else self.root / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(content)
            # The same mtime on both sides: zip archives store it.
            os.utime(target, (SETUP_MTIME, SETUP_MTIME))

    def env(self, extra: dict[str, str]) -> dict[str, str]:
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": str(self.root),
            "LANG": "C.UTF-8",
            "CONF_WORK": str(self.root / "work"),
            "CONF_STATE": str(self.state),
        }
        for key, value in {**self.case.env, **extra}.items():
            env[key] = self.expand(value)
        return env

    def files(self) -> dict[str, str]:
        out: dict[str, str] = {}
        for top in ("work", "cwd"):
            base = self.root / top
            for path in sorted(base.rglob("*")):
                rel = f"{top}/{path.relative_to(base)}"
                out[rel] = "dir" if path.is_dir() else hashlib.sha256(path.read_bytes()).hexdigest()
        return out


def known_failing(compare: str) -> dict[str, str]:
    """Corpus cases that fail today in one comparison ("engine": the Python artifact against
    the engine, "sh": the sh artifact against the Python one), from known_failing.yaml:
    case name -> what differs. The suites run them as strict xfails."""
    listed = yaml.safe_load((HERE / "known_failing.yaml").read_text()) or {}
    return {name: entry["what"] for name, entry in listed.items() if compare in entry["compare"]}


def run_engine(
    side: Side, flow_file: Path, run: dict[str, Any], extra_env: dict[str, str] | None = None
) -> Outcome:
    out = side.root / "engine-report.json"
    args = [oracle_python(), str(HERE / "oracle_driver.py"), str(flow_file), RUN_ID, str(out)]
    if run.get("job"):
        args.append(run["job"])
    subprocess.run(
        args,
        cwd=side.root / "cwd",
        env=side.env({**(extra_env or {}), **(run.get("env") or {})}),
        capture_output=True,
        text=True,
        timeout=300,
    )
    return engine_outcome(side, out)


def engine_outcome(side: Side, report_file: Path) -> Outcome:
    """What the engine did, from the driver's report and the engine's state database."""
    report = json.loads(report_file.read_text())
    jobs: dict[str, dict[str, Any]] = {}
    if side.state.exists():
        with sqlite3.connect(side.state) as conn:
            for job_id, status in conn.execute(
                "SELECT job_id, status FROM job_runs WHERE run_id=?", (RUN_ID,)
            ):
                jobs[job_id] = {"status": status, "steps": {}}
            for job_id, step_id, status in conn.execute(
                "SELECT job_id, step_id, status FROM step_runs WHERE run_id=?", (RUN_ID,)
            ):
                jobs.setdefault(job_id, {"status": None, "steps": {}})["steps"][step_id] = status
    outputs = {
        job: _plain(value)
        for job, value in report["outputs"].items()
        if jobs.get(job, {}).get("status") not in ("FAILED", None)
    }
    return Outcome(
        "success" if report["exit"] == 0 else "failure",
        jobs,
        outputs,
        side.files(),
        report.get("error") or "",
        report["exit"],
    )


def run_artifact(
    side: Side,
    script: Path,
    run: dict[str, Any],
    engine_outputs: set[str] | None,
    host_packages: bool = False,
    shell: str | None = None,
) -> Outcome:
    """Run the compiled flow with `python -I -S` (with host_packages: without -S, so the
    test environment's driver packages are importable, as on a host that has them), or a
    shell artifact with `shell` (for example "dash")."""
    flags = ["-I"] if host_packages else ["-I", "-S"]
    interpreter = shell.split() if shell else [sys.executable, *flags]
    args = [*interpreter, str(script), "run", "--run-id", RUN_ID]
    if run.get("job"):
        args += ["--job", run["job"]]
    proc = subprocess.run(
        args,
        cwd=side.root / "cwd",
        env=side.env(run.get("env") or {}),
        capture_output=True,
        text=True,
        timeout=300,
    )
    status = subprocess.run(
        [*interpreter, str(script), "status", "--run-id", RUN_ID, "--json"],
        cwd=side.root / "cwd",
        env=side.env(run.get("env") or {}),
        capture_output=True,
        text=True,
        timeout=60,
    )
    report = json.loads(status.stdout) if status.returncode == 0 else {"jobs": {}}
    jobs = {
        job: {
            "status": data["status"],
            # a failed step is recorded FAILED here; the engine records no row for it
            "steps": {s: st for s, st in data["steps"].items() if st != "FAILED"},
        }
        for job, data in report["jobs"].items()
    }
    outputs = {
        job: _plain(data["outputs"])
        for job, data in report["jobs"].items()
        if data["status"] != "FAILED" and (engine_outputs is None or job in engine_outputs)
    }
    return Outcome(
        "success" if proc.returncode == 0 else "failure",
        jobs,
        outputs,
        side.files(),
        proc.stderr[-2000:],
        proc.returncode,
    )


def _plain(value: Any) -> Any:
    return json.loads(json.dumps(value, default=str))
