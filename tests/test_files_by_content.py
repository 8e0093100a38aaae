"""Files found by what they are (docs/validate.md): a folder laid out like a real
repository, with flows in two places, a bundle project with plugins, CI workflows,
Kubernetes manifests, a docker-compose file, dbt files and broken flows. `validate` and
`compile` check the AetherFlow files, skip the others (counted, listed with -v and in
--json), and a bundle manifest found brings its own profiles, plugins and flows."""

from __future__ import annotations

import json
import re
import shutil
import textwrap
from pathlib import Path

import pytest

from aetherflow_compiler.project.sources import OTHER, classify, classify_text
from conftest import EXAMPLES, run_cli

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
# A flow with a YAML syntax error: classified by its top-level keys as written.
BAD_YAML = "version: 1\nflow:\n  id: bad_yaml\njobs:\n  - id: a\n    steps: [\n"
KUBERNETES = """\
apiVersion: batch/v1
kind: CronJob
metadata:
  name: nightly
spec:
  schedule: "0 2 * * *"
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: settings
data:
  timezone: Europe/Berlin
"""
KUBERNETES_LIST = """\
apiVersion: v1
kind: List
items:
  - apiVersion: v1
    kind: Namespace
    metadata: {name: flows}
"""
COMPOSE = """\
version: "3.8"
services:
  postgres:
    image: postgres:16
    environment:
      POSTGRES_PASSWORD: example
"""
CIRCLECI = "version: 2.1\njobs:\n  build:\n    docker: [{image: cimg/python:3.12}]\n"
AZURE_PIPELINES = """\
trigger: [main]
pool: {vmImage: ubuntu-latest}
resources:
  repositories: [{repository: tools, type: git, name: tools}]
jobs:
  - job: build
    steps:
      - script: make test
"""
DBT_PROJECT = (
    "name: shop\nversion: '1.0'\nprofile: shop\nmodels:\n  shop:\n    +materialized: view\n"
)
DBT_SCHEMA = "version: 2\nmodels:\n  - name: orders\n    columns:\n      - name: id\n"
DBT_PROFILES = "shop:\n  target: dev\n  outputs:\n    dev: {type: postgres, host: localhost}\n"

FLOWS = ["flows/orders.yaml", "pipelines/nightly/refresh.yml"]
BUNDLE = "analytics/engine-project"
SKIPPED = [
    "azure-pipelines.yml",
    "ci/circleci.yml",
    "ci/github-workflow.yml",
    "ci/gitlab-ci.yml",
    "dbt/dbt_project.yml",
    "dbt/models/schema.yml",
    "dbt/profiles.yml",
    "deploy/k8s/cronjob.yaml",
    "deploy/k8s/list.yaml",
    "docker-compose.yml",
    "mkdocs.yml",
]


def make_repository(root: Path, broken: bool = True, bundle: bool = True) -> Path:
    """A repository as people have them: flows beside everything else."""
    files = {
        "flows/orders.yaml": (EXAMPLES / "flows" / "daily_orders.yaml").read_text(),
        "pipelines/nightly/refresh.yml": (
            EXAMPLES / "flows" / "warehouse_refresh.yaml"
        ).read_text(),
        "ci/github-workflow.yml": (EXAMPLES / "ci" / "github-workflow.yml").read_text(),
        "ci/gitlab-ci.yml": (EXAMPLES / "ci" / "gitlab-ci.yml").read_text(),
        ".github/workflows/ci.yml": (EXAMPLES / "ci" / "github-action.yml").read_text(),
        "deploy/k8s/cronjob.yaml": KUBERNETES,
        "deploy/k8s/list.yaml": KUBERNETES_LIST,
        "docker-compose.yml": COMPOSE,
        "dbt/dbt_project.yml": DBT_PROJECT,
        "dbt/models/schema.yml": DBT_SCHEMA,
        "dbt/profiles.yml": DBT_PROFILES,
        "mkdocs.yml": "site_name: Shop\nnav:\n  - Home: index.md\n",
        "azure-pipelines.yml": AZURE_PIPELINES,
        "ci/circleci.yml": CIRCLECI,
    }
    if broken:
        files["flows/broken.yaml"] = BROKEN
        files["pipelines/bad_yaml.yaml"] = BAD_YAML
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    if bundle:
        shutil.copytree(EXAMPLES / "engine-project", root / BUNDLE)
    return root


