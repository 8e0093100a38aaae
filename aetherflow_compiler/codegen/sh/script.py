"""The flow's own shell code: `generate_sh` renders templates/flow.sh.j2 with the flow's
settings, its jobs (one function each, a comment pointing at the YAML line) and its
`when` gates. Constants are written as shell words; only values known at run time (a
template's text, a converted setting) go through variables.
"""

from __future__ import annotations

import dataclasses
import datetime
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache
from typing import Any

from aetherflow_compiler import __version__, package_data
from aetherflow_compiler.codegen.literals import comment_text, function_names
from aetherflow_compiler.codegen.sh.process_inputs import INPUTS
from aetherflow_compiler.codegen.sh.runtime import (
    DIST_PATH,
    VERIFY_PATH,
    runtime_cksum,
    runtime_source,
)
from aetherflow_compiler.codegen.sh.words import (
    json_literal,
    lock_name,
    plain,
    py_str,
    q,
    text_keys,
)
from aetherflow_compiler.ir import nodes as ir
from aetherflow_compiler.ir.nodes import templates_in
from aetherflow_compiler.ir.template import TEXT_ROOTS, Ref, Template
from aetherflow_compiler.ir.validation import VALIDATION_TEXT, start_checks
from aetherflow_compiler.ir.when import BoolOp, Compare, JobAttr, JobOutput, Literal, Not, WhenExpr
from aetherflow_compiler.steps.types import TRUE_WORDS

# --- code -------------------------------------------------------------------------------


@dataclass
class _Code:
    """Lines of a function body and the counter for its temporary variables. With `pre`
    set, templates are rendered there instead (see _Render) and variables are numbered
    by it."""

    indent: str
    lines: list[str] = field(default_factory=list)
    counter: int = 0
    pre: _Render | None = None

    def add(self, line: str) -> None:
        self.lines.append(self.indent + line if line else "")

    def var(self) -> str:
        if self.pre is not None:
            return self.pre.var()
        self.counter += 1
        return f"af_{self.counter}"


@dataclass
class _Render(_Code):
    """Where a step's templates are rendered: before anything else of the step happens (a
    conversion, a lock, a directory made), as the Python runtime renders all of a step's
    inputs before it runs the step, so that a missing key fails it first. Lines are kept
    with the position of their input in the YAML (`at`) and come out in that order, the
    order in which Python renders them. A missing key runs `fail`."""

    fail: str = "return 1"
    at: tuple[int, ...] = ()
    placed: list[tuple[tuple[int, ...], str]] = field(default_factory=list)

    def add(self, line: str) -> None:
        self.placed.append((self.at, self.indent + line if line else ""))

    def ordered(self) -> list[str]:
        return [line for _, line in sorted(self.placed, key=lambda placed: placed[0])]


def _at(code: _Code, *position: int) -> None:
    """Templates rendered from here on belong to the input at `position` (indexes into the
    step's YAML mappings and lists)."""
    if code.pre is not None:
        code.pre.at = position


def _index(mapping: ir.Map, key: str) -> int:
    return next(n for n, (k, _) in enumerate(mapping.entries) if str(k) == key)


@dataclass(frozen=True)
class _Scope:
    """Where templates are resolved: the job and its steps' places (`steps.X` reads the
    result of step X, kept in AF_SR_<its index>), the flow's jobs, and, in a step's
    outputs, the step itself (its result is `result`)."""

    job_id: str = ""
    job_index: dict[str, int] = field(default_factory=dict)
    earlier: dict[str, int] = field(default_factory=dict)  # steps before this one: id -> index
    current: str | None = None  # in outputs: this step's id


def _getter(ref: Ref, scope: _Scope) -> str:
    """A command that puts the JSON literal a (non-text) reference names in REPLY, and
    fails when it is absent (a step or job that does not run first always is)."""
    path = ref.path
    if ref.root == "result" or (ref.root == "steps" and path[1] == scope.current):
        return f'af_map_get "$AF_RESULT" {q(json.dumps(path[-1], ensure_ascii=False))}'
    if ref.root == "steps":
        if path[1] not in scope.earlier:
            return "false"
        return f"af_ref_step {scope.earlier[path[1]]} {q(json.dumps(path[2], ensure_ascii=False))}"
    if ref.root == "job":
        return f'af_map_get "$AF_JOB_OUT" {q(json.dumps(path[2], ensure_ascii=False))}'
    index = scope.job_index.get(path[1])
    if index is None or path[1] == scope.job_id or index >= scope.job_index.get(scope.job_id, 0):
        return "false"  # a job that runs later (or this one) has no entry yet
    if path[2] == "outputs":
        return f"af_ref_jobs {index} {q(path[1])} {q(json.dumps(path[3], ensure_ascii=False))}"
    function = "af_jstatus" if path[2] == "status" else "af_jreason"
    return f"{function} {index} {q(path[1])} 2>/dev/null"


def _is_text_ref(ref: Ref) -> bool:
    return ref.root in TEXT_ROOTS or ref.path == ("job", "id")


