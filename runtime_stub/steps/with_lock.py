"""with_lock: run an embedded step under a named lock; fail at once if it is held."""

from __future__ import annotations

from .. import TYPE_CHECKING
from ..errors import StepError
from ..results import to_int
from . import need_inputs

if TYPE_CHECKING:  # names for annotations only: importing typing slows every start
    from typing import Any, Dict

    from ..runner import StepContext


def run_with_lock(ctx: StepContext, inputs: Dict[str, Any]) -> Any:
    need_inputs("with_lock", inputs, ("lock_key", "step"))
    key = str(inputs["lock_key"])
    ttl = to_int(inputs.get("ttl_seconds", 600), "ttl_seconds")
    inner = inputs["step"]
    if not isinstance(inner, dict) or "type" not in inner:
        raise StepError("with_lock input 'step' must be a mapping with a type")
    inner_id = str(inner.get("id") or "%s_inner" % ctx.step_id)
    if not ctx.acquire_lock(key, ttl):
        raise StepError("Lock not acquired: %s" % key)
    try:
        return ctx.run_step(str(inner["type"]), inner_id, inner.get("inputs") or {})
    finally:
        ctx.release_lock(key)
