"""zip and unzip with an archive connector (a declared resource, `archive_default`, or the
standard library's zipfile; encrypted archives need pyzipper on the host, or, as with the
engine, the zip and unzip programs when pyzipper is missing)."""

from __future__ import annotations

import fnmatch
import os

from .. import TYPE_CHECKING
from ..connectors import ConnectorInit
from ..connectors.archive import OsZipArchive, PyzipperArchive, ZipfileArchive
from ..errors import StepError
from ..results import SKIPPED, StepResult, to_bool
from . import need_inputs

if TYPE_CHECKING:  # names for annotations only: importing typing slows every start
    from typing import Any, Dict, List

    from ..runner import StepContext


def _archive(ctx: StepContext, inputs: Dict[str, Any], password: Any) -> Any:
    name = inputs.get("resource") or inputs.get("connector")
    if not name and "archive_default" in ctx.connectors:
        name = "archive_default"
    if name:
        return ctx.connectors.archive(str(name))
    if not password:
        return ZipfileArchive(
            ConnectorInit("_adhoc", "archive", "zipfile", {}, {}, ctx)
        )
    return _adhoc_encrypted(ctx)


def _adhoc_encrypted(ctx: StepContext) -> Any:
    """pyzipper (AES) if the host has it, else the zip and unzip programs (ZipCrypto),
    as the engine chooses; with neither, pyzipper fails naming its package."""
    import importlib
    import shutil

    try:
        importlib.import_module("pyzipper")
    except ImportError:
        if shutil.which("zip") and shutil.which("unzip"):
            return OsZipArchive(ConnectorInit("_adhoc", "archive", "os", {}, {}, ctx))
    return PyzipperArchive(ConnectorInit("_adhoc", "archive", "pyzipper", {}, {}, ctx))


def _glob(pattern_path: str) -> List[str]:
    parent, name = os.path.split(pattern_path)
    if not os.path.isdir(parent):
        return []
    return [
        os.path.join(parent, n)
        for n in sorted(os.listdir(parent))
        if fnmatch.fnmatchcase(n, name)
    ]


def _add(path: str, recursive: bool, out: List[str]) -> None:
    if os.path.isdir(path):
        if recursive:
            for root, dirs, names in os.walk(path):
                dirs.sort()
                out.extend(os.path.join(root, n) for n in sorted(names))
    elif os.path.isfile(path):
        out.append(path)


def run_zip(ctx: StepContext, inputs: Dict[str, Any]) -> Any:
    need_inputs("zip", inputs, ("dest_path", "items"))
    items = inputs["items"]
    if not isinstance(items, list):
        raise StepError("zip inputs.items must be a list")
    output = ctx.resolve_path(str(inputs["dest_path"]))
    base = (
        ctx.resolve_path(str(inputs["src_dir"]))
        if inputs.get("src_dir")
        else ctx.artifacts_dir()
    )
    base = os.path.realpath(base)
    recursive = to_bool(inputs.get("recursive", True), "recursive")
    files: List[str] = []
    for item in items:
        if isinstance(item, dict):
            if "path" in item:
                _add(ctx.resolve_path(str(item["path"])), recursive, files)
            elif "glob" in item:
                for match in _glob(ctx.resolve_path(str(item["glob"]))):
                    _add(match, recursive, files)
            else:
                raise StepError(
                    "zip inputs.items entries that are mappings need 'path' or 'glob'"
                )
        elif any(ch in str(item) for ch in "*?["):
            for match in _glob(ctx.resolve_path(str(item))):
                _add(match, recursive, files)
        else:
            _add(ctx.resolve_path(str(item)), recursive, files)
    files = sorted(set(os.path.realpath(f) for f in files))
    if not files:
        return StepResult(SKIPPED, {"output": output, "count": 0}, reason="no_files")
    password = inputs.get("password")
    result = _archive(ctx, inputs, password).create_zip(
        output=output,
        files=files,
        base_dir=base,
        password=str(password) if password else None,
        compression=str(inputs.get("compression") or "deflated"),
        overwrite=to_bool(inputs.get("overwrite", True), "overwrite"),
    )
    result["src_dir"] = base
    return result


def run_unzip(ctx: StepContext, inputs: Dict[str, Any]) -> Dict[str, Any]:
    need_inputs("unzip", inputs, ("archives", "dest_dir"))
    archives = inputs["archives"]
    if archives is None:
        return {}
    if isinstance(archives, str):
        archives = [archives]
    if not isinstance(archives, list):
        raise StepError("unzip inputs.archives must be a path or a list of paths")
    members = inputs.get("members")
    if members is not None and not isinstance(members, list):
        raise StepError("unzip inputs.members must be a list when given")
    source = os.path.realpath(
        ctx.resolve_path(str(inputs["src_dir"]))
        if inputs.get("src_dir")
        else ctx.artifacts_dir()
    )
    dest = ctx.resolve_path(str(inputs["dest_dir"]))
    os.makedirs(dest, exist_ok=True)
    private = to_bool(inputs.get("private_zip_folder", False), "private_zip_folder")
    password = inputs.get("password")
    connector = _archive(ctx, inputs, password)
    extracted = []
    for archive in archives:
        path = ctx.resolve_path(str(archive))
        if not os.path.isfile(path):
            continue  # a missing archive is skipped, as with the engine
        rel = os.path.relpath(os.path.realpath(path), source)
        if rel.startswith(os.pardir):
            out_dir = os.path.join(dest, os.path.basename(path))
        elif private:
            out_dir = os.path.join(dest, os.path.splitext(rel)[0])
        elif os.path.dirname(rel):
            out_dir = os.path.join(dest, os.path.dirname(rel))
        else:
            out_dir = dest  # no trailing separator, as the engine's paths
        os.makedirs(
            out_dir, exist_ok=True
        )  # before the driver runs, as with the engine
        extracted.append(
            connector.extract_zip(
                archive=path,
                dest_dir=out_dir,
                password=str(password) if password else None,
                overwrite=to_bool(inputs.get("overwrite", True), "overwrite"),
                members=[str(m) for m in members] if members else None,
            )
        )
    return {"unzipped": extracted, "dest_dir": dest}
