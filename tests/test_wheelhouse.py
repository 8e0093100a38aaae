"""`compile --wheelhouse`, `--archive` and the artifact's `verify`, with small wheels made
here (tests/test_airgap.py does the same with real wheels from PyPI, in a network
namespace)."""

from __future__ import annotations

import base64
import gzip
import hashlib
import io
import json
import shutil
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest

from aetherflow_compiler.vendoring.target import Target, target_for
from aetherflow_compiler.vendoring.wheelhouse import Need, ResolveError, Wheelhouse
from conftest import Project, run_cli


def make_wheel(
    folder: Path,
    name: str,
    version: str,
    tag: str = "py3-none-any",
    requires: tuple[str, ...] = (),
    modules: dict[str, str] | None = None,
    requires_python: str | None = None,
) -> Path:
    """A wheel as build backends write it: the modules, METADATA, WHEEL and RECORD."""
    dist = f"{name.replace('-', '_')}-{version}"
    files = {
        path: text.encode()
        for path, text in (modules or {f"{name.replace('-', '_')}.py": ""}).items()
    }
    metadata = f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n"
    if requires_python:
        metadata += f"Requires-Python: {requires_python}\n"
    metadata += "".join(f"Requires-Dist: {r}\n" for r in requires)
    files[f"{dist}.dist-info/METADATA"] = metadata.encode()
    files[f"{dist}.dist-info/WHEEL"] = (
        f"Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: {tag}\n".encode()
    )
    record = ""
    for path, data in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).decode().rstrip("=")
        record += f"{path},sha256={digest},{len(data)}\n"
    files[f"{dist}.dist-info/RECORD"] = (record + f"{dist}.dist-info/RECORD,,\n").encode()
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{dist}-{tag}.whl"
    with zipfile.ZipFile(path, "w") as archive:
        for name_in, data in files.items():
            archive.writestr(name_in, data)
    return path


EXCEL_FLOW = """\
jobs:
  - id: report
    steps:
      - id: check
        type: excel_validate_template
        inputs: {template_path: /nowhere/t.xlsx, required_names: [A]}
"""
PLAIN_FLOW = """\
jobs:
  - id: a
    steps:
      - {id: s, type: external.process, inputs: {command: ["true"]}}
"""


def _openpyxl_house(folder: Path) -> Path:
    """A stand-in openpyxl (and its dependency) that only needs to import."""
    make_wheel(
        folder,
        "openpyxl",
        "3.1.5",
        requires=("et_xmlfile", 'never-there; python_version < "3"'),
        modules={"openpyxl/__init__.py": "import et_xmlfile\nVERSION = 'stand-in'\n"},
    )
    make_wheel(folder, "et_xmlfile", "2.0.0")
    return folder


def test_a_package_the_wheelhouse_lacks_is_refused_naming_flow_and_step(project: Project) -> None:
    project.write_flow("xl.yaml", project.header("xl") + EXCEL_FLOW)
    house = project.root / "house"
    make_wheel(house, "et_xmlfile", "2.0.0")
    result = run_cli(
        ["compile", str(project.flows), "-o", str(project.dist), "--wheelhouse", str(house)]
    )
    assert result.exit_code == 2
    assert (
        f"{project.flows / 'xl.yaml'}:9:9: error AF323 flow 'xl', step 'check' (excel_validate_template): openpyxl: "
        f"no wheel of openpyxl in the wheelhouse {house}" in result.stdout
    )
    assert not project.dist.exists()
    # A dependency that is missing names what needs it.
    make_wheel(house, "openpyxl", "3.1.5", requires=("et_xmlfile>=3",))
    result = run_cli(
        ["compile", str(project.flows), "-o", str(project.dist), "--wheelhouse", str(house)]
    )
    assert result.exit_code == 2
    assert (
        "et_xmlfile>=3 (for openpyxl): no wheel of et_xmlfile>=3 in the wheelhouse" in result.stdout
    )
    assert "(it has et_xmlfile-2.0.0-py3-none-any.whl)" in result.stdout


