"""The compiler's output: determinism, --check, atomic writes, --single-file, safety."""

from __future__ import annotations

import ast
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from aetherflow_compiler.codegen.runtime.package import runtime_sha256
from aetherflow_compiler.steps import default_registry
from conftest import EXAMPLES, ROOT, Project, run_cli


def tree(path: Path) -> dict[str, tuple[bytes, int]]:
    out = {}
    for p in sorted(path.rglob("*")):
        if p.is_file():  # shipped bytecode included: nothing has run in these trees
            out[str(p.relative_to(path))] = (p.read_bytes(), p.stat().st_mode & 0o777)
    return out


def test_compile_is_deterministic_across_runs_directories_and_checkouts(tmp_path: Path) -> None:
    first, second, third = tmp_path / "one", tmp_path / "two", tmp_path / "three"
    assert run_cli(["compile", str(EXAMPLES / "flows"), "-o", str(first)]).exit_code == 0
    # Again, from another working directory and with a relative path.
    rel = os.path.relpath(EXAMPLES / "flows", tmp_path)
    assert run_cli(["compile", rel, "-o", str(second)], cwd=tmp_path).exit_code == 0
    # From a copy of the repository at another path.
    copy = tmp_path / "elsewhere" / "checkout"
    shutil.copytree(EXAMPLES, copy / "examples")
    assert run_cli(["compile", "examples/flows", "-o", str(third)], cwd=copy).exit_code == 0
    assert tree(first) == tree(second) == tree(third)
    assert all(str(tmp_path).encode() not in data for data, _ in tree(first).values())


def test_manifest_describes_every_artifact_and_source(tmp_path: Path) -> None:
    dist = tmp_path / "dist"
    assert run_cli(["compile", str(EXAMPLES / "flows"), "-o", str(dist)]).exit_code == 0
    manifest = json.loads((dist / "manifest.json").read_text())
    assert manifest["compiler"] == {"name": "aetherflow-compiler", "version": "0.1.0"}
    files = {p: data for p, (data, _) in tree(dist).items() if p != "manifest.json"}
    import hashlib

    assert manifest["artifacts"] == {p: hashlib.sha256(d).hexdigest() for p, d in files.items()}
    assert set(manifest["sources"]) == {p.name for p in (EXAMPLES / "flows").glob("*.yaml")}
    daily = manifest["flows"]["daily_orders"]
    assert daily["step_types"] == ["check_items", "external.process"]
    assert daily["env"]["ORDERS_INBOX"] == {"required": False}
    folder = dist / "aetherflow_runtime"
    runtime = {p.relative_to(folder).as_posix(): p.read_text() for p in folder.rglob("*.py")}
    assert "steps/check_items.py" in runtime and "state/sqlite.py" in runtime
    assert manifest["runtime"]["sha256"] == runtime_sha256(runtime)


@pytest.mark.e2e
def test_only_the_step_implementations_in_use_are_vendored(project: Project) -> None:
    project.flow(
        "only_items",
        "jobs:\n  - id: a\n    steps: [{id: c, type: check_items, inputs: {items: [x]}}]\n",
    )
    vendored = sorted(p.name for p in (project.dist / "aetherflow_runtime" / "steps").glob("*.py"))
    assert vendored == ["__init__.py", "check_items.py"]
    assert not (project.dist / "aetherflow_runtime" / "plugin_api.py").exists()  # no plugins here
    project.run("only_items", "run", check_exit=0)


