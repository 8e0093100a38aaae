"""Job and step ids, and the `depends_on` graph: unknown targets, cycles, declared order."""

from __future__ import annotations

import keyword
import re

from aetherflow_compiler.diagnostics import Diagnostic
from aetherflow_compiler.frontend.checks.context import FlowContext
from aetherflow_compiler.frontend.loader import Path
from aetherflow_compiler.suggest import hint_from
from aetherflow_compiler.walk import mapping_at, text

# Ids that work everywhere: templates can name them, the shell can hold them, every tool
# accepts them as names. The engine takes any string; others are a warning (AF813).
PORTABLE_FLOW_ID = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*")
PORTABLE_ID = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_-]*")
# What the schema accepts at all (AF205 otherwise): a name that is a safe path component.
SAFE_ID = re.compile(r"(?!\.\.?\Z)[^/\\\x00-\x1f\x7f]+\Z")


def _not_portable(ctx: FlowContext, path: Path, what: str, ident: str) -> Diagnostic:
    if ident.isidentifier() and not keyword.iskeyword(
        ident
    ):  # non-ASCII letters: Python reads it as a name
        hint = (
            "the engine and the Python artifact accept it, and templates and `when` can name it; the flow "
            "gets no sh artifact"
        )
    else:
        hint = (
            "the engine and the Python artifact accept it; templates and `when` cannot name it "
            "(jobs.X / steps.X), and the flow gets no sh artifact"
        )
    return ctx.at(
        path, "AF813", f"{what} {ident!r} is not made of letters, digits, '_' and '-'", hint
    )


def check_ids(ctx: FlowContext) -> list[Diagnostic]:
    out: list[Diagnostic] = []
    flow_id = text(mapping_at(ctx.doc.data, "flow").get("id"))
    if flow_id is not None and SAFE_ID.match(flow_id) and not PORTABLE_FLOW_ID.fullmatch(flow_id):
        out.append(_not_portable(ctx, ("flow", "id"), "flow id", flow_id))
    first_job: dict[str, int] = {}
    for job in ctx.jobs:
        if job.id is None:
            continue
        if SAFE_ID.match(job.id) and not PORTABLE_ID.fullmatch(job.id):
            out.append(_not_portable(ctx, job.path + ("id",), "job id", job.id))
        if job.id in first_job:
            line = ctx.doc.span(("jobs", first_job[job.id], "id")).line
            out.append(
                ctx.at(
                    job.path + ("id",),
                    "AF301",
                    f"duplicate job id '{job.id}'",
                    f"first used at line {line}; job ids must be unique",
                )
            )
        else:
            first_job[job.id] = job.index
        first_step: dict[str, int] = {}
        for step in job.steps:
            if step.id is None:
                continue
            if SAFE_ID.match(step.id) and not PORTABLE_ID.fullmatch(step.id):
                out.append(_not_portable(ctx, step.path + ("id",), "step id", step.id))
            if step.id in first_step:
                line = ctx.doc.span(job.path + ("steps", first_step[step.id], "id")).line
                out.append(
                    ctx.at(
                        step.path + ("id",),
                        "AF302",
                        f"duplicate step id '{step.id}' in job '{job.id}'",
                        f"first used at line {line}; step ids must be unique within a job",
                    )
                )
            else:
                first_step[step.id] = step.index
    return out


