"""The differential fuzzer: random valid flows over the language's control surface, run by
the reference engine, as the Python artifact and as the sh artifact under dash.

`flow_cases()` is a Hypothesis strategy of corpus cases (the format of cases/*.yaml: `jobs`,
`settings`, `env`), valid for the engine and for the compiler. `run_batch()` compiles a batch
of them in one `aetherflow compile --target all`, runs every flow with the engine (one
engine start per batch: oracle_driver.py --batch), with the Python artifact and, where the
flow has one, with the sh artifact, and returns each flow's disagreements: engine against
Python (exit class, job and step statuses, typed promoted outputs, every file written) and
sh against Python (the same, and the exit status itself).

The generated steps make what they did observable: they write their argv (rendered
templates) and, some of them, their environment into files, which the harness compares by
content. Constructs that reproduce a known disagreement (known_failing.yaml) are avoided
while the disagreement is listed; see AVOIDED. Constructs excluded for the engine's own
crashes and races are listed in README.md.

Run one case file on all three sides and print the differences:

    .venv/bin/python tests/conformance/difffuzz.py CASE.yaml [...]
"""

from __future__ import annotations

import functools
import json
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from hypothesis import strategies as st

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:  # run as a script, or imported by a test beside it
    sys.path.insert(0, str(HERE))
for _path in (HERE.parent, HERE.parent.parent):  # conftest (run_cli), bench (the oracle)
    if str(_path) not in sys.path:
        sys.path.insert(0, str(_path))

from harness import (  # noqa: E402
    RUN_ID,
    Case,
    Outcome,
    Side,
    engine_outcome,
    known_failing,
    run_artifact,
)

from bench.oracle import oracle_python  # noqa: E402

SHELL = "dash"
# Variables a step's environment dump leaves out: the shell's own and the test's switches
# (the sh artifact's SQLite mirror, FZ_ENGINE on the engine's side).
ENV_NOT_COMPARED = "PWD|OLDPWD|SHLVL|_|AETHERFLOW_SH_SQLITE_MIRROR|FZ_ENGINE"
ENV_KEYS = ("FZ_A", "FZ_B", "FZ_C")
UNSET = "FZ_UNSET"  # never set on either side

# Which listed known disagreement (known_failing.yaml) each avoided construct reproduces.
AVOIDED = {
    "own_job_lock_key": "with_lock_key_is_job_lock",
    "own_flow_lock_key": "with_lock_key_is_flow_lock",
    "listed_signal_code": "process_self_term_listed",
    "missing_cwd_log_file": "cwd_missing_log_file",
    "same_key_missing_env": "with_lock_nested_same_key_missing_env",
    "clean_env_dump": "process_clean_env_no_path",
    "signal_stderr": "process_signal_log_file",
    "forbidden_env_value": "env_forbidden_syntax_inline",
    "atomic_parent": "atomic_dir_missing_parent",
    "env_name_not_shell": "process_env_name_not_shell",
    "ttl_zero_nested": "with_lock_ttl_zero_nested",
    "atomic_bad_setting": "atomic_dir_bad_setting",
    "empty_mapping_when": "when_empty_mapping_truthy",
    "nul_value": "value_nul_in_text",
}


@functools.lru_cache(maxsize=1)
def avoided() -> frozenset[str]:
    """The constructs the generator leaves out today: those whose case is still listed."""
    listed = set(known_failing("engine")) | set(known_failing("sh"))
    return frozenset(name for name, case in AVOIDED.items() if case in listed)


# --- values -----------------------------------------------------------------------------

# Characters Python's str.strip() removes and a shell's [[:space:]] may not.
UNICODE_SPACES = "\u00a0\u3000\x1c\x1d\x1e\x1f\x85\u2028\u2009"
_TEXT = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00{}$%#"),
    max_size=6,
)
_ENV_VALUES = st.one_of(
    st.sampled_from(
        [
            "",
            "x",
            "3",
            "0",
            "1.5",
            "-2",
            "a,b",
            " a , b ,",
            "ü",
            "日本",
            "true",
            "None",
            " spaced ",
            "12345678901234567890",
            "a:b",
            "v=1",
            "two words",
            "a\nb",
            "[1, 2]",
            "{{y}}",
            "$HOME",
            "it's",
            "tab\tin",
            "-",
        ]
    ),
    _TEXT,
)
_BIG = 12345678901234567890
_SCALARS_LIST = [
    0,
    1,
    2,
    3,
    -1,
    7,
    2.5,
    0.0,
    1e20,
    1e-7,
    _BIG,
    -_BIG,
    True,
    False,
    None,
    "",
    "x",
    "ü",
    "日本語",
    "3",
    "a b",
    "yes",
    "it's",
    'say "hi"',
    "back\\slash",
    "tab\there",
    "two\nlines",
    "cr\r",
    "esc\x1b[0m",
    "-n",
    "*",
]
_NUL = "nul\x00byte"  # classes value_nul_character, value_nul_in_text
_UNPRINTABLE = ["\u2028sep", "nb\xa0sp"]  # class value_unprintable_repr


def _scalars(ctx: Ctx) -> st.SearchStrategy[Any]:
    extra = ([] if "nul_value" in ctx.avoid else [_NUL]) + (
        [] if "unprintable_repr" in ctx.avoid else _UNPRINTABLE
    )
    return st.sampled_from(_SCALARS_LIST + extra)


def _nested(ctx: Ctx) -> st.SearchStrategy[Any]:
    """Typed values: scalars, lists and mappings (no empty mapping while class 9 is listed)."""
    smallest = 1 if "empty_mapping_inline" in ctx.avoid else 0
    return st.recursive(
        _scalars(ctx),
        lambda inner: st.one_of(
            st.lists(inner, max_size=3),
            st.dictionaries(st.sampled_from(["k", "n", "ü"]), inner, min_size=smallest, max_size=2),
        ),
        max_leaves=5,
    )


