"""The hooks of .pre-commit-hooks.yaml, as a user's repository runs them: `pre-commit
try-repo` on a clone of this repository's committed HEAD, in a git repository holding a
valid and a broken flow. pre-commit installs the hook environment once (pip, from the
package index) into a private PRE_COMMIT_HOME; every call after that reuses it.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from conftest import EXAMPLES, ROOT

pytestmark = pytest.mark.slow
BIN = Path(sys.executable).parent
BROKEN = """\
version: 1
flow:
  id: broken
jobs:
  - id: extract
    steps: []
  - id: load
    steps: []
    depends_no: [extract]
"""


class Project:
    """A user's repository and a try-repo of this one at its committed HEAD."""

    def __init__(self, tmp: Path) -> None:
        self.hooks = tmp / "hooks"
        subprocess.run(
            ["git", "clone", "--quiet", "--no-hardlinks", str(ROOT), str(self.hooks)], check=True
        )
        self.ref = self.git(self.hooks, "rev-parse", "HEAD").strip()
        self.root = tmp / "project"
        (self.root / "flows").mkdir(parents=True)
        shutil.copy(EXAMPLES / "flows" / "daily_orders.yaml", self.root / "flows" / "orders.yaml")
        (self.root / "notes").mkdir()
        (self.root / "notes" / "not-a-flow.yaml").write_text("just: some yaml\n")
        self.env = dict(
            os.environ,
            PATH=f"{BIN}{os.pathsep}{os.environ['PATH']}",
            PRE_COMMIT_HOME=str(tmp / "pre-commit-home"),
            AETHERFLOW_CACHE_DIR=str(tmp / "compile-cache"),
            GIT_AUTHOR_NAME="t",
            GIT_AUTHOR_EMAIL="t@example.invalid",
            GIT_COMMITTER_NAME="t",
            GIT_COMMITTER_EMAIL="t@example.invalid",
        )
        self.env.pop("PRE_COMMIT", None)
        self.git(self.root, "init", "--quiet")
        self.commit()

    def git(self, cwd: Path, *args: str) -> str:
        return subprocess.run(
            ["git", *args],
            cwd=cwd,
            check=True,
            capture_output=True,
            text=True,
            env=getattr(self, "env", None),
        ).stdout

    def commit(self) -> None:
        self.git(self.root, "add", "-A")
        self.git(self.root, "commit", "--quiet", "--allow-empty", "-m", "flows")

    def try_repo(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [
                str(BIN / "pre-commit"),
                "try-repo",
                str(self.hooks),
                *args,
                "--ref",
                self.ref,
                "--color",
                "never",
                "--verbose",
            ],
            cwd=self.root,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=900,
        )

    def compile(self) -> None:
        run = subprocess.run(
            [str(BIN / "aetherflow"), "compile", "flows/", "-o", "dist/"],
            cwd=self.root,
            env=self.env,
            capture_output=True,
            text=True,
        )
        assert run.returncode == 0, run.stderr


def hook_result(output: str, name: str) -> str:
    """Passed, Failed or (no files to check)Skipped, as pre-commit prints a hook's line."""
    match = re.search(rf"^{re.escape(name)}\.+(\S.*)$", output, re.M)
    assert match, output
    return match.group(1)


def test_the_hook_ids_are_the_documented_ones() -> None:
    hooks = yaml.safe_load((ROOT / ".pre-commit-hooks.yaml").read_text())
    assert [hook["id"] for hook in hooks] == ["aetherflow-validate", "aetherflow-compile-check"]
    page = (ROOT / "docs" / "ci.md").read_text()
    for hook in hooks:
        assert f"- id: {hook['id']}" in page


