"""The external.process input contract, written once for the sh generator: each setting's
place in `inputs`, how the runtime converts it, its default, and the runtime variable
that holds it (`af_process_reset` sets every default).

tests/test_sh_target.py reads runtime_stub/steps/process.py (the Python runtime's reading
of the same inputs) and runtime_stub/sh/'s `af_process_reset` and checks them against this
table, so the three cannot drift apart.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Input:
    """One input of external.process (besides `command` and `args`, the program's words).

    kind: how the runtime reads it: bool, int, num (float) or str; mode, a lower-case word
    (log streams, idempotency strategy); codes, exit codes (a list of integers or one);
    paths, paths or patterns (a list or one); env, a mapping of variables; outputs, a
    mapping of extra result keys. `default`: what the runtime takes when it is absent.
    `variable`: where the shell runtime holds it (af_process_reset sets the default).
    `late`: a template is converted where Python converts it, after the marker check
    (AF_PJ_<variable's suffix> holds its JSON literal). `falsy`: the value a false one
    stands for (Python reads `value or falsy`). `skip_falsy`: a false literal (0, "")
    counts as absent, as Python's `if value:` reads it."""

    path: tuple[str, ...]
    kind: str
    default: Any
    variable: str = ""
    late: bool = False
    falsy: Any = None
    skip_falsy: bool = False
    name: str = ""  # the name in the runtime's messages, where it is not the dotted path

    @property
    def label(self) -> str:
        """The name the runtime's messages give it ('retry.max_attempts')."""
        return self.name or ".".join(self.path)


# In the order the generated code sets them (the order in which Python converts them).
INPUTS = (
    Input(("shell",), "bool", False, "AF_P_SHELL"),
    Input(("cwd",), "str", None, "AF_P_CWD"),
    Input(("timeout_seconds",), "num", None, "AF_P_TIMEOUT"),
    Input(("kill_grace_seconds",), "int", 15, "AF_P_GRACE"),
    Input(("inherit_env",), "bool", True, "AF_P_INHERIT"),
    Input(("env",), "env", {}, "AF_P_ENV"),
    Input(("log", "stdout"), "mode", "inherit", "AF_P_STDOUT"),
    Input(("log", "stderr"), "mode", "inherit", "AF_P_STDERR"),
    Input(("log", "max_capture_kb"), "int", 1024, "AF_P_MAX_KB"),
    Input(("log", "file_path"), "str", None, "AF_P_LOG_FILE"),
    Input(("retry", "max_attempts"), "int", 1, "AF_P_RETRY_MAX", late=True),
    Input(("retry", "backoff_seconds"), "num", 0, "AF_P_BACKOFF", late=True, falsy=0),
    Input(("retry", "backoff_multiplier"), "num", 1.0, "AF_P_MULT", late=True, falsy=1.0),
    Input(("retry", "max_backoff_seconds"), "num", 0, "AF_P_MAX_BACKOFF", late=True, falsy=0),
    Input(("retry", "retry_on_timeout"), "bool", False, "AF_P_RETRY_TIMEOUT", late=True),
    Input(("retry", "retry_on_exit_codes"), "codes", [], "AF_P_RETRY_CODES", late=True),
    Input(("success", "exit_codes"), "codes", [0], "AF_P_CODES"),
    Input(("success", "marker_file"), "str", None, "AF_P_SUCCESS_MARKER", skip_falsy=True),
    Input(("success", "require_files"), "paths", [], "AF_P_REQUIRE"),
    Input(("success", "require_glob"), "paths", [], "AF_P_GLOBS"),
    Input(("success", "forbid_files"), "paths", [], "AF_P_FORBID"),
    Input(("idempotency", "strategy"), "mode", "none", "AF_P_STRATEGY"),
    Input(("idempotency", "marker_path"), "str", None, "AF_P_MARKER", skip_falsy=True),
    Input(("idempotency", "temp_output_dir"), "str", None, "AF_P_TEMP_DIR", skip_falsy=True),
    Input(("idempotency", "final_output_dir"), "str", None, "AF_P_FINAL_DIR", skip_falsy=True),
    Input(
        ("idempotency", "atomic_rename"),
        "bool",
        True,
        "AF_P_RENAME",
        late=True,
        name="atomic_rename",
    ),
    Input(("outputs",), "outputs", {}),
)
# The program's words: `command` (a list, or one string: one word) and `args` (a list).
ARGV = ("command", "args")
