"""`aetherflow graph`: a picture of a flow, from its IR.

The model (`flow_graph`) is what the runner will do, read from the same IR the code
generators consume: jobs in declared order with their steps, `depends_on` edges, the jobs
each `when` reads (with the condition as written), the steps whose `on_no_data: skip_job`
can end their job as SKIPPED, and the locks: the flow lock (`locks.scope: flow`), the job
locks (`locks.scope: job`) and every `with_lock` step's key, rendered where the compiler
knows it (literals, `flow_id`, `job.id`).

Three renderings, each a small function over the model: Mermaid (for docs), Graphviz DOT
and JSON. Output depends only on the flow, so it is stable from one call to the next.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from aetherflow_compiler.ir import nodes as ir
from aetherflow_compiler.ir.template import Ref, Template
from aetherflow_compiler.ir.when import referenced_jobs

FORMATS = ("mermaid", "dot", "json")

# Template roots whose value the compiler knows: a lock key made only of these is shown resolved.
_STATIC_ROOTS = ("flow_id", "job.id")


@dataclass(frozen=True)
class Lock:
    key: str  # resolved when `static`, else the value as written
    static: bool

    def as_json(self) -> dict[str, Any]:
        return {"key": self.key, "static": self.static}

    def shown(self) -> str:
        return self.key if self.static else f"{self.key} (resolved at run time)"


@dataclass(frozen=True)
class GraphStep:
    id: str | None  # None: an embedded step without an id
    type: str
    line: int | None  # None for embedded steps (their with_lock step's line applies)
    skips_job_on_no_data: bool
    lock: Lock | None  # with_lock's key
    inner: GraphStep | None  # with_lock's embedded step

    def as_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"id": self.id, "type": self.type}
        if self.line is not None:
            out["line"] = self.line
            out["on_no_data"] = "skip_job" if self.skips_job_on_no_data else None
        out["lock"] = self.lock.as_json() if self.lock is not None else None
        if self.inner is not None:
            out["step"] = self.inner.as_json()
        return out


@dataclass(frozen=True)
class GraphJob:
    id: str
    line: int
    description: str | None
    steps: tuple[GraphStep, ...]
    lock: str | None  # the job lock's key under locks.scope: job
    when: str | None  # the condition as written
    may_skip: bool  # a step's on_no_data: skip_job can end the job as SKIPPED

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "line": self.line,
            "description": self.description,
            "steps": [s.as_json() for s in self.steps],
            "lock": self.lock,
            "when": self.when,
            "may_skip": self.may_skip,
            "skipped_by": [s.id for s in self.steps if s.skips_job_on_no_data],
        }


@dataclass(frozen=True)
class Edge:
    source: str
    target: str
    kind: str  # depends_on | when (the target's `when` reads the source)

    def as_json(self) -> dict[str, Any]:
        return {"from": self.source, "to": self.target, "kind": self.kind}


@dataclass(frozen=True)
class FlowGraph:
    flow: str
    file: str
    lock_scope: str  # none | job | flow
    lock: str | None  # the flow lock's key under locks.scope: flow
    jobs: tuple[GraphJob, ...]
    edges: tuple[Edge, ...]

    def job(self, job_id: str) -> GraphJob:
        return next(j for j in self.jobs if j.id == job_id)


# --- the model ---------------------------------------------------------------------------


def flow_graph(flow: ir.Flow, file: str) -> FlowGraph:
    """The graph of a built flow; `file` is the path shown for it."""
    jobs: list[GraphJob] = []
    edges: list[Edge] = []
    for job in flow.jobs:
        steps = tuple(
            _step(
                step.id,
                step.type,
                step.inputs,
                step.origin.line,
                step.skip_job_on_no_data,
                flow.id,
                job.id,
            )
            for step in job.steps
        )
        jobs.append(
            GraphJob(
                id=job.id,
                line=job.origin.line,
                description=job.description,
                steps=steps,
                lock=f"job:{flow.id}:{job.id}" if flow.locks.scope == "job" else None,
                when=job.when_source,
                may_skip=any(s.skips_job_on_no_data for s in steps),
            )
        )
        edges.extend(Edge(dep, job.id, "depends_on") for dep in job.depends_on)
        read = [] if job.when is None else [ref.job for ref in referenced_jobs(job.when)]
        edges.extend(Edge(source, job.id, "when") for source in dict.fromkeys(read))
    return FlowGraph(
        flow.id,
        file,
        flow.locks.scope,
        f"flow:{flow.id}" if flow.locks.scope == "flow" else None,
        tuple(jobs),
        tuple(edges),
    )


def _step(
    step_id: str | None,
    step_type: str,
    inputs: ir.Map,
    line: int | None,
    skips: bool,
    flow_id: str,
    job_id: str,
) -> GraphStep:
    if step_type != "with_lock":
        return GraphStep(step_id, step_type, line, skips, None, None)
    inner = inputs.get("step")
    inner_step = None
    if isinstance(inner, ir.Map) and isinstance(inner.get("type"), str):
        inner_id = inner.get("id")
        inner_inputs = inner.get("inputs")
        inner_step = _step(
            inner_id if isinstance(inner_id, str) else None,
            str(inner.get("type")),
            inner_inputs if isinstance(inner_inputs, ir.Map) else ir.Map(()),
            None,
            False,
            flow_id,
            job_id,
        )
    return GraphStep(
        step_id,
        step_type,
        line,
        skips,
        lock_key(inputs.get("lock_key"), flow_id, job_id),
        inner_step,
    )


def lock_key(value: ir.Value, flow_id: str, job_id: str) -> Lock:
    """A with_lock key: resolved when it is a literal or reads only what compiling knows."""
    if isinstance(value, Template):
        if not all(ref.dotted in _STATIC_ROOTS for ref in value.refs):
            return Lock(value.source, False)
        known = {"flow_id": flow_id, "job.id": job_id}
        return Lock(
            "".join(known[p.dotted] if isinstance(p, Ref) else p.text for p in value.parts), True
        )
    return Lock(str(value), True)  # a string or a number (the schema allows no other)


def _step_lines(step: GraphStep) -> list[str]:
    """The lines that describe a step in a picture: id and type, lock, embedded step."""
    lines = [f"{step.id} ({step.type})" if step.id is not None else f"({step.type})"]
    if step.skips_job_on_no_data:
        lines.append("on_no_data: skip_job")
    if step.lock is not None:
        lines.append(f"with lock {step.lock.shown()}")
    if step.inner is not None:
        inner = _step_lines(step.inner)
        lines.append("runs " + inner[0])
        lines.extend(inner[1:])
    return lines


def _job_lines(job: GraphJob) -> list[str]:
    lines = [f"job {job.id}"]
    if job.when is not None:
        lines.append(f"when: {job.when}")
    if job.may_skip:
        lines.append("may be skipped: no data")
    if job.lock is not None:
        lines.append(f"job lock {job.lock}")
    return lines


def _job_edges(graph: FlowGraph) -> list[tuple[str, str, bool, bool]]:
    """One drawn edge per pair of jobs: (from, to, depends_on, read by when), in order."""
    pairs: dict[tuple[str, str], set[str]] = {}
    for edge in graph.edges:
        pairs.setdefault((edge.source, edge.target), set()).add(edge.kind)
    return [(a, b, "depends_on" in kinds, "when" in kinds) for (a, b), kinds in pairs.items()]


# --- JSON --------------------------------------------------------------------------------


def as_json(graph: FlowGraph) -> str:
    return (
        json.dumps(
            {
                "flow": graph.flow,
                "file": graph.file,
                "locks": {"scope": graph.lock_scope, "flow_lock": graph.lock},
                "jobs": [j.as_json() for j in graph.jobs],
                "edges": [e.as_json() for e in graph.edges],
            },
            indent=2,
            ensure_ascii=False,
        )
        + "\n"
    )


# --- Mermaid -----------------------------------------------------------------------------

# Inside a quoted Mermaid label `#name;` / `#123;` is an entity code; these characters
# would otherwise end the label, start an entity or a comment (%%), or be read as HTML or
# a markdown string (backticks).
_MERMAID_ESCAPES = {
    '"': "#quot;",
    "#": "#35;",
    "&": "#amp;",
    "<": "#lt;",
    ">": "#gt;",
    "`": "#96;",
    "%": "#37;",
}


def mermaid_text(text: str) -> str:
    """`text` as the inside of a quoted Mermaid label (line breaks become <br>)."""
    escaped = "".join(_MERMAID_ESCAPES.get(ch, ch) for ch in text)
    return escaped.replace("\r\n", "\n").replace("\n", "<br>")


def _mermaid_label(lines: list[str]) -> str:
    return '"' + "<br>".join(mermaid_text(line) for line in lines) + '"'


def as_mermaid(graph: FlowGraph) -> str:
    """A Mermaid flowchart: a subgraph per job with its steps in order, the flow lock as a
    subgraph around everything. Node ids are positions (j1, j1s2), so any job or step id
    is safe; the ids as written are in the labels."""
    ids = {job.id: f"j{i}" for i, job in enumerate(graph.jobs, 1)}
    out = ["flowchart TD", f"  %% flow {mermaid_text(graph.flow)} ({mermaid_text(graph.file)})"]
    indent = "  "
    if graph.lock is not None:
        out.append(
            f"  subgraph flow_lock [{_mermaid_label([f'flow {graph.flow}', f'flow lock {graph.lock}'])}]"
        )
        indent = "    "
    for job in graph.jobs:
        jid = ids[job.id]
        out.append(f"{indent}subgraph {jid} [{_mermaid_label(_job_lines(job))}]")
        out.append(f"{indent}  direction TB")
        for si, step in enumerate(job.steps, 1):
            shape = ("[/", "/]") if step.skips_job_on_no_data else ("[", "]")
            out.append(
                f"{indent}  {jid}s{si}{shape[0]}{_mermaid_label(_step_lines(step))}{shape[1]}"
            )
        for si in range(1, len(job.steps)):
            out.append(f"{indent}  {jid}s{si} --> {jid}s{si + 1}")
        out.append(f"{indent}end")
    if graph.lock is not None:
        out.append("  end")
    for source, target, depends, when in _job_edges(graph):
        arrow = "-->" if depends else "-.->"
        label = f'|"{mermaid_text("when")}"|' if when else ""
        out.append(f"  {ids[source]} {arrow}{label} {ids[target]}")
    return "\n".join(out) + "\n"


# --- Graphviz DOT ------------------------------------------------------------------------


def dot_quote(text: str) -> str:
    """A DOT double-quoted string: backslashes and quotes escaped, line breaks as \\n (which
    labels show as line breaks; ids with them stay distinct)."""
    escaped = text.replace("\\", "\\\\").replace('"', '\\"')
    return '"' + escaped.replace("\r\n", "\n").replace("\r", "\\r").replace("\n", "\\n") + '"'


def _dot_label(lines: list[str]) -> str:
    # Graphviz reads HTML entities (&amp;, &#60;) in labels: a literal '&' is written &amp;.
    return dot_quote("\n".join(lines).replace("&", "&amp;"))


def _dot_step_id(job_id: str, index: int) -> str:
    # Ids never contain "/": "step/<job>/<n>" names one step and cannot be a cluster name.
    return dot_quote(f"step/{job_id}/{index}")


def as_dot(graph: FlowGraph) -> str:
    """A Graphviz digraph: a cluster per job with its steps in order, the flow lock as a
    cluster around everything; edges between jobs run from cluster to cluster."""
    out = [
        f"digraph {dot_quote(graph.flow)} {{",
        "  compound=true;",
        "  rankdir=TB;",
        f"  label={_dot_label([f'flow {graph.flow} ({graph.file})'])};",
        "  labelloc=t;",
        '  node [shape=box, fontname="Helvetica"];',
        '  edge [fontname="Helvetica"];',
    ]
    indent = "  "
    if graph.lock is not None:
        out += [
            f"  subgraph {dot_quote('cluster_flow_lock')} {{",
            f"    label={_dot_label([f'flow lock {graph.lock}'])};",
            "    style=bold;",
        ]
        indent = "    "
    for job in graph.jobs:
        out += [
            f"{indent}subgraph {dot_quote('cluster/' + job.id)} {{",
            f"{indent}  label={_dot_label(_job_lines(job))};",
            f"{indent}  style={'dashed' if job.when is not None or job.may_skip else 'solid'};",
        ]
        for si, step in enumerate(job.steps, 1):
            shape = ", shape=parallelogram" if step.skips_job_on_no_data else ""
            out.append(
                f"{indent}  {_dot_step_id(job.id, si)} [label={_dot_label(_step_lines(step))}{shape}];"
            )
        for si in range(1, len(job.steps)):
            out.append(f"{indent}  {_dot_step_id(job.id, si)} -> {_dot_step_id(job.id, si + 1)};")
        out.append(f"{indent}}}")
    if graph.lock is not None:
        out.append("  }")
    for source, target, depends, when in _job_edges(graph):
        attrs = [
            f"ltail={dot_quote('cluster/' + source)}",
            f"lhead={dot_quote('cluster/' + target)}",
        ]
        if not depends:
            attrs.append("style=dashed")
        if when:
            attrs.append(f"label={_dot_label(['when'])}")
        last = len(graph.job(source).steps)
        out.append(
            f"  {_dot_step_id(source, last)} -> {_dot_step_id(target, 1)} [{', '.join(attrs)}];"
        )
    out.append("}")
    return "\n".join(out) + "\n"


def render(graph: FlowGraph, fmt: str) -> str:
    """The graph in one of FORMATS."""
    renderers = {"mermaid": as_mermaid, "dot": as_dot, "json": as_json}
    return renderers[fmt](graph)
