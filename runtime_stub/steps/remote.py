"""sftp_* and smb_* steps: list, download, upload and delete remote files through a
connector with list/download/upload/delete (sftp:paramiko, smb:smbclient, smb:pysmb, or
a plugin's connector of the same kind), as the engine's steps do.

Listed files are mappings {rel_path, path, name, is_dir, size, mtime}; the download and
delete steps take such a list (for example `{{steps.list.files}}`).
"""

from __future__ import annotations

import fnmatch
import json
import os
import posixpath

from .. import TYPE_CHECKING
from ..errors import StepError
from ..results import SKIPPED, StepResult, to_bool, to_int
from . import need_inputs

if TYPE_CHECKING:  # names for annotations only: importing typing slows every start
    from typing import Any, Callable, Dict, List

    from ..runner import StepContext


def _field(item: Any, key: str) -> Any:
    return item.get(key) if isinstance(item, dict) else getattr(item, key, None)


def _listing(
    step: str,
    ctx: StepContext,
    inputs: Dict[str, Any],
    join: Callable[[str, str], str],
    rel_of: Callable[[Dict[str, Any], str], str],
) -> Any:
    connector = ctx.connectors[str(inputs["resource"])]
    pattern = str(inputs.get("pattern", "*"))
    recursive = to_bool(inputs.get("recursive", False), "recursive")
    base = str(inputs["remote_dir"]).rstrip("/\\") or "/"
    found: List[Dict[str, Any]] = []

    def walk(current: str) -> None:
        try:
            entries = connector.list(current)
        except Exception as exc:
            raise StepError("%s: cannot list %s: %s" % (step, current, exc)) from None
        for entry in entries or []:
            entry = dict(entry) if isinstance(entry, dict) else dict(vars(entry))
            name = entry.get("name")
            if not name or name in (".", ".."):
                continue
            child = join(current, str(name))
            if entry.get("is_dir") and recursive:
                if child and child != current:  # never walk into the same directory
                    walk(child)
                continue
            if not fnmatch.fnmatch(str(name), pattern):
                continue
            entry["rel_path"] = rel_of(entry, child)
            found.append(entry)

    walk(base)
    found.sort(key=lambda e: str(e.get("rel_path")))
    count = len(found)
    min_count = to_int(inputs.get("min_count", 1), "min_count")
    if count < min_count:
        return StepResult(
            SKIPPED,
            {"has_data": False, "count": count, "files": []},
            reason="count(%d) < min_count(%d)" % (count, min_count),
        )
    return {"has_data": True, "count": count, "files": found}


def _safe_dest(base: str, rel: str) -> str:
    base = os.path.realpath(base)
    candidate = os.path.realpath(os.path.join(base, str(rel).lstrip("/\\")))
    if candidate != base and not candidate.startswith(base + os.sep):
        raise StepError("dest path escapes dest_dir: %s" % rel)
    return candidate


def _download(step: str, ctx: StepContext, inputs: Dict[str, Any]) -> Dict[str, Any]:
    need_inputs(step, inputs, ["resource", "files", "dest_dir"])
    connector = ctx.connectors[str(inputs["resource"])]
    # As the engine: dest_dir is joined to the job's artifacts dir (no sandbox check).
    dest_dir = os.path.realpath(
        os.path.join(ctx.artifacts_dir(), str(inputs["dest_dir"]))
    )
    os.makedirs(dest_dir, exist_ok=True)
    local_files = []
    for item in inputs.get("files") or []:
        rel = _field(item, "rel_path") or _field(item, "name") or ""
        target = _safe_dest(dest_dir, str(rel))
        os.makedirs(os.path.dirname(target), exist_ok=True)
        connector.download(str(_field(item, "path")), target)
        local_files.append(target)
    return {"local_files": local_files, "dest_dir": dest_dir}


def _delete(step: str, ctx: StepContext, inputs: Dict[str, Any]) -> Dict[str, Any]:
    need_inputs(step, inputs, ["resource", "files"])
    connector = ctx.connectors[str(inputs["resource"])]
    for item in inputs.get("files") or []:
        connector.delete(str(_field(item, "path")))
    return {"is_deleted": True}


# --- SFTP --------------------------------------------------------------------------------


def run_sftp_list_files(ctx: StepContext, inputs: Dict[str, Any]) -> Any:
    need_inputs("sftp_list_files", inputs, ["resource", "remote_dir"])
    base = str(inputs["remote_dir"]).rstrip("/") or "/"

    def rel_of(entry: Dict[str, Any], child: str) -> str:
        path = str(entry.get("path") or child)
        if base != "/" and path.startswith(base + "/"):
            return path[len(base) + 1 :]
        return path[1:] if base == "/" and path.startswith("/") else path

    return _listing("sftp_list_files", ctx, inputs, posixpath.join, rel_of)


