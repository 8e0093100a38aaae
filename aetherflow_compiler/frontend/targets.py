"""Which target a flow can be compiled for, as diagnostics.

The Python target: AF701 for a step type or connector it does not implement, AF704 for
plugin use with --single-file, AF206 for a flow id too long to name an artifact. The sh
target: an AF705 error (`--target sh`) for each reason a flow cannot become a shell
script, or one AF806 note per flow listing them (`--target all`; the reasons themselves
come from `sh_target.blockers`, read from the IR), and AF816 when the sh artifact keeps its state apart from the declared store.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aetherflow_compiler.diagnostics import Diagnostic, Related
from aetherflow_compiler.frontend.checks.context import FlowContext, embedded_steps
from aetherflow_compiler.steps import StepRegistry
from aetherflow_compiler.walk import mapping

if TYPE_CHECKING:
    from aetherflow_compiler.frontend.validate import FileResult

NAME_MAX = 255  # bytes in a file name, on nearly every file system (ext4, XFS, btrfs, APFS, NTFS)

# Why a flow of a bundle whose manifest names env files gets no sh artifact.
ENV_FILES_BLOCKER = "the bundle manifest's env_files are loaded by the Python artifact only"


def check_python_target(fr: FileResult, registry: StepRegistry, single_file: bool) -> None:
    """AF701 for everything the Python target cannot compile yet; AF704 for plugin use
    with --single-file (plugins ship as files next to the script)."""
    doc = fr.document
    assert doc is not None
    data = mapping(doc.data)

    def report(path: tuple[Any, ...], message: str, hint: str, code: str = "AF701") -> None:
        span = doc.span(path)
        fr.diagnostics.add(Diagnostic(fr.path, span.line, span.column, code, message, hint))

    single_file_hint = (
        "plugins are vendored as files in aetherflow_plugins/; compile without --single-file"
    )
    supported = sorted(
        t.name for t in map(registry.get, registry.names()) if t is not None and t.runtime
    )
    for name, resource in mapping(data.get("resources")).items():
        kind, driver = mapping(resource).get("kind"), mapping(resource).get("driver")
        connector = registry.connector(str(kind), str(driver))
        if connector is not None and connector.plugin and single_file:
            report(
                ("resources", name, "driver"),
                f"connector {kind}:{driver} comes from a plugin, which "
                "--single-file cannot include",
                single_file_hint,
                "AF704",
            )
        elif connector is not None and connector.runtime is None and not connector.plugin:
            report(
                ("resources", name, "driver"),
                f"connector {kind}:{driver} is not supported by the python target yet",
                "supported: " + ", ".join(c.key for c in registry.connectors() if c.runtime),
            )
    for job in FlowContext.of(doc, registry).jobs:
        for step in job.steps:
            for each in (step, *embedded_steps(registry, step)):  # with_lock's, at any depth
                known = registry.get(each.type) if each.type is not None else None
                path = each.path + ("type",)
                if known is not None and known.plugin and single_file:
                    report(
                        path,
                        f"step type '{each.type}' comes from a plugin, which --single-file cannot include",
                        single_file_hint,
                        "AF704",
                    )
                elif known is not None and known.runtime is None and not known.plugin:
                    report(
                        path,
                        f"step type '{each.type}' is not supported by the python target yet",
                        "supported: " + ", ".join(supported),
                    )


def artifact_name_problem(path: str, flow_id: str, at: tuple[int, int]) -> Diagnostic | None:
    """AF206 at the flow id when `<flow id>.py` (or `.sh`) is too long for a file name."""
    size = len(f"{flow_id}.py".encode("utf-8", "surrogatepass"))
    if size <= NAME_MAX:
        return None
    line, column = at
    shown = flow_id if len(flow_id) <= 40 else flow_id[:37] + "..."
    return Diagnostic(
        path,
        line,
        column,
        "AF206",
        f"flow id '{shown}' is too long to name its artifact: '<flow id>.py' would be a file name "
        f"of {size} bytes, and file systems allow {NAME_MAX}",
        f"shorten the flow id to at most {NAME_MAX - 3} bytes (UTF-8; 'é' takes 2)",
    )


def sh_target_problems(
    path: str,
    flow_id: str | None,
    flow_id_at: tuple[int, int],
    only_sh: bool,
    blockers: list[list[Any]],
    sh_state: list[Any] | None,
) -> list[Diagnostic]:
    """The sh target's diagnostics for one flow: with `only_sh` (--target sh) an AF705
    error for each blocker ([line, column, message], each a thing to change; line and column
    are None for a reason outside the flow file); with
    --target all one AF806 note at the flow id listing every blocker; else AF816 when the
    sh artifact keeps its state in the file layout instead of the declared store
    (`sh_state`: [line, column, backend, derived path])."""
    out = []
    if only_sh:
        for line, column, message in blockers:
            out.append(
                Diagnostic(
                    path,
                    line or 1,  # a reason with no place in the flow (the manifest's env_files)
                    column or 1,
                    "AF705",
                    message,
                    "compile it for python (--target python), or change what the message names",
                )
            )
    elif blockers:
        line, column = flow_id_at
        reasons = tuple(Related(*blocker) for blocker in blockers)
        n = len(reasons)
        out.append(
            Diagnostic(
                path,
                line,
                column,
                "AF806",
                f"no sh artifact for flow '{flow_id}' (it gets its Python artifact only): "
                + (f"{n} reasons" if n > 1 else "1 reason"),
                "nothing to do if the flow runs where Python is; otherwise change what the "
                "reasons name (docs/sh-target.md)",
                reasons,
            )
        )
    if sh_state and not blockers:
        line, column, backend, derived = sh_state
        out.append(
            Diagnostic(
                path,
                line,
                column,
                "AF816",
                f"the sh artifact of flow '{flow_id}' keeps its state in the file layout at "
                f"'{derived}', not in the {backend} state store the flow declares: runs and locks of the "
                "sh artifact and of the Python artifact (or the engine) do not see each other",
                "run one target of this flow per state store, or set state.backend: file for both; "
                "AETHERFLOW_SH_SQLITE_MIRROR=1 also writes the sh runs' statuses into the declared "
                "database where a sqlite3 command exists (docs/sh-target.md)",
            )
        )
    return out