def diagnostics_by_file(stdout: str) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for line in stdout.splitlines():
        match = re.match(r"^(\S+?):\d+:\d+: (?:\w+ )?(AF\d{3})", line)
        if match:
            out.setdefault(match.group(1), []).append(match.group(2))
    return out


@pytest.mark.e2e  # the bundle's plugins are imported in a child process
def test_validate_a_repository_checks_its_flows_and_skips_the_rest(tmp_path: Path) -> None:
    repo = make_repository(tmp_path / "repo")
    result = run_cli(["validate", ".", "-v"], cwd=repo)
    assert result.exit_code == 2, result.stdout + result.stderr
    found = diagnostics_by_file(result.stdout)
    # The broken flows get every error, located; nothing else has a diagnostic: not the CI
    # files, Kubernetes, compose or dbt, and not the bundle's flow, checked with its plugins
    # (csv_summary) and profiles (warehouse).
    assert sorted(found) == ["flows/broken.yaml", "pipelines/bad_yaml.yaml"], result.stdout
    assert found["flows/broken.yaml"] == ["AF201"]
    assert found["pipelines/bad_yaml.yaml"] == ["AF103"]
    assert (
        "flows/broken.yaml:9:5: error AF201 unknown key 'depends_no' in job 'load'" in result.stdout
    )
    skipped = re.findall(r"^(\S+): skipped: not an AetherFlow file$", result.stderr, re.M)
    assert skipped == SKIPPED  # hidden folders (.github) are not searched
    # checked: 2 flows + 2 broken + the manifest, the bundle's profiles and flow, its scheduler
    assert "(of 8 checked)" in result.stderr
    assert result.stderr.rstrip().endswith("; 11 files skipped: not AetherFlow files")

    # Without -v: the count only.
    quiet = run_cli(["validate", "."], cwd=repo)
    assert "skipped: not an AetherFlow file" not in quiet.stderr
    assert "11 files skipped: not AetherFlow files" in quiet.stderr

    # --json: each file's verdict.
    as_json = run_cli(["validate", ".", "--json"], cwd=repo)
    assert as_json.exit_code == 2
    report = json.loads(as_json.stdout)
    verdicts = {f["path"]: (f["kind"], f["ok"]) for f in report["files"]}
    bundle_root = f"{BUNDLE}/bundle"
    assert verdicts == {
        "flows/orders.yaml": ("flow", True),
        "flows/broken.yaml": ("flow", False),
        "pipelines/bad_yaml.yaml": ("flow", False),
        "pipelines/nightly/refresh.yml": ("flow", True),
        f"{BUNDLE}/manifest.yaml": ("manifest", True),
        f"{bundle_root}/profiles.yaml": ("profiles", True),
        f"{bundle_root}/flows/orders_daily.yaml": ("flow", True),
        f"{BUNDLE}/scheduler.yaml": ("scheduler", True),
    }
    assert [s["path"] for s in report["skipped"]] == SKIPPED
    assert {s["reason"] for s in report["skipped"]} == {"not an AetherFlow file"}
    # The bundle's flow is checked once, after its manifest.
    paths = [f["path"] for f in report["files"]]
    assert paths.count(f"{bundle_root}/flows/orders_daily.yaml") == 1
    assert paths.index(f"{BUNDLE}/manifest.yaml") < paths.index(f"{bundle_root}/profiles.yaml")

    # Fixed, the repository is valid.
    (repo / "flows" / "broken.yaml").write_text(BROKEN.replace("depends_no", "depends_on"))
    (repo / "pipelines" / "bad_yaml.yaml").unlink()
    fixed = run_cli(["validate", "."], cwd=repo)
    assert fixed.exit_code == 0, fixed.stdout
    assert fixed.stdout == ""


def test_a_file_named_is_checked_as_what_it_claims_to_be(tmp_path: Path) -> None:
    repo = make_repository(tmp_path / "repo", bundle=False)
    result = run_cli(["validate", "ci/github-workflow.yml"], cwd=repo)
    assert result.exit_code == 2
    assert "AF202" in result.stdout
    assert "skipped" not in result.stderr
    # ... unless --skip-other-files (pre-commit's hook) says to find it by its content too.
    hook = run_cli(
        ["validate", "--skip-other-files", "ci/github-workflow.yml", *FLOWS, "-v"], cwd=repo
    )
    assert hook.exit_code == 0, hook.stdout
    assert hook.stdout == ""
    assert "ci/github-workflow.yml: skipped: not an AetherFlow file" in hook.stderr
    assert "2 files valid; 1 file skipped: not AetherFlow files" in hook.stderr