_DEFAULTS = st.sampled_from(["", "d", "7", " sp ", "a:b", "ü", "x y", "0"])
OUTPUT_KEYS = ("o1", "o2", "n", "flag", "obj", "lst", "a-b")
RARE_KEYS = ("ü", "with space")  # keys the shell cannot hold: the flow gets no sh artifact


@dataclass
class JobInfo:
    id: str
    outputs: dict[str, Any] = field(default_factory=dict)  # key -> a sample of what it may hold
    referable: bool = True


@dataclass
class StepInfo:
    id: str
    results: dict[str, Any]  # result key -> sample value


@dataclass
class Ctx:
    avoid: frozenset[str]
    env: dict[str, str]
    locks: str
    jobs: list[JobInfo]  # earlier jobs
    job: JobInfo  # this job
    steps: list[StepInfo] = field(default_factory=list)  # earlier steps of this job
    result: dict[str, Any] | None = None  # in outputs: the step's own result keys
    lock_keys: list[str] = field(default_factory=list)  # keys held by enclosing with_locks


def _percent(draw: Any, chance: int) -> bool:
    """True `chance` times in a hundred (failing steps end a run: most choices must not fail)."""
    return bool(draw(st.integers(0, 99)) < chance)


def _env_ref(draw: Any, ctx: Ctx) -> str:
    key = draw(st.sampled_from([*ENV_KEYS, UNSET]))
    if (
        _percent(draw, 80 if key != UNSET else 95)
        or "failing_output" in ctx.avoid
        and ctx.result is not None
    ):
        return f"env.{key}:{draw(_DEFAULTS)}"
    return f"env.{key}"


def _token(draw: Any, ctx: Ctx, typed: bool = False) -> str:
    """One `{{...}}` token readable where ctx says (its default is optional where the key may
    be absent at run time)."""
    choices = ["env"] * 3 + ["run_id", "flow_id", "job_id"]
    steps = [step for step in ctx.steps if step.id.isidentifier()]
    if steps:
        choices += ["steps"] * 4
    jobs = [job for job in ctx.jobs if job.referable]
    if jobs:
        choices += ["jobs"] * 3 + ["jobs_status", "skip_reason"]
    if _names(ctx.job.outputs):
        choices += ["job_outputs"] * 3
    if ctx.result is not None:
        choices += ["result"] * 6
    kind = draw(st.sampled_from(choices))
    default = _percent(draw, 40)
    if "failing_output" in ctx.avoid and ctx.result is not None:
        default = True  # an output that fails to render (class 8) is avoided while listed
    if kind == "env":
        path = _env_ref(draw, ctx)
        return "{{" + path + "}}"
    if kind in ("run_id", "flow_id"):
        return "{{" + kind + "}}"
    if kind == "job_id":
        return "{{job.id}}"
    if kind == "steps":
        step = draw(st.sampled_from(steps))
        key = draw(st.sampled_from(sorted(step.results) or ["exit_code"]))
        if not step.results:
            default = True
        path = f"steps.{step.id}.{key}"
    elif kind == "jobs":
        job = draw(st.sampled_from(jobs))
        if not _names(job.outputs):
            return "{{jobs." + job.id + ".status}}"
        path = f"jobs.{job.id}.outputs.{draw(st.sampled_from(_names(job.outputs)))}"
    elif kind == "jobs_status":
        job = draw(st.sampled_from(jobs))
        return "{{jobs." + job.id + ".status}}"
    elif kind == "skip_reason":  # present only when the job was skipped
        path = f"jobs.{draw(st.sampled_from(jobs)).id}.skip_reason"
        default = default or _percent(draw, 80)
    elif kind == "job_outputs":
        path = f"job.outputs.{draw(st.sampled_from(_names(ctx.job.outputs)))}"
    else:
        assert ctx.result is not None
        keys = sorted(ctx.result)
        if keys and draw(st.integers(0, 4)):
            path = f"result.{draw(st.sampled_from(keys))}"
        else:
            path = "result.absent"
            default = True
    inner = path + (":" + draw(_DEFAULTS) if default else "")
    if _percent(draw, 80):
        return "{{" + inner + "}}"
    # Spacing changes what a token is: "{{ p :d}}" (a space before the colon) and a token with
    # text around it are not one whole token for the engine, so they render as text.
    spaced = draw(st.sampled_from(["{{ %s }}", "{{%s }}", "{{  %s}}", " {{%s}}", "{{%s}} "]))
    if default and _percent(draw, 40):
        return "{{ " + path + " :" + inner[len(path) + 1 :] + " }}"
    return spaced % inner


def _names(outputs: dict[str, Any]) -> list[str]:
    """The output keys a template or `when` can name."""
    return sorted(key for key in outputs if key.isidentifier())


def _text_value(draw: Any, ctx: Ctx) -> str:
    """A string for argv or outputs: a literal, one whole token (typed), or text around tokens."""
    form = draw(st.sampled_from(["literal", "token", "token", "inline", "two"]))
    if form == "literal":
        return draw(st.sampled_from(["plain", "ü", "", "a b", "3"]))
    if form == "token":
        return _token(draw, ctx)
    if form == "inline":
        return f"{draw(st.sampled_from(['v=', 'x', '']))}{_token(draw, ctx)}{draw(st.sampled_from(['', '!', ' z']))}"
    return _token(draw, ctx) + draw(st.sampled_from(["-", "", " "])) + _token(draw, ctx)


# --- steps ------------------------------------------------------------------------------


