"""zip and unzip in compiled artifacts, on real files and archives."""

from __future__ import annotations

import textwrap
import zipfile
from pathlib import Path

from conftest import Project


def _flow(project: Project, steps: str, resources: str = "") -> None:
    text = project.header("z")
    if resources:
        text += "resources:\n" + textwrap.indent(textwrap.dedent(resources), "  ")
    text += "jobs:\n  - id: pack\n    steps:\n" + textwrap.indent(textwrap.dedent(steps), "      ")
    project.write_flow("z.yaml", text)
    project.compile()


def _artifacts(project: Project, run_id: str = "r1") -> Path:
    return project.work / "z" / "pack" / run_id / "artifacts"


def _inputs(root: Path) -> Path:
    src = root / "in"
    (src / "sub").mkdir(parents=True)
    for name, text in {
        "b.csv": "b\n",
        "a.csv": "a\n",
        "sub/c.csv": "c\n",
        "notes.txt": "n\n",
    }.items():
        (src / name).write_text(text)
    return src


def test_zip_members_are_sorted_relative_and_unzip_restores_them(project: Project) -> None:
    src = _inputs(project.work / "data")
    _flow(
        project,
        f"""\
        - id: zip
          type: zip
          inputs: {{src_dir: {str(src)!r}, items: ["{src}/*.csv", "{src}/sub"], dest_path: out/data.zip}}
          outputs: {{count: "{{{{result.count}}}}", path: "{{{{result.output}}}}"}}
        - id: unzip
          type: unzip
          inputs: {{archives: out/data.zip, dest_dir: restored}}
        """,
    )
    project.run("z", "run", "--run-id", "r1", check_exit=0)
    archive = _artifacts(project) / "out" / "data.zip"
    with zipfile.ZipFile(archive) as zf:
        assert zf.namelist() == ["a.csv", "b.csv", "sub/c.csv"]
    outputs = project.status("z", "r1")["jobs"]["pack"]["outputs"]
    assert outputs == {"count": 3, "path": str(archive)}
    restored = _artifacts(project) / "restored" / "out"
    assert sorted(str(p.relative_to(restored)) for p in restored.rglob("*.csv")) == [
        "a.csv",
        "b.csv",
        "sub/c.csv",
    ]
    assert (restored / "sub" / "c.csv").read_text() == "c\n"


def test_zip_with_nothing_matching_skips_the_job_when_asked(project: Project) -> None:
    _flow(
        project,
        """\
        - id: zip
          type: zip
          inputs: {items: ["*.csv"], dest_path: out.zip}
          on_no_data: skip_job
        - id: after
          type: external.process
          inputs: {command: ["sh", "-c", "exit 9"]}
        """,
    )
    project.run("z", "run", "--run-id", "r1", check_exit=0)
    job = project.status("z", "r1")["jobs"]["pack"]
    assert job["status"] == "SKIPPED" and job["steps"] == {"zip": "SKIPPED", "after": "SKIPPED"}


def _hostile(path: Path, names: list[str]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("fine.txt", "ok")
        for name in names:
            zf.writestr(zipfile.ZipInfo(name), "evil")
    return path


def test_unzip_refuses_members_that_escape_and_writes_nothing(project: Project) -> None:
    for case, name in (("slip", "../../escaped.txt"), ("abs", "/tmp/af-absolute-member.txt")):
        archive = _hostile(project.work / "in" / f"{case}.zip", [name])
        _flow(
            project,
            f"""\
            - id: unzip
              type: unzip
              inputs: {{archives: {str(archive)!r}, dest_dir: out}}
            """,
        )
        run = project.run("z", "run", "--run-id", case)
        assert run.returncode == 1, run.stderr
        assert f"archive member {name!r}" in run.stderr and "refusing to extract it" in run.stderr
        dest = _artifacts(project, case) / "out"
        assert not any(
            p.is_file() for p in dest.rglob("*")
        ), "nothing is extracted from a hostile archive"
    assert (
        not (project.work / "escaped.txt").exists()
        and not Path("/tmp/af-absolute-member.txt").exists()
    )


def test_passwords_need_pyzipper_which_the_host_may_have(project: Project) -> None:
    src = _inputs(project.work / "data")
    _flow(
        project,
        f"""\
        - id: zip
          type: zip
          inputs: {{src_dir: {str(src)!r}, items: ["{src}/a.csv"], dest_path: secret.zip, password: "{{{{env.ZIP_PW}}}}"}}
        - id: unzip
          type: unzip
          inputs: {{archives: secret.zip, dest_dir: opened, password: "{{{{env.ZIP_PW}}}}"}}
        """,
    )
    # No pyzipper (-S) and no zip/unzip programs on PATH, else the engine's fallback applies
    # (archive:os; tests/test_archive_drivers.py).
    bare = project.run(
        "z", "run", "--run-id", "bare", env={"ZIP_PW": "pw-123", "PATH": str(project.root)}
    )
    assert bare.returncode == 1
    assert (
        "driver archive:pyzipper needs the Python package 'pyzipper' on this host (pip install pyzipper)"
        in bare.stderr
    )
    project.run(
        "z", "run", "--run-id", "r1", env={"ZIP_PW": "pw-123"}, host_packages=True, check_exit=0
    )
    import pyzipper

    with pyzipper.AESZipFile(_artifacts(project) / "secret.zip") as zf:
        assert zf.namelist() == ["a.csv"]
        assert zf.getinfo("a.csv").flag_bits & 0x1, "the member is encrypted"
        zf.setpassword(b"pw-123")
        assert zf.read("a.csv") == b"a\n"
    assert (_artifacts(project) / "opened" / "a.csv").read_text() == "a\n"
    assert "pw-123" not in (project.dist / "z.py").read_text()


def test_archive_resource_and_archive_default(project: Project) -> None:
    src = _inputs(project.work / "data")
    _flow(
        project,
        f"""\
        - id: zip
          type: zip
          inputs: {{src_dir: {str(src)!r}, items: ["{src}/notes.txt"], dest_path: n.zip, compression: stored}}
          outputs: {{driver: "{{{{result.driver}}}}"}}
        """,
        resources="archive_default: {kind: archive, driver: zipfile}\n",
    )
    project.run("z", "run", "--run-id", "r1", check_exit=0)
    assert project.status("z", "r1")["jobs"]["pack"]["outputs"] == {"driver": "zipfile"}
    with zipfile.ZipFile(_artifacts(project) / "n.zip") as zf:
        assert zf.getinfo("notes.txt").compress_type == zipfile.ZIP_STORED


def test_manifest_lists_pyzipper_for_password_archives_without_a_resource(project: Project) -> None:
    _flow(
        project,
        """\
        - id: zip
          type: zip
          inputs: {items: ["*.csv"], dest_path: s.zip, password: "{{env.PW}}"}
        """,
    )
    manifest = (project.dist / "manifest.json").read_text()
    assert '"packages": [\n        "pyzipper"\n      ]' in manifest
    check = project.run("z", "check-env", env={"PW": "x"})
    assert check.returncode == 2 and "package pyzipper                 MISSING" in check.stdout