def test_check_reports_drift_and_exits_1(tmp_path: Path) -> None:
    dist = tmp_path / "dist"
    flows = str(EXAMPLES / "flows")
    assert run_cli(["compile", flows, "-o", str(dist)]).exit_code == 0
    up_to_date = run_cli(["compile", flows, "-o", str(dist), "--check"])
    assert up_to_date.exit_code == 0 and "is up to date" in up_to_date.stderr
    (dist / "daily_orders.py").write_text("# hand edit\n")
    (dist / "stray.txt").write_text("x")
    os.remove(dist / "manifest.json")
    drift = run_cli(["compile", flows, "-o", str(dist), "--check"])
    assert drift.exit_code == 1
    assert drift.stdout.splitlines() == [
        f"differs: {dist / 'daily_orders.py'}",
        f"missing: {dist / 'manifest.json'}",
        f"unexpected: {dist / 'stray.txt'}",
    ]
    assert run_cli(["compile", flows, "-o", str(tmp_path / "never"), "--check"]).exit_code == 1
    assert not (tmp_path / "never").exists()


def test_invalid_input_never_touches_the_output(tmp_path: Path) -> None:
    dist = tmp_path / "dist"
    assert run_cli(["compile", str(EXAMPLES / "flows"), "-o", str(dist)]).exit_code == 0
    before = tree(dist)
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "x.yaml").write_text(
        "version: 1\nflow: {id: x}\njobs:\n  - id: a\n    depends_on: [b]\n    steps: []\n"
    )
    result = run_cli(["compile", str(bad), "-o", str(dist)])
    assert result.exit_code == 2 and "AF303" in result.stdout
    assert tree(dist) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad", "dist"]  # no temp dirs left


def test_refuses_to_replace_a_directory_it_did_not_write(tmp_path: Path) -> None:
    precious = tmp_path / "home"
    precious.mkdir()
    (precious / "notes.txt").write_text("keep me")
    result = run_cli(["compile", str(EXAMPLES / "flows"), "-o", str(precious)])
    assert result.exit_code == 2 and "refusing to replace" in result.stderr
    assert (precious / "notes.txt").read_text() == "keep me"


def test_every_builtin_connector_and_step_type_compiles(tmp_path: Path) -> None:
    flows = tmp_path / "flows"
    flows.mkdir()
    (flows / "x.yaml").write_text("""\
version: 1
flow: {id: x}
resources:
  dwh: {kind: db, driver: exasol, config: {dsn: "exa:1"}}
  packer: {kind: archive, driver: external, config: {zip_cmd: [7z, a, "{archive}", "{files}"]}}
jobs:
  - id: a
    steps:
      - id: q
        type: db_fetch_small
        inputs: {resource: dwh, sql: select 1}
      - id: z
        type: zip
        inputs: {resource: packer, items: [a], dest_path: a.zip}
""")
    result = run_cli(["compile", str(flows), "-o", str(tmp_path / "dist")])
    assert result.exit_code == 0, result.stdout
    assert json.loads((tmp_path / "dist" / "manifest.json").read_text())["flows"]["x"][
        "packages"
    ] == ["pyexasol"]
    # AF701 is left for what a target cannot compile: no built-in connector or step type.
    registry = default_registry()
    assert [c.key for c in registry.connectors() if c.runtime is None and not c.plugin] == []
    assert [n for n in registry.names() if registry.get(n).runtime is None] == []  # type: ignore[union-attr]


@pytest.mark.e2e
def test_single_file_artifact_runs_alone(project: Project, tmp_path: Path) -> None:
    project.write_flow(
        "solo.yaml",
        project.header("solo") + """\
jobs:
  - id: a
    steps:
      - {id: c, type: check_items, inputs: {items: "x,y"}, outputs: {n: "{{result.count}}"}}
      - id: p
        type: with_lock
        inputs: {lock_key: k, step: {type: external.process, inputs: {command: ["echo", "{{steps.c.count}}"]}}}
""",
    )
    project.compile("--single-file")
    assert sorted(os.listdir(project.dist)) == ["manifest.json", "solo.py"]
    alone = tmp_path / "elsewhere"
    alone.mkdir()
    shutil.copy(project.dist / "solo.py", alone / "solo.py")
    proc = subprocess.run(
        [sys.executable, "-I", "-S", str(alone / "solo.py"), "run", "--run-id", "r1"],
        capture_output=True,
        text=True,
        cwd=alone,
    )
    assert proc.returncode == 0, proc.stderr
    assert "2\n" in proc.stdout
    source = (alone / "solo.py").read_text()
    ast.parse(source)
    assert "import aetherflow_runtime" not in source