def check_dependencies(ctx: FlowContext) -> list[Diagnostic]:
    out: list[Diagnostic] = []
    position = {}
    for job in ctx.jobs:
        if job.id is not None and job.id not in position:
            position[job.id] = job.index
    known = list(position)

    # edges[job] = [(dependency, path of the depends_on entry)]
    edges: dict[str, list[tuple[str, tuple[object, ...]]]] = {}
    for job in ctx.jobs:
        deps = job.data.get("depends_on")
        if job.id is None or not isinstance(deps, list):
            continue
        for di, dep in enumerate(deps):
            if not isinstance(dep, str):
                continue
            path = job.path + ("depends_on", di)
            if dep not in position:
                hint = hint_from(dep, known, "jobs in this flow")
                out.append(
                    ctx.at(path, "AF303", f"job '{job.id}' depends on unknown job '{dep}'", hint)
                )
                continue
            edges.setdefault(job.id, []).append((dep, path))

    in_cycle: set[tuple[str, str]] = set()
    cycles = _cycles(known, {j: [d for d, _ in e] for j, e in edges.items()})
    for number, cycle in enumerate(cycles, 1):
        pairs = list(zip(cycle, cycle[1:], strict=False))
        in_cycle.update(pairs)
        start, first_dep = pairs[0]
        path = next(p for d, p in edges[start] if d == first_dep)
        shown = " -> ".join(
            cycle
            if len(cycle) <= 2 * _CYCLE_SHOWN
            else [
                *cycle[:_CYCLE_SHOWN],
                f"... ({len(cycle) - 2 * _CYCLE_SHOWN} more)",
                *cycle[-_CYCLE_SHOWN:],
            ]
        )
        hint = "remove one of these depends_on entries to break the cycle"
        if number == MAX_CYCLES:
            hint += f"; only the first {MAX_CYCLES} cycles are reported"
        out.append(ctx.at(path, "AF304", f"dependency cycle: {shown}", hint))

    for job in ctx.jobs:
        if job.id is None:
            continue
        for dep, path in edges.get(job.id, []):
            if (job.id, dep) in in_cycle:
                continue
            if position[dep] >= job.index:
                out.append(
                    ctx.at(
                        path,
                        "AF305",
                        f"job '{job.id}' depends on '{dep}', which is declared after it",
                        f"jobs run in declared order: move job '{dep}' above job '{job.id}'",
                    )
                )
    return out


# A flow of thousands of jobs can hold thousands of cycles of thousands of jobs each:
# reporting them all, each in full, took minutes and gigabytes. The first MAX_CYCLES are
# reported, each with at most 2 * _CYCLE_SHOWN of its jobs.
MAX_CYCLES = 100
_CYCLE_SHOWN = 10


def _cycles(order: list[str], graph: dict[str, list[str]]) -> list[list[str]]:
    """Elementary cycles found by depth-first search, each reported once (the first
    MAX_CYCLES of them).

    A cycle is returned as [a, b, ..., a], starting at its earliest declared job.
    """
    rank = {name: i for i, name in enumerate(order)}
    found: list[list[str]] = []
    seen_sets: set[frozenset[str]] = set()
    state: dict[str, int] = {}  # 1 = on stack, 2 = done
    stack: list[str] = []
    depth: dict[str, int] = {}  # position on the stack of the jobs on it

    def record(cycle: list[str]) -> None:
        if len(found) >= MAX_CYCLES:
            return
        members = frozenset(cycle)
        if members in seen_sets:
            return
        seen_sets.add(members)
        first = min(range(len(cycle)), key=lambda i: rank[cycle[i]])
        rotated = cycle[first:] + cycle[:first]
        found.append(rotated + [rotated[0]])

    for root in order:
        if state.get(root) is not None:
            continue
        # Iterative DFS: (node, iterator over its successors).
        state[root] = 1
        depth[root] = len(stack)
        stack.append(root)
        frames = [(root, iter(graph.get(root, [])))]
        while frames:
            node, successors = frames[-1]
            nxt = next(successors, None)
            if nxt is None:
                frames.pop()
                stack.pop()
                state[node] = 2
            elif state.get(nxt) == 1:
                if len(found) < MAX_CYCLES:
                    record(stack[depth[nxt] :])
            elif state.get(nxt) is None:
                state[nxt] = 1
                depth[nxt] = len(stack)
                stack.append(nxt)
                frames.append((nxt, iter(graph.get(nxt, []))))
    return found
