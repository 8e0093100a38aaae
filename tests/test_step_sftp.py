"""sftp_* steps in compiled artifacts, against a real SFTP server on loopback (asyncssh)."""

from __future__ import annotations

import json
import textwrap

from conftest import Project
from peers import SftpServer


def _flow(
    project: Project, server: SftpServer, steps: str, auth: str | None = None, extra: str = ""
) -> None:
    auth = auth or f"password: {server.password}"
    project.write_flow(
        "s.yaml",
        project.header("s") + textwrap.dedent(f"""\
        resources:
          remote:
            kind: sftp
            driver: paramiko
            config: {{host: 127.0.0.1, port: {server.port}, user: {server.user}, {auth}{extra}}}
            options: {{timeout: 10}}
        jobs:
          - id: transfer
            steps:
        """) + textwrap.indent(textwrap.dedent(steps), "      "),
    )
    project.compile()


def _remote_files(server: SftpServer) -> None:
    for rel, text in {
        "inbox/b.csv": "b\n",
        "inbox/a.csv": "a\n",
        "inbox/sub/c.csv": "c\n",
        "inbox/readme.txt": "r\n",
    }.items():
        path = server.root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


STEPS = """\
- id: list
  type: sftp_list_files
  inputs: {resource: remote, remote_dir: /inbox, pattern: "*.csv", recursive: true}
  outputs: {count: "{{result.count}}"}
- id: download
  type: sftp_download_files
  inputs: {resource: remote, files: "{{steps.list.files}}", dest_dir: got}
- id: upload
  type: sftp_upload_files
  inputs: {resource: remote, items: "{{steps.download.local_files}}", remote_dir: /outbox/today}
  outputs: {uploaded: "{{result.count}}"}
- id: delete
  type: sftp_delete_files
  inputs: {resource: remote, files: "{{steps.list.files}}"}
"""


def test_list_download_upload_delete(project: Project, sftp_server: SftpServer) -> None:
    _remote_files(sftp_server)
    _flow(project, sftp_server, STEPS)
    run = project.run("s", "run", "--run-id", "r1", host_packages=True)
    assert run.returncode == 0, run.stderr
    assert project.status("s", "r1")["jobs"]["transfer"]["outputs"] == {"count": 3, "uploaded": 3}
    got = project.work / "s" / "transfer" / "r1" / "artifacts" / "got"
    assert {str(p.relative_to(got)): p.read_text() for p in got.rglob("*.csv")} == {
        "a.csv": "a\n",
        "b.csv": "b\n",
        "sub/c.csv": "c\n",
    }
    outbox = sftp_server.root / "outbox" / "today"
    assert sorted(p.name for p in outbox.iterdir()) == ["a.csv", "b.csv", "c.csv"]
    inbox = sftp_server.root / "inbox"
    assert sorted(str(p.relative_to(inbox)) for p in inbox.rglob("*") if p.is_file()) == [
        "readme.txt"
    ]
    manifest = project.work / "s" / "transfer" / "r1" / "manifests" / "upload.manifest.json"
    assert [entry["remote_path"] for entry in json.loads(manifest.read_text())] == [
        "/outbox/today/a.csv",
        "/outbox/today/b.csv",
        "/outbox/today/c.csv",
    ]
    assert sftp_server.password not in run.stderr + run.stdout


def test_listing_files_as_the_engine_does(project: Project, sftp_server: SftpServer) -> None:
    _remote_files(sftp_server)
    _flow(
        project,
        sftp_server,
        """\
        - id: flat
          type: sftp_list_files
          inputs: {resource: remote, remote_dir: /inbox/}
          outputs: {files: "{{result.files}}"}
        """,
    )
    project.run("s", "run", "--run-id", "r1", host_packages=True, check_exit=0)
    files = project.status("s", "r1")["jobs"]["transfer"]["outputs"]["files"]
    assert [(f["rel_path"], f["path"], f["is_dir"], f["size"]) for f in files] == [
        ("a.csv", "/inbox/a.csv", False, 2),
        ("b.csv", "/inbox/b.csv", False, 2),
        ("readme.txt", "/inbox/readme.txt", False, 2),
        ("sub", "/inbox/sub", True, None),
    ]
    assert all(isinstance(f["mtime"], int) for f in files)


def test_nothing_to_fetch_skips_the_job(project: Project, sftp_server: SftpServer) -> None:
    (sftp_server.root / "inbox").mkdir()
    _flow(
        project,
        sftp_server,
        """\
        - id: list
          type: sftp_list_files
          inputs: {resource: remote, remote_dir: /inbox}
          on_no_data: skip_job
        - id: never
          type: sftp_download_files
          inputs: {resource: remote, files: "{{steps.list.files}}", dest_dir: got}
        """,
    )
    project.run("s", "run", "--run-id", "r1", host_packages=True, check_exit=0)
    job = project.status("s", "r1")["jobs"]["transfer"]
    assert job["status"] == "SKIPPED" and job["steps"] == {"list": "SKIPPED", "never": "SKIPPED"}


def test_key_auth_and_known_hosts(project: Project, sftp_server: SftpServer) -> None:
    _remote_files(sftp_server)
    known = project.root / "known_hosts"
    known.write_text(sftp_server.host_key_line + "\n")
    step = """\
        - id: list
          type: sftp_list_files
          inputs: {resource: remote, remote_dir: /inbox}
        """
    _flow(
        project,
        sftp_server,
        step,
        auth=f"pkey_path: {sftp_server.client_key}",
        extra=f", known_hosts: {known}",
    )
    project.run("s", "run", host_packages=True, check_exit=0)

    other = project.root / "other_known_hosts"
    other.write_text(
        f"[127.0.0.1]:{sftp_server.port} ssh-ed25519 "
        "AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl\n"
    )
    _flow(
        project,
        sftp_server,
        step,
        auth=f"pkey_path: {sftp_server.client_key}",
        extra=f", known_hosts: {other}",
    )
    refused = project.run("s", "run", host_packages=True)
    assert refused.returncode == 1
    assert (
        "sftp:paramiko remote: cannot connect to 127.0.0.1 (BadHostKeyException" in refused.stderr
    )


def test_wrong_password_and_missing_paramiko(project: Project, sftp_server: SftpServer) -> None:
    _flow(
        project,
        sftp_server,
        """\
        - id: list
          type: sftp_list_files
          inputs: {resource: remote, remote_dir: /}
        """,
        auth="password: not-it",
    )
    wrong = project.run("s", "run", host_packages=True)
    assert (
        wrong.returncode == 1 and "(AuthenticationException: Authentication failed" in wrong.stderr
    )
    assert "not-it" not in wrong.stderr

    bare = project.run("s", "run")  # -S: no paramiko
    assert bare.returncode == 1
    assert (
        "driver sftp:paramiko needs the Python package 'paramiko' on this host (pip install paramiko)"
        in bare.stderr
    )
    check = project.run("s", "check-env")
    assert check.returncode == 2 and "package paramiko                 MISSING" in check.stdout
