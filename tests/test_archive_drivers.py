"""The archive drivers that run programs or need a package: archive:os (the host's zip and
unzip, for real), archive:external (programs the resource names: zip/unzip and tar here,
for real) and archive:pyminizip (the real package from the test environment)."""

from __future__ import annotations

import io
import json
import os
import shutil
import stat
import tarfile
import textwrap
import zipfile
from pathlib import Path

import pytest

from conftest import Project

pytestmark = pytest.mark.skipif(
    not (shutil.which("zip") and shutil.which("unzip")),
    reason="the zip and unzip programs are missing (scripts/ensure-test-servers.sh)",
)

ZIP_CMD = '[zip, -q, -P, "{password}", "{archive}", "{files}"]'
UNZIP_CMD = '[unzip, -q, -P, "{password}", "{archive}", -d, "{dest}"]'


def _flow(project: Project, steps: str, resources: str = "") -> None:
    text = project.header("z")
    if resources:
        text += "resources:\n" + textwrap.indent(textwrap.dedent(resources), "  ")
    text += "jobs:\n  - id: pack\n    steps:\n" + textwrap.indent(textwrap.dedent(steps), "      ")
    project.write_flow("z.yaml", text)
    project.compile()


def _artifacts(project: Project, run_id: str = "r1") -> Path:
    return project.work / "z" / "pack" / run_id / "artifacts"


def _inputs(project: Project) -> Path:
    src = project.work / "data"
    (src / "sub").mkdir(parents=True)
    for name, text in {
        "b.csv": "b\n",
        "a.csv": "a\n",
        "sub/c.csv": "c\n",
        "-dash.csv": "d\n",
    }.items():
        (src / name).write_text(text)
    return src


def _tree(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): p.read_text() for p in sorted(root.rglob("*")) if p.is_file()}


def _encrypted(archive: Path, password: bytes) -> dict[str, str]:
    """Members of a ZipCrypto archive, read back with the standard library."""
    with zipfile.ZipFile(archive) as zf:
        assert all(info.flag_bits & 0x1 for info in zf.infolist()), "every member is encrypted"
        zf.setpassword(password)
        return {name: zf.read(name).decode() for name in zf.namelist()}