def _process(
    draw: Any, ctx: Ctx, step_id: str, depth: int
) -> tuple[dict[str, Any], dict[str, Any]]:
    """An external.process step's inputs, and the result keys it returns."""
    tag = f"{ctx.job.id}_{step_id}_{depth}"
    out_file = f"o_{tag}.txt"
    if _percent(draw, 12):  # a plain step (the sh artifact runs these on a shorter path)
        command = draw(
            st.sampled_from(
                [
                    ["true"],
                    "true",
                    ["sh", "-c", f"echo plain > p_{tag}.txt"],
                    ["/bin/echo", "x"],
                    ["false"],
                    "echo x > f",
                    "no-such-program",
                ]
            )
        )
        if command in (["false"], "echo x > f", "no-such-program") and not _percent(draw, 30):
            command = ["true"]
        plain: dict[str, Any] = {"command": command}
        if _percent(draw, 20):
            plain["shell"] = True  # a string command is still one word: shlex.quote("echo x > f")
        return plain, {"exit_code": 0, "attempts": 1}
    parts: list[str] = []
    inputs: dict[str, Any] = {}
    args: list[Any] = [
        _text_value(draw, ctx) if _percent(draw, 92) else draw(_nested(ctx))
        for _ in range(draw(st.integers(0, 3)))
    ]
    parts.append(f"printf '[%s]' \"$@\" > {out_file}")
    clean = draw(st.integers(0, 5)) == 0  # inherit_env: false
    if draw(st.integers(0, 3)) == 0 and not (clean and "clean_env_dump" in ctx.avoid):
        # the environment the step sees, with the side's root written as ROOT
        parts.append(
            f'h=$HOME; [ -n "$h" ] || h=/nonexistent; env | LC_ALL=C sort '
            f"| grep -v -E '^({ENV_NOT_COMPARED})=' | sed \"s#$h#ROOT#g\" > env_{tag}.txt"
        )
    cwd = draw(
        st.sampled_from([None] * 8 + ["."] * 4 + ["{{env.CONF_WORK}}"] * 2 + ["missing_dir"])
    )
    if cwd == "missing_dir" and not _percent(draw, 30):
        cwd = None
    file_rule = _percent(draw, 25)
    if file_rule and _percent(draw, 80):
        cwd = "."  # success rules read paths under the artifacts dir
    log: dict[str, Any] = {}
    capture = False
    if draw(st.integers(0, 2)) == 0:
        modes = ["inherit", "capture", "file", "discard"]
        stdout, stderr = draw(st.sampled_from(modes)), draw(st.sampled_from([None, *modes]))
        log["stdout"] = stdout
        if stderr:
            log["stderr"] = stderr
        if "file" in (stdout, stderr) or draw(st.integers(0, 3)) == 0:
            log["file_path"] = draw(
                st.sampled_from(
                    ["logs/s.log", f"logs/{tag}.log", "shared.log", "{{env.CONF_WORK}}/all.log"]
                )
            )
        if (
            "file" in (stdout, stderr)
            and cwd == "missing_dir"
            and "missing_cwd_log_file" in ctx.avoid
        ):
            cwd = None
        capture = "capture" in (stdout, stderr)
        if draw(st.integers(0, 5)) == 0:
            log["max_capture_kb"] = draw(st.sampled_from([0, 1, "2"]))
        # whole lines: the engine's reader thread may miss a last line without its newline
        parts.append("printf 'out-line\\nsecond\\n'")
        parts.append("printf 'err-line\\n' >&2")
    if cwd is not None:
        inputs["cwd"] = cwd
    # success rules read paths relative to the job's artifacts dir
    success: dict[str, Any] = {}
    touched = draw(st.lists(st.sampled_from(["m1", "m2", "sub/m3"]), max_size=2, unique=True))
    for name in touched:
        parts.append(f"mkdir -p $(dirname {name}) && touch {name}")
    if file_rule:
        rule = draw(
            st.sampled_from(["marker_file", "require_files", "require_glob", "forbid_files"])
        )
        target = draw(
            st.sampled_from(touched if touched and _percent(draw, 80) else ["m1", "m2", "sub/m3"])
        )
        if rule == "require_glob":
            success[rule] = draw(st.sampled_from(["m*", "sub/*", "none*"]))
        elif rule == "marker_file":
            success[rule] = target
        else:
            success[rule] = draw(st.sampled_from([target, [target], [target, "m2"], []]))
    # how it ends
    ending = draw(st.sampled_from(["exit"] * 24 + ["signal", "retry", "retry", "timeout"]))
    code = 0
    retry: dict[str, Any] = {}
    if ending == "exit":
        code = 0 if _percent(draw, 88) else draw(st.sampled_from([1, 2, 3, 4, 75, 255, 256]))
        parts.append(f"exit {code}")
    elif ending == "signal":
        sig = draw(st.sampled_from(["TERM", "KILL", "HUP", "USR1"]))
        parts.append(f"kill -{sig} $$")
        code = {"TERM": -15, "KILL": -9, "HUP": -1, "USR1": -10}[sig]
    elif ending == "retry":
        need = draw(st.integers(1, 3))
        rc = draw(st.sampled_from([75, 3, 1]))
        parts.append(
            f"n=$(cat cnt_{tag} 2>/dev/null || echo 0); n=$((n+1)); echo $n > cnt_{tag}; "
            f"[ $n -ge {need} ] || exit {rc}"
        )
        retry["max_attempts"] = draw(
            st.sampled_from([1, 2, 3, "2", "{{env.FZ_B:2}}", "{{env.FZ_UNSET:3}}", " 2 ", "+3"])
        )
        retry["retry_on_exit_codes"] = draw(st.sampled_from([[rc], [rc, 4], rc, [], [0]]))
        if draw(st.booleans()):
            retry["backoff_seconds"] = 0
    else:
        parts.append("exec sleep 3")
        inputs["timeout_seconds"] = draw(st.sampled_from([0.3, 0.5, "0.4", "{{env.FZ_UNSET:0.3}}"]))
        inputs["kill_grace_seconds"] = draw(st.sampled_from([1, "1", "{{env.FZ_UNSET:1}}"]))
        if draw(st.booleans()):
            retry["max_attempts"] = 2
            retry["retry_on_timeout"] = draw(st.booleans())
    if (
        ending == "signal"
        and "signal_stderr" in ctx.avoid
        and log.get("stderr") in ("file", "capture")
    ):
        log["stderr"] = "discard"
    if "file" in log.values() and retry.get("max_attempts", 1) not in (1, "1"):
        # engine: log mode file fails attempt 2 ("I/O operation on closed file"); README.md
        retry["max_attempts"] = 1
    if capture and ending != "timeout":
        # engine: captured output is read before its reader thread is done (README.md); only
        # the engine's side waits for it (FZ_ENGINE), unless the process starts with no env
        parts.insert(-1, "sleep 0.3" if clean else '[ -z "$FZ_ENGINE" ] || sleep 0.3')
    if _percent(draw, 33 if code == 0 else 60):
        codes = draw(
            st.sampled_from(
                [
                    [0],
                    [0, 3],
                    [3],
                    0,
                    "0",
                    [-15],
                    [-9, 0],
                    [143],
                    [0, 1, 75],
                    [],
                    [255, 0],
                    " 0 ",
                    ["+0", 3],
                    [256],
                ]
            )
        )
        if _percent(draw, 60):  # most lists accept the code the step ends with
            codes = draw(
                st.sampled_from(
                    [
                        [code],
                        [code, 1],
                        code,
                        str(code),
                        [4, code],
                        [str(code)],
                        "{{env.FZ_UNSET:" + str(code) + "}}",
                    ]
                )
            )
        if "empty_exit_codes" in ctx.avoid and codes == []:
            codes = [0]
        if "listed_signal_code" in ctx.avoid and ending == "signal":
            codes = [0]
        success["exit_codes"] = codes
    idempotency: dict[str, Any] = {}
    if _percent(draw, 10):
        if draw(st.booleans()):
            idempotency = {
                "strategy": "marker",
                "marker_path": draw(st.sampled_from(["m1", "m2", "done.m"])),
            }
            if _percent(draw, 30):  # the marker named by success.marker_file instead
                del idempotency["marker_path"]
                success["marker_file"] = draw(st.sampled_from(["m1", "m2"]))
        else:
            idempotency = {
                "strategy": "atomic_dir",
                "temp_output_dir": "tmp_out",
                "final_output_dir": draw(
                    st.sampled_from(
                        ["final"] if "atomic_parent" in ctx.avoid else ["final", "sub/final"]
                    )
                ),
            }
            if draw(st.booleans()):
                idempotency["atomic_rename"] = draw(st.booleans())
            parts.insert(1, 'echo made > "$AETHERFLOW_OUTPUT_DIR/f.txt"')
    if idempotency:
        inputs["idempotency"] = idempotency
        if (
            idempotency["strategy"] == "atomic_dir"
            and "atomic_bad_setting" in ctx.avoid
            and retry.get("max_attempts") == "{{env.FZ_B:2}}"
        ):
            retry["max_attempts"] = 2  # class atomic_dir_bad_setting: the setting may not convert
    if success:
        inputs["success"] = success
    if retry:
        inputs["retry"] = retry
    if ending != "timeout" and draw(st.integers(0, 4)) == 0:
        inputs["timeout_seconds"] = draw(
            st.sampled_from([30, "20", 15.5, "{{env.FZ_UNSET:25}}", None])
        )
    # the environment of the process
    if draw(st.integers(0, 3)) == 0:
        env: dict[str, Any] = {}
        for key in draw(
            st.lists(
                st.sampled_from(
                    ["FZ_A", "FZ_NEW", "FZ_NUM", "FZ_NUL", "AETHERFLOW_RUN_ID"] * 4
                    + ([] if "env_name_not_shell" in ctx.avoid else ["A-B", "ü_V", "1X"])
                ),
                max_size=3,
                unique=True,
            )
        ):
            value = draw(_scalars(ctx)) if draw(st.booleans()) else _text_value(draw, ctx)
            if (
                "null_env_value" in ctx.avoid
                and isinstance(value, str)
                and value.startswith("{{")
                and value.endswith("}}")
                and value.count("{{") == 1
                and "env." not in value
            ):
                value = "x" + value  # a whole token may be null (class 7); inside text it is str()
            env[key] = value
        inputs["env"] = env
    if clean:
        inputs["inherit_env"] = False
    if log:
        inputs["log"] = log
    extras: dict[str, Any] = {}
    if draw(st.integers(0, 2)) == 0:
        extras = draw(
            st.dictionaries(
                st.sampled_from(["v", "n", "obj", "lst", "big", "f", "u", "nul", "empty"]),
                _nested(ctx),
                max_size=3,
            )
        )
        inputs["outputs"] = extras
    if ending == "timeout":  # nothing before the kill: how far a process gets in 0.3 s varies
        parts = ["exec sleep 3"]
    script = "; ".join(parts)
    shell = draw(st.integers(0, 7)) == 0
    argv0 = "/bin/sh" if inputs.get("inherit_env") is False else "sh"
    inputs["command"] = [argv0, "-c", script, "sh", *args]
    if shell:
        inputs["shell"] = True
    if draw(st.integers(0, 5)) == 0 and inputs["command"][4:]:
        inputs["args"] = inputs["command"][4:]
        inputs["command"] = inputs["command"][:4]
    order = [
        "command",
        "args",
        "shell",
        "cwd",
        "env",
        "inherit_env",
        "timeout_seconds",
        "kill_grace_seconds",
        "log",
        "retry",
        "success",
        "idempotency",
        "outputs",
    ]
    inputs = {k: inputs[k] for k in order if k in inputs}
    results: dict[str, Any] = {"exit_code": code, "attempts": 1}
    if log.get("stdout") == "capture":
        results["stdout"] = "out-line\nsecond\n"
    if log.get("stderr") == "capture":
        results["stderr"] = "err-line\n"
    if log.get("file_path") and "file" in (log.get("stdout"), log.get("stderr")):
        results["log_file"] = "/path"
    results.update(extras)
    return inputs, results


