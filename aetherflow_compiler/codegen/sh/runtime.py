"""The shell runtime: runtime_stub/sh/, built into the one file a dist ships.

runtime_stub/sh/ holds the runtime along its sections (`NN_name.sh`, concatenated in name
order) and its awk programs (`name.awk`). A section runs a program as
`awk "$(cat "$AF_SH_PARTS/name.awk")"`, so that each section can be shellchecked and
sourced alone (with AF_SH_PARTS=runtime_stub/sh); the built runtime has the program in
its place, single-quoted, as one file needs it. The multi-file dist ships the result as
aetherflow_runtime/runtime.sh; a --single-file script inlines it.
"""

from __future__ import annotations

import hashlib
import re
from functools import cache

from aetherflow_compiler import package_data
from aetherflow_compiler.codegen.sh.words import posix_cksum

FOLDER = "sh"
# Where the multi-file dist ships the runtime (beside the Python runtime's modules).
DIST_PATH = f"{package_data.DIST_RUNTIME}/runtime.sh"
# `<flow>.sh verify`, run alone (runtime_stub/sh/verify.sh; not a section of the runtime).
VERIFY_PATH = f"{package_data.DIST_RUNTIME}/verify.sh"
_AWK = re.compile(r'"\$\(cat "\$AF_SH_PARTS/([a-z_]+\.awk)"\)"')


@cache
def _parts() -> dict[str, str]:
    """File name -> text of every file in runtime_stub/sh/."""
    return {
        name.split("/")[-1]: data.decode("utf-8")
        for name, data in package_data.walk(package_data.RUNTIME, (".sh", ".awk"))
        if name.startswith(FOLDER + "/")
    }


def _program(match: re.Match[str]) -> str:
    text = _parts()[match.group(1)]
    assert "'" not in text, f"{match.group(1)} holds a single quote, which a quoted program cannot"
    lines = ["        " + line if line else line for line in text.rstrip("\n").split("\n")]
    return "'\n" + "\n".join(lines) + "'"


@cache
def runtime_source() -> str:
    """The runtime as one file: the sections in name order, each awk program in place."""
    sections = [
        text for name, text in sorted(_parts().items()) if re.match(r"[0-9]+_.*\.sh$", name)
    ]
    return _AWK.sub(_program, "".join(sections))


@cache
def runtime_sha256() -> str:
    return hashlib.sha256(runtime_source().encode("utf-8")).hexdigest()


def dist_files() -> dict[str, bytes]:
    """What a multi-file dist with shell scripts ships of the shell runtime."""
    return {
        DIST_PATH: runtime_source().encode("utf-8"),
        VERIFY_PATH: _parts()["verify.sh"].encode("utf-8"),
    }


@cache
def runtime_cksum() -> str:
    """What POSIX `cksum` prints for the built runtime file: CRC and size (the check a
    flow script makes before it sources the runtime: one process, on every shell)."""
    data = runtime_source().encode("utf-8")
    return f"{posix_cksum(data)} {len(data)}"
