"""external.process: run a program with timeouts, retries, log modes and output checks.

Differences from the engine, all deliberate: the child runs in its own process group and a
timeout signals the whole group; captured output is read to the end (no reader threads
racing the exit); log mode `file` reopens the file for each attempt.
"""

from __future__ import annotations

import os
import select
import selectors
import signal
import subprocess
import time

from .. import TYPE_CHECKING
from ..errors import StepError
from ..results import SKIPPED, StepResult, as_list, to_bool, to_float, to_int

if TYPE_CHECKING:  # names for annotations only: importing typing slows every start
    from typing import Any, Dict, List, Optional, Tuple

    from ..runner import StepContext

_LOG_MODES = ("inherit", "capture", "file", "discard")
# After the child exits, wait this long for pipes that a background grandchild keeps open.
_PIPE_GRACE_SECONDS = 5.0


def run_external_process(ctx: StepContext, inputs: Dict[str, Any]) -> Any:
    command = inputs.get("command")
    if isinstance(command, list):
        argv = [str(x) for x in command]
    elif isinstance(command, str):
        argv = [command]  # one argv element, never split
    else:
        raise StepError("external.process inputs.command must be a string or a list")
    args = inputs.get("args")
    if args is not None:
        if not isinstance(args, list):
            raise StepError("external.process inputs.args must be a list")
        argv.extend(str(x) for x in args)
    shell = to_bool(inputs.get("shell", False), "shell")

    cwd = inputs.get("cwd")
    cwd_path = ctx.resolve_path(cwd) if cwd else None

    env = (
        dict(ctx.env) if to_bool(inputs.get("inherit_env", True), "inherit_env") else {}
    )
    env.setdefault("AETHERFLOW_FLOW_ID", ctx.flow_id)
    env.setdefault("AETHERFLOW_RUN_ID", ctx.run_id)
    step_env = inputs.get("env") or {}
    if not isinstance(step_env, dict):
        raise StepError("external.process inputs.env must be a mapping")
    for key, value in step_env.items():
        env[str(key)] = "" if value is None else str(value)

    raw_timeout = inputs.get("timeout_seconds")
    timeout = (
        to_float(raw_timeout, "timeout_seconds") if raw_timeout is not None else None
    )
    kill_grace = to_int(inputs.get("kill_grace_seconds", 15), "kill_grace_seconds")

    log_cfg = inputs.get("log") or {}
    modes = []
    for stream in ("stdout", "stderr"):
        mode = str(log_cfg.get(stream) or "inherit").lower()
        if mode not in _LOG_MODES:
            raise StepError("unknown log mode %r for %s" % (mode, stream))
        modes.append(mode)
    stdout_mode, stderr_mode = modes
    max_capture = (
        to_int(log_cfg.get("max_capture_kb", 1024), "log.max_capture_kb") * 1024
    )
    file_path = log_cfg.get("file_path")
    log_file = ctx.resolve_path(file_path) if file_path else None
    if "file" in modes and not log_file:
        raise StepError("log.file_path is required when stdout/stderr mode is 'file'")

    idem = inputs.get("idempotency") or {}
    strategy = str(idem.get("strategy") or "none").lower()
    success = inputs.get("success") or {}
    exit_codes = [
        to_int(x, "success.exit_codes") for x in as_list(success.get("exit_codes"))
    ] or [0]

    if strategy == "marker":
        marker = idem.get("marker_path") or success.get("marker_file")
        if marker:
            marker_path = ctx.resolve_path(marker)
            if os.path.exists(marker_path) and _check_success(ctx, success)[0]:
                return StepResult(
                    SKIPPED,
                    {"skipped": True, "marker": marker_path},
                    reason="marker_present",
                )

    temp_dir = final_dir = None
    if strategy == "atomic_dir":
        if not idem.get("temp_output_dir") or not idem.get("final_output_dir"):
            raise StepError("atomic_dir requires temp_output_dir and final_output_dir")
        temp_dir = ctx.resolve_path(idem["temp_output_dir"])
        final_dir = ctx.resolve_path(idem["final_output_dir"])
        if os.path.exists(temp_dir):  # a stale temp dir from a crashed try
            import shutil

            shutil.rmtree(temp_dir, ignore_errors=True)
        os.makedirs(temp_dir, exist_ok=True)
        env.setdefault("AETHERFLOW_OUTPUT_DIR", temp_dir)

    retry = inputs.get("retry") or {}
    max_attempts = to_int(retry.get("max_attempts", 1), "retry.max_attempts")
    if max_attempts < 1:  # the engine makes no attempt at all and fails the step
        raise StepError(
            "external.process retry.max_attempts is %d: the command is never run"
            % max_attempts
        )
    backoff = to_float(retry.get("backoff_seconds", 0) or 0, "retry.backoff_seconds")
    multiplier = to_float(
        retry.get("backoff_multiplier", 1.0) or 1.0, "retry.backoff_multiplier"
    )
    max_backoff = to_float(
        retry.get("max_backoff_seconds", 0) or 0, "retry.max_backoff_seconds"
    )
    retry_codes = [
        to_int(x, "retry.retry_on_exit_codes")
        for x in as_list(retry.get("retry_on_exit_codes"))
    ]
    retry_on_timeout = to_bool(
        retry.get("retry_on_timeout", False), "retry.retry_on_timeout"
    )

    popen_args: Any = argv
    if shell:
        import shlex  # only here: the shell joins argv into one command line

        popen_args = " ".join(shlex.quote(x) for x in argv)
    last_error = "external_process_failed"
    for attempt in range(1, max_attempts + 1):
        if attempt > 1 and backoff > 0:
            delay = backoff * (multiplier ** (attempt - 2))
            if max_backoff and delay > max_backoff:
                delay = max_backoff
            ctx.sleep(delay)
        ctx.log.event(
            "process_start",
            "DEBUG",
            job_id=ctx.job_id,
            step_id=ctx.step_id,
            attempt=attempt,
        )
        rc, timed_out, out, err = _run_once(
            ctx,
            popen_args,
            shell,
            cwd_path,
            env,
            stdout_mode,
            stderr_mode,
            log_file,
            max_capture,
            timeout,
            kill_grace,
        )
        if timed_out:
            last_error = "timeout"
            ctx.log.error(
                "process_timeout",
                job_id=ctx.job_id,
                step_id=ctx.step_id,
                attempt=attempt,
            )
            if retry_on_timeout and attempt < max_attempts:
                continue
            raise StepError("external.process timed out after %ss" % _seconds(timeout))
        if rc not in exit_codes:
            last_error = "exit_code:%s" % rc
            ctx.log.error(
                "process_exit",
                job_id=ctx.job_id,
                step_id=ctx.step_id,
                attempt=attempt,
                exit_code=rc,
            )
            if rc in retry_codes and attempt < max_attempts:
                continue
            detail = "\n" + err if err else ""
            raise StepError(
                "external.process failed with exit code %s%s" % (rc, detail)
            )

        if temp_dir is not None and final_dir is not None:
            _finalize_atomic_dir(
                temp_dir,
                final_dir,
                to_bool(idem.get("atomic_rename", True), "atomic_rename"),
            )
        ok, reason = _check_success(ctx, success)
        if not ok:
            raise StepError("external.process outputs invalid: %s" % reason)

        result: Dict[str, Any] = {"exit_code": rc, "attempts": attempt}
        if stdout_mode == "capture":
            result["stdout"] = out
        if stderr_mode == "capture":
            result["stderr"] = err
        if log_file and "file" in modes:
            result["log_file"] = log_file
        for key, value in (inputs.get("outputs") or {}).items():
            result[str(key)] = value
        return result
    raise StepError(last_error)


