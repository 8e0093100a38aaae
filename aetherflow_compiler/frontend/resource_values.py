"""How a resource's values are read, the engine's way: a profile merged under the
resource's own config and options (`deep_merge`), and the values `decode` names
(`decode_requests`). The checks, the IR builder, `explain` and bundle fetching share them."""

from __future__ import annotations

from typing import Any

from aetherflow_compiler.frontend.loader import Path
from aetherflow_compiler.walk import mapping, sequence


def deep_merge(base: dict[Any, Any], override: dict[Any, Any]) -> dict[Any, Any]:
    """The engine's merge: mappings merge recursively, everything else is replaced."""
    out = dict(base)
    for key, value in override.items():
        if isinstance(out.get(key), dict) and isinstance(value, dict):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = value
    return out


def decode_requests(decode: Any) -> list[tuple[str, str, Path]]:
    """(section, dotted path, path of the request in the decode mapping) for every decode target."""
    spec = mapping(decode)
    out: list[tuple[str, str, Path]] = []

    def walk(section: str, node: Any, prefix: str, path: Path) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                walk(section, value, f"{prefix}.{key}" if prefix else str(key), path + (key,))
        elif node is True and prefix:
            out.append((section, prefix, path))

    for section in ("config", "options"):
        walk(section, spec.get(section), "", (section,))
    for key, section in (("config_paths", "config"), ("options_paths", "options")):
        for i, dotted in enumerate(sequence(spec.get(key))):
            if isinstance(dotted, str) and dotted:
                out.append((section, dotted, (key, i)))
    return out