def _ref_text(code: _Code, ref: Ref, scope: _Scope, on_missing: str) -> None:
    """Lines that put a reference's text (Python's str() of its value) in REPLY, or run
    `on_missing` with AF_MISSING naming it."""
    if ref.root == "env":
        args = q(ref.path[1]) + ("" if ref.default is None else " " + q(ref.default))
        code.add(f"af_env {args} || {{ {on_missing}; }}")
    elif ref.root in ("flow_id", "run_id"):
        code.add(f'REPLY=${"AF_FLOW_ID" if ref.root == "flow_id" else "AF_RUN_ID"}')
    elif ref.path == ("job", "id"):
        code.add(f"REPLY={q(scope.job_id)}")
    else:
        fallback = (
            f"REPLY={q(ref.default)}"
            if ref.default is not None
            else f"AF_MISSING={q(ref.dotted)}; {on_missing}"
        )
        code.add(
            f'if {_getter(ref, scope)} && [ "$REPLY" != \'""\' ]; then af_text "$REPLY"; else {fallback}; fi'
        )


def _ref_json(code: _Code, ref: Ref, scope: _Scope, on_missing: str) -> None:
    """Lines that put the JSON literal of a standalone token's value in REPLY (a default
    is a string), or run `on_missing`."""
    if _is_text_ref(ref):
        _ref_text(code, ref, scope, on_missing)
        code.add('af_json_str "$REPLY"')
        return
    fallback = (
        f"REPLY={q(json.dumps(ref.default, ensure_ascii=False))}"
        if ref.default is not None
        else f"AF_MISSING={q(ref.dotted)}; {on_missing}"
    )
    code.add(f'if {_getter(ref, scope)} && [ "$REPLY" != \'""\' ]; then :; else {fallback}; fi')


def _is_literal(value: ir.Value) -> bool:
    return not any(True for _ in templates_in(value))


def _emit_string(
    code: _Code,
    value: ir.Value,
    fail: str,
    scope: _Scope | None = None,
    missing: str | None = None,
    syntax: str | None = None,
) -> str:
    """A shell word for the str() of a value: the quoted text of a literal, or "$af_N" for a
    variable that the lines added to `code` set at run time. A missing key runs `missing` (by default: the step fails, then `fail`); so does text
    with tokens that renders to forbidden template syntax, unless `syntax` says otherwise."""
    if code.pre is not None and not _is_literal(value):
        return _emit_string(code.pre, value, code.pre.fail, scope, missing, syntax)
    scope = scope or _Scope()
    on_missing = missing or f"af_missing; {fail}"
    if _is_literal(value):
        text = py_str(value)
        if "\0" not in text:
            return q(text)
        var = code.var()
        code.add(f"{var}={_nul_words(text)}; AF_NUL=1")
        return f'"${var}"'
    var = code.var()
    if not isinstance(value, Template):  # a list or mapping with templates inside
        literal = _emit_json(code, value, fail, scope, missing)
        code.add(f"af_text {literal}; {var}=$REPLY")
        return f'"${var}"'
    code.add(f"{var}=")
    for part in value.parts:
        if isinstance(part, Ref):
            _ref_text(code, part, scope, on_missing)
            code.add(f'{var}="${var}$REPLY"')
        elif "\0" in part.text:
            code.add(f'{var}="${var}"{_nul_words(part.text)}; AF_NUL=1')
        elif part.text:
            code.add(f'{var}="${var}"{q(part.text)}')
    # The rendered text must not hold forbidden syntax either ({} from a value); ids cannot add any.
    if not value.standalone and not all(
        ref.root in ("flow_id", "run_id") or ref.path == ("job", "id") for ref in value.refs
    ):
        code.add(f'af_rendered "${var}" {q(value.source)} || {{ {syntax or on_missing}; }}')
    return f'"${var}"'


def _nul_words(text: str) -> str:
    """Shell words for a literal text holding a NUL, which a shell value cannot: the
    runtime's AF_NULC stands in its place (json.awk writes it back as \\u0000)."""
    return '"$AF_NULC"'.join(q(part) for part in text.split("\0"))


def _emit_json(
    code: _Code, value: ir.Value, fail: str, scope: _Scope, missing: str | None = None
) -> str:
    """A shell word for the value's JSON literal (a standalone token keeps its type): the
    quoted literal, or "$af_N" for a variable set at run time."""
    if code.pre is not None and not _is_literal(value):
        return _emit_json(code.pre, value, code.pre.fail, scope, missing)
    if isinstance(value, Template) and value.standalone:
        _ref_json(code, value.refs[0], scope, missing or f"af_missing; {fail}")
        var = code.var()
        code.add(f"{var}=$REPLY")
        return f'"${var}"'
    if isinstance(value, Template) and value.refs:
        text = _emit_string(code, value, fail, scope, missing)
        code.add(f"af_json_str {text}")
        var = code.var()
        code.add(f"{var}=$REPLY")
        return f'"${var}"'
    if isinstance(value, (ir.Seq, ir.Map)) and not _is_literal(value):
        # A list or mapping with templates inside: its JSON is put together at run time.
        pairs = (
            list(enumerate(value.items))
            if isinstance(value, ir.Seq)
            else [(str(k), v) for k, v in value.entries]
        )
        parts: list[str] = []
        for key, item in pairs:
            literal = _emit_json(code, item, fail, scope, missing)
            prefix = "" if isinstance(value, ir.Seq) else json.dumps(key, ensure_ascii=False) + ": "
            parts.append(f"{q(prefix)}{literal}" if prefix else literal)
        var = code.var()
        opening, closing = ("[", "]") if isinstance(value, ir.Seq) else ("{", "}")
        code.add(f"{var}={q(opening)}{q(', ').join(parts)}{q(closing)}")
        return f'"${var}"'
    return q(json_literal(value))


