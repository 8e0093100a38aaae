"""A bundle manifest: its checks beyond the schema, and its model."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from aetherflow_compiler.diagnostics import Diagnostic
from aetherflow_compiler.frontend.loader import Document
from aetherflow_compiler.ir.nodes import EnvFile
from aetherflow_compiler.suggest import hint_from
from aetherflow_compiler.walk import mapping, mapping_at, text

# The manifest resource kind each source type reads through.
SOURCE_KINDS = {"sftp": "sftp", "smb": "smb", "db": "db", "rest": "rest"}
DEFAULT_ZIP_DRIVERS = ("pyzipper", "zipfile")


@dataclass(frozen=True)
class Source:
    type: str = "filesystem"
    resource: str | None = None
    base_path: str | None = None
    bundle: str | None = None
    list_sql: str | None = None
    fetch_sql: str | None = None
    list_path: str | None = None
    fetch_path: str | None = None
    prefix_param: str | None = None
    strict_fingerprint: bool = False


@dataclass(frozen=True)
class Manifest:
    path: str  # the manifest file as given
    bundle_id: str
    source: Source
    entry_flow: str
    profiles_file: str
    flows_dir: str | None = None
    plugins_dir: str | None = None
    mode: str = "internal_fast"
    fetch_policy: str = "cache_check"
    resources: dict[str, dict[str, Any]] = field(default_factory=dict)
    trusted_plugins: tuple[str, ...] = ()  # paths.plugins (enterprise mode)
    zip_drivers: tuple[str, ...] = DEFAULT_ZIP_DRIVERS
    env_files: tuple[EnvFile, ...] = ()


def check_manifest(doc: Document) -> list[Diagnostic]:
    """What the schema cannot say: the source's required keys per type, and that its
    resource is a manifest resource of the kind the type reads through."""
    data = mapping(doc.data)
    source = mapping_at(data, "bundle", "source")
    base: tuple[Any, ...] = ("bundle", "source")
    out: list[Diagnostic] = []

    def at(path: tuple[Any, ...], message: str, hint: str | None = None) -> None:
        span = doc.span(path)
        out.append(Diagnostic(doc.path, span.line, span.column, "AF318", message, hint))

    for name, resource in mapping(data.get("resources")).items():
        if mapping(resource).get("profile") is not None:
            at(
                ("resources", name, "profile"),
                f"manifest resource '{name}' names a profile",
                "a manifest is read before its bundle, so the bundle's profiles cannot configure it: write the "
                "values under config and options (env templates allowed)",
            )
    stype = text(source.get("type")) or "filesystem"
    if stype != "filesystem" and stype not in SOURCE_KINDS:
        return out  # the schema names the source types
    if stype in ("filesystem", "sftp", "smb") and "base_path" not in source:
        at(
            base,
            f"a {stype} source needs base_path",
            "the bundle root: relative to the manifest for filesystem, "
            "the remote directory for sftp and smb",
        )
    base_path = source.get("base_path")
    if isinstance(base_path, str) and "\x00" in base_path:
        at(
            base + ("base_path",),
            "base_path holds a NUL character",
            "no file system or server has such a path; " "the engine fails on it too",
        )
    if stype == "filesystem":
        return out
    name = source.get("resource")
    if not isinstance(name, str):
        at(base, f"a {stype} source needs a resource", "name one of the manifest's resources")
        return out
    resources = mapping(data.get("resources"))
    if name not in resources:
        hint = (
            "declare it under the manifest's resources:"
            if not resources
            else hint_from(name, [str(r) for r in resources], "manifest resources")
        )
        at(base + ("resource",), f"the {stype} source uses unknown resource '{name}'", hint)
        return out
    kind = mapping(resources[name]).get("kind")
    if isinstance(kind, str) and kind != SOURCE_KINDS[stype]:
        at(
            base + ("resource",),
            f"a {stype} source reads through a resource of kind '{SOURCE_KINDS[stype]}', "
            f"but '{name}' is of kind '{kind}'",
        )
    return out


def manifest_of(doc: Document) -> Manifest:
    """The model of a manifest that passed its checks."""
    data = mapping(doc.data)
    bundle = mapping(data.get("bundle"))
    source = mapping(bundle.get("source"))
    layout = mapping(bundle.get("layout"))
    plugins = mapping(data.get("paths")).get("plugins") or []
    env_files = []
    for item in data.get("env_files") or []:
        if isinstance(item, str):
            env_files.append(EnvFile(item))
        else:
            spec = mapping(item)
            env_files.append(
                EnvFile(
                    str(spec["path"]),
                    str(spec.get("type") or "dotenv"),
                    bool(spec.get("optional", False)),
                    str(spec.get("prefix") or ""),
                )
            )
    return Manifest(
        path=doc.path,
        bundle_id=str(bundle["id"]),
        source=Source(
            **{k: v for k, v in source.items() if k != "strict_fingerprint"},
            strict_fingerprint=bool(source.get("strict_fingerprint") or False),
        ),
        entry_flow=str(bundle["entry_flow"]),
        profiles_file=str(layout["profiles_file"]),
        flows_dir=text(layout.get("flows_dir")),
        plugins_dir=text(layout.get("plugins_dir")),
        mode=str(data.get("mode") or "internal_fast"),
        fetch_policy=str(bundle.get("fetch_policy") or "cache_check"),
        resources={str(k): dict(mapping(v)) for k, v in mapping(data.get("resources")).items()},
        trusted_plugins=tuple([plugins] if isinstance(plugins, str) else plugins),
        zip_drivers=(
            tuple(sorted(set(data["zip_drivers"])))
            if "zip_drivers" in data
            else DEFAULT_ZIP_DRIVERS
        ),
        env_files=tuple(env_files),
    )
