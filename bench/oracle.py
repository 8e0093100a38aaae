"""The reference engine, installed into its own virtual environment for comparisons.

Never a dependency of the compiler: tests and benchmarks create it under .cache/ (or use
$AETHERFLOW_ORACLE_PYTHON) and run it as a separate program.
"""

from __future__ import annotations

import fcntl
import os
import subprocess
import venv
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
ENGINE = "aetherflow-core==0.0.14"
# The engine's optional drivers that differential tests exercise against real peers (an
# SFTP server, an HTTP server) or real archives. pyzipper stays out: without it, both sides
# fall back to the zip programs for encrypted archives (conn_archive_adhoc_encrypted).
EXTRAS = ("paramiko==3.5.1", "httpx==0.28.1", "pyminizip==0.2.6")


def oracle_python() -> str:
    """A Python interpreter with the reference engine installed."""
    explicit = os.environ.get("AETHERFLOW_ORACLE_PYTHON")
    if explicit:
        return explicit
    home = REPO / ".cache" / "oracle-aetherflow-core-0.0.14"
    python = home / "bin" / "python"
    marker = home / ".installed"
    wanted = "\n".join((ENGINE, *EXTRAS)) + "\n"
    if marker.exists() and marker.read_text() == wanted:
        return str(python)
    # Several test processes (pytest -n) may get here at once: one installs, the others wait.
    home.parent.mkdir(parents=True, exist_ok=True)
    with open(home.parent / f"{home.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not marker.exists():
            venv.EnvBuilder(with_pip=True, clear=True).create(home)
            subprocess.run(
                [
                    str(python),
                    "-m",
                    "pip",
                    "install",
                    "--quiet",
                    "--disable-pip-version-check",
                    ENGINE,
                ],
                check=True,
            )
            marker.write_text(ENGINE + "\n")
        if marker.read_text() != wanted:
            subprocess.run(
                [
                    str(python),
                    "-m",
                    "pip",
                    "install",
                    "--quiet",
                    "--disable-pip-version-check",
                    *EXTRAS,
                ],
                check=True,
            )
            marker.write_text(wanted)
    return str(python)


def oracle_cli() -> str:
    """The engine's `aetherflow` command."""
    return str(Path(oracle_python()).parent / "aetherflow")
