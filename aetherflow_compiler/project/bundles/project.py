"""A bundle manifest turned into what one compile needs, as the engine's run wires it.

The engine syncs the bundle on every host, then runs `entry_flow` with the bundle's
profiles file, its plugins (internal_fast mode) or the manifest's trusted `paths.plugins`
(enterprise mode), the manifest's mode and, in enterprise mode, its archive drivers. Here
the bundle is read once, by the compiler; a bundle from a remote source is written to the
compile cache (content-addressed by its fingerprint), a filesystem bundle is compiled
where it is, so that problems point at its real files.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass

from aetherflow_compiler.cache import cache_dir
from aetherflow_compiler.diagnostics import Diagnostic
from aetherflow_compiler.frontend.loader import Document
from aetherflow_compiler.ir.nodes import EnvFile
from aetherflow_compiler.project.bundles.fetch import (
    BundleFetchError,
    Entry,
    FetchedBundle,
    fetch_bundle,
    fingerprint,
    sha256_hex,
)
from aetherflow_compiler.project.bundles.manifest import Manifest, manifest_of
from aetherflow_compiler.suggest import did_you_mean


@dataclass(frozen=True)
class BundleProject:
    manifest: Manifest
    root: str  # the bundle's files on disk
    fingerprint: str
    where: str  # the source, for messages
    flow_paths: tuple[str, ...]  # what to compile: layout.flows_dir, else the entry flow
    entry_flow: str  # its path on disk
    profiles: str  # the profiles file on disk
    plugin_dirs: tuple[str, ...]

    @property
    def env_files(self) -> tuple[EnvFile, ...]:
        return self.manifest.env_files

    def claimed_files(self) -> tuple[list[str], set[str]]:
        """The bundle's flow files, and the real paths of those and of its profiles file:
        what a search of a folder holding the bundle leaves to the bundle."""
        from aetherflow_compiler.project.sources import find_sources

        flows = find_sources(list(self.flow_paths)).files
        return flows, {os.path.realpath(path) for path in [*flows, self.profiles]}

    def manifest_entry(self) -> dict[str, object]:
        """What manifest.json records of the bundle."""
        return {
            "id": self.manifest.bundle_id,
            "fingerprint": self.fingerprint,
            "source": self.manifest.source.type,
            "entry_flow": self.manifest.entry_flow,
            "mode": self.manifest.mode,
        }


def open_bundle(
    doc: Document, environ: Mapping[str, str]
) -> tuple[BundleProject | None, list[Diagnostic]]:
    """Fetch the bundle a checked manifest names and lay out its compile inputs; located
    diagnostics (on the manifest) when it cannot be read or lacks what it names."""
    manifest = manifest_of(doc)

    def at(
        path: tuple[object, ...], code: str, message: str, hint: str | None = None
    ) -> list[Diagnostic]:
        span = doc.span(path)
        return [Diagnostic(doc.path, span.line, span.column, code, message, hint)]

    try:
        fetched = fetch_bundle(manifest, environ)
    except BundleFetchError as exc:
        return None, at(("bundle", "source"), exc.code, exc.message, exc.hint)
    unsafe = sorted(rel for rel in fetched.files if rel.startswith("/") or ".." in rel.split("/"))
    if unsafe:
        return None, at(
            ("bundle", "source"),
            "AF320",
            f"bundle {manifest.bundle_id} lists a file outside its " f"root: '{unsafe[0]}'",
            "a bundle's paths are relative to its root, without '..'",
        )
    content = content_fingerprint(fetched.files)
    root = _on_disk(fetched, content)
    problems: list[Diagnostic] = []
    named = (
        ("entry_flow", manifest.entry_flow, ("bundle", "entry_flow")),
        ("layout.profiles_file", manifest.profiles_file, ("bundle", "layout", "profiles_file")),
    )
    root_named = (
        f"base_path '{manifest.source.base_path}' next to the manifest"
        if manifest.source.type == "filesystem"
        else fetched.where
    )
    for what, rel, path in named:
        if _norm(rel) not in fetched.files:
            problems += at(
                path,
                "AF319",
                f"bundle {manifest.bundle_id} has no {what} '{rel}'",
                did_you_mean(_norm(rel), list(fetched.files))
                or f"paths are relative to the bundle root ({root_named})",
            )
    folders = (
        ("layout.flows_dir", manifest.flows_dir, ("bundle", "layout", "flows_dir")),
        ("layout.plugins_dir", manifest.plugins_dir, ("bundle", "layout", "plugins_dir")),
    )
    for what, folder, path in folders:
        if folder is not None and not any(
            name.startswith(_norm(folder) + "/") for name in fetched.files
        ):
            problems += at(
                path,
                "AF319",
                f"bundle {manifest.bundle_id} has no {what} '{folder}'",
                f"paths are relative to the bundle root ({root_named})",
            )
    plugin_dirs = _plugin_dirs(manifest, root)
    for index, directory in enumerate(plugin_dirs if manifest.mode == "enterprise" else ()):
        if not os.path.isdir(directory):
            problems += at(
                ("paths", "plugins") + ((index,) if len(plugin_dirs) > 1 else ()),
                "AF319",
                f"trusted plugin directory '{manifest.trusted_plugins[index]}' does not exist",
                "paths.plugins are relative to the manifest, or absolute",
            )
    if problems:
        return None, problems
    entry = os.path.join(root, _norm(manifest.entry_flow))
    flows = (os.path.join(root, _norm(manifest.flows_dir)),) if manifest.flows_dir else (entry,)
    return (
        BundleProject(
            manifest,
            root,
            content,
            fetched.where,
            flows,
            entry,
            os.path.join(root, _norm(manifest.profiles_file)),
            plugin_dirs,
        ),
        [],
    )


def content_fingerprint(files: dict[str, bytes]) -> str:
    """The engine's fingerprint of the bundle with every file's sha256 (what its
    `strict_fingerprint` gives): made of contents only, so the same bundle gives the same
    value on every machine, whatever its files' modification times."""
    return fingerprint(
        Entry(rel, len(data), None, sha256_hex(data), rel) for rel, data in files.items()
    )


