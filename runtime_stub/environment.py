"""The run's immutable env snapshot: os.environ, then env files (later files win).

Env files come from AETHERFLOW_ENV_FILES_JSON (a JSON list of {type, path, optional,
prefix}) and then from --env-file options. os.environ itself is never changed.
"""

from __future__ import annotations

import json
import os

from . import TYPE_CHECKING
from .errors import ConfigError

if TYPE_CHECKING:  # names for annotations only: importing typing slows every start
    from typing import Dict, List, Mapping


class EnvFile:
    __slots__ = ("type", "path", "optional", "prefix")

    def __init__(
        self, type: str, path: str, optional: bool = False, prefix: str = ""
    ) -> None:
        self.type = type
        self.path = path
        self.optional = optional
        self.prefix = prefix


def env_files_from_json(raw: str) -> List[EnvFile]:
    try:
        items = json.loads(raw)
    except (ValueError, RecursionError) as exc:  # nested too deep: RecursionError
        raise ConfigError(
            "AETHERFLOW_ENV_FILES_JSON is not valid JSON: %s" % exc
        ) from None
    if not isinstance(items, list):
        raise ConfigError(
            "AETHERFLOW_ENV_FILES_JSON must be a JSON list of env file specs"
        )
    out = []
    for item in items:
        if not isinstance(item, dict):
            raise ConfigError(
                "AETHERFLOW_ENV_FILES_JSON: every entry must be an object"
            )
        out.append(
            EnvFile(
                str(item.get("type") or ""),
                str(item.get("path") or ""),
                bool(item.get("optional", False)),
                str(item.get("prefix") or ""),
            )
        )
    return out


def env_file_from_option(path: str) -> EnvFile:
    """--env-file PATH: a directory is a dir of files, *.json is json, anything else dotenv."""
    if os.path.isdir(path):
        return EnvFile("dir", path)
    if path.endswith(".json"):
        return EnvFile("json", path)
    return EnvFile("dotenv", path)


def _read_dotenv(path: str) -> Dict[str, str]:
    out: Dict[str, str] = {}
    with open(path, encoding="utf-8") as fh:
        for raw in fh.read().splitlines():
            line = raw.strip()
            if not line or line.startswith("#") or "=" not in line:
                continue
            key, value = line.split("=", 1)
            key, value = key.strip(), value.strip()
            if (value.startswith('"') and value.endswith('"')) or (
                value.startswith("'") and value.endswith("'")
            ):
                value = value[1:-1]
            if key:
                out[key] = value
    return out


def _read_json_env(path: str) -> Dict[str, str]:
    with open(path, encoding="utf-8") as fh:
        obj = json.load(fh)
    if not isinstance(obj, dict):
        raise ConfigError(
            "env file %s: a json env file must hold one JSON object" % path
        )
    out: Dict[str, str] = {}
    for key, value in obj.items():
        if value is None:
            continue
        out[str(key)] = (
            json.dumps(value, ensure_ascii=False)
            if isinstance(value, (dict, list))
            else str(value)
        )
    return out


def _read_dir_env(path: str) -> Dict[str, str]:
    if not os.path.isdir(path):
        raise ConfigError("env file %s: type dir needs a directory" % path)
    out: Dict[str, str] = {}
    for name in sorted(os.listdir(path)):
        full = os.path.join(path, name)
        if os.path.isfile(full):
            with open(full, encoding="utf-8") as fh:
                out[name] = fh.read().rstrip("\n")
    return out


_READERS = {
    "dotenv": _read_dotenv,
    "json": _read_json_env,
    "dir": _read_dir_env,
    "directory": _read_dir_env,
    "dir-of-files": _read_dir_env,
}


def load_env_files(specs: List[EnvFile]) -> Dict[str, str]:
    merged: Dict[str, str] = {}
    for spec in specs:
        kind = spec.type.strip().lower()
        reader = _READERS.get(kind)
        if reader is None:
            raise ConfigError(
                "env file %s: unsupported type %r (use dotenv, json or dir)"
                % (spec.path, spec.type)
            )
        if not os.path.exists(spec.path):
            if spec.optional:
                continue
            raise ConfigError("env file not found: %s" % spec.path)
        try:
            data = reader(spec.path)
        except (OSError, ValueError, RecursionError) as exc:
            raise ConfigError(
                "env file %s cannot be read: %s" % (spec.path, exc)
            ) from None
        for key, value in data.items():
            merged[spec.prefix + key] = value
    return merged


def build_snapshot(
    environ: Mapping[str, str], extra_files: List[EnvFile]
) -> Dict[str, str]:
    """os.environ, then AETHERFLOW_ENV_FILES_JSON files, then --env-file files."""
    snapshot = {str(k): str(v) for k, v in environ.items()}
    specs: List[EnvFile] = []
    raw = snapshot.get("AETHERFLOW_ENV_FILES_JSON")
    if raw:
        specs.extend(env_files_from_json(raw))
    specs.extend(extra_files)
    snapshot.update(load_env_files(specs))
    return snapshot