def test_a_wheel_for_another_target_is_refused(project: Project) -> None:
    project.write_flow("xl.yaml", project.header("xl") + EXCEL_FLOW)
    house = project.root / "house"
    make_wheel(house, "openpyxl", "3.1.5", tag="cp311-cp311-win_amd64")
    result = run_cli(
        [
            "compile",
            str(project.flows),
            "-o",
            str(project.dist),
            "--wheelhouse",
            str(house),
            "--python-version",
            "3.11",
            "--platform",
            "manylinux2014_x86_64",
        ]
    )
    assert result.exit_code == 2
    assert (
        "the wheelhouse has openpyxl only for other targets (openpyxl-3.1.5-cp311-cp311-win_amd64.whl), none "
        "for CPython 3.11 on manylinux2014_x86_64" in result.stdout
    )
    ok = run_cli(
        [
            "compile",
            str(project.flows),
            "-o",
            str(project.dist),
            "--wheelhouse",
            str(house),
            "--python-version",
            "3.11",
            "--platform",
            "win_amd64",
        ]
    )
    assert ok.exit_code == 0, ok.stdout
    assert (project.dist / "aetherflow_vendor" / "openpyxl-3.1.5" / "openpyxl.py").exists()


def test_resolution_follows_requires_dist_markers_and_extras(tmp_path: Path) -> None:
    make_wheel(
        tmp_path,
        "app",
        "1.0",
        requires=("lib>=2", 'old-only; python_version < "3"', 'fancy; extra == "fancy"', "shared"),
    )
    make_wheel(tmp_path, "lib", "1.0")
    make_wheel(tmp_path, "lib", "2.5")
    make_wheel(tmp_path, "lib", "2.5", tag="cp311-cp311-manylinux2014_x86_64")
    make_wheel(tmp_path, "fancy", "0.1", requires=("shared<2",))
    make_wheel(tmp_path, "shared", "1.5")
    house = Wheelhouse(str(tmp_path))
    target = target_for("3.11", ["manylinux2014_x86_64"])
    chosen = house.resolve([Need("app", "test")], target)
    assert [(c.dirname, c.wheel.filename) for c in chosen] == [
        ("app-1.0", "app-1.0-py3-none-any.whl"),
        (
            "lib-2.5",
            "lib-2.5-cp311-cp311-manylinux2014_x86_64.whl",
        ),  # newest, then the most specific tag
        ("shared-1.5", "shared-1.5-py3-none-any.whl"),
    ]
    with_extra = house.resolve([Need("app[fancy]", "test")], target)
    assert [c.dirname for c in with_extra] == ["app-1.0", "fancy-0.1", "lib-2.5", "shared-1.5"]
    make_wheel(tmp_path, "strict", "1.0", requires=("shared>=2",))
    with pytest.raises(ResolveError, match=r"shared>=2 \(for strict\): no wheel of shared>=2"):
        Wheelhouse(str(tmp_path)).resolve([Need("strict", "test")], target)


def test_the_target_gives_tags_and_marker_values() -> None:
    target = target_for("3.9", ["manylinux2014_aarch64"])
    tags = [str(t) for t in target.tags()]
    assert tags[:2] == ["cp39-cp39-manylinux_2_17_aarch64", "cp39-cp39-manylinux2014_aarch64"]
    assert "cp39-abi3-manylinux2014_aarch64" in tags and "py3-none-any" in tags
    assert not any("x86_64" in t for t in tags)
    markers = target.markers()
    assert (markers["python_version"], markers["sys_platform"], markers["platform_machine"]) == (
        "3.9",
        "linux",
        "aarch64",
    )
    assert target_for("3.12", ["win_amd64"]).markers()["sys_platform"] == "win32"
    assert Target().tags()[0] == next(iter(__import__("packaging.tags").tags.sys_tags()))
    with pytest.raises(ValueError, match="MAJOR.MINOR"):
        target_for("3", [])


