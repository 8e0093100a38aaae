"""Importing plugin files in a child process, under a time limit.

Plugin files are Python code that runs when imported. The compiler imports them in a
forked child process and learns what they registered as plain data, so that nothing
they do reaches the compile itself:

- what they print, through sys.stdout and sys.stderr or straight to file descriptors 1
  and 2, is captured and handed back (the command line shows it on stderr): stdout keeps
  only what the command prints (`--json`: one JSON object);
- a file that takes longer than the time limit to import is stopped, and reported at the
  line it was running (a SIGUSR1 makes the child's faulthandler show where it is);
- a file that ends the process (os._exit, a crash) is reported at that file;
- their modules, threads and changes to the interpreter stay in the child: the compile's
  own process pool never inherits them;
- what they registered is read in the child: step type names, input schemas, required
  inputs, outputs and connector keys are checked there and sent back as JSON, with the
  file and line of each class (hostile values, such as a name that is not a string or an
  exception whose str() raises, become messages, never exceptions of the compiler).

The child runs plugins the way plugins.py describes (the engine's order, each root on
sys.path while its files load, `aetherflow.core.api` from the vendored runtime).
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
import inspect
import io
import json
import os
import select
import signal
import sys
import time
from dataclasses import dataclass, field
from typing import Any

# What the child uses after plugins ran, taken before: a plugin may replace them.
_dumps, _loads, _write, _read, _exit = json.dumps, json.loads, os.write, os.read, os._exit

# The vendored runtime's modules the child provides `aetherflow.core.api` from.
RUNTIME_MODULES = (
    "aetherflow_compiler._runtime.plugin_api",
    "aetherflow_compiler._runtime.connectors",
)
# What each file's output keeps for the user; the rest is counted, not shown.
OUTPUT_LIMIT = 64 * 1024
# How long the child's traceback may take to arrive after a timeout, in seconds.
TRACE_WAIT = 1.0
# How long the child may take to exit once it has sent everything, in seconds.
EXIT_WAIT = 10.0


@dataclass(frozen=True)
class ImportJob:
    path: str  # absolute path of the file
    root: str  # absolute path of its plugin directory (on sys.path while it loads)
    module: str  # its module name below the root, dotted


@dataclass(frozen=True)
class Registered:
    """A class a plugin registered, as the compiler needs it."""

    key: tuple[str, ...]  # (step type,) or (kind, driver)
    class_name: str
    file: str  # absolute path of the plugin file that defines it (else registers it)
    line: int
    input_schema: Any = None  # JSON data; None when the class has none
    required_inputs: tuple[str, ...] = ()
    outputs: tuple[str, ...] | None = None


@dataclass(frozen=True)
class Problem:
    file: str  # absolute path
    line: int
    message: str
    # "import": the file failed to import (a warning with AETHERFLOW_PLUGIN_STRICT=false);
    # always errors: "timeout" (the time limit), "registry" (an unusable registration),
    # "error" (the file ended the process).
    kind: str = "error"


@dataclass
class ImportOutcome:
    steps: list[Registered] = field(default_factory=list)
    connectors: list[Registered] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    output: list[tuple[str, str]] = field(
        default_factory=list
    )  # (absolute file, or "", what it printed)


def import_plugins(jobs: list[ImportJob], known_files: list[str], timeout: float) -> ImportOutcome:
    """Import `jobs` in order in a child process, each within `timeout` seconds.
    `known_files` are every plugin file (helpers included): classes defined in them are
    located there."""
    outcome = ImportOutcome()
    if not jobs:
        return outcome
    if not hasattr(os, "fork"):
        outcome.problems.append(
            Problem(
                jobs[0].path,
                1,
                "plugins are imported in a child process of the compiler, "
                "which needs os.fork: compile on a POSIX system",
            )
        )
        return outcome
    # What the child needs, imported here: the child starts with them (and Python writes
    # their bytecode here, where that is allowed; the child writes none).
    import faulthandler  # noqa: F401
    import traceback  # noqa: F401

    for name in RUNTIME_MODULES:
        importlib.import_module(name)
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError, AttributeError):
            stream.flush()  # the child must not write what the parent had buffered
    msg_r, msg_w = os.pipe()
    ack_r, ack_w = os.pipe()
    out_r, out_w = os.pipe()
    trace_r, trace_w = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: never returns
        for fd in (msg_r, ack_w, out_r, trace_r):
            os.close(fd)
        _child(jobs, known_files, _Pipes(msg_w, ack_r, out_w, trace_w))
    for fd in (msg_w, ack_r, out_w, trace_w):
        os.close(fd)
    watch = _Watch(pid, jobs, timeout, _Pipes(msg_r, ack_w, out_r, trace_r), outcome)
    try:
        watch.run()
    finally:
        watch.stop()
        for fd in (msg_r, ack_w, out_r, trace_r):
            os.close(fd)
    return outcome


@dataclass(frozen=True)
class _Pipes:
    """The child's messages, the parent's acknowledgements of its "start" messages (so
    that all the output before one is read before the file it names starts), the child's
    stdout and stderr, and its faulthandler's stacks. Each holds the end its process uses."""

    messages: int
    acks: int
    output: int
    trace: int


