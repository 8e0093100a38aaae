"""mail_send in compiled artifacts, against a real SMTP server on loopback (aiosmtpd)."""

from __future__ import annotations

import textwrap
from email.message import Message

from conftest import Project
from peers import Certificate, SmtpServer


def _text(part: Message) -> str:
    """A part's text as written (SMTP carries CRLF line ends)."""
    return part.get_payload(decode=True).decode().replace("\r\n", "\n")


def _flow(project: Project, config: str, steps: str, options: str = "{}") -> None:
    project.write_flow(
        "m.yaml",
        project.header("m") + textwrap.dedent(f"""\
        resources:
          mailer: {{kind: mail, driver: smtp, config: {config}, options: {options}}}
        jobs:
          - id: notify
            steps:
        """) + textwrap.indent(textwrap.dedent(steps), "      "),
    )
    project.compile()


def test_plain_mail_with_cc_and_bcc(project: Project, smtp_server: SmtpServer) -> None:
    _flow(
        project,
        f"{{host: 127.0.0.1, port: {smtp_server.port}, from_addr: etl@example.com}}",
        """\
        - id: send
          type: mail_send
          inputs:
            resource: mailer
            to: [ops@example.com, lead@example.com]
            cc: audit@example.com
            bcc: [archive@example.com]
            subject: "Nightly load: {{env.ROWS}} rows"
            body: "Loaded {{env.ROWS}} rows.\\nSee you tomorrow."
          outputs: {sent: "{{result.sent}}"}
        """,
    )
    project.run("m", "run", "--run-id", "r1", env={"ROWS": "42"}, check_exit=0)
    [mail] = smtp_server.received
    assert mail.sender == "etl@example.com"
    assert mail.recipients == [
        "ops@example.com",
        "lead@example.com",
        "audit@example.com",
        "archive@example.com",
    ]
    assert mail.message["Subject"] == "Nightly load: 42 rows"
    assert mail.message["To"] == "ops@example.com, lead@example.com"
    assert mail.message["Cc"] == "audit@example.com"
    assert mail.message["Bcc"] is None  # bcc is a recipient, never a header
    assert mail.message.get_content_type() == "text/plain"
    assert _text(mail.message) == "Loaded 42 rows.\nSee you tomorrow.\n"
    assert not mail.tls
    assert project.status("m", "r1")["jobs"]["notify"]["outputs"] == {"sent": True}


def test_html_mail_with_text_fallback_and_from_override(
    project: Project, smtp_server: SmtpServer
) -> None:
    _flow(
        project,
        f"{{host: 127.0.0.1, port: {smtp_server.port}, username: robot@example.com}}",
        """\
        - id: send
          type: mail_send
          inputs: {resource: mailer, to: ops@example.com, subject: Report, html: true,
                   body: "<h1>Done</h1><p>&amp; ok</p>", text: "Done", from_addr: reports@example.com}
        """,
    )
    project.run("m", "run", check_exit=0)
    [mail] = smtp_server.received
    assert mail.sender == "reports@example.com"
    assert mail.message.get_content_type() == "multipart/alternative"
    parts = {p.get_content_type(): _text(p) for p in mail.message.get_payload()}
    assert parts == {"text/plain": "Done\n", "text/html": "<h1>Done</h1><p>&amp; ok</p>\n"}


def test_starttls_and_verified_starttls(
    project: Project, smtp_tls_server: SmtpServer, localhost_cert: Certificate
) -> None:
    config = f"{{host: 127.0.0.1, port: {smtp_tls_server.port}, starttls: true, from_addr: etl@example.com}}"
    step = """\
        - id: send
          type: mail_send
          inputs: {resource: mailer, to: ops@example.com, subject: hi, body: over TLS}
        """
    _flow(project, config, step)
    project.run("m", "run", check_exit=0)
    assert [m.tls for m in smtp_tls_server.received] == [True]

    # Verifying the certificate: against its CA it passes; without that CA it fails.
    _flow(
        project,
        config,
        step,
        options=f"{{tls_verify: true, ca_file: {str(localhost_cert.cert)!r}}}",
    )
    project.run("m", "run", check_exit=0)
    _flow(project, config, step, options="{tls_verify: true}")
    failed = project.run("m", "run")
    assert (
        failed.returncode == 1
        and "mail:smtp mailer: STARTTLS failed (SSLCertVerificationError)" in failed.stderr
    )
    assert len(smtp_tls_server.received) == 2


def test_a_server_that_requires_starttls_refuses_plain_mail(
    project: Project, smtp_tls_server: SmtpServer
) -> None:
    _flow(
        project,
        f"{{host: 127.0.0.1, port: {smtp_tls_server.port}, starttls: false, from_addr: a@example.com}}",
        """\
        - id: send
          type: mail_send
          inputs: {resource: mailer, to: ops@example.com, subject: hi, body: plain}
        """,
        options="{retry: {max_attempts: 2}}",
    )
    run = project.run("m", "run")
    assert run.returncode == 1
    assert "mail:smtp mailer: sending failed after 2 attempt(s): SMTPSenderRefused" in run.stderr
    assert smtp_tls_server.received == []


def test_unreachable_server_fails_the_step_with_exit_1(project: Project) -> None:
    from peers import free_port

    _flow(
        project,
        f"{{host: 127.0.0.1, port: {free_port()}, starttls: false, from_addr: a@example.com}}",
        """\
        - id: send
          type: mail_send
          inputs: {resource: mailer, to: ops@example.com, subject: hi, body: nobody listens}
        """,
        options="{timeout: 2}",
    )
    run = project.run("m", "run")
    assert (
        run.returncode == 1
        and "sending failed after 1 attempt(s): ConnectionRefusedError" in run.stderr
    )