def _check_items(draw: Any, ctx: Ctx) -> tuple[dict[str, Any], dict[str, Any]]:
    form = draw(st.sampled_from(["list", "string", "string", "template"]))
    spaces = " \t" if "unicode_space_items" in ctx.avoid else " \t" + UNICODE_SPACES
    if form == "list":
        items: Any = draw(
            st.lists(st.sampled_from(["", " ", "a", "b", "ü", 0, 1, None, "a,b"]), max_size=4)
        )
    elif form == "string":
        parts = draw(
            st.lists(
                st.one_of(
                    st.sampled_from(["a", "b", "ü", "", "x y"]),
                    st.text(alphabet=spaces, min_size=1, max_size=2),
                ),
                max_size=5,
            )
        )
        items = ",".join(parts)
    else:
        choices = [f"{{{{env.{k}}}}}" for k in ENV_KEYS] + [
            f"{{{{env.{UNSET}:a, b ,c}}}}",
            "{{env.FZ_A:}}",
        ]
        lists = [
            f"{{{{jobs.{j.id}.outputs.{k}}}}}"
            for j in ctx.jobs
            for k in _names(j.outputs)
            if isinstance(j.outputs[k], list) and j.referable
        ]
        items = draw(st.sampled_from(choices + lists))
        if (
            "unicode_space_items" in ctx.avoid
            and any(c in UNICODE_SPACES for v in ctx.env.values() for c in v)
            and "env." in items
            and not items.endswith(":a, b ,c}}")
        ):
            items = "a, b ,c"  # an env value with such a space would reproduce class 5
    inputs: dict[str, Any] = {"items": items}
    if draw(st.integers(0, 2)):
        numbers = [
            f"{{{{jobs.{j.id}.outputs.{k}}}}}"
            for j in ctx.jobs
            for k in _names(j.outputs)
            if isinstance(j.outputs[k], (int, float))
            and not isinstance(j.outputs[k], bool)
            and j.referable
            and (abs(j.outputs[k]) < 2**63 or "big_min_count" not in ctx.avoid)
        ]
        inputs["min_count"] = draw(
            st.sampled_from([0, 1, 2, 3, -1, 2.0, 0.0, "2", " 1 ", "{{env.FZ_B:1}}", *numbers])
        )
        if (
            inputs["min_count"] == "{{env.FZ_B:1}}"
            and "big_min_count" in ctx.avoid
            and _beyond_64_bits(ctx.env.get("FZ_B", ""))
        ):
            inputs["min_count"] = 1
    return inputs, {"has_data": True, "count": 2}