def run_sftp_download_files(ctx: StepContext, inputs: Dict[str, Any]) -> Dict[str, Any]:
    return _download("sftp_download_files", ctx, inputs)


def run_sftp_delete_files(ctx: StepContext, inputs: Dict[str, Any]) -> Dict[str, Any]:
    return _delete("sftp_delete_files", ctx, inputs)


def run_sftp_upload_files(ctx: StepContext, inputs: Dict[str, Any]) -> Dict[str, Any]:
    """Uploads one file after the other over the run's SSH session (the engine's
    `parallelism` is accepted; a manifest of done items lets a resumed run skip them).
    """
    need_inputs("sftp_upload_files", inputs, ["resource", "items", "remote_dir"])
    connector = ctx.connectors[str(inputs["resource"])]
    remote_dir = str(inputs["remote_dir"]).rstrip("/")
    manifests = ctx.run.workspace.manifests_dir(ctx.job_id)
    os.makedirs(manifests, exist_ok=True)
    manifest = os.path.join(manifests, "%s.manifest.json" % ctx.step_id)
    done = set()
    if os.path.exists(manifest):
        try:
            with open(manifest, encoding="utf-8") as fh:
                done = {entry["id"] for entry in json.load(fh)}
        except (ValueError, KeyError, TypeError):
            done = set()
    results = []
    for item in inputs["items"] or []:
        if isinstance(item, dict):
            local = str(item["file"])
            item_id = str(item.get("id") or os.path.basename(local))
            remote_name = str(item.get("remote_name") or os.path.basename(local))
        else:
            local = str(item)
            item_id = remote_name = os.path.basename(local)
        if item_id in done:
            results.append({"id": item_id, "skipped": True})
            continue
        remote_path = "%s/%s" % (remote_dir, remote_name)
        connector.upload(local, remote_path)
        results.append({"id": item_id, "file": local, "remote_path": remote_path})
    tmp = manifest + ".tmp"
    with open(tmp, "w", encoding="utf-8") as fh:
        json.dump(results, fh, ensure_ascii=False, indent=2)
    os.replace(tmp, manifest)
    return {"manifest": manifest, "count": len(results)}


# --- SMB ---------------------------------------------------------------------------------


def _smb_join(parent: str, name: str) -> str:
    """Join keeping the engine's "SHARE:/dir" form."""
    parent = str(parent).rstrip("/\\")
    if not parent:
        return name
    if ":/" in parent:
        share, rest = parent.split(":/", 1)
        rest = rest.strip("/\\")
        return "%s:/%s" % (share, posixpath.join(rest, name) if rest else name)
    return posixpath.join(parent.replace("\\", "/"), name)


def run_smb_list_files(ctx: StepContext, inputs: Dict[str, Any]) -> Any:
    need_inputs("smb_list_files", inputs, ["resource", "remote_dir"])
    base = str(inputs["remote_dir"]).rstrip("/\\") or "/"

    def rel_of(entry: Dict[str, Any], child: str) -> str:
        joined = _smb_join(base, "")
        return child[len(joined) :].lstrip("/") if child.startswith(joined) else child

    return _listing("smb_list_files", ctx, inputs, _smb_join, rel_of)


def run_smb_download_files(ctx: StepContext, inputs: Dict[str, Any]) -> Dict[str, Any]:
    return _download("smb_download_files", ctx, inputs)


def run_smb_delete_files(ctx: StepContext, inputs: Dict[str, Any]) -> Dict[str, Any]:
    return _delete("smb_delete_files", ctx, inputs)


def run_smb_upload_files(ctx: StepContext, inputs: Dict[str, Any]) -> Dict[str, Any]:
    need_inputs("smb_upload_files", inputs, ["resource", "local_files", "remote_dir"])
    connector = ctx.connectors[str(inputs["resource"])]
    remote_dir = str(inputs["remote_dir"])
    uploaded = []
    for local in inputs.get("local_files") or []:
        path = str(local)
        if not os.path.isabs(path):
            path = os.path.realpath(os.path.join(ctx.artifacts_dir(), path))
        connector.upload(path, "%s/%s" % (remote_dir, os.path.basename(path)))
        uploaded.append(path)
    return {"uploaded": uploaded, "remote_dir": remote_dir}
