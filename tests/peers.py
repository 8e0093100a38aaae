"""Real servers on loopback for the step tests: PostgreSQL, SMTP (with STARTTLS), SFTP and
HTTP(S).

Each is a pytest fixture started by the test session itself; nothing is mocked. The
PostgreSQL server binaries come from the OS (`make test` installs them when missing).
"""

from __future__ import annotations

import contextlib
import datetime
import glob
import json
import os
import shutil
import socket
import ssl
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from email import message_from_bytes
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# --- PostgreSQL ------------------------------------------------------------------------


def _pg_bindir() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb else None


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A throwaway PostgreSQL cluster on 127.0.0.1; yields a SQLAlchemy URL."""
    bindir = _pg_bindir()
    if bindir is None:
        pytest.fail(
            "PostgreSQL server binaries (initdb) are missing; `make test` installs them "
            "(Debian package postgresql)"
        )
    root = Path(tempfile.mkdtemp(prefix="af-pg-"))
    data = root / "data"
    as_user: list[str] = []
    if os.geteuid() == 0:  # the server refuses to run as root
        shutil.chown(root, "postgres")
        as_user = ["runuser", "-u", "postgres", "--"]
    port = free_port()
    subprocess.run(
        [
            *as_user,
            str(bindir / "initdb"),
            "-D",
            str(data),
            "-A",
            "trust",
            "-U",
            "postgres",
            "--no-sync",
            "-E",
            "UTF8",
        ],
        check=True,
        capture_output=True,
    )
    options = f"-c listen_addresses=127.0.0.1 -p {port} -k {root} -c fsync=off"
    subprocess.run(
        [
            *as_user,
            str(bindir / "pg_ctl"),
            "-D",
            str(data),
            "-o",
            options,
            "-l",
            str(root / "log"),
            "-w",
            "start",
        ],
        check=True,
        capture_output=True,
    )
    try:
        yield f"postgresql://postgres@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run(
            [*as_user, str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"],
            capture_output=True,
        )
        shutil.rmtree(root, ignore_errors=True)


# --- TLS ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Certificate:
    cert: Path
    key: Path


@pytest.fixture(scope="session")
def localhost_cert(tmp_path_factory: pytest.TempPathFactory) -> Certificate:
    """A self-signed certificate for 127.0.0.1 and localhost."""
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=2))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    directory = tmp_path_factory.mktemp("tls")
    paths = Certificate(directory / "cert.pem", directory / "key.pem")
    paths.cert.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    paths.key.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return paths


# --- SMTP --------------------------------------------------------------------------------


@dataclass
class Received:
    sender: str
    recipients: list[str]
    message: Message
    tls: bool


@dataclass
class SmtpServer:
    host: str
    port: int
    received: list[Received] = field(default_factory=list)


class _Handler:
    def __init__(self, server: SmtpServer) -> None:
        self.server = server

    async def handle_DATA(self, smtp_server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        self.server.received.append(
            Received(
                envelope.mail_from,
                list(envelope.rcpt_tos),
                message_from_bytes(envelope.content),
                session.ssl is not None,
            )
        )
        return "250 OK"


def _start_smtp(tls_context: Any = None, require_starttls: bool = False) -> tuple[Any, SmtpServer]:
    from aiosmtpd.controller import Controller

    server = SmtpServer("127.0.0.1", free_port())
    controller = Controller(
        _Handler(server),
        hostname=server.host,
        port=server.port,
        tls_context=tls_context,
        require_starttls=require_starttls,
    )
    controller.start()
    return controller, server


@pytest.fixture
def smtp_server() -> Iterator[SmtpServer]:
    """A plain SMTP server (no STARTTLS offered)."""
    controller, server = _start_smtp()
    try:
        yield server
    finally:
        controller.stop()


@pytest.fixture
def smtp_tls_server(localhost_cert: Certificate) -> Iterator[SmtpServer]:
    """An SMTP server that requires STARTTLS, with the self-signed certificate."""
    import ssl

    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(localhost_cert.cert, localhost_cert.key)
    controller, server = _start_smtp(context, require_starttls=True)
    try:
        yield server
    finally:
        controller.stop()


class PgServer:
    """A PostgreSQL server of this test's own, to stop and restart."""

    def __init__(self, root: Path, initdb_args: tuple[str, ...] = ()) -> None:
        bindir = _pg_bindir()
        assert (
            bindir is not None
        ), "PostgreSQL server binaries are needed (Debian package postgresql)"
        self.bindir, self.root, self.port = bindir, root, free_port()
        self.data = root / "data"
        self.as_user: list[str] = []
        if os.geteuid() == 0:
            shutil.chown(root, "postgres")
            self.as_user = ["runuser", "-u", "postgres", "--"]
        subprocess.run(
            [
                *self.as_user,
                str(bindir / "initdb"),
                "-D",
                str(self.data),
                "-A",
                "trust",
                "-U",
                "postgres",
                "--no-sync",
                "-E",
                "UTF8",
                *initdb_args,
            ],
            check=True,
            capture_output=True,
        )
        self.url = f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def ctl(self, *args: str) -> None:
        options = f"-c listen_addresses=127.0.0.1 -p {self.port} -k {self.root} -c fsync=off"
        subprocess.run(
            [
                *self.as_user,
                str(self.bindir / "pg_ctl"),
                "-D",
                str(self.data),
                "-o",
                options,
                "-l",
                str(self.root / "log"),
                "-w",
                *args,
            ],
            check=True,
            capture_output=True,
            timeout=60,
        )


# --- SFTP --------------------------------------------------------------------------------


