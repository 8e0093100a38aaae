"""The last phase of a compile: every file of the dist in memory, and its manifest.json
(what was compiled from what, the runtime, each flow's artifacts, and every file's hash)."""

from __future__ import annotations

import hashlib
import json
import os
from typing import TYPE_CHECKING, Any

from aetherflow_compiler import __version__
from aetherflow_compiler.cache import CompileCache, key
from aetherflow_compiler.codegen.runtime.bundle import RuntimeBundle
from aetherflow_compiler.driver.analysis import Analysis
from aetherflow_compiler.driver.options import CompileOptions
from aetherflow_compiler.driver.output import json_text
from aetherflow_compiler.frontend.validate import FileResult
from aetherflow_compiler.package_data import DIST_RUNTIME
from aetherflow_compiler.project.sources import MANIFEST
from aetherflow_compiler.schedule.deploy import DeployOptions

if TYPE_CHECKING:
    from aetherflow_compiler.schedule.build import Scheduled
    from aetherflow_compiler.schedule.model import Schedule
    from aetherflow_compiler.vendoring.dist import VendoredDist

STATE_DRIVER = "psycopg[binary]"  # what --shared-state hosts need for AETHERFLOW_STATE_URL


def schedule_files(
    schedule: Schedule,
    scheduled: list[Scheduled],
    artifacts: dict[str, bytes],
    options: DeployOptions,
) -> dict[str, bytes]:
    """schedule.build.schedule_files (for assemble), imported when a compile has a scheduler file."""
    from aetherflow_compiler.schedule.build import schedule_files as build_schedule_files

    return build_schedule_files(schedule, scheduled, artifacts, options)


def assemble(
    flows: list[Analysis],
    scripts: dict[str, str],
    shell_scripts: dict[str, str],
    bundle: RuntimeBundle,
    options: CompileOptions,
    profiles_result: FileResult | None,
    names: dict[str, str],
    extra: dict[str, bytes],
    scheduling: tuple[Schedule, list[Scheduled]] | None,
    vendored: VendoredDist | None = None,
    pycs: dict[str, dict[str, bytes]] | None = None,
    store: CompileCache | None = None,
) -> dict[str, bytes]:
    files: dict[str, bytes] = dict(extra)
    for tagged in (pycs or {}).values():
        files.update(tagged)
    if vendored is not None:
        files.update(vendored.files)
    for analysis in flows:
        if analysis.path in scripts:
            files[f"{analysis.flow_id}.py"] = scripts[analysis.path].encode("utf-8")
        if analysis.path in shell_scripts:
            # A file name that is not UTF-8 (in the header comment) keeps its bytes: sh reads bytes
            files[f"{analysis.flow_id}.sh"] = shell_scripts[analysis.path].encode(
                "utf-8", "surrogateescape"
            )
    if scripts and not options.single_file:
        for name, text in bundle.files.items():
            files[f"{DIST_RUNTIME}/{name}"] = text.encode("utf-8")
    if shell_scripts and not options.single_file:
        from aetherflow_compiler.codegen import sh

        files.update(sh.dist_files())
    sources = {a.source_name: a.summary["source_sha256"] for a in flows}
    if profiles_result is not None and profiles_result.document is not None:
        sources[names.get(profiles_result.path, os.path.basename(profiles_result.path))] = (
            profiles_result.document.sha256
        )
    schedule_entry: dict[str, Any] = {}
    if scheduling is not None:
        schedule, scheduled = scheduling
        # The ConfigMap carries the artifacts written so far: scripts, runtime, plugins.
        files.update(schedule_files(schedule, scheduled, dict(files), options.deploy))
        sources[schedule.source] = schedule.sha256
        schedule_entry = {
            "schedule": {
                s.item.id: {
                    "cron": s.item.cron.text,
                    "timezone": schedule.timezone,
                    "flow": s.flow.id,
                    "job": s.item.flow_job,
                    "unit": f"aetherflow-{s.item.slug}",
                }
                for s in scheduled
            }
        }
    manifest = {
        "compiler": {"name": "aetherflow-compiler", "version": __version__},
        "target": options.target.value,
        "single_file": options.single_file,
        **(
            {
                "runtime": {
                    "version": bundle.version,
                    "sha256": bundle.sha256,
                    "modules": bundle.modules,
                    **({"bytecode": sorted(pycs)} if pycs else {}),
                }
            }
            if scripts
            else {}
        ),
        "sources": dict(sorted(sources.items())),
        "flows": {
            str(a.flow_id): _flow_manifest(
                a,
                scripts,
                shell_scripts,
                options,
                vendored.folders.get(a.path, ()) if vendored else (),
            )
            for a in sorted(flows, key=lambda a: str(a.flow_id))
        },
        **({"plugins": sorted(extra)} if extra else {}),
        **(
            {"vendored": vendored.entries, "vendor_target": vendored.target.as_json()}
            if vendored is not None and vendored.entries
            else {}
        ),
        **({"bundle": options.bundle.manifest_entry()} if options.bundle is not None else {}),
        **schedule_entry,
        "artifacts": {
            path: hashlib.sha256(data).hexdigest() for path, data in sorted(files.items())
        },
    }
    files[MANIFEST] = _manifest_text(manifest, store).encode("utf-8")
    return dict(sorted(files.items()))


def _manifest_text(manifest: dict[str, Any], store: CompileCache | None) -> str:
    """manifest.json's text. json writes indented JSON with its pure-Python encoder (about
    30 ms for 1000 flows), so the text is kept in the cache under the compact encoding,
    which the C encoder makes in a few."""
    digest = key(
        "manifest", json.dumps(manifest, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    )
    text = store.get_text("manifest", digest) if store is not None else None
    if text is None:
        text = json_text(manifest) + "\n"
        if store is not None:
            store.put_text("manifest", digest, text)
    return text


def _flow_manifest(
    analysis: Analysis,
    scripts: dict[str, str],
    shell_scripts: dict[str, str],
    options: CompileOptions,
    folders: tuple[str, ...] = (),
) -> dict[str, Any]:
    entry = dict(analysis.summary["manifest"])
    if options.deploy.shared_state and analysis.path in scripts:
        entry["packages"] = sorted({*entry["packages"], STATE_DRIVER})
    if folders:
        entry["vendored"] = list(folders)
    if analysis.path not in scripts:
        del entry["artifact"]
    if options.target.sh:
        entry["sh_artifact"] = f"{analysis.flow_id}.sh" if analysis.path in shell_scripts else None
    return entry