@pytest.mark.e2e
@pytest.mark.parametrize("single_file", [False, True], ids=["dist", "single_file"])
def test_a_flow_named_like_a_standard_module_shadows_nothing(
    project: Project, single_file: bool
) -> None:
    """dist/json.py, dist/email.py ... must not stand in for the modules the runtime (and
    the steps' connectors) import: every flow of the dist runs, with and without -I, from
    any folder."""
    body = """\
jobs:
  - id: a
    steps:
      - {id: c, type: check_items, inputs: {items: "x,y"}, outputs: {n: "{{result.count}}"}}
"""
    names = ["json", "re", "email", "logging", "types", "orders"]
    for name in names:
        project.write_flow(f"{name}.yaml", project.header(name) + body)
    project.compile(*(["--single-file"] if single_file else []))
    for name in names:
        for flags in (["-S"], ["-I", "-S"]):
            proc = subprocess.run(
                [
                    sys.executable,
                    *flags,
                    str(project.dist / f"{name}.py"),
                    "run",
                    "--run-id",
                    "r1" + "".join(flags),
                ],
                capture_output=True,
                text=True,
                cwd=project.dist,
            )
            assert proc.returncode == 0, (name, flags, proc.stderr)
            assert f"run r1{''.join(flags)} of {name}: SUCCESS" in proc.stdout + proc.stderr


def test_artifacts_are_black_formatted_and_executable(tmp_path: Path) -> None:
    import black

    dist = tmp_path / "dist"
    assert run_cli(["compile", str(EXAMPLES / "flows"), "-o", str(dist)]).exit_code == 0
    for script in dist.glob("*.py"):
        text = script.read_text()
        assert text.startswith("#!/usr/bin/env python3\n")
        assert os.access(script, os.X_OK)
        assert (
            black.format_str(text, mode=black.Mode(target_versions={black.TargetVersion.PY38}))
            == text
        )
        tree_ = ast.parse(text)
        names = [n.name for n in tree_.body if isinstance(n, ast.FunctionDef)]
        assert all(n.startswith(("job_", "when_")) for n in names)
        assert "exec(" not in text and "eval(" not in text


NASTY = [
    "it's",
    'say "hi"',
    "'''triple''' and \"\"\"triple\"\"\"",
    "back\\slash \\n not a newline",
    "line one\nline two\r\nline three",
    "tab\there",
    "ünïcødé ✓ 日本語 🚀",
    "__import__('os').system('touch /tmp/pwned')",
    "\"); import os; os.system('touch pwned'); (\"",
    "# not a comment",
    "}} lone closer",
    "\\x00 spelled out",
]


