"""Reading a bundle from its source, once, when compiling.

A bundle is listed and read the way the engine's `sync_bundle` lists and reads it, so the
fingerprint is the engine's, byte for byte: a local directory (every regular file below
it, hidden ones and `__pycache__` included, without following links to directories), an
SFTP or SMB directory walked through the runtime's connectors, the rows of a database
table, or a REST listing. Remote sources are configured by a manifest resource, resolved
as a compiled artifact resolves its resources at run time: env templates rendered from the
environment, `decode` paths passed through the secrets provider.

Every failure is a BundleFetchError: AF320 when the bundle cannot be read, AF321 when a
file's content does not match the sha256 its source lists. Messages name the source and
the file; the values of the resources (and what their templates and secrets resolve to)
are replaced by `***` in anything a driver reports.
"""

from __future__ import annotations

import hashlib
import importlib
import json
import os
import posixpath
import stat
import tempfile
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import quote, quote_plus, unquote, urlsplit

from aetherflow_compiler import package_data
from aetherflow_compiler.frontend.parse_template import TemplateSyntaxError, parse_template
from aetherflow_compiler.frontend.resource_values import decode_requests
from aetherflow_compiler.ir.template import Ref, Template
from aetherflow_compiler.project.bundles.manifest import SOURCE_KINDS, Manifest, Source
from aetherflow_compiler.walk import mapping

# The runtime's connector modules a bundle source can read through; importing them
# registers their classes in CONNECTOR_TYPES.
CONNECTOR_MODULES = ("sftp", "smb", "sqlite", "db_drivers", "rest")

# The engine's defaults (_DBAssetSource, _RESTAssetSource).
DEFAULT_LIST_SQL = (
    "SELECT path, sha256, updated_at, size FROM assets WHERE bundle = :bundle ORDER BY path"
)
DEFAULT_FETCH_SQL = "SELECT data FROM assets WHERE bundle = :bundle AND path = :path"
DEFAULT_LIST_PATH = "/list"
DEFAULT_FETCH_PATH = "/fetch"
DEFAULT_PREFIX_PARAM = "prefix"

MAX_DEPTH = 100  # directory levels below the base path: deeper is a link loop
MASK = "***"
DETAIL_LIMIT = 300  # characters of a driver's message kept in ours


@dataclass(frozen=True)
class FetchedBundle:
    manifest: Manifest
    files: dict[str, bytes]  # relative path ('flows/main.yaml') -> content, sorted by path
    fingerprint: str  # the engine's fingerprint of this bundle
    where: str  # how messages name the source


