"""The module structure: no import cycles in the compiler or the runtime, a runtime whose
folders name its parts, and a compiler whose packages are the stages of its pipeline, each
importing only what comes before it (the layer rules)."""

from __future__ import annotations

import ast
import functools
import re
import sys
from pathlib import Path

import pytest

from conftest import ROOT


@functools.cache
def _compiler_graph() -> dict[str, set[str]]:
    """aetherflow_compiler module -> the aetherflow_compiler modules it imports, at module
    level or inside functions."""
    root = ROOT / "aetherflow_compiler"
    modules = {
        ".".join(p.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__"): p
        for p in root.rglob("*.py")
    }
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        found: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text())):
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                targets = [node.module, *(f"{node.module}.{a.name}" for a in node.names)]
            found |= {t for t in targets if t in modules and t != name}
        graph[name] = found
    return graph


def _runtime_graph() -> dict[str, set[str]]:
    """runtime_stub file -> the runtime files its relative imports name (lazy ones too)."""
    root = ROOT / "runtime_stub"
    files = {p.relative_to(root).as_posix() for p in root.rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for rel in files:
        package = rel.split("/")[:-1]
        found: set[str] = set()
        for node in ast.walk(ast.parse((root / rel).read_text())):
            if not (isinstance(node, ast.ImportFrom) and node.level > 0):
                continue
            base = package[: len(package) - node.level + 1] + (
                node.module.split(".") if node.module else []
            )
            names = ["/".join(base)] + ["/".join([*base, a.name]) for a in node.names]
            for name in names:
                for candidate in (f"{name}.py", f"{name}/__init__.py".lstrip("/")):
                    if candidate in files and candidate != rel:
                        found.add(candidate)
        graph[rel] = found
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Each strongly connected component of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    out: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for nxt in sorted(graph[node]):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                out.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return out


def test_the_cycle_finder_finds_a_cycle() -> None:
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


@pytest.mark.parametrize("graph", [_compiler_graph, _runtime_graph], ids=["compiler", "runtime"])
def test_no_import_cycles(graph: object) -> None:
    built = graph()  # type: ignore[operator]
    assert len(built) > 20
    assert _cycles(built) == []


def test_the_graphs_see_the_imports_that_once_made_cycles() -> None:
    compiler = _compiler_graph()
    assert "aetherflow_compiler.steps.types" in compiler["aetherflow_compiler.steps.builtins"]
    assert "aetherflow_compiler.steps.builtins" in compiler["aetherflow_compiler.steps.registry"]
    runtime = _runtime_graph()
    assert "runner.py" in runtime["plugin_api.py"]
    assert "state/sqlite.py" in runtime["state/__init__.py"]  # a lazy import


def test_the_runtime_folders_show_its_architecture() -> None:
    root = ROOT / "runtime_stub"
    assert {p.name for p in root.iterdir() if p.is_dir() and p.name != "__pycache__"} == {
        "steps",
        "connectors",
        "state",
        "sh",
    }  # sh: the shell target's runtime, in sections
    assert {p.stem for p in (root / "state").glob("*.py")} == {
        "__init__",
        "base",
        "sqlite",
        "files",
        "postgres",
    }
    assert {"process", "check_items", "with_lock", "zip", "db", "mail", "remote", "excel"} <= {
        p.stem for p in (root / "steps").glob("*.py")
    }
    assert {"sqlite", "db_drivers", "sftp", "smb", "smtp", "archive"} <= {
        p.stem for p in (root / "connectors").glob("*.py")
    }
    flat = [p.name for p in root.glob("*.py") if p.name.startswith(("step_", "conn_"))]
    assert flat == []


def test_each_state_backend_implements_the_one_interface() -> None:
    tree = ast.parse((ROOT / "runtime_stub" / "state" / "base.py").read_text())
    classes = {n.name: n for n in tree.body if isinstance(n, ast.ClassDef)}

    def functions(cls: ast.ClassDef, abstract: bool) -> set[str]:
        return {
            n.name
            for n in cls.body
            if isinstance(n, ast.FunctionDef)
            and ("NotImplementedError" in ast.unparse(n)) == abstract
        }

    # What each backend must implement: the methods that raise NotImplementedError in
    # StateStore or in the base.py class it derives from (others, such as ran_on, have a
    # default for the stores that do not record it).
    interface = functions(classes["StateStore"], True)
    assert {"start_run", "_put_step", "acquire_lock", "release_lock"} <= interface
    for backend in ("sqlite", "files", "postgres"):
        module = ast.parse(Path(ROOT / "runtime_stub" / "state" / f"{backend}.py").read_text())
        (cls,) = [
            n for n in module.body if isinstance(n, ast.ClassDef) and not n.name.startswith("_")
        ]
        chain = [classes[ast.unparse(b)] for b in cls.bases]
        while chain[-1].bases and ast.unparse(chain[-1].bases[0]) in classes:
            chain.append(classes[ast.unparse(chain[-1].bases[0])])
        assert chain[-1].name == "StateStore", backend
        required = set().union(*(functions(c, True) for c in chain))
        given = set().union(*(functions(c, False) for c in chain))
        given |= {n.name for n in cls.body if isinstance(n, ast.FunctionDef)}
        assert required <= given, (backend, required - given)


def _module_level_names(tree: ast.Module) -> tuple[set[str], set[str]]:
    """(names a module defines at top level, names its absolute imports bind there)."""
    defined: set[str] = set()
    imported: set[str] = set()
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            defined.add(node.name)
        elif isinstance(node, ast.Assign):
            defined |= {t.id for t in node.targets if isinstance(t, ast.Name)}
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            defined.add(node.target.id)
        elif isinstance(node, ast.Import):
            imported |= {(a.asname or a.name).split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module != "__future__":
            imported |= {a.asname or a.name for a in node.names}
    return defined, imported


def test_runtime_modules_share_one_namespace_without_clashes() -> None:
    # --single-file inlines every runtime module into one script: a top-level name that
    # two modules define, or one defines and another imports, would replace the other.
    root = ROOT / "runtime_stub"
    names = {
        p.relative_to(root).as_posix(): _module_level_names(ast.parse(p.read_text()))
        for p in sorted(root.rglob("*.py"))
    }
    clashes = []
    for path, (defined, _) in names.items():
        for other, (other_defined, other_imported) in names.items():
            if other != path:
                clashes += [
                    f"{path} and {other}: {n}"
                    for n in sorted(defined & (other_defined | other_imported))
                ]
    assert len(names) > 20
    assert clashes == []


# --- the layer rules ----------------------------------------------------------------------

C = "aetherflow_compiler"
IR_NODES = {
    f"{C}.ir",
    f"{C}.ir.nodes",
    f"{C}.ir.template",
    f"{C}.ir.when",
    f"{C}.ir.pprint",
    f"{C}.ir.validation",
}
# (what the rule says, which modules it is about, what they must not import)
LAYER_RULES: list[tuple[str, tuple[str, ...], tuple[str, ...]]] = [
    (
        "the front end imports neither code generators nor the driver",
        (f"{C}.frontend",),
        (f"{C}.codegen", f"{C}.driver", f"{C}.cli"),
    ),
    (
        "code generators never read YAML or bundles, and never call the driver",
        (f"{C}.codegen",),
        (f"{C}.frontend", f"{C}.project", f"{C}.driver", f"{C}.cli", "yaml"),
    ),
    (
        "the IR and its builder come before code generation and the driver",
        (f"{C}.ir",),
        (f"{C}.codegen", f"{C}.driver", f"{C}.cli"),
    ),
    (
        "scheduling reads the IR, not the front end, and never calls the driver",
        (f"{C}.schedule",),
        (f"{C}.frontend", f"{C}.driver", f"{C}.cli"),
    ),
]


def _within(module: str, package: str) -> bool:
    return module == package or module.startswith(package + ".")


@functools.cache
def _external_imports() -> dict[str, set[str]]:
    """aetherflow_compiler module -> the top-level names of the other packages it imports
    (the standard library's and third-party ones), at module level or inside functions."""
    out: dict[str, set[str]] = {}
    for path in (ROOT / C).rglob("*.py"):
        name = ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")
        found: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                found |= {a.name.split(".")[0] for a in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                found.add(node.module.split(".")[0])
        out[name] = found - {C, "__future__"}
    return out


def _layer_violations(graph: dict[str, set[str]], external: dict[str, set[str]]) -> list[str]:
    """Every import that breaks a layer rule, as 'importer -> imported (the rule)'."""
    out = []
    for module in sorted(graph):
        imported = graph[module] | external.get(module, set())
        for rule, packages, forbidden in LAYER_RULES:
            if any(_within(module, p) for p in packages):
                out += [
                    f"{module} -> {m} ({rule})"
                    for m in sorted(imported)
                    if any(_within(m, f) for f in forbidden)
                ]
        # Only the command line calls the driver (the driver's modules import each other).
        if not _within(module, f"{C}.cli") and not _within(module, f"{C}.driver"):
            out += [
                f"{module} -> {m} (only the command line calls the driver)"
                for m in sorted(graph[module])
                if _within(m, f"{C}.driver")
            ]
        # The IR's nodes import only each other and the standard library.
        if module in IR_NODES:
            out += [
                f"{module} -> {m} (the IR imports only its own nodes)"
                for m in sorted(graph[module] - IR_NODES)
            ]
            out += [
                f"{module} -> {m} (the IR imports only its own nodes and the standard library)"
                for m in sorted(external.get(module, set()) - set(sys.stdlib_module_names))
            ]
    return out


def test_the_compiler_keeps_its_layer_rules() -> None:
    graph = _compiler_graph()
    assert set(graph) >= IR_NODES
    assert _layer_violations(graph, _external_imports()) == []


@pytest.mark.parametrize(
    ("importer", "imported", "rule"),
    [
        (f"{C}.frontend.checks.steps", f"{C}.codegen.literals", "the front end imports neither"),
        (f"{C}.frontend.validate", f"{C}.driver.compile", "the front end imports neither"),
        (f"{C}.codegen.python.generate", f"{C}.frontend.loader", "code generators never read YAML"),
        (f"{C}.codegen.sh", f"{C}.project.bundles.manifest", "code generators never read YAML"),
        (f"{C}.codegen.diagram", "yaml", "code generators never read YAML"),
        (f"{C}.ir.builder", f"{C}.codegen.literals", "the IR and its builder come before"),
        (
            f"{C}.schedule.build",
            f"{C}.frontend.loader",
            "scheduling reads the IR, not the front end",
        ),
        (f"{C}.project.plugins", f"{C}.driver.options", "only the command line calls the driver"),
        (f"{C}.ir.nodes", f"{C}.frontend.parse_when", "the IR imports only its own nodes"),
        (f"{C}.ir.when", "yaml", "the IR imports only its own nodes and the standard library"),
    ],
)
def test_a_broken_layer_rule_is_found(importer: str, imported: str, rule: str) -> None:
    graph = {m: set(targets) for m, targets in _compiler_graph().items()}
    external = {m: set(names) for m, names in _external_imports().items()}
    assert importer in graph
    if imported.startswith(C):
        graph[importer].add(imported)
    else:
        external[importer].add(imported)
    assert any(
        v.startswith(f"{importer} -> {imported} (") and rule in v
        for v in _layer_violations(graph, external)
    )


def test_the_runtime_never_imports_the_compiler() -> None:
    found = []
    for path in sorted((ROOT / "runtime_stub").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            names = (
                [a.name for a in node.names]
                if isinstance(node, ast.Import)
                else (
                    [node.module or ""]
                    if isinstance(node, ast.ImportFrom) and node.level == 0
                    else []
                )
            )
            found += [f"{path.relative_to(ROOT)}: {n}" for n in names if n.split(".")[0] == C]
    assert found == []


def test_the_readme_layout_table_matches_the_tree() -> None:
    """README's Project layout names every package of the compiler, and nothing that is gone."""
    readme = (ROOT / "README.md").read_text()
    table = readme.split("## Project layout", 1)[1].split("\n## ", 1)[0]
    named = set(re.findall(r"`(aetherflow_compiler/[\w/]*)`", table))
    assert named and all((ROOT / path).exists() for path in named), sorted(
        p for p in named if not (ROOT / p).exists()
    )
    packages = {
        f"aetherflow_compiler/{p.parent.relative_to(ROOT / C).as_posix()}/"
        for p in (ROOT / C).glob("*/__init__.py")
    }
    listed = {p for p in named if p.endswith("/")} | {
        f"aetherflow_compiler/{name}/" for name in re.findall(r"`(\w+)/`", table)
    }
    assert packages <= listed, sorted(packages - listed)
