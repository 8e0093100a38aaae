"""Golden trees: each case's flows/ compiles to exactly its expected/ directory.

Expected trees hold what the compiler generates for the flows: the flow scripts, the
shell scripts' generated part, manifest.json and the schedule files. They hold no copy of
the runtime. Where a dist carries one (aetherflow_runtime/, a --single-file script's
inlined runtime, the shell runtime inside each .sh, the ConfigMap's copies of artifacts),
the test checks it against runtime_stub/ or the file it copies, and compares one line
naming it instead. Hashes are checked against the bytes they hash (every manifest entry,
the runtime digest) and compared as names, so a golden diff shows generated code only.
"""

from __future__ import annotations

import ast
import base64
import hashlib
import importlib.util
import json
import marshal
import re
import shlex
import shutil
import sys
from pathlib import Path

import pytest
import yaml

from aetherflow_compiler.codegen import sh
from conftest import GOLDEN, ROOT, run_cli

CASES = sorted(p for p in (GOLDEN / "compile").iterdir() if p.is_dir())
RUNTIME_STUB = ROOT / "runtime_stub"
VENDORED = "aetherflow_runtime/"


def _tree(root: Path) -> dict[str, bytes]:
    return {
        p.relative_to(root).as_posix(): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _tree_sha256(files: dict[str, bytes]) -> str:
    """The vendored runtime's digest as docs/artifacts.md defines it: every file's path
    relative to aetherflow_runtime/ and its content, in sorted order of the paths."""
    digest = hashlib.sha256()
    for name in sorted(files):
        digest.update(name.encode() + b"\0" + files[name] + b"\0")
    return digest.hexdigest()


def _check_manifest(files: dict[str, bytes]) -> tuple[str, dict[str, str]]:
    """Every artifact hash is the hash of that file, the runtime digest is the digest of
    the vendored files; returns manifest.json with both replaced by what they name, and
    {hash: name} for the other files that quote them."""
    manifest = json.loads(files["manifest.json"])
    assert sorted(manifest["artifacts"]) == sorted(p for p in files if p != "manifest.json")
    names: dict[str, str] = {}
    for path, digest in manifest["artifacts"].items():
        assert digest == _sha256(files[path]), f"manifest.json: wrong sha256 for {path}"
        manifest["artifacts"][path] = f"<sha256 of {path}>"
    runtime = manifest.get("runtime")
    if runtime is not None:
        vendored = {
            p[len(VENDORED) :]: d
            for p, d in files.items()
            if p.startswith(VENDORED) and p.endswith(".py") and "__pycache__" not in p.split("/")
        }
        if not manifest["single_file"]:
            assert runtime["sha256"] == _tree_sha256(
                vendored
            ), "manifest.json: wrong runtime sha256"
        names[runtime["sha256"]] = "<runtime sha256>"
        runtime["sha256"] = "<runtime sha256>"
    text = json.dumps(manifest, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
    # Shipped bytecode is named for the interpreter compiling (and running these tests).
    return (
        text.replace(f".{sys.implementation.cache_tag}.pyc", ".<cache tag>.pyc").replace(
            f'"{sys.implementation.cache_tag}"', '"<cache tag>"'
        ),
        names,
    )


def _check_vendored(path: str, data: bytes) -> None:
    if "/__pycache__/" in f"/{path}":
        _check_bytecode(path, data)
        return
    if path == sh.DIST_PATH:  # the shell runtime, built from runtime_stub/sh/
        assert (
            data == sh.runtime_source().encode()
        ), f"{path} is not the runtime built from runtime_stub/sh/"
        return
    if path == sh.VERIFY_PATH:
        assert (
            data == (RUNTIME_STUB / "sh" / "verify.sh").read_bytes()
        ), f"{path} differs from runtime_stub/sh/verify.sh"
        return
    stub = RUNTIME_STUB / path[len(VENDORED) :]
    assert stub.is_file(), f"{path} is not a runtime_stub/ file"
    assert data == stub.read_bytes(), f"{path} differs from {stub.relative_to(ROOT)}"


def _check_bytecode(path: str, data: bytes) -> None:
    """A shipped pyc is checked-hash bytecode of the runtime_stub/ file it caches."""
    folder, _, name = path[len(VENDORED) :].rpartition("__pycache__/")
    module, tag, suffix = name.rsplit(".", 2)
    assert (tag, suffix) == (sys.implementation.cache_tag, "pyc"), path
    source = (RUNTIME_STUB / folder / f"{module}.py").read_bytes()
    assert data[:4] == importlib.util.MAGIC_NUMBER, f"{path}: not bytecode of this interpreter"
    assert int.from_bytes(data[4:8], "little") == 3, f"{path}: not checked-hash bytecode"
    assert data[8:16] == importlib.util.source_hash(source), f"{path}: the hash of another source"
    expected = compile(source, f"{VENDORED}{folder}{module}.py", "exec", dont_inherit=True)
    assert marshal.loads(data[16:]) == expected, f"{path}: not the code of its source"


def _code_lines(source: str) -> list[str]:
    """Non-blank lines of a runtime module without its relative and __future__ imports:
    what --single-file inlines of it (black only removes the blank lines left behind). An
    import that was the only statement of its block is there as `pass`."""
    tree = ast.parse(source)
    imports = [
        node
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom) and (node.level > 0 or node.module == "__future__")
    ]
    drop = {n for node in imports for n in range(node.lineno, (node.end_lineno or node.lineno) + 1)}
    only_imports = {id(node) for node in imports}
    passes: dict[int, str] = {}
    for node in ast.walk(tree):
        for field in ("body", "orelse", "finalbody"):
            block = getattr(node, field, None)
            if (
                not isinstance(node, ast.Module)
                and isinstance(block, list)
                and block
                and all(id(stmt) in only_imports for stmt in block)
            ):
                passes[block[0].lineno] = " " * block[0].col_offset + "pass"
    out = []
    for n, line in enumerate(source.splitlines(), 1):
        if n in passes:
            out.append(passes[n])
        elif n not in drop and line.strip():
            out.append(line)
    return out


def _redact_inlined_python(path: str, text: str) -> str:
    """A --single-file script: each inlined module is checked against runtime_stub/;
    the block becomes a list of the modules it inlines."""
    match = re.search(
        r"^(# ======== aetherflow_runtime .*, inlined \(--single-file\) ========\n)(.*?)"
        r"(?=^# ======== flow )",
        text,
        re.M | re.S,
    )
    if match is None:
        return text
    chunks = re.split(r"^# ---- aetherflow_runtime/(\S+) ----\n", match.group(2), flags=re.M)
    assert not chunks[0].strip(), f"{path}: code before the first inlined module"
    modules = chunks[1::2]
    assert len(set(modules)) == len(modules), f"{path}: a module is inlined twice"
    for module, code in zip(modules, chunks[2::2], strict=True):
        wanted = _code_lines((RUNTIME_STUB / module).read_text())
        assert [
            line for line in code.splitlines() if line.strip()
        ] == wanted, f"{path}: inlined {module} differs from runtime_stub/{module}"
    listing = "".join(f"#   runtime_stub/{m}\n" for m in modules)
    block = f"# [golden] the runtime, inlined and checked against runtime_stub/ by the test:\n{listing}\n\n"
    return text[: match.start(2)] + block + text[match.end(2) :]


def _redact_shell_runtime(path: str, text: str, files: dict[str, bytes]) -> str:
    """A --single-file script inlines the shell runtime (built from runtime_stub/sh/); any
    other sources the dist's copy, checked by its cksum, which is named here."""
    runtime = sh.runtime_source().rstrip("\n")
    if sh.DIST_PATH not in files:
        assert text.count(runtime) == 1, f"{path} does not inline the shell runtime exactly once"
        return text.replace(
            runtime,
            "# [golden] the shell runtime (runtime_stub/sh/), inlined here: checked by the test",
        )
    assert runtime not in text, f"{path} inlines the runtime the dist ships"
    data = files[sh.DIST_PATH]
    cksum = f"{sh.posix_cksum(data)} {len(data)}"
    assert text.count(f"'{cksum}'") == 1, f"{path} does not check the cksum of {sh.DIST_PATH}"
    return text.replace(cksum, f"<cksum of {sh.DIST_PATH}>")


def _redact_configmap(path: str, text: str, files: dict[str, bytes]) -> str:
    """The ConfigMap's data are copies of the artifacts: each is checked against its file."""
    document = yaml.safe_load(text.split("---\n", 1)[1])
    data = document["data"]
    keys = {p.replace("/", "__"): p for p in files}
    for key, value in data.items():
        assert key in keys, f"{path}: data key {key} is no artifact"
        assert value.encode() == files[keys[key]], f"{path}: {key} is not a copy of {keys[key]}"
        block = re.compile(rf"^  {re.escape(key)}: [|>][-+]?\n(?:    .*\n|\n)*", re.M)
        text, found = block.subn(
            f"  {key}: |\n    [golden] a copy of {keys[key]}: checked by the test\n", text
        )
        assert found == 1, f"{path}: {key} is not a literal block"
    for key, value in (document.get("binaryData") or {}).items():
        assert key in keys, f"{path}: binaryData key {key} is no artifact"
        assert (
            base64.b64decode(value) == files[keys[key]]
        ), f"{path}: {key} is not a copy of {keys[key]}"
        line = re.compile(rf"^  {re.escape(key)}: \S+\n", re.M)
        text, found = line.subn(
            f"  {key}: '[golden] a copy of {keys[key]}: checked by the test'\n", text
        )
        assert found == 1, f"{path}: {key} is not one line"
    return text


def generated_part(out: Path) -> dict[str, str]:
    """The compiled tree as golden trees store it (see the module docstring)."""
    files = _tree(out)
    manifest, names = _check_manifest(files)
    golden = {"manifest.json": manifest}
    for path, data in files.items():
        if path.startswith(VENDORED):
            _check_vendored(path, data)
            continue
        if path == "manifest.json":
            continue
        text = data.decode()
        if path.endswith("configmap.yaml"):
            text = _redact_configmap(path, text, files)
        elif "/" not in path and path.endswith(".py"):
            text = _redact_inlined_python(path, text)
        elif "/" not in path and path.endswith(".sh"):
            text = _redact_shell_runtime(path, text, files)
        for digest, name in names.items():
            text = text.replace(digest, name)
        golden[path] = text.replace(
            sys.implementation.cache_tag, "<cache tag>"
        )  # names of shipped bytecode
    return golden


@pytest.mark.parametrize("case", CASES, ids=lambda p: p.name)
def test_compile_golden(case: Path, tmp_path: Path, update_golden: bool) -> None:
    args = shlex.split((case / "args").read_text()) if (case / "args").exists() else []
    out = tmp_path / "dist"
    result = run_cli(["compile", "flows", "-o", str(out), *args], cwd=case)
    assert result.exit_code == 0, result.stdout + result.stderr
    actual = generated_part(out)
    expected = case / "expected"
    if update_golden:
        shutil.rmtree(expected, ignore_errors=True)
        for name, text in actual.items():
            (expected / name).parent.mkdir(parents=True, exist_ok=True)
            (expected / name).write_text(text)
            shutil.copymode(out / name, expected / name)
    wanted = {name: data.decode() for name, data in _tree(expected).items()}
    assert sorted(actual) == sorted(wanted)
    for name in actual:
        assert actual[name] == wanted[name], name
        assert _executable(out / name) == _executable(expected / name), f"{name}: file mode"


def _executable(path: Path) -> bool:
    return bool(path.stat().st_mode & 0o100)


@pytest.mark.parametrize("case", CASES, ids=lambda p: p.name)
def test_golden_trees_hold_no_runtime_copy(case: Path) -> None:
    stub = {
        p.read_bytes()
        for p in RUNTIME_STUB.rglob("*")
        if p.is_file() and "__pycache__" not in p.parts
    }
    for path, data in _tree(case / "expected").items():
        assert not path.startswith(VENDORED), path
        assert data not in stub, f"{path} is a copy of a runtime_stub/ file"
        assert len(data) < 40_000, f"{path}: {len(data)} bytes; is a runtime inlined in it?"


@pytest.mark.parametrize("case", CASES, ids=lambda p: p.name)
def test_compiled_scripts_are_a_fixed_point_of_black(case: Path, tmp_path: Path) -> None:
    import black

    args = shlex.split((case / "args").read_text()) if (case / "args").exists() else []
    out = tmp_path / "dist"
    assert run_cli(["compile", "flows", "-o", str(out), *args], cwd=case).exit_code == 0
    mode = black.Mode(target_versions={black.TargetVersion.PY38})
    for script in sorted(out.glob("*.py")):
        text = script.read_text()
        assert black.format_str(text, mode=mode) == text, script