def _with_defaults(value: Any) -> Any:
    """`value` with a default in every template token that has none."""
    return json.loads(re.sub(r"\{\{([^{}:]*)\}\}", r"{{\1:d}}", json.dumps(value)))


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _beyond_64_bits(text: str) -> bool:
    try:
        return abs(int(text)) >= 2**63
    except ValueError:
        return False


def _lock_key(draw: Any, ctx: Ctx) -> Any:
    keys: list[Any] = [
        "k1",
        "k2",
        "k-{{run_id}}",
        "{{env.FZ_A:lk}}",
        7,
        "k1-{{job.id}}",
        "a/b",
        "x y",
        "ü",
        "..",
        "",
        "*",
        2.5,
    ]
    if "own_job_lock_key" not in ctx.avoid:
        keys.append("job:{{flow_id}}:{{job.id}}")
    if "own_flow_lock_key" not in ctx.avoid or ctx.locks != "flow":
        keys.append("flow:{{flow_id}}")
    if ctx.lock_keys and _percent(draw, 15):
        return ctx.lock_keys[-1]  # the enclosing key: not reentrant, the acquire fails
    return draw(st.sampled_from(keys))


def _inner(
    draw: Any, ctx: Ctx, step_id: str, depth: int
) -> tuple[str, dict[str, Any], dict[str, Any]]:
    """A step's type, inputs and result keys (with_lock nests up to depth 3)."""
    kinds = ["external.process", "external.process", "check_items"]
    if depth < 3:
        kinds.append("with_lock")
    kind = draw(st.sampled_from(kinds))
    if kind == "external.process":
        inputs, results = _process(draw, ctx, step_id, depth)
    elif kind == "check_items":
        inputs, results = _check_items(draw, ctx)
    else:
        key = _lock_key(draw, ctx)
        ctx.lock_keys.append(key)
        inner_type, inner_inputs, results = _inner(draw, ctx, step_id, depth + 1)
        ctx.lock_keys.pop()
        if key in ctx.lock_keys and "same_key_missing_env" in ctx.avoid:
            # class 11: what the inner step renders must not fail where a lock fails first
            inner_inputs = _with_defaults(inner_inputs)
        inner: dict[str, Any] = {"type": inner_type}
        if draw(st.booleans()):
            inner["id"] = "inner"
        inner["inputs"] = inner_inputs
        inputs = {"lock_key": key}
        if draw(st.integers(0, 3)) == 0:
            inputs["ttl_seconds"] = draw(
                st.sampled_from(
                    [600, "60", 3600, "{{env.FZ_UNSET:90}}"]
                    + ([] if "ttl_zero_nested" in ctx.avoid else [0, -5])
                )
            )
        inputs["step"] = inner
    return kind, inputs, results


def _step(draw: Any, ctx: Ctx, index: int) -> dict[str, Any]:
    step_id = draw(
        st.sampled_from(
            [f"s{index}"] * 30 + [f"step-{index}"] * 4 + [f"S_{index}"] * 4 + [f"sü{index}"]
        )
    )
    kind, inputs, results = _inner(draw, ctx, step_id, 1)
    step: dict[str, Any] = {"id": step_id, "type": kind, "inputs": inputs}
    if kind != "external.process" and draw(st.integers(0, 2)) == 0 or draw(st.integers(0, 9)) == 0:
        step["on_no_data"] = "skip_job"
    if draw(st.integers(0, 3)):
        ctx.result = results if kind != "check_items" else {**results, "reason": "r"}
        outputs: dict[str, Any] = {}
        for key in draw(
            st.lists(st.sampled_from(OUTPUT_KEYS * 8 + RARE_KEYS), max_size=3, unique=True)
        ):
            if draw(st.integers(0, 4)) == 0:
                outputs[key] = draw(_nested(ctx))
            else:
                outputs[key] = _text_value(draw, ctx)
        ctx.result = None
        if outputs:
            step["outputs"] = outputs
            for key, value in outputs.items():
                ctx.job.outputs[key] = _sample(value, results)
    info_id = step_id
    ctx.steps.append(StepInfo(info_id, {k: v for k, v in results.items() if k != "reason"}))
    return step


