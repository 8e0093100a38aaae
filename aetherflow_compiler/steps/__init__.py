"""Step types the compiler knows: built-ins now, plugin-registered types later."""

from aetherflow_compiler.steps.registry import StepRegistry, StepType, default_registry

__all__ = ["StepRegistry", "StepType", "default_registry"]