@pytest.mark.e2e
def test_values_reach_the_process_byte_for_byte_and_never_execute(project: Project) -> None:
    dumper = "import json,os,sys; json.dump({'argv': sys.argv[1:], 'env': {k: v for k, v in os.environ.items() if k.startswith('V_')}}, open('seen.json', 'w'))"
    values = [*NASTY, "{{env.PAYLOAD}}", "prefix {{env.PAYLOAD}}"]

    def q(value: str) -> str:
        return json.dumps(value, ensure_ascii=False)

    env_block = "\n".join(f"            V_{i}: {q(v)}" for i, v in enumerate(values))
    args_block = "\n".join(f"            - {q(v)}" for v in values)
    body = f"""\
jobs:
  - id: a
    description: {json.dumps(NASTY[4] + NASTY[2])}
    steps:
      - id: s
        type: external.process
        inputs:
          command: ["python3", "-c", {json.dumps(dumper)}]
          cwd: .
          args:
{args_block}
          env:
{env_block}
          outputs: {{{json.dumps(NASTY[8])}: {json.dumps(NASTY[3])}}}
        outputs:
          echoed: "{{{{result.exit_code}}}}"
  - id: b
    when: {json.dumps("jobs.a.outputs.echoed == " + json.dumps(NASTY[4]) + " or true")}
    steps: []
"""
    # The source file name reaches comments in the artifact: make it hostile too.
    project.write_flow("evil\nimport os.yaml", project.header("evil") + body)
    project.compile()
    script = (project.dist / "evil.py").read_text()
    ast.parse(script)
    for line in script.splitlines():
        assert not line.startswith("import os.yaml")
    payload = "{{env.HOME}} and {{ x | y }}"  # values are never rendered twice
    project.run("evil", "run", "--run-id", "r1", env={"PAYLOAD": payload}, check_exit=0)
    seen = json.loads((project.work / "evil" / "a" / "r1" / "artifacts" / "seen.json").read_text())
    expected = [*NASTY, payload, "prefix " + payload]
    assert seen["argv"] == expected
    assert seen["env"] == {f"V_{i}": v for i, v in enumerate(expected)}
    assert not (project.root / "pwned").exists() and not Path("/tmp/pwned").exists()
    assert project.status("evil", "r1")["jobs"]["b"]["status"] == "SUCCESS"