class _Watch:
    """The parent's side: read the child's messages and output, enforce the time limit."""

    def __init__(
        self, pid: int, jobs: list[ImportJob], timeout: float, pipes: _Pipes, outcome: ImportOutcome
    ) -> None:
        self.pid, self.jobs, self.timeout, self.outcome = pid, jobs, timeout, outcome
        self.msg_r, self.ack_w, self.out_r, self.trace_r = (
            pipes.messages,
            pipes.acks,
            pipes.output,
            pipes.trace,
        )
        os.set_blocking(self.out_r, False)
        os.set_blocking(self.trace_r, False)
        self.pending = b""
        self.msg_eof = self.out_eof = False
        self.current: int | None = None  # the job the child works on
        self.phase = "import"
        self.deadline = time.monotonic() + timeout
        self.done = False
        self.status: int | None = None  # the child's wait status, once reaped
        self.output: dict[int, bytearray] = {}
        self.dropped: dict[int, int] = {}
        self.poll = 0.001  # seconds between looks at a child that is exiting, doubling

    def run(self) -> None:
        while self.status is None:
            now = time.monotonic()
            if now >= self.deadline:
                self._timed_out()
                break
            fds = [
                fd
                for fd, eof in ((self.msg_r, self.msg_eof), (self.out_r, self.out_eof))
                if not eof
            ]
            # Once the child closed its messages it is exiting (or broke them): poll for its end.
            wait = self.deadline - now if not self.msg_eof else min(self.poll, self.deadline - now)
            ready: list[int] = []
            if fds:
                ready = select.select(fds, [], [], wait)[0]
            else:
                time.sleep(wait)
            if self.msg_eof:
                self.poll = min(self.poll * 2, 0.05)
            if self.msg_r in ready:
                data = os.read(self.msg_r, 1 << 16)
                self.pending += data
                self.msg_eof = not data
            self._messages()
            self._drain_output()
            if self.msg_eof or self.done:
                self._reap(block=False)
        self._drain_output()
        self._flush_output()
        if not self.done and self.status is not None:
            self._crashed()

    def _messages(self) -> None:
        *lines, self.pending = self.pending.split(b"\n")
        for line in lines:
            try:
                message = json.loads(line)
                self._message(message)
            except (ValueError, TypeError, KeyError, IndexError, AttributeError):
                continue  # not ours: a plugin wrote to this descriptor

    def _message(self, message: dict[str, Any]) -> None:
        if "start" in message:
            index = message["start"]
            if not (isinstance(index, int) and 0 <= index < len(self.jobs)):
                raise ValueError(index)
            self._drain_output()  # the previous file's: the child waits for the ack below
            self.current = index
            self.phase = str(message.get("phase", "import"))
            self.deadline = time.monotonic() + self.timeout
            with contextlib.suppress(OSError):  # the child is gone: its end is noticed below
                os.write(self.ack_w, b".")
        elif "problem" in message:
            problem = message["problem"]
            self.outcome.problems.append(
                Problem(
                    str(problem["file"]),
                    int(problem["line"]),
                    str(problem["message"]),
                    str(problem.get("kind", "error")),
                )
            )
        elif "registered" in message:
            for entry in message["registered"]:
                record = Registered(
                    tuple(str(k) for k in entry["key"]),
                    str(entry["class"]),
                    str(entry["file"]),
                    int(entry["line"]),
                    entry.get("input_schema"),
                    tuple(str(k) for k in entry.get("required_inputs", ())),
                    (
                        None
                        if entry.get("outputs") is None
                        else tuple(str(k) for k in entry["outputs"])
                    ),
                )
                (self.outcome.steps if entry["what"] == "step" else self.outcome.connectors).append(
                    record
                )
        elif "broken" in message:
            self.outcome.problems.append(Problem(self._job().path, 1, str(message["broken"])))
            self.done = True  # reported; the child exits
            self.deadline = time.monotonic() + EXIT_WAIT
        elif "done" in message:
            self._drain_output()
            self.done = True
            self.current = None
            self.deadline = time.monotonic() + EXIT_WAIT

    def _drain_output(self) -> None:
        while not self.out_eof:
            try:
                data = os.read(self.out_r, 1 << 16)
            except BlockingIOError:
                return
            if not data:
                self.out_eof = True
                return
            at = -1 if self.current is None else self.current
            kept = self.output.setdefault(at, bytearray())
            room = max(0, OUTPUT_LIMIT - len(kept))
            kept += data[:room]
            if len(data) > room:
                self.dropped[at] = self.dropped.get(at, 0) + len(data) - room

    def _flush_output(self) -> None:
        for at, data in sorted(self.output.items()):
            text = data.decode("utf-8", "replace")
            if at in self.dropped:
                text += (
                    "" if text.endswith("\n") else "\n"
                ) + f"... ({self.dropped[at]} more bytes not shown)\n"
            if text:
                self.outcome.output.append((self.jobs[at].path if at >= 0 else "", text))

    def _reap(self, block: bool) -> None:
        if self.status is not None:
            return
        try:
            pid, status = os.waitpid(self.pid, 0 if block else os.WNOHANG)
        except ChildProcessError:
            pid, status = self.pid, 0
        if pid == self.pid:
            self.status = status

    def _job(self) -> ImportJob:
        return self.jobs[self.current if self.current is not None else 0]

    def _timed_out(self) -> None:
        job = self._job()
        line = 1
        if self.status is None and not self.done:
            line = self._where(job)
        self._kill()
        if self.done:  # everything was sent: only the exit took long
            return
        doing = "reading the classes it registers" if self.phase == "read" else "importing it"
        self.outcome.problems.append(
            Problem(
                job.path,
                line,
                f"plugin file did not finish loading within {self.timeout:g} s ({doing}); stopped",
                "timeout",
            )
        )
        self.done = True  # reported

    def _where(self, job: ImportJob) -> int:
        """The line of `job` the child runs: its faulthandler prints its stacks on SIGUSR1."""
        try:
            os.kill(self.pid, signal.SIGUSR1)
        except OSError:
            return 1
        trace = b""
        end = time.monotonic() + TRACE_WAIT
        while time.monotonic() < end:
            ready = select.select([self.trace_r], [], [], 0.1 if trace else end - time.monotonic())[
                0
            ]
            if not ready:
                if trace:
                    break  # it has stopped writing
                continue
            try:
                data = os.read(self.trace_r, 1 << 16)
            except BlockingIOError:
                continue
            if not data:
                break
            trace += data
        marker = f'File "{job.path}", line '
        for text in trace.decode("utf-8", "replace").splitlines():
            text = text.strip()
            if text.startswith(marker):
                number = text[len(marker) :].split(" ", 1)[0]
                if number.isdigit() and int(number) > 0:
                    return int(number)
        return 1

    def _crashed(self) -> None:
        status = self.status or 0
        if os.WIFSIGNALED(status):
            number = os.WTERMSIG(status)
            try:
                name = signal.Signals(number).name
            except ValueError:
                name = f"signal {number}"
            how = f"was killed by {name}"
        else:
            how = f"ended the process (exit status {os.waitstatus_to_exitcode(status)})"
        self.outcome.problems.append(
            Problem(self._job().path, 1, f"plugin file {how} while loading")
        )

    def _kill(self) -> None:
        if self.status is None:
            with contextlib.suppress(OSError):
                os.kill(self.pid, signal.SIGKILL)
            self._reap(block=True)

    def stop(self) -> None:
        """However the watch ended (an interrupt too): no child left behind."""
        self._kill()


