"""The fuzz suite's harness: lay out one generated case (input files and file-system oddities)
in a fresh workspace, run the front end's commands on it in-process, and check what a user
sees against the contract of the command line:

- exit 0 or 2 (1 only for `compile --check` on drift), never 3, never a traceback;
- every diagnostic located (`path:line:col: AFnnn ...` in text, file/line/column in
  `--json`) unless it is a usage message; every `--json` output exactly one JSON object;
- a deadline per command (a hang is a failure, found by a SIGALRM timer);
- nothing written outside `-o` and the compile cache; a failed compile leaves `-o` as it was;
- after a successful compile, `compile --check` is clean and a second compile (with
  `--no-cache`) gives a byte-identical dist.

A failure is a `Violation` with a signature that names its class (the kind of failure and,
for an exception, its type and the compiler function that raised it), so that thousands of
inputs reduce to a short list. `shrink` reduces a failing case to a small one with the same
signature (delta debugging over its files' lines, then characters, and its hazards).
"""

from __future__ import annotations

import base64
import contextlib
import dataclasses
import hashlib
import json
import os
import re
import shutil
import signal
import stat
import tempfile
import time
import traceback
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from click.testing import CliRunner

from aetherflow_compiler.cli.commands import cli

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = str(ROOT / "aetherflow_compiler")
HERE = Path(__file__).resolve().parent
REGRESSIONS = HERE / "regressions"

# Seconds one command may take before it counts as a hang ($AETHERFLOW_FUZZ_DEADLINE).
DEADLINE = float(os.environ.get("AETHERFLOW_FUZZ_DEADLINE", "10"))
NOBODY = 65534

LOCATED = re.compile(r"^.+:\d+:\d+: (error|warning|note) AF\d{3} \S")
KNOWN_LINES = [
    re.compile(p)
    for p in (
        r"^  hint: ",  # the hint of the diagnostic above
        r"^\d+ files? valid",  # summaries
        r"^\d+ errors? (in \d+ files? \(of \d+ checked\)|before any file was checked)",
        r"^compiled \d+ flows?[ :]",
        r"^archived .+ as ",
        r" is up to date \(\d+ flows?, \d+ files?\)$",
        r" is out of date \(\d+ of \d+ files?\); run aetherflow compile without --check$",
        r"^(missing|differs|unexpected|mode differs): ",  # compile --check's drift list
    )
]
USAGE_LINES = [
    re.compile(p)
    for p in (r"^Usage: aetherflow ", r"^Try 'aetherflow .*' for help\.$", r"^Error: ")
]
PLUGIN_MARK = "PLUGIN-SAYS"  # what generated plugins print; allowed in text output, not in JSON


class Hang(BaseException):
    """The per-command deadline passed (a BaseException: the compiler's `except Exception`
    handlers must not swallow it)."""


@dataclass(frozen=True)
class Violation:
    """One failure of the contract: its class (`signature`) and what was seen."""

    signature: str
    command: str
    detail: str

    def __str__(self) -> str:
        return f"[{self.signature}] {self.command}: {self.detail}"


@dataclass(frozen=True)
class Case:
    """One generated input: files (path below the project folder -> bytes), file-system
    hazards applied after them, the inputs the commands name and the commands to run.

    Commands are written as the user would type them after `aetherflow`, with the inputs
    left out: "validate --json", "compile --target all", "explain", "graph --format dot".
    The harness adds the case's paths and options, `-o dist` and `--no-config` (unless the
    case is about the project config)."""

    kind: str
    files: dict[str, bytes]
    commands: tuple[str, ...]
    paths: tuple[str, ...] = ()
    flow: str | None = None  # the one flow explain and graph take (None: the manifest's entry flow)
    options: tuple[
        str, ...
    ] = ()  # given to every command: --profiles, --plugins, --bundle-manifest
    compile_options: tuple[str, ...] = ()  # compile only: --schedule
    hazards: tuple[tuple[str, ...], ...] = ()
    config: bool = False  # read the project config (commands get no --no-config, compile no -o)
    output: str = "dist"  # compile's -o
    unprivileged: bool = False  # run as nobody (permission hazards mean nothing to root)
    env: tuple[tuple[str, str], ...] = ()

    def as_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if f.name == "files":
                value = {path: _encode(data) for path, data in sorted(value.items())}
            elif isinstance(value, tuple):
                value = [list(v) if isinstance(v, tuple) else v for v in value]
            out[f.name] = value
        return out

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Case:
        values = dict(data)
        values["files"] = {path: _decode(text) for path, text in data["files"].items()}
        for name in ("commands", "paths", "options", "compile_options"):
            values[name] = tuple(values.get(name, ()))
        values["hazards"] = tuple(tuple(h) for h in values.get("hazards", ()))
        values["env"] = tuple(tuple(e) for e in values.get("env", ()))
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in values.items() if k in known})