@pytest.mark.e2e
def test_runtime_and_golden_artifacts_need_no_python_newer_than_3_8(tmp_path: Path) -> None:
    dist = tmp_path / "dist"
    assert run_cli(["compile", str(EXAMPLES / "flows"), "-o", str(dist)]).exit_code == 0
    single = tmp_path / "single"
    assert (
        run_cli(["compile", str(EXAMPLES / "flows"), "-o", str(single), "--single-file"]).exit_code
        == 0
    )
    targets = [
        str(ROOT / "runtime_stub"),
        str(dist),
        str(single),
        str(ROOT / "tests" / "golden" / "compile"),
    ]
    vermin = str(Path(sys.executable).parent / "vermin")
    proc = subprocess.run(
        [
            vermin,
            "--no-tips",
            "--violations",
            "-t=3.8-",
            "--eval-annotations",
            "--no-parse-comments",
            *targets,
        ],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


RUNTIME_MODULES = sorted(
    p.relative_to(ROOT / "runtime_stub").as_posix() for p in (ROOT / "runtime_stub").rglob("*.py")
)


@pytest.mark.parametrize("module", RUNTIME_MODULES)
def test_runtime_modules_import_only_the_standard_library(module: str) -> None:
    source = (ROOT / "runtime_stub" / module).read_text()
    # _sha256 (CPython 3.8-3.11) and _sha2 (3.12+) are the interpreter's own sha256.
    stdlib = set(sys.stdlib_module_names) | {"_sha2", "_sha256"}
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            for alias in node.names:
                assert alias.name.split(".")[0] in stdlib, alias.name
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            assert (node.module or "").split(".")[0] in stdlib | {"__future__"}, node.module


@pytest.mark.slow
def test_inlined_runtime_defines_each_top_level_name_once() -> None:
    from aetherflow_compiler.codegen.runtime.package import amalgamate

    # Every module of the runtime, inlined together: names must not collide anywhere.
    modules = [
        m[: -len(".py")].replace("/", ".") for m in RUNTIME_MODULES if not m.endswith("__init__.py")
    ]
    assert "steps.process" in modules and "connectors.sftp" in modules and "state.sqlite" in modules
    code = amalgamate(modules)
    assert code.count("# ---- aetherflow_runtime/") == len(RUNTIME_MODULES)
    tree_ = ast.parse(code)
    names: list[str] = []
    for node in tree_.body:
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            names.append(node.name)
        elif isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            names.extend(t.id for t in targets if isinstance(t, ast.Name))
        elif isinstance(node, ast.ImportFrom):
            assert node.level == 0 and node.module != "__future__"
    duplicates = sorted({n for n in names if names.count(n) > 1})
    assert not duplicates
    # Generated flow code owns these names; the runtime must not define them.
    assert not [
        n for n in names if n in ("FLOW", "JOBS", "STEP_TYPES") or n.startswith(("job_", "when_"))
    ]


def test_the_compile_cache_gives_the_same_output_and_notices_every_change(tmp_path: Path) -> None:
    cache_dir = tmp_path / "cache"
    flows = tmp_path / "flows"
    shutil.copytree(EXAMPLES / "flows", flows)
    env_before = os.environ.get("AETHERFLOW_CACHE_DIR")
    os.environ["AETHERFLOW_CACHE_DIR"] = str(cache_dir)
    try:
        assert run_cli(["compile", str(flows), "-o", str(tmp_path / "cold")]).exit_code == 0
        assert any(cache_dir.rglob("*.json")) and any(cache_dir.rglob("*.txt"))
        assert run_cli(["compile", str(flows), "-o", str(tmp_path / "warm")]).exit_code == 0
        assert tree(tmp_path / "cold") == tree(tmp_path / "warm")
        # One flow changes: its artifact changes, the others stay byte-identical.
        daily = flows / "daily_orders.yaml"
        daily.write_text(daily.read_text().replace("min_count: 1", "min_count: 2"))
        assert run_cli(["compile", str(flows), "-o", str(tmp_path / "changed")]).exit_code == 0
        assert (
            run_cli(
                ["compile", str(flows), "-o", str(tmp_path / "uncached"), "--no-cache"]
            ).exit_code
            == 0
        )
        changed, uncached, cold = (
            tree(tmp_path / "changed"),
            tree(tmp_path / "uncached"),
            tree(tmp_path / "cold"),
        )
        assert changed == uncached
        assert changed["daily_orders.py"] != cold["daily_orders.py"]
        assert changed["inbox_ingest.py"] == cold["inbox_ingest.py"]
        # Cached diagnostics are reported at the path given this time.
        (flows / "bad.yaml").write_text(
            "version: 1\nflow: {id: bad}\njobs:\n  - {id: a, depends_on: [zz], steps: []}\n"
        )
        first = run_cli(["compile", str(flows), "-o", str(tmp_path / "x")])
        second = run_cli(["compile", "bad.yaml", "-o", str(tmp_path / "x")], cwd=flows)
        assert first.exit_code == second.exit_code == 2
        assert f"{flows / 'bad.yaml'}:4:" in first.stdout and second.stdout.startswith(
            "bad.yaml:4:"
        )
    finally:
        if env_before is None:
            os.environ.pop("AETHERFLOW_CACHE_DIR")
        else:
            os.environ["AETHERFLOW_CACHE_DIR"] = env_before


def test_many_flows_compile_in_parallel_to_the_same_output(tmp_path: Path) -> None:
    flows = tmp_path / "flows"
    flows.mkdir()
    for n in range(20):
        (flows / f"f{n}.yaml").write_text(
            f"version: 1\nflow: {{id: f{n}}}\njobs:\n  - id: a\n    steps:\n"
            f"      - {{id: s, type: external.process, inputs: {{command: [echo, '{n}']}}}}\n"
        )
    assert (
        run_cli(["compile", str(flows), "-o", str(tmp_path / "par"), "--no-cache"]).exit_code == 0
    )
    from aetherflow_compiler.driver import pool

    serial_min = pool.PARALLEL_MIN
    pool.PARALLEL_MIN = 10**6
    try:
        assert (
            run_cli(["compile", str(flows), "-o", str(tmp_path / "ser"), "--no-cache"]).exit_code
            == 0
        )
    finally:
        pool.PARALLEL_MIN = serial_min
    assert tree(tmp_path / "par") == tree(tmp_path / "ser")
