"""The engine's settings, read from the run's env snapshot (never from os.environ).

The same names and defaults as the reference engine's `Settings.from_env`; then
AETHERFLOW_SETTINGS_MODULE, an importable module exposing `SETTINGS: dict`, overrides
them, as `load_settings` does there. docs/settings.md says what each one does here.
"""

from __future__ import annotations

from . import TYPE_CHECKING
from .errors import ConfigError

if TYPE_CHECKING:  # names for annotations only: importing typing slows every start
    from typing import Any, Dict, List, Optional

# field -> default, in the engine's order
SETTING_DEFAULTS = (
    ("work_root", "/tmp/work"),
    ("state_root", "/tmp/state"),
    ("plugin_paths", ()),
    ("plugin_strict", True),
    ("strict_templates", True),
    ("log_level", "INFO"),
    ("log_format", "text"),
    ("metrics_module", None),
    ("connector_cache_default", "run"),
    ("connector_cache_disabled", False),
    ("secrets_module", None),
    ("secrets_path", None),
)


def _flag(value: Optional[str], default: str) -> bool:
    """The engine's reading of a boolean setting: true only when it says 'true'."""
    return (value or default).lower() == "true"


class Settings:
    """Attribute access to the settings, like the engine's Settings model (a pydantic
    model there): unknown keyword arguments are ignored, `model_copy(update=...)` sets
    any attribute, `model_dump()` gives the fields."""

    model_fields = dict(SETTING_DEFAULTS)  # field -> default
    # The fields, as __init__ sets them (annotations only: no class attribute)
    work_root: str
    state_root: str
    plugin_paths: List[str]
    plugin_strict: bool
    strict_templates: bool
    log_level: str
    log_format: str
    metrics_module: Optional[str]
    connector_cache_default: str
    connector_cache_disabled: bool
    secrets_module: Optional[str]
    secrets_path: Optional[str]

    def __init__(self, **values: Any) -> None:
        self.model_fields_set = {k for k in values if k in self.model_fields}
        for name, default in SETTING_DEFAULTS:
            value: Any = values.get(name, default)
            setattr(self, name, list(value) if name == "plugin_paths" else value)

    @classmethod
    def model_validate(cls, data: Dict[str, Any]) -> "Settings":
        return cls(**dict(data))

    @classmethod
    def from_env(
        cls, env: Dict[str, str], overrides: Optional[Dict[str, Any]] = None
    ) -> "Settings":
        paths = env.get("AETHERFLOW_PLUGIN_PATHS", "") or ""
        data: Dict[str, Any] = {
            "work_root": env.get("AETHERFLOW_WORK_ROOT", "/tmp/work"),
            "state_root": env.get("AETHERFLOW_STATE_ROOT", "/tmp/state"),
            "plugin_paths": [p for p in paths.split(",") if p],
            "plugin_strict": _flag(env.get("AETHERFLOW_PLUGIN_STRICT"), "true"),
            "strict_templates": _flag(env.get("AETHERFLOW_STRICT_TEMPLATES"), "true"),
            "log_level": env.get("AETHERFLOW_LOG_LEVEL", "INFO"),
            "log_format": env.get("AETHERFLOW_LOG_FORMAT", "text"),
            "metrics_module": env.get("AETHERFLOW_METRICS_MODULE") or None,
            "connector_cache_default": env.get(
                "AETHERFLOW_CONNECTOR_CACHE_DEFAULT", "run"
            ),
            "connector_cache_disabled": _flag(
                env.get("AETHERFLOW_CONNECTOR_CACHE_DISABLED"), "false"
            ),
            "secrets_module": env.get("AETHERFLOW_SECRETS_MODULE") or None,
            "secrets_path": env.get("AETHERFLOW_SECRETS_PATH") or None,
        }
        data.update(overrides or {})
        return cls(**data)

    def model_dump(self) -> Dict[str, Any]:
        return {name: getattr(self, name) for name in self.model_fields}

    def model_dump_json(self) -> str:
        import json

        return json.dumps(self.model_dump(), default=str)

    def model_copy(self, update: Optional[Dict[str, Any]] = None) -> "Settings":
        copy = type(self)(**self.model_dump())
        copy.model_fields_set = set(self.model_fields_set)
        for name, value in (update or {}).items():
            setattr(copy, name, value)
        return copy

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and vars(other) == vars(self)

    def __repr__(self) -> str:
        return "Settings(%s)" % ", ".join(
            "%s=%r" % item for item in self.model_dump().items()
        )


def load_settings(env: Dict[str, str]) -> Settings:
    """Settings.from_env(env), then AETHERFLOW_SETTINGS_MODULE's SETTINGS over them."""
    settings = Settings.from_env(env)
    module_name = env.get("AETHERFLOW_SETTINGS_MODULE")
    if not module_name:
        return settings
    import importlib

    try:
        module = importlib.import_module(module_name)
    except Exception as exc:
        raise ConfigError(
            "cannot import the settings module %s (AETHERFLOW_SETTINGS_MODULE): %s: %s"
            % (module_name, type(exc).__name__, exc)
        ) from None
    data = getattr(module, "SETTINGS", {})
    if not isinstance(data, dict):
        raise ConfigError(
            "the settings module %s (AETHERFLOW_SETTINGS_MODULE) must expose SETTINGS as a dict"
            % module_name
        )
    return settings.model_copy(update=data)


def ignored_settings(settings: Settings) -> List[str]:
    """Settings an artifact reads and does not act on, each with the reason: the run
    logs a `setting_ignored` warning for each and goes on, as the engine would."""
    notes = []
    if not settings.strict_templates:
        notes.append(
            "AETHERFLOW_STRICT_TEMPLATES=false: templates are always strict, as in the "
            "reference engine, which reads the setting and never uses it"
        )
    if settings.plugin_paths:
        notes.append(
            "AETHERFLOW_PLUGIN_PATHS: plugins are read when compiling and vendored in "
            "aetherflow_plugins/; an artifact loads no other plugin directory"
        )
    return notes
