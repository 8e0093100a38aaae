"""check_items: SUCCESS with has_data when there are at least min_count items, else SKIPPED."""

from __future__ import annotations

from .. import TYPE_CHECKING
from ..errors import StepError
from ..results import SKIPPED, SUCCESS, StepResult, to_int
from . import need_inputs

if TYPE_CHECKING:  # names for annotations only: importing typing slows every start
    from typing import Any, Dict

    from ..runner import StepContext


def run_check_items(ctx: StepContext, inputs: Dict[str, Any]) -> StepResult:
    need_inputs("check_items", inputs, ["items"])
    items = inputs.get("items")
    if isinstance(items, str):
        items = [part.strip() for part in items.split(",") if part.strip()]
    if not isinstance(items, list):
        raise StepError(
            "check_items expects 'items' to be a list or a comma-separated string"
        )
    min_count = to_int(inputs.get("min_count", 1), "min_count")
    count = len(items)
    if count < min_count:
        return StepResult(
            SKIPPED,
            {"has_data": False, "count": count},
            reason="count(%d) < min_count(%d)" % (count, min_count),
        )
    return StepResult(SUCCESS, {"has_data": True, "count": count})
