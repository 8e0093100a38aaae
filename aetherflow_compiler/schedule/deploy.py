"""How the schedule files deploy a dist: plain settings, importable without the scheduling code."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class KubeOptions:
    image: str | None = None  # default: python:3.12-slim, or busybox:1.36 for shell artifacts
    claim: str = "aetherflow-state"
    namespace: str | None = None
    requests: tuple[tuple[str, str], ...] = (("cpu", "100m"), ("memory", "128Mi"))


@dataclass(frozen=True)
class DeployOptions:
    dist: str = "/opt/aetherflow/dist"  # where dist/ is on the hosts (and in pods)
    log_dir: str = "/var/log/aetherflow"  # crontab output, one file per item
    python: str = "/usr/bin/python3"
    kube: KubeOptions = field(default_factory=KubeOptions)
    # --shared-state: the hosts keep state in PostgreSQL; AETHERFLOW_STATE_URL comes from
    # this env file (cron, systemd) and from this Secret (Kubernetes), never from dist/.
    shared_state: bool = False
    state_env_file: str = "/etc/aetherflow/state.env"
    state_secret: str = "aetherflow-state"
