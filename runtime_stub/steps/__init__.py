"""Built-in step implementations, one module per family of step types.

Each step is a function `run_<type>(ctx, inputs)` returning a StepResult or a dict;
a compiled flow imports only the modules of the step types it uses. `need_inputs` is
the check of required inputs they share.
"""

from __future__ import annotations

from .. import TYPE_CHECKING
from ..errors import StepError

if TYPE_CHECKING:  # names for annotations only: importing typing slows every start
    from typing import Any, Dict, Iterable


def need_inputs(step: str, inputs: Dict[str, Any], names: Iterable[str]) -> None:
    """Refuse a step without one of the inputs `names`, naming the first one missing."""
    for name in names:
        if name not in inputs:
            raise StepError("%s needs input %r" % (step, name))
