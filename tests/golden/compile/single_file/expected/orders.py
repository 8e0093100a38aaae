#!/usr/bin/env python3
# Compiled by aetherflow-compiler 0.1.0 from orders.yaml
# (source sha256 28ec70f9488bed77374c2b744d95f3b1d65eb90d73f1abab9640b4cd25bf9140).
# Do not edit: change the YAML and compile again.
#
#   python3 orders.py run [--run-id ID | --resume] [--job ID]... [--env-file F]... [--keep-going]
#   python3 orders.py plan | check-env | status [--run-id ID] [--json] | --version
#
# Exit codes: 0 no job failed, 1 a job failed, 2 usage or configuration error,
# 3 a flow or job lock is held by another run.
from __future__ import annotations

import sys

# ======== aetherflow_runtime "0.1.0", inlined (--single-file) ========

# ---- aetherflow_runtime/__init__.py ----
"""aetherflow_runtime: the runtime vendored next to compiled AetherFlow flows.

Standard library only, CPython 3.8+. Generated flow scripts import it; it never imports
the compiler. Modules import each other only with one-line `from .x import ...`
statements, so that `aetherflow compile --single-file` can inline the whole runtime into
one script.
"""

import os
import sys

RUNTIME_VERSION = "0.1.0"


def new_sha256():  # type: ignore[no-untyped-def]
    """A sha256 object without importing hashlib and OpenSSL (a few ms of every start)."""
    try:
        from _sha256 import sha256  # CPython 3.8 to 3.11
    except ImportError:
        try:
            from _sha2 import sha256  # CPython 3.12 and later
        except ImportError:
            from hashlib import sha256
    return sha256()


def runtime_sha256(folder: str) -> str:
    """Hash of a vendored runtime: every *.py file name and content, in sorted order."""
    digest = new_sha256()
    for name in sorted(os.listdir(folder)):
        if name.endswith(".py"):
            with open(os.path.join(folder, name), "rb") as fh:
                digest.update(name.encode("utf-8") + b"\0" + fh.read() + b"\0")
    return digest.hexdigest()


def verify_runtime(version: str, sha256: str) -> None:
    """Refuse to run next to a runtime other than the one the flow was compiled with."""
    folder = os.path.dirname(os.path.abspath(__file__))
    found = runtime_sha256(folder)
    if version != RUNTIME_VERSION or sha256 != found:
        sys.stderr.write(
            "error: the runtime in %s does not match this flow script\n"
            "  expected runtime %s sha256 %s\n"
            "  found    runtime %s sha256 %s\n"
            "  deploy the compiled directory as a whole (flow scripts with aetherflow_runtime/),\n"
            "  or compile again with `aetherflow compile`.\n"
            % (folder, version, sha256, RUNTIME_VERSION, found)
        )
        sys.exit(2)


# ---- aetherflow_runtime/errors.py ----
"""Errors the runtime raises, grouped by the exit code they lead to."""


class ConfigError(Exception):
    """Usage or configuration problem (missing env, bad env file, bad argument): exit 2."""


class LockHeld(Exception):
    """A flow or job lock is held by another run: exit 3."""


class StepError(Exception):
    """A step failed; its job is FAILED (exit 1)."""


class TemplateError(StepError):
    """A template could not be rendered (syntax or missing key)."""


class TemplateSyntaxError(TemplateError):
    pass


class MissingKeyError(TemplateError):
    def __init__(self, path: str) -> None:
        super().__init__(f"missing template key '{path}' (no default given)")
        self.path = path

    @property
    def is_env(self) -> bool:
        return self.path == "env" or self.path.startswith("env.")


class WhenError(Exception):
    """A `when` expression cannot be evaluated: the run stops (exit 1)."""


# ---- aetherflow_runtime/templating.py ----
"""Rendering templates that the compiler already parsed.

A standalone token is a `Ref` and renders to the typed value it points at; text with
tokens is a `Text` and renders to a string. Plain strings were decided at compile time to
hold no template and are used as they are. Nothing here parses template syntax.
"""


from collections.abc import Mapping

if False:  # names for annotations only: importing typing slows every start
    from typing import Any, Dict, List, Optional, Tuple


UNSUPPORTED_TEMPLATE = "Unsupported templating syntax. Use {{VAR}} or {{VAR:DEFAULT}}"
_FORBIDDEN_IN_RESULT = ("${", "{%", "%}", "{#", "#}", "{}")


class Ref:
    """`{{path}}` or `{{path:default}}`: `path` is dotted, `default` None when absent."""

    __slots__ = ("path", "parts", "default")

    def __init__(self, path: str, default: Optional[str] = None) -> None:
        self.path = path
        self.parts = tuple(path.split("."))
        self.default = default

    def source(self) -> str:
        if self.default is None:
            return "{{" + self.path + "}}"
        return "{{" + self.path + ":" + self.default + "}}"

    def __repr__(self) -> str:
        return "Ref(%r, default=%r)" % (self.path, self.default)


class Text:
    """Text with tokens, rendered to a string (`str(value)` per token)."""

    __slots__ = ("pieces",)

    def __init__(self, *pieces: Any) -> None:
        self.pieces = pieces  # str and Ref, in order

    def source(self) -> str:
        return "".join(p.source() if isinstance(p, Ref) else p for p in self.pieces)

    def __repr__(self) -> str:
        return "Text(%s)" % ", ".join(repr(p) for p in self.pieces)


def lookup(context: Dict[str, Any], ref: Ref) -> Tuple[bool, Any]:
    cur: Any = context
    for part in ref.parts:
        if isinstance(cur, Mapping) and part in cur:
            cur = cur[part]
        else:
            return False, None
    return True, cur


def resolve_ref(context: Dict[str, Any], ref: Ref) -> Any:
    """The typed value of a standalone token; "" counts as missing."""
    found, value = lookup(context, ref)
    if not found or (isinstance(value, str) and value == ""):
        if ref.default is not None:
            return ref.default
        raise MissingKeyError(ref.path)
    return value


def render_text(context: Dict[str, Any], text: Text) -> str:
    out: List[str] = []
    for piece in text.pieces:
        if isinstance(piece, Ref):
            found, value = lookup(context, piece)
            if not found or (isinstance(value, str) and value == ""):
                if piece.default is None:
                    raise MissingKeyError(piece.path)
                out.append(piece.default)
            else:
                out.append(str(value))
        else:
            out.append(piece)
    rendered = "".join(out)
    for pattern in _FORBIDDEN_IN_RESULT:
        if pattern in rendered:
            raise TemplateSyntaxError(
                "%s\nthe rendered value of %r contains %r"
                % (UNSUPPORTED_TEMPLATE, text.source(), pattern)
            )
    return rendered


def render(value: Any, context: Dict[str, Any]) -> Any:
    """Render every Ref and Text inside nested dicts, lists and tuples."""
    if isinstance(value, Ref):
        return resolve_ref(context, value)
    if isinstance(value, Text):
        return render_text(context, value)
    if isinstance(value, dict):
        return {k: render(v, context) for k, v in value.items()}
    if isinstance(value, list):
        return [render(v, context) for v in value]
    if isinstance(value, tuple):
        return tuple(render(v, context) for v in value)
    return value


def show(value: Any) -> Any:
    """The value with templates shown as their source text (for `plan`)."""
    if isinstance(value, (Ref, Text)):
        return value.source()
    if isinstance(value, dict):
        return {k: show(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [show(v) for v in value]
    return value


def env_refs(value: Any) -> List[Ref]:
    """Every `env.*` token inside a value."""
    found: List[Ref] = []
    if isinstance(value, Ref):
        if value.parts[0] == "env":
            found.append(value)
    elif isinstance(value, Text):
        for piece in value.pieces:
            found.extend(env_refs(piece))
    elif isinstance(value, dict):
        for v in value.values():
            found.extend(env_refs(v))
    elif isinstance(value, (list, tuple)):
        for v in value:
            found.extend(env_refs(v))
    return found


# ---- aetherflow_runtime/environment.py ----
"""The run's immutable env snapshot: os.environ, then env files (later files win).

Env files come from AETHERFLOW_ENV_FILES_JSON (a JSON list of {type, path, optional,
prefix}) and then from --env-file options. os.environ itself is never changed.
"""


import json
import os

if False:  # names for annotations only: importing typing slows every start
    from typing import Dict, List, Mapping


class EnvFile:
    __slots__ = ("type", "path", "optional", "prefix")

    def __init__(
        self, type: str, path: str, optional: bool = False, prefix: str = ""
    ) -> None:
        self.type = type
        self.path = path
        self.optional = optional
        self.prefix = prefix


def env_files_from_json(raw: str) -> List[EnvFile]:
    try:
        items = json.loads(raw)
    except ValueError as exc:
        raise ConfigError(
            "AETHERFLOW_ENV_FILES_JSON is not valid JSON: %s" % exc
        ) from None
    if not isinstance(items, list):
        raise ConfigError(
            "AETHERFLOW_ENV_FILES_JSON must be a JSON list of env file specs"
        )
    out = []
    for item in items:
        if not isinstance(item, dict):
            raise ConfigError(
                "AETHERFLOW_ENV_FILES_JSON: every entry must be an object"
            )
        out.append(
            EnvFile(
                str(item.get("type") or ""),
                str(item.get("path") or ""),
                bool(item.get("optional", False)),
                str(item.get("prefix") or ""),
            )
        )
    return out


def env_file_from_option(path: str) -> EnvFile:
    """--env-file PATH: a directory is a dir of files, *.json is json, anything else dotenv."""
    if os.path.isdir(path):
        return EnvFile("dir", path)
    if path.endswith(".json"):
        return EnvFile("json", path)
    return EnvFile("dotenv", path)


def _read_dotenv(path: str) -> Dict[str, str]:
    out: Dict[str, str] = {}
    with open(path, encoding="utf-8") as fh:
        for raw in fh.read().splitlines():
            line = raw.strip()
            if not line or line.startswith("#") or "=" not in line:
                continue
            key, value = line.split("=", 1)
            key, value = key.strip(), value.strip()
            if (value.startswith('"') and value.endswith('"')) or (
                value.startswith("'") and value.endswith("'")
            ):
                value = value[1:-1]
            if key:
                out[key] = value
    return out


def _read_json_env(path: str) -> Dict[str, str]:
    with open(path, encoding="utf-8") as fh:
        obj = json.load(fh)
    if not isinstance(obj, dict):
        raise ConfigError(
            "env file %s: a json env file must hold one JSON object" % path
        )
    out: Dict[str, str] = {}
    for key, value in obj.items():
        if value is None:
            continue
        out[str(key)] = (
            json.dumps(value, ensure_ascii=False)
            if isinstance(value, (dict, list))
            else str(value)
        )
    return out


def _read_dir_env(path: str) -> Dict[str, str]:
    if not os.path.isdir(path):
        raise ConfigError("env file %s: type dir needs a directory" % path)
    out: Dict[str, str] = {}
    for name in sorted(os.listdir(path)):
        full = os.path.join(path, name)
        if os.path.isfile(full):
            with open(full, encoding="utf-8") as fh:
                out[name] = fh.read().rstrip("\n")
    return out


_READERS = {
    "dotenv": _read_dotenv,
    "json": _read_json_env,
    "dir": _read_dir_env,
    "directory": _read_dir_env,
    "dir-of-files": _read_dir_env,
}


def load_env_files(specs: List[EnvFile]) -> Dict[str, str]:
    merged: Dict[str, str] = {}
    for spec in specs:
        kind = spec.type.strip().lower()
        reader = _READERS.get(kind)
        if reader is None:
            raise ConfigError(
                "env file %s: unsupported type %r (use dotenv, json or dir)"
                % (spec.path, spec.type)
            )
        if not os.path.exists(spec.path):
            if spec.optional:
                continue
            raise ConfigError("env file not found: %s" % spec.path)
        try:
            data = reader(spec.path)
        except (OSError, ValueError) as exc:
            raise ConfigError(
                "env file %s cannot be read: %s" % (spec.path, exc)
            ) from None
        for key, value in data.items():
            merged[spec.prefix + key] = value
    return merged


def build_snapshot(
    environ: Mapping[str, str], extra_files: List[EnvFile]
) -> Dict[str, str]:
    """os.environ, then AETHERFLOW_ENV_FILES_JSON files, then --env-file files."""
    snapshot = {str(k): str(v) for k, v in environ.items()}
    specs: List[EnvFile] = []
    raw = snapshot.get("AETHERFLOW_ENV_FILES_JSON")
    if raw:
        specs.extend(env_files_from_json(raw))
    specs.extend(extra_files)
    snapshot.update(load_env_files(specs))
    return snapshot


# ---- aetherflow_runtime/logs.py ----
"""Run events on stderr: `text` for people, `json` (one object per line) for machines."""


import json
import sys
import time

if False:  # names for annotations only: importing typing slows every start
    from typing import Any, Dict, Optional, TextIO

LEVELS = {"DEBUG": 10, "INFO": 20, "WARNING": 30, "ERROR": 40}
_EVENT_KEYS = ("flow_id", "run_id", "job_id", "step_id", "status", "duration_ms")


class EventLog:
    def __init__(
        self,
        flow_id: str,
        fmt: str = "text",
        level: str = "INFO",
        stream: Optional[TextIO] = None,
    ) -> None:
        self.flow_id = flow_id
        self.run_id = ""
        self.fmt = fmt
        self.threshold = LEVELS.get(level.upper(), 20)
        self.stream = stream if stream is not None else sys.stderr

    def event(self, event: str, level: str = "INFO", **fields: Any) -> None:
        if LEVELS.get(level, 20) < self.threshold:
            return
        now_ms = int(time.time() * 1000)
        if self.fmt == "json":
            payload: Dict[str, Any] = {"event": event, "ts_ms": now_ms, "level": level}
            for key in _EVENT_KEYS:
                payload[key] = fields.pop(key, None)
            payload["flow_id"] = payload["flow_id"] or self.flow_id
            payload["run_id"] = payload["run_id"] or self.run_id or None
            payload.update(fields)
            line = json.dumps(payload, ensure_ascii=False, default=str)
        else:
            stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now_ms / 1000.0))
            parts = ["%s.%03dZ %-7s %s" % (stamp, now_ms % 1000, level, event)]
            for key, value in fields.items():
                if value is None:
                    continue
                parts.append("%s=%s" % (key, _printable(str(value))))
            line = " ".join(parts)
        try:
            self.stream.write(line + "\n")
            self.stream.flush()
        except (OSError, ValueError):
            pass  # a closed stderr must not fail the run

    def info(self, event: str, **fields: Any) -> None:
        self.event(event, "INFO", **fields)

    def warning(self, event: str, **fields: Any) -> None:
        self.event(event, "WARNING", **fields)

    def error(self, event: str, **fields: Any) -> None:
        self.event(event, "ERROR", **fields)