def _hostile_zip(path: Path, kind: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("fine.txt", "ok")
        if kind == "through-link":
            zf.writestr("sub/x.txt", "evil")
        elif kind == "link":
            info = zipfile.ZipInfo("link")
            info.external_attr = (stat.S_IFLNK | 0o777) << 16
            zf.writestr(info, "/etc")
            zf.writestr("link/passwd", "evil")
        else:
            zf.writestr(
                zipfile.ZipInfo(
                    {
                        "slip": "../../escaped.txt",
                        "abs": "/tmp/af-os-absolute.txt",
                        "backslash": "..\\..\\escaped.txt",
                    }[kind]
                ),
                "evil",
            )
    return path


# --- archive:os ----------------------------------------------------------------------------


def test_os_zip_and_unzip_with_a_password(project: Project) -> None:
    src = _inputs(project)
    _flow(
        project,
        f"""\
        - id: zip
          type: zip
          inputs: {{resource: tools, src_dir: {str(src)!r}, items: ["{src}"], dest_path: out/data.zip,
                   password: "{{{{env.ZIP_PW}}}}"}}
          outputs: {{count: "{{{{result.count}}}}", driver: "{{{{result.driver}}}}", encrypted: "{{{{result.password}}}}"}}
        - id: unzip
          type: unzip
          inputs: {{resource: tools, archives: out/data.zip, dest_dir: restored, password: "{{{{env.ZIP_PW}}}}"}}
          outputs: {{unzipped: "{{{{result.unzipped}}}}"}}
        """,
        resources="tools: {kind: archive, driver: os}\n",
    )
    assert json.loads((project.dist / "manifest.json").read_text())["flows"]["z"]["packages"] == []
    run = project.run("z", "run", "--run-id", "r1", env={"ZIP_PW": "pw 1$x"}, check_exit=0)
    assert "pw 1$x" not in run.stderr + run.stdout
    archive = _artifacts(project) / "out" / "data.zip"
    assert _encrypted(archive, b"pw 1$x") == {
        "-dash.csv": "d\n",
        "a.csv": "a\n",
        "b.csv": "b\n",
        "sub/c.csv": "c\n",
    }
    outputs = project.status("z", "r1")["jobs"]["pack"]["outputs"]
    restored = _artifacts(project) / "restored" / "out"
    assert outputs["count"] == 4 and outputs["driver"] == "os" and outputs["encrypted"] is True
    assert outputs["unzipped"] == [{"dest_dir": str(restored), "password": True, "driver": "os"}]
    assert _tree(restored) == {
        "-dash.csv": "d\n",
        "a.csv": "a\n",
        "b.csv": "b\n",
        "sub/c.csv": "c\n",
    }
    assert not list(_artifacts(project).rglob("*.tmp"))
    assert "pw 1$x" not in (project.dist / "z.py").read_text()


def test_os_runs_the_configured_programs_with_the_engines_options(project: Project) -> None:
    src = _inputs(project)
    log = project.root / "argv.log"
    bin_dir = project.root / "bin"
    bin_dir.mkdir()
    for name in ("zip", "unzip"):  # wrappers that record their arguments, then run the real program
        wrapper = bin_dir / f"my{name}"
        wrapper.write_text(
            f'#!/bin/sh\nprintf "%s\\n" "{name}" "$@" "--" >> {log}\nexec {shutil.which(name)} "$@"\n'
        )
        wrapper.chmod(0o755)
    _flow(
        project,
        f"""\
        - id: zip
          type: zip
          inputs: {{resource: tools, src_dir: {str(src)!r}, items: ["{src}/a.csv", "{src}/-dash.csv"],
                   dest_path: d.zip, compression: stored, password: pw}}
        - id: unzip
          type: unzip
          inputs: {{resource: tools, archives: d.zip, dest_dir: out, overwrite: false, members: [a.csv], password: pw}}
        """,
        resources=f"""\
        tools: {{kind: archive, driver: os, config: {{zip_cmd: {str(bin_dir / "myzip")!r},
                 unzip_cmd: {str(bin_dir / "myunzip")!r}, quiet: false}}}}
        """,
    )
    project.run("z", "run", "--run-id", "r1", check_exit=0)
    out = _artifacts(project)
    calls = log.read_text().split("--\n")[:-1]
    assert calls[0].splitlines() == [
        "zip",
        "-r",
        str(out / "d.zip.tmp"),
        "-P",
        "pw",
        "-0",
        "./-dash.csv",
        "a.csv",
    ]
    assert calls[1].splitlines() == [
        "unzip",
        "-n",
        "-P",
        "pw",
        str(out / "d.zip"),
        "a.csv",
        "-d",
        str(out / "out"),
    ]
    with zipfile.ZipFile(out / "d.zip") as zf:
        assert [i.compress_type for i in zf.infolist()] == [zipfile.ZIP_STORED] * 2
        assert zf.namelist() == ["-dash.csv", "a.csv"]
    assert _tree(out / "out") == {"a.csv": "a\n"}


def test_os_overwrite_false_keeps_existing_files_and_a_wrong_password_fails(
    project: Project,
) -> None:
    src = _inputs(project)
    _flow(
        project,
        f"""\
        - id: zip
          type: zip
          inputs: {{resource: tools, src_dir: {str(src)!r}, items: ["{src}/a.csv", "{src}/b.csv"], dest_path: d.zip,
                   password: right}}
        - id: keep
          type: unzip
          inputs: {{resource: tools, archives: d.zip, dest_dir: out, overwrite: false, password: right}}
        - id: wrong
          type: unzip
          inputs: {{resource: tools, archives: d.zip, dest_dir: other, password: "{{{{env.PW}}}}"}}
        """,
        resources="tools: {kind: archive, driver: os}\n",
    )
    out = _artifacts(project) / "out"
    out.mkdir(parents=True)
    (out / "a.csv").write_text("mine\n")
    run = project.run("z", "run", "--run-id", "r1", env={"PW": "wrong-one"})
    assert run.returncode == 1
    assert _tree(out) == {"a.csv": "mine\n", "b.csv": "b\n"}
    assert "archive:os: unzip exited with status 82 while extracting " in run.stderr
    assert "wrong-one" not in run.stderr, "the password is never shown"
    assert project.status("z", "r1")["jobs"]["pack"]["steps"] == {
        "zip": "SUCCESS",
        "keep": "SUCCESS",
        "wrong": "FAILED",
    }


@pytest.mark.parametrize("kind", ["slip", "abs", "backslash", "link", "through-link"])
@pytest.mark.parametrize("driver", ["os", "external"])
def test_hostile_archives_are_refused_before_any_program_runs(
    project: Project, driver: str, kind: str
) -> None:
    archive = _hostile_zip(project.work / "in" / f"{kind}.zip", kind)
    outside = project.root / "outside"
    if kind == "through-link":  # a link already in the destination must not lead the program out
        outside.mkdir()
        target = _artifacts(project) / "out" / archive.name
        target.mkdir(parents=True)
        (target / "sub").symlink_to(outside)
    _flow(
        project,
        f"""\
        - id: unzip
          type: unzip
          inputs: {{resource: tools, archives: {str(archive)!r}, dest_dir: out}}
        """,
        resources=(
            f"tools: {{kind: archive, driver: {driver}, config: {{unzip_cmd: {UNZIP_CMD}}}}}\n"
            if driver == "external"
            else "tools: {kind: archive, driver: os}\n"
        ),
    )
    run = project.run("z", "run", "--run-id", "r1")
    assert run.returncode == 1, run.stderr
    assert "refusing to extract it" in run.stderr
    assert ("is a symbolic link in" if kind == "link" else "archive member ") in run.stderr
    dest = _artifacts(project) / "out"
    assert not any(p.is_file() for p in dest.rglob("*")), "nothing is extracted"
    assert [p.name for p in dest.rglob("*") if p.is_symlink()] == (
        ["sub"] if kind == "through-link" else []
    )
    assert (
        not (project.work / "escaped.txt").exists() and not Path("/tmp/af-os-absolute.txt").exists()
    )
    assert not outside.exists() or list(outside.iterdir()) == []


def test_os_refuses_what_is_not_a_zip_and_names_missing_programs(project: Project) -> None:
    bogus = project.work / "in" / "not.zip"
    bogus.parent.mkdir(parents=True)
    bogus.write_text("plain text")
    _flow(
        project,
        f"""\
        - id: unzip
          type: unzip
          inputs: {{resource: tools, archives: {str(bogus)!r}, dest_dir: out}}
        """,
        resources="tools: {kind: archive, driver: os}\n",
    )
    run = project.run("z", "run", "--run-id", "r1")
    assert run.returncode == 1
    assert (
        f"archive:os: {bogus} is not a zip archive, so its members cannot be checked" in run.stderr
    )
    no_tools = project.run("z", "run", "--run-id", "r2", env={"PATH": str(project.root)})
    assert no_tools.returncode == 1
    assert (
        "archive:os needs the program 'unzip' on PATH (config.unzip_cmd; on Debian and Ubuntu: "
        "apt-get install unzip)" in no_tools.stderr
    )


def test_encrypted_zip_without_a_resource_uses_the_programs_when_pyzipper_is_missing(
    project: Project,
) -> None:
    src = _inputs(project)
    _flow(
        project,
        f"""\
        - id: zip
          type: zip
          inputs: {{src_dir: {str(src)!r}, items: ["{src}/a.csv"], dest_path: s.zip, password: pw}}
          outputs: {{driver: "{{{{result.driver}}}}"}}
        - id: unzip
          type: unzip
          inputs: {{archives: s.zip, dest_dir: opened, password: pw}}
        """,
    )
    # -S: no pyzipper; zip and unzip on PATH: the engine's choice is archive:os (ZipCrypto).
    project.run("z", "run", "--run-id", "r1", check_exit=0)
    assert project.status("z", "r1")["jobs"]["pack"]["outputs"] == {"driver": "os"}
    assert _encrypted(_artifacts(project) / "s.zip", b"pw") == {"a.csv": "a\n"}
    assert _tree(_artifacts(project) / "opened") == {"a.csv": "a\n"}
    # With pyzipper on the host, AES as before.
    project.run("z", "run", "--run-id", "r2", host_packages=True, check_exit=0)
    assert project.status("z", "r2")["jobs"]["pack"]["outputs"] == {"driver": "pyzipper"}


# --- archive:external ------------------------------------------------------------------------


def test_external_with_zip_and_unzip_templates(project: Project) -> None:
    src = _inputs(project)
    _flow(
        project,
        f"""\
        - id: zip
          type: zip
          inputs: {{resource: tools, src_dir: {str(src)!r}, items: ["{src}"], dest_path: e.zip, password: "{{{{env.PW}}}}"}}
          outputs: {{count: "{{{{result.count}}}}", driver: "{{{{result.driver}}}}"}}
        - id: unzip
          type: unzip
          inputs: {{resource: tools, archives: e.zip, dest_dir: out, password: "{{{{env.PW}}}}"}}
          outputs: {{unzipped: "{{{{result.unzipped}}}}"}}
        """,
        resources=f"tools: {{kind: archive, driver: external, config: {{zip_cmd: {ZIP_CMD}, unzip_cmd: {UNZIP_CMD}}}}}\n",
    )
    project.run("z", "run", "--run-id", "r1", env={"PW": "ext-pw"}, check_exit=0)
    out = _artifacts(project)
    assert _encrypted(out / "e.zip", b"ext-pw") == {
        "-dash.csv": "d\n",
        "a.csv": "a\n",
        "b.csv": "b\n",
        "sub/c.csv": "c\n",
    }
    outputs = project.status("z", "r1")["jobs"]["pack"]["outputs"]
    assert outputs["count"] == 4 and outputs["driver"] == "external"
    assert outputs["unzipped"] == [
        {"dest_dir": str(out / "out"), "password": True, "driver": "external"}
    ]
    assert _tree(out / "out") == {
        "-dash.csv": "d\n",
        "a.csv": "a\n",
        "b.csv": "b\n",
        "sub/c.csv": "c\n",
    }


def test_external_with_tar_and_its_member_checks(project: Project) -> None:
    src = _inputs(project)
    _flow(
        project,
        f"""\
        - id: pack
          type: zip
          inputs: {{resource: tools, src_dir: {str(src)!r}, items: ["{src}/sub", "{src}/a.csv"], dest_path: t.tar}}
        - id: unpack
          type: unzip
          inputs: {{resource: tools, archives: "{{{{env.ARCHIVE:t.tar}}}}", dest_dir: out}}
        """,
        resources="""\
        tools:
          kind: archive
          driver: external
          config: {zip_cmd: [tar, -cf, "{archive}", "{files}"], unzip_cmd: [tar, -xf, "{archive}", -C, "{dest}"]}
        """,
    )
    project.run("z", "run", "--run-id", "r1", check_exit=0)
    out = _artifacts(project)
    with tarfile.open(out / "t.tar") as tf:
        assert tf.getnames() == ["a.csv", "sub/c.csv"]
    assert _tree(out / "out") == {"a.csv": "a\n", "sub/c.csv": "c\n"}

    hostile = project.work / "in" / "evil.tar"
    hostile.parent.mkdir(parents=True)
    with tarfile.open(hostile, "w") as tf:
        data = b"ok"
        info = tarfile.TarInfo("fine.txt")
        info.size = len(data)
        tf.addfile(info, io.BytesIO(data))
        link = tarfile.TarInfo("passwd")
        link.type, link.linkname = tarfile.SYMTYPE, "/etc/passwd"
        tf.addfile(link)
    run = project.run("z", "run", "--run-id", "r2", env={"ARCHIVE": str(hostile)})
    assert run.returncode == 1
    assert (
        "archive member 'passwd' is a link in " in run.stderr
        and "refusing to extract it" in run.stderr
    )
    assert not (_artifacts(project, "r2") / "out" / "fine.txt").exists()


def test_external_errors_are_clear(project: Project) -> None:
    src = _inputs(project)
    _flow(
        project,
        f"""\
        - id: fails
          type: zip
          inputs: {{resource: failing, src_dir: {str(src)!r}, items: ["{src}/a.csv"], dest_path: f.zip,
                   password: hush-hush}}
        """,
        resources="""\
        failing: {kind: archive, driver: external, config: {zip_cmd: [sh, -c, "echo using {password} >&2; exit 3"]}}
        """,
    )
    run = project.run("z", "run", "--run-id", "r1")
    assert run.returncode == 1
    assert "archive:external: sh exited with status 3 while writing " in run.stderr
    assert "using ***" in run.stderr and "hush-hush" not in run.stderr
    assert (
        not (_artifacts(project) / "f.zip").exists()
        and not (_artifacts(project) / "f.zip.tmp").exists()
    )

    cases = {
        "nothing": (
            "{kind: archive, driver: external, config: {zip_cmd: ['true']}}",
            "archive:external: the archive program succeeded but did not write ",
        ),
        "placeholder": (
            "{kind: archive, driver: external, config: {zip_cmd: [zip, '{output}']}}",
            "archive:external config.zip_cmd: cannot fill in the argument '{output}' (placeholders: "
            "{archive}, {dest}, {password}, {base_dir}, {files}; write {{ and }} for braces)",
        ),
        "unset": (
            "{kind: archive, driver: external, config: {unzip_cmd: [unzip]}}",
            "archive:external resource tools needs config.zip_cmd, a list of program and arguments",
        ),
        "missing": (
            "{kind: archive, driver: external, config: {zip_cmd: [no-such-archiver, '{archive}']}}",
            "archive:external could not start no-such-archiver while writing ",
        ),
    }
    for run_id, (resource, message) in cases.items():
        _flow(
            project,
            f"""\
            - id: zip
              type: zip
              inputs: {{resource: tools, src_dir: {str(src)!r}, items: ["{src}/a.csv"], dest_path: x.zip}}
            """,
            resources=f"tools: {resource}\n",
        )
        run = project.run("z", "run", "--run-id", run_id)
        assert run.returncode == 1 and message in run.stderr, (run_id, run.stderr)

    archive = project.work / "in" / "ok.zip"
    archive.parent.mkdir(parents=True)
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("fine.txt", "ok")
    _flow(
        project,
        f"""\
        - id: unzip
          type: unzip
          inputs: {{resource: tools, archives: {str(archive)!r}, dest_dir: out, members: [fine.txt]}}
        """,
        resources=f"tools: {{kind: archive, driver: external, config: {{unzip_cmd: {UNZIP_CMD}}}}}\n",
    )
    run = project.run("z", "run", "--run-id", "members")
    assert run.returncode == 1
    assert "archive:external cannot extract selected members (inputs.members)" in run.stderr


# --- archive:pyminizip -------------------------------------------------------------------------


def test_pyminizip_writes_zipcrypto_archives_and_does_not_extract(project: Project) -> None:
    pytest.importorskip("pyminizip")
    src = _inputs(project)
    _flow(
        project,
        f"""\
        - id: zip
          type: zip
          inputs: {{resource: mini, src_dir: {str(src)!r}, items: ["{src}/a.csv", "{src}/sub"], dest_path: m.zip,
                   password: "{{{{env.PW}}}}"}}
          outputs: {{count: "{{{{result.count}}}}", driver: "{{{{result.driver}}}}", encrypted: "{{{{result.password}}}}"}}
        - id: unzip
          type: unzip
          inputs: {{resource: plain, archives: m.zip, dest_dir: out, password: "{{{{env.PW}}}}"}}
        - id: refused
          type: unzip
          inputs: {{resource: mini, archives: m.zip, dest_dir: never, password: "{{{{env.PW}}}}"}}
        """,
        resources="""\
        mini: {kind: archive, driver: pyminizip, config: {level: 9}}
        plain: {kind: archive, driver: zipfile}
        """,
    )
    assert json.loads((project.dist / "manifest.json").read_text())["flows"]["z"]["packages"] == [
        "pyminizip"
    ]
    bare = project.run("z", "run", "--run-id", "bare", env={"PW": "p"})
    assert bare.returncode == 1
    assert (
        "driver archive:pyminizip needs the Python package 'pyminizip' on this host (pip install pyminizip)"
        in bare.stderr
    )
    check = project.run("z", "check-env", env={"PW": "p"})
    assert (
        check.returncode == 2 and "package pyminizip" in check.stdout and "MISSING" in check.stdout
    )

    run = project.run("z", "run", "--run-id", "r1", env={"PW": "mini-pw"}, host_packages=True)
    assert run.returncode == 1
    assert (
        "archive:pyminizip cannot extract archives; unzip with an archive:zipfile (ZipCrypto), "
        "archive:pyzipper, archive:os or archive:external resource" in run.stderr
    )
    out = _artifacts(project)
    assert _encrypted(out / "m.zip", b"mini-pw") == {"a.csv": "a\n", "sub/c.csv": "c\n"}
    assert _tree(out / "out") == {"a.csv": "a\n", "sub/c.csv": "c\n"}
    status = project.status("z", "r1")["jobs"]["pack"]
    assert status["steps"] == {"zip": "SUCCESS", "unzip": "SUCCESS", "refused": "FAILED"}
    assert status["outputs"] == {"count": 2, "driver": "pyminizip", "encrypted": True}
    assert not os.path.exists(out / "never" / "a.csv")


def test_pyminizip_needs_a_password_and_a_level_from_0_to_9(project: Project) -> None:
    pytest.importorskip("pyminizip")
    src = _inputs(project)
    for run_id, (config, password, message) in {
        "nopw": (
            "{}",
            "",
            "archive:pyminizip writes encrypted archives only: give the step a password, "
            "or use an archive:zipfile resource",
        ),
        "level": ("{level: 12}", "pw", "archive:pyminizip config.level must be 0 to 9, not 12"),
    }.items():
        _flow(
            project,
            f"""\
            - id: zip
              type: zip
              inputs: {{resource: mini, src_dir: {str(src)!r}, items: ["{src}/a.csv"], dest_path: m.zip,
                       password: "{password}"}}
            """,
            resources=f"mini: {{kind: archive, driver: pyminizip, config: {config}}}\n",
        )
        run = project.run("z", "run", "--run-id", run_id, host_packages=True)
        assert run.returncode == 1 and message in run.stderr, run.stderr
