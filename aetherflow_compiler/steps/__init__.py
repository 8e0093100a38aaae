"""Step and connector types the compiler knows: the built-ins, and what plugins register.

`types` holds the plain records, `builtins` and `connectors` the built-in tables, and
`registry` the lookup one compile uses; each module imports only the ones listed before it.
"""

from aetherflow_compiler.steps.registry import StepRegistry, default_registry
from aetherflow_compiler.steps.types import ConnectorType, StepType

__all__ = ["ConnectorType", "StepRegistry", "StepType", "default_registry"]