def _encode(data: bytes) -> dict[str, str]:
    """A file's bytes for case.json: as text when it is printable UTF-8, else base64."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return {"base64": base64.b64encode(data).decode("ascii")}
    if all(ch.isprintable() or ch in "\n\t" for ch in text):
        return {"text": text}
    return {"base64": base64.b64encode(data).decode("ascii")}


def _decode(entry: dict[str, str]) -> bytes:
    if "text" in entry:
        return entry["text"].encode("utf-8")
    return base64.b64decode(entry["base64"])


def path_bytes(rel: str) -> bytes:
    """A case path as file-name bytes: non-UTF-8 names are kept as surrogate escapes."""
    return os.fsencode(rel)


# --- the workspace --------------------------------------------------------------------------


@dataclass
class Workspace:
    """ws/ holds p/ (the project: inputs, the working directory, dist/), home/ and tmp/.
    The compile cache lives outside it, shared by every case of the session."""

    root: Path
    cache: Path

    @property
    def project(self) -> Path:
        return self.root / "p"


_CACHE: Path | None = None


def _fuzz_cache() -> Path:
    """One compile cache for every case (it is the compiler's; keeping it warm keeps cases
    fast), writable by nobody too."""
    global _CACHE
    if _CACHE is None:
        _CACHE = Path(tempfile.mkdtemp(prefix="aetherflow-fuzz-cache-"))
        os.chmod(_CACHE, 0o1777)
    return _CACHE


@contextlib.contextmanager
def workspace() -> Iterator[Workspace]:
    # Not under pytest's tmp_path: that is root's and 0700, and some cases run as nobody.
    root = Path(tempfile.mkdtemp(prefix="aetherflow-fuzz-"))
    try:
        for sub in ("", "p", "home", "tmp"):
            (root / sub).mkdir(exist_ok=True)
            os.chmod(root / sub, 0o777)
        yield Workspace(root, _fuzz_cache())
    finally:
        _force_remove(root)


def _force_remove(root: Path) -> None:
    def unlock(function: Any, path: str, _exc: Any) -> None:
        with contextlib.suppress(OSError):
            os.chmod(os.path.dirname(path), 0o777)
            if os.path.isdir(path) and not os.path.islink(path):
                os.chmod(path, 0o777)
                shutil.rmtree(path, ignore_errors=True)
            else:
                os.unlink(path)

    for base, dirs, _ in os.walk(root):
        for d in dirs:
            with contextlib.suppress(OSError):
                if not os.path.islink(os.path.join(base, d)):
                    os.chmod(os.path.join(base, d), 0o777)
    shutil.rmtree(root, onerror=unlock)  # noqa: B028 (Python 3.10 has no onexc)


def materialize(case: Case, ws: Workspace) -> None:
    """Write the case's files into ws/p, then apply its hazards."""
    project = bytes(ws.project)
    for rel, data in case.files.items():
        full = os.path.join(project, path_bytes(rel))
        os.makedirs(os.path.dirname(full), exist_ok=True)
        with open(full, "wb") as fh:
            fh.write(data)
    for hazard in case.hazards:
        apply_hazard(hazard, project)
    if case.unprivileged:
        _open_up(project)


def _open_up(project: bytes) -> None:
    """Let nobody read the inputs and write the project folder (as a user's own project);
    hazards that took permissions away keep theirs (they are applied with `chmod`)."""
    for base, dirs, names in os.walk(project):
        for name in dirs + names:
            full = os.path.join(base, name)
            try:
                st = os.lstat(full)
            except OSError:  # below a path longer than PATH_MAX
                continue
            if stat.S_ISDIR(st.st_mode) and st.st_mode & 0o777 == 0o755:
                os.chmod(full, 0o777)
            elif stat.S_ISREG(st.st_mode) and st.st_mode & 0o777 == 0o644:
                os.chmod(full, 0o666)


