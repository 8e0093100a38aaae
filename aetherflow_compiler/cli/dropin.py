"""The engine's command line as a drop-in: `aetherflow run --flow-yaml F` compiles and runs.

Cron lines and CI scripts written for the engine call `aetherflow run --flow-yaml F
[--run-id ID] [--flow-job J] [--bundle-manifest M]`. Here that compiles the flow through
the compile cache into a dist of its own under the cache directory, then runs the artifact
in place of this process (its exit code is the command's). Inputs are found as the engine
finds them: profiles in $AETHERFLOW_PROFILES_FILE, plugins in $AETHERFLOW_PLUGIN_PATHS, the
mode in $AETHERFLOW_MODE, or all of them in the bundle manifest.

A dist is named by the digest of everything that decides it (the compiler itself, the
command line's inputs and every input file's content), so it is written once and never
replaced under a running flow. `fast_run` finds an existing one without importing the
compiler: the second run of an unchanged flow costs a few file reads before the artifact
starts.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
from collections.abc import Iterator, Mapping

RUN_CACHE = "run"


def run_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="aetherflow run",
        description=(
            "Compile FLOW (through the compile cache) and run it: the engine's `aetherflow run`."
        ),
    )
    parser.add_argument("flow", nargs="?", help="the flow file (or --flow-yaml)")
    parser.add_argument(
        "--flow-yaml", dest="flow_yaml", help="the flow file (the engine's spelling)"
    )
    parser.add_argument("--run-id", dest="run_id", help="run id; an earlier run's id resumes it")
    parser.add_argument(
        "--flow-job",
        dest="flow_job",
        action="append",
        default=[],
        help="run only this job (repeatable)",
    )
    parser.add_argument(
        "--bundle-manifest",
        dest="bundle_manifest",
        help="the engine's bundle manifest: its entry_flow runs, with its profiles and plugins",
    )
    parser.add_argument(
        "--allow-stale-bundle",
        action="store_true",
        help="accepted for the engine's command lines; a bundle is read when compiling",
    )
    return parser


def artifact_argv(script: str, args: argparse.Namespace) -> list[str]:
    """The artifact's command line for the engine's options."""
    argv = [sys.executable, script, "run"]
    if args.run_id:
        argv += ["--run-id", args.run_id]
    for job in args.flow_job:
        argv += ["--job", job]
    return argv


def _files_below(root: str) -> Iterator[str]:
    for base, dirs, names in os.walk(root):
        dirs[:] = sorted(d for d in dirs if d != "__pycache__")
        for name in sorted(names):
            yield os.path.join(base, name)


def input_files(args: argparse.Namespace, environ: Mapping[str, str]) -> list[str] | None:
    """Every file that decides the compile, or None when that cannot be known without
    the compiler (a bundle on a remote source is fetched each time, as the engine syncs)."""
    if args.bundle_manifest:
        try:
            import yaml  # noqa: F401  (a manifest is YAML; the fast path reads only its source)
        except ImportError:  # pragma: no cover - a dependency of the compiler
            return None
        from aetherflow_compiler.frontend.loader import load_file

        doc, problems = load_file(args.bundle_manifest)
        data = doc.data if doc is not None and not problems else None
        source = (data.get("bundle") or {}).get("source") if isinstance(data, dict) else None
        if not isinstance(source, dict) or (source.get("type") or "filesystem") != "filesystem":
            return None
        base = os.path.join(
            os.path.dirname(os.path.abspath(args.bundle_manifest)),
            str(source.get("base_path") or "."),
        )
        return [args.bundle_manifest, *_files_below(base)]
    flow = args.flow_yaml or args.flow
    if not flow:
        return None
    files = [flow]
    if environ.get("AETHERFLOW_PROFILES_FILE"):
        files.append(environ["AETHERFLOW_PROFILES_FILE"])
    for directory in (
        p for p in environ.get("AETHERFLOW_PLUGIN_PATHS", "").split(",") if p.strip()
    ):
        files.extend(_files_below(directory))
    return files


def run_digest(
    args: argparse.Namespace, environ: Mapping[str, str], files: list[str]
) -> str | None:
    """The digest naming a run dist; None when an input cannot be read (the full command
    then reports it, located)."""
    from aetherflow_compiler.cache import compiler_fingerprint

    digest = hashlib.sha256(compiler_fingerprint().encode())
    settings = {
        "flow": args.flow_yaml or args.flow,
        "bundle": args.bundle_manifest,
        "mode": environ.get("AETHERFLOW_MODE", ""),
        "strict": environ.get("AETHERFLOW_PLUGIN_STRICT", ""),
    }
    digest.update(json.dumps(settings, sort_keys=True).encode())
    for path in files:
        try:
            with open(path, "rb") as fh:
                data = fh.read()
        except OSError:
            return None
        digest.update(
            b"\0" + os.path.abspath(path).encode() + b"\0" + hashlib.sha256(data).digest()
        )
    return digest.hexdigest()


def run_dir(digest: str) -> str:
    from aetherflow_compiler.cache import cache_dir

    return os.path.join(cache_dir(), RUN_CACHE, digest)


def recorded_script(directory: str) -> str | None:
    """The flow script a run dist was written for (its `run.json`), if it is complete."""
    try:
        with open(os.path.join(directory, "run.json"), encoding="utf-8") as fh:
            script = os.path.join(directory, "dist", str(json.load(fh)["script"]))
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return script if os.path.isfile(script) else None


def fast_run(argv: list[str]) -> None:
    """Run an already compiled dist for these inputs, in place of this process; return
    when there is none (the full command compiles it)."""
    try:
        args = run_parser().parse_args(argv)
    except SystemExit:
        return  # the full command reports the usage error
    files = input_files(args, os.environ)
    digest = run_digest(args, os.environ, files) if files is not None else None
    script = recorded_script(run_dir(digest)) if digest is not None else None
    if script is not None:
        os.execv(sys.executable, artifact_argv(script, args))
