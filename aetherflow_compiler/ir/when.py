"""A parsed `when` expression as IR nodes (frontend/parse_when.py makes them; code
generators turn them into plain code)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Literal:
    value: str | bytes | int | float | complex | bool | None


@dataclass(frozen=True)
class JobOutput:
    """`jobs.<job>.outputs.<key>` (plus attribute access into a mapping value)."""

    job: str
    key: str
    rest: tuple[str, ...]
    offset: int


@dataclass(frozen=True)
class JobAttr:
    """`jobs.<job>.status` or `jobs.<job>.skip_reason`."""

    job: str
    attr: str
    offset: int


@dataclass(frozen=True)
class Compare:
    left: WhenExpr
    ops: tuple[str, ...]
    comparators: tuple[WhenExpr, ...]


@dataclass(frozen=True)
class BoolOp:
    op: str  # "and" | "or"
    values: tuple[WhenExpr, ...]


@dataclass(frozen=True)
class Not:
    operand: WhenExpr


WhenExpr = Literal | JobOutput | JobAttr | Compare | BoolOp | Not


def referenced_jobs(expr: WhenExpr) -> list[JobOutput | JobAttr]:
    """Every job reference in the expression, in source order."""
    if isinstance(expr, (JobOutput, JobAttr)):
        return [expr]
    if isinstance(expr, Compare):
        out = referenced_jobs(expr.left)
        for c in expr.comparators:
            out.extend(referenced_jobs(c))
        return out
    if isinstance(expr, BoolOp):
        return [r for v in expr.values for r in referenced_jobs(v)]
    if isinstance(expr, Not):
        return referenced_jobs(expr.operand)
    return []
