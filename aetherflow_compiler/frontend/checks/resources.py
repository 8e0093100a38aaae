"""Resources: profile references and `decode` targets."""

from __future__ import annotations

import re
from typing import Any

from aetherflow_compiler.diagnostics import Diagnostic
from aetherflow_compiler.frontend.checks.context import FlowContext, embedded_steps
from aetherflow_compiler.frontend.loader import Path
from aetherflow_compiler.frontend.resource_values import decode_requests, deep_merge
from aetherflow_compiler.suggest import did_you_mean, hint_from
from aetherflow_compiler.walk import dig, mapping, mapping_at

# The engine's test for "one standalone token" on decode targets (spaces around allowed).
_STANDALONE_DECODE = re.compile(
    r"\s*\{\{\s*[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*(?::[^}]*)?\s*\}\}\s*"
)


def check_resources(ctx: FlowContext) -> list[Diagnostic]:
    out: list[Diagnostic] = []
    for name, resource in mapping_at(ctx.doc.data, "resources").items():
        res = mapping(resource)
        base: Path = ("resources", name)
        profile_name = res.get("profile")
        profile: dict[Any, Any] | None = {}
        if isinstance(profile_name, str) and profile_name:
            if ctx.profiles is None:
                profile = None  # unknown: the profile may add config keys
            elif profile_name not in ctx.profiles:
                hint = hint_from(profile_name, ctx.profiles, "profiles")
                out.append(
                    ctx.at(
                        base + ("profile",),
                        "AF307",
                        f"resource '{name}' uses unknown profile '{profile_name}'",
                        hint,
                    )
                )
                profile = None
            else:
                profile = mapping(ctx.profiles[profile_name])
        out.extend(_check_decode(ctx, name, res, profile, base))
        out.extend(_check_connector(ctx, name, res, base))
    return out


def _check_connector(
    ctx: FlowContext, name: Any, res: dict[Any, Any], base: Path
) -> list[Diagnostic]:
    kind, driver = res.get("kind"), res.get("driver")
    if not isinstance(kind, str) or not isinstance(driver, str) or not kind or not driver:
        return []
    if ctx.registry.connector(kind, driver) is not None:
        if (
            ctx.registry.enterprise
            and kind == "archive"
            and driver not in ctx.registry.archive_drivers
        ):
            return [
                ctx.at(
                    base + ("driver",),
                    "AF704",
                    f"resource '{name}': archive driver '{driver}' is not allowed in enterprise mode",
                    "enterprise mode (AETHERFLOW_MODE=enterprise) allows archive drivers: "
                    + ", ".join(ctx.registry.archive_drivers),
                )
            ]
        return []
    known = ctx.registry.connector_keys()
    hint = did_you_mean(f"{kind}:{driver}", known) or "known connectors: " + ", ".join(known)
    if name in _named_resources(ctx):
        return [
            ctx.at(
                base + ("driver",),
                "AF314",
                f"resource '{name}': no connector {kind}:{driver}",
                hint,
            )
        ]
    # The engine builds a connector on first use only: a resource no step names never fails
    # there (a plugin step that looks it up by a fixed name does, here too).
    return [
        ctx.at(
            base + ("driver",),
            "AF814",
            f"resource '{name}': no connector {kind}:{driver}, and no step " "names the resource",
            hint,
        )
    ]


def _named_resources(ctx: FlowContext) -> set[Any]:
    """Resources the flow's steps name (`resource` or `connector` inputs, embedded steps
    at any depth included; archive_default for zip and unzip without one). Templated names
    could be any resource: then every one counts as named."""
    named: set[Any] = set()
    for job in ctx.jobs:
        for step in job.steps:
            for each in (step, *embedded_steps(ctx.registry, step)):
                values = [
                    each.inputs.get(k)
                    for k in ("resource", "connector")
                    if each.inputs.get(k) is not None
                ]
                if any(not isinstance(v, str) or "{{" in v for v in values):
                    return set(mapping_at(ctx.doc.data, "resources"))
                named.update(values)
                if each.type in ("zip", "unzip") and not values:
                    named.add("archive_default")
    return named


def _check_decode(
    ctx: FlowContext, name: Any, res: dict[Any, Any], profile: dict[Any, Any] | None, base: Path
) -> list[Diagnostic]:
    out = []
    for section, dotted, req_path in decode_requests(res.get("decode")):
        values = mapping(res.get(section))
        if profile is not None:
            values = deep_merge(mapping(profile.get(section)), values)
        found, value = dig(values, dotted)
        where = base + ("decode",) + req_path
        if not found:
            if profile is None:
                continue  # the value may come from a profile that is not known here
            first = dotted.split(".")[0]
            out.append(
                ctx.at(
                    where,
                    "AF310",
                    f"decode path '{section}.{dotted}' of resource '{name}' does not exist",
                    hint_from(first, values, f"keys in {section}"),
                )
            )
            continue
        problem = _undecodable(value)
        if problem is not None:
            what, hint = problem
            out.append(
                ctx.at(
                    base + (section,) + tuple(dotted.split(".")),
                    "AF310",
                    f"decode target '{section}.{dotted}' of resource '{name}' {what}",
                    hint,
                )
            )
    return out


def _undecodable(value: Any) -> tuple[str, str] | None:
    """Why a value cannot be decoded, or None when it can (or is absent)."""
    if value is None:
        return None
    if not isinstance(value, str):
        return "is not a string", "only string values can be decoded"
    if ("{{" in value or "}}" in value) and not _STANDALONE_DECODE.fullmatch(value):
        return (
            "mixes text and templates",
            "a decoded value must be a plain string or exactly one {{env.NAME}} token",
        )
    return None


def check_profile_decode(ctx: FlowContext) -> list[Diagnostic]:
    """In a profiles file, decode targets that the profile itself holds must be decodable."""
    out = []
    for name, profile in mapping(ctx.doc.data).items():
        prof = mapping(profile)
        for section, dotted, _request in decode_requests(prof.get("decode")):
            _found, value = dig(mapping(prof.get(section)), dotted)
            problem = _undecodable(value)
            if problem is not None:
                what, hint = problem
                out.append(
                    ctx.at(
                        (name, section) + tuple(dotted.split(".")),
                        "AF310",
                        f"decode target '{section}.{dotted}' of profile '{name}' {what}",
                        hint,
                    )
                )
    return out