def apply_hazard(hazard: tuple[str, ...], project: bytes) -> None:
    """One odd thing in the file system, below the project folder:
    ("symlink", path, target), ("fifo", path), ("socket", path), ("dir", path),
    ("chmod", path, octal mode), ("long-path", path, depth, source) (`depth` nested
    folders of 250-byte names below the folder of `path`, so that the whole path is longer
    than PATH_MAX, holding a copy of the file `source` under the name of `path`)."""
    op, rel = hazard[0], hazard[1]
    full = os.path.join(project, path_bytes(rel))
    os.makedirs(os.path.dirname(full), exist_ok=True)
    if op in ("symlink", "fifo", "socket", "dir") and os.path.lexists(full):
        return  # the same hazard twice, or a name already taken
    with contextlib.suppress(FileExistsError, IsADirectoryError):
        if op == "symlink":
            os.symlink(path_bytes(hazard[2]), full)
        elif op == "fifo":
            os.mkfifo(full)
        elif op == "socket":
            import socket

            with socket.socket(socket.AF_UNIX) as sock:
                old = os.getcwd()
                os.chdir(os.path.dirname(full))  # the socket path must be short
                try:
                    sock.bind(os.path.basename(full))
                finally:
                    os.chdir(old)
        elif op == "dir":
            os.makedirs(full, exist_ok=True)
        elif op == "chmod":
            if os.path.lexists(full):
                (
                    os.chmod(full, int(hazard[2], 8), follow_symlinks=False)
                    if not os.path.islink(full)
                    else None
                )
        elif op == "long-path":
            with open(os.path.join(project, path_bytes(hazard[3])), "rb") as fh:
                data = fh.read()
            # Built with dirfds: the whole path is too long for one system call.
            depth = int(hazard[2])
            fd = os.open(os.path.dirname(full), os.O_RDONLY)
            try:
                for _ in range(depth):
                    name = b"d" * 250
                    os.mkdir(name, dir_fd=fd)
                    new = os.open(name, os.O_RDONLY, dir_fd=fd)
                    os.close(fd)
                    fd = new
                out = os.open(os.path.basename(full), os.O_WRONLY | os.O_CREAT, 0o644, dir_fd=fd)
                os.write(out, data)
                os.close(out)
            finally:
                os.close(fd)
        else:
            raise ValueError(f"unknown hazard {hazard}")


# --- snapshots ------------------------------------------------------------------------------


def snapshot(root: bytes) -> dict[bytes, tuple[Any, ...]]:
    """Every entry below root (not following links): type, mode and, for files, a hash."""
    out: dict[bytes, tuple[Any, ...]] = {}

    def walk(folder: bytes, rel: bytes) -> None:
        try:
            names = os.listdir(folder)
        except OSError as exc:
            out[rel + b"/"] = ("unlistable", exc.errno)
            return
        for name in names:
            full, sub = os.path.join(folder, name), os.path.join(rel, name)
            try:
                st = os.lstat(full)
            except OSError:
                continue
            if stat.S_ISDIR(st.st_mode):
                out[sub] = ("dir", stat.S_IMODE(st.st_mode))
                walk(full, sub)
            elif stat.S_ISREG(st.st_mode):
                digest = ""
                with contextlib.suppress(OSError), open(full, "rb") as fh:
                    digest = hashlib.sha256(fh.read()).hexdigest()
                out[sub] = ("file", stat.S_IMODE(st.st_mode), digest)
            elif stat.S_ISLNK(st.st_mode):
                out[sub] = ("link", os.readlink(full))
            else:
                out[sub] = ("other", st.st_mode)

    walk(root, b"")
    return out


def tree_bytes(root: Path) -> dict[str, tuple[int, bytes]]:
    """A dist as {relative path: (mode, bytes)} for byte-for-byte comparison."""
    out: dict[str, tuple[int, bytes]] = {}
    for base, _dirs, names in os.walk(root):
        for name in names:
            full = os.path.join(base, name)
            rel = os.path.relpath(full, root)
            with open(full, "rb") as fh:
                out[rel] = (stat.S_IMODE(os.lstat(full).st_mode), fh.read())
    return out


# --- running one command ------------------------------------------------------------------------


@dataclass
class Outcome:
    argv: list[str]
    exit_code: int | None
    stdout: str
    stderr: str
    exception: BaseException | None = None
    frames: list[traceback.FrameSummary] = field(default_factory=list)
    seconds: float = 0.0


