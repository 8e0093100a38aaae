"""What one `aetherflow compile` is asked to do: the target and the options object.

The options decide parts of the cache keys of what a compile stores (an analysis, a
script); `CompileOptions.key_parts` says which, so that no phase spells them itself.
"""

from __future__ import annotations

import enum
import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

from aetherflow_compiler.project.sources import Selection
from aetherflow_compiler.schedule.deploy import DeployOptions

if TYPE_CHECKING:
    from aetherflow_compiler.ir.nodes import EnvFile
    from aetherflow_compiler.project.bundles.project import BundleProject
    from aetherflow_compiler.vendoring.target import Target


class CompileTarget(str, enum.Enum):
    """`--target`: the artifacts a compile writes for each flow."""

    PYTHON = "python"
    SH = "sh"
    ALL = "all"  # both; a flow the sh target cannot take gets its Python artifact only (AF806)

    @property
    def python(self) -> bool:
        """A Python artifact is written for each flow."""
        return self is not CompileTarget.SH

    @property
    def sh(self) -> bool:
        """An sh artifact is written for each flow that allows one."""
        return self is not CompileTarget.PYTHON


class Progress(Protocol):
    def start(self, total: int) -> None:
        """`total` files are about to be analysed (those the cache does not answer)."""

    def advance(self, done: int) -> None:
        """`done` more of them are."""


@dataclass(frozen=True)
class CompileOptions:
    output: str
    profiles: str | None = None
    single_file: bool = False
    target: CompileTarget = CompileTarget.PYTHON
    schedule: str | None = (
        None  # a scheduler file: DIR/schedule/ gets crontab, systemd and Kubernetes files
    )
    deploy: DeployOptions = field(default_factory=DeployOptions)
    bundle: BundleProject | None = (
        None  # --bundle-manifest: recorded in manifest.json, env files loaded at run time
    )
    wheelhouse: str | None = None  # --wheelhouse: host packages vendored from the wheels there
    vendor_target: Target | None = (
        None  # --python-version, --platform (None: the compiling interpreter)
    )
    # --bytecode: interpreters to ship runtime bytecode for (None: the compiling one; (): none)
    bytecode: tuple[str, ...] | None = None
    # --include, --exclude, --skip-other-files: which YAML files found are AetherFlow files
    selection: Selection = field(default_factory=Selection)
    # The command line's progress bar over the files to analyse; not part of any cache key.
    progress: Progress | None = field(default=None, compare=False)

    @property
    def from_bundle(self) -> bool:
        return self.bundle is not None

    @property
    def env_files(self) -> tuple[EnvFile, ...]:
        """The bundle manifest's env files, which the Python artifact loads at run time."""
        return self.bundle.env_files if self.bundle is not None else ()

    @property
    def generates_ahead(self) -> bool:
        """Python scripts are generated in the analysis pass (the runtime's hash put in
        afterwards): without --single-file and --wheelhouse a script depends on the
        runtime only by its hash."""
        return self.target.python and not self.single_file and self.wheelhouse is None

    def key_parts(self, kind: str) -> tuple[str, ...]:
        """The options that decide a cached result of `kind`: "analysis" (one file's
        diagnostics and summary), "script" (a Python script), "script-ahead" (one
        generated in the analysis pass), "sh" (a shell script)."""
        if kind == "analysis":
            return str(self.single_file), self.target.value
        if kind == "script":
            return str(self.single_file), self._env_key()
        if kind == "script-ahead":
            return (self._env_key(),)
        if kind == "sh":
            return str(self.from_bundle), str(self.single_file)
        raise ValueError(f"no cache key for {kind!r}")

    def _env_key(self) -> str:
        return json.dumps(
            [list(vars(f).values()) for f in self.env_files]
            + ([["bundle"]] if self.from_bundle else [])
        )
