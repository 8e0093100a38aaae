"""The wheels of a wheelhouse directory, and the ones a flow's host packages need.

A wheelhouse is what `pip download --only-binary=:all:` writes: a consistent set, one
version of each distribution for one target. The resolver is therefore greedy: for each
requirement it takes the newest wheel whose version satisfies it and whose tags fit the
target, then follows that wheel's own `Requires-Dist` (markers evaluated for the target,
extras included). A requirement that an earlier choice does not satisfy is an error, not
a search: the wheelhouse was not made for these flows.
"""

from __future__ import annotations

import hashlib
import os
import zipfile
from dataclasses import dataclass
from functools import cached_property

from packaging.metadata import Metadata
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.tags import Tag
from packaging.utils import (
    InvalidWheelFilename,
    NormalizedName,
    canonicalize_name,
    parse_wheel_filename,
)
from packaging.version import Version

from aetherflow_compiler.vendoring.target import Target


@dataclass(frozen=True)
class WheelInfo:
    """What resolution reads from a wheel's METADATA, checked once."""

    name: str
    requires_python: SpecifierSet | None
    requires_dist: tuple[Requirement, ...]


@dataclass(frozen=True)
class Wheel:
    path: str
    name: NormalizedName
    version: Version
    tags: frozenset[Tag]

    @property
    def filename(self) -> str:
        return os.path.basename(self.path)

    @cached_property
    def sha256(self) -> str:
        with open(self.path, "rb") as fh:
            return hashlib.sha256(fh.read()).hexdigest()

    @cached_property
    def metadata(self) -> WheelInfo:
        try:
            with zipfile.ZipFile(self.path) as archive:
                name = next(
                    (
                        n
                        for n in archive.namelist()
                        if n.count("/") == 1 and n.endswith(".dist-info/METADATA")
                    ),
                    None,
                )
                if name is None:
                    raise ResolveError(
                        self.name, f"wheel {self.filename} has no .dist-info/METADATA"
                    )
                text = archive.read(name).decode("utf-8")
            # Fields are checked when read: read the ones resolution needs here, once.
            metadata = Metadata.from_email(text, validate=False)
            return WheelInfo(
                str(metadata.name), metadata.requires_python, tuple(metadata.requires_dist or ())
            )
        except ResolveError:
            raise
        except (
            Exception
        ) as exc:  # a bad zip, bad UTF-8, or packaging's InvalidMetadata (an ExceptionGroup)
            raise ResolveError(self.name, f"wheel {self.filename} cannot be read: {exc}") from None


@dataclass(frozen=True)
class Need:
    """A host package a flow needs, and what in the flow needs it (for messages)."""

    requirement: str
    why: str  # "step 'load' (excel_write)", "resource 'db' (db:sqlalchemy)"
    line: int = 1
    column: int = 1


@dataclass(frozen=True)
class Chosen:
    wheel: Wheel
    needed_by: (
        str  # the requirement that brought it in, "sqlalchemy" or "greenlet>=1 (for sqlalchemy)"
    )
    root: Need | None = None  # the flow's own need it came from

    @property
    def name(self) -> str:
        return str(self.wheel.metadata.name)

    @property
    def dirname(self) -> str:
        """Its folder below aetherflow_vendor/: one per distribution and version."""
        return f"{self.wheel.name}-{self.wheel.version}"


class ResolveError(Exception):
    def __init__(self, package: str, message: str, need: Need | None = None) -> None:
        super().__init__(message)
        self.package = package
        self.need = need  # the flow's own need it came from, when known


class Wheelhouse:
    def __init__(self, directory: str) -> None:
        self.directory = directory
        self.wheels: dict[NormalizedName, list[Wheel]] = {}
        self.ignored: list[str] = []
        for entry in sorted(os.listdir(directory)):
            if not entry.endswith(".whl"):
                continue
            try:
                name, version, _build, wheel_tags = parse_wheel_filename(entry)
            except InvalidWheelFilename:
                self.ignored.append(entry)
                continue
            self.wheels.setdefault(name, []).append(
                Wheel(os.path.join(directory, entry), name, version, frozenset(wheel_tags))
            )

    def resolve(self, needs: list[Need], target: Target) -> list[Chosen]:
        """The distributions `needs` and their dependencies take, in name order. Raises
        ResolveError naming the first package the wheelhouse cannot provide."""
        priority = {tag: index for index, tag in enumerate(target.tags())}
        markers = target.markers()
        chosen: dict[NormalizedName, Chosen] = {}
        extras_done: dict[NormalizedName, set[str]] = {}
        todo: list[tuple[Requirement, str, Need]] = []
        for need in needs:
            todo.append((Requirement(need.requirement), need.requirement, need))
        python = target.markers()["python_full_version"]
        while todo:
            requirement, why, root = todo.pop(0)
            name = canonicalize_name(requirement.name)
            if name in chosen:
                if not requirement.specifier.contains(chosen[name].wheel.version, prereleases=True):
                    raise ResolveError(
                        requirement.name,
                        f"{why} needs {requirement}, but the wheelhouse's {chosen[name].wheel.filename}"
                        f" was taken for {chosen[name].needed_by}",
                        root,
                    )
            else:
                chosen[name] = Chosen(
                    self._best(requirement, why, priority, target, python, root), why, root
                )
                extras_done[name] = set()
            wanted = {""} | {canonicalize_name(e) for e in requirement.extras}
            for extra in sorted(wanted - extras_done[name]):
                extras_done[name].add(extra)
                for dependency in chosen[name].wheel.metadata.requires_dist or ():
                    if dependency.marker is not None and not dependency.marker.evaluate(
                        {**markers, "extra": extra}
                    ):
                        continue
                    todo.append((dependency, f"{dependency} (for {chosen[name].name})", root))
        return [chosen[name] for name in sorted(chosen)]

    def _best(
        self,
        requirement: Requirement,
        why: str,
        priority: dict[Tag, int],
        target: Target,
        python: str,
        root: Need,
    ) -> Wheel:
        name = canonicalize_name(requirement.name)
        every = self.wheels.get(name, [])
        # Final releases first; pre-releases only when nothing else fits (as pip does).
        allowed = [w for w in every if requirement.specifier.contains(w.version, prereleases=True)]
        candidates = [w for w in allowed if not w.version.is_prerelease] or allowed
        fitting = [w for w in candidates if w.tags & priority.keys()]
        fitting = [
            w
            for w in fitting
            if w.metadata.requires_python is None
            or w.metadata.requires_python.contains(python, prereleases=True)
        ]
        if fitting:
            return max(
                fitting,
                key=lambda w: (w.version, -min(priority[t] for t in w.tags & priority.keys())),
            )
        if candidates:
            files = ", ".join(w.filename for w in candidates)
            raise ResolveError(
                requirement.name,
                f"{why}: the wheelhouse has {requirement.name} only for other "
                f"targets ({files}), none for {target.describe()}",
                root,
            )
        others = ", ".join(w.filename for w in every)
        found = f" (it has {others})" if others else ""
        raise ResolveError(
            requirement.name,
            f"{why}: no wheel of {requirement} in the wheelhouse " f"{self.directory}{found}",
            root,
        )
