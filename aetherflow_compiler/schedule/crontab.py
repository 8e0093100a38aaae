"""The crontab: one line per scheduler item."""

from __future__ import annotations

import shlex

from aetherflow_compiler.codegen.literals import comment_text
from aetherflow_compiler.schedule.model import Item, Schedule


def crontab(
    schedule: Schedule,
    header: list[str],
    commands: dict[str, list[str]],
    workdir: str,
    log_dir: str,
    env_file: str | None = None,
) -> str:
    """`commands`: item id -> argv of the run. Output goes to LOG_DIR/<item>.log. With
    `env_file` (shared state), each line reads it first: AETHERFLOW_STATE_URL is there."""
    lines = [f"# {line}" if line else "#" for line in header]
    lines += [
        "# Install it as the crontab of the user that runs the flows (this replaces that crontab):",
        "#   crontab -u USER schedule/crontab",
        "# CRON_TZ is honoured by cronie (RHEL, Fedora); Debian's cron ignores it and uses the",
        "# host's timezone.",
        "",
        "SHELL=/bin/sh",
    ]
    if env_file is not None:
        lines[-1:-1] = [
            f"# State is shared (PostgreSQL): each run reads AETHERFLOW_STATE_URL from {comment_text(env_file)}",
            "# (KEY=value lines, readable by that user only).",
            "",
        ]
    if schedule.timezone != "UTC":
        lines.append(f"CRON_TZ={schedule.timezone}")
    for item in schedule.items:
        lines += ["", *_describe(item), _line(item, commands[item.id], workdir, log_dir, env_file)]
    return "\n".join(lines) + "\n"


def _describe(item: Item) -> list[str]:
    grace = "no limit" if item.misfire_grace_time is None else f"{item.misfire_grace_time} s"
    job = f", job {item.flow_job}" if item.flow_job else ""
    return [
        f"# {comment_text(item.id)}: {comment_text(item.target)}{comment_text(job)}"
        f" (misfire grace {grace}: cron does not run missed times)"
    ]


def _line(item: Item, argv: list[str], workdir: str, log_dir: str, env_file: str | None) -> str:
    log = f"{log_dir.rstrip('/')}/{item.slug}.log"
    run = " ".join(shlex.quote(a) for a in argv)
    if env_file is not None:
        run = f"set -a && . {shlex.quote(env_file)} && set +a && {run}"
    command = f"cd {shlex.quote(workdir)} && {run} >>{shlex.quote(log)} 2>&1"
    return f"{item.cron.text} {command.replace('%', chr(92) + '%')}"
