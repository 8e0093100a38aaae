"""What the engine's validation renders before a run, read off the IR (both generators
emit it: the Python artifact's `start_checks`, the sh artifact's `af_start_checks`).

Before a run the engine's validation renders every step's inputs and outputs with the
environment, `run_id` and `flow_id` (placeholders) and every other root empty, and refuses
the run when a rendered text holds forbidden syntax; each section stops at the first key
that does not resolve there.
"""

from __future__ import annotations

from aetherflow_compiler.ir import nodes as ir
from aetherflow_compiler.ir.template import Template

# The roots the validation resolves besides env, and the text it renders for them.
VALIDATION_TEXT: dict[tuple[str, ...], str] = {("run_id",): "RUN_ID", ("flow_id",): "FLOW_ID"}

StartCheck = tuple[str, str, str, list[Template]]


def start_checks(flow: ir.Flow) -> list[StartCheck]:
    """(job, step, section, templates) for every step section in which an environment
    value can make the engine's validation refuse the run: its templates in the order
    the validation renders them, up to the last text with an env token (the standalone
    env tokens without default before it stop the section when their variable is
    missing). The artifacts render these at their start, and nothing else: every other
    template passes or fails there the same on every run, and the compiler has judged it."""
    out = []
    for job in flow.jobs:
        for step in job.steps:
            for section, value in (("inputs", step.inputs), ("outputs", step.outputs)):
                items: list[Template] = []
                last = 0
                for template in ir.templates_in(value):
                    refs = template.refs
                    if any(
                        r.root != "env" and r.path not in VALIDATION_TEXT and r.default is None
                        for r in refs
                    ):
                        break  # never resolves there: the validation stops here on every run
                    if not template.standalone and any(r.root == "env" for r in refs):
                        items.append(template)
                        last = len(items)
                    elif any(r.root == "env" and r.default is None for r in refs):
                        items.append(template)  # a missing variable stops the section here
                if last:
                    out.append((job.id, step.id, section, items[:last]))
    return out