# bigint: an int kept whole however long (min_count); int: clamped to 64 bits
_CONVERT = {"int": "af_to_int", "bigint": "af_to_int", "num": "af_to_num", "bool": "af_to_bool"}


def _emit_setting(
    code: _Code,
    variable: str,
    value: ir.Value,
    kind: str,
    name: str,
    fail: str,
    scope: _Scope,
    falsy: Any = None,
) -> None:
    """VARIABLE=the setting as the runtime wants it (1/0, digits); a template is read and
    converted at run time as the Python target converts it. `falsy`: the value that
    stands for a false one (the runtime reads `value or falsy`)."""
    if _is_literal(value):
        if falsy is not None and not plain(value):
            value = falsy
        code.add(f"{variable}={q(_setting(value, kind))}")
        return
    literal = _emit_json(code, value, fail, scope)
    if falsy is not None:
        code.add(f"af_truthy {literal} || {_name(literal)}={q(json.dumps(falsy))}")
    exact = " exact" if kind == "bigint" else ""
    code.add(f"{_CONVERT[kind]} {literal} {q(name)}{exact} || {fail}")
    code.add(f"{variable}=$REPLY")


def _setting_word(
    code: _Code, value: ir.Value, kind: str, name: str, fail: str, scope: _Scope
) -> str:
    """A shell word for a setting as the runtime wants it: a literal's converted value, or
    "$af_N" set at run time from a template."""
    if _is_literal(value):
        return q(_setting(value, kind))
    var = code.var()
    _emit_setting(code, var, value, kind, name, fail, scope)
    return f'"${var}"'


def _name(word: str) -> str:
    """The variable a "$af_N" word reads."""
    assert word.startswith('"$') and word.endswith('"'), word
    return word[2:-1]


def _emit_codes(
    code: _Code, variable: str, value: ir.Value, name: str, fail: str, scope: _Scope
) -> None:
    """VARIABLE=" a b " for a list of exit codes (or one code)."""
    if _is_literal(value):
        code.add(f"{variable}={q(_codes(value))}")
        return
    items = value.items if isinstance(value, ir.Seq) else [value]
    code.add(f"{variable}=' '")
    for item in items:
        literal = _emit_json(code, item, fail, scope)
        code.add(f"af_int_list {literal} {q(name)} || {fail}")
        code.add(f'{variable}="${variable}$REPLY"')