@dataclass
class SftpServer:
    host: str
    port: int
    root: Path  # what the server shows as "/"
    user: str
    password: str
    host_key_line: str  # for known_hosts
    client_key: Path  # an OpenSSH private key the server accepts for `user`


@contextlib.contextmanager
def serving_sftp(
    root: Path, user: str, password: str, authorized_key: Any = None, port: int = 0
) -> Iterator[tuple[int, Any]]:
    """An SFTP server (asyncssh) on 127.0.0.1 (port 0: any free one), chrooted to `root`,
    accepting `user` by password or by `authorized_key`; yields (port, host key)."""
    import asyncio
    import threading

    import asyncssh

    host_key = asyncssh.generate_private_key("ssh-ed25519")
    authorized = (
        asyncssh.import_authorized_keys(authorized_key.export_public_key("openssh").decode())
        if authorized_key is not None
        else None
    )

    class Server(asyncssh.SSHServer):  # type: ignore[misc]
        def begin_auth(self, username: str) -> bool:
            return True

        def password_auth_supported(self) -> bool:
            return True

        def validate_password(self, username: str, given: str) -> bool:
            return username == user and given == password

        def public_key_auth_supported(self) -> bool:
            return authorized is not None

        def validate_public_key(self, username: str, key: Any) -> bool:
            return (
                username == user
                and authorized is not None
                and authorized.validate(key, "127.0.0.1", "127.0.0.1") is not None
            )

    loop = asyncio.new_event_loop()
    started = threading.Event()
    holder: dict[str, Any] = {}

    def serve() -> None:
        asyncio.set_event_loop(loop)

        async def start() -> None:
            holder["server"] = await asyncssh.listen(
                "127.0.0.1",
                port,
                server_host_keys=[host_key],
                server_factory=Server,
                sftp_factory=lambda chan: asyncssh.SFTPServer(chan, chroot=str(root).encode()),
            )
            started.set()

        loop.run_until_complete(start())
        loop.run_forever()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    assert started.wait(20), "the SFTP server did not start"
    try:
        yield holder["server"].sockets[0].getsockname()[1], host_key
    finally:

        async def stop() -> None:
            holder["server"].close()
            await holder["server"].wait_closed()

        asyncio.run_coroutine_threadsafe(stop(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)


@pytest.fixture
def sftp_server(tmp_path: Path) -> Iterator[SftpServer]:
    """An SFTP server on 127.0.0.1, chrooted to a fresh directory, accepting one user by
    password or by key."""
    import asyncssh

    root = tmp_path / "sftp-root"
    root.mkdir()
    client_key = asyncssh.generate_private_key("ssh-ed25519")
    key_file = tmp_path / "client_key"
    key_file.write_bytes(client_key.export_private_key("openssh"))
    key_file.chmod(0o600)
    user, password = "etl", "sftp-pw"
    with serving_sftp(root, user, password, client_key) as (
        port,
        host_key,
    ):  # port 0: no race for a free one
        algorithm, blob = host_key.export_public_key("openssh").decode().split()[:2]
        line = f"[127.0.0.1]:{port} {algorithm} {blob}"
        yield SftpServer("127.0.0.1", port, root, user, password, line, key_file)


# --- HTTP --------------------------------------------------------------------------------
# A JSON echo server that records every request. Paths with /flaky/ drop the connection
# (no answer) for the first `fail` requests to that path, with /slow/ wait `seconds`
# before answering, ending in /status/NNN answer with that status; others answer 200.


@dataclass
class Seen:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes


@dataclass
class HttpServer:
    url: str
    seen: list[Seen] = field(default_factory=list)
    attempts: dict[str, int] = field(default_factory=dict)

    def paths(self) -> list[str]:
        return [s.path for s in self.seen]


def _http_handler(server: HttpServer) -> type[BaseHTTPRequestHandler]:
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
            pass

        def _serve(self) -> None:
            parts = urlsplit(self.path)
            query = parse_qs(parts.query)
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            with lock:
                server.seen.append(
                    Seen(
                        self.command,
                        parts.path,
                        query,
                        {k.lower(): v for k, v in self.headers.items()},
                        body,
                    )
                )
                count = server.attempts[parts.path] = server.attempts.get(parts.path, 0) + 1
            if "/flaky/" in parts.path and count <= int(query["fail"][0]):
                self.close_connection = (
                    True  # no answer at all: the client sees a dropped connection
                )
                return
            if "/slow/" in parts.path:
                time.sleep(float(query["seconds"][0]))
            code = int(parts.path.rsplit("/", 1)[1]) if "/status/" in parts.path else 200
            try:
                parsed: Any = json.loads(body) if body else None
            except ValueError:
                parsed = body.decode()
            answer = json.dumps(
                {
                    "method": self.command,
                    "path": parts.path,
                    "query": query,
                    "auth": self.headers.get("Authorization"),
                    "team": self.headers.get("X-Team"),
                    "trace": self.headers.get("X-Trace"),
                    "body": parsed,
                }
            ).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)

        do_GET = do_POST = do_PUT = do_DELETE = _serve  # noqa: N815

    return Handler


def serve_http(tls: ssl.SSLContext | None = None) -> Iterator[HttpServer]:
    """Serve on 127.0.0.1 (HTTPS with `tls`) until the generator is closed."""
    state = HttpServer("")
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _http_handler(state))
    httpd.daemon_threads = True
    if tls is not None:
        httpd.socket = tls.wrap_socket(httpd.socket, server_side=True)
    state.url = f"{'https' if tls else 'http'}://127.0.0.1:{httpd.server_address[1]}"
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        httpd.shutdown()
        httpd.server_close()


def tls_server_context(cert: Certificate) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(str(cert.cert), str(cert.key))
    return context