# --- the child ------------------------------------------------------------------------------


def _child(jobs: list[ImportJob], known_files: list[str], pipes: _Pipes) -> None:
    """Import the jobs, send what they registered, and exit: never returns."""
    child = _Child(jobs, known_files, pipes)
    try:
        child.run()
    except BaseException as exc:  # reported by the parent, at the file it was loading
        with contextlib.suppress(BaseException):  # else the parent sees a child that ended early
            child.send({"broken": f"loading the plugins failed: {exception_text(exc)}"})
    _exit(0)


class _Child:
    def __init__(self, jobs: list[ImportJob], known_files: list[str], pipes: _Pipes) -> None:
        self.jobs = jobs
        self.known = {os.path.abspath(p) for p in known_files}
        self.pipes = pipes

    def send(self, message: dict[str, Any]) -> None:
        self._flush()  # what the plugin printed comes before the message that follows it
        data = (_dumps(message, ensure_ascii=True) + "\n").encode("ascii")
        while data:
            data = data[_write(self.pipes.messages, data) :]
        if "start" in message and not _read(self.pipes.acks, 1):
            _exit(0)  # the parent is gone

    def _flush(self) -> None:
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(BaseException):  # a plugin may have replaced the streams
                stream.flush()

    def run(self) -> None:
        self._isolate()
        api, connectors = (sys.modules[name] for name in RUNTIME_MODULES)
        api.PLUGIN_STEPS.clear()
        api.install_api_modules()
        builtin = {(id(k), id(v)) for k, v in connectors.CONNECTOR_TYPES.items()}
        keep: list[Any] = []  # the registered objects, alive so that their ids stay theirs
        origin: dict[tuple[str, int, int], int] = (
            {}
        )  # ("step"|"connector", id(key), id(class)) -> job
        on_path: str | None = None
        for index, job in enumerate(self.jobs):
            self.send({"start": index})
            if job.root != on_path:
                if on_path is not None and on_path in sys.path:
                    sys.path.remove(on_path)
                sys.path.insert(0, job.root)
                on_path = job.root
            self._import(job)
            for what, table in (
                ("step", _table(api, "PLUGIN_STEPS")),
                ("connector", _table(connectors, "CONNECTOR_TYPES")),
            ):
                for key, cls in table:
                    keep.append((key, cls))
                    origin.setdefault((what, id(key), id(cls)), index)
        registered = []
        for key, cls in _table(api, "PLUGIN_STEPS"):
            index = origin.get(("step", id(key), id(cls)), len(self.jobs) - 1)
            self.send({"start": index, "phase": "read"})
            entry = self._step(key, cls, self.jobs[index])
            if entry is not None:
                registered.append(entry)
        for key, cls in _table(connectors, "CONNECTOR_TYPES"):
            if (id(key), id(cls)) in builtin:
                continue
            index = origin.get(("connector", id(key), id(cls)), len(self.jobs) - 1)
            self.send({"start": index, "phase": "read"})
            entry = self._connector(key, cls, self.jobs[index])
            if entry is not None:
                registered.append(entry)
        self.send({"registered": registered})
        self.send({"done": True})

    def _isolate(self) -> None:
        """stdin from /dev/null, stdout and stderr (the descriptors and the Python streams)
        into the output pipe, and the faulthandler on SIGUSR1 for the time limit."""
        import faulthandler

        devnull = os.open(os.devnull, os.O_RDONLY)
        os.dup2(devnull, 0)
        os.close(devnull)
        os.dup2(self.pipes.output, 1)
        os.dup2(self.pipes.output, 2)
        os.close(self.pipes.output)
        streams = []
        for fd in (1, 2):
            streams.append(
                io.TextIOWrapper(
                    io.FileIO(fd, "w", closefd=False),
                    encoding="utf-8",
                    errors="backslashreplace",
                    line_buffering=True,
                )
            )
        # sys.__stdout__ and the others write to the descriptors, which lead to the pipes now.
        sys.stdin = io.TextIOWrapper(io.FileIO(0, "r", closefd=False), encoding="utf-8")
        sys.stdout, sys.stderr = streams
        self.trace = os.fdopen(self.pipes.trace, "w")
        faulthandler.register(signal.SIGUSR1, file=self.trace, all_threads=True, chain=False)
        signal.signal(signal.SIGINT, signal.SIG_DFL)  # Ctrl-C ends the child; the parent reports it
        sys.dont_write_bytecode = True  # leave the plugin directories as they are

    def _import(self, job: ImportJob) -> None:
        import traceback

        try:
            spec = importlib.util.spec_from_file_location(
                "aetherflow_plugin_" + job.module.replace(".", "_"), job.path
            )
            if spec is None or spec.loader is None:
                raise ImportError(f"cannot load {job.path}")
            module = importlib.util.module_from_spec(spec)
            sys.modules[spec.name] = module  # so that classes can be traced back to their file
            spec.loader.exec_module(module)
        except BaseException as exc:  # a plugin that fails to import is reported
            line = 1
            try:
                for frame in reversed(traceback.extract_tb(exc.__traceback__)):
                    if os.path.abspath(frame.filename) == job.path:
                        line = frame.lineno or 1
                        break
                if (
                    isinstance(exc, SyntaxError)
                    and isinstance(exc.filename, str)
                    and os.path.abspath(exc.filename) == job.path
                    and isinstance(exc.lineno, int)
                ):
                    line = exc.lineno
            except BaseException:
                pass
            self.send(
                {
                    "problem": {
                        "file": job.path,
                        "line": max(1, int(line)),
                        "kind": "import",
                        "message": f"plugin failed to import: {exception_text(exc)}",
                    }
                }
            )

    def _where(self, cls: Any, job: ImportJob) -> tuple[str, str, int]:
        """(class name, file, line) of a registered class: where it is defined when that is
        a plugin file, else the file that registered it."""
        name = _attempt(lambda: cls.__name__, None)
        if not isinstance(name, str):
            name = _attempt(lambda: type(cls).__name__, "object")
        module = _attempt(lambda: sys.modules.get(cls.__module__), None)
        path = _attempt(lambda: os.path.abspath(module.__file__), None)
        if isinstance(path, str) and path in self.known:
            line = _attempt(lambda: inspect.getsourcelines(cls)[1], 1)
            return str(name), path, line if isinstance(line, int) and line > 0 else 1
        return str(name), job.path, 1

    def _step(self, key: Any, cls: Any, job: ImportJob) -> dict[str, Any] | None:
        name, path, line = self._where(cls, job)
        if not isinstance(key, str):
            self._problem(
                path,
                line,
                f"register_step: a step type name must be a string, not {python_value(key)} "
                f"(class {name})",
            )
            return None
        label = f"plugin step type {key}"
        entry: dict[str, Any] = {
            "what": "step",
            "key": [str(key)],
            "class": name,
            "file": path,
            "line": line,
        }
        schema = _attempt(lambda: getattr(cls, "input_schema", None), _FAILED)
        required = _attempt(lambda: getattr(cls, "required_inputs", ()), _FAILED)
        outputs = _attempt(lambda: getattr(cls, "outputs", None), _FAILED)
        if _FAILED in (schema, required, outputs):
            self._problem(path, line, f"{label}: its class attributes cannot be read")
            return None
        if schema is not None:
            try:
                entry["input_schema"] = _loads(_dumps(schema, allow_nan=False))
            except BaseException as exc:
                self._problem(
                    path, line, f"{label}: input_schema is not JSON data ({exception_text(exc)})"
                )
                return None
        names = _names(required, mapping_keys=True)
        if names is None:
            self._problem(
                path,
                line,
                f"{label}: required_inputs must be a set of input names (strings), not "
                f"{python_value(required)}",
            )
            return None
        entry["required_inputs"] = sorted(names)
        if isinstance(outputs, (set, frozenset, list, tuple)):
            keys = _names(outputs)
            if keys is None:
                self._problem(
                    path,
                    line,
                    f"{label}: outputs must be a set of result keys (strings), not "
                    f"{python_value(outputs)}",
                )
                return None
            entry["outputs"] = sorted(keys)
        return entry

    def _connector(self, key: Any, cls: Any, job: ImportJob) -> dict[str, Any] | None:
        name, path, line = self._where(cls, job)
        if not (
            isinstance(key, tuple) and len(key) == 2 and all(isinstance(part, str) for part in key)
        ):
            self._problem(
                path,
                line,
                "register_connector: a connector's kind and driver must be strings, not "
                f"{python_value(key)} (class {name})",
            )
            return None
        return {
            "what": "connector",
            "key": [str(key[0]), str(key[1])],
            "class": name,
            "file": path,
            "line": line,
        }

    def _problem(self, path: str, line: int, message: str) -> None:
        self.send({"problem": {"file": path, "line": line, "message": message, "kind": "registry"}})


