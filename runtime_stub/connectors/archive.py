"""archive:zipfile (standard library) and archive:pyzipper (AES, needs pyzipper).

Members are written in sorted order under names relative to the base directory, and
nothing is extracted outside the destination: absolute names and `..` are refused.
"""

from __future__ import annotations

import os

from . import (
    ConnectorBase,
    ConnectorError,
    register_connector,
    require_package,
)

if False:  # names for annotations only: importing typing slows every start
    from typing import Any, Dict, List, Optional


def _member_name(path: str, base: str) -> str:
    rel = os.path.relpath(path, base)
    if rel.startswith(os.pardir + os.sep) or rel == os.pardir or os.path.isabs(rel):
        raise ConnectorError(
            "zip input %s is outside its base directory %s" % (path, base)
        )
    return rel.replace(os.sep, "/")


def _safe_target(dest: str, name: str) -> str:
    if (
        name.startswith("/")
        or name.startswith("\\")
        or (len(name) > 1 and name[1] == ":")
    ):
        raise ConnectorError(
            "archive member %r has an absolute path; refusing to extract it" % name
        )
    target = os.path.realpath(os.path.join(dest, name))
    root = os.path.realpath(dest)
    if target != root and not target.startswith(root + os.sep):
        raise ConnectorError(
            "archive member %r would escape %s; refusing to extract it" % (name, dest)
        )
    return target


class _ZipArchive(ConnectorBase):
    """Shared by both drivers: `zipfile_module` is zipfile or pyzipper."""

    def zip_module(self) -> Any:
        import zipfile

        return zipfile

    def open_for_write(
        self, path: str, compression: int, password: Optional[str]
    ) -> Any:
        if password:
            raise ConnectorError(
                "archive:zipfile cannot write encrypted archives; use an archive:pyzipper resource "
                "(needs the Python package 'pyzipper' on this host)"
            )
        return self.zip_module().ZipFile(path, "w", compression=compression)

    def open_for_read(self, path: str) -> Any:
        return self.zip_module().ZipFile(path, "r")

    def create_zip(
        self,
        *,
        output: str,
        files: List[str],
        base_dir: str,
        password: Optional[str] = None,
        compression: str = "deflated",
        overwrite: bool = True,
    ) -> Dict[str, Any]:
        zipfile = self.zip_module()
        names = [(f, _member_name(f, base_dir)) for f in sorted(files)]
        if os.path.exists(output) and not overwrite:
            raise ConnectorError("%s exists and overwrite is false" % output)
        os.makedirs(os.path.dirname(output) or ".", exist_ok=True)
        tmp = output + ".tmp"
        method = (
            zipfile.ZIP_DEFLATED
            if str(compression).lower() == "deflated"
            else zipfile.ZIP_STORED
        )
        try:
            with self.open_for_write(tmp, method, password) as archive:
                for path, name in names:
                    archive.write(path, arcname=name)
            os.replace(tmp, output)
        finally:
            if os.path.exists(tmp):
                os.remove(tmp)
        return {
            "output": output,
            "count": len(names),
            "password": bool(password),
            "driver": self.driver,
        }

    def extract_zip(
        self,
        *,
        archive: str,
        dest_dir: str,
        password: Optional[str] = None,
        overwrite: bool = True,
        members: Optional[List[str]] = None,
    ) -> Dict[str, Any]:
        os.makedirs(dest_dir, exist_ok=True)
        extracted: List[str] = []
        with self.open_for_read(archive) as handle:
            if password:
                handle.setpassword(str(password).encode("utf-8"))
            names = list(members) if members is not None else handle.namelist()
            # Every name is checked before anything is written: a hostile archive
            # leaves nothing behind.
            targets = [(name, _safe_target(dest_dir, name)) for name in names]
            for name, target in targets:
                if not overwrite and os.path.exists(target):
                    continue
                handle.extract(name, path=dest_dir)
                extracted.append(name)
        return {
            "dest_dir": dest_dir,
            "files": extracted,
            "password": bool(password),
            "driver": self.driver,
        }


@register_connector("archive", "zipfile")
class ZipfileArchive(_ZipArchive):
    pass


@register_connector("archive", "pyzipper")
class PyzipperArchive(_ZipArchive):
    def zip_module(self) -> Any:
        return require_package("pyzipper", "pyzipper", "archive:pyzipper")

    def open_for_read(self, path: str) -> Any:
        return self.zip_module().AESZipFile(path, "r")  # AES and classic archives

    def open_for_write(
        self, path: str, compression: int, password: Optional[str]
    ) -> Any:
        pyzipper = self.zip_module()
        if not password:
            return pyzipper.ZipFile(path, "w", compression=compression)
        handle = pyzipper.AESZipFile(
            path, "w", compression=compression, encryption=pyzipper.WZ_AES
        )
        handle.setpassword(str(password).encode("utf-8"))
        return handle
