"""Kubernetes: a ConfigMap holding the compiled artifacts and one batch/v1 CronJob per item."""

from __future__ import annotations

import base64
import posixpath
from typing import Any

import yaml

from aetherflow_compiler.ir import nodes as ir
from aetherflow_compiler.ir.template import Ref, Template
from aetherflow_compiler.schedule.deploy import KubeOptions
from aetherflow_compiler.schedule.model import Item, Schedule

CONFIGMAP = "aetherflow-dist"
# The pod's working directory; relative state paths and env variables without a default
# point below it.
STATE_ROOT = "/var/lib/aetherflow"


def configmap(files: dict[str, bytes], options: KubeOptions) -> dict[str, Any]:
    """The artifacts as one ConfigMap: keys are paths with '/' as '__' (keys cannot hold a
    slash); each CronJob maps them back to paths. Shipped bytecode (*.pyc) goes in
    binaryData, base64-encoded as the API wants it."""
    binary = {path for path in files if path.endswith(".pyc")}
    document: dict[str, Any] = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": _metadata(CONFIGMAP, options),
        "data": {
            config_key(path): data.decode("utf-8")
            for path, data in sorted(files.items())
            if path not in binary
        },
    }
    if binary:
        document["binaryData"] = {
            config_key(path): base64.b64encode(files[path]).decode("ascii")
            for path in sorted(binary)
        }
    return document


def config_key(path: str) -> str:
    return path.replace("/", "__")


def cronjob(
    schedule: Schedule,
    item: Item,
    flow: ir.Flow,
    argv: list[str],
    files: list[str],
    dist: str,
    options: KubeOptions,
    shell: bool,
    state_secret: str | None = None,
) -> dict[str, Any]:
    """With `state_secret` (shared state), the pod takes AETHERFLOW_STATE_URL from that
    Secret and mounts no state claim: it may run on any node, its workspace is scratch."""
    state_mount, env = _state_mount(flow)
    container: dict[str, Any] = {
        "name": "run",
        "image": options.image or ("busybox:1.36" if shell else "python:3.12-slim"),
        "command": argv,
        "workingDir": STATE_ROOT,
        "resources": {"requests": dict(options.requests)},
        "volumeMounts": [
            {"name": "dist", "mountPath": dist, "readOnly": True},
            {"name": "state", "mountPath": STATE_ROOT if state_secret else state_mount},
        ],
    }
    if env:
        container["env"] = [{"name": name, "value": value} for name, value in sorted(env.items())]
    if state_secret is not None:
        container["envFrom"] = [{"secretRef": {"name": state_secret}}]
    state_volume: dict[str, Any] = (
        {"name": "state", "emptyDir": {}}
        if state_secret is not None
        else {"name": "state", "persistentVolumeClaim": {"claimName": options.claim}}
    )
    spec: dict[str, Any] = {
        "schedule": item.cron.text,
        "timeZone": schedule.timezone,
        "concurrencyPolicy": "Forbid",
    }
    if item.misfire_grace_time is not None:
        # The controller looks every 10 s: a shorter deadline could skip runs it saw late.
        spec["startingDeadlineSeconds"] = max(item.misfire_grace_time, 10)
    spec["jobTemplate"] = {
        "spec": {
            "backoffLimit": 0,
            "template": {
                "spec": {
                    "restartPolicy": "Never",
                    "containers": [container],
                    "volumes": [
                        {
                            "name": "dist",
                            "configMap": {
                                "name": CONFIGMAP,
                                "defaultMode": 0o755,
                                "items": [{"key": config_key(p), "path": p} for p in files],
                            },
                        },
                        state_volume,
                    ],
                }
            },
        }
    }
    return {
        "apiVersion": "batch/v1",
        "kind": "CronJob",
        "metadata": _metadata(f"aetherflow-{item.slug}", options),
        "spec": spec,
    }


def _metadata(name: str, options: KubeOptions) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name}
    if options.namespace:
        meta["namespace"] = options.namespace
    meta["labels"] = {
        "app.kubernetes.io/name": "aetherflow",
        "app.kubernetes.io/managed-by": "aetherflow-compiler",
    }
    return meta


def _state_mount(flow: ir.Flow) -> tuple[str, dict[str, str]]:
    """Where the claim is mounted: the directory of the flow's state (the state directory
    itself for the file backend), with env templates at their defaults and relative paths
    below STATE_ROOT. An env variable without a default is set in the pod to
    STATE_ROOT/<flow_id>."""
    env: dict[str, str] = {}
    value = flow.state.path
    if isinstance(value, Template):
        text = ""
        for part in value.parts:
            if isinstance(part, Ref):
                if part.default is not None:
                    text += part.default
                else:
                    env[part.path[1]] = f"{STATE_ROOT}/{flow.id}"
                    text += env[part.path[1]]
            else:
                text += part.text
    else:
        text = str(value)
    path = posixpath.normpath(posixpath.join(STATE_ROOT, text))
    return (path if flow.state.backend == "file" else posixpath.dirname(path)), env


class _Dumper(yaml.SafeDumper):
    pass


def _text(dumper: yaml.SafeDumper, data: str) -> yaml.Node:
    style = (
        "|"
        if "\n" in data and not any(line != line.rstrip() for line in data.splitlines())
        else None
    )
    return dumper.represent_scalar("tag:yaml.org,2002:str", data, style=style)


_Dumper.add_representer(str, _text)


def manifest_yaml(header: list[str], document: dict[str, Any]) -> str:
    body = yaml.dump(
        document,
        Dumper=_Dumper,
        sort_keys=False,
        default_flow_style=False,
        allow_unicode=True,
        width=1000,
    )
    return "".join(f"# {line}\n" if line else "#\n" for line in header) + "---\n" + body
