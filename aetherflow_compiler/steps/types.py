"""What the compiler knows about a step type and a connector type: plain records.

Built-in tables (builtins.py, connectors.py) and plugins (project/plugins.py) fill them;
the registry (registry.py) holds them for one compile.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

# Words a string given for a boolean setting is read by (stripped, in lower case):
# results.to_bool in the Python runtime, af_to_bool in the shell runtime (tests/
# test_sh_target.py keeps the three equal); anything else is an error there. The
# compiler's one list of them.
TRUE_WORDS = ("true", "yes", "on", "1")
FALSE_WORDS = ("false", "no", "off", "0", "")


@dataclass(frozen=True)
class StepType:
    name: str
    # Keys the step's result may hold; None when unknown (plugins without a declaration).
    outputs: frozenset[str] | None = None
    # True when the step can report SKIPPED ("no data") at all.
    can_skip: bool = False
    # The resource kind that the `resource` input must name, if the step uses one.
    resource_kind: str | None = None
    # Input whose literal mapping keys are added to the result (external.process `outputs`).
    extra_outputs_input: str | None = None
    # Input holding an embedded step whose result this step returns (with_lock `step`).
    inner_step_input: str | None = None
    # (runtime module, function) implementing the step in the Python target; None while
    # the target does not support the step type yet.
    runtime: tuple[str, str] | None = None
    # A plugin's step: the vendored plugin registers it at run time.
    plugin: bool = False
    # JSON Schema of the inputs, for plugin steps that bring one (built-ins: flow.schema.json).
    input_schema: dict[str, Any] | None = None
    # Inputs a plugin step class declares as required.
    required_inputs: tuple[str, ...] = ()
    # (import name, pip package) a host needs for the step itself (connectors list theirs).
    packages: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class ConnectorType:
    kind: str
    driver: str
    # Runtime module implementing it; None while the Python target does not support it.
    runtime: str | None = None
    # (import name, pip package) a host needs to use it.
    packages: tuple[tuple[str, str], ...] = ()
    # Registered by a plugin (vendored with the plugin, not from the runtime).
    plugin: bool = False
    # Programs a host needs on PATH, in words for the docs ("`zip` and `unzip`"); looked up
    # by the runtime when a step runs, not by check-env.
    programs: str | None = None

    @property
    def key(self) -> str:
        return f"{self.kind}:{self.driver}"
