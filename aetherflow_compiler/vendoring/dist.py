"""What `--wheelhouse` adds to a dist: the unpacked distributions every flow needs, their
manifest entries and the SBOM."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

from aetherflow_compiler.vendoring.layout import SBOM, VENDOR
from aetherflow_compiler.vendoring.sbom import sbom_json
from aetherflow_compiler.vendoring.target import Target
from aetherflow_compiler.vendoring.unpack import UnpackError, unpack
from aetherflow_compiler.vendoring.wheelhouse import Chosen, Need, ResolveError, Wheelhouse


@dataclass(frozen=True)
class FlowNeeds:
    key: str  # the flow's path, as the compile knows it
    flow_id: str
    needs: tuple[Need, ...]


@dataclass(frozen=True)
class Refusal:
    flow: FlowNeeds
    need: Need  # the flow's own need that led to the package (its step or resource)
    message: str
    damaged: bool = False  # the wheel is there but cannot be used as it is


@dataclass
class VendoredDist:
    folders: dict[str, tuple[str, ...]] = field(
        default_factory=dict
    )  # flow key -> folders below aetherflow_vendor/
    files: dict[str, bytes] = field(default_factory=dict)
    entries: dict[str, dict[str, Any]] = field(
        default_factory=dict
    )  # folder -> its manifest.json entry
    target: Target = field(default_factory=Target)


def vendor_flows(
    flows: list[FlowNeeds], house: Wheelhouse, target: Target
) -> VendoredDist | list[Refusal]:
    """Resolve each flow's needs against `house`; every refusal, or the dist files."""
    refusals: list[Refusal] = []
    chosen_by_flow: dict[str, list[Chosen]] = {}
    for flow in flows:
        closure: dict[str, Chosen] = {}
        for need in flow.needs:  # one need at a time, so that a refusal names its step
            try:
                for item in house.resolve([need], target):
                    closure.setdefault(item.dirname, item)
            except ResolveError as exc:
                refusals.append(Refusal(flow, need, str(exc)))
        by_name: dict[str, list[Chosen]] = {}
        for item in closure.values():
            by_name.setdefault(str(item.wheel.name), []).append(item)
        for name, versions in sorted(by_name.items()):
            if len(versions) > 1:  # one flow, one sys.path: the first would win for everybody
                first, second = sorted(versions, key=lambda c: c.wheel.version)[:2]
                refusals.append(
                    Refusal(
                        flow,
                        second.root or flow.needs[0],
                        f"{second.needed_by} takes {second.wheel.filename}, but {first.needed_by} "
                        f"takes {first.wheel.filename}: one flow can load one version of {name}",
                    )
                )
        chosen_by_flow[flow.key] = [closure[name] for name in sorted(closure)]
    if refusals:
        return refusals
    out = VendoredDist(target=target)
    distinct: dict[str, Chosen] = {}
    flows_of: dict[str, list[str]] = {}
    for flow in flows:
        out.folders[flow.key] = tuple(c.dirname for c in chosen_by_flow[flow.key])
        for item in chosen_by_flow[flow.key]:
            distinct.setdefault(item.dirname, item)
            flows_of.setdefault(item.dirname, []).append(flow.flow_id)
    unpacked: dict[str, dict[str, bytes]] = {}
    for folder, item in sorted(distinct.items()):
        try:
            unpacked[folder] = unpack(item)
        except UnpackError as exc:
            flow = next(f for f in flows if folder in out.folders[f.key])
            refusals.append(Refusal(flow, item.root or flow.needs[0], str(exc), damaged=True))
    if refusals:
        return refusals
    for folder, item in sorted(distinct.items()):
        files = unpacked[folder]
        out.files.update(files)
        out.entries[folder] = {
            "name": item.name,
            "version": str(item.wheel.version),
            "wheel": item.wheel.filename,
            "wheel_sha256": item.wheel.sha256,
            "files": len(files),
            "tree_sha256": tree_sha256(files),
            "flows": sorted(flows_of[folder]),
        }
    if distinct:
        out.files[SBOM] = sbom_json(list(distinct.values()), flows_of).encode("utf-8")
    return out


def tree_sha256(files: dict[str, bytes]) -> str:
    """One hash over a set of files: each path and its sha256, in sorted order."""
    digest = hashlib.sha256()
    for path in sorted(files):
        digest.update(f"{path}\0{hashlib.sha256(files[path]).hexdigest()}\n".encode())
    return digest.hexdigest()


__all__ = ["VENDOR", "FlowNeeds", "Refusal", "VendoredDist", "vendor_flows"]
