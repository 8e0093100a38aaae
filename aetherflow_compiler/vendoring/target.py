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
        platforms = expand_platforms(self.platforms) or None
        interpreter = f"cp{version[0]}{version[1]}"
        return (
            *tags.cpython_tags(python_version=version, platforms=platforms),
            *tags.compatible_tags(
                python_version=version, interpreter=interpreter, platforms=platforms
            ),
        )

    def markers(self) -> dict[str, str]:
        """The values `Requires-Dist` markers are evaluated with. Those a tag cannot tell
        (platform_release, platform_version) are the compiling machine's."""
        env = {name: str(value) for name, value in default_environment().items()}
        if self.python_version is not None:
            text = _version_text(self.python_version)
            env.update(
                python_version=text,
                python_full_version=text + ".0",
                implementation_name="cpython",
                implementation_version=text + ".0",
                platform_python_implementation="CPython",
            )
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
            raise ValueError(
                f"--python-version must be MAJOR.MINOR, such as 3.11, not {python_version!r}"
            )
        version = (int(match.group(1)), int(match.group(2)))
    return Target(version, tuple(platforms))


_LEGACY_MANYLINUX = {"manylinux1": (2, 5), "manylinux2010": (2, 12), "manylinux2014": (2, 17)}


def expand_platforms(platforms: tuple[str, ...]) -> list[str]:
    """Each platform tag with the older ones a host of it also runs, as pip download does:
    manylinux_2_17_x86_64 (or manylinux2014_x86_64) takes manylinux wheels down to glibc
    2.5 and their legacy names, musllinux likewise, macosx_11_0_arm64 older macOS versions
    and universal2 (packaging.tags.mac_platforms)."""
    out: list[str] = []
    for platform in platforms:
        match = re.fullmatch(
            r"(manylinux1|manylinux2010|manylinux2014|manylinux_(\d+)_(\d+))_(.+)", platform
        )
        musl = re.fullmatch(r"musllinux_(\d+)_(\d+)_(.+)", platform)
        mac = re.fullmatch(r"macosx_(\d+)_(\d+)_(.+)", platform)
        if match:
            major, minor = _LEGACY_MANYLINUX.get(match.group(1)) or (
                int(match.group(2)),
                int(match.group(3)),
            )
            arch = match.group(4)
            for glibc in range(minor, 4, -1) if major == 2 else [minor]:
                out.append(f"manylinux_{major}_{glibc}_{arch}")
                out += [
                    f"{legacy}_{arch}"
                    for legacy, at in _LEGACY_MANYLINUX.items()
                    if at == (major, glibc)
                ]
        elif musl:
            out += [
                f"musllinux_{musl.group(1)}_{m}_{musl.group(3)}"
                for m in range(int(musl.group(2)), -1, -1)
            ]
        elif mac:
            out += list(tags.mac_platforms((int(mac.group(1)), int(mac.group(2))), mac.group(3)))
        else:
            out.append(platform)
    return list(dict.fromkeys(out))


def _version_text(version: tuple[int, int] | None) -> str:
    major, minor = version or sys.version_info[:2]
    return f"{major}.{minor}"


def _platform_markers(platform: str) -> dict[str, str]:
    if platform.startswith(("manylinux", "musllinux", "linux")):
        machine = re.sub(r"^(manylinux|musllinux)(_\d+_\d+|\d+)?_|^linux_", "", platform)
        return {
            "sys_platform": "linux",
            "platform_system": "Linux",
            "os_name": "posix",
            "platform_machine": machine,
        }
    if platform.startswith("macosx"):
        machine = re.sub(r"^macosx_\d+_\d+_", "", platform)
        return {
            "sys_platform": "darwin",
            "platform_system": "Darwin",
            "os_name": "posix",
            "platform_machine": machine,
        }
    if platform.startswith("win"):
        machine = {"win32": "x86", "win_amd64": "AMD64", "win_arm64": "ARM64"}.get(
            platform, platform
        )
        return {
            "sys_platform": "win32",
            "platform_system": "Windows",
            "os_name": "nt",
            "platform_machine": machine,
        }
    return {}
