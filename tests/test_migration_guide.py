"""docs/migration.md: every command it shows runs, in a copy of examples/engine-project.

Lines `engine$ CMD` run with the reference engine's `aetherflow` first on PATH, lines
`$ CMD` with the compiler's; all in one shell, so `export` lines carry over, and each
must exit 0. The guide's outcome is checked at the end: the engine, the drop-in and the
compiled dist all ran the flow.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from bench.oracle import oracle_cli
from conftest import ROOT

pytestmark = pytest.mark.conformance
GUIDE = ROOT / "docs" / "migration.md"


def guide_commands() -> list[tuple[str, str]]:
    """(who, command) for every prompt line of the guide's console blocks, in order."""
    out = []
    for block in re.findall(r"```console\n(.*?)```", GUIDE.read_text(), re.S):
        for line in block.splitlines():
            match = re.match(r"^(engine\$|\$) (.*)$", line)
            assert match, f"a console line without a prompt: {line!r}"
            out.append(("engine" if match.group(1) == "engine$" else "ours", match.group(2)))
    return out


def test_the_guide_shows_both_sides() -> None:
    commands = guide_commands()
    assert sum(who == "engine" for who, _ in commands) >= 2
    assert any(cmd.startswith("aetherflow compile --bundle-manifest") for _, cmd in commands)
    assert any(cmd.startswith("python3 -I -S dist/") for _, cmd in commands)


def test_every_command_of_the_migration_guide_runs(tmp_path: Path) -> None:
    project = tmp_path / "engine-project"
    shutil.copytree(ROOT / "examples" / "engine-project", project)
    ours = str(Path(sys.executable).parent)
    engine = str(Path(oracle_cli()).parent)
    python3 = shutil.which("python3")
    assert python3 is not None
    script = ["set -e"]
    for who, command in guide_commands():
        bin_dir = engine if who == "engine" else ours
        if command.startswith("export "):
            script.append(command)
            continue
        script.append(f"echo {shlex.quote('>>> ' + command)} >&2")
        script.append(f'PATH={shlex.quote(bin_dir)}:"$BASE_PATH" {command}')
    env = {
        "PATH": os.path.dirname(python3) + ":/usr/bin:/bin",
        "HOME": str(tmp_path),
        "LANG": "C.UTF-8",
        "AETHERFLOW_CACHE_DIR": str(tmp_path / "cache"),
    }
    env["BASE_PATH"] = env["PATH"]
    proc = subprocess.run(
        ["sh", "-c", "\n".join(script)],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-4000:] + proc.stdout[-2000:]
    notes = (project / "notes.txt").read_text().splitlines()
    runs = ["engine-1", "compiled-1", "compiled-2", "host-1"]
    assert len(notes) == len(runs), notes
    for line, run_id in zip(notes, runs, strict=True):
        assert line.startswith("2 orders, 14.75 in total: ") and line.endswith(
            f"/orders-{run_id}.zip"
        ), line
    assert (project / "dist" / "schedule" / "crontab").is_file()
    assert '"status": "SUCCESS"' in proc.stdout