def _emit_process(
    code: _Code, inputs: ir.Map, fail: str, scope: _Scope, at: tuple[int, ...] = ()
) -> None:
    """An external.process step's inputs into AF_P_* settings, then the run. `at`: where
    the inputs are in the step's YAML (rendering follows it)."""

    def place(*keys: str) -> tuple[int, ...]:
        """Render what follows at the position of inputs[keys[0]][keys[1]]..."""
        position, mapping = list(at), inputs
        for key in keys:
            position.append(_index(mapping, key))
            inner = mapping.get(key)
            mapping = inner if isinstance(inner, ir.Map) else ir.Map(())
        _at(code, *position)
        return tuple(position)

    simple = {str(key) for key, _ in inputs.entries} <= {"command", "args"}
    if not simple:
        code.add("af_process_reset")
        code.add("AF_P_ENV_N=0")
    command, args = inputs.get("command"), inputs.get("args")
    argv: list[str] = []
    if isinstance(command, Template) or isinstance(args, Template):
        _emit_dynamic_argv(code, command, args, fail, scope, place)
        argv = ['"$@"']
    else:
        base = place("command")
        for n, item in enumerate(command.items if isinstance(command, ir.Seq) else [command]):
            _at(code, *base, n)
            argv.append(_emit_string(code, item, fail, scope))
        if isinstance(args, ir.Seq):
            base = place("args")
            for n, item in enumerate(args.items):
                _at(code, *base, n)
                argv.append(_emit_string(code, item, fail, scope))
    if simple:
        code.add(f"af_plain {' '.join(argv)} || {fail}")
        return
    results: list[str] = []
    for spec in INPUTS:
        parent, key = inputs, spec.path[-1]
        if len(spec.path) == 2:
            section = inputs.get(spec.path[0])
            if not isinstance(section, ir.Map):
                continue
            parent = section
        value = parent.get(key)
        if value is None or (spec.skip_falsy and not value):
            continue
        if spec.kind == "env":
            if isinstance(value, ir.Map):
                for name, entry in value.entries:
                    place("env", str(name))
                    code.add(
                        f"af_env_set {q(str(name))} {_emit_env_value(code, entry, fail, scope)}"
                    )
        elif spec.kind == "outputs":
            if isinstance(value, ir.Map):
                for name, entry in value.entries:  # rendered with the other inputs, before the run
                    place("outputs", str(name))
                    results.append(
                        f"af_result {q(str(name))} {_emit_json(code, entry, fail, scope)}"
                    )
        elif spec.kind == "codes" and spec.late:
            base = place(*spec.path)
            if _is_literal(value):
                code.add(f"{spec.variable}={q(_codes(value))}")
            else:
                late = "AF_PJ_" + spec.variable.removeprefix("AF_P_")
                code.add(f"{late}=")
                for n, entry in enumerate(value.items if isinstance(value, ir.Seq) else [value]):
                    _at(code, *base, n)
                    code.add(f'{late}="${late}"{_emit_json(code, entry, fail, scope)}"$AF_NL"')
        elif spec.kind == "codes":
            place(*spec.path)
            _emit_codes(code, spec.variable, value, spec.label, fail, scope)
            code.add(
                f"[ \"${spec.variable}\" != ' ' ] || {spec.variable}={q(_codes(spec.default))}"
            )
        elif spec.kind == "paths":
            base = place(*spec.path)
            entries = value.items if isinstance(value, ir.Seq) else [value]
            for n, entry in enumerate(entries):
                _at(code, *base, *((n,) if isinstance(value, ir.Seq) else ()))
                code.add(
                    f'{spec.variable}="${spec.variable}"{_emit_string(code, entry, fail, scope)}"$AF_NL"'
                )
        elif spec.kind == "mode":
            place(*spec.path)
            _emit_mode(code, spec.variable, value, spec.default, fail, scope)
        elif spec.kind == "str":
            place(*spec.path)
            code.add(f"{spec.variable}={_emit_string(code, value, fail, scope)}")
        elif spec.late:
            # A template is converted in af_process, where Python converts it: after the
            # marker check and the atomic_dir temp dir (af_process_late, af_finalize).
            place(*spec.path)
            _emit_late(
                code,
                spec.variable.removeprefix("AF_P_"),
                value,
                spec.kind,
                spec.label,
                fail,
                scope,
                spec.falsy,
            )
        else:
            place(*spec.path)
            _emit_setting(code, spec.variable, value, spec.kind, spec.label, fail, scope)
    if argv != ['"$@"']:
        code.add(f"set -- {' '.join(argv)}")
    code.add(f'af_process "$@" || {fail}')
    if results:
        code.add('if [ "$AF_STEP_STATUS" = SUCCESS ]; then')
        code.lines.extend(code.indent + "    " + line for line in results)
        code.add("fi")


def _emit_env_value(code: _Code, value: ir.Value, fail: str, scope: _Scope) -> str:
    """An env entry's value as the Python target passes it: str(value), but "" for None
    (a null literal, or a token whose value is null)."""
    if isinstance(value, Template) and value.standalone and not _is_text_ref(value.refs[0]):
        literal = _emit_json(code, value, fail, scope)
        var = code.var()
        code.add(f"if [ {literal} = null ]; then {var}=; else af_text {literal}; {var}=$REPLY; fi")
        return f'"${var}"'
    return _emit_string(code, "" if value is None else value, fail, scope)


def _emit_late(
    code: _Code,
    name: str,
    value: ir.Value,
    kind: str,
    label: str,
    fail: str,
    scope: _Scope,
    falsy: Any = None,
) -> None:
    """AF_P_<name>: a literal setting converted now; a template's JSON literal goes to
    AF_PJ_<name>, which the runtime converts later (af_process_late, af_finalize)."""
    if _is_literal(value):
        _emit_setting(code, f"AF_P_{name}", value, kind, label, fail, scope, falsy)
        return
    literal = _emit_json(code, value, fail, scope)
    if falsy is not None:
        code.add(f"af_truthy {literal} || {_name(literal)}={q(json.dumps(falsy))}")
    code.add(f"AF_PJ_{name}={literal}")


def _emit_dynamic_argv(
    code: _Code,
    command: ir.Value,
    args: ir.Value,
    fail: str,
    scope: _Scope,
    place: Callable[..., tuple[int, ...]],
) -> None:
    """`set -- ...` for a command or args that is one template: its value (a list, or for
    the command a string) is known only at run time."""
    code.add("set --")
    for name, value in (("command", command), ("args", args)):
        if value is None:
            continue
        base = place(name)
        if isinstance(value, ir.Seq) or not isinstance(value, Template):
            for n, item in enumerate(value.items if isinstance(value, ir.Seq) else [value]):
                _at(code, *base, *((n,) if isinstance(value, ir.Seq) else ()))
                code.add(f'set -- "$@" {_emit_string(code, item, fail, scope)}')
            continue
        literal = _emit_json(code, value, fail, scope)
        code.add(f"af_argv_json {literal} {name} || {fail}")
        code.add("af_argv_items=$REPLY")
        code.add('while [ -n "$af_argv_items" ]; do')
        code.add(
            '    af_text "${af_argv_items%%"$AF_NL"*}"; af_argv_items=${af_argv_items#*"$AF_NL"}'
        )
        code.add('    set -- "$@" "$REPLY"')
        code.add("done")