class _Timer:
    """SIGALRM after `seconds`, then every half second until the command returns: a Hang
    raised where something swallows it (a gc callback prints it as "Exception ignored")
    comes again; `fired` says whether the deadline passed at all."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.fired = False

    def __enter__(self) -> _Timer:
        def on_alarm(_signum: int, _frame: Any) -> None:
            self.fired = True
            raise Hang(f"no answer after {self.seconds:g} s")

        self.previous = signal.signal(signal.SIGALRM, on_alarm)
        signal.setitimer(signal.ITIMER_REAL, self.seconds, 0.5)
        return self

    def __exit__(self, *exc: object) -> None:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, self.previous)


_WARM = False


def _warm_up() -> None:
    """Run each command once as root first: the modules the compiler imports on use (and
    the standard library's, which may live where nobody cannot read, such as /root/.pyenv)
    are then loaded before a case runs as nobody."""
    global _WARM
    if _WARM:
        return
    _WARM = True
    simple = (
        b"version: 1\nflow: {id: warm}\njobs:\n  - id: j\n    steps:\n"
        b"      - {id: s, type: external.process, inputs: {command: [echo]}}\n"
    )
    case = Case(
        "warm-up",
        {"flows/warm.yaml": simple},
        (
            "validate --json",
            "compile --target all --json",
            "compile --single-file",
            "explain --json",
            "graph --format json",
        ),
        paths=("flows",),
        flow="flows/warm.yaml",
    )
    run_case(case)


@contextlib.contextmanager
def _as_nobody(enabled: bool) -> Iterator[None]:
    if not enabled or os.geteuid() != 0:
        yield
        return
    os.setegid(NOBODY)
    os.seteuid(NOBODY)
    try:
        yield
    finally:
        os.seteuid(0)
        os.setegid(0)


# Variables of the machine that would change what the compiler reads: not set in a case.
CLEARED = (
    "AETHERFLOW_MODE",
    "AETHERFLOW_PLUGIN_PATHS",
    "AETHERFLOW_PLUGIN_STRICT",
    "AETHERFLOW_PROFILES_FILE",
    "AETHERFLOW_SETTINGS_MODULE",
)


def invoke(argv: list[str], ws: Workspace, case: Case, seconds: float = DEADLINE) -> Outcome:
    """`aetherflow ARGV` in-process, in ws/p, with HOME and TMPDIR inside the workspace,
    the fuzz compile cache and a deadline."""
    env: dict[str, str | None] = {name: None for name in CLEARED}
    env.update(
        HOME=str(ws.root / "home"), TMPDIR=str(ws.root / "tmp"), AETHERFLOW_CACHE_DIR=str(ws.cache)
    )
    env.update(dict(case.env))
    runner = CliRunner()
    old_cwd, old_tempdir = os.getcwd(), tempfile.tempdir
    started = time.monotonic()
    outcome = Outcome(argv, None, "", "")
    if case.unprivileged:
        _warm_up()
    timer = _Timer(seconds)
    try:
        os.chdir(ws.project)
        tempfile.tempdir = str(ws.root / "tmp")
        with timer, _as_nobody(case.unprivileged):
            result = runner.invoke(
                cli, argv, env=env, catch_exceptions=True, prog_name="aetherflow"
            )
            if timer.fired:  # the Hang was swallowed; the command still took too long
                raise Hang(
                    f"no answer after {seconds:g} s (finished after {time.monotonic() - started:.1f} s)"
                )
        outcome.exit_code = result.exit_code
        outcome.stdout, outcome.stderr = result.stdout, result.stderr
        if result.exception is not None and not isinstance(result.exception, SystemExit):
            outcome.exception = result.exception
            assert result.exc_info is not None
            outcome.frames = traceback.extract_tb(result.exc_info[2])
    except Hang as exc:
        outcome.exception = exc
        outcome.frames = traceback.extract_tb(exc.__traceback__)
    finally:
        tempfile.tempdir = old_tempdir
        os.chdir(old_cwd)
        outcome.seconds = time.monotonic() - started
    return outcome


def _where(frames: list[traceback.FrameSummary]) -> str:
    """The innermost frame of the compiler: `module.function`."""
    for frame in reversed(frames):
        if frame.filename.startswith(PACKAGE):
            module = os.path.relpath(frame.filename, ROOT)[:-3].replace(os.sep, ".")
            return f"{module}.{frame.name}"
    return "outside the compiler"


# --- the contract ------------------------------------------------------------------------------


def _name(argv: list[str]) -> str:
    """The command and its flags, without the paths: 'compile --target all --json'."""
    return " ".join(
        a for a in argv if a.startswith("-") or a in ("validate", "compile", "explain", "graph")
    )


def check_outcome(
    outcome: Outcome,
    *,
    json_mode: bool,
    free_stdout: bool,
    allowed_exits: set[int],
    outputs: tuple[str, ...],
) -> list[Violation]:
    """The output contract of one command. `free_stdout`: a successful explain/graph prints
    its own text; `outputs`: paths an error about the output may name without a position."""
    name = _name(outcome.argv)
    found: list[Violation] = []
    if isinstance(outcome.exception, Hang):
        return [Violation(f"hang in {_where(outcome.frames)}", name, str(outcome.exception))]
    if outcome.exception is not None:
        exc = outcome.exception
        return [
            Violation(
                f"{type(exc).__name__} in {_where(outcome.frames)}",
                name,
                f"exit 3 (internal error): {type(exc).__name__}: {str(exc)[:200]}",
            )
        ]
    both = outcome.stdout + outcome.stderr
    if "Traceback" in both:
        found.append(Violation("traceback in output", name, _excerpt(both, "Traceback")))
    if outcome.exit_code not in allowed_exits:
        found.append(Violation(f"exit {outcome.exit_code}", name, _excerpt(both, "")))
    usage = any(p.search(line) for line in outcome.stderr.splitlines() for p in USAGE_LINES)
    if json_mode and not (usage and not outcome.stdout.strip()):
        found.extend(_check_json(outcome, name, outputs))
    elif not (free_stdout and outcome.exit_code == 0):
        found.extend(_check_lines(outcome.stdout, name, "stdout", outputs))
    found.extend(_check_lines(outcome.stderr, name, "stderr", outputs))
    if outcome.exit_code == 2 and not found and not usage and not _has_error(outcome, json_mode):
        found.append(Violation("exit 2 without an error", name, _excerpt(both, "")))
    return found


def _has_error(outcome: Outcome, json_mode: bool) -> bool:
    if json_mode:
        with contextlib.suppress(ValueError, AttributeError):
            return bool(json.loads(outcome.stdout).get("errors"))
        return False
    lines = (outcome.stdout + outcome.stderr).splitlines()
    return any(LOCATED.search(line) or line.startswith("aetherflow: ") for line in lines)


def _excerpt(text: str, around: str) -> str:
    at = max(text.find(around), 0)
    return text[at : at + 300].replace("\n", "\\n")


def _check_lines(text: str, name: str, stream: str, outputs: tuple[str, ...]) -> list[Violation]:
    found = []
    in_diagnostic = False  # the indented lines after a located one: its related places, its hint
    for line in text.splitlines():
        if LOCATED.search(line):
            in_diagnostic = True
            continue
        if in_diagnostic and line.startswith("  "):
            continue
        in_diagnostic = False
        if not line.strip() or any(p.search(line) for p in KNOWN_LINES + USAGE_LINES):
            continue
        if line.startswith("aetherflow: ") and "internal error" not in line:
            continue  # a one-line message about the output or a usage problem
        if line.startswith(PLUGIN_MARK):
            continue  # printed by a generated plugin while it was imported (in --json output it breaks the JSON)
        if line.startswith(("  ", "\t")) and stream == "stderr":
            continue  # a continuation of click's usage text
        shape = re.sub(r"\d+", "N", line)[:48]
        kind = "unlocated diagnostic" if re.search(r"\bAF\d{3}\b", line) else "unrecognised line"
        found.append(Violation(f"{kind} on {stream}: {_shape(shape)}", name, line[:300]))
    return found


def _shape(text: str) -> str:
    """A short, stable form of a line for a signature: words only, no paths or values."""
    words = re.findall(r"[A-Za-z]+", text)
    return " ".join(words[:4])


def _check_json(outcome: Outcome, name: str, outputs: tuple[str, ...]) -> list[Violation]:
    try:
        document = json.loads(outcome.stdout)
    except ValueError:
        return [
            Violation(
                f"{name.split()[0]} --json output is not one JSON object",
                name,
                outcome.stdout[:300].replace("\n", "\\n"),
            )
        ]
    if not isinstance(document, dict):
        return [
            Violation(
                f"{name.split()[0]} --json output is not one JSON object",
                name,
                outcome.stdout[:300],
            )
        ]
    found = []
    if "ok" in document and document["ok"] != (outcome.exit_code in (0, 1)):
        found.append(
            Violation(
                "--json ok disagrees with the exit status",
                name,
                f"ok={document['ok']} exit={outcome.exit_code}",
            )
        )
    for bucket in ("errors", "warnings", "notes"):
        for item in document.get(bucket, []) or []:
            if not isinstance(item, dict):
                found.append(
                    Violation(f"--json {bucket} item is not an object", name, repr(item)[:200])
                )
                continue
            if item.get("code") is None and item.get("file") in outputs and bucket == "errors":
                continue  # a problem with the output directory or archive: not about an input
            ok = (
                isinstance(item.get("file"), str)
                and item["file"] != ""
                and isinstance(item.get("line"), int)
                and item["line"] >= 1
                and isinstance(item.get("column"), int)
                and item["column"] >= 1
                and isinstance(item.get("code"), str)
                and re.fullmatch(r"AF\d{3}", item["code"]) is not None
                and item.get("severity") == bucket[:-1]  # "errors" holds errors...
            )
            if not ok:
                found.append(
                    Violation(f"unlocated --json {bucket[:-1]}", name, json.dumps(item)[:300])
                )
    return found


def check_located_lines(outcome: Outcome, ws: Workspace) -> list[Violation]:
    """A located diagnostic points into its file: line at most the number of lines + 1."""
    found = []
    for line in (outcome.stdout + outcome.stderr).splitlines():
        match = re.match(
            r"^(?P<file>.+):(?P<line>\d+):(?P<col>\d+): (error|warning|note) AF\d{3} ", line
        )
        if not match:
            continue
        path = ws.project / match["file"]
        try:
            if not path.is_file():
                continue
            data = path.read_bytes()
        except (OSError, ValueError):
            continue
        breaks = sum(
            data.count(b) for b in (b"\n", b"\r", b"\xc2\x85", b"\xe2\x80\xa8", b"\xe2\x80\xa9")
        )
        if int(match["line"]) > breaks + 1 or int(match["line"]) < 1 or int(match["col"]) < 1:
            found.append(
                Violation(
                    "diagnostic points outside its file",
                    _name(outcome.argv),
                    f"{line[:200]} (the file has {breaks + 1} lines)",
                )
            )
    return found


# --- running a case ---------------------------------------------------------------------------


@dataclass
class CommandPlan:
    argv: list[str]
    json_mode: bool
    free_stdout: bool
    allowed_exits: set[int]
    compile: bool
    output: str | None  # -o as given (compile)


def plan(case: Case, command: str) -> CommandPlan:
    words = command.split()
    name, flags = words[0], words[1:]
    config = [] if case.config or name == "graph" else ["--no-config"]
    # graph --format json is a drawing format, not --json: its errors are text, as in the other formats.
    json_mode = "--json" in flags
    if name in ("validate", "compile"):
        argv = [name, *case.paths, *case.options]
    else:
        argv = [name, *([case.flow] if case.flow else []), *case.options]
    output = None
    if name == "compile":
        argv += list(case.compile_options)
        if not case.config:
            output = case.output
            argv += ["-o", output]
    return CommandPlan(
        [*argv, *flags, *config],
        json_mode,
        name in ("explain", "graph"),
        {0, 1, 2} if "--check" in flags else {0, 2},
        name == "compile",
        output,
    )


def config_output(case: Case, ws: Workspace) -> tuple[str, ...]:
    """Where a compile that reads the project config writes: its `output` and `archive`
    (relative to the config's folder), as far as they can be read."""
    try:
        import tomllib
    except ImportError:  # Python 3.10
        import tomli as tomllib

    found: list[str] = []
    for name in ("aetherflow.toml", "pyproject.toml"):
        try:
            data = tomllib.loads((ws.project / name).read_text(encoding="utf-8"))
        except (OSError, ValueError, UnicodeDecodeError):
            continue
        if name == "pyproject.toml":
            data = (
                data.get("tool", {}).get("aetherflow", {})
                if isinstance(data.get("tool"), dict)
                else {}
            )
        for key in ("output", "archive"):
            value = data.get(key) if isinstance(data, dict) else None
            if isinstance(value, str):
                found.append(value)
        break
    return tuple(found)


def run_case(case: Case, seconds: float = DEADLINE) -> list[Violation]:
    """Every contract violation of the case's commands (empty: it passed)."""
    with workspace() as ws:
        materialize(case, ws)
        return _run_commands(case, ws, seconds)


def _allowed(rel: bytes, outputs: tuple[str, ...]) -> bool:
    """Whether a changed entry (relative to ws/p) may change: an output, a folder on the
    way to one, or the archive's SHA256SUMS."""
    text = os.path.normpath(os.fsdecode(rel))
    for out in outputs:
        out = os.path.normpath(out.rstrip("/") or ".")
        if (
            out == "."
            or text == out
            or text.startswith(out + os.sep)
            or out.startswith(text + os.sep)
        ):
            return True
        if os.path.join(os.path.dirname(out), "SHA256SUMS") == text:
            return True
    return False


def _through_links(outputs: tuple[str, ...], ws: Workspace) -> tuple[str, ...]:
    """The outputs, and where an output that is a link points when that is inside the
    project: the compile writes through such a link (docs/artifacts.md)."""
    project = os.path.realpath(ws.project)
    found = list(outputs)
    for out in outputs:
        path = ws.project / out
        if os.path.islink(path):
            target = os.path.realpath(path)
            if target.startswith(project + os.sep):
                found.append(os.path.relpath(target, project))
    return tuple(found)


def _writes(
    before: dict[bytes, tuple[Any, ...]],
    after: dict[bytes, tuple[Any, ...]],
    outputs: tuple[str, ...],
) -> list[bytes]:
    changed = {p for p in set(before) | set(after) if before.get(p) != after.get(p)}
    return sorted(p for p in changed if not (p.startswith(b"p/") and _allowed(p[2:], outputs)))


def _run_commands(case: Case, ws: Workspace, seconds: float) -> list[Violation]:
    found: list[Violation] = []
    root = bytes(ws.root)
    before = snapshot(root)
    for command in case.commands:
        step = plan(case, command)
        outputs = (
            (step.output,) if step.output else (config_output(case, ws) if step.compile else ())
        )
        outputs = _through_links(outputs, ws)
        dist_before = {
            p: v
            for p, v in before.items()
            if p.startswith(b"p/") and outputs and _allowed(p[2:], outputs)
        }
        outcome = invoke(step.argv, ws, case, seconds)
        if isinstance(outcome.exception, Hang):
            found.extend(
                check_outcome(
                    outcome, json_mode=False, free_stdout=False, allowed_exits=set(), outputs=()
                )
            )
            break  # the next commands would wait on the same thing
        found.extend(
            check_outcome(
                outcome,
                json_mode=step.json_mode,
                free_stdout=step.free_stdout,
                allowed_exits=step.allowed_exits,
                outputs=outputs,
            )
        )
        found.extend(check_located_lines(outcome, ws))
        if command.startswith("graph") and "json" in command.split() and outcome.exit_code == 0:
            found.extend(_check_json(outcome, _name(step.argv), outputs))
        after = snapshot(root)
        for path in _writes(before, after, outputs):
            found.append(
                Violation("wrote outside -o", _name(step.argv), f"{os.fsdecode(path)!r} changed")
            )
        if step.compile and outcome.exit_code not in (0, None) and "--check" not in command:
            dist_after = {
                p: v
                for p, v in after.items()
                if p in dist_before
                or (outputs and p.startswith(b"p/") and _allowed(p[2:], outputs))
            }
            if dist_after != dist_before:
                found.append(
                    Violation(
                        "failed compile changed the output",
                        _name(step.argv),
                        f"exit {outcome.exit_code}; {_diff_keys(dist_before, dist_after)}",
                    )
                )
        if (
            step.compile
            and outcome.exit_code == 0
            and "--check" not in command
            and outcome.exception is None
        ):
            found.extend(_determinism(case, ws, step, outputs, seconds))
            after = snapshot(root)
        before = after
    return _unique(found)


def _diff_keys(a: dict[bytes, Any], b: dict[bytes, Any]) -> str:
    keys = sorted(k for k in set(a) | set(b) if a.get(k) != b.get(k))
    return ", ".join(os.fsdecode(k) for k in keys[:3])


def _determinism(
    case: Case, ws: Workspace, step: CommandPlan, outputs: tuple[str, ...], seconds: float
) -> list[Violation]:
    """After a successful compile: --check is clean, and a compile without the cache into
    another folder writes the same bytes."""
    found: list[Violation] = []
    name = _name(step.argv)
    flags = [a for a in step.argv if a not in ("--json",)]
    check = invoke([*flags, "--check"], ws, case, seconds)
    found.extend(
        v
        for v in check_outcome(
            check, json_mode=False, free_stdout=False, allowed_exits={0, 1}, outputs=outputs
        )
    )
    if check.exit_code == 1:
        found.append(
            Violation(
                "compile --check right after compile finds drift",
                name,
                check.stdout.strip().replace("\n", "; ")[:300],
            )
        )
    dist = outputs[0] if outputs else None
    if dist is None or not (ws.project / dist).is_dir():
        return found
    argv = list(flags)
    if "-o" in argv:
        argv[argv.index("-o") + 1] = "dist-again"
    else:
        argv += ["-o", "dist-again"]
    # Without the cache, so that a cached answer cannot hide a difference; except, in the
    # small profile, for --single-file, whose runtime takes seconds to inline uncached.
    cold = "--single-file" not in argv or os.environ.get("AETHERFLOW_FUZZ") == "long"
    again = invoke([*argv, *(["--no-cache"] if cold else [])], ws, case, seconds)
    found.extend(
        check_outcome(
            again, json_mode=False, free_stdout=False, allowed_exits={0}, outputs=("dist-again",)
        )
    )
    if again.exit_code == 0:
        first, second = tree_bytes(ws.project / dist), tree_bytes(ws.project / "dist-again")
        differs = sorted(k for k in set(first) | set(second) if first.get(k) != second.get(k))
        if differs:
            found.append(Violation("two compiles differ", name, ", ".join(differs[:4])))
    _force_remove(ws.project / "dist-again")
    return found


def _unique(found: list[Violation]) -> list[Violation]:
    seen, out = set(), []
    for v in found:
        if v.signature not in seen:
            seen.add(v.signature)
            out.append(v)
    return out


def describe(violations: list[Violation]) -> str:
    return "\n".join(str(v) for v in violations)


# --- shrinking ------------------------------------------------------------------------------------


def shrink(case: Case, signature: str, budget: int = 300, seconds: float = DEADLINE) -> Case:
    """A smaller case that still fails with `signature`: delta debugging over the commands,
    the hazards and the files, then over each file's lines and characters. At most `budget`
    runs."""
    runs = 0
    if signature.startswith("hang"):
        budget = min(budget, 12)  # every run waits for the deadline

    def fails(candidate: Case) -> bool:
        nonlocal runs
        runs += 1
        return any(v.signature == signature for v in run_case(candidate, seconds))

    def ddmin(items: list[Any], rebuild: Callable[[list[Any]], Case]) -> list[Any]:
        n = 2
        while len(items) >= 2 and runs < budget:
            chunk = max(1, len(items) // n)
            for start in range(0, len(items), chunk):
                rest = items[:start] + items[start + chunk :]
                if runs >= budget:
                    break
                if fails(rebuild(rest)):
                    items, n = rest, max(n - 1, 2)
                    break
            else:
                if n >= len(items):
                    break
                n = min(len(items), n * 2)
        if len(items) == 1 and runs < budget and fails(rebuild([])):
            return []
        return items

    commands = ddmin(
        list(case.commands),
        lambda c: dataclasses.replace(case, commands=tuple(c) or case.commands[:1]),
    )
    case = dataclasses.replace(case, commands=tuple(commands) or case.commands[:1])
    hazards = ddmin(list(case.hazards), lambda h: dataclasses.replace(case, hazards=tuple(h)))
    case = dataclasses.replace(case, hazards=tuple(hazards))
    kept = ddmin(
        sorted(case.files),
        lambda names: dataclasses.replace(case, files={n: case.files[n] for n in names}),
    )
    case = dataclasses.replace(case, files={n: case.files[n] for n in kept})
    for path in sorted(case.files, key=lambda p: -len(case.files[p])):
        for unit in ("lines", "chars"):
            data = case.files[path]
            if unit == "chars" and len(data) > 2000:
                continue
            parts: list[bytes] = (
                data.splitlines(keepends=True) if unit == "lines" else [bytes([b]) for b in data]
            )

            def rebuild(kept: list[bytes], path: str = path, base: Case = case) -> Case:
                return dataclasses.replace(base, files={**base.files, path: b"".join(kept)})

            case = rebuild(ddmin(parts, rebuild))
    return case


# --- regressions ---------------------------------------------------------------------------------


def save_regression(
    name: str, case: Case, violation: Violation, note: str, folder: Path = REGRESSIONS
) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.json"
    data = {
        "class": violation.signature,
        "symptom": violation.detail,
        "note": note,
        "case": case.as_json(),
    }
    path.write_text(
        json.dumps(data, indent=2) + "\n", encoding="utf-8"
    )  # ASCII: names may hold surrogates
    return path


def load_regressions(folder: Path = REGRESSIONS) -> list[tuple[str, dict[str, Any], Case]]:
    out = []
    for path in sorted(folder.glob("*.json")):
        data = json.loads(path.read_text(encoding="utf-8"))
        out.append((path.stem, data, Case.from_json(data["case"])))
    return out