_FAILED = object()


def _attempt(function: Any, default: Any) -> Any:
    try:
        return function()
    except BaseException:  # whatever a plugin's objects raise
        return default


def _table(module: Any, name: str) -> list[tuple[Any, Any]]:
    """The (key, class) pairs of a registry dict, however a plugin left it."""
    value = getattr(module, name, None)
    if not isinstance(value, dict):
        return []
    return list(dict.items(value))


def _names(value: Any, mapping_keys: bool = False) -> list[str] | None:
    """The strings of a set, frozenset, list or tuple (a dict's keys with `mapping_keys`;
    None counts as empty); None when it is anything else or holds anything else."""
    if value is None:
        return []
    if mapping_keys and isinstance(value, dict):
        value = list(value)
    if not isinstance(value, (set, frozenset, list, tuple)):
        return None
    items = list(value)
    if not all(isinstance(item, str) for item in items):
        return None
    return [str(item) for item in items]


def python_value(value: Any, limit: int = 60) -> str:
    """A short description of a Python value for a message, whatever its repr does."""
    kind = _attempt(lambda: type(value).__name__, "object")
    text = _attempt(lambda: repr(value), None)
    if not isinstance(text, str):
        return f"a {kind}"
    if len(text) > limit:
        text = text[: limit - 3] + "..."
    return text if value is None or isinstance(value, bool) else f"{kind} {text}"


def exception_text(exc: BaseException, limit: int = 2000) -> str:
    """`Type: message` of an exception, whatever its __str__ does."""
    name = _attempt(lambda: type(exc).__name__, "exception")
    text = _attempt(lambda: str(exc), None)
    if not isinstance(text, str):
        text = "<str() of the exception failed>"
    if len(text) > limit:
        text = text[: limit - 3] + "..."
    return f"{name}: {text}"
