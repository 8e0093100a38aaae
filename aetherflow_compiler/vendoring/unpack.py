"""A chosen wheel's files as dist files, unpacked by `installer`.

Everything a wheel installs into site-packages (purelib and platlib) goes below
`aetherflow_vendor/<name>-<version>/`, its RECORD rewritten for those paths. Console
scripts, headers and data files are left out: an artifact imports packages, it runs no
entry points.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Iterable
from pathlib import Path
from typing import BinaryIO

from installer import install
from installer.destinations import WheelDestination
from installer.records import Hash, RecordEntry
from installer.sources import WheelFile
from installer.utils import Scheme

from aetherflow_compiler.vendoring.layout import VENDOR
from aetherflow_compiler.vendoring.wheelhouse import Chosen


class _Collect(WheelDestination):
    def __init__(self, prefix: str) -> None:
        self.prefix = prefix
        self.files: dict[str, bytes] = {}
        self.left_out: list[str] = []

    def write_script(self, name: str, module: str, attr: str, section: str) -> RecordEntry:
        self.left_out.append(f"script {name}")
        return RecordEntry(f"../bin/{name}", None, None)

    def write_file(self, scheme: Scheme, path: str, stream: BinaryIO, is_executable: bool) -> RecordEntry:  # type: ignore[override]
        data = stream.read()
        if scheme not in ("purelib", "platlib"):
            self.left_out.append(f"{scheme} {path}")
            return RecordEntry(f"../{scheme}/{path}", None, None)
        parts = str(path).replace("\\", "/").split("/")
        if str(path).startswith("/") or any(part in ("", ".", "..") for part in parts):
            raise UnpackError(f"it would write {path!r}, outside its folder")
        self.files[f"{self.prefix}/{path}"] = data
        digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).decode("ascii").rstrip("=")
        return RecordEntry(path, Hash("sha256", digest), len(data))

    def finalize_installation(
        self, scheme: Scheme, record_file_path: str, records: Iterable[tuple[Scheme, RecordEntry]]
    ) -> None:
        lines = []
        for record_scheme, record in records:
            if record_scheme in ("purelib", "platlib") and record.path != record_file_path:
                lines.append(",".join(str(part) for part in record.to_row()))
        lines.append(f"{record_file_path},,")
        self.files[f"{self.prefix}/{record_file_path}"] = ("\n".join(sorted(lines)) + "\n").encode(
            "utf-8"
        )


class UnpackError(Exception):
    pass


def unpack(chosen: Chosen) -> dict[str, bytes]:
    """Dist path -> bytes for every file `chosen` brings (RECORD included). Raises
    UnpackError for a wheel that is not a valid one (a file that does not match its
    RECORD, a path outside the wheel)."""
    destination = _Collect(f"{VENDOR}/{chosen.dirname}")
    try:
        with WheelFile.open(Path(chosen.wheel.path)) as source:
            source.validate_record()
            install(source, destination, {"INSTALLER": b"aetherflow-compiler\n"})
    except UnpackError as exc:
        raise UnpackError(f"wheel {chosen.wheel.filename} cannot be unpacked: {exc}") from None
    except Exception as exc:  # installer's own errors, and a damaged zip file
        raise UnpackError(f"wheel {chosen.wheel.filename} cannot be unpacked: {exc}") from None
    return destination.files