def _norm(rel: str) -> str:
    return os.path.normpath(rel).replace(os.sep, "/").lstrip("/")


def _plugin_dirs(manifest: Manifest, root: str) -> tuple[str, ...]:
    """internal_fast: the bundle's plugins_dir; enterprise: only the manifest's trusted
    paths.plugins (relative to the manifest), never the bundle's own plugins."""
    if manifest.mode == "enterprise":
        base = os.path.dirname(os.path.abspath(manifest.path))
        return tuple(os.path.normpath(os.path.join(base, p)) for p in manifest.trusted_plugins)
    return (os.path.join(root, _norm(manifest.plugins_dir)),) if manifest.plugins_dir else ()


def _on_disk(fetched: FetchedBundle, content: str) -> str:
    """The bundle's directory: a filesystem source's own, else a copy in the compile cache
    under its fingerprint (written once, atomically)."""
    manifest = fetched.manifest
    if manifest.source.type == "filesystem":
        base = os.path.dirname(os.path.abspath(manifest.path))
        return os.path.normpath(os.path.join(base, manifest.source.base_path or "."))
    target = os.path.join(cache_dir(), "bundles", _safe(manifest.bundle_id), content)
    if os.path.isdir(target):
        return target
    parent = os.path.dirname(target)
    os.makedirs(parent, exist_ok=True)
    staging = tempfile.mkdtemp(prefix=".fetch-", dir=parent)
    for rel, data in fetched.files.items():
        path = os.path.join(staging, *rel.split("/"))
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as fh:
            fh.write(data)
    try:
        os.rename(staging, target)
    except OSError:  # another compile wrote it first: the content is the same
        import shutil

        shutil.rmtree(staging, ignore_errors=True)
    return target


def _safe(name: str) -> str:
    return "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in name) or "bundle"