def _printable(text: str) -> str:
    """One log line per event: line breaks and other control characters are escaped."""
    if text.isprintable():
        return text
    return "".join(ch if ch.isprintable() else repr(ch)[1:-1] for ch in text)


# ---- aetherflow_runtime/results.py ----
"""What a step returns, and strict conversions of rendered input values."""


if False:  # names for annotations only: importing typing slows every start
    from typing import Any, Dict, List, Optional


SUCCESS = "SUCCESS"
SKIPPED = "SKIPPED"
FAILED = "FAILED"


class StepResult:
    """A step outcome: SUCCESS or SKIPPED ("no data") with its output mapping."""

    __slots__ = ("status", "output", "reason")

    def __init__(
        self,
        status: str = SUCCESS,
        output: Optional[Dict[str, Any]] = None,
        reason: Optional[str] = None,
    ) -> None:
        self.status = status
        self.output = output
        self.reason = reason

    def as_output(self) -> Dict[str, Any]:
        out = dict(self.output or {})
        if self.reason:
            out.setdefault("reason", self.reason)
        return out


def to_int(value: Any, name: str) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        raise StepError("input %s must be an integer, got %r" % (name, value)) from None


def to_float(value: Any, name: str) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        raise StepError("input %s must be a number, got %r" % (name, value)) from None


_TRUE = ("true", "yes", "on", "1")
_FALSE = ("false", "no", "off", "0", "")


def to_bool(value: Any, name: str) -> bool:
    """Booleans as written; a templated string is read by its meaning, not by bool():
    "false" is false here (the engine's bool("false") is true)."""
    if isinstance(value, str):
        word = value.strip().lower()
        if word in _TRUE:
            return True
        if word in _FALSE:
            return False
        raise StepError("input %s must be true or false, got %r" % (name, value))
    return bool(value)


def as_list(value: Any) -> List[Any]:
    if value is None:
        return []
    if isinstance(value, list):
        return value
    return [value]


# ---- aetherflow_runtime/state.py ----
"""The state store: job and step statuses, step results, job outputs, runs and locks.

Two backends with one interface:
- `SqliteState`: the engine's tables (job_runs, step_runs, locks) so existing ops queries
  keep working, plus af_runs, af_step_results and af_job_outputs. One connection per run,
  WAL journal, every write one transaction.
- `FileState`: the same information as JSON files, each written to a temp file and renamed.
"""


import json
import os
import time

if False:  # names for annotations only: importing typing slows every start
    from typing import Any, Dict, List, Optional, Tuple


# (status, result, promoted job outputs) of a step
StepRow = "Tuple[str, Dict[str, Any], Dict[str, Any]]"
# (status, outputs, skip_reason) of a job
JobRow = "Tuple[str, Dict[str, Any], Optional[str]]"


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, sort_keys=False, default=str)


def _loads(text: Optional[str]) -> Dict[str, Any]:
    if not text:
        return {}
    value = json.loads(text)
    return value if isinstance(value, dict) else {}


def open_state(backend: str, path: str) -> Any:
    if backend == "file":
        try:
            return FileState(path)
        except OSError as exc:
            raise ConfigError(
                "cannot open the file state store at %s: %s" % (path, exc)
            ) from None
    import sqlite3  # only flows with SQLite state pay for the import

    try:
        return SqliteState(path)
    except (OSError, sqlite3.Error) as exc:
        raise ConfigError(
            "cannot open the sqlite state store at %s: %s" % (path, exc)
        ) from None


class SqliteState:
    def __init__(self, path: str) -> None:
        self.path = path
        parent = os.path.dirname(os.path.abspath(path))
        os.makedirs(parent, exist_ok=True)
        import sqlite3

        self.conn = sqlite3.connect(path, timeout=30, isolation_level=None)
        # Switching a new database to WAL can fail at once with "database is locked" when
        # other runs open it at the same moment (the busy timeout does not always apply).
        deadline = time.monotonic() + 30
        while True:
            try:
                self.conn.execute("PRAGMA journal_mode=WAL")
                break
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) or time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        self.conn.execute("PRAGMA synchronous=NORMAL")
        with self._tx() as c:
            c.execute(
                "CREATE TABLE IF NOT EXISTS job_runs(job_id TEXT NOT NULL, run_id TEXT NOT NULL,"
                " status TEXT NOT NULL, updated_at INTEGER NOT NULL, PRIMARY KEY(job_id, run_id))"
            )
            c.execute(
                "CREATE TABLE IF NOT EXISTS step_runs(job_id TEXT NOT NULL, run_id TEXT NOT NULL,"
                " step_id TEXT NOT NULL, status TEXT NOT NULL, updated_at INTEGER NOT NULL,"
                " PRIMARY KEY(job_id, run_id, step_id))"
            )
            c.execute(
                "CREATE TABLE IF NOT EXISTS locks(key TEXT PRIMARY KEY, owner TEXT NOT NULL,"
                " expires_at INTEGER NOT NULL)"
            )
            c.execute(
                "CREATE TABLE IF NOT EXISTS af_runs(run_id TEXT PRIMARY KEY, flow_id TEXT NOT NULL,"
                " status TEXT NOT NULL, started_at INTEGER NOT NULL, updated_at INTEGER NOT NULL)"
            )
            c.execute(
                "CREATE TABLE IF NOT EXISTS af_step_results(job_id TEXT NOT NULL, run_id TEXT NOT NULL,"
                " step_id TEXT NOT NULL, result_json TEXT NOT NULL, promoted_json TEXT NOT NULL,"
                " PRIMARY KEY(job_id, run_id, step_id))"
            )
            c.execute(
                "CREATE TABLE IF NOT EXISTS af_job_outputs(job_id TEXT NOT NULL, run_id TEXT NOT NULL,"
                " outputs_json TEXT NOT NULL, skip_reason TEXT, PRIMARY KEY(job_id, run_id))"
            )

    def _tx(self) -> "_Transaction":
        return _Transaction(self.conn)

    def close(self) -> None:
        self.conn.close()

    # -- runs ------------------------------------------------------------------------
    def start_run(self, run_id: str, flow_id: str) -> None:
        now = int(time.time())
        with self._tx() as c:
            # INSERT OR IGNORE + UPDATE rather than an upsert: SQLite before 3.24 has none.
            c.execute(
                "INSERT OR IGNORE INTO af_runs(run_id, flow_id, status, started_at, updated_at)"
                " VALUES (?,?,?,?,?)",
                (run_id, flow_id, "RUNNING", now, now),
            )
            c.execute(
                "UPDATE af_runs SET status=?, updated_at=? WHERE run_id=?",
                ("RUNNING", now, run_id),
            )

    def finish_run(self, run_id: str, status: str) -> None:
        with self._tx() as c:
            c.execute(
                "UPDATE af_runs SET status=?, updated_at=? WHERE run_id=?",
                (status, int(time.time()), run_id),
            )

    def latest_run(self, flow_id: str) -> Optional[Tuple[str, str]]:
        row = self.conn.execute(
            "SELECT run_id, status FROM af_runs WHERE flow_id=? ORDER BY rowid DESC LIMIT 1",
            (flow_id,),
        ).fetchone()
        return (row[0], row[1]) if row else None

    def run_status(self, run_id: str) -> Optional[str]:
        row = self.conn.execute(
            "SELECT status FROM af_runs WHERE run_id=?", (run_id,)
        ).fetchone()
        return row[0] if row else None

    def run_flow(self, run_id: str) -> Optional[str]:
        row = self.conn.execute(
            "SELECT flow_id FROM af_runs WHERE run_id=?", (run_id,)
        ).fetchone()
        return row[0] if row else None

    # -- jobs and steps ------------------------------------------------------------------
    def set_job(
        self,
        job_id: str,
        run_id: str,
        status: str,
        outputs: Optional[Dict[str, Any]] = None,
        skip_reason: Optional[str] = None,
    ) -> None:
        now = int(time.time())
        with self._tx() as c:
            c.execute(
                "INSERT OR REPLACE INTO job_runs(job_id, run_id, status, updated_at) VALUES (?,?,?,?)",
                (job_id, run_id, status, now),
            )
            c.execute(
                "INSERT OR REPLACE INTO af_job_outputs(job_id, run_id, outputs_json, skip_reason)"
                " VALUES (?,?,?,?)",
                (job_id, run_id, _dumps(outputs or {}), skip_reason),
            )

    def set_step(
        self,
        job_id: str,
        run_id: str,
        step_id: str,
        status: str,
        result: Optional[Dict[str, Any]] = None,
        promoted: Optional[Dict[str, Any]] = None,
    ) -> None:
        now = int(time.time())
        with self._tx() as c:
            c.execute(
                "INSERT OR REPLACE INTO step_runs(job_id, run_id, step_id, status, updated_at)"
                " VALUES (?,?,?,?,?)",
                (job_id, run_id, step_id, status, now),
            )
            c.execute(
                "INSERT OR REPLACE INTO af_step_results(job_id, run_id, step_id, result_json, promoted_json)"
                " VALUES (?,?,?,?,?)",
                (job_id, run_id, step_id, _dumps(result or {}), _dumps(promoted or {})),
            )

    def job_steps(self, job_id: str, run_id: str) -> Dict[str, StepRow]:
        """Every recorded step of one job in one run: step id -> (status, result, promoted)."""
        rows = self.conn.execute(
            "SELECT s.step_id, s.status, r.result_json, r.promoted_json FROM step_runs s"
            " LEFT JOIN af_step_results r"
            " ON r.job_id=s.job_id AND r.run_id=s.run_id AND r.step_id=s.step_id"
            " WHERE s.job_id=? AND s.run_id=?",
            (job_id, run_id),
        ).fetchall()
        return {r[0]: (r[1], _loads(r[2]), _loads(r[3])) for r in rows}

    def jobs(self, run_id: str) -> Dict[str, JobRow]:
        rows = self.conn.execute(
            "SELECT j.job_id, j.status, o.outputs_json, o.skip_reason FROM job_runs j LEFT JOIN af_job_outputs o"
            " ON o.job_id=j.job_id AND o.run_id=j.run_id WHERE j.run_id=?",
            (run_id,),
        ).fetchall()
        return {r[0]: (r[1], _loads(r[2]), r[3]) for r in rows}

    def steps(self, run_id: str) -> Dict[Tuple[str, str], str]:
        rows = self.conn.execute(
            "SELECT job_id, step_id, status FROM step_runs WHERE run_id=?", (run_id,)
        ).fetchall()
        return {(r[0], r[1]): r[2] for r in rows}

    # -- locks ---------------------------------------------------------------------------
    def acquire_lock(self, key: str, owner: str, ttl_seconds: int) -> bool:
        now = int(time.time())
        with self._tx() as c:
            c.execute("DELETE FROM locks WHERE expires_at <= ?", (now,))
            row = c.execute("SELECT owner FROM locks WHERE key=?", (key,)).fetchone()
            if row and row[0] != owner:
                return False
            c.execute(
                "INSERT OR REPLACE INTO locks(key, owner, expires_at) VALUES (?,?,?)",
                (key, owner, now + int(ttl_seconds)),
            )
            return True

    def renew_lock(self, key: str, owner: str, ttl_seconds: int) -> None:
        with self._tx() as c:
            c.execute(
                "UPDATE locks SET expires_at=? WHERE key=? AND owner=?",
                (int(time.time()) + int(ttl_seconds), key, owner),
            )

    def release_lock(self, key: str, owner: str) -> None:
        with self._tx() as c:
            c.execute("DELETE FROM locks WHERE key=? AND owner=?", (key, owner))