def _seconds(value: Optional[float]) -> str:
    return ("%g" % value) if value is not None else "?"


def _finalize_atomic_dir(temp_dir: str, final_dir: str, rename: bool) -> None:
    import shutil

    if rename:
        if os.path.exists(final_dir):
            shutil.rmtree(final_dir, ignore_errors=True)
        os.replace(temp_dir, final_dir)
        return
    os.makedirs(final_dir, exist_ok=True)
    for name in sorted(os.listdir(temp_dir)):
        shutil.move(os.path.join(temp_dir, name), os.path.join(final_dir, name))
    shutil.rmtree(temp_dir, ignore_errors=True)


def _check_success(
    ctx: StepContext, spec: Dict[str, Any]
) -> Tuple[bool, Optional[str]]:
    required = [str(x) for x in as_list(spec.get("require_files"))]
    globs = [str(x) for x in as_list(spec.get("require_glob"))]
    forbidden = [str(x) for x in as_list(spec.get("forbid_files"))]
    if spec.get("marker_file"):
        required.append(str(spec["marker_file"]))
    for path in required:
        if not os.path.exists(ctx.resolve_path(path)):
            return False, "missing_required_file:%s" % path
    for pattern in globs:
        if not _glob_matches(ctx.resolve_path(pattern)):
            return False, "missing_required_glob:%s" % pattern
    for path in forbidden:
        if os.path.exists(ctx.resolve_path(path)):
            return False, "forbidden_file_present:%s" % path
    return True, None


def _glob_matches(resolved: str) -> bool:
    """Like the engine's Path(parent).glob(name): the pattern applies to the last part only
    and `*` matches names starting with a dot too."""
    import fnmatch

    parent, name = os.path.split(resolved)
    if not os.path.isdir(parent):
        return False
    return any(fnmatch.fnmatchcase(entry, name) for entry in os.listdir(parent))