def test_compile_a_repository_compiles_its_flows_and_skips_the_rest(tmp_path: Path) -> None:
    repo = make_repository(tmp_path / "repo", broken=False, bundle=False)
    result = run_cli(["compile", ".", "-o", "dist"], cwd=repo)
    assert result.exit_code == 0, result.stdout + result.stderr
    assert result.stdout == ""
    assert re.search(
        r"^compiled 2 flows into dist \(\d+ files\); 11 files skipped: not AetherFlow files$",
        result.stderr,
        re.M,
    ), result.stderr
    manifest = json.loads((repo / "dist" / "manifest.json").read_text())
    assert sorted(manifest["flows"]) == ["daily_orders", "warehouse_refresh"]
    as_json = json.loads(run_cli(["compile", ".", "-o", "dist", "--json"], cwd=repo).stdout)
    assert [s["path"] for s in as_json["skipped"]] == SKIPPED
    assert sorted(as_json["flows"]) == ["daily_orders", "warehouse_refresh"]

    (repo / "flows" / "broken.yaml").write_text(BROKEN)
    broken = run_cli(["compile", ".", "-o", "dist"], cwd=repo)
    assert broken.exit_code == 2
    assert sorted(diagnostics_by_file(broken.stdout)) == ["flows/broken.yaml"]


def test_compile_leaves_a_bundles_flows_to_its_manifest(tmp_path: Path) -> None:
    """A bundle project found in the tree: its flows need its plugins and profiles, so
    `compile DIR` leaves them out (saying how they compile) instead of failing on them."""
    repo = make_repository(tmp_path / "repo", broken=False, bundle=True)
    result = run_cli(["compile", ".", "-o", "dist"], cwd=repo)
    assert result.exit_code == 0, result.stdout + result.stderr
    manifest = f"{BUNDLE}/manifest.yaml"
    assert (
        f"{manifest}: a bundle manifest: its 1 flow compiles with its bundle's plugins and"
        f" profiles (aetherflow compile --bundle-manifest {manifest}); left out here"
    ) in result.stderr
    flows = json.loads((repo / "dist" / "manifest.json").read_text())["flows"]
    assert sorted(flows) == ["daily_orders", "warehouse_refresh"]
    bundled = run_cli(["compile", "--bundle-manifest", manifest, "-o", "bundle-dist"], cwd=repo)
    assert bundled.exit_code == 0, bundled.stdout + bundled.stderr


def test_the_project_config_pins_the_kinds_with_include_and_exclude(tmp_path: Path) -> None:
    repo = make_repository(tmp_path / "repo", bundle=False)
    # A flow draft that does not look like a flow yet: found by its content, it is skipped.
    (repo / "drafts").mkdir()
    (repo / "drafts" / "next.yaml").write_text("description: the next flow\n")
    (repo / "aetherflow.toml").write_text(textwrap.dedent("""\
            include = ["drafts/*.yaml"]
            exclude = ["pipelines/bad_*.yaml", "broken.yaml", "dbt"]
            """))
    result = run_cli(["validate", ".", "-v", "--json"], cwd=repo)
    report = json.loads(result.stdout)
    checked = sorted(f["path"] for f in report["files"])
    # include: checked as an AetherFlow file whatever its content; exclude: never read (a
    # pattern without / matches any name on the path: broken.yaml, the dbt folder).
    assert checked == ["drafts/next.yaml", *FLOWS]
    assert [d["file"] for d in report["errors"]] and {d["file"] for d in report["errors"]} == {
        "drafts/next.yaml"
    }
    assert [s["path"] for s in report["skipped"]] == [p for p in SKIPPED if not p.startswith("dbt")]
    # A folder named on the command line is searched even though exclude matches it.
    named = run_cli(["validate", "dbt", "--json"], cwd=repo)
    assert [s["path"] for s in json.loads(named.stdout)["skipped"]] == [
        p for p in SKIPPED if p.startswith("dbt/")
    ]
    # The command line's --exclude replaces the config's, as every option does.
    flag = run_cli(["validate", ".", "--exclude", "pipelines", "--json"], cwd=repo)
    checked = sorted(f["path"] for f in json.loads(flag.stdout)["files"])
    assert checked == ["drafts/next.yaml", "flows/broken.yaml", "flows/orders.yaml"]