def _emit_mode(
    code: _Code, variable: str, value: ir.Value, default: str, fail: str, scope: _Scope
) -> None:
    """A mode word (log stream, idempotency strategy), lower case as the runtime reads it;
    an empty one is the default."""
    if _is_literal(value):
        code.add(f"{variable}={q(str(plain(value) or default).lower())}")
        return
    text = _emit_string(code, value, fail, scope)
    code.add(f"af_lower {text} {q(default)}; {variable}=$REPLY")


def _setting(value: ir.Value, kind: str) -> str:
    """A literal setting as the runtime wants it: 1/0 for booleans, digits for numbers."""
    raw = plain(value)
    if kind == "bool":
        if isinstance(raw, str):
            return "1" if raw.strip().lower() in TRUE_WORDS else "0"
        return "1" if raw else "0"
    if kind in ("int", "bigint"):
        return _int_text(raw)
    number = (
        float(str(raw).strip())
        if not isinstance(raw, (int, float)) or isinstance(raw, bool)
        else raw
    )
    return f"{number:g}" if isinstance(number, float) else str(number)


def _int_text(raw: Any) -> str:
    """A literal integer setting in digits, read as the engine's int() reads it: 2.0 is 2
    (validate refuses what int() would cut, such as 2.5), "7" and " 7 " are 7."""
    return str(int(raw if isinstance(raw, (int, float)) else str(raw).strip()))


def _codes(value: ir.Value) -> str:
    """ " a b " for a list of codes, " " for none."""
    raw = plain(value)
    items = raw if isinstance(raw, list) else [raw]
    return " " + "".join(_int_text(x) + " " for x in items)


def _emit_check_items(code: _Code, inputs: ir.Map, fail: str, scope: _Scope) -> None:
    items = inputs.get("items")
    if isinstance(items, ir.Seq):
        count = str(len(items.items))  # a list keeps its length, whatever its items render to
        for item in items.items:
            _emit_string(code, item, fail, scope)  # each must resolve, as in the Python target
    elif isinstance(items, Template) and items.standalone and not _is_text_ref(items.refs[0]):
        literal = _emit_json(code, items, fail, scope)
        count = code.var()
        code.add(f"af_items_count {literal} || {fail}")
        code.add(f"{count}=$REPLY")
        count = f'"${count}"'
    elif isinstance(items, Template):
        text = _emit_string(code, items, fail, scope)
        count = code.var()
        code.add(f"af_split_items {text}")
        code.add(f"{count}=$REPLY")
        count = f'"${count}"'
    else:
        count = str(len([p.strip() for p in str(plain(items)).split(",") if p.strip()]))
    min_count = _setting_word(code, inputs.get("min_count", 1), "bigint", "min_count", fail, scope)
    code.add(f"af_check_items min_count={min_count} count={count} || {fail}")


def _emit_body(
    code: _Code, step_type: str, inputs: ir.Map, fail: str, scope: _Scope, at: tuple[int, ...] = ()
) -> None:
    """A step's work; `at` is where its inputs are in the YAML (a with_lock's inner step is
    rendered with the with_lock's inputs, before the lock is taken)."""
    _at(code, *at)
    if step_type == "check_items":
        _emit_check_items(code, inputs, fail, scope)
    elif step_type == "with_lock":
        _at(code, *at, _index(inputs, "lock_key"))
        key = _emit_string(code, inputs.get("lock_key"), fail, scope)
        if inputs.get("ttl_seconds") is not None:
            _at(code, *at, _index(inputs, "ttl_seconds"))
        ttl = _setting_word(code, inputs.get("ttl_seconds", 600), "int", "ttl_seconds", fail, scope)
        inner = inputs.get("step")
        assert isinstance(inner, ir.Map)
        inner_inputs = inner.get("inputs")
        inner_at = (*at, _index(inputs, "step"))
        if isinstance(inner_inputs, ir.Map):
            inner_at = (*inner_at, _index(inner, "inputs"))
        else:
            inner_inputs = ir.Map(())
        code.add(f"af_lock_step {key} ttl={ttl} || {fail}")
        release = f"{{ af_lock_release {key}; {fail}; }}"
        _emit_body(code, str(inner.get("type")), inner_inputs, release, scope, inner_at)
        code.add(f"af_lock_release {key}")
    else:
        _emit_process(code, inputs, fail, scope, at)


def _emit_outputs(code: _Code, outputs: ir.Map, scope: _Scope) -> None:
    """Promote the step's outputs; the first that cannot be rendered stops the others."""
    first = True
    for key, value in outputs.entries:
        guard = "" if first else '[ -z "$AF_PROMOTE_ERROR" ] && '
        first = False
        name = q(str(key))
        if _is_literal(value):
            code.add(f"{guard}af_output {name} {q(json_literal(value))}")
            continue
        code.add(f"{guard}{{")
        inner = _Code(code.indent + "    ", counter=code.counter)
        literal = _emit_json(inner, value, "", scope, missing="af_promote_missing")
        inner.add(f'[ -z "$AF_PROMOTE_ERROR" ] && af_output {name} {literal}')
        code.lines.extend(inner.lines)
        code.counter = inner.counter
        code.add("}")


