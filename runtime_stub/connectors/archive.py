"""Archive drivers: archive:zipfile (standard library), archive:pyzipper (AES, needs
pyzipper), archive:pyminizip (ZipCrypto, create only, needs pyminizip), archive:os (the
host's zip and unzip programs) and archive:external (programs the resource names).

Members are written in sorted order under names relative to the base directory, and
nothing is extracted outside the destination: absolute names and `..` are refused. The
drivers that run programs read the whole member list first and refuse the archive
before the program writes anything, links included (zipfile and pyzipper write none).
"""

from __future__ import annotations

import os

from .. import TYPE_CHECKING
from ..results import to_bool
from . import (
    ConnectorBase,
    ConnectorError,
    register_connector,
    require_package,
)

if TYPE_CHECKING:  # names for annotations only: importing typing slows every start
    from typing import Any, Dict, List, Optional, Tuple

    Secret = Optional[str]  # a password
    # the members to extract (None: all), and what _check_extract returned
    Chosen = Tuple[Optional[List[str]], Any]
    Sources = List[Tuple[str, str]]  # (path, member name) of each file to archive


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


class _Archive(ConnectorBase):
    """What every archive driver does the same way. create_zip: the driver's checks
    (_prepare_create), member names relative to base_dir, the archive written to
    <output>.tmp (_write) and renamed to output. extract_zip: the driver's checks
    (_check_extract), the destination made, the members extracted (_extract)."""

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
        prepared = self._prepare_create(password, compression)
        sources = [(f, _member_name(f, base_dir)) for f in sorted(files)]
        tmp = _start_output(output, overwrite)
        try:
            self._write(tmp, sources, base_dir, password, prepared)
            _finish_output(tmp, output, self.driver)
        finally:
            if os.path.exists(tmp):
                os.remove(tmp)
        return {
            "output": output,
            "count": len(sources),
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
        prepared = self._check_extract(members)
        os.makedirs(dest_dir, exist_ok=True)
        return self._extract(
            archive, dest_dir, password, overwrite, (members, prepared)
        )

    def _prepare_create(self, password: Secret, compression: str) -> Any:
        """Checks before anything is written; what _write needs from them and from
        `compression` (by default, `compression` itself)."""
        return compression

    # sources: (path, member name) of each file, in order
    def _write(
        self, tmp: str, sources: Sources, base_dir: str, password: Secret, prepared: Any
    ) -> None:
        raise NotImplementedError

    def _check_extract(self, members: Optional[List[str]]) -> Any:
        """Checks before the destination is made; what _extract needs from them."""
        return None

    def _extract(
        self, archive: str, dest: str, password: Secret, overwrite: bool, chosen: Chosen
    ) -> Dict[str, Any]:
        raise NotImplementedError


class _ZipArchive(_Archive):
    """Shared by both drivers: `zip_module` is zipfile or pyzipper."""

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

    def _write(
        self, tmp: str, sources: Sources, base_dir: str, password: Secret, prepared: Any
    ) -> None:
        zipfile = self.zip_module()
        method = (
            zipfile.ZIP_DEFLATED
            if str(prepared).lower() == "deflated"
            else zipfile.ZIP_STORED
        )
        with self.open_for_write(tmp, method, password) as archive:
            for path, name in sources:
                archive.write(path, arcname=name)

    def _extract(
        self, archive: str, dest: str, password: Secret, overwrite: bool, chosen: Chosen
    ) -> Dict[str, Any]:
        members = chosen[0]
        extracted: List[str] = []
        with self.open_for_read(archive) as handle:
            if password:
                handle.setpassword(str(password).encode("utf-8"))
            names = list(members) if members is not None else handle.namelist()
            # Every name is checked before anything is written: a hostile archive
            # leaves nothing behind.
            targets = [(name, _safe_target(dest, name)) for name in names]
            for name, target in targets:
                if not overwrite and os.path.exists(target):
                    continue
                handle.extract(name, path=dest)
                extracted.append(name)
        return {
            "dest_dir": dest,
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


# --- archive:os and archive:external run programs; archive:pyminizip, a package -------


def _member_problem(name: str) -> Optional[str]:
    """Why extraction programs must not see this member name, or None. They may read a
    backslash as a separator, so `..` is looked for between both kinds."""
    if ".." in name.replace("\\", "/").split("/"):
        return "would escape the destination"
    return None


def _refuse_member(name: str, dest: str, why: Optional[str] = None) -> None:
    problem = why or _member_problem(name)
    if problem:
        raise ConnectorError(
            "archive member %r %s %s; refusing to extract it" % (name, problem, dest)
        )
    _safe_target(dest, name)


def _check_zip_members(path: str, dest: str) -> None:
    """Every member of a zip archive lands inside dest and is a file or a folder."""
    import stat
    import zipfile

    with zipfile.ZipFile(path, "r") as handle:
        infos = handle.infolist()
    for info in infos:
        _refuse_member(info.filename, dest)
        if stat.S_ISLNK(info.external_attr >> 16):
            _refuse_member(info.filename, dest, "is a symbolic link in")


def _check_tar_members(path: str, dest: str) -> None:
    import tarfile

    with tarfile.open(path, "r:*") as handle:
        members = handle.getmembers()
    for member in members:
        _refuse_member(member.name, dest)
        if member.issym() or member.islnk():
            _refuse_member(member.name, dest, "is a link in")
        if not (member.isfile() or member.isdir()):
            _refuse_member(member.name, dest, "is a device or fifo in")


def _check_members_before_extracting(
    path: str, dest: str, driver: str, tar_too: bool
) -> None:
    """Read the archive's member list and refuse it whole if one member is unsafe, before
    any program runs: programs would write what comes before the bad member."""
    import tarfile
    import zipfile

    if zipfile.is_zipfile(path):
        _check_zip_members(path, dest)
    elif tar_too and tarfile.is_tarfile(path):
        _check_tar_members(path, dest)
    else:
        raise ConnectorError(
            "archive:%s: %s is not a %s archive, so its members cannot be checked "
            "before extracting; refusing to extract it"
            % (driver, path, "zip or tar" if tar_too else "zip")
        )


def _run_archive_program(
    argv: List[str], cwd: Optional[str], driver: str, doing: str, secret: Optional[str]
) -> None:
    """Run an archive program without a terminal (it cannot stop to ask for a password);
    a failure names the program, its exit status and the end of its output, never the
    command line (it may hold the password)."""
    import subprocess

    try:
        proc = subprocess.run(
            argv,
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    except OSError as exc:
        raise ConnectorError(
            "archive:%s could not start %s while %s: %s"
            % (driver, argv[0], doing, exc.strerror or type(exc).__name__)
        ) from None
    if proc.returncode != 0:
        text = proc.stdout.decode("utf-8", "replace")
        if secret:
            text = text.replace(secret, "***")
        lines = [line.strip() for line in text.splitlines() if line.strip()]
        raise ConnectorError(
            "archive:%s: %s exited with status %d while %s%s"
            % (
                driver,
                argv[0],
                proc.returncode,
                doing,
                (": " + " | ".join(lines[-5:])) if lines else "",
            )
        )


def _start_output(output: str, overwrite: bool) -> str:
    """Make room for `output`; the temporary path the archive is written to first."""
    if os.path.exists(output) and not overwrite:
        raise ConnectorError("%s exists and overwrite is false" % output)
    os.makedirs(os.path.dirname(output) or ".", exist_ok=True)
    tmp = output + ".tmp"
    if os.path.lexists(tmp):
        os.remove(tmp)
    return tmp


def _finish_output(tmp: str, output: str, driver: str) -> None:
    if not os.path.isfile(tmp):
        raise ConnectorError(
            "archive:%s: the archive program succeeded but did not write %s"
            % (driver, tmp)
        )
    os.replace(tmp, output)


def _argument_name(name: str) -> str:
    """A member name as a program argument: never mistaken for an option."""
    return "./" + name if name.startswith("-") else name


@register_connector("archive", "os")
class OsZipArchive(_Archive):
    """The host's Info-ZIP programs. config: zip_cmd (default zip), unzip_cmd (default
    unzip), quiet (default true: -q). A password is ZipCrypto, given with -P (as with the
    engine, other users of the host can see it in the process list while zip runs)."""

    def _program(self, key: str, default: str) -> str:
        import shutil

        program = str(self.config.get(key) or default)
        if shutil.which(program) is None:
            raise ConnectorError(
                "archive:os needs the program '%s' on PATH (config.%s; on Debian and "
                "Ubuntu: apt-get install %s)" % (program, key, default)
            )
        return program

    def _quiet(self) -> List[str]:
        return ["-q"] if to_bool(self.config.get("quiet", True), "quiet") else []

    def _prepare_create(self, password: Secret, compression: str) -> Any:
        return self._program("zip_cmd", "zip"), compression

    def _write(
        self, tmp: str, sources: Sources, base_dir: str, password: Secret, prepared: Any
    ) -> None:
        program, compression = prepared
        argv = [program] + self._quiet() + ["-r", tmp]
        if password:
            argv += ["-P", str(password)]
        if str(compression).lower() != "deflated":
            argv.append("-0")
        argv += [_argument_name(name) for _, name in sources]
        output = tmp[: -len(".tmp")]  # tmp is <output>.tmp
        _run_archive_program(argv, base_dir, "os", "writing %s" % output, password)

    def _check_extract(self, members: Optional[List[str]]) -> Any:
        return self._program("unzip_cmd", "unzip")

    def _extract(
        self, archive: str, dest: str, password: Secret, overwrite: bool, chosen: Chosen
    ) -> Dict[str, Any]:
        members, unzip = chosen
        _check_members_before_extracting(archive, dest, "os", tar_too=False)
        for name in members or []:
            _refuse_member(str(name), dest)
        argv = [unzip] + self._quiet() + ["-o" if overwrite else "-n"]
        if password:
            argv += ["-P", str(password)]
        argv.append(archive)
        argv += [str(m) for m in members or []]
        argv += ["-d", dest]
        _run_archive_program(argv, None, "os", "extracting %s" % archive, password)
        return {"dest_dir": dest, "password": bool(password), "driver": "os"}


@register_connector("archive", "pyminizip")
class PyminizipArchive(_Archive):
    """Encrypted (ZipCrypto) archives with pyminizip on the host: create only, and only
    with a password. config: level (0-9, default 5)."""

    def _prepare_create(self, password: Secret, compression: str) -> Any:
        if not password:
            raise ConnectorError(
                "archive:pyminizip writes encrypted archives only: give the step a "
                "password, or use an archive:zipfile resource"
            )
        pyminizip = require_package("pyminizip", "pyminizip", "archive:pyminizip")
        level = self.config.get("level")
        level = 5 if level is None or level == "" else level
        if str(level).strip() not in [str(n) for n in range(10)]:
            raise ConnectorError(
                "archive:pyminizip config.level must be 0 to 9, not %r" % (level,)
            )
        return pyminizip, int(str(level).strip())

    def _write(
        self, tmp: str, sources: Sources, base_dir: str, password: Secret, prepared: Any
    ) -> None:
        pyminizip, level = prepared
        names = [name for _, name in sources]
        paths = [os.path.join(base_dir, n) for n in names]
        # pyminizip stores each file under its folder in the archive + its base name.
        folders = [n.rpartition("/")[0] for n in names]
        pyminizip.compress_multiple(paths, folders, tmp, str(password), level)

    def _check_extract(self, members: Optional[List[str]]) -> Any:
        raise ConnectorError(
            "archive:pyminizip cannot extract archives; unzip with an archive:zipfile "
            "(ZipCrypto), archive:pyzipper, archive:os or archive:external resource"
        )


_EXTERNAL_PLACEHOLDERS = "{archive}, {dest}, {password}, {base_dir}, {files}"


@register_connector("archive", "external")
class ExternalArchive(_Archive):
    """Programs the resource names (7z, bsdtar, ...). config: zip_cmd and unzip_cmd, each a
    list of program and arguments with the placeholders {archive}, {dest}, {password},
    {base_dir} and {files} (an argument that is exactly {files} becomes one argument per
    member name; inside a longer argument, the names joined with spaces)."""

    def _template(self, key: str) -> List[str]:
        template = self.config.get(key)
        if not isinstance(template, list) or not template:
            raise ConnectorError(
                "archive:external resource %s needs config.%s, a list of program and "
                "arguments" % (self.name, key)
            )
        return [str(token) for token in template]

    def _render(
        self, key: str, values: Dict[str, str], names: Optional[List[str]]
    ) -> List[str]:
        argv: List[str] = []
        for token in self._template(key):
            if token == "{files}" and names is not None:
                argv.extend(_argument_name(n) for n in names)
                continue
            try:
                argv.append(token.format_map(values))
            except (KeyError, IndexError, ValueError):
                raise ConnectorError(
                    "archive:external config.%s: cannot fill in the argument %r "
                    "(placeholders: %s; write {{ and }} for braces)"
                    % (key, token, _EXTERNAL_PLACEHOLDERS)
                ) from None
        return argv

    def _prepare_create(self, password: Secret, compression: str) -> Any:
        return self._template("zip_cmd")

    def _write(
        self, tmp: str, sources: Sources, base_dir: str, password: Secret, prepared: Any
    ) -> None:
        names = [name for _, name in sources]
        argv = self._render(
            "zip_cmd", self._values(tmp, "", password, base_dir, names), names
        )
        output = tmp[: -len(".tmp")]  # tmp is <output>.tmp
        _run_archive_program(
            argv, base_dir, "external", "writing %s" % output, password
        )

    def _check_extract(self, members: Optional[List[str]]) -> Any:
        if members:
            raise ConnectorError(
                "archive:external cannot extract selected members (inputs.members); "
                "extract the whole archive, or use an archive:zipfile or archive:os resource"
            )

    def _extract(
        self, archive: str, dest: str, password: Secret, overwrite: bool, chosen: Chosen
    ) -> Dict[str, Any]:
        self._template("unzip_cmd")
        _check_members_before_extracting(archive, dest, "external", tar_too=True)
        argv = self._render(
            "unzip_cmd", self._values(archive, dest, password, "", []), None
        )
        _run_archive_program(
            argv, None, "external", "extracting %s" % archive, password
        )
        return {"dest_dir": dest, "password": bool(password), "driver": "external"}

    @staticmethod
    def _values(
        archive: str, dest: str, password: Secret, base_dir: str, names: List[str]
    ) -> Dict[str, str]:
        """What the placeholders stand for."""
        return {
            "archive": archive,
            "dest": dest,
            "password": "" if password is None else str(password),
            "base_dir": base_dir,
            "files": " ".join(names),
        }
