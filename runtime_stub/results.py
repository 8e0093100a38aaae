"""What a step returns, and strict conversions of rendered input values."""

from __future__ import annotations

from . import TYPE_CHECKING
from .errors import StepError

if TYPE_CHECKING:  # names for annotations only: importing typing slows every start
    from typing import Any, Dict, List, Optional

SUCCESS = "SUCCESS"
SKIPPED = "SKIPPED"
FAILED = "FAILED"


class StepResult:
    """A step outcome: SUCCESS or SKIPPED ("no data") with its output mapping."""

    __slots__ = ("status", "output", "reason")

    def __init__(
        self,
        status: str = SUCCESS,
        output: Optional[Dict[str, Any]] = None,
        reason: Optional[str] = None,
    ) -> None:
        self.status = status
        self.output = output
        self.reason = reason

    def as_output(self) -> Dict[str, Any]:
        out = dict(self.output or {})
        if self.reason:
            out.setdefault("reason", self.reason)
        return out

    # Compared and shown like the engine's dataclass (plugins' own tests compare them).
    def __eq__(self, other: object) -> bool:
        # (the isinstance is true whenever the types are the same: it narrows for mypy)
        if type(other) is not type(self) or not isinstance(other, StepResult):
            return NotImplemented
        return (self.status, self.output, self.reason) == (
            other.status,
            other.output,
            other.reason,
        )

    # unhashable, like the engine's dataclass (typeshed's object.__hash__ is a method)
    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return "StepResult(status=%r, output=%r, reason=%r)" % (
            self.status,
            self.output,
            self.reason,
        )


def to_int(value: Any, name: str) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        raise StepError("input %s must be an integer, got %r" % (name, value)) from None


def to_float(value: Any, name: str) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        raise StepError("input %s must be a number, got %r" % (name, value)) from None


_TRUE = ("true", "yes", "on", "1")
_FALSE = ("false", "no", "off", "0", "")


def to_bool(value: Any, name: str) -> bool:
    """Booleans as written; a templated string is read by its meaning, not by bool():
    "false" is false here (the engine's bool("false") is true)."""
    if isinstance(value, str):
        word = value.strip().lower()
        if word in _TRUE:
            return True
        if word in _FALSE:
            return False
        raise StepError("input %s must be true or false, got %r" % (name, value))
    return bool(value)


def as_list(value: Any) -> List[Any]:
    if value is None:
        return []
    if isinstance(value, list):
        return value
    return [value]
