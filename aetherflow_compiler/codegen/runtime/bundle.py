"""The runtime one compile vendors: its files and hash (cheap to import: a compile that
the cache answers needs only this)."""

from __future__ import annotations

from dataclasses import dataclass

from aetherflow_compiler.codegen.runtime.package import (
    runtime_files,
    runtime_sha256,
    runtime_version,
)


@dataclass(frozen=True)
class RuntimeBundle:
    """The runtime vendored for one compile: its files, hash and step implementations."""

    files: dict[str, str]
    sha256: str
    modules: list[str]
    version: str


def runtime_bundle(modules: list[str]) -> RuntimeBundle:
    modules = sorted(set(modules))
    files = runtime_files(modules)
    return RuntimeBundle(files, runtime_sha256(files), modules, runtime_version())