class _Transaction:
    """BEGIN IMMEDIATE ... COMMIT (ROLLBACK on error) on an autocommit connection."""

    def __init__(self, conn: Any) -> None:
        self.conn = conn

    def __enter__(self) -> Any:
        self.conn.execute("BEGIN IMMEDIATE")
        return self.conn

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        self.conn.execute("ROLLBACK" if exc_type else "COMMIT")


class FileState:
    """Files under one directory; every write is a temp file renamed into place."""

    def __init__(self, path: str) -> None:
        self.path = path
        os.makedirs(os.path.join(path, "runs"), exist_ok=True)
        os.makedirs(os.path.join(path, "locks"), exist_ok=True)

    def close(self) -> None:
        pass

    def _write(self, path: str, data: Dict[str, Any]) -> None:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        tmp = "%s.%d.tmp" % (path, os.getpid())
        with open(tmp, "w", encoding="utf-8") as fh:
            fh.write(_dumps(data))
        os.replace(tmp, path)

    def _read(self, path: str) -> Optional[Dict[str, Any]]:
        try:
            with open(path, encoding="utf-8") as fh:
                return _loads(fh.read())
        except (OSError, ValueError):
            return None

    def _run_dir(self, run_id: str) -> str:
        return os.path.join(self.path, "runs", run_id)

    # -- runs ------------------------------------------------------------------------
    def start_run(self, run_id: str, flow_id: str) -> None:
        path = os.path.join(self._run_dir(run_id), "run.json")
        data = self._read(path) or {"flow_id": flow_id, "started_ns": time.time_ns()}
        data.update({"status": "RUNNING", "updated_at": int(time.time())})
        self._write(path, data)

    def finish_run(self, run_id: str, status: str) -> None:
        path = os.path.join(self._run_dir(run_id), "run.json")
        data = self._read(path) or {}
        data.update({"status": status, "updated_at": int(time.time())})
        self._write(path, data)

    def latest_run(self, flow_id: str) -> Optional[Tuple[str, str]]:
        best: Optional[Tuple[int, str, str]] = None
        root = os.path.join(self.path, "runs")
        for run_id in os.listdir(root):
            data = self._read(os.path.join(root, run_id, "run.json"))
            if not data or data.get("flow_id") != flow_id:
                continue
            key = (int(data.get("started_ns", 0)), run_id, str(data.get("status")))
            if best is None or key > best:
                best = key
        return (best[1], best[2]) if best else None

    def run_status(self, run_id: str) -> Optional[str]:
        data = self._read(os.path.join(self._run_dir(run_id), "run.json"))
        return str(data["status"]) if data and "status" in data else None

    def run_flow(self, run_id: str) -> Optional[str]:
        data = self._read(os.path.join(self._run_dir(run_id), "run.json"))
        return str(data["flow_id"]) if data and "flow_id" in data else None

    # -- jobs and steps ------------------------------------------------------------------
    def set_job(
        self,
        job_id: str,
        run_id: str,
        status: str,
        outputs: Optional[Dict[str, Any]] = None,
        skip_reason: Optional[str] = None,
    ) -> None:
        self._write(
            os.path.join(self._run_dir(run_id), "jobs", job_id + ".json"),
            {
                "status": status,
                "updated_at": int(time.time()),
                "outputs": outputs or {},
                "skip_reason": skip_reason,
            },
        )

    def set_step(
        self,
        job_id: str,
        run_id: str,
        step_id: str,
        status: str,
        result: Optional[Dict[str, Any]] = None,
        promoted: Optional[Dict[str, Any]] = None,
    ) -> None:
        self._write(
            os.path.join(self._run_dir(run_id), "steps", job_id, step_id + ".json"),
            {
                "status": status,
                "updated_at": int(time.time()),
                "result": result or {},
                "promoted": promoted or {},
            },
        )

    def job_steps(self, job_id: str, run_id: str) -> Dict[str, StepRow]:
        out: Dict[str, StepRow] = {}
        folder = os.path.join(self._run_dir(run_id), "steps", job_id)
        for name in os.listdir(folder) if os.path.isdir(folder) else []:
            data = (
                self._read(os.path.join(folder, name))
                if name.endswith(".json")
                else None
            )
            if data:
                out[name[:-5]] = (
                    str(data.get("status")),
                    dict(data.get("result") or {}),
                    dict(data.get("promoted") or {}),
                )
        return out

    def jobs(self, run_id: str) -> Dict[str, JobRow]:
        out: Dict[str, JobRow] = {}
        folder = os.path.join(self._run_dir(run_id), "jobs")
        if os.path.isdir(folder):
            for name in os.listdir(folder):
                if name.endswith(".json"):
                    data = self._read(os.path.join(folder, name))
                    if data:
                        out[name[:-5]] = (
                            str(data.get("status")),
                            dict(data.get("outputs") or {}),
                            data.get("skip_reason"),
                        )
        return out

    def steps(self, run_id: str) -> Dict[Tuple[str, str], str]:
        out: Dict[Tuple[str, str], str] = {}
        folder = os.path.join(self._run_dir(run_id), "steps")
        if os.path.isdir(folder):
            for job_id in os.listdir(folder):
                for name in os.listdir(os.path.join(folder, job_id)):
                    if name.endswith(".json"):
                        data = self._read(os.path.join(folder, job_id, name))
                        if data:
                            out[(job_id, name[:-5])] = str(data.get("status"))
        return out

    # -- locks ---------------------------------------------------------------------------
    def _lock_path(self, key: str) -> str:
        return os.path.join(
            self.path,
            "locks",
            _key_digest(key) + ".json",
        )

    def _mutex(self) -> "_FileMutex":
        return _FileMutex(os.path.join(self.path, "locks", ".mutex"))

    def acquire_lock(self, key: str, owner: str, ttl_seconds: int) -> bool:
        path = self._lock_path(key)
        now = int(time.time())
        with self._mutex():
            held = self._read(path)
            if (
                held
                and int(held.get("expires_at", 0)) > now
                and held.get("owner") != owner
            ):
                return False
            self._write(
                path, {"key": key, "owner": owner, "expires_at": now + int(ttl_seconds)}
            )
            return True

    def renew_lock(self, key: str, owner: str, ttl_seconds: int) -> None:
        path = self._lock_path(key)
        with self._mutex():
            held = self._read(path)
            if held and held.get("owner") == owner:
                self._write(
                    path,
                    {
                        "key": key,
                        "owner": owner,
                        "expires_at": int(time.time()) + int(ttl_seconds),
                    },
                )

    def release_lock(self, key: str, owner: str) -> None:
        path = self._lock_path(key)
        with self._mutex():
            held = self._read(path)
            if held and held.get("owner") == owner:
                os.remove(path)

    def lock_rows(self) -> List[Dict[str, Any]]:
        folder = os.path.join(self.path, "locks")
        rows = [
            self._read(os.path.join(folder, n))
            for n in sorted(os.listdir(folder))
            if n.endswith(".json")
        ]
        return [r for r in rows if r]


def _key_digest(key: str) -> str:
    digest = new_sha256()
    digest.update(key.encode("utf-8"))
    return str(digest.hexdigest())


class _FileMutex:
    """An exclusive flock held only while a lock file is examined and replaced.

    The kernel drops it when its holder dies, so a killed run never blocks others here;
    the lock *files* it guards carry the TTL semantics.
    """

    def __init__(self, path: str) -> None:
        self.path = path
        self.fd = -1

    def __enter__(self) -> "_FileMutex":
        import fcntl

        self.fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        fcntl.flock(self.fd, fcntl.LOCK_EX)
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        import fcntl

        fcntl.flock(self.fd, fcntl.LOCK_UN)
        os.close(self.fd)


# ---- aetherflow_runtime/workspace.py ----
"""Job workspaces `<root>/<flow_id>/<job_id>/<run_id>/` and the path sandbox."""


import os

if False:  # names for annotations only: importing typing slows every start
    from typing import Dict, List


class Workspace:
    def __init__(
        self,
        root: str,
        flow_id: str,
        run_id: str,
        layout: Dict[str, str],
        cleanup_policy: str,
        sandbox: bool = True,
    ) -> None:
        self.root = root
        self.flow_id = flow_id
        self.run_id = run_id
        self.layout = layout
        self.cleanup_policy = cleanup_policy
        self.sandbox = sandbox

    def job_dir(self, job_id: str) -> str:
        return os.path.join(self.root, self.flow_id, job_id, self.run_id)

    def artifacts_dir(self, job_id: str) -> str:
        return os.path.join(self.job_dir(job_id), self.layout["artifacts"])

    def scratch_dir(self, job_id: str) -> str:
        return os.path.join(self.job_dir(job_id), self.layout["scratch"])

    def manifests_dir(self, job_id: str) -> str:
        return os.path.join(self.job_dir(job_id), self.layout["manifests"])

    def prepare(self, job_id: str) -> None:
        """Create the job dir and the layout's three subdirectories."""
        for path in (
            self.artifacts_dir(job_id),
            self.scratch_dir(job_id),
            self.manifests_dir(job_id),
        ):
            os.makedirs(path, exist_ok=True)

    def cleanup(self, job_id: str, succeeded: bool) -> None:
        """on_success: after SUCCESS or a no-data SKIPPED job; always: after any outcome."""
        if self.cleanup_policy == "always" or (
            self.cleanup_policy == "on_success" and succeeded
        ):
            import shutil  # imported when needed: start-up time matters

            shutil.rmtree(self.job_dir(job_id), ignore_errors=True)

    def resolve(self, job_id: str, path: str) -> str:
        """A step's path: relative to the job's artifacts dir; absolute only inside the
        workspace root or the artifacts dir (unless AETHERFLOW_STRICT_SANDBOX is false).
        """
        artifacts = os.path.realpath(self.artifacts_dir(job_id))
        raw = str(path)
        candidate = os.path.realpath(
            raw if os.path.isabs(raw) else os.path.join(artifacts, raw)
        )
        if not self.sandbox:
            return candidate
        roots: List[str] = []
        for root in (os.path.realpath(self.root), artifacts):
            if os.path.exists(root) and root not in roots:
                roots.append(root)
        for root in roots:
            if candidate == root or candidate.startswith(root.rstrip(os.sep) + os.sep):
                return candidate
        raise StepError(
            "path %r is outside the sandbox (allowed roots: %s)"
            % (raw, ", ".join(roots))
        )


