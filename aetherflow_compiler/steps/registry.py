"""The step registry: what the compiler knows about each step type.

A step type's inputs are checked against a JSON Schema. Built-in types keep theirs in
the shipped flow schema (so editors see them too); plugin types will bring their own.
"""

from __future__ import annotations

from collections.abc import Iterable

from aetherflow_compiler.steps.builtins import BUILTIN_STEP_TYPES
from aetherflow_compiler.steps.connectors import BUILTIN_CONNECTORS
from aetherflow_compiler.steps.types import ConnectorType, StepType

# Archive drivers enterprise mode allows (the engine's default `zip_drivers`).
ENTERPRISE_ARCHIVE_DRIVERS = ("pyzipper", "zipfile")


class StepRegistry:
    """What flows may use in one compile: step types by name and connector types by
    (kind, driver), and the compile mode's policy. Plugins extend it with `register` and
    `register_connector`; lookups never raise."""

    def __init__(
        self, types: Iterable[StepType] = (), connectors: Iterable[ConnectorType] = ()
    ) -> None:
        self._types: dict[str, StepType] = {}
        self._connectors: dict[tuple[str, str], ConnectorType] = {}
        # AETHERFLOW_MODE=enterprise at compile time: archive drivers are allowlisted
        # (a bundle manifest's zip_drivers replace the default list).
        self.enterprise = False
        self.archive_drivers: tuple[str, ...] = ENTERPRISE_ARCHIVE_DRIVERS
        # Digest of everything besides the compiler that changes what is valid (plugin
        # files, mode); part of every compile-cache key.
        self.fingerprint = ""
        for t in types:
            self.register(t)
        for c in connectors:
            self.register_connector(c)

    def register_connector(self, connector: ConnectorType) -> ConnectorType | None:
        """Add a connector type; a later registration of (kind, driver) replaces the
        earlier one, as in the engine. Returns the one replaced."""
        key = (connector.kind, connector.driver)
        replaced = self._connectors.get(key)
        self._connectors[key] = connector
        return replaced

    def connector(self, kind: str, driver: str) -> ConnectorType | None:
        return self._connectors.get((kind, driver))

    def connector_keys(self) -> list[str]:
        return sorted(c.key for c in self._connectors.values())

    def connectors(self) -> list[ConnectorType]:
        return sorted(self._connectors.values(), key=lambda c: c.key)

    def register(self, step_type: StepType) -> StepType | None:
        """Add a step type; like the engine's registry (a dict), a later registration of a
        name replaces the earlier one, built-ins included. Returns the one replaced."""
        replaced = self._types.get(step_type.name)
        self._types[step_type.name] = step_type
        return replaced

    def get(self, name: str) -> StepType | None:
        return self._types.get(name)

    def names(self) -> list[str]:
        return sorted(self._types)

    def plugin_types(self) -> list[StepType]:
        return [t for t in self._types.values() if t.plugin]

    def plugin_type_names(self) -> frozenset[str]:
        """Step types a plugin provides, built-in names a plugin replaced included."""
        return frozenset(t.name for t in self._types.values() if t.plugin)


def default_registry() -> StepRegistry:
    return StepRegistry(BUILTIN_STEP_TYPES, BUILTIN_CONNECTORS)
