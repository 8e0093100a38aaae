"""Host packages vendored from a wheelhouse (`compile --wheelhouse DIR`).

The pipeline: `target` says which interpreter and platform the dist is for (wheel tags
and marker values, from `packaging`); `wheelhouse` indexes the wheels of DIR and resolves
each flow's host packages and their `Requires-Dist` against it; `unpack` turns the chosen
wheels into dist files with `installer`; `sbom` describes them as CycloneDX. The compiler
reads only DIR: no index, no network.
"""

from __future__ import annotations

from aetherflow_compiler.vendoring.target import Target, target_for
from aetherflow_compiler.vendoring.wheelhouse import Chosen, Need, ResolveError, Wheelhouse

__all__ = ["Chosen", "Need", "ResolveError", "Target", "Wheelhouse", "target_for"]
# dist.py (which imports installer and cyclonedx) is imported by the compile that needs it.
