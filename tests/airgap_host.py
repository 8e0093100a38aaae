"""An air-gapped host, for tests/test_airgap.py: run inside a new network namespace
(`unshare -n`) by the test environment's Python, never imported.

It brings the namespace's loopback up, checks that nothing else is reachable, starts an
SFTP server (asyncssh) on that loopback, runs each command of the plan with the
environment it gives (the commands are the artifacts, run by the bare interpreter), and
writes what happened as JSON.

    python airgap_host.py PLAN_JSON RESULT_JSON
"""

from __future__ import annotations

import asyncio
import json
import socket
import subprocess
import sys
import threading
from typing import Any


def _reachable(host: str, port: int) -> str:
    try:
        with socket.create_connection((host, port), timeout=3):
            return "connected"
    except OSError as exc:
        return f"refused: {exc}"


def _sftp_server(root: str, user: str, password: str) -> int:
    import asyncssh

    class Server(asyncssh.SSHServer):  # type: ignore[misc]
        def begin_auth(self, username: str) -> bool:
            return True

        def password_auth_supported(self) -> bool:
            return True

        def validate_password(self, username: str, given: str) -> bool:
            return username == user and given == password

    loop = asyncio.new_event_loop()
    started = threading.Event()
    holder: dict[str, Any] = {}

    def serve() -> None:
        asyncio.set_event_loop(loop)

        async def start() -> None:
            server = await asyncssh.listen(
                "127.0.0.1", 0, server_host_keys=[asyncssh.generate_private_key("ssh-ed25519")],
                server_factory=Server, sftp_factory=lambda chan: asyncssh.SFTPServer(chan, chroot=root.encode()))
            holder["port"] = server.sockets[0].getsockname()[1]
            started.set()

        loop.run_until_complete(start())
        loop.run_forever()

    threading.Thread(target=serve, daemon=True).start()
    if not started.wait(20):
        raise SystemExit("the SFTP server did not start")
    return int(holder["port"])


def main() -> int:
    plan_path, result_path = sys.argv[1:3]
    with open(plan_path, encoding="utf-8") as fh:
        plan = json.load(fh)
    subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
    result: dict[str, Any] = {"outside": _reachable(plan["outside_host"], 443), "runs": []}
    sftp = plan["sftp"]
    port = _sftp_server(sftp["root"], sftp["user"], sftp["password"])
    for command in plan["commands"]:
        env = {**command["env"], "SFTP_PORT": str(port)}
        proc = subprocess.run(command["argv"], env=env, cwd=command["cwd"], capture_output=True, text=True,
                              timeout=300)
        result["runs"].append({"argv": command["argv"], "exit": proc.returncode, "stdout": proc.stdout,
                               "stderr": proc.stderr[-4000:]})
    with open(result_path, "w", encoding="utf-8") as fh:
        json.dump(result, fh, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
