"""`compile --archive FILE.tar.gz`: the dist as a reproducible archive, for CI to publish.

The same files give the same bytes on any machine and from any checkout path: members in
sorted order below no top folder, directories included, mtime 0, uid and gid 0 with no
owner names, modes 0755 for directories and the flow scripts and 0644 for the rest (as
`write_output` sets them), GNU tar headers, and gzip without a file name or a timestamp.
`SHA256SUMS` next to the archive gets its line (`sha256sum -c SHA256SUMS` checks it).
"""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import tarfile
import tempfile

from aetherflow_compiler.driver.output import EXECUTABLE, file_mode
from aetherflow_compiler.project.sources import read_regular

SUMS = "SHA256SUMS"


def archive_bytes(files: dict[str, bytes]) -> bytes:
    directories = sorted(
        {"/".join(path.split("/")[:n]) for path in files for n in range(1, path.count("/") + 1)}
    )
    members = sorted([(d, None) for d in directories] + list(files.items()), key=lambda m: m[0])
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.GNU_FORMAT) as tar:
        for name, data in members:
            info = tarfile.TarInfo(name)
            info.mtime = 0
            info.uid = info.gid = 0
            info.uname = info.gname = ""
            if data is None:
                info.type = tarfile.DIRTYPE
                info.mode = EXECUTABLE
                tar.addfile(info)
            else:
                info.size = len(data)
                info.mode = file_mode(name)
                tar.addfile(info, io.BytesIO(data))
    packed = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=packed, compresslevel=9, mtime=0) as gz:
        gz.write(raw.getvalue())
    return packed.getvalue()


def write_archive(files: dict[str, bytes], archive: str) -> str:
    """Write `files` (the dist just written) as `archive` and its line in SHA256SUMS
    beside it, each through a temp file and a rename; the archive's sha256."""
    data = archive_bytes(files)
    digest = hashlib.sha256(data).hexdigest()
    folder = os.path.dirname(os.path.abspath(archive))
    name = os.fsencode(os.path.basename(archive))  # the file system's bytes, whatever they are
    os.makedirs(folder, exist_ok=True)
    sums_path = os.path.join(folder, SUMS)
    lines: list[bytes] = []
    if os.path.lexists(sums_path):  # the other lines as they are (bytes: any encoding, CRLF too)
        lines = [
            line
            for line in read_regular(sums_path).splitlines()
            if line and not line.endswith(b"  " + name)
        ]
    _replace(archive, data)
    lines.append(digest.encode() + b"  " + name)
    lines.sort(key=_named)
    _replace(sums_path, b"\n".join(lines) + b"\n")
    return digest


def _named(line: bytes) -> bytes:
    """The file name of a SHA256SUMS line, which the lines are sorted by."""
    return line.split(b"  ", 1)[-1]


def _replace(path: str, data: bytes) -> None:
    folder = os.path.dirname(os.path.abspath(path))
    fd, temp = tempfile.mkstemp(dir=folder, prefix=".aetherflow-")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.chmod(temp, 0o644)
        os.replace(temp, path)
    except BaseException:
        if os.path.exists(temp):
            os.unlink(temp)
        raise