def _sample(value: Any, results: dict[str, Any]) -> Any:
    """What an output may hold, for later choices (lists for check_items, numbers for min_count)."""
    if (
        isinstance(value, str)
        and value.startswith("{{result.")
        and value.endswith("}}")
        and ":" not in value
    ):
        return results.get(value[len("{{result.") : -2].strip())
    return value


# --- when -------------------------------------------------------------------------------

_WHEN_LITERALS = [
    "0",
    "1",
    "2",
    "3",
    "1.5",
    "'x'",
    "'SUCCESS'",
    "''",
    "'ü'",
    "True",
    "False",
    "'3'",
    "None",
    ".5",
    "1e3",
    "5.",
    "'\\x41'",
    "'\\u00fc'",
    '"dq"',
    "'it\\'s'",
    "'a b'",
    "2.0",
]
_PYTHON_LITERALS = ["1_000", "0x10", "0o17", "0b11", "'a' 'b'"]


def _when_names(ctx: Ctx, outputs: dict[str, Any]) -> list[str]:
    return [key for key in _names(outputs) if key.isascii() or "unicode_when" not in ctx.avoid]


def _when_atom(draw: Any, ctx: Ctx) -> str:
    referable = [
        j for j in ctx.jobs if j.referable and (j.id.isascii() or "unicode_when" not in ctx.avoid)
    ]
    form = draw(
        st.sampled_from(["status"] * 3 + ["output"] * 3 + ["bare", "chained", "literal_first"])
    )
    with_outputs = [j for j in referable if _when_names(ctx, j.outputs)]
    literals = _WHEN_LITERALS + ([] if "python_literals" in ctx.avoid else _PYTHON_LITERALS)
    if "big_int_in_when" not in ctx.avoid:
        literals.append(str(_BIG))
    if form in ("output", "bare", "chained", "literal_first") and with_outputs:
        job = draw(st.sampled_from(with_outputs))
        key = draw(st.sampled_from(_when_names(ctx, job.outputs)))
        path = f"jobs.{job.id}.outputs.{key}"
        op = draw(st.sampled_from(["==", "!=", "<", "<=", ">", ">="]))
        literal = draw(st.sampled_from(literals))
        sample = job.outputs[key]
        big = "big_int_in_when" in ctx.avoid and _number(sample) and abs(sample) >= 2**63
        if big:  # class 4: an integer beyond 64 bits ordered, or equal to a boolean or big literal
            op = draw(st.sampled_from(["==", "!="]))
            form = "output" if form == "chained" else form
        if _percent(draw, 85) and isinstance(
            sample, (bool, int, float, str)
        ):  # a literal of its type
            literal = repr(sample) if not isinstance(sample, str) or "{{" not in sample else "'x'"
            if literal.startswith("-"):  # the engine refuses a negative literal (a unary minus)
                literal = literal[1:]
        if big:
            literal = "3"
        if (
            sample == {} and "empty_mapping_when" in ctx.avoid
        ):  # whole, an empty mapping is the engine's true
            form = "output"
        if form == "bare":
            return path
        if form == "chained":
            return f"0 <= {path} < {draw(st.sampled_from(['3', '10', str(_BIG)] if 'big_int_in_when' not in ctx.avoid else ['3', '10']))}"
        if form == "literal_first":
            return f"{literal} {op} {path}"
        literal = (
            draw(st.sampled_from([literal, "true", "false"]))
            if op in ("==", "!=") and not big
            else literal
        )
        return f"{path} {op} {literal}"
    job = draw(st.sampled_from(referable))
    status = draw(st.sampled_from(["SUCCESS", "SKIPPED", "BLOCKED", "FAILED"]))
    if _percent(draw, 4):
        return f"jobs.{job.id}.skip_reason == 'condition=false'"
    return f"jobs.{job.id}.status {draw(st.sampled_from(['==', '!=']))} '{status}'"


def _when(draw: Any, ctx: Ctx) -> str:
    first = _when_atom(draw, ctx)
    shape = draw(st.sampled_from(["one", "one", "not", "and", "or", "paren"]))
    if shape == "one":
        return first
    if shape == "not":
        return f"not {first}"
    second = _when_atom(draw, ctx)
    if shape == "paren":
        return f"({first} or {second}) and not ({second})"
    return f"{first} {shape} {second}"


# --- flows ------------------------------------------------------------------------------