def test_the_hooks_validate_flows_and_check_the_dist(tmp_path: Path) -> None:
    project = Project(tmp_path)
    files = ["--files", "flows/orders.yaml", "notes/not-a-flow.yaml"]

    # Nothing compiled yet: the valid flow passes, the dist check fails.
    first = project.try_repo(*files)
    assert first.returncode == 1, first.stdout + first.stderr
    assert hook_result(first.stdout, "aetherflow validate") == "Passed"
    assert hook_result(first.stdout, "aetherflow compile --check") == "Failed"
    assert "dist/ is out of date" in first.stdout
    assert "missing: dist/daily_orders.py" in first.stdout

    # Compiled: both pass; the YAML that is not a flow was skipped (named only with -v).
    project.compile()
    second = project.try_repo(*files)
    assert second.returncode == 0, second.stdout + second.stderr
    assert hook_result(second.stdout, "aetherflow validate") == "Passed"
    assert hook_result(second.stdout, "aetherflow compile --check") == "Passed"
    assert "dist/ is up to date" in second.stdout
    assert "not-a-flow" not in second.stdout
    assert "1 file skipped: not AetherFlow files" in second.stdout

    # A flow changed after compiling: the dist is stale again.
    flow = project.root / "flows" / "orders.yaml"
    flow.write_text(flow.read_text().replace("Extract yesterday's", "Extract the"))
    stale = project.try_repo("aetherflow-compile-check", "--files", "flows/orders.yaml")
    assert stale.returncode == 1
    assert "differs: dist/daily_orders.py" in stale.stdout

    # A broken flow: the validate hook fails with the located message and validate's exit code.
    (project.root / "flows" / "broken.yaml").write_text(BROKEN)
    project.commit()
    broken = project.try_repo(
        "aetherflow-validate", "--files", "flows/orders.yaml", "flows/broken.yaml"
    )
    assert broken.returncode == 1
    assert hook_result(broken.stdout, "aetherflow validate") == "Failed"
    assert "- exit code: 2" in broken.stdout
    message = "flows/broken.yaml:9:5: error AF201 unknown key 'depends_no' in job 'load'\n  hint: did you mean 'depends_on'?"
    assert message in broken.stdout
    # docs/ci.md shows this very message.
    assert message in (ROOT / "docs" / "ci.md").read_text()


GITHUB_WORKFLOW = """\
name: ci
on: [push]
jobs:
  test:
    runs-on: ubuntu-latest
    steps:
      - run: make test
"""


def test_the_validate_hook_finds_flows_on_any_layout(tmp_path: Path) -> None:
    """A flow at the root, one in a folder of any name, a GitHub workflow and a broken flow,
    all given to the hook: the flows are checked where they are, the workflow is skipped, and
    the broken flow fails the hook with its located error."""
    project = Project(tmp_path)
    shutil.copy(EXAMPLES / "flows" / "sales_export.yaml", project.root / "my_flow.yaml")
    (project.root / "pipelines" / "nightly").mkdir(parents=True)
    shutil.copy(
        EXAMPLES / "flows" / "warehouse_refresh.yaml",
        project.root / "pipelines" / "nightly" / "refresh.yml",
    )
    (project.root / ".github" / "workflows").mkdir(parents=True)
    (project.root / ".github" / "workflows" / "ci.yml").write_text(GITHUB_WORKFLOW)
    (project.root / "pipelines" / "broken.yaml").write_text(BROKEN)
    project.commit()
    files = ["my_flow.yaml", "pipelines/nightly/refresh.yml", ".github/workflows/ci.yml"]

    good = project.try_repo("aetherflow-validate", "--files", *files)
    assert good.returncode == 0, good.stdout + good.stderr
    assert hook_result(good.stdout, "aetherflow validate") == "Passed"
    assert "(no files to check)" not in good.stdout
    assert counts(good.stdout) == (2, 1)  # the workflow is skipped, not counted as a flow
    assert "ci.yml" not in good.stdout  # no diagnostic about the workflow

    every = project.try_repo("aetherflow-validate", "--all-files")
    assert every.returncode == 1
    assert hook_result(every.stdout, "aetherflow validate") == "Failed"
    assert "- exit code: 2" in every.stdout
    assert (
        "pipelines/broken.yaml:9:5: error AF201 unknown key 'depends_no' in job 'load'"
        in every.stdout
    )
    located = re.findall(r"^(\S+?):\d+:\d+: (?:error|warning|note) AF\d{3}", every.stdout, re.M)
    assert set(located) == {"pipelines/broken.yaml"}, every.stdout  # the others have none
    # checked: flows/orders.yaml, my_flow.yaml, refresh.yml, broken.yaml; skipped: the
    # workflow and notes/not-a-flow.yaml
    assert counts(every.stdout) == (4, 2)


def counts(output: str) -> tuple[int, int]:
    """(files checked, files skipped) over the summary lines of the hook's runs (pre-commit
    splits the files among parallel runs)."""
    checked = sum(int(n) for n in re.findall(r"\(of (\d+) checked\)", output))
    checked += sum(int(n) for n in re.findall(r"^(\d+) files? valid", output, re.M))
    skipped = sum(int(n) for n in re.findall(r"(\d+) files? skipped: not AetherFlow files", output))
    return checked, skipped