def _plain_argv(step: ir.Step) -> list[str] | None:
    """The words of a step that is only a literal command (no other input, no outputs,
    no on_no_data), which runs on the runtime's short path; None for any other step."""
    inputs = step.inputs
    if (
        step.type != "external.process"
        or step.outputs.entries
        or step.skip_job_on_no_data
        or not {str(key) for key, _ in inputs.entries} <= {"command", "args"}
        or not _is_literal(inputs)
    ):
        return None
    command, args = inputs.get("command"), inputs.get("args")
    if (
        not isinstance(command, ir.Seq)
        or not command.items
        or (args is not None and not isinstance(args, ir.Seq))
    ):
        return None
    words = [
        py_str(item) for item in (*command.items, *(args.items if isinstance(args, ir.Seq) else ()))
    ]
    return (
        None if any("\0" in word for word in words) else words
    )  # a NUL fails the step: the general path


def _emit_step(code: _Code, step: ir.Step, index: int, scope: _Scope) -> None:
    code.add(f"# {comment_text(str(step.origin))}")
    argv = _plain_argv(step)
    if argv is not None:
        code.add(
            f"af_plain_step {q(step.id)} index={index} {' '.join(q(word) for word in argv)} || return 1"
        )
        return
    on_no_data = " on_no_data=skip_job" if step.skip_job_on_no_data else ""
    code.add(f"if af_step {q(step.id)} {q(step.type)} index={index}{on_no_data}; then")
    render = _Render(code.indent + "    ", fail="return 1")
    body = _Code(code.indent + "    ", pre=render)
    _emit_body(body, step.type, step.inputs, "return 1", scope)
    body.counter, body.pre = render.counter, None
    _emit_outputs(body, step.outputs, dataclasses.replace(scope, current=step.id))
    body.add("af_step_end || return 1")
    code.lines.extend(render.ordered() + body.lines)
    code.add("fi")


# --- when -------------------------------------------------------------------------------


def _when_operand(code: _Code, expr: WhenExpr, index: dict[str, int]) -> str:
    """A shell word for an operand's JSON literal: a literal's quoted JSON, or "$af_N" for
    a variable the lines added to `code` set."""
    if isinstance(expr, Literal):
        return q(json.dumps(expr.value, ensure_ascii=False))
    var = code.var()
    if isinstance(expr, JobOutput):
        code.add(
            f"af_jo {index[expr.job]} {q(expr.job)} {q(json.dumps(expr.key, ensure_ascii=False))} || return 2"
        )
        code.add(f"{var}=$REPLY")
    elif isinstance(expr, JobAttr):
        function = "af_jstatus" if expr.attr == "status" else "af_jreason"
        code.add(f"{function} {index[expr.job]} {q(expr.job)} || return 2")
        code.add(f"{var}=$REPLY")
    else:
        _when_truth(code, expr, index)
        code.add(f'if [ "$af_w" = 0 ]; then {var}=true; else {var}=false; fi')
    return f'"${var}"'


def _when_truth(code: _Code, expr: WhenExpr, index: dict[str, int]) -> None:
    """Code that sets af_w to 0 (true) or 1 (false), or returns 2 (an invalid `when`)."""
    if isinstance(expr, Compare):
        left = _when_operand(code, expr.left, index)
        code.add("af_w=0")
        depth = 0
        for op, right in zip(expr.ops, expr.comparators, strict=True):
            if depth:
                code.add('if [ "$af_w" = 0 ]; then')
                code.indent += "    "
            rvar = _when_operand(code, right, index)
            code.add(f"af_cmp {left} {q(op)} {rvar}")
            code.add("case $? in 1) af_w=1 ;; 2) return 2 ;; esac")
            left = rvar
            depth += 1
        for _ in range(depth - 1):
            code.indent = code.indent[:-4]
            code.add("fi")
    elif isinstance(expr, BoolOp):
        wanted = "0" if expr.op == "and" else "1"
        _when_truth(code, expr.values[0], index)
        for value in expr.values[1:]:
            code.add(f'if [ "$af_w" = {wanted} ]; then')
            code.indent += "    "
            _when_truth(code, value, index)
        for _ in expr.values[1:]:
            code.indent = code.indent[:-4]
            code.add("fi")
    elif isinstance(expr, Not):
        _when_truth(code, expr.operand, index)
        code.add("af_w=$((1 - af_w))")
    else:
        var = _when_operand(code, expr, index)
        code.add(f"if af_wtruthy {var}; then af_w=0; else af_w=1; fi")


# --- the script ---------------------------------------------------------------------------


def _setting_code(variable: str, value: ir.Value) -> list[str]:
    code = _Code("    ")
    text = _emit_string(
        code,
        value,
        "",
        missing='af_die "flow settings need env variable ${AF_MISSING#env.}"',
        syntax='af_die "flow settings cannot be resolved: $AF_SYNTAX"',
    )
    code.add(f"{variable}={text}")
    return code.lines