@st.composite
def flow_cases(draw: Any, avoid: frozenset[str] | None = None) -> dict[str, Any]:
    """A corpus case (cases/*.yaml format, without `about`) of 2 to 6 jobs."""
    avoid = avoided() if avoid is None else avoid
    values = (
        _ENV_VALUES
        if "forbidden_env_value" in avoid
        else st.one_of(_ENV_VALUES, st.sampled_from(["a{}b", "50%}", "x#}", "{%", "${x}"]))
    )
    env = {k: draw(values) for k in ENV_KEYS if draw(st.integers(0, 3))}
    settings = {
        "cleanup_policy": draw(st.sampled_from(["never", "on_success", "always"])),
        "locks": draw(st.sampled_from(["none", "job", "flow"])),
        "backend": draw(st.sampled_from(["sqlite", "sqlite", "file"])),
    }
    if _percent(draw, 10):
        settings["layout"] = draw(
            st.sampled_from(
                [
                    {"artifacts": "out", "scratch": "tmp", "manifests": "meta"},
                    {"artifacts": "a/b", "scratch": "s", "manifests": "m"},
                ]
            )
        )
    if _percent(draw, 10):
        settings["ttl_seconds"] = draw(
            st.sampled_from([60, "120"])
        )  # a template: see the mutations
    jobs: list[dict[str, Any]] = []
    infos: list[JobInfo] = []
    for index in range(draw(st.integers(2, 6))):
        # ids and keys the shell cannot name leave the flow without an sh artifact: rare
        job_id = draw(
            st.sampled_from(
                [f"j{index}"] * 30 + [f"j-{index}"] * 3 + [f"J_{index}"] * 3 + [f"jü{index}"]
            )
        )
        info = JobInfo(job_id, referable=job_id.isidentifier())
        ctx = Ctx(avoid, env, settings["locks"], list(infos), info)
        job: dict[str, Any] = {"id": info.id}
        if infos and draw(st.integers(0, 2)) == 0:
            job["depends_on"] = draw(
                st.lists(
                    st.sampled_from([j.id for j in infos]), min_size=1, max_size=2, unique=True
                )
            )
        if any(
            j.referable and (j.id.isascii() or "unicode_when" not in avoid) for j in infos
        ) and _percent(draw, 45):
            job["when"] = _when(draw, ctx)
        job["steps"] = [_step(draw, ctx, i) for i in range(draw(st.integers(0, 3)))]
        jobs.append(job)
        infos.append(info)
    if (
        "type_only_nested" in avoid
    ):  # class 2: give each type used only deep in a with_lock a plain use
        plain = {"external.process": {"command": ["true"]}, "check_items": {"items": ["x"]}}
        for kind in sorted(_deep_types(jobs) - _shallow_types(jobs)):
            jobs[-1]["steps"].append(
                {"id": f"plain_{kind.replace('.', '_')}", "type": kind, "inputs": plain[kind]}
            )
    return {"settings": settings, "env": env, "jobs": jobs}


def _walk_types(step: dict[str, Any], depth: int) -> list[tuple[int, str]]:
    found = [(depth, step["type"])]
    inner = (step.get("inputs") or {}).get("step")
    if step["type"] == "with_lock" and isinstance(inner, dict):
        found += _walk_types(inner, depth + 1)
    return found


def _shallow_types(jobs: list[dict[str, Any]]) -> set[str]:
    return {t for job in jobs for s in job["steps"] for d, t in _walk_types(s, 0) if d <= 1}


def _deep_types(jobs: list[dict[str, Any]]) -> set[str]:
    return {t for job in jobs for s in job["steps"] for d, t in _walk_types(s, 0) if d >= 2}


def dump_case(case: dict[str, Any], about: str = "") -> str:
    data = {"about": about or "found by the differential fuzzer", **case}
    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=1000)


# --- running ----------------------------------------------------------------------------


@dataclass
class Verdict:
    """One flow's three runs and what disagreed."""

    name: str
    case_text: str
    engine: Outcome | None
    python: Outcome | None  # None: the flow did not compile
    sh: Outcome | None
    differences: dict[str, list[str]]  # "compile" / "engine" / "sh" -> what differs, one line each

    @property
    def agrees(self) -> bool:
        return not any(self.differences.values())

    def explain(self) -> str:
        lines = [f"--- {self.name}", self.case_text]
        for compare, found in self.differences.items():
            if found:
                lines.append(f"{compare} vs python:" if compare != "compile" else "compile:")
                lines += [f"  {line}" for line in found]
        for label, outcome in (("engine", self.engine), ("python", self.python), ("sh", self.sh)):
            if outcome is not None and outcome.detail.strip():
                lines.append(f"{label} said: {outcome.detail.strip()[-600:]}")
        return "\n".join(lines)


def typed(value: Any) -> str:
    """JSON text that keeps 1, 1.0 and true apart (Python's == does not)."""
    return json.dumps(value, sort_keys=True, ensure_ascii=False)


def compare(
    theirs: Outcome, ours: Outcome, their_root: Path, our_root: Path, exit_code: bool
) -> list[str]:
    found = []
    if theirs.exit != ours.exit:
        found.append(f"exit: {theirs.exit} != {ours.exit}")
    if exit_code and theirs.code != ours.code:
        found.append(f"exit status: {theirs.code} != {ours.code}")
    for job in sorted(set(theirs.jobs) | set(ours.jobs)):
        if theirs.jobs.get(job) != ours.jobs.get(job):
            found.append(f"job {job}: {theirs.jobs.get(job)} != {ours.jobs.get(job)}")
    for job in sorted(set(theirs.outputs) | set(ours.outputs)):
        a = typed(theirs.outputs.get(job)).replace(str(their_root), "ROOT")
        b = typed(ours.outputs.get(job)).replace(str(our_root), "ROOT")
        if a != b:
            found.append(f"outputs {job}: {a} != {b}")
    for path in sorted(set(theirs.files) | set(ours.files)):
        a, b = theirs.files.get(path), ours.files.get(path)
        if a != b:
            # paths in the content (a log_file result, say) name each side's own directory
            a, b = _content(their_root, path, a), _content(our_root, path, b)
            if a != b:
                found.append(f"file {path}: {a} != {b}")
    return found


def _content(root: Path, rel: str, digest: str | None) -> str:
    if digest is None:
        return "(absent)"
    if digest == "dir":
        return "(dir)"
    data = (root / rel).read_bytes().replace(str(root).encode(), b"ROOT")
    return repr(data[:1500].decode("utf-8", "replace"))


