"""Fetching a bundle (`compile --bundle-manifest`) from each source type, against real
peers: a local directory, an SFTP server (asyncssh), a SQLite file and a PostgreSQL
server, an HTTP server on 127.0.0.1. SMB has no server here: it is read through the
runtime's smb:smbclient connector with a stand-in `smbclient` module
(tests/bundles_fixtures/fake_smbclient/) over a local directory.

The tests marked `conformance` run the engine's own bundle sync on the same source and
compare its fingerprint and its files with ours."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import sqlite3
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from aetherflow_compiler.frontend.loader import load_file
from aetherflow_compiler.project.bundles.fetch import BundleFetchError, FetchedBundle, fetch_bundle
from aetherflow_compiler.project.bundles.manifest import Manifest, check_manifest, manifest_of
from bench.oracle import oracle_cli, oracle_python
from peers import HttpServer, SftpServer, free_port, serve_http

FIXTURES = Path(__file__).parent / "bundles_fixtures"
FAKE_SMB = FIXTURES / "fake_smbclient"

BUNDLE: dict[str, bytes] = {
    "flows/main.yaml": b"flow:\n  id: main\njobs: []\n",
    "flows/nightly/report.yaml": b"flow:\n  id: report\njobs: []\n",
    "profiles.yaml": b"prod_pg:\n  config: {host: db.internal}\n",
    "plugins/acme.py": b"from aetherflow.core.api import Step\n",
    "plugins/__pycache__/acme.cpython-311.pyc": b"\x00\x01\xff compiled",
    ".env.example": b"STAGE=prod\n",
    "data/r\u00e9sum\u00e9 \u00fc.txt": "\u00fc\n".encode(),
}
FIXED_MTIME = 1_700_000_000.123456

PROVIDER = '''\
"""A secrets provider: values are base64. The engine needs expand_env as well."""
import base64


def decode(value):
    return base64.b64decode(value.encode()).decode()


def expand_env(env):
    return env
'''

# The engine's fingerprints of BUNDLE, taken from `aetherflow bundle sync` (aetherflow-core
# 0.0.14); the conformance tests below compare with the engine itself.
ENGINE_FP_FILESYSTEM_STRICT = "fc463783431beffa1219efcc11669053814ef23a282aecfa68cfe875c7481498"
ENGINE_FP_FILESYSTEM_FIXED_MTIME = (
    "0976aa6879474cc117ca2259441ef60f805ecce8b6b45518f9d9b8e66893625c"
)
ENGINE_FP_SQLITE = "76b326c407770e4cc63687c97401211c0b320708f022fbfb566c4368a73658be"


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# --- manifests and the engine ---------------------------------------------------------------


def write_manifest(
    where: Path, source: dict[str, Any], resources: dict[str, Any] | None = None
) -> Path:
    data: dict[str, Any] = {
        "version": 1,
        "bundle": {
            "id": "uc1",
            "source": source,
            "entry_flow": "flows/main.yaml",
            "layout": {
                "profiles_file": "profiles.yaml",
                "flows_dir": "flows",
                "plugins_dir": "plugins",
            },
        },
    }
    if resources:
        data["resources"] = resources
    where.mkdir(parents=True, exist_ok=True)
    path = where / "manifest.yaml"
    path.write_text(json.dumps(data, indent=2))  # JSON is YAML
    return path


def load(path: Path) -> Manifest:
    doc, problems = load_file(str(path))
    assert doc is not None and not problems, problems
    assert check_manifest(doc) == []
    return manifest_of(doc)


def fetch(path: Path, env: dict[str, str] | None = None) -> FetchedBundle:
    return fetch_bundle(load(path), env or {})


def fetch_error(path: Path, env: dict[str, str] | None = None) -> BundleFetchError:
    with pytest.raises(BundleFetchError) as info:
        fetch(path, env)
    return info.value


def provider_env(tmp_path: Path) -> dict[str, str]:
    provider = tmp_path / "provider.py"
    provider.write_text(PROVIDER)
    return {"AETHERFLOW_SECRETS_PATH": str(provider)}


def engine_sync(
    manifest: Path, env: dict[str, str] | None = None, rest_sync: bool = False
) -> tuple[str, dict[str, bytes]]:
    """The engine's fingerprint and the files of its active directory after a sync."""
    work = tempfile.mkdtemp(prefix="engine-work-", dir=manifest.parent)
    if rest_sync:
        args = [
            oracle_python(),
            str(FIXTURES / "engine_sync.py"),
            str(manifest),
            work,
            "--rest-sync",
        ]
    else:
        args = [
            oracle_cli(),
            "bundle",
            "sync",
            "--bundle-manifest",
            str(manifest),
            "--work-root",
            work,
            "--json",
        ]
    full_env = {"PATH": os.environ["PATH"], "HOME": str(manifest.parent), **(env or {})}
    proc = subprocess.run(args, env=full_env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert "error" not in out, out["error"]
    active = Path(out["active_dir"])
    files = {
        p.relative_to(active).as_posix(): p.read_bytes()
        for p in sorted(active.rglob("*"))
        if p.is_file()
    }
    return out["fingerprint"], files


def assert_same_as_engine(
    manifest: Path,
    env: dict[str, str] | None = None,
    rest_sync: bool = False,
    ours_env: dict[str, str] | None = None,
) -> FetchedBundle:
    ours = fetch(manifest, ours_env if ours_env is not None else env)
    engine_fp, engine_files = engine_sync(manifest, env, rest_sync)
    assert ours.fingerprint == engine_fp
    assert ours.files == engine_files
    return ours


def set_strict(manifest: Path, strict: bool) -> None:
    data = json.loads(manifest.read_text())
    data["bundle"]["source"]["strict_fingerprint"] = strict
    manifest.write_text(json.dumps(data, indent=2))


def write_tree(root: Path, files: dict[str, bytes], mtime: float | None = None) -> None:
    for rel, data in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        if mtime is not None:
            os.utime(path, (mtime, mtime))


# --- filesystem -------------------------------------------------------------------------


def linked_tree(root: Path) -> None:
    write_tree(root, BUNDLE, FIXED_MTIME)
    (root / "plugins" / "linked.py").symlink_to("acme.py")  # a link to a file: a file
    (root / "flows-link").symlink_to(
        "flows", target_is_directory=True
    )  # a link to a directory: not entered
    (root / "dangling").symlink_to("nowhere")  # a broken link: not a file


def test_filesystem_reads_every_file_below_base_path(tmp_path: Path) -> None:
    linked_tree(tmp_path / "bundle")
    got = fetch(write_manifest(tmp_path, {"type": "filesystem", "base_path": "bundle"}))
    expected = {**BUNDLE, "plugins/linked.py": BUNDLE["plugins/acme.py"]}
    assert got.files == expected
    assert list(got.files) == sorted(expected)  # hidden files and __pycache__ included, sorted
    assert got.where == "directory 'bundle' (next to the manifest)"
    assert got.manifest.bundle_id == "uc1"
    assert (
        fetch(write_manifest(tmp_path, {"type": "filesystem", "base_path": "bundle"})) == got
    )  # deterministic


def test_filesystem_fingerprint_is_the_engines(tmp_path: Path) -> None:
    write_tree(tmp_path / "bundle", BUNDLE, FIXED_MTIME)
    manifest = write_manifest(
        tmp_path, {"type": "filesystem", "base_path": str(tmp_path / "bundle")}
    )
    assert fetch(manifest).fingerprint == ENGINE_FP_FILESYSTEM_FIXED_MTIME
    set_strict(manifest, True)
    assert fetch(manifest).fingerprint == ENGINE_FP_FILESYSTEM_STRICT


def test_strict_fingerprint_follows_content_not_mtime(tmp_path: Path) -> None:
    root = tmp_path / "bundle"
    write_tree(root, BUNDLE, FIXED_MTIME)
    manifest = write_manifest(tmp_path, {"type": "filesystem", "base_path": "bundle"})
    loose = fetch(manifest).fingerprint
    set_strict(manifest, True)
    strict = fetch(manifest).fingerprint
    assert strict != loose
    os.utime(root / "profiles.yaml", (FIXED_MTIME + 5, FIXED_MTIME + 5))  # touched, same content
    assert fetch(manifest).fingerprint == strict
    set_strict(manifest, False)
    assert fetch(manifest).fingerprint != loose
    (root / "profiles.yaml").write_bytes(b"changed: true\n")
    set_strict(manifest, True)
    assert fetch(manifest).fingerprint != strict


def test_filesystem_missing_directory_is_af320(tmp_path: Path) -> None:
    error = fetch_error(write_manifest(tmp_path, {"type": "filesystem", "base_path": "nope"}))
    assert error.code == "AF320"
    assert error.message == (
        "directory 'nope' (next to the manifest): cannot list the bundle: the bundle "
        "directory does not exist"
    )


@pytest.mark.conformance
@pytest.mark.parametrize("strict", [False, True])
def test_filesystem_matches_the_engine(tmp_path: Path, strict: bool) -> None:
    linked_tree(tmp_path / "bundle")
    os.utime(tmp_path / "bundle" / "flows" / "main.yaml", None)  # now: a mtime with sub-ms digits
    manifest = write_manifest(
        tmp_path, {"type": "filesystem", "base_path": "bundle", "strict_fingerprint": strict}
    )
    assert_same_as_engine(manifest)


@pytest.mark.conformance
def test_pinned_filesystem_fingerprints_are_the_engines(tmp_path: Path) -> None:
    write_tree(tmp_path / "bundle", BUNDLE, FIXED_MTIME)
    manifest = write_manifest(tmp_path, {"type": "filesystem", "base_path": "bundle"})
    assert engine_sync(manifest)[0] == ENGINE_FP_FILESYSTEM_FIXED_MTIME
    set_strict(manifest, True)
    assert engine_sync(manifest)[0] == ENGINE_FP_FILESYSTEM_STRICT


# --- sftp -------------------------------------------------------------------------------


def sftp_manifest(tmp_path: Path, server: SftpServer, port: int | None = None) -> Path:
    write_tree(server.root / "bundles" / "uc1", BUNDLE)
    (server.root / "bundles" / "elsewhere.yaml").write_bytes(b"not in the bundle\n")
    return write_manifest(
        tmp_path,
        {"type": "sftp", "resource": "remote", "base_path": "/bundles/uc1"},
        {
            "remote": {
                "kind": "sftp",
                "driver": "paramiko",
                "config": {
                    "host": "127.0.0.1",
                    "port": port or server.port,
                    "user": "{{env.SFTP_USER}}",
                    "password": "{{env.SFTP_PASSWORD}}",
                },
                "options": {"timeout": 10},
                "decode": {"config": {"password": True}},
            }
        },
    )


def sftp_env(tmp_path: Path, server: SftpServer) -> dict[str, str]:
    return {
        **provider_env(tmp_path),
        "SFTP_USER": server.user,
        "SFTP_PASSWORD": b64(server.password),
    }


def test_sftp_reads_the_bundle_with_a_decoded_password(
    tmp_path: Path, sftp_server: SftpServer
) -> None:
    got = fetch(sftp_manifest(tmp_path, sftp_server), sftp_env(tmp_path, sftp_server))
    assert got.files == BUNDLE and list(got.files) == sorted(BUNDLE)
    assert got.where == "sftp remote:/bundles/uc1"


def test_sftp_refused_connection_is_af320_without_the_secret(
    tmp_path: Path, sftp_server: SftpServer
) -> None:
    env = sftp_env(tmp_path, sftp_server)
    error = fetch_error(sftp_manifest(tmp_path, sftp_server, port=free_port()), env)
    assert error.code == "AF320"
    assert error.message.startswith(
        "sftp remote:/bundles/uc1: cannot list the bundle: sftp:paramiko remote: "
        "cannot connect to *** (NoValidConnectionsError: "
    )
    assert "\n" not in error.message
    for secret in (sftp_server.password, env["SFTP_PASSWORD"], "127.0.0.1"):
        assert secret not in error.message


def test_sftp_missing_env_is_af320_naming_the_variable(
    tmp_path: Path, sftp_server: SftpServer
) -> None:
    env = sftp_env(tmp_path, sftp_server)
    del env["SFTP_PASSWORD"]
    error = fetch_error(sftp_manifest(tmp_path, sftp_server), env)
    assert (error.code, error.message) == (
        "AF320",
        "sftp remote:/bundles/uc1: cannot resolve the manifest's "
        "resources: resource remote: missing template key "
        "'env.SFTP_PASSWORD' (no default given)",
    )


@pytest.mark.conformance
@pytest.mark.parametrize("strict", [False, True])
def test_sftp_matches_the_engine(tmp_path: Path, sftp_server: SftpServer, strict: bool) -> None:
    manifest = sftp_manifest(tmp_path, sftp_server)
    set_strict(manifest, strict)
    assert_same_as_engine(manifest, sftp_env(tmp_path, sftp_server))


# --- secrets ------------------------------------------------------------------------------


def test_a_failing_decode_never_shows_the_value(tmp_path: Path, sftp_server: SftpServer) -> None:
    provider = tmp_path / "leaky.py"
    provider.write_text("def decode(value):\n    raise ValueError('cannot decode ' + value)\n")
    env = {
        **sftp_env(tmp_path, sftp_server),
        "AETHERFLOW_SECRETS_PATH": str(provider),
        "SFTP_PASSWORD": "top-secret-value",
    }
    error = fetch_error(sftp_manifest(tmp_path, sftp_server), env)
    assert (error.code, error.message) == (
        "AF320",
        "sftp remote:/bundles/uc1: cannot resolve the manifest's "
        f"resources: secrets provider file {provider}: decode failed for "
        "resources.remote.config.password (ValueError)",
    )


def test_a_secret_in_a_drivers_message_is_masked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    manifest = smb_manifest(tmp_path, monkeypatch, password="the-real-one")
    env = {**provider_env(tmp_path), "SMB_PASSWORD": b64("a-wrong-one")}
    error = fetch_error(manifest, env)  # the stand-in driver repeats the password it was given
    assert error.code == "AF320"
    assert error.message == (
        "smb share:DATA:/bundles/uc1: cannot list the bundle: ValueError: "
        "STATUS_LOGON_FAILURE for *** with password ***"
    )
    assert "a-wrong-one" not in error.message and env["SMB_PASSWORD"] not in error.message


def test_templates_other_than_env_are_af320(tmp_path: Path, sftp_server: SftpServer) -> None:
    manifest = sftp_manifest(tmp_path, sftp_server)
    manifest.write_text(manifest.read_text().replace("{{env.SFTP_USER}}", "{{flow.id}}"))
    error = fetch_error(manifest, sftp_env(tmp_path, sftp_server))
    assert (error.code, error.message) == (
        "AF320",
        "sftp remote:/bundles/uc1: cannot resolve the manifest's "
        "resources: resources.remote.config.user: {{flow.id}} is not an env "
        "template (only {{env.NAME}})",
    )


# --- db: sqlite and postgres --------------------------------------------------------------

ASSETS_DDL = "CREATE TABLE assets (bundle TEXT, path TEXT, sha256 TEXT, data {blob}, updated_at {real}, size INTEGER)"


def asset_rows(files: dict[str, bytes], bundle: str = "uc1") -> list[tuple[Any, ...]]:
    """Every other file lists its sha256; the others only size and updated_at."""
    return [
        (bundle, rel, sha(data) if i % 2 == 0 else None, data, FIXED_MTIME + i, len(data))
        for i, (rel, data) in enumerate(sorted(files.items()))
    ]


def sqlite_assets(path: Path, rows: list[tuple[Any, ...]]) -> None:
    with sqlite3.connect(path) as conn:
        conn.execute(ASSETS_DDL.format(blob="BLOB", real="REAL"))
        conn.executemany("INSERT INTO assets VALUES (?, ?, ?, ?, ?, ?)", rows)
    conn.close()


def sqlite_manifest(
    tmp_path: Path, rows: list[tuple[Any, ...]] | None = None, **source: Any
) -> Path:
    sqlite_assets(
        tmp_path / "assets.db",
        asset_rows(BUNDLE) + asset_rows({"x.yaml": b"x"}, "other") if rows is None else rows,
    )
    return write_manifest(
        tmp_path / "m",
        {"type": "db", "resource": "assets", **source},
        {"assets": {"kind": "db", "driver": "sqlite3", "config": {"path": "{{env.ASSETS_DB}}"}}},
    )


def db_env(tmp_path: Path) -> dict[str, str]:
    return {"ASSETS_DB": str(tmp_path / "assets.db")}


def test_db_sqlite_reads_the_bundle(tmp_path: Path) -> None:
    got = fetch(sqlite_manifest(tmp_path), db_env(tmp_path))
    assert got.files == BUNDLE and list(got.files) == sorted(BUNDLE)
    assert got.where == "db assets (bundle uc1)"
    assert got.fingerprint == ENGINE_FP_SQLITE  # no local mtimes: the same everywhere


def test_db_listed_sha256_that_does_not_match_is_af321(tmp_path: Path) -> None:
    rows = asset_rows(BUNDLE)
    rows = [
        (b, p, sha(b"something else") if p == ".env.example" else s, d, u, z)
        for b, p, s, d, u, z in rows
    ]
    error = fetch_error(sqlite_manifest(tmp_path, rows), db_env(tmp_path))
    assert error.code == "AF321"
    assert error.message == (
        f"db assets (bundle uc1): .env.example does not match the sha256 its source lists "
        f"(listed {sha(b'something else')}, content {sha(BUNDLE['.env.example'])})"
    )


def test_db_missing_table_is_af320(tmp_path: Path) -> None:
    manifest = sqlite_manifest(tmp_path, [])
    with sqlite3.connect(tmp_path / "assets.db") as conn:
        conn.execute("DROP TABLE assets")
    conn.close()
    error = fetch_error(manifest, db_env(tmp_path))
    assert (error.code, error.message) == (
        "AF320",
        "db assets (bundle uc1): cannot list the bundle: "
        "OperationalError: no such table: assets",
    )


def test_db_custom_queries_and_bundle_name(tmp_path: Path) -> None:
    path = tmp_path / "assets.db"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE files (release TEXT, name TEXT, body BLOB, checksum TEXT)")
        conn.executemany(
            "INSERT INTO files VALUES ('2026.1', ?, ?, ?)",
            [(rel, data, sha(data)) for rel, data in BUNDLE.items()],
        )
    conn.close()
    manifest = write_manifest(
        tmp_path / "m",
        {
            "type": "db",
            "resource": "assets",
            "bundle": "2026.1",
            "list_sql": "SELECT name AS path, checksum AS sha256 FROM files WHERE release = :bundle",
            "fetch_sql": "SELECT body FROM files WHERE release = :bundle AND name = :path",
        },
        {"assets": {"kind": "db", "driver": "sqlite3", "config": {"url": f"sqlite:///{path}"}}},
    )
    got = fetch(manifest)
    assert got.files == BUNDLE and got.where == "db assets (bundle 2026.1)"


def test_db_paths_that_leave_the_bundle_are_af320(tmp_path: Path) -> None:
    rows = [("uc1", "../outside.yaml", None, b"x", 1.0, 1)]
    error = fetch_error(sqlite_manifest(tmp_path, rows), db_env(tmp_path))
    assert (error.code, error.message) == (
        "AF320",
        "db assets (bundle uc1): the listed path '../outside.yaml' "
        "is not a path inside the bundle",
    )


def test_db_text_data_is_af320(tmp_path: Path) -> None:
    rows = [("uc1", "flows/main.yaml", None, "flow: {}", 1.0, 8)]
    error = fetch_error(sqlite_manifest(tmp_path, rows), db_env(tmp_path))
    assert (error.code, error.message) == (
        "AF320",
        "db assets (bundle uc1): cannot read flows/main.yaml: "
        "fetch_sql returned str, not bytes (store the file as a blob)",
    )


@pytest.mark.conformance
@pytest.mark.parametrize("strict", [False, True])
def test_db_sqlite_matches_the_engine(tmp_path: Path, strict: bool) -> None:
    manifest = sqlite_manifest(tmp_path, strict_fingerprint=strict)
    ours = assert_same_as_engine(manifest, db_env(tmp_path))
    if not strict:
        assert ours.fingerprint == ENGINE_FP_SQLITE


@pytest.fixture
def pg_database(postgres_url: str) -> Iterator[str]:
    """A fresh database on the PostgreSQL peer; yields its URL."""
    import psycopg

    name = f"bundle_{os.getpid()}_{free_port()}"
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    url = postgres_url.rsplit("/", 1)[0] + "/" + name
    try:
        yield url
    finally:
        with psycopg.connect(postgres_url, autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def pg_manifest(tmp_path: Path, url: str, rows: list[tuple[Any, ...]] | None) -> Path:
    import psycopg

    if rows is not None:
        with psycopg.connect(url) as conn:
            conn.execute(ASSETS_DDL.format(blob="BYTEA", real="DOUBLE PRECISION"))
            with conn.cursor() as cur:
                cur.executemany("INSERT INTO assets VALUES (%s, %s, %s, %s, %s, %s)", rows)
    return write_manifest(
        tmp_path,
        {"type": "db", "resource": "pg"},
        {
            "pg": {
                "kind": "db",
                "driver": "postgres",
                "config": {"url": "{{env.PG_URL}}"},
                "options": {"pool": {"size": 1}},
            }
        },
    )


def test_db_postgres_reads_the_bundle(tmp_path: Path, pg_database: str) -> None:
    got = fetch(pg_manifest(tmp_path, pg_database, asset_rows(BUNDLE)), {"PG_URL": pg_database})
    assert got.files == BUNDLE and got.where == "db pg (bundle uc1)"
    assert got.fingerprint == ENGINE_FP_SQLITE  # the same rows give the same fingerprint


def test_db_postgres_missing_table_is_af320(tmp_path: Path, pg_database: str) -> None:
    error = fetch_error(pg_manifest(tmp_path, pg_database, None), {"PG_URL": pg_database})
    assert error.code == "AF320"
    assert error.message == (
        "db pg (bundle uc1): cannot list the bundle: ProgrammingError: "
        '(psycopg.errors.UndefinedTable) relation "assets" does not exist'
    )


def test_db_postgres_refused_connection_is_af320_without_the_secret(tmp_path: Path) -> None:
    manifest = write_manifest(
        tmp_path,
        {"type": "db", "resource": "pg"},
        {
            "pg": {
                "kind": "db",
                "driver": "postgres",
                "config": {"url": "{{env.PG_URL}}"},
                "decode": {"config_paths": ["url"]},
            }
        },
    )
    url = f"postgresql://etl:pg-secret@127.0.0.1:{free_port()}/assets"
    env = {**provider_env(tmp_path), "PG_URL": b64(url)}
    error = fetch_error(manifest, env)
    assert error.code == "AF320"
    assert error.message == (
        "db pg (bundle uc1): cannot list the bundle: OperationalError: "
        '(psycopg.OperationalError) connection failed: connection to server at "***", '
        "port *** failed: Connection refused"
    )
    assert "pg-secret" not in error.message and env["PG_URL"] not in error.message


@pytest.fixture(scope="session")
def engine_sqlalchemy(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A PYTHONPATH giving the engine's Python this environment's SQLAlchemy and psycopg
    (the engine's db:postgres needs them; its own environment has neither)."""
    site = Path(sqlalchemy_dir()).parent
    target = tmp_path_factory.mktemp("engine-drivers")
    for name in ("sqlalchemy", "psycopg", "psycopg_binary"):
        for path in [site / name, site / f"{name}.libs", *site.glob(f"{name}-*.dist-info")]:
            if path.exists():  # the dist-info: psycopg reads its version from there
                (target / path.name).symlink_to(path)
    return str(target)


def sqlalchemy_dir() -> str:
    import sqlalchemy

    return os.path.dirname(sqlalchemy.__file__)


@pytest.mark.conformance
@pytest.mark.parametrize("strict", [False, True])
def test_db_postgres_matches_the_engine(
    tmp_path: Path, pg_database: str, engine_sqlalchemy: str, strict: bool
) -> None:
    manifest = pg_manifest(tmp_path, pg_database, asset_rows(BUNDLE))
    set_strict(manifest, strict)
    assert_same_as_engine(manifest, {"PG_URL": pg_database, "PYTHONPATH": engine_sqlalchemy})


# --- rest ---------------------------------------------------------------------------------


@dataclass
class BundleApi:
    """An HTTP server with the engine's REST bundle contract, for bundle `uc1` only, that
    wants `Authorization: Bearer <token>`."""

    token: str
    files: dict[str, bytes]
    listed: list[dict[str, Any]]
    url: str = ""
    seen: list[tuple[str, dict[str, str], str | None]] = field(default_factory=list)


def _api_handler(api: BundleApi) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
            pass

        def _send(self, code: int, body: bytes, kind: str) -> None:
            self.send_response(code)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:  # noqa: N802
            parts = urlsplit(self.path)
            query = {k: v[0] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
            auth = self.headers.get("Authorization")
            api.seen.append((parts.path, query, auth))
            if auth != f"Bearer {api.token}":
                return self._send(401, b"{}", "application/json")
            if parts.path == "/api/list" and query.get("bundle") == "uc1":
                return self._send(
                    200, json.dumps({"files": api.listed}).encode(), "application/json"
                )
            if (
                parts.path == "/api/fetch"
                and query.get("bundle") == "uc1"
                and query.get("path") in api.files
            ):
                return self._send(200, api.files[query["path"]], "application/octet-stream")
            return self._send(404, b"{}", "application/json")

    return Handler


@pytest.fixture
def bundle_api() -> Iterator[BundleApi]:
    listed = [
        {
            "path": rel,
            "size": len(data),
            "mtime": FIXED_MTIME + i,
            **({"sha256": sha(data)} if i % 2 else {}),
        }
        for i, (rel, data) in enumerate(sorted(BUNDLE.items()))
    ]
    api = BundleApi("api-token-1", dict(BUNDLE), listed)
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _api_handler(api))
    httpd.daemon_threads = True
    api.url = f"http://127.0.0.1:{httpd.server_address[1]}/api"
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield api
    finally:
        httpd.shutdown()
        httpd.server_close()


def rest_manifest(tmp_path: Path, **source: Any) -> Path:
    return write_manifest(
        tmp_path,
        {"type": "rest", "resource": "api", **source},
        {
            "api": {
                "kind": "rest",
                "driver": "httpx",
                "config": {"base_url": "{{env.API_URL}}", "bearer_token": "{{env.API_TOKEN}}"},
                "options": {"timeout": 10},
                "decode": {"config": {"bearer_token": True}},
            }
        },
    )


def rest_env(tmp_path: Path, url: str, token: str) -> dict[str, str]:
    return {**provider_env(tmp_path), "API_URL": url, "API_TOKEN": b64(token)}


def test_rest_reads_the_bundle_with_a_decoded_token(tmp_path: Path, bundle_api: BundleApi) -> None:
    got = fetch(rest_manifest(tmp_path), rest_env(tmp_path, bundle_api.url, bundle_api.token))
    assert got.files == BUNDLE and list(got.files) == sorted(BUNDLE)
    assert got.where == "rest api (bundle uc1)"
    assert bundle_api.seen[0] == (
        "/api/list",
        {"bundle": "uc1", "prefix": ""},
        "Bearer api-token-1",
    )
    assert sorted(q["path"] for p, q, _ in bundle_api.seen[1:]) == sorted(BUNDLE)


def test_rest_listing_params_from_the_source(tmp_path: Path, bundle_api: BundleApi) -> None:
    manifest = rest_manifest(tmp_path, base_path="flows", prefix_param="under", bundle="uc1")
    fetch(manifest, rest_env(tmp_path, bundle_api.url, bundle_api.token))
    assert bundle_api.seen[0][:2] == ("/api/list", {"bundle": "uc1", "under": "flows"})


def test_rest_listed_sha256_that_does_not_match_is_af321(
    tmp_path: Path, bundle_api: BundleApi
) -> None:
    listed = next(f for f in bundle_api.listed if "sha256" in f)
    bundle_api.files[listed["path"]] = b"tampered: true\n"
    error = fetch_error(
        rest_manifest(tmp_path), rest_env(tmp_path, bundle_api.url, bundle_api.token)
    )
    assert error.code == "AF321"
    assert error.message == (
        f"rest api (bundle uc1): {listed['path']} does not match the sha256 its source lists "
        f"(listed {listed['sha256']}, content {sha(b'tampered: true' + bytes([10]))})"
    )


@pytest.mark.servers
def test_rest_http_500_is_af320(tmp_path: Path) -> None:
    server: Iterator[HttpServer] = serve_http()
    http = next(server)
    try:
        manifest = rest_manifest(tmp_path, list_path="/status/500")
        error = fetch_error(manifest, rest_env(tmp_path, http.url, "tok-500"))
    finally:
        server.close()
    assert (error.code, error.message) == (
        "AF320",
        "rest api (bundle uc1): cannot list the bundle: " "GET /status/500 answered HTTP 500",
    )
    assert http.seen[0].headers["authorization"] == "Bearer tok-500"


def test_rest_fetch_error_names_the_file(tmp_path: Path, bundle_api: BundleApi) -> None:
    del bundle_api.files["flows/main.yaml"]
    error = fetch_error(
        rest_manifest(tmp_path), rest_env(tmp_path, bundle_api.url, bundle_api.token)
    )
    assert (error.code, error.message) == (
        "AF320",
        "rest api (bundle uc1): cannot read flows/main.yaml: " "GET /fetch answered HTTP 404",
    )


def test_rest_refused_connection_is_af320_without_the_token(tmp_path: Path) -> None:
    env = rest_env(tmp_path, f"http://127.0.0.1:{free_port()}/api", "tok-secret")
    error = fetch_error(rest_manifest(tmp_path), env)
    assert (error.code, error.message) == (
        "AF320",
        "rest api (bundle uc1): cannot list the bundle: REST request "
        "failed after 1 attempt(s): GET /list (ConnectError: [Errno 111] "
        "Connection refused)",
    )


@pytest.mark.conformance
@pytest.mark.parametrize(
    ("strict", "listed_sha"), [(False, False), (False, True), (True, False), (True, True)]
)
def test_rest_matches_the_engine(
    tmp_path: Path, bundle_api: BundleApi, strict: bool, listed_sha: bool
) -> None:
    """One file: the engine's REST source sorts its listing by a field it leaves None,
    which fails as soon as there are two files (see the next test)."""
    data = BUNDLE["flows/main.yaml"]
    bundle_api.files = {"flows/main.yaml": data}
    bundle_api.listed = [
        {
            "path": "flows/main.yaml",
            "size": len(data),
            "mtime": FIXED_MTIME,
            **({"sha256": sha(data)} if listed_sha else {}),
        }
    ]
    manifest = rest_manifest(tmp_path, strict_fingerprint=strict)
    assert_same_as_engine(
        manifest, rest_env(tmp_path, bundle_api.url, bundle_api.token), rest_sync=True
    )


def engine_sync_error(manifest: Path, env: dict[str, str], rest_sync: bool) -> str:
    work = tempfile.mkdtemp(prefix="engine-work-", dir=manifest.parent)
    args = [
        oracle_python(),
        str(FIXTURES / "engine_sync.py"),
        str(manifest),
        work,
        *(["--rest-sync"] * rest_sync),
    ]
    proc = subprocess.run(
        args, env={"PATH": os.environ["PATH"], **env}, capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stderr
    return str(json.loads(proc.stdout.strip().splitlines()[-1]).get("error"))


@pytest.mark.conformance
def test_the_engines_rest_source_fails_on_its_own(tmp_path: Path, bundle_api: BundleApi) -> None:
    """aetherflow-core 0.0.14 cannot sync a REST bundle: its source calls `sync()` on the
    rest:httpx connector, which has no such method, and, given one, sorts the listing by
    `path`, a field it leaves None. We read the bundle the way its contract says."""
    manifest = rest_manifest(tmp_path)
    env = rest_env(tmp_path, bundle_api.url, bundle_api.token)
    assert engine_sync_error(manifest, env, rest_sync=False) == (
        "ConnectorError: _RESTAssetSource list failed: 'HttpxREST' object has no attribute 'sync'"
    )
    assert engine_sync_error(manifest, env, rest_sync=True) == (
        "TypeError: '<' not supported between instances of 'NoneType' and 'NoneType'"
    )
    assert fetch(manifest, env).files == BUNDLE


# --- smb (a stand-in smbclient module) ----------------------------------------------------


def smb_manifest(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    password: str = "smb-pw",
    driver: str = "smbclient",
) -> Path:
    root = tmp_path / "smb"
    write_tree(root / "DATA" / "bundles" / "uc1", BUNDLE)
    monkeypatch.setenv("AF_FAKE_SMB_ROOT", str(root))
    monkeypatch.setenv("AF_FAKE_SMB_PASSWORD", password)
    monkeypatch.setenv("AF_FAKE_SMB_LOG", str(tmp_path / "smb.log"))
    monkeypatch.syspath_prepend(str(FAKE_SMB))
    monkeypatch.delitem(sys.modules, "smbclient", raising=False)
    return write_manifest(
        tmp_path / "m",
        {"type": "smb", "resource": "share", "base_path": "DATA:/bundles/uc1"},
        {
            "share": {
                "kind": "smb",
                "driver": driver,
                "config": {
                    "server": "files.example",
                    "share": "OTHER",
                    "username": "etl",
                    "password": "{{env.SMB_PASSWORD}}",
                },
                "decode": {"config": {"password": True}},
            }
        },
    )


def smb_calls(tmp_path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (tmp_path / "smb.log").read_text().splitlines()]


def test_smb_reads_the_bundle_through_the_runtime_connector(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    manifest = smb_manifest(tmp_path, monkeypatch)
    got = fetch(manifest, {**provider_env(tmp_path), "SMB_PASSWORD": b64("smb-pw")})
    assert got.files == BUNDLE and list(got.files) == sorted(BUNDLE)
    assert got.where == "smb share:DATA:/bundles/uc1"
    calls = smb_calls(tmp_path)
    assert calls[0] == {
        "call": "register_session",
        "server": "files.example",
        "username": "etl",
        "port": 445,
    }
    assert calls[1] == {"call": "scandir", "path": "\\\\files.example\\DATA\\bundles\\uc1"}
    opened = sorted(c["path"] for c in calls if c["call"] == "open_file")
    assert opened == sorted(
        "\\\\files.example\\DATA\\bundles\\uc1\\" + rel.replace("/", "\\") for rel in BUNDLE
    )


def test_missing_driver_package_is_af320(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    manifest = smb_manifest(tmp_path, monkeypatch, driver="pysmb")
    error = fetch_error(manifest, {**provider_env(tmp_path), "SMB_PASSWORD": b64("smb-pw")})
    assert (error.code, error.message) == (
        "AF320",
        "smb share:DATA:/bundles/uc1: cannot list the bundle: driver "
        "smb:pysmb needs the Python package 'pysmb' on this host "
        "(pip install pysmb)",
    )


def test_unknown_driver_is_af320(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    manifest = smb_manifest(tmp_path, monkeypatch, driver="cifs")
    error = fetch_error(manifest, {**provider_env(tmp_path), "SMB_PASSWORD": b64("smb-pw")})
    assert (error.code, error.message, error.hint) == (
        "AF320",
        "smb share:DATA:/bundles/uc1: resource share uses the unknown connector smb:cifs",
        "smb drivers: pysmb, smbclient",
    )


@pytest.mark.conformance
@pytest.mark.parametrize("strict", [False, True])
def test_smb_matches_the_engine_with_the_stand_in(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, strict: bool
) -> None:
    manifest = smb_manifest(tmp_path, monkeypatch)
    set_strict(manifest, strict)
    env = {**provider_env(tmp_path), "SMB_PASSWORD": b64("smb-pw")}
    engine_env = {
        **env,
        "PYTHONPATH": str(FAKE_SMB),
        "AF_FAKE_SMB_PASSWORD": "smb-pw",
        "AF_FAKE_SMB_ROOT": str(tmp_path / "smb"),
    }
    assert_same_as_engine(manifest, engine_env, ours_env=env)
