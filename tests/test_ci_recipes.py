"""The CI recipes of docs/ci.md: the GitHub Actions workflow, the composite action.yml and
the GitLab CI job. Linted (actionlint, shellcheck, the action's metadata), shown verbatim
on the page, and run: the scripts of their steps that call aetherflow are executed, in
order, in a project holding the example flows, with the installed CLI first on PATH.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from conftest import EXAMPLES, ROOT

BIN = Path(sys.executable).parent
RECIPES = ROOT / "examples" / "ci"
WORKFLOW = RECIPES / "github-workflow.yml"
ACTION_USAGE = RECIPES / "github-action.yml"
GITLAB = RECIPES / "gitlab-ci.yml"
ACTION = ROOT / "action.yml"
PAGE = ROOT / "docs" / "ci.md"
EXPR = re.compile(r"\$\{\{\s*(.*?)\s*\}\}")
# GitHub's shells: a step's default shell on Linux, and what `shell: bash` runs.
DEFAULT_BASH = ["bash", "-e"]
BASH = ["bash", "--noprofile", "--norc", "-eo", "pipefail"]
BROKEN = "version: 1\nflow: {id: broken}\njobs:\n  - id: a\n    depends_no: []\n    steps: []\n"


def load(path: Path) -> dict[str, Any]:
    data = yaml.safe_load(path.read_text())
    assert isinstance(data, dict), path
    return data


def workflow_steps() -> list[dict[str, Any]]:
    (job,) = load(WORKFLOW)["jobs"].values()
    steps: list[dict[str, Any]] = job["steps"]
    return steps


def action_steps() -> list[dict[str, Any]]:
    steps: list[dict[str, Any]] = load(ACTION)["runs"]["steps"]
    return steps


def gitlab_script() -> list[str]:
    (job,) = load(GITLAB).values()
    script: list[str] = job["script"]
    return script


def calls_the_compiler(script: str) -> bool:
    return re.search(r"^\s*aetherflow ", script, re.M) is not None


def env(tmp: Path, extra: dict[str, str] | None = None) -> dict[str, str]:
    out = dict(os.environ, PATH=f"{BIN}{os.pathsep}{os.environ['PATH']}")
    out["AETHERFLOW_CACHE_DIR"] = str(tmp / "cache")
    out.update(extra or {})
    return out


def project(tmp: Path, *compile_args: str, paths: tuple[str, ...] = ("flows/",)) -> Path:
    """A repository as the recipes expect it: flows/ and the committed dist/ compiled from it."""
    root = tmp / "project"
    shutil.copytree(EXAMPLES / "flows", root / "flows")
    run = subprocess.run(
        [str(BIN / "aetherflow"), "compile", *paths, "-o", "dist/", *compile_args],
        cwd=root,
        env=env(tmp),
        capture_output=True,
        text=True,
    )
    assert run.returncode == 0, run.stderr
    return root


def run_script(
    shell: list[str], script: str, cwd: Path, environ: dict[str, str]
) -> subprocess.CompletedProcess[str]:
    path = cwd.parent / "step.sh"
    path.write_text(script)
    return subprocess.run(
        [*shell, str(path)], cwd=cwd, env=environ, capture_output=True, text=True, timeout=300
    )


def assert_archive(publish: Path, name: str) -> None:
    archive = publish / name
    assert archive.is_file()
    sums = (publish / "SHA256SUMS").read_text()
    assert sums == f"{hashlib.sha256(archive.read_bytes()).hexdigest()}  {name}\n"


def shellcheck(script: str, shell: str, tmp: Path) -> str:
    path = tmp / "check.sh"
    path.write_text(script)
    run = subprocess.run(
        [str(BIN / "shellcheck"), "--shell", shell, str(path)], capture_output=True, text=True
    )
    return run.stdout


# -- lint ---------------------------------------------------------------------------------


@pytest.mark.parametrize("workflow", [WORKFLOW, ACTION_USAGE], ids=lambda p: p.name)
def test_actionlint_accepts_the_workflow(workflow: Path, tmp_path: Path) -> None:
    # With shellcheck on PATH, actionlint also runs it on every run: script.
    run = subprocess.run(
        [str(BIN / "actionlint"), "-no-color", str(workflow)],
        env=env(tmp_path),
        capture_output=True,
        text=True,
    )
    assert (run.returncode, run.stdout) == (0, "")


def test_actionlint_catches_mistakes_in_the_workflow_and_its_scripts(tmp_path: Path) -> None:
    broken = tmp_path / "workflow.yml"
    text = WORKFLOW.read_text().replace("runs-on:", "runs_on:")
    broken.write_text(
        text.replace("run: aetherflow validate flows/", "run: aetherflow validate $FLOWS")
    )
    run = subprocess.run(
        [str(BIN / "actionlint"), "-no-color", str(broken)],
        env=env(tmp_path),
        capture_output=True,
        text=True,
    )
    assert run.returncode == 1
    assert '"runs-on" section is missing' in run.stdout
    assert "shellcheck reported issue in this script: SC2086" in run.stdout


@pytest.mark.unit
def test_the_action_metadata_is_a_composite_action() -> None:
    action = load(ACTION)
    assert {"name", "description", "inputs", "outputs", "runs"} <= set(action)
    assert action["runs"]["using"] == "composite"
    inputs = action["inputs"]
    for name, spec in inputs.items():
        assert spec.get("description"), name
        assert isinstance(spec.get("default"), str), f"input {name}: a string default"
    step_ids = {step["id"] for step in action_steps() if "id" in step}
    referenced = set()
    for step in action_steps():
        assert ("run" in step) != ("uses" in step), step
        if "run" in step:
            assert step.get("shell") == "bash", f"{step['name']}: a run step needs a shell"
            # Inputs reach scripts through env: only, never spliced into the script text.
            assert "${{" not in step["run"], step["name"]
        else:
            assert re.fullmatch(r"[\w-]+/[\w-]+@v\d+", step["uses"]), step["uses"]
        text = yaml.safe_dump(step)
        referenced |= set(re.findall(r"inputs\.([\w-]+)", text))
        for used in re.findall(r"steps\.([\w-]+)\.outputs", text):
            assert used in step_ids
    assert referenced <= set(inputs), f"inputs used but not declared: {referenced - set(inputs)}"
    assert set(inputs) <= referenced, f"inputs declared but never used: {set(inputs) - referenced}"
    for name, spec in action["outputs"].items():
        (expr,) = EXPR.findall(spec["value"])
        step_id = re.fullmatch(r"steps\.([\w-]+)\.outputs\.[\w-]+", expr)
        assert step_id and step_id.group(1) in step_ids, name


def test_every_script_passes_shellcheck(tmp_path: Path) -> None:
    scripts = [(step["run"], "bash") for step in workflow_steps() + action_steps() if "run" in step]
    scripts.append(("\n".join(gitlab_script()) + "\n", "sh"))
    for script, shell in scripts:
        assert shellcheck(script, shell, tmp_path) == "", script


@pytest.mark.unit
def test_the_gitlab_job_keeps_what_the_archive_step_writes() -> None:
    (job,) = load(GITLAB).values()
    assert set(job) == {"image", "script", "artifacts"}
    assert job["image"].startswith("python:")
    assert job["artifacts"]["paths"] == ["publish/dist.tar.gz", "publish/SHA256SUMS"]
    # The code quality report is kept even when validate fails the job.
    assert job["artifacts"]["when"] == "always"
    assert job["artifacts"]["reports"] == {"codequality": "gl-code-quality-report.json"}


@pytest.mark.unit
def test_the_page_shows_the_recipe_files_and_every_input() -> None:
    page = PAGE.read_text()
    for recipe in (WORKFLOW, ACTION_USAGE, GITLAB):
        assert f"```yaml\n{recipe.read_text()}```" in page, recipe.name
    for name, spec in load(ACTION)["inputs"].items():
        default = f"`{spec['default']}`" if spec["default"] else "(none)"
        assert f"| `{name}` | {default} |" in page, name
    usage = load(ACTION_USAGE)["jobs"]["flows"]["steps"][-1]["with"]
    assert set(usage) <= set(load(ACTION)["inputs"])


# -- run ----------------------------------------------------------------------------------


def test_the_github_workflow_checks_and_archives_the_flows(tmp_path: Path) -> None:
    root = project(tmp_path)
    steps = [step for step in workflow_steps() if "run" in step and calls_the_compiler(step["run"])]
    assert [step["name"] for step in steps] == [
        "Validate",
        "Check that dist/ is up to date",
        "Build the reproducible archive",
    ]
    for step in steps:
        run = run_script(DEFAULT_BASH, step["run"], root, env(tmp_path))
        assert run.returncode == 0, (step["name"], run.stdout, run.stderr)
    assert_archive(root / "publish", "dist.tar.gz")
    (upload,) = [
        step
        for step in workflow_steps()
        if step.get("uses", "").startswith("actions/upload-artifact@")
    ]
    for path in upload["with"]["path"].split():
        assert (root / path).is_file(), path


def test_the_github_workflow_annotates_a_broken_flow_at_its_line(tmp_path: Path) -> None:
    root = project(tmp_path)
    (root / "flows" / "broken.yaml").write_text(BROKEN)
    validate = next(step for step in workflow_steps() if step.get("name") == "Validate")
    run = run_script(DEFAULT_BASH, validate["run"], root, env(tmp_path))
    assert run.returncode == 2
    assert run.stdout == (
        "::error file=flows/broken.yaml,line=5,col=5,title=AF201::unknown key 'depends_no' in "
        "job 'a'%0Ahint: did you mean 'depends_on'?\n"
    )
    assert run.stderr == "1 error in 1 file (of 6 checked)\n"


def test_the_github_workflow_fails_on_a_stale_dist(tmp_path: Path) -> None:
    root = project(tmp_path)
    flow = root / "flows" / "daily_orders.yaml"
    flow.write_text(flow.read_text().replace("Extract yesterday's", "Extract the"))
    check = next(step for step in workflow_steps() if "--check" in step.get("run", ""))
    run = run_script(DEFAULT_BASH, check["run"], root, env(tmp_path))
    assert run.returncode == 1
    assert "differs: dist/daily_orders.py" in run.stdout
    assert "dist/ is out of date" in run.stderr


def test_the_gitlab_job_checks_and_archives_the_flows(tmp_path: Path) -> None:
    root = project(tmp_path)
    script = "\n".join(line for line in gitlab_script() if calls_the_compiler(line)) + "\n"
    assert script.count("aetherflow ") == 4
    run = run_script(["sh", "-e"], script, root, env(tmp_path))
    assert run.returncode == 0, (run.stdout, run.stderr)
    assert_archive(root / "publish", "dist.tar.gz")
    assert json.loads((root / "gl-code-quality-report.json").read_text()) == []
    # A broken flow: the job fails at validate, and the report locates each finding.
    (root / "flows" / "broken.yaml").write_text(BROKEN)
    run = run_script(["sh", "-e"], script, root, env(tmp_path))
    assert run.returncode == 2 and "flows/broken.yaml:5:5: error AF201" in run.stdout
    (issue,) = json.loads((root / "gl-code-quality-report.json").read_text())
    assert issue["check_name"] == "AF201 unknown-key" and issue["severity"] == "major"
    assert issue["location"] == {"path": "flows/broken.yaml", "lines": {"begin": 5}}


def evaluate(expr: str, values: dict[str, str], outputs: dict[str, str]) -> str:
    """The expressions action.yml uses: inputs.X, steps.ID.outputs.Y, and `== 'v'` / `!= ''`."""
    comparison = re.fullmatch(r"(inputs\.[\w-]+) (==|!=) '(.*)'", expr)
    if comparison:
        left = evaluate(comparison.group(1), values, outputs)
        return str((left == comparison.group(3)) == (comparison.group(2) == "=="))
    if expr.startswith("inputs."):
        return values[expr[len("inputs.") :]]
    match = re.fullmatch(r"steps\.([\w-]+)\.outputs\.([\w-]+)", expr)
    assert match, f"an expression the test does not know: {expr}"
    return outputs[match.group(2)]


def substitute(text: str, values: dict[str, str], outputs: dict[str, str]) -> str:
    return EXPR.sub(lambda m: evaluate(m.group(1), values, outputs), text)


def run_action(root: Path, tmp: Path, given: dict[str, str]) -> tuple[list[str], dict[str, str]]:
    """Run the action's compiler steps with `given` inputs over the defaults; return the
    names of the steps that ran and the step outputs written to $GITHUB_OUTPUT."""
    values = {name: spec["default"] for name, spec in load(ACTION)["inputs"].items()}
    assert set(given) <= set(values)
    values.update(given)
    github_output = tmp / "github_output"
    github_output.touch()
    ran = []
    for step in action_steps():
        if "run" not in step or not calls_the_compiler(step["run"]):
            continue
        if "if" in step and evaluate(step["if"], values, {}) != "True":
            continue
        step_env = {
            key: substitute(str(value), values, {}) for key, value in step.get("env", {}).items()
        }
        run = run_script(
            BASH, step["run"], root, env(tmp, {**step_env, "GITHUB_OUTPUT": str(github_output)})
        )
        assert run.returncode == 0, (step["name"], run.stdout, run.stderr)
        ran.append(step["name"])
    outputs = dict(line.split("=", 1) for line in github_output.read_text().splitlines())
    return ran, outputs


def test_the_action_checks_and_archives_with_its_inputs(tmp_path: Path) -> None:
    paths = ("flows/daily_orders.yaml", "flows/nightly_report_locked.yaml")
    root = project(tmp_path, "--target", "all", paths=paths)
    ran, outputs = run_action(
        root,
        tmp_path,
        {
            "paths": " ".join(paths),
            "archive-dir": "out/publish",
            "archive-name": "flows-dist.tar.gz",
            "extra-args": "--target all",
            "validate-args": "--mode internal_fast",
        },
    )
    assert ran == [
        "Validate",
        "Check that the dist is up to date",
        "Build the reproducible archive",
    ]
    assert outputs == {
        "archive": "out/publish/flows-dist.tar.gz",
        "sha256sums": "out/publish/SHA256SUMS",
    }
    assert_archive(root / "out" / "publish", "flows-dist.tar.gz")
    values = {"artifact-name": "dist"}
    (upload,) = [
        step
        for step in action_steps()
        if step.get("uses", "").startswith("actions/upload-artifact@")
    ]
    assert evaluate(upload["if"], values, outputs) == "True"
    for path in substitute(upload["with"]["path"], values, outputs).split():
        assert (root / path).is_file(), path


def test_the_action_without_check_archives_an_uncommitted_dist(tmp_path: Path) -> None:
    root = tmp_path / "project"
    shutil.copytree(EXAMPLES / "flows", root / "flows")
    ran, outputs = run_action(root, tmp_path, {"check": "false"})
    assert ran == ["Validate", "Build the reproducible archive"]
    assert_archive(root / "publish", "dist.tar.gz")
    assert (root / "dist" / "manifest.json").is_file()