def test_options_that_do_not_go_together_are_usage_errors(project: Project) -> None:
    project.write_flow("p.yaml", project.header("p") + PLAIN_FLOW)
    house = project.root / "house"
    house.mkdir()
    base = ["compile", str(project.flows), "-o", str(project.dist)]
    for extra, message in (
        (["--wheelhouse", str(house), "--single-file"], "a --single-file script cannot carry them"),
        (["--wheelhouse", str(house), "--target", "sh"], "--target sh writes none"),
        (
            ["--platform", "win_amd64"],
            "--python-version and --platform describe the hosts for --wheelhouse",
        ),
        (["--wheelhouse", str(house), "--python-version", "three"], "MAJOR.MINOR"),
    ):
        result = run_cli(base + extra)
        assert result.exit_code == 2, extra
        assert message in result.stdout + result.stderr, (extra, result.stdout, result.stderr)
    assert not project.dist.exists()


@pytest.mark.e2e
def test_vendored_packages_load_only_where_needed_after_the_standard_library(
    project: Project,
) -> None:
    project.write_flow("xl.yaml", project.header("xl") + EXCEL_FLOW)
    project.write_flow("p.yaml", project.header("p") + PLAIN_FLOW)
    house = _openpyxl_house(project.root / "house")
    project.compile("--wheelhouse", str(house))
    manifest = json.loads((project.dist / "manifest.json").read_text())
    assert manifest["flows"]["xl"]["vendored"] == ["et-xmlfile-2.0.0", "openpyxl-3.1.5"]
    assert "vendored" not in manifest["flows"]["p"]
    entry = manifest["vendored"]["openpyxl-3.1.5"]
    assert entry["wheel"] == "openpyxl-3.1.5-py3-none-any.whl" and entry["flows"] == ["xl"]
    assert (
        entry["wheel_sha256"] == hashlib.sha256((house / entry["wheel"]).read_bytes()).hexdigest()
    )
    assert all(
        manifest["artifacts"][p] == hashlib.sha256((project.dist / p).read_bytes()).hexdigest()
        for p in manifest["artifacts"]
        if p.startswith("aetherflow_vendor/")
    )
    record = (
        project.dist / "aetherflow_vendor/openpyxl-3.1.5/openpyxl-3.1.5.dist-info/RECORD"
    ).read_text()
    assert "openpyxl/__init__.py,sha256=" in record
    assert "p.py" in manifest["artifacts"] and "VENDORED" not in (project.dist / "p.py").read_text()
    # Where the packages land on sys.path: after the standard library, last.
    probe = (
        "import runpy, sys; sys.argv = [sys.argv[1], 'plan']\n"
        "try:\n    runpy.run_path(sys.argv[0], run_name='__main__')\nexcept SystemExit:\n    pass\n"
        "import openpyxl; print(openpyxl.VERSION); print(repr(sys.path))"
    )
    out = subprocess.run(
        [sys.executable, "-I", "-S", "-c", probe, str(project.dist / "xl.py")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    version, path = out.stdout.strip().splitlines()[-2:]
    assert version == "stand-in"
    entries = eval(path)  # noqa: S307 - the repr of a list of str, printed just above
    vendor = [i for i, p in enumerate(entries) if "aetherflow_vendor" in p]
    stdlib = [
        i
        for i, p in enumerate(entries)
        if p.endswith(("lib-dynload", f"python{sys.version_info[0]}" f".{sys.version_info[1]}"))
    ]
    assert vendor == [len(entries) - 2, len(entries) - 1] and max(stdlib) < min(vendor)
    # check-env names the vendored versions; a changed or missing file is exit 2, named.
    check = project.run("xl", "check-env")
    assert check.returncode == 0, check.stderr
    assert (
        "vendored                         openpyxl 3.1.5 (aetherflow_vendor/openpyxl-3.1.5)"
        in check.stdout
    )
    assert "package openpyxl                 importable" in check.stdout
    init = project.dist / "aetherflow_vendor/openpyxl-3.1.5/openpyxl/__init__.py"
    init.write_text(init.read_text() + "# edited on the host\n")
    (project.dist / "aetherflow_vendor/et-xmlfile-2.0.0/et_xmlfile.py").unlink()
    broken = project.run("xl", "check-env")
    assert broken.returncode == 2
    assert "  changed: aetherflow_vendor/openpyxl-3.1.5/openpyxl/__init__.py" in broken.stderr
    assert "  missing: aetherflow_vendor/et-xmlfile-2.0.0/et_xmlfile.py" in broken.stderr
    # Two compiles from the same wheelhouse, elsewhere: the same bytes.
    other = project.root / "elsewhere"
    shutil.copytree(project.flows, other / "flows")
    shutil.copytree(house, other / "wheels")
    again = run_cli(
        [
            "compile",
            str(other / "flows"),
            "-o",
            str(other / "dist"),
            "--wheelhouse",
            str(other / "wheels"),
            "--no-cache",
        ]
    )
    assert again.exit_code == 0
    first = run_cli(
        [
            "compile",
            str(project.flows),
            "-o",
            str(project.root / "fresh"),
            "--wheelhouse",
            str(house),
        ]
    )
    assert first.exit_code == 0
    assert _tree(other / "dist") == _tree(project.root / "fresh")
    sbom = json.loads((other / "dist" / "sbom.cdx.json").read_text())
    assert sbom["bomFormat"] == "CycloneDX" and "timestamp" not in sbom["metadata"]
    assert [(c["name"], c["version"], c["purl"]) for c in sbom["components"]] == [
        ("et_xmlfile", "2.0.0", "pkg:pypi/et-xmlfile@2.0.0"),
        ("openpyxl", "3.1.5", "pkg:pypi/openpyxl@3.1.5"),
    ]


def _tree(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file() and "__pycache__" not in p.parts
    }


@pytest.mark.e2e
def test_verify_names_each_changed_missing_or_extra_file(project: Project) -> None:
    project.write_flow("p.yaml", project.header("p") + PLAIN_FLOW)
    project.compile()
    ok = project.run("p", "verify")
    assert ok.returncode == 0 and ok.stdout.endswith(
        " files as compiled (manifest.json)\n"
    ), ok.stderr
    (project.dist / "aetherflow_runtime" / "logs.py").write_text("# replaced\n")
    (project.dist / "aetherflow_runtime" / "results.py").unlink()
    (project.dist / "notes.txt").write_text("left here\n")
    project.run("p", "plan")  # writes __pycache__ folders: not the dist's files, never reported
    bad = project.run("p", "verify")
    assert bad.returncode == 2
    assert bad.stderr.splitlines()[1:] == [
        "  changed: aetherflow_runtime/logs.py",
        "  missing: aetherflow_runtime/results.py",
        "  extra: notes.txt",
    ]


@pytest.mark.e2e
def test_the_archive_is_the_same_from_any_path_and_checks_with_sha256sum(project: Project) -> None:
    project.write_flow("p.yaml", project.header("p") + PLAIN_FLOW)
    archives = []
    for name in ("a", "b"):
        out = project.root / name
        result = run_cli(
            [
                "compile",
                str(project.flows),
                "-o",
                str(out / "dist"),
                "--archive",
                str(out / "pub" / "dist.tar.gz"),
            ]
        )
        assert result.exit_code == 0, result.stdout
        archives.append((out / "pub" / "dist.tar.gz").read_bytes())
    assert archives[0] == archives[1]
    data = archives[0]
    assert (
        data[:2] == b"\x1f\x8b" and data[3] == 0 and data[4:8] == b"\0\0\0\0"
    )  # no name, no mtime
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        members = tar.getmembers()
        names = [m.name for m in members]
        assert names == sorted(names) and "p.py" in names and "manifest.json" in names
        assert all(m.mtime == 0 and m.uid == 0 and m.gid == 0 and m.uname == "" for m in members)
        assert {
            m.name: oct(m.mode)
            for m in members
            if m.name in ("p.py", "manifest.json", "aetherflow_runtime")
        } == {"p.py": "0o755", "manifest.json": "0o644", "aetherflow_runtime": "0o755"}
        dist = project.root / "a" / "dist"
        assert tar.extractfile("p.py").read() == (dist / "p.py").read_bytes()  # type: ignore[union-attr]
    assert gzip.decompress(data)  # a plain gzip stream
    sums = project.root / "a" / "pub" / "SHA256SUMS"
    assert sums.read_text() == f"{hashlib.sha256(data).hexdigest()}  dist.tar.gz\n"
    check = subprocess.run(
        ["sha256sum", "-c", "SHA256SUMS"], cwd=sums.parent, capture_output=True, text=True
    )
    assert check.returncode == 0 and check.stdout == "dist.tar.gz: OK\n"


@pytest.mark.parametrize("damage", ["record", "escape"])
def test_a_damaged_wheel_is_refused_and_nothing_is_written(project: Project, damage: str) -> None:
    project.write_flow("xl.yaml", project.header("xl") + EXCEL_FLOW)
    house = project.root / "house"
    if damage == "escape":  # a wheel that would write next to the dist
        make_wheel(
            house,
            "openpyxl",
            "3.1.5",
            modules={"openpyxl/__init__.py": "", "../../evil.py": "boom"},
        )
    else:  # a file that is not what its RECORD says
        wheel = make_wheel(house, "openpyxl", "3.1.5", modules={"openpyxl/__init__.py": "x = 1\n"})
        with zipfile.ZipFile(wheel) as original:
            entries = {n: original.read(n) for n in original.namelist()}
        entries["openpyxl/__init__.py"] = b"x = 2\n"
        with zipfile.ZipFile(wheel, "w") as rewritten:
            for name, data in entries.items():
                rewritten.writestr(name, data)
    result = run_cli(
        ["compile", str(project.flows), "-o", str(project.dist), "--wheelhouse", str(house)]
    )
    assert result.exit_code == 2, result.stdout
    assert (
        "AF323 flow 'xl', step 'check' (excel_validate_template): wheel openpyxl-3.1.5-py3-none-any.whl "
        "cannot be unpacked: " in result.stdout
    )
    assert not project.dist.exists() and not (project.root / "evil.py").exists()


def test_choices_follow_pip_pre_releases_python_versions_and_older_platforms(
    tmp_path: Path,
) -> None:
    make_wheel(tmp_path, "lib", "1.0")
    make_wheel(tmp_path, "lib", "2.0b1")  # a pre-release: only when nothing else fits
    make_wheel(tmp_path, "lib", "1.5", requires_python=">=3.99")  # not for these hosts
    make_wheel(tmp_path, "old", "1.0", tag="cp311-cp311-manylinux_2_5_x86_64.manylinux1_x86_64")
    make_wheel(tmp_path, "beta", "1.0rc1")
    house = Wheelhouse(str(tmp_path))
    target = target_for("3.11", ["manylinux2014_x86_64"])
    assert [c.dirname for c in house.resolve([Need("lib", "t")], target)] == ["lib-1.0"]
    assert [c.dirname for c in house.resolve([Need("old", "t")], target)] == [
        "old-1.0"
    ]  # glibc 2.5 runs on 2.17
    assert [c.dirname for c in house.resolve([Need("beta", "t")], target)] == [
        "beta-1.0rc1"
    ]  # nothing else


def test_one_flow_cannot_load_two_versions_of_one_package(project: Project) -> None:
    project.write_flow(
        "mix.yaml",
        project.header("mix") + """\
resources:
  remote: {kind: sftp, driver: paramiko, config: {host: h, user: u, password: p}}
jobs:
  - id: a
    steps:
      - {id: check, type: excel_validate_template, inputs: {template_path: /t.xlsx, required_names: [A]}}
      - {id: list, type: sftp_list_files, inputs: {resource: remote, remote_dir: /}}
""",
    )
    house = project.root / "house"
    make_wheel(house, "openpyxl", "3.1.5", requires=("et_xmlfile",))
    make_wheel(house, "paramiko", "3.0", requires=("et_xmlfile<2",))
    make_wheel(house, "et_xmlfile", "1.1.0")
    make_wheel(house, "et_xmlfile", "2.0.0")
    result = run_cli(
        ["compile", str(project.flows), "-o", str(project.dist), "--wheelhouse", str(house)]
    )
    assert result.exit_code == 2
    assert (
        "et_xmlfile (for openpyxl) takes et_xmlfile-2.0.0-py3-none-any.whl, but et_xmlfile<2 (for paramiko) "
        "takes et_xmlfile-1.1.0-py3-none-any.whl: one flow can load one version of et-xmlfile"
        in result.stdout
    )


def test_unreadable_metadata_is_refused_not_a_traceback(project: Project) -> None:
    project.write_flow("xl.yaml", project.header("xl") + EXCEL_FLOW)
    house = project.root / "house"
    make_wheel(house, "openpyxl", "3.1.5", requires=("et_xmlfile >>2",))
    result = run_cli(
        ["compile", str(project.flows), "-o", str(project.dist), "--wheelhouse", str(house)]
    )
    assert (
        result.exit_code == 2
        and "wheel openpyxl-3.1.5-py3-none-any.whl cannot be read: " in result.stdout
    )


def test_an_archive_inside_the_output_or_with_check_is_refused(project: Project) -> None:
    project.write_flow("p.yaml", project.header("p") + PLAIN_FLOW)
    inside = run_cli(
        [
            "compile",
            str(project.flows),
            "-o",
            str(project.dist),
            "--archive",
            str(project.dist / "x.tar.gz"),
        ]
    )
    assert (
        inside.exit_code == 2 and "is inside the output directory" in inside.stdout + inside.stderr
    )
    checking = run_cli(
        [
            "compile",
            str(project.flows),
            "-o",
            str(project.dist),
            "--check",
            "--archive",
            str(project.root / "x.tar.gz"),
        ]
    )
    assert checking.exit_code == 2 and "--check writes none" in checking.stdout + checking.stderr
    assert not project.dist.exists()


@pytest.mark.e2e
def test_verify_with_a_damaged_runtime_or_an_unreadable_file(project: Project) -> None:
    project.write_flow("p.yaml", project.header("p") + PLAIN_FLOW)
    project.compile()
    (project.dist / "aetherflow_runtime" / "logs.py").unlink()
    (project.dist / "aetherflow_runtime" / "logs.py").symlink_to(project.root / "nowhere")
    unreadable = project.run("p", "verify")
    assert (
        unreadable.returncode == 2
        and "  unreadable: aetherflow_runtime/logs.py" in unreadable.stderr
    )
    (project.dist / "aetherflow_runtime" / "vendored.py").unlink()
    damaged = project.run("p", "verify")  # verify.py runs alone: it lists what else is gone
    assert (
        damaged.returncode == 2
        and "  missing: aetherflow_runtime/vendored.py" in damaged.stderr
        and "Traceback" not in damaged.stderr
    )


def test_the_kubernetes_configmap_leaves_vendored_packages_out(project: Project) -> None:
    project.write_flow("xl.yaml", project.header("xl") + EXCEL_FLOW)
    (project.root / "scheduler.yaml").write_text(
        f"items:\n  - {{id: n, cron: '0 1 * * *', flow_yaml: {project.flows / 'xl.yaml'}}}\n"
    )
    house = _openpyxl_house(project.root / "house")
    project.compile("--wheelhouse", str(house), "--schedule", str(project.root / "scheduler.yaml"))
    configmap = (project.dist / "schedule" / "kubernetes" / "configmap.yaml").read_text()
    assert (
        "aetherflow_vendor__" not in configmap and "sbom.cdx.json" not in configmap
    )  # no such keys
    assert "# It leaves out aetherflow_vendor/ (--wheelhouse)" in configmap
    assert (project.dist / "aetherflow_vendor" / "openpyxl-3.1.5").is_dir()
