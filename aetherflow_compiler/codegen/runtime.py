"""The runtime one compile vendors: its files and hash (cheap to import: a compile that
the cache answers needs only this)."""

from __future__ import annotations

from dataclasses import dataclass

from aetherflow_compiler.codegen import vendor


@dataclass(frozen=True)
class RuntimeBundle:
    """The runtime vendored for one compile: its files, hash and step implementations."""

    files: dict[str, str]
    sha256: str
    modules: list[str]
    version: str


def runtime_bundle(modules: list[str]) -> RuntimeBundle:
    modules = sorted(set(modules))
    files = vendor.runtime_files(modules)
    return RuntimeBundle(files, vendor.runtime_sha256(files), modules, vendor.runtime_version())
