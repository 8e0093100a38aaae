"""`compile --schedule`: the files under DIR/schedule/ for the scheduler file's items."""

from __future__ import annotations

import posixpath
from dataclasses import dataclass

from aetherflow_compiler import __version__
from aetherflow_compiler.codegen.literals import comment_text
from aetherflow_compiler.ir import nodes as ir
from aetherflow_compiler.package_data import DIST_RUNTIME
from aetherflow_compiler.schedule import crontab, kubernetes, systemd
from aetherflow_compiler.schedule.deploy import DeployOptions
from aetherflow_compiler.schedule.model import Item, Schedule
from aetherflow_compiler.vendoring.layout import SBOM, VENDOR


@dataclass(frozen=True)
class Scheduled:
    """An item with what it runs: the flow and its artifact's file name in dist/."""

    item: Item
    flow: ir.Flow
    artifact: str  # <flow_id>.py, or <flow_id>.sh when only a shell artifact exists


def schedule_files(
    schedule: Schedule,
    scheduled: list[Scheduled],
    artifacts: dict[str, bytes],
    options: DeployOptions,
) -> dict[str, bytes]:
    """Relative path -> content, for `schedule/` in the output directory. `artifacts` are
    the files the ConfigMap carries (the compiled flows and their runtime)."""
    header = [
        f"Compiled by aetherflow-compiler {__version__} from {comment_text(schedule.source)}",
        f"(sha256 {schedule.sha256}). Do not edit: change the scheduler file and compile again.",
    ]
    out: dict[str, str] = {}
    on_host = {s.item.id: _argv(s, options.dist, options.python, "/bin/sh") for s in scheduled}
    env_file = options.state_env_file if options.shared_state else None
    out["schedule/crontab"] = crontab.crontab(
        schedule, header, on_host, options.dist, options.log_dir, env_file
    )
    for s in scheduled:
        item = s.item
        unit = f"aetherflow-{item.slug}"
        what = f"AetherFlow {s.flow.id}{' job ' + item.flow_job if item.flow_job else ''} (scheduler item {item.id})"
        description = comment_text(what)
        out[f"schedule/systemd/{unit}.service"] = "".join(
            f"# {line}\n" for line in header
        ) + systemd.service_unit(description, options.dist, on_host[item.id], env_file)
        calendars = systemd.on_calendar(item.cron, schedule.timezone)
        persistent = item.misfire_grace_time is None or item.misfire_grace_time > 0
        out[f"schedule/systemd/{unit}.timer"] = (
            "".join(f"# {line}\n" for line in header)
            + f"# cron {comment_text(item.cron.text)} in {schedule.timezone}\n"
            + systemd.timer_unit(description, calendars, persistent, f"{unit}.service")
        )
    # Vendored packages (--wheelhouse) hold binary files and are large: no ConfigMap.
    in_configmap = {
        p: d for p, d in artifacts.items() if not p.startswith(VENDOR + "/") and p != SBOM
    }
    note = (
        [
            f"It leaves out {VENDOR}/ (--wheelhouse): use an image that has those packages,",
            "or one built from the dist archive.",
        ]
        if len(in_configmap) < len(artifacts)
        else []
    )
    tags = sorted({p.rsplit(".", 2)[1] for p in in_configmap if p.endswith(".pyc")})
    if tags:
        note += [
            f"binaryData holds the runtime's bytecode for {', '.join(tags)}; an image with another",
            "Python compiles the runtime at every start (compile with --bytecode for its python3).",
        ]
    out["schedule/kubernetes/configmap.yaml"] = kubernetes.manifest_yaml(
        header
        + [
            "The compiled artifacts, mounted by every CronJob at " + options.dist + ".",
            "A ConfigMap holds at most 1 MiB; beyond that, build an image that contains dist/.",
            *note,
        ],
        kubernetes.configmap(in_configmap, options.kube),
    )
    artifacts = in_configmap
    for s in scheduled:
        in_pod = _argv(s, options.dist, "python3", "sh")
        needed = _needed(s.artifact, artifacts)
        document = kubernetes.cronjob(
            schedule,
            s.item,
            s.flow,
            in_pod,
            needed,
            options.dist,
            options.kube,
            s.artifact.endswith(".sh"),
            options.state_secret if options.shared_state else None,
        )
        out[f"schedule/kubernetes/cronjob-{s.item.slug}.yaml"] = kubernetes.manifest_yaml(
            header + [f"Scheduler item {comment_text(s.item.id)}: {comment_text(s.item.target)}."],
            document,
        )
    return {path: text.encode("utf-8") for path, text in sorted(out.items())}


def _argv(s: Scheduled, dist: str, python: str, shell: str) -> list[str]:
    script = posixpath.join(dist, s.artifact)
    head = [shell, script] if s.artifact.endswith(".sh") else [python, "-I", "-S", script]
    return [*head, "run", *(["--job", s.item.flow_job] if s.item.flow_job else [])]


def _needed(artifact: str, artifacts: dict[str, bytes]) -> list[str]:
    """The artifact and, for a Python script, the vendored runtime and plugins it imports;
    for a shell script, the shell runtime the dist ships (aetherflow_runtime/*.sh)."""
    if artifact.endswith(".sh"):
        return [
            artifact,
            *sorted(p for p in artifacts if p.startswith(f"{DIST_RUNTIME}/") and p.endswith(".sh")),
        ]
    return [artifact, *sorted(p for p in artifacts if "/" in p)]
