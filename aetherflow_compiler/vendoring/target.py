"""The interpreter and platform a dist is compiled for: wheel tags and marker values."""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass
from typing import Any

from packaging import tags
from packaging.markers import default_environment


@dataclass(frozen=True)
class Target:
    """`python_version` None and `platforms` empty mean the compiling interpreter's."""

    python_version: tuple[int, int] | None = None
    platforms: tuple[str, ...] = ()

    def tags(self) -> tuple[tags.Tag, ...]:
        """Every tag a wheel may carry to install on the target, most specific first."""
        if self.python_version is None and not self.platforms:
            return tuple(tags.sys_tags())
        version = self.python_version or sys.version_info[:2]
        platforms = list(self.platforms) or None
        interpreter = f"cp{version[0]}{version[1]}"
        return (*tags.cpython_tags(python_version=version, platforms=platforms),
                *tags.compatible_tags(python_version=version, interpreter=interpreter, platforms=platforms))

    def markers(self) -> dict[str, str]:
        """The values `Requires-Dist` markers are evaluated with. Those a tag cannot tell
        (platform_release, platform_version) are the compiling machine's."""
        env = {name: str(value) for name, value in default_environment().items()}
        if self.python_version is not None:
            text = _version_text(self.python_version)
            env.update(python_version=text, python_full_version=text + ".0", implementation_name="cpython",
                       implementation_version=text + ".0", platform_python_implementation="CPython")
        if self.platforms:
            env.update(_platform_markers(self.platforms[0]))
        return env

    def as_json(self) -> dict[str, Any]:
        """For manifest.json: the version and platforms as given (no platform: the
        compiling machine's, which the manifest does not spell out)."""
        return {"python": _version_text(self.python_version), "platforms": list(self.platforms)}

    def describe(self) -> str:
        version = _version_text(self.python_version)
        where = ", ".join(self.platforms) if self.platforms else "this machine's platform"
        return f"CPython {version} on {where}"


def target_for(python_version: str | None, platforms: tuple[str, ...] | list[str]) -> Target:
    """The target of `--python-version X.Y` and `--platform TAG` (repeatable), as pip
    download takes them. Raises ValueError for a version that is not X.Y."""
    version = None
    if python_version is not None:
        match = re.fullmatch(r"(\d+)\.(\d+)", python_version.strip())
        if match is None:
            raise ValueError(f"--python-version must be MAJOR.MINOR, such as 3.11, not {python_version!r}")
        version = (int(match.group(1)), int(match.group(2)))
    return Target(version, tuple(platforms))


def _version_text(version: tuple[int, int] | None) -> str:
    major, minor = version or sys.version_info[:2]
    return f"{major}.{minor}"


def _platform_markers(platform: str) -> dict[str, str]:
    if platform.startswith(("manylinux", "musllinux", "linux")):
        machine = re.sub(r"^(manylinux|musllinux)(_\d+_\d+|\d+)?_|^linux_", "", platform)
        return {"sys_platform": "linux", "platform_system": "Linux", "os_name": "posix", "platform_machine": machine}
    if platform.startswith("macosx"):
        machine = re.sub(r"^macosx_\d+_\d+_", "", platform)
        return {"sys_platform": "darwin", "platform_system": "Darwin", "os_name": "posix",
                "platform_machine": machine}
    if platform.startswith("win"):
        machine = {"win32": "x86", "win_amd64": "AMD64", "win_arm64": "ARM64"}.get(platform, platform)
        return {"sys_platform": "win32", "platform_system": "Windows", "os_name": "nt", "platform_machine": machine}
    return {}
