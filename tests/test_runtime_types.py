"""The runtime's annotations are for mypy only: a compiled artifact never imports typing.

The runtime names typing's classes behind `if TYPE_CHECKING:` (the package's own
`TYPE_CHECKING = False`, `MYPY = False` in verify.py), which mypy reads as true (`make lint`
checks runtime_stub/ for Python 3.8) and Python skips. `if False:` would hide the names
from mypy; typing imported at run time would cost every start a few milliseconds.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import ROOT, Project

RUNTIME = ROOT / "runtime_stub"
MODULES = sorted(p.relative_to(RUNTIME).as_posix() for p in RUNTIME.rglob("*.py"))

FLOW = """\
jobs:
  - id: probe
    steps:
      - id: check
        type: check_items
        inputs: {items: "a,b", min_count: 1}
        outputs: {count: "{{result.count}}"}
  - id: work
    depends_on: [probe]
    steps:
      - id: echo
        type: external.process
        inputs: {command: ["sh", "-c", "echo $N > out.txt"], cwd: ".", env: {N: "{{jobs.probe.outputs.count}}"}}
"""


def _imported(project: Project, *args: str) -> list[str]:
    """The modules `python3 -I -S -X importtime dist/annotated.py ARGS` imports."""
    proc = subprocess.run(
        [sys.executable, "-I", "-S", "-X", "importtime", str(project.dist / "annotated.py"), *args],
        capture_output=True,
        text=True,
        cwd=project.root,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    return [
        line.split("|")[-1].strip()
        for line in proc.stderr.splitlines()
        if line.startswith("import time:")
    ]


@pytest.mark.parametrize("single_file", [False, True], ids=["dist", "single-file"])
def test_a_compiled_flow_runs_without_importing_typing(project: Project, single_file: bool) -> None:
    project.write_flow("annotated.yaml", project.header("annotated") + FLOW)
    project.compile(*(["--single-file"] if single_file else []))
    for args in (["--version"], ["plan"], ["run", "--run-id", "r1"], ["status", "--run-id", "r1"]):
        modules = _imported(project, *args)
        assert not [m for m in modules if m == "typing" or m.startswith("typing.")], (args, modules)
        if args[0] == "run":  # the list is the run's: its state store and its process step
            assert "sqlite3" in modules and "subprocess" in modules, modules
    assert project.status("annotated", "r1")["status"] == "SUCCESS"
    assert (
        project.work / "annotated" / "work" / "r1" / "artifacts" / "out.txt"
    ).read_text() == "2\n"


@pytest.mark.parametrize("module", MODULES)
def test_runtime_annotations_are_behind_a_guard_mypy_reads(module: str) -> None:
    tree = ast.parse((RUNTIME / module).read_text())
    for node in tree.body:
        if isinstance(node, ast.If) and isinstance(node.test, ast.Constant):
            raise AssertionError(
                f"{module}:{node.lineno}: `if {node.test.value!r}:` hides its names from mypy; "
                "use `if TYPE_CHECKING:` (from the package)"
            )
        if (
            isinstance(node, ast.If)
            and isinstance(node.test, ast.Name)
            and node.test.id in ("TYPE_CHECKING", "MYPY")
        ):
            # Only names for annotations: nothing in the block may run code at import time.
            assert all(
                isinstance(s, (ast.Import, ast.ImportFrom, ast.Assign)) for s in node.body
            ), module
    if module not in ("spec_models.py",):  # plugin_api's engine names: typing on first use only
        imports = [n for n in tree.body if isinstance(n, (ast.Import, ast.ImportFrom))]
        assert not [
            n for n in imports if isinstance(n, ast.ImportFrom) and n.module == "typing"
        ], module
        assert not [
            n
            for n in imports
            if isinstance(n, ast.Import) and any(a.name == "typing" for a in n.names)
        ], module


def test_the_package_defines_type_checking_false_before_any_other_statement() -> None:
    """Every module imports TYPE_CHECKING from the package, and --single-file inlines the
    package's __init__.py first: the one definition comes before its first use."""
    tree = ast.parse((RUNTIME / "__init__.py").read_text())
    assigns = [n for n in tree.body if isinstance(n, ast.Assign)]
    assert ast.unparse(assigns[0]) == "TYPE_CHECKING = False"
    sources = {m: (RUNTIME / m).read_text() for m in MODULES}
    # verify.py runs alone, without the package: it has `MYPY = False` of its own.
    users = [
        m
        for m, text in sources.items()
        if "if TYPE_CHECKING:" in text and m not in ("__init__.py", "verify.py")
    ]
    assert len(users) >= 30
    for module in users:
        level = "." * len(Path(module).parts)
        found = [
            n
            for n in ast.parse(sources[module]).body
            if isinstance(n, ast.ImportFrom)
            and n.module is None
            and n.level == len(level)
            and any(a.name == "TYPE_CHECKING" for a in n.names)
        ]
        assert found, f"{module}: `from {level} import TYPE_CHECKING` missing"