def _start_check_code(flow: ir.Flow) -> list[str]:
    """af_start_checks, run before a run starts where the flow has one: the templates of
    start_checks rendered from the env snapshot; forbidden syntax in one stops the run
    with exit 2 before anything is written, a missing key ends its section."""
    checks = start_checks(flow)
    if not checks:
        return []
    code = _Code("        ")
    out = [
        "af_start_checks() {  # as the engine's validation: the templates an env value can make it refuse"
    ]
    for job_id, step_id, section, templates in checks:
        where = f"job '{job_id}', step '{step_id}', {section}"
        code.lines = []
        for template in templates:
            if template.standalone:
                code.add(f"af_env {q(template.refs[0].path[1])} || break")
                continue
            var = code.var()
            code.add(f"{var}=")
            for part in template.parts:
                if isinstance(part, Ref) and part.root == "env":
                    args = q(part.path[1]) + ("" if part.default is None else " " + q(part.default))
                    code.add(f"af_env {args} || break")
                    code.add(f'{var}="${var}$REPLY"')
                else:
                    text = (
                        VALIDATION_TEXT.get(part.path, part.default)
                        if isinstance(part, Ref)
                        else part.text
                    )
                    if text:
                        code.add(f'{var}="${var}"{q(text)}')
            code.add(
                f'af_rendered "${var}" {q(template.source)} || af_start_refused {q(job_id)} {q(step_id)} {section}'
            )
        out += [
            f"    while :; do  # {comment_text(where)}",
            *code.lines,
            "        break",
            "    done",
        ]
    return out + ["}", ""]


def state_path_note(flow: ir.Flow) -> str | None:
    """Where the shell artifact of a flow whose state backend is not `file` keeps its
    state (the file layout, beside the declared path), or None for a file-backed flow."""
    if flow.state.backend == "file":
        return None
    path = (
        flow.state.path.source
        if isinstance(flow.state.path, Template)
        else str(plain(flow.state.path))
    )
    return f"{path}.d"


def _state_shown(flow: ir.Flow, path: Any) -> str:
    derived = state_path_note(flow)
    if derived is None:
        return f"file {path}"
    return (
        f"file {derived} (state.backend {flow.state.backend} declares {path}; the sh target keeps files,"
        " and mirrors statuses there with AETHERFLOW_SH_SQLITE_MIRROR=1)"
    )


def _plan_lines(flow: ir.Flow) -> list[str]:
    def shown(value: ir.Value) -> Any:
        if isinstance(value, Template):
            return value.source
        if isinstance(value, ir.Seq):
            return [shown(v) for v in value.items]
        if isinstance(value, ir.Map):
            return {k: shown(v) for k, v in value.entries}
        if isinstance(value, (datetime.date, datetime.datetime)):
            return str(value)
        return value

    out = [
        f"flow {flow.id} (compiled from {flow.source} by aetherflow-compiler {__version__}, sh target)",
        f"  workspace: {shown(flow.workspace.root)} (cleanup {flow.workspace.cleanup_policy})",
        f"  state:     {_state_shown(flow, shown(flow.state.path))}",
        f"  locks:     scope {flow.locks.scope}, ttl {shown(flow.locks.ttl_seconds)} s",
    ]
    for job in flow.jobs:
        extra = ""
        if job.depends_on:
            extra += "  depends_on: " + ", ".join(job.depends_on)
        if job.when_source:
            extra += "  when: " + job.when_source
        out.append(f"job {job.id}  [{job.origin}]{extra}")
        for step in job.steps:
            flag = "  on_no_data: skip_job" if step.skip_job_on_no_data else ""
            out.append(f"  step {step.id}  {step.type}{flag}")
            out.append(
                "    inputs:  "
                + json.dumps(text_keys(shown(step.inputs)), ensure_ascii=False, default=str)
            )
            if step.outputs.entries:
                out.append(
                    "    outputs: "
                    + json.dumps(text_keys(shown(step.outputs)), ensure_ascii=False, default=str)
                )
    return out


@cache
def _template() -> Any:
    import jinja2  # imported on first use: a compile that hits the cache never needs it

    env = jinja2.Environment(
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
        undefined=jinja2.StrictUndefined,
        autoescape=False,
    )
    return env.from_string(package_data.read_text(package_data.TEMPLATES, "flow.sh.j2"))


def generate_sh(flow: ir.Flow, from_bundle: bool = False, single_file: bool = False) -> str:
    """The source of `<flow_id>.sh`: templates/flow.sh.j2 around the flow's own code. The
    flow must have no sh blockers (frontend/sh_target.py); `from_bundle` when it comes from a bundle manifest
    (ir.RUN_ENV then names the bundle's folder). The script sources the runtime the dist
    ships (runtime.DIST_PATH), or with `single_file` holds it."""
    return _template().render(
        compiler_version=__version__,
        source_comment=comment_text(flow.source),
        source_sha256=flow.source_sha256,
        script_name=comment_text(flow.id) + ".sh",
        flow_comment=comment_text(flow.id),
        single_file=single_file,
        runtime=runtime_source().rstrip("\n") if single_file else "",
        runtime_path=DIST_PATH,
        verify_path=VERIFY_PATH,
        runtime_cksum=q(runtime_cksum()),
        runtime_cksum_text=runtime_cksum(),
        flow_code="\n".join(_flow_code(flow, from_bundle)),
    )