class BundleFetchError(Exception):
    """AF320: the bundle cannot be read; AF321: a file does not match its listed sha256."""

    def __init__(self, code: str, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.hint = hint


class SourceProblem(Exception):
    """A problem a source found itself: its message is ours, shown as it is."""


@dataclass(frozen=True)
class Entry:
    """One file of the listing."""

    rel_path: str  # as the source lists it: what the fingerprint is made of
    size: int | None
    mtime: float | None
    sha256: str | None  # listed by the source (db, rest); None when it lists none
    locator: str  # what the source reads: a local or remote path, or the db/rest path


class BundleReader(Protocol):
    where: str

    def entries(self) -> list[Entry]: ...

    def read(self, entry: Entry) -> bytes: ...


# --- the engine's fingerprint --------------------------------------------------------


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def mtime_ms(mtime: Any) -> int:
    """The engine's mtime signature: whole milliseconds, 0 when unknown."""
    if not mtime:
        return 0
    try:
        return int(float(mtime) * 1000)
    except (TypeError, ValueError, OverflowError):
        return 0


def fingerprint(entries: Iterable[Entry]) -> str:
    """The engine's `_fingerprint`: sha256 of the JSON list of (path, signature) pairs
    sorted by path; the signature is the listed sha256, else size and mtime."""
    parts = []
    for entry in sorted(entries, key=lambda e: e.rel_path):
        if entry.sha256:
            sig = f"sha256:{entry.sha256}"
        else:
            sig = f"sz:{entry.size or 0}|mt_ms:{mtime_ms(entry.mtime)}"
        parts.append((entry.rel_path, sig))
    raw = json.dumps(parts, separators=(",", ":"), ensure_ascii=False)
    return sha256_hex(raw.encode("utf-8"))


# --- messages ---------------------------------------------------------------------------


SECRET_WORDS = ("pass", "secret", "token", "key", "credential", "auth")


def secret_name(name: Any) -> bool:
    return any(word in str(name).lower() for word in SECRET_WORDS)


@dataclass
class Scrubber:
    """Replaces the resources' values in drivers' messages by `***`: strings of three
    characters or more and numbers of three digits or more; any non-empty string that is
    a secret (decoded, under a key such as password or token, a URL's user or password)."""

    values: set[str] = field(default_factory=set)

    def add(self, value: Any, secret: bool = False) -> None:
        if isinstance(value, bool) or value is None:
            return
        if isinstance(value, dict):
            for key, item in value.items():
                self.add(item, secret or secret_name(key))
        elif isinstance(value, (list, tuple)):
            for item in value:
                self.add(item, secret)
        elif isinstance(value, (str, int, float)):
            text = str(value)
            if len(text) >= 3 or (secret and isinstance(value, str) and text):
                self.values.add(text)
            if isinstance(value, str) and "://" in value:
                self._add_url_parts(value)

    def _add_url_parts(self, url: str) -> None:
        """A URL's user, password, host and port: drivers name them on their own."""
        try:
            parts = urlsplit(url)
            user, password, host, port = parts.username, parts.password, parts.hostname, parts.port
        except ValueError:
            return
        for part in (user, password):
            if part:
                self.add(unquote(part), secret=True)
        self.add(host)
        self.add(port)

    def __call__(self, message: str) -> str:
        for value in sorted(self.values, key=len, reverse=True):
            for form in dict.fromkeys(
                (value, quote(value, safe=""), quote(value), quote_plus(value))
            ):
                message = message.replace(form, MASK)
        return message


def describe(exc: BaseException, scrub: Callable[[str], str]) -> str:
    """One line: our own problems as they are; the runtime's (written for users) and a
    driver's (as `Type: message`) by their first line, scrubbed."""
    if isinstance(exc, SourceProblem):
        return str(exc)
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    text = " ".join(scrub(lines[0]).split()) if lines else ""
    if len(text) > DETAIL_LIMIT:
        text = text[: DETAIL_LIMIT - 3] + "..."
    if text and isinstance(
        exc, (runtime("errors").ConfigError, runtime("connectors").ConnectorError)
    ):
        return text
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def fetch_error(message: str, hint: str | None = None) -> BundleFetchError:
    return BundleFetchError("AF320", message, hint)


# --- filesystem -------------------------------------------------------------------------


def local_root(manifest: Manifest) -> Path:
    """The engine's: base_path relative to the manifest's directory unless absolute."""
    base = manifest.source.base_path or ""
    here = Path(manifest.path).parent
    if not base:
        return here.resolve()
    return (Path(base) if base.startswith("/") else here / base).resolve()


class LocalSource:
    """Every regular file below the root (links to files followed, links to directories
    not entered), as the engine's `Path.rglob("*")` finds them."""

    def __init__(self, root: Path, shown: str | None = None) -> None:
        self.root = root
        self.where = shown or str(root)  # messages: the base_path as the manifest writes it

    def entries(self) -> list[Entry]:
        if not self.root.is_dir():
            what = "does not exist" if not self.root.exists() else "is not a directory"
            raise SourceProblem(f"the bundle directory {what}")
        out: list[Entry] = []
        self._walk(str(self.root), "", out, 0)
        return out

    def _walk(self, directory: str, prefix: str, out: list[Entry], depth: int) -> None:
        if depth > MAX_DEPTH:
            raise SourceProblem(
                f"directories nested more than {MAX_DEPTH} levels deep below {prefix}"
            )
        with os.scandir(directory) as found:
            entries = sorted(found, key=lambda e: e.name)
        for item in entries:
            rel = f"{prefix}/{item.name}" if prefix else item.name
            if item.is_dir(follow_symlinks=False):
                self._walk(item.path, rel, out, depth + 1)
                continue
            try:
                info = os.stat(item.path)  # follows links, as Path.is_file() does
            except OSError:
                continue  # a broken link: not a file
            if stat.S_ISREG(info.st_mode):
                out.append(Entry(rel, int(info.st_size), float(info.st_mtime), None, item.path))

    def read(self, entry: Entry) -> bytes:
        with open(entry.locator, "rb") as fh:
            return fh.read()


# --- sftp and smb -----------------------------------------------------------------------


def remote_bytes(connector: Any, path: str) -> bytes:
    """The file's content: `read_bytes()` where the connector has it (the engine's
    connectors and the runtime's sftp), else `download()` into a temporary file (the
    runtime's smb connectors have no read_bytes)."""
    reader = getattr(connector, "read_bytes", None)
    if callable(reader):
        return bytes(reader(path))
    with tempfile.TemporaryDirectory(prefix="aetherflow-bundle-") as scratch:
        local = os.path.join(scratch, "file")
        connector.download(path, local)
        with open(local, "rb") as fh:
            return fh.read()


class SftpSource:
    """The engine's _SFTPSource: walk the connector's `list()` by the paths it gives,
    paths relative to the base path."""

    def __init__(self, connector: Any, base_path: str, where: str) -> None:
        self.connector = connector
        self.base = base_path.rstrip("/") or "/"
        self.where = where

    def _relative(self, path: str) -> str:
        if self.base != "/" and path.startswith(self.base + "/"):
            return path[len(self.base) + 1 :]
        if self.base == "/" and path.startswith("/"):
            return path[1:]
        return path

    def entries(self) -> list[Entry]:
        out: list[Entry] = []
        pending = [(self.base, 0)]
        while pending:
            current, depth = pending.pop()
            for meta in self.connector.list(current):
                path = meta.path or ""
                if meta.is_dir:
                    if path and path != current:
                        if depth >= MAX_DEPTH:
                            raise SourceProblem(
                                f"directories nested more than {MAX_DEPTH} levels deep at {path}"
                            )
                        pending.append((path, depth + 1))
                    continue
                out.append(Entry(self._relative(path), meta.size, meta.mtime, None, path))
        return out

    def read(self, entry: Entry) -> bytes:
        return remote_bytes(self.connector, entry.locator)


def smb_join(parent: str, name: str) -> str:
    """The engine's join of an SMB directory and a name ('SHARE:/dir' kept as such)."""
    parent = parent.rstrip("/\\")
    if not parent:
        return name
    if ":/" in parent:
        share, rest = parent.split(":/", 1)
        rest = rest.strip("/\\")
        return f"{share}:/{posixpath.join(rest, name) if rest else name}"
    return posixpath.join(parent.replace("\\", "/"), name)


class SmbSource:
    """The engine's _SMBSource: walk by names joined to the directory, paths relative
    to the base path; files are read at base_path + '/' + relative path."""

    def __init__(self, connector: Any, base_path: str, where: str) -> None:
        self.connector = connector
        self.base_path = base_path
        self.where = where

    def _locator(self, rel: str) -> str:
        if not self.base_path:
            return rel
        return f"{self.base_path.rstrip('/')}/{rel.lstrip('/')}"

    def entries(self) -> list[Entry]:
        out: list[Entry] = []
        pending = [(self.base_path.rstrip("/\\"), "", 0)]
        while pending:
            current, prefix, depth = pending.pop()
            for meta in self.connector.list(current) or []:
                name = meta.name
                if not name or name in (".", ".."):
                    continue
                child = smb_join(current, str(name))
                rel = f"{prefix}/{name}" if prefix else str(name)
                if meta.is_dir:
                    if child and child != current:
                        if depth >= MAX_DEPTH:
                            raise SourceProblem(
                                f"directories nested more than {MAX_DEPTH} levels deep at {rel}"
                            )
                        pending.append((child, rel, depth + 1))
                    continue
                out.append(Entry(rel, meta.size, meta.mtime, None, self._locator(rel)))
        return out

    def read(self, entry: Entry) -> bytes:
        return remote_bytes(self.connector, entry.locator)


# --- db ---------------------------------------------------------------------------------


def _converted(value: Any, convert: Callable[[Any], Any], what: str, row: int) -> Any:
    if value is None:
        return None
    try:
        return convert(value)
    except (TypeError, ValueError, OverflowError):
        raise SourceProblem(f"row {row} of the listing: {what} {value!r} is not a number") from None


class DbSource:
    """The engine's _DBAssetSource: list_sql gives (path, sha256, updated_at, size) rows
    for :bundle, fetch_sql one file's data for :bundle and :path."""

    def __init__(
        self, connector: Any, bundle: str, list_sql: str, fetch_sql: str, where: str
    ) -> None:
        self.connector = connector
        self.bundle = bundle
        self.list_sql = list_sql
        self.fetch_sql = fetch_sql
        self.where = where

    def entries(self) -> list[Entry]:
        columns, rows = self.connector.fetchall(self.list_sql, {"bundle": self.bundle})
        index = {str(c): i for i, c in enumerate(columns)}
        out = []
        for number, row in enumerate(rows, 1):
            path = row[index.get("path", 0)]
            if path is None:
                raise SourceProblem(f"row {number} of the listing has no path")
            sha = row[index["sha256"]] if "sha256" in index else None
            out.append(
                Entry(
                    rel_path=str(path),
                    size=_converted(
                        row[index["size"]] if "size" in index else None, int, "size", number
                    ),
                    mtime=_converted(
                        row[index["updated_at"]] if "updated_at" in index else None,
                        float,
                        "updated_at",
                        number,
                    ),
                    sha256=str(sha) if sha is not None and str(sha) else None,
                    locator=str(path).lstrip("/"),
                )
            )
        return out

    def read(self, entry: Entry) -> bytes:
        _columns, rows = self.connector.fetchall(
            self.fetch_sql, {"bundle": self.bundle, "path": entry.locator}
        )
        if not rows:
            raise SourceProblem("fetch_sql returned no row")
        data = rows[0][0]
        if data is None:
            return b""
        if isinstance(data, (bytes, bytearray, memoryview)):
            return bytes(data)
        raise SourceProblem(
            f"fetch_sql returned {type(data).__name__}, not bytes (store the file as a blob)"
        )


# --- rest -------------------------------------------------------------------------------


def _answer(response: Any, what: str) -> Any:
    code = int(response.status_code)
    if not 200 <= code < 300:
        raise SourceProblem(f"{what} answered HTTP {code}")
    return response


class RestSource:
    """The engine's _RESTAssetSource: GET list_path?bundle=&prefix= answers
    {"files": [{"path", "sha256", "size", "mtime"}]}, GET fetch_path?bundle=&path= the bytes."""

    def __init__(self, connector: Any, bundle: str, source: Source, where: str) -> None:
        self.connector = connector
        self.bundle = bundle
        self.list_path = str(source.list_path or DEFAULT_LIST_PATH)
        self.fetch_path = str(source.fetch_path or DEFAULT_FETCH_PATH)
        self.prefix_param = str(source.prefix_param or DEFAULT_PREFIX_PARAM)
        self.prefix = source.base_path or ""
        self.where = where

    def entries(self) -> list[Entry]:
        params = {"bundle": self.bundle, self.prefix_param: self.prefix}
        response = _answer(
            self.connector.get(self.list_path, params=params), f"GET {self.list_path}"
        )
        try:
            payload = response.json() or {}
        except ValueError:
            raise SourceProblem(f"GET {self.list_path} did not answer JSON") from None
        files = (payload.get("files") or []) if isinstance(payload, dict) else None
        if not isinstance(files, list):
            raise SourceProblem(f'GET {self.list_path} did not answer {{"files": [...]}}')
        return [self._entry(item, number) for number, item in enumerate(files, 1)]

    def _entry(self, item: Any, number: int) -> Entry:
        if not isinstance(item, dict) or item.get("path") is None:
            raise SourceProblem(f"file {number} of the listing has no path")
        path = str(item["path"])
        sha = item.get("sha256") or None
        return Entry(
            rel_path=path,
            size=_converted(item.get("size"), int, "size", number),
            mtime=_converted(item.get("mtime"), float, "mtime", number),
            sha256=str(sha) if sha is not None else None,
            locator=path.lstrip("/"),
        )

    def read(self, entry: Entry) -> bytes:
        params = {"bundle": self.bundle, "path": entry.locator}
        response = _answer(
            self.connector.get(self.fetch_path, params=params), f"GET {self.fetch_path}"
        )
        return bytes(response.content)


# --- resources --------------------------------------------------------------------------


def runtime(name: str) -> Any:
    return importlib.import_module(f"{package_data.RUNTIME}.{name}")


def _runtime_template(template: Template, where: str) -> Any:
    templating = runtime("templating")
    refs = template.refs
    for ref in refs:
        if ref.root != "env":
            raise SourceProblem(
                f"{where}: {{{{{ref.dotted}}}}} is not an env template (only {{{{env.NAME}}}})"
            )
    if not refs:
        return template.source
    if template.standalone:
        return templating.Ref(refs[0].dotted, default=refs[0].default)
    pieces = [
        templating.Ref(p.dotted, default=p.default) if isinstance(p, Ref) else p.text
        for p in template.parts
    ]
    return templating.Text(*pieces)


def runtime_value(value: Any, where: str) -> Any:
    """Manifest YAML -> the runtime's resource value: templates become its Ref and Text."""
    if isinstance(value, str):
        try:
            template = parse_template(value)
        except TemplateSyntaxError as exc:
            raise SourceProblem(f"{where}: {exc} ({exc.detail})") from None
        return value if template is None else _runtime_template(template, where)
    if isinstance(value, dict):
        return {k: runtime_value(v, f"{where}.{k}") for k, v in value.items()}
    if isinstance(value, list):
        return [runtime_value(v, f"{where}[{i}]") for i, v in enumerate(value)]
    return value


class RecordingProvider:
    """The secrets provider, remembering what it decodes (to keep it out of messages)."""

    def __init__(self, provider: Any, scrub: Scrubber) -> None:
        self.provider = provider
        self.scrub = scrub

    def decode(self, value: str, where: str) -> str:
        self.scrub.add(value, secret=True)
        decoded: str = self.provider.decode(value, where)
        self.scrub.add(decoded, secret=True)
        return decoded


def runtime_resources(manifest: Manifest) -> dict[str, Any]:
    """The manifest's resources as the runtime's Resource objects."""
    resource_cls = runtime("resources").Resource
    out = {}
    for name, raw in manifest.resources.items():
        base = f"resources.{name}"
        decode = [(section, dotted) for section, dotted, _ in decode_requests(raw.get("decode"))]
        out[name] = resource_cls(
            str(raw.get("kind")),
            str(raw.get("driver")),
            runtime_value(dict(mapping(raw.get("config"))), f"{base}.config"),
            runtime_value(dict(mapping(raw.get("options"))), f"{base}.options"),
            list(dict.fromkeys(decode)),
        )
    return out


def _mask_env_values(resources: dict[str, Any], env: Mapping[str, str], scrub: Scrubber) -> None:
    """What the resources' env templates read, also when it ends up inside a longer text."""
    templating = runtime("templating")
    for res in resources.values():
        for ref in templating.env_refs([res.config, res.options]):
            scrub.add(env.get(ref.path[len("env.") :]))


def resolve(
    manifest: Manifest, environ: Mapping[str, str], scrub: Scrubber
) -> tuple[dict[str, Any], Any]:
    """(name -> resolved resource, settings): the env snapshot expanded by the secrets
    provider, templates rendered, decode paths decoded, as a run does."""
    settings = runtime("settings").load_settings(dict(environ))
    provider = runtime("secrets_provider").load_secrets_provider(
        settings.secrets_module, settings.secrets_path
    )
    env = dict(environ)
    if provider is not None:
        env = provider.expand(env)
    resources = runtime_resources(manifest)
    _mask_env_values(resources, env, scrub)
    recording = RecordingProvider(provider, scrub) if provider is not None else None
    resolved: dict[str, Any] = runtime("resources").resolve_resources(resources, env, recording)
    for res in resolved.values():
        scrub.add(res["config"])
        scrub.add(res["options"])
    return resolved, settings


# --- fetching ---------------------------------------------------------------------------


def remote_where(manifest: Manifest) -> str:
    source = manifest.source
    if source.type in ("sftp", "smb"):
        return f"{source.type} {source.resource}:{source.base_path or ''}"
    return f"{source.type} {source.resource} (bundle {source.bundle or manifest.bundle_id})"


def remote_source(manifest: Manifest, connector: Any, where: str) -> BundleReader:
    source = manifest.source
    bundle = str(source.bundle or manifest.bundle_id)
    if source.type == "sftp":
        return SftpSource(connector, source.base_path or "", where)
    if source.type == "smb":
        return SmbSource(connector, source.base_path or "", where)
    if source.type == "db":
        return DbSource(
            connector,
            bundle,
            source.list_sql or DEFAULT_LIST_SQL,
            source.fetch_sql or DEFAULT_FETCH_SQL,
            where,
        )
    return RestSource(connector, bundle, source, where)


def open_connector(
    manifest: Manifest, environ: Mapping[str, str], where: str, scrub: Scrubber
) -> tuple[Any, Any]:
    """(the Connectors of the manifest's resources, the source's connector)."""
    connectors_module = runtime("connectors")
    for module in CONNECTOR_MODULES:
        runtime(f"connectors.{module}")
    name = str(manifest.source.resource)
    try:
        resolved, settings = resolve(manifest, environ, scrub)
    except Exception as exc:
        raise fetch_error(
            f"{where}: cannot resolve the manifest's resources: {describe(exc, scrub)}"
        ) from None
    connectors = connectors_module.Connectors(resolved, settings=settings)
    kind = SOURCE_KINDS[manifest.source.type]
    res = resolved.get(name)
    if res is not None and (res["kind"], res["driver"]) not in connectors_module.CONNECTOR_TYPES:
        known = sorted(d for k, d in connectors_module.CONNECTOR_TYPES if k == res["kind"])
        raise fetch_error(
            f"{where}: resource {name} uses the unknown connector {res['kind']}:{res['driver']}",
            f"{res['kind']} drivers: {', '.join(known)}" if known else None,
        )
    try:
        return connectors, connectors.get(kind=kind, name=name)
    except Exception as exc:
        connectors.close_all()
        raise fetch_error(f"{where}: cannot open resource {name}: {describe(exc, scrub)}") from None


def checked_key(entry: Entry, where: str) -> str:
    """The file's path in the bundle: '/'-separated, relative, never leaving it."""
    parts = [p for p in entry.rel_path.lstrip("/").split("/") if p not in ("", ".")]
    if not parts or ".." in parts:
        raise fetch_error(
            f"{where}: the listed path {entry.rel_path!r} is not a path inside the bundle"
        )
    try:
        entry.rel_path.encode("utf-8")
    except UnicodeEncodeError:
        raise fetch_error(f"{where}: the listed path {entry.rel_path!r} is not UTF-8") from None
    return "/".join(parts)


def read_all(
    source: BundleReader, entries: list[Entry], scrub: Callable[[str], str]
) -> dict[str, bytes]:
    """Every listed file's content (by its path in the bundle), checked against the
    sha256 its source lists."""
    out: dict[str, bytes] = {}
    for entry in entries:
        key = checked_key(entry, source.where)
        if key in out:
            raise fetch_error(f"{source.where}: the listing names {key} more than once")
        try:
            data = source.read(entry)
        except Exception as exc:
            raise fetch_error(
                f"{source.where}: cannot read {key}: {describe(exc, scrub)}"
            ) from None
        if entry.sha256:
            computed = sha256_hex(data)
            if computed != entry.sha256:
                raise BundleFetchError(
                    "AF321",
                    f"{source.where}: {key} does not match the sha256 its source lists "
                    f"(listed {entry.sha256}, content {computed})",
                    "publish the bundle again, or fix the checksum the source lists",
                )
        out[key] = data
    return out


def fetch_from(
    manifest: Manifest, source: BundleReader, scrub: Callable[[str], str]
) -> FetchedBundle:
    try:
        entries = sorted(source.entries(), key=lambda e: e.rel_path)
    except Exception as exc:
        raise fetch_error(
            f"{source.where}: cannot list the bundle: {describe(exc, scrub)}"
        ) from None
    contents = read_all(source, entries, scrub)
    if manifest.source.strict_fingerprint:  # the engine hashes the files that list no sha256
        keys = [checked_key(e, source.where) for e in entries]
        entries = [
            (
                e
                if e.sha256
                else Entry(e.rel_path, e.size, e.mtime, sha256_hex(contents[k]), e.locator)
            )
            for e, k in zip(entries, keys, strict=True)
        ]
    files = {key: contents[key] for key in sorted(contents)}
    return FetchedBundle(manifest, files, fingerprint(entries), source.where)


def fetch_bundle(manifest: Manifest, environ: Mapping[str, str]) -> FetchedBundle:
    """Read the bundle the manifest names, with the engine's fingerprint.

    `environ` is the environment the resources resolve from (AETHERFLOW_SECRETS_MODULE,
    AETHERFLOW_SECRETS_PATH and AETHERFLOW_SETTINGS_MODULE are read from it too)."""
    if manifest.source.type == "filesystem":
        shown = f"directory '{manifest.source.base_path or '.'}' (next to the manifest)"
        return fetch_from(manifest, LocalSource(local_root(manifest), shown), Scrubber())
    where = remote_where(manifest)
    scrub = Scrubber()
    connectors, connector = open_connector(manifest, environ, where, scrub)
    try:
        return fetch_from(manifest, remote_source(manifest, connector, where), scrub)
    finally:
        connectors.close_all()
