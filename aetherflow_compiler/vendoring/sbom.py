"""A CycloneDX SBOM of the vendored distributions (`sbom.cdx.json` in the dist).

Deterministic, as the rest of the dist: no timestamp, and a serial number derived from
the components, so that the same wheelhouse gives the same bytes.
"""

from __future__ import annotations

import uuid

from cyclonedx.model import HashAlgorithm, HashType, Property
from cyclonedx.model.bom import Bom, BomMetaData
from cyclonedx.model.component import Component, ComponentType
from cyclonedx.model.dependency import Dependency
from cyclonedx.output.json import JsonV1Dot6
from packageurl import PackageURL

from aetherflow_compiler import __version__
from aetherflow_compiler.vendoring.wheelhouse import Chosen


def sbom_json(chosen: list[Chosen], flows_of: dict[str, list[str]]) -> str:
    """CycloneDX 1.6 JSON for `chosen` (distinct distributions); `flows_of` maps a
    distribution's folder name to the flows that load it."""
    components = []
    for item in sorted(chosen, key=lambda c: c.dirname):
        wheel = item.wheel
        purl = PackageURL(type="pypi", name=str(wheel.name), version=str(wheel.version))
        components.append(
            Component(
                type=ComponentType.LIBRARY,
                name=item.name,
                version=str(wheel.version),
                purl=purl,
                bom_ref=purl.to_string(),
                hashes=[HashType(alg=HashAlgorithm.SHA_256, content=wheel.sha256)],
                properties=[
                    Property(name="aetherflow:wheel", value=wheel.filename),
                    Property(name="aetherflow:path", value=f"aetherflow_vendor/{item.dirname}"),
                    *(
                        Property(name="aetherflow:flow", value=flow)
                        for flow in flows_of.get(item.dirname, [])
                    ),
                ],
            )
        )
    metadata = BomMetaData(
        component=Component(
            type=ComponentType.APPLICATION, name="aetherflow dist", bom_ref="aetherflow-dist"
        )
    )
    metadata.timestamp = None  # type: ignore[assignment]  # the bytes must not depend on when
    metadata.tools.components.add(
        Component(type=ComponentType.APPLICATION, name="aetherflow-compiler", version=__version__)
    )
    serial = uuid.uuid5(
        uuid.NAMESPACE_URL,
        "aetherflow-dist:" + ",".join(f"{c.purl}#{c.hashes[0].content}" for c in components),
    )
    bom = Bom(
        components=components,
        serial_number=serial,
        metadata=metadata,
        dependencies=[
            Dependency(
                ref=metadata.component.bom_ref,  # type: ignore[union-attr]
                dependencies=[Dependency(ref=c.bom_ref) for c in components],
            )
        ],
    )
    return JsonV1Dot6(bom).output_as_string(indent=2) + "\n"
