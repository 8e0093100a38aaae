"""`aetherflow explain`: where each resource setting of a flow comes from.

For every config and options value of every resource: whether the flow or a profile
defines it (with file and line), whether it is a literal or comes from env variables
(and their defaults), and whether the secrets provider decodes it at run time. Values
are never read from the environment, and values that are decoded are not shown.
"""

from __future__ import annotations

import datetime
import math
from dataclasses import dataclass, field
from typing import Any

from aetherflow_compiler.frontend.describe import show_value
from aetherflow_compiler.frontend.loader import Document
from aetherflow_compiler.frontend.parse_template import TemplateSyntaxError, parse_template
from aetherflow_compiler.frontend.resource_values import decode_requests, deep_merge
from aetherflow_compiler.walk import mapping, mapping_at

SECTIONS = ("config", "options")


@dataclass
class EnvUse:
    name: str
    default: str | None  # None: the variable is required

    def as_json(self) -> dict[str, Any]:
        return {"name": self.name, "default": self.default}


@dataclass
class Setting:
    section: str  # config | options
    keys: tuple[str, ...]
    defined_in: str  # "flow" | "profile"
    file: str
    line: int
    value: Any  # the literal or template as written; None when decoded
    source: str  # literal | env | template
    env: list[EnvUse] = field(default_factory=list)
    decoded: bool = False

    @property
    def dotted(self) -> str:
        return ".".join((self.section, *self.keys))

    def as_json(self) -> dict[str, Any]:
        return {
            "path": self.dotted,
            "defined_in": self.defined_in,
            "file": self.file,
            "line": self.line,
            "value": _json_safe(self.value),
            "source": self.source,
            "env": [e.as_json() for e in self.env],
            "decoded": self.decoded,
        }


@dataclass
class ResourceExplained:
    name: str
    kind: Any
    driver: Any
    profile: str | None
    # True when the profile's values are known now (merged at compile time).
    profile_known: bool
    settings: list[Setting] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "kind": self.kind,
            "driver": self.driver,
            "profile": self.profile,
            "profile_merged_at": (
                None if self.profile is None else ("compile" if self.profile_known else "run")
            ),
            "settings": [s.as_json() for s in self.settings],
        }


def _json_safe(value: Any) -> Any:
    """A YAML value as JSON can hold it: dates as the text the engine makes of them,
    NaN and infinities as text (JSON has no number for them), keys as strings."""
    if isinstance(value, dict):
        return {str(k) if not isinstance(k, str) else k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_json_safe(v) for v in value]
    if isinstance(value, (datetime.date, datetime.datetime)):
        return str(value)
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    return value


def _leaves(value: Any, keys: tuple[str, ...] = ()) -> list[tuple[tuple[str, ...], Any]]:
    """(keys, value) for every non-mapping value below `value` (lists count as values)."""
    if isinstance(value, dict) and value:
        out = []
        for key, item in value.items():
            out.extend(_leaves(item, (*keys, str(key))))
        return out
    return [(keys, value)] if keys else []


def _defined_by_flow(flow_section: Any, keys: tuple[str, ...]) -> bool:
    node = flow_section
    for key in keys:
        if not isinstance(node, dict) or key not in node:
            return False
        node = node[key]
    return True


def _classify(value: Any) -> tuple[str, list[EnvUse]]:
    if not isinstance(value, str):
        return "literal", []
    try:
        template = parse_template(value)
    except TemplateSyntaxError:
        return "literal", []  # validation reports it; explain only describes
    if template is None:
        return "literal", []
    env = [EnvUse(".".join(r.path[1:]), r.default) for r in template.refs if r.root == "env"]
    return ("env" if template.standalone and env else "template"), env


def explain_flow(
    doc: Document, profiles: dict[str, Any] | None, profiles_doc: Document | None
) -> list[ResourceExplained]:
    """Every resource of a valid flow document, with where each setting comes from."""
    out = []
    for name, resource in mapping_at(doc.data, "resources").items():
        res = mapping(resource)
        raw_profile = res.get("profile")
        profile_name = raw_profile if isinstance(raw_profile, str) else None
        profile_known = (
            profile_name is not None and profiles is not None and profile_name in profiles
        )
        profile = (
            mapping((profiles or {}).get(profile_name))
            if profile_name is not None and profile_known
            else {}
        )
        decoded = {
            (section, dotted) for section, dotted, _ in decode_requests(profile.get("decode"))
        }
        decoded |= {(section, dotted) for section, dotted, _ in decode_requests(res.get("decode"))}
        explained = ResourceExplained(
            str(name), res.get("kind"), res.get("driver"), profile_name, profile_known
        )
        for section in SECTIONS:
            merged = deep_merge(mapping(profile.get(section)), mapping(res.get(section)))
            for keys, value in _leaves(merged):
                if _defined_by_flow(res.get(section), keys):
                    where, file, line = (
                        "flow",
                        doc.path,
                        doc.span(("resources", name, section, *keys)).line,
                    )
                else:
                    assert profiles_doc is not None
                    where, file = "profile", profiles_doc.path
                    line = profiles_doc.span((profile_name, section, *keys)).line
                source, env = _classify(value)
                is_decoded = (section, ".".join(keys)) in decoded
                shown = value if source != "literal" or not is_decoded else None
                explained.settings.append(
                    Setting(section, keys, where, file, line, shown, source, env, is_decoded)
                )
        out.append(explained)
    return out


def as_text(flow_id: str, path: str, resources: list[ResourceExplained]) -> str:
    lines = [f"{path}: flow {flow_id}"]
    if not resources:
        lines.append("  no resources")
    for res in resources:
        head = f"  resource {res.name} ({res.kind}:{res.driver}"
        if res.profile is not None:
            head += f", profile {res.profile}"
        lines.append(head + ")")
        if res.profile is not None and not res.profile_known:
            lines.append(
                f"    profile {res.profile} is not in --profiles: its values are merged at run time "
                "from AETHERFLOW_PROFILES_JSON or AETHERFLOW_PROFILES_FILE"
            )
        rows = []
        for s in res.settings:
            shown = (
                "(encoded)"
                if s.value is None
                else (s.value if s.source != "literal" else show_value(s.value))
            )
            owner = "flow" if s.defined_in == "flow" else f"profile {res.profile}"
            origin = f"{owner} ({s.file}:{s.line})"
            notes = [
                f"env {e.name}"
                + (" (required)" if e.default is None else f", default {e.default!r}")
                for e in s.env
            ]
            if s.decoded:
                notes.append("decoded by the secrets provider")
            rows.append((s.dotted, _clip(str(shown)), origin, "; ".join(notes)))
        if not rows:
            lines.append("    no config or options")
        widths = [max((len(r[i]) for r in rows), default=0) for i in range(3)]
        for row in rows:
            text = "    " + "  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row[:3]))
            lines.append((text + "  " + row[3]).rstrip())
    return "\n".join(lines) + "\n"


def _clip(text: str, limit: int = 48) -> str:
    text = text.replace("\n", "\\n")
    return text if len(text) <= limit else text[: limit - 1] + "…"
