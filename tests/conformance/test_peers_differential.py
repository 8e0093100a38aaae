"""The engine and a compiled artifact against the same real peers: an SMTP server and an
SFTP server on loopback. Both runs must end the same and leave the same effects: the
same mails received, the same files downloaded, uploaded and deleted."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
from harness import Case, Side, run_artifact, run_engine

from conftest import run_cli
from peers import SftpServer, SmtpServer

pytestmark = pytest.mark.conformance


def _case(tmp_path: Path, name: str, body: str, env: dict[str, str]) -> tuple[Case, Path]:
    flows = tmp_path / "flows"
    flows.mkdir(exist_ok=True)
    path = tmp_path / f"{name}.case.yaml"
    path.write_text(textwrap.dedent(body))
    case = Case.load(path)
    case.name = name
    case.env = env
    flow_file = flows / f"{name}.yaml"
    flow_file.write_text(case.flow_text.replace(f"id: {path.stem}", f"id: {name}"))
    compiled = run_cli(["compile", str(flows), "-o", str(tmp_path / "dist")])
    assert compiled.exit_code == 0, compiled.stdout
    return case, flow_file


def _mail_view(received: list) -> list[tuple]:  # type: ignore[type-arg]
    out = []
    for mail in received:
        message = mail.message
        parts = message.get_payload() if message.is_multipart() else [message]
        out.append(
            (
                mail.sender,
                tuple(mail.recipients),
                message["Subject"],
                message["To"],
                message["Cc"],
                message["Bcc"],
                message.get_content_type(),
                tuple((p.get_content_type(), p.get_payload(decode=True)) for p in parts),
            )
        )
    return out


def test_mail_send_matches_the_engine(tmp_path: Path, smtp_server: SmtpServer) -> None:
    case, flow_file = _case(
        tmp_path,
        "mail_diff",
        f"""\
        resources:
          mailer: {{kind: mail, driver: smtp, config: {{host: 127.0.0.1, port: {smtp_server.port},
                    starttls: false, from_addr: etl@example.com}}}}
        jobs:
          - id: notify
            steps:
              - id: plain
                type: mail_send
                inputs: {{resource: mailer, to: [ops@example.com, lead@example.com], cc: audit@example.com,
                          bcc: [archive@example.com], subject: "Load {{{{env.N}}}}", body: "rows: {{{{env.N}}}}"}}
                outputs: {{sent: "{{{{result.sent}}}}"}}
              - id: rich
                type: mail_send
                inputs: {{resource: mailer, to: ops@example.com, subject: Report, html: true,
                          body: "<b>done</b>", text: done, from_addr: reports@example.com}}
        """,
        {"N": "42"},
    )
    engine = run_engine(Side(tmp_path / "engine", case), flow_file, {})
    engine_mails = _mail_view(smtp_server.received)
    smtp_server.received.clear()
    ours = run_artifact(
        Side(tmp_path / "ours", case), tmp_path / "dist" / "mail_diff.py", {}, set(engine.outputs)
    )
    assert ours.comparable()["jobs"] == engine.comparable()["jobs"], engine.detail + ours.detail
    assert ours.exit == engine.exit == "success"
    assert ours.outputs == engine.outputs
    assert _mail_view(smtp_server.received) == engine_mails
    assert len(engine_mails) == 2


def _remote_tree(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): p.read_text() for p in sorted(root.rglob("*")) if p.is_file()}


def test_sftp_steps_match_the_engine(tmp_path: Path, sftp_server: SftpServer) -> None:
    case, flow_file = _case(
        tmp_path,
        "sftp_diff",
        f"""\
        resources:
          remote: {{kind: sftp, driver: paramiko, config: {{host: 127.0.0.1, port: {sftp_server.port},
                    user: {sftp_server.user}, password: "{{{{env.SFTP_PW}}}}"}}}}
        jobs:
          - id: transfer
            steps:
              - id: list
                type: sftp_list_files
                inputs: {{resource: remote, remote_dir: /inbox, pattern: "*.csv", recursive: true}}
                outputs: {{count: "{{{{result.count}}}}", has_data: "{{{{result.has_data}}}}"}}
              - id: download
                type: sftp_download_files
                inputs: {{resource: remote, files: "{{{{steps.list.files}}}}", dest_dir: got}}
              - id: delete
                type: sftp_delete_files
                inputs: {{resource: remote, files: "{{{{steps.list.files}}}}"}}
                outputs: {{deleted: "{{{{result.is_deleted}}}}"}}
          - id: quiet
            steps:
              - id: list
                type: sftp_list_files
                inputs: {{resource: remote, remote_dir: /empty}}
                on_no_data: skip_job
        """,
        {"SFTP_PW": sftp_server.password},
    )
    results = {}
    for side_name in ("engine", "ours"):
        for rel, text in {
            "inbox/b.csv": "b\n",
            "inbox/a.csv": "a\n",
            "inbox/sub/c.csv": "c\n",
            "inbox/keep.txt": "k\n",
        }.items():
            target = sftp_server.root / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text)
        (sftp_server.root / "empty").mkdir(exist_ok=True)
        side = Side(tmp_path / side_name, case)
        if side_name == "engine":
            outcome = run_engine(side, flow_file, {})
        else:
            outcome = run_artifact(
                side,
                tmp_path / "dist" / "sftp_diff.py",
                {},
                set(results["engine"][0].outputs),
                host_packages=True,
            )
        got = side.root / "work" / "sftp_diff" / "transfer" / "conf0001" / "artifacts" / "got"
        results[side_name] = (outcome, _remote_tree(sftp_server.root), _remote_tree(got))
    engine, ours = results["engine"], results["ours"]
    assert ours[0].exit == engine[0].exit == "success", engine[0].detail + ours[0].detail
    assert ours[0].jobs == engine[0].jobs
    assert ours[0].outputs == engine[0].outputs
    assert ours[1] == engine[1] == {"inbox/keep.txt": "k\n"}
    assert ours[2] == engine[2] == {"a.csv": "a\n", "b.csv": "b\n", "sub/c.csv": "c\n"}