# ---- aetherflow_runtime/connectors.py ----
"""Connectors: one client object per resource and run, created on first use, closed at
the end of the run. Connector classes register themselves by (kind, driver); plugins
written for the engine register theirs the same way through aetherflow.core.api."""


if False:  # names for annotations only: importing typing slows every start
    from typing import Any, Dict, List, Optional, Tuple

CONNECTOR_TYPES: Dict[Tuple[str, str], Any] = {}


class ConnectorError(StepError):
    """A connector could not do its work (a missing driver package, a failed request)."""


class ConnectorInit:
    """What a connector is built from: the engine passes ONE such object positionally."""

    def __init__(
        self,
        name: str,
        kind: str,
        driver: str,
        config: Dict[str, Any],
        options: Dict[str, Any],
        ctx: Any = None,
    ) -> None:
        self.name = name
        self.kind = kind
        self.driver = driver
        self.config = config
        self.options = options
        self.ctx = ctx


class ConnectorBase:
    """Base class for connectors: keeps the init fields, closes quietly."""

    def __init__(self, init: ConnectorInit) -> None:
        self.name = init.name
        self.kind = init.kind
        self.driver = init.driver
        self.config = dict(init.config or {})
        self.options = dict(init.options or {})
        self.ctx = init.ctx

    def close(self) -> None:
        pass

    def __enter__(self) -> Any:
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        self.close()


def register_connector(kind: str, driver: str) -> Any:
    def decorate(cls: Any) -> Any:
        CONNECTOR_TYPES[(kind, driver)] = cls
        return cls

    return decorate


def require_package(module: str, package: str, driver: str) -> Any:
    """Import an optional driver package, or fail naming the package to install."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError:
        raise ConnectorError(
            "driver %s needs the Python package '%s' on this host (pip install %s)"
            % (driver, package, package)
        ) from None


def remote_file(
    path: str, name: str, is_dir: bool, size: Any, mtime: Any, rel_path: Any = None
) -> Dict[str, Any]:
    """The engine's RemoteFileMeta, as a plain mapping (it is stored as JSON)."""
    return {
        "rel_path": rel_path,
        "path": path,
        "name": name,
        "is_dir": is_dir,
        "size": size,
        "mtime": mtime,
    }


class Connectors:
    """ctx.connectors: `connectors["name"]`, `connectors.db("name")`, `connectors.get(kind=, name=)`."""

    def __init__(self, resources: Dict[str, Dict[str, Any]], ctx: Any = None) -> None:
        self.resources = resources
        self.ctx = ctx
        self._open: Dict[str, Any] = {}

    def get(
        self, *, kind: Optional[str] = None, name: str, cache: Optional[str] = None
    ) -> Any:
        if name not in self.resources:
            raise ConnectorError(
                "unknown resource %r (resources: %s)"
                % (name, ", ".join(sorted(self.resources)))
            )
        resource = self.resources[name]
        if kind is not None and resource["kind"] != kind:
            raise ConnectorError(
                "resource %r is of kind %s, not %s" % (name, resource["kind"], kind)
            )
        if name in self._open and cache != "none":
            return self._open[name]
        cls = CONNECTOR_TYPES.get((resource["kind"], resource["driver"]))
        if cls is None:
            raise ConnectorError(
                "no connector %s:%s is compiled into this artifact"
                % (resource["kind"], resource["driver"])
            )
        init = ConnectorInit(
            name,
            resource["kind"],
            resource["driver"],
            resource["config"],
            resource["options"],
            self.ctx,
        )
        connector = cls(init)
        if cache != "none":
            self._open[name] = connector
        return connector

    def __getitem__(self, name: str) -> Any:
        return self.get(name=name)

    def __contains__(self, name: object) -> bool:
        return name in self.resources

    def db(self, name: str, **kwargs: Any) -> Any:
        return self.get(kind="db", name=name, **kwargs)

    def mail(self, name: str, **kwargs: Any) -> Any:
        return self.get(kind="mail", name=name, **kwargs)

    def archive(self, name: str, **kwargs: Any) -> Any:
        return self.get(kind="archive", name=name, **kwargs)

    def sftp(self, name: str, **kwargs: Any) -> Any:
        return self.get(kind="sftp", name=name, **kwargs)

    def smb(self, name: str, **kwargs: Any) -> Any:
        return self.get(kind="smb", name=name, **kwargs)

    def rest(self, name: str, **kwargs: Any) -> Any:
        return self.get(kind="rest", name=name, **kwargs)

    def close_all(self) -> List[str]:
        """Close every connector opened in this run; names of those whose close failed."""
        failed = []
        for name, connector in list(self._open.items()):
            try:
                connector.close()
            except Exception:
                failed.append(name)
        self._open.clear()
        return failed


# ---- aetherflow_runtime/secrets_provider.py ----
"""The secrets provider: a module with decode(str) -> str and, optionally,
expand_env(dict) -> dict. AETHERFLOW_SECRETS_MODULE (an importable module) wins over
AETHERFLOW_SECRETS_PATH (a Python file).

Errors name the provider and the exception type but never the value being decoded or
the exception's message, which could hold it.
"""


import os

if False:  # names for annotations only: importing typing slows every start
    from typing import Any, Callable, Dict, Mapping, Optional


class SecretsProvider:
    def __init__(
        self,
        origin: str,
        decode: Callable[[str], str],
        expand_env: Optional[Callable[..., Any]],
    ) -> None:
        self.origin = origin
        self._decode = decode
        self._expand_env = expand_env

    def decode(self, value: str, where: str) -> str:
        try:
            decoded = self._decode(value)
        except Exception as exc:  # the message could echo the secret
            raise ConfigError(
                "secrets provider %s: decode failed for %s (%s)"
                % (self.origin, where, type(exc).__name__)
            ) from None
        if not isinstance(decoded, str):
            raise ConfigError(
                "secrets provider %s: decode returned %s for %s, not a string"
                % (self.origin, type(decoded).__name__, where)
            )
        return decoded

    def expand(self, env: Dict[str, str]) -> Dict[str, str]:
        if self._expand_env is None:
            return env
        try:
            expanded = self._expand_env(dict(env))
        except Exception as exc:
            raise ConfigError(
                "secrets provider %s: expand_env failed (%s)"
                % (self.origin, type(exc).__name__)
            ) from None
        if not isinstance(expanded, dict):
            raise ConfigError(
                "secrets provider %s: expand_env must return a dict" % self.origin
            )
        return {str(k): str(v) for k, v in expanded.items()}


def load_secrets_provider(env: Mapping[str, str]) -> Optional[SecretsProvider]:
    module_name = env.get("AETHERFLOW_SECRETS_MODULE", "")
    path = env.get("AETHERFLOW_SECRETS_PATH", "")
    if not module_name and not path:
        return None
    import importlib
    import importlib.util

    if module_name:
        origin = "module %s" % module_name
        try:
            module = importlib.import_module(module_name)
        except Exception as exc:
            raise ConfigError(
                "cannot import the secrets module %s (AETHERFLOW_SECRETS_MODULE): %s; with `python3 -I` "
                "PYTHONPATH is ignored, so point AETHERFLOW_SECRETS_PATH at the file instead"
                % (module_name, type(exc).__name__)
            ) from None
    else:
        origin = "file %s" % path
        full = os.path.abspath(os.path.expanduser(path))
        spec = importlib.util.spec_from_file_location(
            "aetherflow_secrets_provider", full
        )
        if spec is None or spec.loader is None or not os.path.isfile(full):
            raise ConfigError(
                "the secrets file %s (AETHERFLOW_SECRETS_PATH) does not exist" % full
            )
        module = importlib.util.module_from_spec(spec)
        try:
            spec.loader.exec_module(module)
        except Exception as exc:
            raise ConfigError(
                "cannot load the secrets file %s: %s" % (full, type(exc).__name__)
            ) from None
    decode = getattr(module, "decode", None)
    if not callable(decode):
        raise ConfigError(
            "the secrets provider %s has no decode(value) function" % origin
        )
    expand_env = getattr(module, "expand_env", None)
    return SecretsProvider(origin, decode, expand_env if callable(expand_env) else None)


# ---- aetherflow_runtime/resources.py ----
"""Resources: connection settings resolved at the start of a run.

The compiler has already merged profiles given with `--profiles`; a resource whose
profile was not known then is overlaid from AETHERFLOW_PROFILES_JSON at run time. Then
templates (env only) are rendered and `decode` paths go through the secrets provider.
"""


import json

if False:  # names for annotations only: importing typing slows every start
    from typing import Any, Dict, List, Mapping, Optional, Tuple


class Resource:
    """A resource as compiled: config and options may hold env templates."""

    def __init__(
        self,
        kind: str,
        driver: str,
        config: Dict[str, Any],
        options: Dict[str, Any],
        decode: List[Tuple[str, str]] = (),  # type: ignore[assignment]
        profile: Optional[str] = None,
        profile_merged: bool = True,
    ) -> None:
        self.kind = kind
        self.driver = driver
        self.config = config
        self.options = options
        self.decode = [tuple(d) for d in decode]
        self.profile = profile
        self.profile_merged = profile_merged


def deep_merge(base: Dict[str, Any], override: Dict[str, Any]) -> Dict[str, Any]:
    out = dict(base)
    for key, value in override.items():
        if isinstance(out.get(key), dict) and isinstance(value, dict):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = value
    return out


def _runtime_profiles(env: Mapping[str, str]) -> Dict[str, Any]:
    raw = env.get("AETHERFLOW_PROFILES_JSON", "")
    path = env.get("AETHERFLOW_PROFILES_FILE", "")
    if raw and path:
        raise ConfigError(
            "set only one of AETHERFLOW_PROFILES_JSON or AETHERFLOW_PROFILES_FILE"
        )
    if path:
        try:
            with open(path, encoding="utf-8") as fh:
                raw = fh.read()
        except OSError as exc:
            raise ConfigError(
                "cannot read AETHERFLOW_PROFILES_FILE %s: %s" % (path, exc.strerror)
            ) from None
    if not raw:
        return {}
    try:
        data = json.loads(raw)
    except ValueError:
        raise ConfigError(
            "profiles given at run time must be JSON (compiled flows never parse YAML): "
            "compile with --profiles, or give AETHERFLOW_PROFILES_JSON"
        ) from None
    if not isinstance(data, dict):
        raise ConfigError(
            "profiles must be a mapping of profile name to config/options/decode"
        )
    return data


def _templated(value: Any) -> bool:
    if isinstance(value, str):
        return "{{" in value or "}}" in value
    if isinstance(value, dict):
        return any(_templated(v) for v in value.values())
    if isinstance(value, list):
        return any(_templated(v) for v in value)
    return False


def _decode_paths(spec: Any) -> List[Tuple[str, str]]:
    out: List[Tuple[str, str]] = []

    def walk(section: str, node: Any, prefix: str) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                walk(section, value, "%s.%s" % (prefix, key) if prefix else str(key))
        elif node is True and prefix:
            out.append((section, prefix))

    spec = spec if isinstance(spec, dict) else {}
    for section in ("config", "options"):
        walk(section, spec.get(section), "")
    for key, section in (("config_paths", "config"), ("options_paths", "options")):
        for dotted in spec.get(key) or []:
            out.append((section, str(dotted)))
    return out


def resolve_resources(
    resources: Dict[str, Resource], env: Mapping[str, str], provider: Any
) -> Dict[str, Dict[str, Any]]:
    """name -> {"kind", "driver", "config", "options"} with templates rendered and secrets decoded."""
    profiles: Optional[Dict[str, Any]] = None
    out: Dict[str, Dict[str, Any]] = {}
    for name, res in resources.items():
        config, options, decode = res.config, res.options, list(res.decode)
        if res.profile and not res.profile_merged:
            if profiles is None:
                profiles = _runtime_profiles(env)
            profile = profiles.get(res.profile) or {}
            if _templated(profile):
                raise ConfigError(
                    "profile %s holds templates; compile with --profiles so they are checked and parsed"
                    % res.profile
                )
            config = deep_merge(profile.get("config") or {}, config)
            options = deep_merge(profile.get("options") or {}, options)
            decode = _decode_paths(profile.get("decode")) + decode
        try:
            rendered = {
                "config": render(config, {"env": env}),
                "options": render(options, {"env": env}),
            }
        except TemplateError as exc:
            raise ConfigError("resource %s: %s" % (name, exc)) from None
        for section, dotted in decode:
            _decode_in_place(
                rendered[section],
                dotted,
                provider,
                "resources.%s.%s.%s" % (name, section, dotted),
            )
        out[name] = {
            "kind": res.kind,
            "driver": res.driver,
            "config": rendered["config"],
            "options": rendered["options"],
        }
    return out