def run_batch(
    cases: list[tuple[str, dict[str, Any]]], root: Path, *, with_sh: bool = True
) -> list[Verdict]:
    """Compile the cases (name, case) in one call, run each on every side, compare."""
    flows = root / "flows"
    flows.mkdir(parents=True)
    (root / "cases").mkdir()
    loaded: list[Case] = []
    texts: dict[str, str] = {}
    for name, case in cases:
        texts[name] = dump_case(case)
        path = root / "cases" / f"{name}.yaml"
        path.write_text(texts[name])
        loaded.append(Case.load(path))
        (flows / f"{name}.yaml").write_text(loaded[-1].flow_text)
    target = "all" if with_sh else "python"
    failed = _compile(flows, root / "dist", target)
    dists = {case.name: root / "dist" for case in loaded}
    failures: dict[str, str] = {}
    if failed is not None:  # find the flows that do not compile; the others run from their own dist
        dists = {}
        for case in loaded:
            alone = root / "alone" / case.name
            alone.mkdir(parents=True)
            shutil.copy(flows / f"{case.name}.yaml", alone)
            problem = _compile(alone, root / f"dist-{case.name}", target)
            if problem is None:
                dists[case.name] = root / f"dist-{case.name}"
            else:
                failures[case.name] = problem
        if not dists:
            return [
                Verdict(name, texts[name], None, None, None, {"compile": [problem]})
                for name, problem in failures.items()
            ]
    sides = {
        case.name: {
            label: Side(root / case.name / label, case) for label in ("engine", "python", "sh")
        }
        for case in loaded
    }
    compiled = [case for case in loaded if case.name in dists]
    engine = _start_engine(compiled, sides, root)
    pythons: dict[str, Outcome] = {}
    shs: dict[str, Outcome | None] = {}
    try:
        for case in compiled:
            dist = dists[case.name]
            manifest = json.loads((dist / "manifest.json").read_text())
            pythons[case.name] = run_artifact(
                sides[case.name]["python"], dist / f"{case.name}.py", {}, None
            )
            has_sh = with_sh and manifest["flows"][case.name].get("sh_artifact") is not None
            mirror = (
                {"AETHERFLOW_SH_SQLITE_MIRROR": "1"} if "backend: sqlite" in case.flow_text else {}
            )
            shs[case.name] = (
                run_artifact(
                    sides[case.name]["sh"],
                    dist / f"{case.name}.sh",
                    {"env": mirror},
                    None,
                    shell=SHELL,
                )
                if has_sh
                else None
            )
    finally:
        engine.wait(timeout=600)
    verdicts = [
        Verdict(name, texts[name], None, None, None, {"compile": [problem]})
        for name, problem in failures.items()
    ]
    for case in compiled:
        side = sides[case.name]
        report = side["engine"].root / "engine-report.json"
        eng = engine_outcome(side["engine"], report) if report.exists() else None
        ours = pythons[case.name]
        differences: dict[str, list[str]] = {"engine": [], "sh": []}
        if eng is None:
            differences["engine"].append(
                "the engine driver wrote no report: " + _tail(side["engine"].root / "engine.log")
            )
        else:
            eng.detail = eng.detail or _tail(side["engine"].root / "engine.log")
            # the engine has no outputs for jobs it did not reach; ours are compared where it has them
            mine = Outcome(
                ours.exit,
                ours.jobs,
                {j: o for j, o in ours.outputs.items() if j in eng.outputs},
                ours.files,
                ours.detail,
                ours.code,
            )
            differences["engine"] = compare(
                eng, mine, side["engine"].root, side["python"].root, exit_code=False
            )
        sh = shs[case.name]
        if sh is not None:
            differences["sh"] = compare(
                sh, ours, side["sh"].root, side["python"].root, exit_code=True
            )
        verdicts.append(Verdict(case.name, texts[case.name], eng, ours, sh, differences))
    return verdicts


def _compile(flows: Path, dist: Path, target: str) -> str | None:
    """Compile a directory of flows; None when it compiles (warnings allowed), else what went wrong."""
    from conftest import run_cli

    try:
        compiled = run_cli(["compile", str(flows), "-o", str(dist), "--target", target])
    except Exception as exc:  # run_cli lets the compiler's own exceptions through
        import traceback

        return "the compiler raised: " + "".join(traceback.format_exception(exc))[-1500:]
    if compiled.exit_code != 0:
        lines, warning = [], False
        for line in (compiled.stdout + compiled.stderr).splitlines():
            warning = " AF8" in line or warning and line.startswith("  ")
            if not warning:
                lines.append(line)
        return f"compile exited {compiled.exit_code}: " + "\n".join(lines)[-1500:]
    return None


def _start_engine(
    cases: list[Case], sides: dict[str, dict[str, Side]], root: Path
) -> subprocess.Popen[bytes]:
    items = []
    for case in cases:
        side = sides[case.name]["engine"]
        items.append(
            {
                "flow": str(root / "flows" / f"{case.name}.yaml"),
                "run_id": RUN_ID,
                "out": str(side.root / "engine-report.json"),
                "cwd": str(side.root / "cwd"),
                "env": side.env({"FZ_ENGINE": "1"}),
                "log": str(side.root / "engine.log"),
            }
        )
    spec = root / "engine-batch.json"
    spec.write_text(json.dumps(items))
    return subprocess.Popen(
        [oracle_python(), str(HERE / "oracle_driver.py"), "--batch", str(spec)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def _tail(path: Path) -> str:
    return path.read_text(errors="replace")[-1500:] if path.exists() else ""


def main(argv: list[str]) -> int:
    """Run case files (cases/*.yaml format) on the three sides and print what differs."""
    import tempfile

    os.environ.setdefault("AETHERFLOW_CACHE_DIR", tempfile.mkdtemp(prefix="difffuzz-cache-"))
    root = Path(tempfile.mkdtemp(prefix="difffuzz-"))
    cases = []
    for arg in argv:
        data = yaml.safe_load(Path(arg).read_text())
        data.pop("about", None)
        data.pop("beyond", None)
        cases.append((Path(arg).stem.replace("-", "_"), data))
    status = 0
    for verdict in run_batch(cases, root):
        print(verdict.explain() if not verdict.agrees else f"--- {verdict.name}: all three agree")
        status |= not verdict.agrees
    shutil.rmtree(root, ignore_errors=True)
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