@pytest.mark.parametrize(
    "text, kind",
    [
        (BROKEN, "flow"),
        ("flow: {id: x}\n", "flow"),
        ("jobs:\n  - id: a\n    steps: []\n", "flow"),
        ("version: 1\njobs: []\n", "flow"),
        ("version: 1\nresources: {}\n", "flow"),
        ("version: 1\nresources: {}\njobs: oops\n", "flow"),  # a broken flow still
        (CIRCLECI, OTHER),
        (AZURE_PIPELINES, OTHER),
        ((EXAMPLES / "engine-project" / "manifest.yaml").read_text(), "manifest"),
        ((EXAMPLES / "scheduler.yaml").read_text(), "scheduler"),
        ("timezone: UTC\n", "scheduler"),
        ((EXAMPLES / "profiles.yaml").read_text(), "profiles"),
        ((EXAMPLES / "ci" / "github-workflow.yml").read_text(), OTHER),
        ((EXAMPLES / "ci" / "gitlab-ci.yml").read_text(), OTHER),
        (KUBERNETES_LIST, OTHER),
        (COMPOSE, OTHER),
        (DBT_PROJECT, OTHER),
        (DBT_SCHEMA, OTHER),
        (DBT_PROFILES, OTHER),
        ("- a\n- b\n", OTHER),
        ("just: some yaml\n", OTHER),
        ("", OTHER),
    ],
)
def test_the_classification_rule(text: str, kind: str) -> None:
    import yaml

    assert classify(yaml.safe_load(text)) == kind


@pytest.mark.parametrize(
    "text, kind",
    [
        (BAD_YAML, "flow"),
        ("version: 1\njobs:\n  # first\n\n  - id: a\n    steps: [\n", "flow"),
        ("version: 1\nresources:\n  a: [\n", OTHER),  # nothing says flow
        ("trigger: [main\njobs:\n  - job: build\n", OTHER),
        ("bundle:\n  id: [\n", "manifest"),
        (KUBERNETES, OTHER),  # two documents
        ("name: ci\non: [push\njobs:\n  a: {}\n", OTHER),  # a broken GitHub workflow
    ],
)
def test_the_classification_of_what_is_not_one_yaml_document(text: str, kind: str) -> None:
    assert classify_text(text) == kind


def _verdicts(fmt: str, stdout: str) -> tuple[set[tuple[str, str]], set[str]]:
    """(file, code) of each error, and the files a format names, read the way its consumer
    reads them."""
    if fmt == "github":
        errors = set(
            re.findall(r"^::error file=([^,]+),line=\d+,col=\d+,title=(AF\d{3})::", stdout, re.M)
        )
        return errors, {f for f, _ in errors}
    if fmt == "sarif":
        results = json.loads(stdout)["runs"][0]["results"]
        errors = {
            (r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"], r["ruleId"])
            for r in results
            if r["level"] == "error"
        }
        return errors, {f for f, _ in errors}
    if fmt == "gitlab":
        findings = json.loads(stdout)
        errors = {
            (f["location"]["path"], f["check_name"].split()[0])
            for f in findings
            if f["severity"] == "major"
        }
        return errors, {f["location"]["path"] for f in findings}
    assert fmt == "junit"
    import xml.etree.ElementTree as ET

    cases = ET.fromstring(stdout).iter("testcase")
    named, errors = set(), set()
    for case in cases:
        named.add(case.get("name", ""))
        for failure in case.iter("failure"):
            errors |= {
                (case.get("name", ""), code)
                for code in re.findall(
                    r"AF\d{3}", failure.get("message", "") + (failure.text or "")
                )
            }
    return errors, named


@pytest.mark.e2e  # the bundle's plugins are imported in a child process
@pytest.mark.parametrize("fmt", ["github", "sarif", "gitlab", "junit"])
def test_each_output_format_gives_each_files_verdict(tmp_path: Path, fmt: str) -> None:
    """The repository's verdicts in every machine format: the broken flows' errors at their
    files, nothing about the files that are not AetherFlow files."""
    repo = make_repository(tmp_path / "repo")
    result = run_cli(["validate", ".", "--format", fmt], cwd=repo)
    assert result.exit_code == 2, result.stdout + result.stderr
    errors, named = _verdicts(fmt, result.stdout)
    assert {f for f, _ in errors} == {"flows/broken.yaml", "pipelines/bad_yaml.yaml"}
    assert ("flows/broken.yaml", "AF201") in errors and (
        "pipelines/bad_yaml.yaml",
        "AF103",
    ) in errors
    assert not named & set(SKIPPED)
    assert "; 11 files skipped: not AetherFlow files" in result.stderr