def _exit_fd(pid: int) -> Optional[int]:
    """A descriptor that becomes readable when child `pid` exits (Linux pidfd), so waiting
    needs no polling; None where the platform has none."""
    pidfd_open = getattr(os, "pidfd_open", None)  # Python 3.9+, Linux 5.3+
    if pidfd_open is None:
        return None
    try:
        return int(pidfd_open(pid))
    except OSError:
        return None


def _signal_group(proc: "subprocess.Popen[bytes]", sig: int) -> None:
    try:
        os.killpg(proc.pid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def _wait_renewing(ctx: StepContext, pid: int) -> None:
    """Until child `pid` exits (it is not reaped), renewing the run's locks."""
    exit_fd = _exit_fd(pid)
    if exit_fd is None:  # a kernel before 5.3: look every 10 ms
        flags = os.WEXITED | os.WNOHANG | os.WNOWAIT  # look, do not reap
        while os.waitid(os.P_PID, pid, flags) is None:
            time.sleep(0.01)
            ctx.heartbeat()
        return
    try:
        waiter = select.poll()
        waiter.register(exit_fd, select.POLLIN)
        while not waiter.poll(500):
            ctx.heartbeat()
    finally:
        os.close(exit_fd)


# What subprocess resets in a child: Python ignores SIGPIPE and SIGXFSZ for itself.
_DEFAULT_IN_CHILD = tuple(
    getattr(signal, name)
    for name in ("SIGPIPE", "SIGXFZ", "SIGXFSZ")
    if hasattr(signal, name)
)


# (program, PATH) -> where it was found; checked again (one access call) at each use.
_FOUND = {}  # type: Dict[Tuple[str, str], str]


def _executable(program: str, env: Dict[str, str]) -> str:
    """Where subprocess would find `program`: as given when it names a path, else in the
    PATH of the child's environment (the first folder with an executable file of that
    name). A run looks each program up once, not at every step."""
    if os.sep in program:
        return program
    key = (program, env.get("PATH", ""))
    known = _FOUND.get(key)
    if known is not None and os.access(known, os.X_OK):
        return known
    for folder in os.get_exec_path(env):
        path = os.path.join(folder, program)
        if os.path.isfile(path) and os.access(path, os.X_OK):
            _FOUND[key] = path
            return path
    raise StepError("cannot start %r: No such file or directory" % program)


def _spawn_and_wait(
    ctx: StepContext,
    argv: List[str],
    env: Dict[str, str],
    stdout_mode: str,
    stderr_mode: str,
    handle: Any,
) -> Optional[Tuple[Optional[int], bool, str, str]]:
    """The common step (no timeout, no capture): one posix_spawn (vfork) and a wait, where
    Popen would also build a selector and the child's fd table. Same child as Popen's:
    its own session, default SIGPIPE, the same PATH lookup; a signal to the runner kills
    the child's group. While the run holds locks, the wait wakes every 0.5 s to renew
    them (a pidfd, else a look every 10 ms). None where the platform cannot: no
    posix_spawn, or a libc without POSIX_SPAWN_SETSID."""
    renew = ctx.holds_locks()
    if not hasattr(os, "posix_spawn") or (renew and not hasattr(os, "waitid")):
        return None
    actions: List[Tuple[Any, ...]] = []
    for fd, mode in ((1, stdout_mode), (2, stderr_mode)):
        if mode == "discard":
            actions.append((os.POSIX_SPAWN_OPEN, fd, os.devnull, os.O_WRONLY, 0))
        elif mode == "file":
            actions.append((os.POSIX_SPAWN_DUP2, handle.fileno(), fd))
    try:
        pid = os.posix_spawn(
            _executable(argv[0], env),
            argv,
            env,
            file_actions=actions,
            setsid=True,
            setsigdef=_DEFAULT_IN_CHILD,
        )
    except NotImplementedError:  # no POSIX_SPAWN_SETSID in this libc
        return None
    except OSError as exc:
        raise StepError(
            "cannot start %r: %s" % (argv[0], exc.strerror or exc)
        ) from None
    status: Optional[int] = None
    try:
        if renew:
            _wait_renewing(ctx, pid)
        _, status = os.waitpid(pid, 0)
    finally:
        if status is None:  # interrupted (SIGTERM to the runner): stop its group
            try:
                os.killpg(pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
            os.waitpid(pid, 0)
    if os.WIFSIGNALED(status):
        return -os.WTERMSIG(status), False, "", ""
    return os.WEXITSTATUS(status), False, "", ""


def _run_once(
    ctx: StepContext,
    popen_args: Any,
    shell: bool,
    cwd: Optional[str],
    env: Dict[str, str],
    stdout_mode: str,
    stderr_mode: str,
    log_file: Optional[str],
    max_capture: int,
    timeout: Optional[float],
    kill_grace: int,
) -> Tuple[Optional[int], bool, str, str]:
    """One attempt: (exit code, timed out, captured stdout, captured stderr)."""
    handle = None
    if "file" in (stdout_mode, stderr_mode) and log_file:
        try:
            os.makedirs(os.path.dirname(log_file), exist_ok=True)
            handle = open(log_file, "ab")
        except OSError as exc:  # a directory in the way, a read-only file system
            raise StepError(
                "cannot open log.file_path %s: %s" % (log_file, exc.strerror or exc)
            ) from None
    if (
        timeout is None
        and not shell
        and cwd is None
        and "capture" not in (stdout_mode, stderr_mode)
    ):
        try:
            done = _spawn_and_wait(
                ctx, popen_args, env, stdout_mode, stderr_mode, handle
            )
        except BaseException:
            if handle is not None:
                handle.close()
            raise
        if done is not None:
            if handle is not None:
                handle.close()
            return done

    def target(mode: str) -> Any:
        return {
            "discard": subprocess.DEVNULL,
            "capture": subprocess.PIPE,
            "file": handle,
        }.get(mode)

    try:
        proc = subprocess.Popen(
            popen_args,
            shell=shell,
            cwd=cwd,
            env=env,
            stdout=target(stdout_mode),
            stderr=target(stderr_mode),
            start_new_session=True,
        )
    except OSError as exc:
        if handle is not None:
            handle.close()
        raise StepError(
            "cannot start %r: %s"
            % (popen_args if shell else popen_args[0], exc.strerror or exc)
        ) from None

    captured: Dict[int, bytearray] = {}
    # The fd of the stdout and of the stderr pipe; None for a stream that is not captured.
    streams: List[Optional[int]] = []
    selector = selectors.DefaultSelector()
    for pipe in (proc.stdout, proc.stderr):
        streams.append(pipe.fileno() if pipe is not None else None)
        if pipe is not None:
            captured[pipe.fileno()] = bytearray()
            selector.register(pipe, selectors.EVENT_READ)
    exit_fd = _exit_fd(proc.pid)
    if exit_fd is not None:
        selector.register(exit_fd, selectors.EVENT_READ)
    deadline = time.monotonic() + timeout if timeout is not None else None
    timed_out = False
    term_sent_at: Optional[float] = None
    exited_at: Optional[float] = None
    try:
        while True:
            now = time.monotonic()
            if exited_at is None and proc.poll() is not None:
                exited_at = now
                if exit_fd is not None:
                    selector.unregister(exit_fd)
            open_pipes = [fd for fd in selector.get_map() if fd != exit_fd]
            if exited_at is not None and (
                not open_pipes or now - exited_at > _PIPE_GRACE_SECONDS
            ):
                if open_pipes:
                    ctx.log.warning(
                        "process_pipe_open",
                        job_id=ctx.job_id,
                        step_id=ctx.step_id,
                        detail="a background process keeps the output pipe open; "
                        "capture stops",
                    )
                break
            if exited_at is None and deadline is not None and now >= deadline:
                if not timed_out:
                    timed_out = True
                    term_sent_at = now
                    _signal_group(proc, signal.SIGTERM)
                elif term_sent_at is not None and now - term_sent_at >= kill_grace:
                    _signal_group(proc, signal.SIGKILL)
                    term_sent_at = now  # keep waiting for the kill to land
            wait = 0.5
            if deadline is not None and not timed_out:
                wait = max(0.0, min(wait, deadline - now))
            if selector.get_map():
                for key, _ in selector.select(wait):
                    if key.fd == exit_fd:
                        continue  # the child exited: the next turn collects it
                    chunk = os.read(key.fd, 65536)
                    if not chunk:
                        selector.unregister(key.fileobj)
                        continue
                    buf = captured[key.fd]
                    if len(buf) < max_capture:
                        buf.extend(chunk[: max_capture - len(buf)])
            elif exited_at is None:
                try:
                    proc.wait(timeout=wait)
                except subprocess.TimeoutExpired:
                    pass
            ctx.heartbeat()
        if timed_out and exited_at is not None:
            _signal_group(proc, signal.SIGKILL)  # stragglers left in the group
    finally:
        if proc.poll() is None:
            _signal_group(proc, signal.SIGKILL)
            proc.wait()
        selector.close()
        if exit_fd is not None:
            os.close(exit_fd)
        for pipe in (proc.stdout, proc.stderr):
            if pipe is not None:
                pipe.close()
        if handle is not None:
            handle.close()
    texts = [
        captured[fd].decode("utf-8", errors="replace") if fd is not None else ""
        for fd in streams
    ]
    return proc.returncode, timed_out, texts[0], texts[1]