def _decode_in_place(
    section: Dict[str, Any], dotted: str, provider: Any, where: str
) -> None:
    parts = dotted.split(".")
    node: Any = section
    for part in parts[:-1]:
        if not isinstance(node, dict) or part not in node:
            return
        node = node[part]
    if not isinstance(node, dict) or not isinstance(node.get(parts[-1]), str):
        return  # only strings are decoded (the engine's rule)
    if provider is None:
        raise ConfigError(
            "%s must be decoded but no secrets provider is configured "
            "(set AETHERFLOW_SECRETS_PATH or AETHERFLOW_SECRETS_MODULE)" % where
        )
    node[parts[-1]] = provider.decode(node[parts[-1]], where)


# ---- aetherflow_runtime/plugin_api.py ----
"""The `aetherflow.core.api` that plugins written for the reference engine import.

Step classes are built as Step(step_id, inputs, ctx, job_id) and run with run(); they
return a dict (SUCCESS with that output) or a StepResult. Connector classes are built
with one ConnectorInit. The ctx they get (RunContext) offers what the engine's does.

install_api_modules() makes `import aetherflow.core.api` give this module;
load_plugin_files() then runs the vendored plugin files the way the engine loads them.
"""


import os
import sys

# ConnectorBase, ConnectorError, ConnectorInit, register_connector and StepResult are
# re-exported: plugins import them from here.

if False:  # names for annotations only: importing typing slows every start
    from typing import Any, Dict, List, Set

__all__ = [
    "Step",
    "StepResult",
    "STEP_SUCCESS",
    "STEP_SKIPPED",
    "RunContext",
    "new_run_id",
    "ConnectorBase",
    "ConnectorInit",
    "ConnectorError",
    "register_step",
    "get_step",
    "list_steps",
    "register_connector",
    "get_connector",
    "list_connectors",
    "require",
    "require_attr",
]

STEP_SUCCESS = SUCCESS
STEP_SKIPPED = SKIPPED
PLUGIN_STEPS: Dict[str, Any] = {}


def install_api_modules() -> None:
    """Provide aetherflow, aetherflow.core and aetherflow.core.api (this module)."""
    api = sys.modules[__name__]
    top = type(sys)("aetherflow")
    core = type(sys)("aetherflow.core")
    top.__path__ = []  # packages, so that submodule imports resolve through sys.modules
    core.__path__ = []
    top.core = core
    core.api = api
    sys.modules["aetherflow"] = top
    sys.modules["aetherflow.core"] = core
    sys.modules["aetherflow.core.api"] = api


def load_plugin_files(directory: str, files: List[str]) -> None:
    """Run each plugin file (a path below `directory`), in order, as the engine does:
    under its own module name, with `directory` on sys.path for the files' own imports.
    """
    import importlib.util

    install_api_modules()
    if directory not in sys.path:
        sys.path.insert(0, directory)
    for rel in files:
        parts = rel[: -len(".py")].split("/")
        name = "aetherflow_user_plugin_" + "_".join(parts[-4:])
        spec = importlib.util.spec_from_file_location(
            name, os.path.join(directory, *rel.split("/"))
        )
        if spec is None or spec.loader is None:
            raise ImportError("cannot load plugin file %s" % rel)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)


def require(spec: str) -> Any:
    """Import an optional dependency: "a.b" gives the module, "a.b:c" its attribute c."""
    import importlib

    if ":" in spec:
        module_name, attr = spec.split(":", 1)
        return require_attr(module_name, attr)
    try:
        return importlib.import_module(spec)
    except Exception as exc:
        raise RuntimeError(
            "Optional dependency missing: %s. Install it to use this connector/step."
            % spec
        ) from exc


def require_attr(module_name: str, attr_name: str) -> Any:
    import importlib

    try:
        return getattr(importlib.import_module(module_name), attr_name)
    except Exception as exc:
        raise RuntimeError(
            "Optional dependency missing: Module %s Attribute %s. "
            "Install it to use this connector/step." % (module_name, attr_name)
        ) from exc


def register_step(name: str) -> Any:
    def decorate(cls: Any) -> Any:
        PLUGIN_STEPS[name] = cls
        return cls

    return decorate


def get_step(name: str) -> Any:
    if name not in PLUGIN_STEPS:
        raise KeyError("unknown plugin step type: %s" % name)
    return PLUGIN_STEPS[name]


def list_steps() -> List[str]:
    return sorted(PLUGIN_STEPS)


def get_connector(kind: str, driver: str) -> Any:
    return CONNECTOR_TYPES[(kind, driver)]


def list_connectors() -> List[str]:
    return sorted("%s:%s" % key for key in CONNECTOR_TYPES)


class Step:
    """Base class of plugin steps, as in the engine."""

    required_inputs: Set[str] = set()

    def __init__(
        self, step_id: str, inputs: Dict[str, Any], ctx: Any, job_id: str
    ) -> None:
        self.id = step_id
        self.inputs = inputs
        self.ctx = ctx
        self.job_id = job_id

    def validate(self) -> None:
        missing = sorted(k for k in self.required_inputs if k not in self.inputs)
        if missing:
            raise ValueError("Step %s missing inputs: %s" % (self.id, missing))

    def run(self) -> Any:
        raise NotImplementedError


class _Settings:
    def __init__(self, work_root: str) -> None:
        self.work_root = work_root
        self.log_format = "text"


class RunContext:
    """The ctx a plugin step sees: flow_id, run_id, env, connectors, log, the job's
    directories and locks, like the engine's RunContext."""

    def __init__(self, step_ctx: Any) -> None:
        self._step = step_ctx
        self.flow_id = step_ctx.flow_id
        self.run_id = step_ctx.run_id
        self.env = step_ctx.env
        self.connectors = step_ctx.connectors
        self.resources = step_ctx.connectors.resources
        self.settings = _Settings(step_ctx.run.workspace.root)
        self._log: Any = None

    @property
    def log(self) -> Any:
        """A logging.Logger whose records become the run's events (imported on first use)."""
        if self._log is None:
            self._log = _plugin_logger(self._step)
        return self._log

    def _dir(self, job_id: str, which: str) -> Any:
        from pathlib import Path

        workspace = self._step.run.workspace
        path = (
            workspace.job_dir(job_id)
            if which == "job"
            else os.path.join(workspace.job_dir(job_id), workspace.layout[which])
        )
        os.makedirs(path, exist_ok=True)
        return Path(path)

    def job_dir(self, job_id: str) -> Any:
        return self._dir(job_id, "job")

    def artifacts_dir(self, job_id: str) -> Any:
        return self._dir(job_id, "artifacts")

    def scratch_dir(self, job_id: str) -> Any:
        return self._dir(job_id, "scratch")

    def manifests_dir(self, job_id: str) -> Any:
        return self._dir(job_id, "manifests")

    def acquire_lock(self, key: str, ttl_seconds: int) -> bool:
        return bool(self._step.acquire_lock(str(key), int(ttl_seconds)))

    def release_lock(self, key: str) -> None:
        self._step.release_lock(str(key))


def _plugin_logger(step_ctx: Any) -> Any:
    import logging

    class _ToEvents(logging.Handler):
        def emit(self, record: Any) -> None:
            level = (
                record.levelname
                if record.levelname in ("DEBUG", "INFO", "WARNING", "ERROR")
                else "ERROR"
            )
            step_ctx.log.event(
                "plugin_log",
                level,
                job_id=step_ctx.job_id,
                step_id=step_ctx.step_id,
                message=record.getMessage(),
            )

    logger = logging.getLogger("aetherflow.flow.%s.plugin" % step_ctx.flow_id)
    if not logger.handlers:
        logger.addHandler(_ToEvents())
        logger.setLevel(logging.DEBUG)
        logger.propagate = False
    return logger


def plugin_step(name: str) -> Any:
    """The step class a vendored plugin registered under `name` (for generated code)."""
    return get_step(name)


# ---- aetherflow_runtime/step_check_items.py ----
"""check_items: SUCCESS with has_data when there are at least min_count items, else SKIPPED."""


if False:  # names for annotations only: importing typing slows every start
    from typing import Any, Dict


def run_check_items(ctx: Any, inputs: Dict[str, Any]) -> StepResult:
    if "items" not in inputs:
        raise StepError("check_items needs input 'items'")
    items = inputs.get("items")
    if isinstance(items, str):
        items = [part.strip() for part in items.split(",") if part.strip()]
    if not isinstance(items, list):
        raise StepError(
            "check_items expects 'items' to be a list or a comma-separated string"
        )
    min_count = to_int(inputs.get("min_count", 1), "min_count")
    count = len(items)
    if count < min_count:
        return StepResult(
            SKIPPED,
            {"has_data": False, "count": count},
            reason="count(%d) < min_count(%d)" % (count, min_count),
        )
    return StepResult(SUCCESS, {"has_data": True, "count": count})


# ---- aetherflow_runtime/step_process.py ----
"""external.process: run a program with timeouts, retries, log modes and output checks.

Differences from the engine, all deliberate: the child runs in its own process group and a
timeout signals the whole group; captured output is read to the end (no reader threads
racing the exit); log mode `file` reopens the file for each attempt.
"""


import os
import selectors
import shlex
import signal
import subprocess
import time

if False:  # names for annotations only: importing typing slows every start
    from typing import Any, Dict, List, Optional, Tuple


_LOG_MODES = ("inherit", "capture", "file", "discard")
# After the child exits, wait this long for pipes that a background grandchild keeps open.
_PIPE_GRACE_SECONDS = 5.0


def run_external_process(ctx: Any, inputs: Dict[str, Any]) -> Any:
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

    popen_args: Any = " ".join(shlex.quote(x) for x in argv) if shell else argv
    last_error = "external_process_failed"
    for attempt in range(1, max(max_attempts, 1) + 1):
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


def _check_success(ctx: Any, spec: Dict[str, Any]) -> Tuple[bool, Optional[str]]:
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


def _exit_fd(proc: "subprocess.Popen[bytes]") -> Optional[int]:
    """A descriptor that becomes readable when the child exits (Linux pidfd), so waiting
    needs no polling; None where the platform has none."""
    pidfd_open = getattr(os, "pidfd_open", None)
    if pidfd_open is None:
        return None
    try:
        return int(pidfd_open(proc.pid))
    except OSError:
        return None


