"""Bundle manifests found in the folders `validate` walks: each brings its own profiles,
plugins and flows into the check, as `--bundle-manifest` does (docs/validate.md)."""

from __future__ import annotations

import os
from collections.abc import Mapping

import click

from aetherflow_compiler.diagnostics import one_line
from aetherflow_compiler.frontend.validate import BundleCheck, FileResult, Report, validate_paths
from aetherflow_compiler.project.plugins import toolchain
from aetherflow_compiler.project.sources import Selection


def _shown(path: str) -> str:
    """A bundle's file as diagnostics show it: relative to the working directory."""
    rel = os.path.relpath(path)
    return rel if len(rel) < len(path) else path


class TreeBundles:
    """The BundleChecker of `validate`: opens the bundle of a manifest found in a folder
    and checks its profiles and flows with its plugins, in its mode."""

    def __init__(self, environ: Mapping[str, str], selection: Selection) -> None:
        self.environ = environ
        self.selection = selection

    def __call__(self, manifest: FileResult) -> BundleCheck | None:
        from aetherflow_compiler.project.bundles.project import open_bundle

        assert manifest.document is not None
        project, problems = open_bundle(manifest.document, self.environ)
        manifest.diagnostics.extend(problems)
        if project is None:
            return None
        flows = [_shown(path) for path in project.flow_paths]
        claimed = project.claimed_files()[1]
        try:
            registry, plugins = toolchain(
                list(project.plugin_dirs),
                self.environ,
                project.manifest.mode,
                project.manifest.zip_drivers,
            )
        except ValueError as exc:  # AETHERFLOW_PLUGIN_IMPORT_TIMEOUT
            raise click.UsageError(one_line(str(exc))) from None
        for where, text in plugins.output:
            click.echo(
                f"aetherflow: {one_line(where or 'plugins')} printed while being imported:",
                err=True,
            )
            click.echo("".join(f"  {line}\n" for line in text.splitlines()), err=True, nl=False)
        if not plugins.ok:  # its flows are not checked without their plugins
            return BundleCheck(Report(general=[*plugins.diagnostics, *plugins.warnings]), claimed)
        report = validate_paths(
            flows,
            profiles_path=_shown(project.profiles),
            registry=registry,
            selection=self.selection,
        )
        report.general[:0] = plugins.warnings
        return BundleCheck(report, claimed)