def _flow_code(flow: ir.Flow, from_bundle: bool) -> list[str]:
    """The flow's own code: its constants, env snapshot, settings, plan, one function per
    job (and per `when`), and the table of jobs af_main runs."""
    functions = function_names([j.id for j in flow.jobs], "job_")
    whens = function_names([j.id for j in flow.jobs], "when_")
    index = {job.id: n for n, job in enumerate(flow.jobs, 1)}
    out = [
        f"AF_FLOW_ID={q(flow.id)}",
        f"AF_SOURCE={q(flow.source)}",
        f"AF_SOURCE_SHA256={q(flow.source_sha256)}",
        f"AF_COMPILER_VERSION={q(__version__)}",
        f"AF_LOCK_SCOPE={q(flow.locks.scope)}",
        f"AF_FLOW_LOCK_NAME={q(lock_name('flow:' + flow.id))}",
        f"AF_CLEANUP={q(flow.workspace.cleanup_policy)}",
        f"AF_BUNDLE_DIRS={int(from_bundle)}",
        f"AF_JOB_IDS={q(' '.join(j.id for j in flow.jobs))}",
        "# job id, then its step ids (for `status`)",
        "AF_JOB_STEPS="
        + q("".join(" ".join([j.id, *[s.id for s in j.steps]]) + "\n" for j in flow.jobs)),
        "# env variables the flow reads, and whether every use has a default",
        "AF_ENV_VARS="
        + q("".join(f"{name} {int(default)}\n" for name, default in flow.env_refs().items())),
        "",
        "af_snapshot() {  # the env snapshot: the values the flow's templates read",
    ]
    names = list(flow.env_refs())
    out += [f"    af_snap {q(name)}" for name in names] or ["    :"]
    out += ["}", "", "af_settings() {  # flow settings, resolved from the env snapshot"]
    out += _setting_code("AF_WORK_ROOT", flow.workspace.root)
    out += ["    AF_ROOT_AS_WRITTEN=$AF_WORK_ROOT"]
    out += ["    case $AF_WORK_ROOT in /*) ;; *) AF_WORK_ROOT=$PWD/$AF_WORK_ROOT ;; esac"]
    out += ['    af_norm "$AF_WORK_ROOT"; AF_WORK_ROOT=$REPLY']
    out += _setting_code("AF_STATE_DIR", flow.state.path)
    if flow.state.backend == "file":
        out += ["    AF_SQLITE_DB="]
    else:
        out += [
            f"    # state.backend is {comment_text(flow.state.backend)}: the shell keeps the file layout beside that path",
            "    # (and mirrors statuses into that database when AETHERFLOW_SH_SQLITE_MIRROR is on)",
            "    AF_SQLITE_DB=$AF_STATE_DIR",
            '    AF_STATE_DIR="$AF_STATE_DIR.d"',
        ]
    for key, variable in (
        ("artifacts", "AF_LAYOUT_ARTIFACTS"),
        ("scratch", "AF_LAYOUT_SCRATCH"),
        ("manifests", "AF_LAYOUT_MANIFESTS"),
    ):
        out += _setting_code(variable, flow.workspace.layout.get(key, key))
    out += _setting_code("AF_LOCK_TTL", flow.locks.ttl_seconds)
    out += ["    af_sandbox_setting", "}", ""]
    out += _start_check_code(flow)
    out += ["af_plan() {"]
    out += ["    printf '%s\\n' \\"] + [f"        {q(line)} \\" for line in _plan_lines(flow)]
    out[-1] = out[-1][:-2]
    out += ["}"]
    for job in flow.jobs:
        if job.when is not None:
            code = _Code("    ")
            _when_truth(code, job.when, index)
            out += [
                "",
                f"# {comment_text(str(job.origin))}: when {comment_text(job.when_source or '')}",
                f"{whens[job.id]}() {{",
                *code.lines,
                '    return "$af_w"',
                "}",
            ]
        code = _Code("    ")
        earlier: dict[str, int] = {}
        for number, step in enumerate(job.steps, 1):
            _emit_step(code, step, number, _Scope(job.id, index, dict(earlier)))
            earlier[step.id] = number
        out += [
            "",
            f"# {comment_text(str(job.origin))}",
            f"{functions[job.id]}() {{",
            *(code.lines or ["    :"]),
            "}",
        ]
    out += [
        "",
        "af_jobs() {  # in declared order: af_main runs each job after the ones it depends on",
    ]
    for job in flow.jobs:
        deps = "".join(f" depends_on={index[d]}" for d in job.depends_on)
        when = whens[job.id] if job.when is not None else ""
        lock = q(lock_name(f"job:{flow.id}:{job.id}"))
        out.append(
            f"    af_job index={index[job.id]} id={q(job.id)} run={functions[job.id]} when={when} lock={lock}{deps}"
        )
    out += ["}"]
    return out
