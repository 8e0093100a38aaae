"""Resources: connection settings resolved at the start of a run.

The compiler has already merged profiles given with `--profiles`; a resource whose
profile was not known then is overlaid from AETHERFLOW_PROFILES_JSON at run time. Then
templates (env only) are rendered and `decode` paths go through the secrets provider.
"""

from __future__ import annotations

import json

from . import TYPE_CHECKING
from .errors import ConfigError, TemplateError
from .templating import render

if TYPE_CHECKING:  # names for annotations only: importing typing slows every start
    from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple


class Resource:
    """A resource as compiled: config and options may hold env templates."""

    def __init__(
        self,
        kind: str,
        driver: str,
        config: Dict[str, Any],
        options: Dict[str, Any],
        decode: Sequence[Tuple[str, str]] = (),
        profile: Optional[str] = None,
        profile_merged: bool = True,
    ) -> None:
        self.kind = kind
        self.driver = driver
        self.config = config
        self.options = options
        self.decode = [tuple(d) for d in decode]
        self.profile = profile
        self.profile_merged = profile_merged


def deep_merge(base: Dict[str, Any], override: Dict[str, Any]) -> Dict[str, Any]:
    out = dict(base)
    for key, value in override.items():
        if isinstance(out.get(key), dict) and isinstance(value, dict):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = value
    return out


def _runtime_profiles(env: Mapping[str, str]) -> Dict[str, Any]:
    raw = env.get("AETHERFLOW_PROFILES_JSON", "")
    path = env.get("AETHERFLOW_PROFILES_FILE", "")
    if raw and path:
        raise ConfigError(
            "set only one of AETHERFLOW_PROFILES_JSON or AETHERFLOW_PROFILES_FILE"
        )
    if path:
        try:
            with open(path, encoding="utf-8") as fh:
                raw = fh.read()
        except OSError as exc:
            raise ConfigError(
                "cannot read AETHERFLOW_PROFILES_FILE %s: %s" % (path, exc.strerror)
            ) from None
    if not raw:
        return {}
    try:
        data = json.loads(raw)
    except ValueError:
        raise ConfigError(
            "profiles given at run time must be JSON (compiled flows never parse YAML): "
            "compile with --profiles, or give AETHERFLOW_PROFILES_JSON"
        ) from None
    if not isinstance(data, dict):
        raise ConfigError(
            "profiles must be a mapping of profile name to config/options/decode"
        )
    return data


def _templated(value: Any) -> bool:
    if isinstance(value, str):
        return "{{" in value or "}}" in value
    if isinstance(value, dict):
        return any(_templated(v) for v in value.values())
    if isinstance(value, list):
        return any(_templated(v) for v in value)
    return False


def _decode_paths(spec: Any) -> List[Tuple[str, str]]:
    out: List[Tuple[str, str]] = []

    def walk(section: str, node: Any, prefix: str) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                walk(section, value, "%s.%s" % (prefix, key) if prefix else str(key))
        elif node is True and prefix:
            out.append((section, prefix))

    spec = spec if isinstance(spec, dict) else {}
    for section in ("config", "options"):
        walk(section, spec.get(section), "")
    for key, section in (("config_paths", "config"), ("options_paths", "options")):
        for dotted in spec.get(key) or []:
            out.append((section, str(dotted)))
    return out


def resolve_resources(
    resources: Dict[str, Resource], env: Mapping[str, str], provider: Any
) -> Dict[str, Dict[str, Any]]:
    """name -> {"kind", "driver", "config", "options"} with templates rendered and secrets decoded."""
    profiles: Optional[Dict[str, Any]] = None
    out: Dict[str, Dict[str, Any]] = {}
    for name, res in resources.items():
        config, options, decode = res.config, res.options, list(res.decode)
        if res.profile and not res.profile_merged:
            if profiles is None:
                profiles = _runtime_profiles(env)
            profile = profiles.get(res.profile) or {}
            if _templated(profile):
                raise ConfigError(
                    "profile %s holds templates; compile with --profiles so they are checked and parsed"
                    % res.profile
                )
            config = deep_merge(profile.get("config") or {}, config)
            options = deep_merge(profile.get("options") or {}, options)
            decode = _decode_paths(profile.get("decode")) + decode
        try:
            rendered = {
                "config": render(config, {"env": env}),
                "options": render(options, {"env": env}),
            }
        except TemplateError as exc:
            raise ConfigError("resource %s: %s" % (name, exc)) from None
        for section, dotted in decode:
            _decode_in_place(
                rendered[section],
                dotted,
                provider,
                "resources.%s.%s.%s" % (name, section, dotted),
            )
        out[name] = {
            "kind": res.kind,
            "driver": res.driver,
            "config": rendered["config"],
            "options": rendered["options"],
        }
    return out


def _decode_in_place(
    section: Dict[str, Any], dotted: str, provider: Any, where: str
) -> None:
    parts = dotted.split(".")
    node: Any = section
    for part in parts[:-1]:
        if not isinstance(node, dict) or part not in node:
            return
        node = node[part]
    if not isinstance(node, dict) or not isinstance(node.get(parts[-1]), str):
        return  # only strings are decoded (the engine's rule)
    if provider is None:
        raise ConfigError(
            "%s must be decoded but no secrets provider is configured "
            "(set AETHERFLOW_SECRETS_PATH or AETHERFLOW_SECRETS_MODULE)" % where
        )
    node[parts[-1]] = provider.decode(node[parts[-1]], where)
