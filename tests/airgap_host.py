"""An air-gapped host, for tests/test_airgap.py: run inside a new network namespace
(`unshare -n`) by the test environment's Python, never imported.

It brings the namespace's loopback up, checks that nothing else is reachable, starts the
tests' SFTP server (peers.serving_sftp) on that loopback, runs each command of the plan with the
environment it gives (the commands are the artifacts, run by the bare interpreter), and
writes what happened as JSON.

    python airgap_host.py PLAN_JSON RESULT_JSON
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from peers import serving_sftp  # noqa: E402  (the tests' SFTP server)


def _reachable(host: str, port: int) -> str:
    try:
        with socket.create_connection((host, port), timeout=3):
            return "connected"
    except OSError as exc:
        return f"refused: {exc}"


def main() -> int:
    plan_path, result_path = sys.argv[1:3]
    with open(plan_path, encoding="utf-8") as fh:
        plan = json.load(fh)
    subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
    result: dict[str, Any] = {"outside": _reachable(plan["outside_host"], 443), "runs": []}
    sftp = plan["sftp"]
    with serving_sftp(Path(sftp["root"]), sftp["user"], sftp["password"]) as (port, _host_key):
        for command in plan["commands"]:
            env = {**command["env"], "SFTP_PORT": str(port)}
            proc = subprocess.run(
                command["argv"],
                env=env,
                cwd=command["cwd"],
                capture_output=True,
                text=True,
                timeout=300,
            )
            result["runs"].append(
                {
                    "argv": command["argv"],
                    "exit": proc.returncode,
                    "stdout": proc.stdout,
                    "stderr": proc.stderr[-4000:],
                }
            )
    with open(result_path, "w", encoding="utf-8") as fh:
        json.dump(result, fh, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