def _signal_group(proc: "subprocess.Popen[bytes]", sig: int) -> None:
    try:
        os.killpg(proc.pid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def _run_once(
    ctx: Any,
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
        os.makedirs(os.path.dirname(log_file), exist_ok=True)
        handle = open(log_file, "ab")

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
    exit_fd = _exit_fd(proc)
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


# ---- aetherflow_runtime/step_with_lock.py ----
"""with_lock: run an embedded step under a named lock; fail at once if it is held."""


if False:  # names for annotations only: importing typing slows every start
    from typing import Any, Dict


def run_with_lock(ctx: Any, inputs: Dict[str, Any]) -> Any:
    for name in ("lock_key", "step"):
        if name not in inputs:
            raise StepError("with_lock needs input %r" % name)
    key = str(inputs["lock_key"])
    ttl = to_int(inputs.get("ttl_seconds", 600), "ttl_seconds")
    inner = inputs["step"]
    if not isinstance(inner, dict) or "type" not in inner:
        raise StepError("with_lock input 'step' must be a mapping with a type")
    inner_id = str(inner.get("id") or "%s_inner" % ctx.step_id)
    if not ctx.acquire_lock(key, ttl):
        raise StepError("Lock not acquired: %s" % key)
    try:
        return ctx.run_step(str(inner["type"]), inner_id, inner.get("inputs") or {})
    finally:
        ctx.release_lock(key)


# ---- aetherflow_runtime/engine.py ----
"""Running a compiled flow: jobs in declared order, steps in order, state, locks, resume.

Generated scripts describe the flow with `Flow` and `Job` and write each job as a
function of plain `run.step(...)` calls. `Run` executes them with the semantics of the
reference engine (section 4 of the language spec); `plan` walks the same functions with a
recorder instead of running anything.
"""


import os
import time

if False:  # names for annotations only: importing typing slows every start
    from typing import Any, Callable, Dict, List, Optional, Tuple


BLOCKED = "BLOCKED"
RUNNING = "RUNNING"


class Flow:
    """Static facts about a flow, written into the artifact by the compiler."""

    def __init__(
        self,
        flow_id: str,
        source: str,
        source_sha256: str,
        compiler_version: str,
        description: Optional[str],
        workspace_root: Any,
        cleanup_policy: str,
        layout: Dict[str, Any],
        state_backend: str,
        state_path: Any,
        lock_scope: str,
        lock_ttl_seconds: Any,
        env_vars: Dict[str, bool],
        resources: Optional[Dict[str, Any]] = None,
        packages: Optional[Dict[str, str]] = None,
    ) -> None:
        self.flow_id = flow_id
        self.source = source
        self.source_sha256 = source_sha256
        self.compiler_version = compiler_version
        self.description = description
        self.workspace_root = workspace_root
        self.cleanup_policy = cleanup_policy
        self.layout = layout
        self.state_backend = state_backend
        self.state_path = state_path
        self.lock_scope = lock_scope
        self.lock_ttl_seconds = lock_ttl_seconds
        self.env_vars = env_vars  # env variable -> True when every use has a default
        self.resources = resources or {}  # name -> resources.Resource
        self.packages = (
            packages or {}
        )  # import name -> the pip package a host must have


class Job:
    def __init__(
        self,
        job_id: str,
        body: Callable[[Any], None],
        origin: str,
        depends_on: Tuple[str, ...] = (),
        when: Optional[Callable[[Any], Any]] = None,
        when_source: Optional[str] = None,
        description: Optional[str] = None,
    ) -> None:
        self.id = job_id
        self.body = body
        self.origin = origin
        self.depends_on = depends_on
        self.when = when
        self.when_source = when_source
        self.description = description


class Jobs:
    """What `when` reads: jobs.<id>.outputs.<key>, .status and .skip_reason."""

    def __init__(self, entries: Dict[str, Dict[str, Any]]) -> None:
        self.entries = entries

    def _entry(self, job_id: str) -> Dict[str, Any]:
        if job_id not in self.entries:
            raise WhenError("job '%s' has not run in this run" % job_id)
        return self.entries[job_id]

    def output(self, job_id: str, key: str, *rest: str) -> Any:
        entry = self._entry(job_id)
        outputs = entry.get("outputs") or {}
        if key not in outputs:
            raise WhenError(
                "job '%s' (%s) has no output '%s'" % (job_id, entry.get("status"), key)
            )
        value = outputs[key]
        for part in rest:
            if not isinstance(value, dict) or part not in value:
                raise WhenError(
                    "job '%s' output '%s' has no '%s'" % (job_id, key, part)
                )
            value = value[part]
        return value

    def status(self, job_id: str) -> Any:
        return self._entry(job_id)["status"]

    def skip_reason(self, job_id: str) -> Any:
        entry = self._entry(job_id)
        if "skip_reason" not in entry:
            raise WhenError(
                "job '%s' (%s) has no skip_reason" % (job_id, entry.get("status"))
            )
        return entry["skip_reason"]


class Options:
    def __init__(
        self,
        run_id: str,
        selected: Tuple[str, ...] = (),
        keep_going: bool = False,
        env_files: Optional[List[Any]] = None,
        log_format: Optional[str] = None,
    ) -> None:
        self.run_id = run_id
        self.selected = selected
        self.keep_going = keep_going
        self.env_files = env_files or []
        self.log_format = log_format


class _JobFailed(Exception):
    def __init__(self, cause: BaseException) -> None:
        super().__init__(str(cause))
        self.cause = cause


class Run:
    def __init__(
        self,
        flow: Flow,
        jobs: List[Job],
        step_types: Dict[str, Callable[..., Any]],
        options: Options,
        environ: Dict[str, str],
    ) -> None:
        self.flow = flow
        self.jobs = jobs
        self.step_types = step_types
        self.options = options
        self.run_id = options.run_id
        self.env = build_snapshot(environ, options.env_files)
        # The secrets provider expands the whole snapshot and decodes resource values.
        self.secrets = load_secrets_provider(self.env)
        if self.secrets is not None:
            self.env = self.secrets.expand(self.env)
        fmt = (
            options.log_format or self.env.get("AETHERFLOW_LOG_FORMAT") or "text"
        ).lower()
        self.log = EventLog(
            flow.flow_id,
            "json" if fmt == "json" else "text",
            self.env.get("AETHERFLOW_LOG_LEVEL", "INFO"),
        )
        self.log.run_id = self.run_id
        meta = {"env": self.env}
        try:
            root = str(render(flow.workspace_root, meta))
            layout = {k: str(v) for k, v in render(flow.layout, meta).items()}
            state_path = str(render(flow.state_path, meta))
            self.lock_ttl = int(render(flow.lock_ttl_seconds, meta))
        except MissingKeyError as exc:
            raise ConfigError(
                "flow settings need env variable %s: %s"
                % (exc.path[4:] or exc.path, exc)
            ) from None
        except (TemplateError, ValueError) as exc:
            raise ConfigError("flow settings cannot be resolved: %s" % exc) from None
        # Resolved before anything runs, like the engine: a bad resource stops the run (exit 2).
        resolved: Dict[str, Dict[str, Any]] = {}
        if flow.resources:

            resolved = resolve_resources(flow.resources, self.env, self.secrets)
        self.connectors = Connectors(resolved)
        sandbox = self.env.get("AETHERFLOW_STRICT_SANDBOX", "true").lower() in (
            "1",
            "true",
            "yes",
            "y",
            "on",
        )
        self.workspace = Workspace(
            root, flow.flow_id, self.run_id, layout, flow.cleanup_policy, sandbox
        )
        self.state = open_state(flow.state_backend, state_path)
        owner = self.state.run_flow(self.run_id)
        if owner is not None and owner != flow.flow_id:
            self.state.close()
            raise ConfigError(
                "run id %s already belongs to flow %s in the state store %s; the engine's tables "
                "do not separate flows, so use another run id"
                % (self.run_id, owner, state_path)
            )
        # Lock key -> TTL of every lock this run holds; renewed while the run goes on.
        self.held_locks: Dict[str, int] = {}
        self.last_renewal = time.monotonic()
        self.statuses: Dict[str, str] = {}
        self.job_entries: Dict[str, Dict[str, Any]] = {}
        self.summary: List[Dict[str, Any]] = []
        self.failure_causes: List[BaseException] = []
        self.last_status: Dict[str, Any] = {}

    # -- locks ----------------------------------------------------------------------------
    def acquire_lock(self, key: str, ttl: int) -> bool:
        if not self.state.acquire_lock(key, self.run_id, ttl):
            return False
        self.held_locks[key] = ttl
        return True

    def release_lock(self, key: str) -> None:
        self.held_locks.pop(key, None)
        self.state.release_lock(key, self.run_id)

    def heartbeat(self) -> None:
        """Renew held locks when a third of the shortest TTL has passed."""
        if not self.held_locks:
            return
        now = time.monotonic()
        if now - self.last_renewal < max(1.0, min(self.held_locks.values()) / 3.0):
            return
        self.last_renewal = now
        for key, ttl in list(self.held_locks.items()):
            self.state.renew_lock(key, self.run_id, ttl)

    # -- the run --------------------------------------------------------------------------
    def execute(self) -> int:
        """Run the selected jobs; returns the exit code (see EXIT_* in cli)."""
        started = time.monotonic()
        flow_lock = "flow:%s" % self.flow.flow_id
        self.log.info("run_start", source=self.flow.source)
        if self.flow.lock_scope == "flow" and not self.acquire_lock(
            flow_lock, self.lock_ttl
        ):
            self.log.error(
                "lock_held",
                key=flow_lock,
                detail="another run of this flow holds the flow lock",
            )
            self.state.close()
            return 3
        self.state.start_run(self.run_id, self.flow.flow_id)
        run_status = "INTERRUPTED"
        code = 1
        try:
            code = self._execute_jobs()
            run_status = {0: SUCCESS, 3: "LOCKED"}.get(code, FAILED)
        finally:
            for name in self.connectors.close_all():
                self.log.warning("connector_close_failed", resource=name)
            for key in list(self.held_locks):
                self.release_lock(key)
            self.state.finish_run(self.run_id, run_status)
            self.last_status = self.status_object(run_status)
            details = (
                {"jobs": self.last_status["jobs"], "summary": self.summary}
                if self.log.fmt == "json"
                else {}
            )
            self.log.info(
                "run_end", status=run_status, duration_ms=_ms(started), **details
            )
            self.state.close()
        return code

    def _execute_jobs(self) -> int:
        prior = self.state.jobs(self.run_id)
        for index, job in enumerate(self.jobs):
            if self.options.selected and job.id not in self.options.selected:
                # An earlier attempt of this run id ran it: dependants see its result.
                if job.id in prior:
                    status, outputs, reason = prior[job.id]
                    self._remember(job.id, status, outputs, reason)
                continue
            try:
                self._run_job(job)
            except WhenError as exc:
                self.log.error("run_aborted", job_id=job.id, detail=str(exc))
                self._not_reached(index)
                return 1
            except LockHeld as exc:
                self.log.error("run_aborted", job_id=job.id, detail=str(exc))
                self._not_reached(index)
                return 3
            if self.statuses.get(job.id) == FAILED and not self.options.keep_going:
                self._not_reached(index + 1)
                break
        if not any(status == FAILED for status in self.statuses.values()):
            return 0
        if any(
            isinstance(c, MissingKeyError) and c.is_env for c in self.failure_causes
        ):
            return 2
        return 1

    def _not_reached(self, start: int) -> None:
        for job in self.jobs[start:]:
            if not self.options.selected or job.id in self.options.selected:
                self.summary.append(
                    {
                        "job_id": job.id,
                        "status": "NOT_REACHED",
                        "duration_ms": 0,
                        "steps": [],
                    }
                )

    def _remember(
        self, job_id: str, status: str, outputs: Dict[str, Any], reason: Optional[str]
    ) -> None:
        self.statuses[job_id] = status
        entry: Dict[str, Any] = {"status": status, "outputs": outputs}
        if reason is not None:
            entry["skip_reason"] = reason
        self.job_entries[job_id] = entry

    def _finish_job(
        self,
        job: Job,
        status: str,
        started: float,
        steps: List[Dict[str, Any]],
        outputs: Optional[Dict[str, Any]] = None,
        reason: Optional[str] = None,
    ) -> None:
        outputs = outputs or {}
        self.state.set_job(job.id, self.run_id, status, outputs, reason)
        self._remember(job.id, status, outputs, reason)
        duration = _ms(started)
        self.log.info(
            "job_end",
            job_id=job.id,
            status=status,
            duration_ms=duration,
            skip_reason=reason,
        )
        self.summary.append(
            {
                "job_id": job.id,
                "status": status,
                "duration_ms": duration,
                "skip_reason": reason,
                "steps": steps,
            }
        )

    def _run_job(self, job: Job) -> None:
        started = time.monotonic()
        if any(self.statuses.get(dep) != SUCCESS for dep in job.depends_on):
            self.log.info(
                "job_blocked", job_id=job.id, depends_on=",".join(job.depends_on)
            )
            self._finish_job(job, BLOCKED, started, [])
            return
        if job.when is not None:
            try:
                condition = bool(job.when(Jobs(self.job_entries)))
            # An absent output, or ordering values of different types (as Python does).
            except (WhenError, TypeError) as exc:
                raise WhenError(
                    "invalid when for job '%s' (%s): %s" % (job.id, job.origin, exc)
                ) from None
            if not condition:
                self.log.info("job_skipped", job_id=job.id, when=job.when_source)
                self._finish_job(job, SKIPPED, started, [], reason="condition=false")
                return
        job_lock = "job:%s:%s" % (self.flow.flow_id, job.id)
        if self.flow.lock_scope == "job" and not self.acquire_lock(
            job_lock, self.lock_ttl
        ):
            self.log.error("lock_held", job_id=job.id, key=job_lock)
            raise LockHeld("job lock %r is held by another run" % job_lock)
        try:
            self.state.set_job(job.id, self.run_id, RUNNING)
            self.workspace.prepare(job.id)
            self.log.info("job_start", job_id=job.id)
            body = JobRun(self, job)
            try:
                job.body(body)
            except _JobFailed as exc:
                self.failure_causes.append(exc.cause)
                self.log.error("job_failed", job_id=job.id, error=_one_line(exc.cause))
                self._finish_job(job, FAILED, started, body.summary, body.outputs)
                self.workspace.cleanup(job.id, succeeded=False)
                return
            if body.skip_reason is not None:
                self._finish_job(
                    job, SKIPPED, started, body.summary, body.outputs, body.skip_reason
                )
            else:
                self._finish_job(job, SUCCESS, started, body.summary, body.outputs)
            self.workspace.cleanup(job.id, succeeded=True)
        finally:
            if self.flow.lock_scope == "job":
                self.release_lock(job_lock)

    # -- reporting ------------------------------------------------------------------------
    def status_object(self, run_status: str) -> Dict[str, Any]:
        return status_report(
            self.flow,
            self.jobs,
            self.run_id,
            run_status,
            self.state.jobs(self.run_id),
            self.state.steps(self.run_id),
        )


def status_report(
    flow: Flow,
    jobs: List[Job],
    run_id: str,
    run_status: Optional[str],
    job_rows: Dict[str, Any],
    step_rows: Dict[Tuple[str, str], str],
) -> Dict[str, Any]:
    """The machine-readable status: jobs and steps in declared order, unreached jobs left out."""
    out_jobs: Dict[str, Any] = {}
    for job in jobs:
        if job.id not in job_rows:
            continue
        status, outputs, _reason = job_rows[job.id]
        steps: Dict[str, str] = {}
        for step_id in step_ids(job):
            if (job.id, step_id) in step_rows:
                steps[step_id] = step_rows[(job.id, step_id)]
        out_jobs[job.id] = {"status": status, "outputs": outputs, "steps": steps}
    return {
        "flow_id": flow.flow_id,
        "run_id": run_id,
        "status": run_status or "UNKNOWN",
        "jobs": out_jobs,
    }


class JobRun:
    """The `run` object a job function receives: each `step(...)` runs one step."""

    def __init__(self, run: Run, job: Job) -> None:
        self.run = run
        self.job = job
        self.results: Dict[str, Dict[str, Any]] = {}  # steps.<id> of this job
        self.outputs: Dict[str, Any] = {}  # job.outputs, promoted by steps
        self.skip_reason: Optional[str] = None
        self.summary: List[Dict[str, Any]] = []
        # What an earlier attempt of this run recorded, read once (resume).
        self.recorded = run.state.job_steps(job.id, run.run_id)

    def _context(self, result: Dict[str, Any]) -> Dict[str, Any]:
        return {
            "env": self.run.env,
            "steps": self.results,
            "job": {"id": self.job.id, "outputs": self.outputs},
            "run_id": self.run.run_id,
            "flow_id": self.run.flow.flow_id,
            "result": result,
            "jobs": self.run.job_entries,
        }

    def step(
        self,
        step_id: str,
        step_type: str,
        inputs: Optional[Dict[str, Any]] = None,
        outputs: Optional[Dict[str, Any]] = None,
        on_no_data: Optional[str] = None,
    ) -> None:
        run, job = self.run, self.job
        run.heartbeat()
        # An earlier step reported no data (on_no_data: skip_job): skip the rest.
        if self.skip_reason is not None:
            skipped = {"skipped": True, "reason": self.skip_reason}
            run.state.set_step(job.id, run.run_id, step_id, SKIPPED, skipped)
            self.results[step_id] = skipped
            self._summarize(step_id, step_type, SKIPPED, time.monotonic())
            return
        previous = self.recorded.get(step_id)
        if previous is not None and previous[0] in (SUCCESS, SKIPPED):
            status, result, promoted = previous  # resume: done before, never run again
            self.results[step_id] = result
            self.outputs.update(promoted)
            run.log.info("step_resumed", job_id=job.id, step_id=step_id, status=status)
            if status == SKIPPED and on_no_data == "skip_job":
                self.skip_reason = str(
                    result.get("reason") or "step requested skip_job"
                )
            self._summarize(step_id, step_type, status, time.monotonic(), resumed=True)
            return

        started = time.monotonic()
        run.log.info("step_start", job_id=job.id, step_id=step_id, step_type=step_type)
        try:
            rendered = render(inputs or {}, self._context({}))
            impl = run.step_types[step_type]
            raw = call_step(impl, StepContext(run, job.id, step_id), rendered)
        except Exception as exc:
            run.state.set_step(
                job.id, run.run_id, step_id, FAILED, {"error": _one_line(exc)}
            )
            run.log.error(
                "step_end",
                job_id=job.id,
                step_id=step_id,
                status=FAILED,
                duration_ms=_ms(started),
                error=_one_line(exc),
            )
            self._summarize(step_id, step_type, FAILED, started)
            raise _JobFailed(exc) from None
        if isinstance(raw, StepResult):
            status = SKIPPED if raw.status == SKIPPED else SUCCESS
            result = raw.as_output()
        else:
            status, result = SUCCESS, dict(raw or {})
        self.results[step_id] = result
        promoted: Dict[str, Any] = {}
        promote_error: Optional[Exception] = None
        if outputs:
            try:
                promoted = render(outputs, self._context(result))
            except TemplateError as exc:
                promote_error = exc
        run.state.set_step(job.id, run.run_id, step_id, status, result, promoted)
        self.outputs.update(promoted)
        run.log.info(
            "step_end",
            job_id=job.id,
            step_id=step_id,
            status=status,
            duration_ms=_ms(started),
        )
        self._summarize(step_id, step_type, status, started)
        if promote_error is not None:
            raise _JobFailed(promote_error)
        if status == SKIPPED and on_no_data == "skip_job":
            self.skip_reason = str(result.get("reason") or "step requested skip_job")
            run.log.info(
                "job_no_data", job_id=job.id, step_id=step_id, reason=self.skip_reason
            )

    def _summarize(
        self,
        step_id: str,
        step_type: str,
        status: str,
        started: float,
        resumed: bool = False,
    ) -> None:
        entry: Dict[str, Any] = {
            "step_id": step_id,
            "step_type": step_type,
            "status": status,
            "duration_ms": _ms(started),
        }
        if resumed:
            entry["resumed"] = True
        self.summary.append(entry)


def new_run_id() -> str:
    return os.urandom(6).hex()


def call_step(impl: Any, ctx: "StepContext", inputs: Dict[str, Any]) -> Any:
    """Run a step implementation: a function of (ctx, inputs), or a Step class written
    for the engine's plugin API, built as Step(step_id, inputs, ctx, job_id)."""
    if isinstance(impl, type):

        return impl(ctx.step_id, inputs, RunContext(ctx), ctx.job_id).run()
    return impl(ctx, inputs)


class StepContext:
    """What a step implementation may use."""

    def __init__(self, run: Run, job_id: str, step_id: str) -> None:
        self.run = run
        self.flow_id = run.flow.flow_id
        self.run_id = run.run_id
        self.job_id = job_id
        self.step_id = step_id
        self.env = run.env
        self.log = run.log
        self.connectors = run.connectors

    def resolve_path(self, path: Any) -> str:
        return self.run.workspace.resolve(self.job_id, str(path))

    def artifacts_dir(self) -> str:
        return self.run.workspace.artifacts_dir(self.job_id)

    def heartbeat(self) -> None:
        self.run.heartbeat()

    def sleep(self, seconds: float) -> None:
        end = time.monotonic() + seconds
        while True:
            left = end - time.monotonic()
            if left <= 0:
                return
            time.sleep(min(left, 1.0))
            self.run.heartbeat()

    def acquire_lock(self, key: str, ttl: int) -> bool:
        return self.run.acquire_lock(key, ttl)

    def release_lock(self, key: str) -> None:
        self.run.release_lock(key)

    def run_step(self, step_type: str, step_id: str, inputs: Dict[str, Any]) -> Any:
        """Run another step type here (with_lock's embedded step)."""
        if step_type not in self.run.step_types:
            raise StepError(
                "step type %r is not compiled into this artifact" % step_type
            )
        return call_step(self.run.step_types[step_type], self.child(step_id), inputs)

    def child(self, step_id: str) -> "StepContext":
        return StepContext(self.run, self.job_id, step_id)


class Recorder:
    """Stands in for JobRun when planning: records step calls, runs nothing."""

    def __init__(self) -> None:
        self.steps: List[Dict[str, Any]] = []

    def step(
        self,
        step_id: str,
        step_type: str,
        inputs: Optional[Dict[str, Any]] = None,
        outputs: Optional[Dict[str, Any]] = None,
        on_no_data: Optional[str] = None,
    ) -> None:
        self.steps.append(
            {
                "id": step_id,
                "type": step_type,
                "inputs": show(inputs or {}),
                "outputs": show(outputs or {}),
                "on_no_data": on_no_data,
            }
        )


def step_ids(job: Job) -> List[str]:
    recorder = Recorder()
    job.body(recorder)
    return [s["id"] for s in recorder.steps]


def _ms(started: float) -> int:
    return int((time.monotonic() - started) * 1000)


def _one_line(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return text.replace("\n", " | ")


# ---- aetherflow_runtime/cli.py ----
"""The command line of a compiled flow: run, plan, check-env, status, --version.

Exit codes: 0 no job FAILED; 1 a job FAILED (or a `when` could not be evaluated);
2 usage or configuration error (missing env, bad env file); 3 a flow or job lock is held
by another run.
"""


import json
import os
import re
import signal
import sys

if False:  # names for annotations only: importing typing slows every start
    from typing import Any, Callable, Dict, List, Optional


EXIT_OK = 0
EXIT_FAILED = 1
EXIT_CONFIG = 2
EXIT_LOCKED = 3
_RUN_ID = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")


USAGE = """usage: %(prog)s COMMAND [OPTIONS]   (compiled AetherFlow flow %(flow)s, from %(source)s)

commands:
  run         run the flow
                --run-id ID        run id (default: a new one); an existing id resumes that run
                --resume           continue the latest run if it did not succeed
                --job ID           run only this job (repeatable)
                --env-file F       dotenv file, *.json file or directory of files (repeatable)
                --keep-going       after a failed job, run later jobs that do not depend on it
                --log-format FMT   text or json events on stderr
                --json-summary F   write the final status object to F
  plan        print jobs and steps in order with their static inputs
  check-env   list the env variables the flow reads; exit 2 if one is missing
                --env-file F
  status      job and step statuses from the state store
                --run-id ID        (default: the latest run)
                --json             print one JSON object
                --env-file F
  --version   print the compiler version and the source hash

exit codes: 0 no job failed, 1 a job failed, 2 usage or configuration error,
3 a flow or job lock is held by another run
"""

# command -> {option: kind}; kinds: "flag", "value", "many" (repeatable value)
_OPTIONS = {
    "run": {
        "--run-id": "value",
        "--resume": "flag",
        "--job": "many",
        "--env-file": "many",
        "--keep-going": "flag",
        "--log-format": "value",
        "--json-summary": "value",
    },
    "plan": {},
    "check-env": {"--env-file": "many"},
    "status": {"--run-id": "value", "--json": "flag", "--env-file": "many"},
}


class UsageError(Exception):
    pass


class Args:
    """Parsed command line: `command` plus one attribute per option (dashes as '_')."""

    def __init__(self, command: str) -> None:
        self.command = command
        self.run_id: Optional[str] = None
        self.resume = False
        self.job: List[str] = []
        self.env_file: List[str] = []
        self.keep_going = False
        self.log_format: Optional[str] = None
        self.json_summary: Optional[str] = None
        self.json = False


def parse_args(argv: List[str]) -> Args:
    """A small parser for a small command line: importing argparse costs more than a
    whole short run spends on its own work."""
    if not argv:
        raise UsageError("a command is required")
    command, rest = argv[0], argv[1:]
    if command not in _OPTIONS:
        raise UsageError("unknown command %r" % command)
    options = _OPTIONS[command]
    args = Args(command)
    index = 0
    while index < len(rest):
        word = rest[index]
        name, given = word, None
        if word.startswith("--") and "=" in word:
            name, given = word.split("=", 1)
        kind = options.get(name)
        if kind is None:
            raise UsageError("unknown option %r for %s" % (word, command))
        attribute = name[2:].replace("-", "_")
        if kind == "flag":
            if given is not None:
                raise UsageError("option %s takes no value" % name)
            setattr(args, attribute, True)
        else:
            if given is None:
                index += 1
                if index >= len(rest):
                    raise UsageError("option %s needs a value" % name)
                given = rest[index]
            if kind == "many":
                getattr(args, attribute).append(given)
            else:
                setattr(args, attribute, given)
        index += 1
    if args.run_id is not None and args.resume:
        raise UsageError("use either --run-id or --resume")
    if args.log_format not in (None, "text", "json"):
        raise UsageError("--log-format must be text or json")
    return args


def main(
    flow: Flow,
    jobs: List[Job],
    step_types: Dict[str, Callable[..., Any]],
    argv: Optional[List[str]] = None,
) -> int:
    argv = sys.argv[1:] if argv is None else argv
    prog = os.path.basename(sys.argv[0]) or flow.flow_id
    usage = USAGE % {"prog": prog, "flow": flow.flow_id, "source": flow.source}
    if argv in (["-h"], ["--help"]):
        sys.stdout.write(usage)
        return EXIT_OK
    if argv == ["--version"]:
        print(
            "%s: compiled by aetherflow-compiler %s from %s (sha256 %s)"
            % (flow.flow_id, flow.compiler_version, flow.source, flow.source_sha256)
        )
        return EXIT_OK
    try:
        args = parse_args(argv)
    except UsageError as exc:
        sys.stderr.write("error: %s\n\n%s" % (exc, usage))
        return EXIT_CONFIG
    try:
        if args.command == "run":
            return _run(flow, jobs, step_types, args)
        if args.command == "plan":
            return _plan(flow, jobs)
        if args.command == "check-env":
            return _check_env(flow, args)
        return _status(flow, jobs, args)
    except ConfigError as exc:
        sys.stderr.write("error: %s\n" % exc)
        return EXIT_CONFIG


def _env_files(args: Args) -> List[Any]:
    return [env_file_from_option(path) for path in args.env_file]


def _on_signal(signum: int, frame: Any) -> None:
    # Unwind through the runner's finally blocks: the child process group is killed,
    # locks are released and the run is recorded INTERRUPTED.
    raise SystemExit(128 + signum)


def _run(
    flow: Flow,
    jobs: List[Job],
    step_types: Dict[str, Callable[..., Any]],
    args: Args,
) -> int:
    known = [job.id for job in jobs]
    for job_id in args.job:
        if job_id not in known:
            raise ConfigError("unknown job %r (jobs: %s)" % (job_id, ", ".join(known)))
    run_id = args.run_id
    if run_id is not None and not _RUN_ID.match(run_id):
        raise ConfigError(
            "invalid run id %r: use letters, digits, '_', '.' and '-'" % run_id
        )
    if args.resume:
        latest = _latest_run(flow, _env_files(args))
        if latest is None or latest[1] == "SUCCESS":
            sys.stderr.write(
                "nothing to resume: %s\n"
                % (
                    "no run of %s recorded" % flow.flow_id
                    if latest is None
                    else "the latest run %s succeeded" % latest[0]
                )
            )
            return EXIT_OK
        run_id = latest[0]
    options = Options(
        run_id or new_run_id(),
        tuple(args.job),
        args.keep_going,
        _env_files(args),
        args.log_format,
    )
    run = Run(flow, jobs, step_types, options, dict(os.environ))
    previous = {
        sig: signal.signal(sig, _on_signal) for sig in (signal.SIGTERM, signal.SIGINT)
    }
    try:
        code = run.execute()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    _print_summary(run, code)
    if args.json_summary:
        with open(args.json_summary, "w", encoding="utf-8") as fh:
            json.dump(run.last_status, fh, indent=2, ensure_ascii=False)
            fh.write("\n")
    return code


def _print_summary(run: Run, code: int) -> None:
    if run.log.fmt == "json":
        return  # the run_end event carries the same information
    lines = [
        "run %s of %s: %s (exit %d)"
        % (run.run_id, run.flow.flow_id, run.last_status.get("status"), code)
    ]
    for job in run.summary:
        reason = " (%s)" % job["skip_reason"] if job.get("skip_reason") else ""
        lines.append(
            "  %-24s %-11s %6d ms%s"
            % (job["job_id"], job["status"], job["duration_ms"], reason)
        )
        for step in job["steps"]:
            note = "  (resumed)" if step.get("resumed") else ""
            lines.append(
                "    %-22s %-11s %6d ms%s"
                % (step["step_id"], step["status"], step["duration_ms"], note)
            )
    sys.stderr.write("\n".join(lines) + "\n")


def _state_location(flow: Flow, env_files: List[Any]) -> str:
    env = build_snapshot(os.environ, env_files)
    try:
        return str(render(flow.state_path, {"env": env}))
    except Exception as exc:
        raise ConfigError("cannot resolve the state path: %s" % exc) from None


def _latest_run(flow: Flow, env_files: List[Any]) -> Optional[Any]:
    state = open_state(flow.state_backend, _state_location(flow, env_files))
    try:
        return state.latest_run(flow.flow_id)
    finally:
        state.close()


def _plan(flow: Flow, jobs: List[Job]) -> int:
    out = [
        "flow %s (compiled from %s by aetherflow-compiler %s)"
        % (flow.flow_id, flow.source, flow.compiler_version)
    ]
    out.append(
        "  workspace: %s (cleanup %s)"
        % (_shown(flow.workspace_root), flow.cleanup_policy)
    )
    out.append("  state:     %s %s" % (flow.state_backend, _shown(flow.state_path)))
    out.append(
        "  locks:     scope %s, ttl %s s"
        % (flow.lock_scope, _shown(flow.lock_ttl_seconds))
    )
    for job in jobs:
        extra = ""
        if job.depends_on:
            extra += "  depends_on: %s" % ", ".join(job.depends_on)
        if job.when_source:
            extra += "  when: %s" % job.when_source
        out.append("job %s  [%s]%s" % (job.id, job.origin, extra))
        recorder = Recorder()
        job.body(recorder)
        for step in recorder.steps:
            flag = "  on_no_data: skip_job" if step["on_no_data"] else ""
            out.append("  step %s  %s%s" % (step["id"], step["type"], flag))
            out.append(
                "    inputs:  %s"
                % json.dumps(step["inputs"], ensure_ascii=False, default=str)
            )
            if step["outputs"]:
                out.append(
                    "    outputs: %s"
                    % json.dumps(step["outputs"], ensure_ascii=False, default=str)
                )
    print("\n".join(out))
    return EXIT_OK


def _shown(value: Any) -> str:
    source = getattr(value, "source", None)
    return source() if callable(source) else str(value)


def _check_env(flow: Flow, args: Args) -> int:
    env = build_snapshot(os.environ, _env_files(args))
    missing = []
    for name, has_default in sorted(flow.env_vars.items()):
        present = env.get(name, "") != ""
        state = (
            "set"
            if present
            else ("not set, has a default" if has_default else "MISSING")
        )
        print("%-32s %s" % (name, state))
        if not present and not has_default:
            missing.append(name)
    absent = []
    if flow.packages:
        import importlib

        for module, package in sorted(flow.packages.items()):
            try:
                importlib.import_module(module)
                found = True
            except Exception:  # not installed, or broken on this host
                found = False
            print(
                "%-32s %s"
                % ("package " + package, "importable" if found else "MISSING")
            )
            if not found:
                absent.append(package)
    if missing:
        sys.stderr.write("missing required env variables: %s\n" % ", ".join(missing))
    if absent:
        sys.stderr.write(
            "missing Python packages: %s (install them for the python3 that runs this flow; "
            "`python3 -S` hides site-packages)\n" % ", ".join(absent)
        )
    return EXIT_CONFIG if missing or absent else EXIT_OK


def _status(flow: Flow, jobs: List[Job], args: Args) -> int:
    state = open_state(flow.state_backend, _state_location(flow, _env_files(args)))
    try:
        run_id = args.run_id
        if run_id is None:
            latest = state.latest_run(flow.flow_id)
            if latest is None:
                raise ConfigError(
                    "no run of %s is recorded in the state store" % flow.flow_id
                )
            run_id = latest[0]
        job_rows = state.jobs(run_id)
        if not job_rows and state.run_status(run_id) is None:
            raise ConfigError("run %s is not recorded in the state store" % run_id)
        report = status_report(
            flow, jobs, run_id, state.run_status(run_id), job_rows, state.steps(run_id)
        )
    finally:
        state.close()
    if args.json:
        print(json.dumps(report, indent=2, ensure_ascii=False, default=str))
        return EXIT_OK
    print("run %s of %s: %s" % (report["run_id"], report["flow_id"], report["status"]))
    for job_id, job in report["jobs"].items():
        print("  %-24s %s" % (job_id, job["status"]))
        for step_id, step_status in job["steps"].items():
            print("    %-22s %s" % (step_id, step_status))
    return EXIT_OK


# ======== flow orders ========

FLOW = Flow(
    flow_id="orders",
    source="orders.yaml",
    source_sha256="28ec70f9488bed77374c2b744d95f3b1d65eb90d73f1abab9640b4cd25bf9140",
    compiler_version="0.1.0",
    description="Probe, gate, extract under a lock, with retries.",
    workspace_root=Ref("env.WORK", default="/tmp/work"),
    cleanup_policy="on_success",
    layout={"artifacts": "artifacts", "scratch": "tmp", "manifests": "manifests"},
    state_backend="file",
    state_path=Text(Ref("env.STATE", default="/tmp/state"), "/orders"),
    lock_scope="flow",
    lock_ttl_seconds=600,
    env_vars={"INBOX": True, "STATE": True, "WORK": True},
)


# orders.yaml:9
def job_probe(run):
    # orders.yaml:11
    run.step(
        "inbox",
        "check_items",
        inputs={"items": Ref("env.INBOX", default=""), "min_count": 1},
        outputs={"has_data": Ref("result.has_data"), "count": Ref("result.count")},
        on_no_data="skip_job",
    )


# orders.yaml:16: when
def when_extract_all(jobs):
    return bool(
        (jobs.output("probe", "has_data") == True)
        and (not (jobs.output("probe", "count") < 2))
    )


# orders.yaml:16
def job_extract_all(run):
    # orders.yaml:20
    run.step(
        "pull",
        "with_lock",
        inputs={
            "lock_key": Text("pull-", Ref("flow_id")),
            "step": {
                "type": "external.process",
                "inputs": {
                    "command": ["sh", "-c", "echo pulling $N files"],
                    "env": {"N": Ref("jobs.probe.outputs.count")},
                    "timeout_seconds": 30,
                    "retry": {
                        "max_attempts": 3,
                        "retry_on_exit_codes": [75],
                        "backoff_seconds": 1,
                    },
                },
            },
        },
        outputs={"pulled": Ref("result.exit_code")},
    )


# orders.yaml:32
def job_report(run):
    pass  # no steps: the job ends SUCCESS


JOBS = [
    Job("probe", job_probe, origin="orders.yaml:9"),
    Job(
        "extract-all",
        job_extract_all,
        origin="orders.yaml:16",
        depends_on=["probe"],
        when=when_extract_all,
        when_source="jobs.probe.outputs.has_data == true and not jobs.probe.outputs.count < 2",
    ),
    Job("report", job_report, origin="orders.yaml:32", depends_on=["extract-all"]),
]

STEP_TYPES = {
    "check_items": run_check_items,
    "external.process": run_external_process,
    "with_lock": run_with_lock,
}

if __name__ == "__main__":
    sys.exit(main(FLOW, JOBS, STEP_TYPES))
