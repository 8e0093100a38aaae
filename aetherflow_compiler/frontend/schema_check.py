"""Validate a loaded document against its JSON Schema and turn errors into diagnostics."""

from __future__ import annotations

import copy
import datetime
import json
from collections.abc import Iterator
from functools import cache
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import jsonschema
    from jsonschema.exceptions import ValidationError

from aetherflow_compiler import package_data
from aetherflow_compiler.diagnostics import Diagnostic
from aetherflow_compiler.frontend import fastcheck
from aetherflow_compiler.frontend.describe import describe_path, show_value, type_words, value_kind
from aetherflow_compiler.frontend.loader import Document, Path
from aetherflow_compiler.steps.types import FALSE_WORDS, TRUE_WORDS
from aetherflow_compiler.suggest import did_you_mean, one_of

SCHEMA_KINDS = ("flow", "profiles", "scheduler", "manifest")


@cache
def schema_text(kind: str) -> str:
    """The JSON Schema document for a file kind, exactly as shipped."""
    if kind not in SCHEMA_KINDS:
        raise ValueError(f"unknown schema kind {kind!r}")
    return package_data.read_text(package_data.SCHEMAS, f"{kind}.schema.json")


@cache
def load_schema(kind: str) -> dict[str, Any]:
    schema: dict[str, Any] = json.loads(schema_text(kind))
    return schema


_DISPATCH = "inputs_by_type"  # the flow schema's if/then chain over step types
_INPUTS = "inputs:"  # prefix of the per-type input definitions


def _inline_refs(node: Any, definitions: dict[str, Any], active: tuple[str, ...] = ()) -> Any:
    """The schema with `#/definitions/...` references replaced by what they point at
    (recursive ones are kept). Resolving references is most of jsonschema's time."""
    if isinstance(node, list):
        return [_inline_refs(v, definitions, active) for v in node]
    if not isinstance(node, dict):
        return node
    ref = node.get("$ref")
    if isinstance(ref, str) and ref.startswith("#/definitions/") and len(node) == 1:
        name = ref[len("#/definitions/") :]
        if name not in active:
            return _inline_refs(definitions[name], definitions, (*active, name))
        return node
    return {
        k: (v if k == "definitions" else _inline_refs(v, definitions, active))
        for k, v in node.items()
    }


@cache
def _schema(kind: str) -> dict[str, Any]:
    """The schema a file kind is validated against, with its $refs inlined. For flows, step
    inputs are left out here: the if/then chain (written for editors) would test every step
    against every step type, so `check_schema` validates each step's inputs against its own
    type instead."""
    schema = copy.deepcopy(load_schema(kind))
    definitions = schema.get("definitions", {})
    if kind == "flow":
        definitions[_DISPATCH] = {}
    return _inline_refs(schema, definitions)


@cache
def _input_schema(step_type: str) -> dict[str, Any] | None:
    """The schema of one step type's inputs; None for a type without one."""
    definitions = dict(load_schema("flow")["definitions"])
    if _INPUTS + step_type not in definitions:
        return None
    definitions[_DISPATCH] = {}  # inner steps are checked by check_schema
    schema = _inline_refs(definitions[_INPUTS + step_type], definitions, (_INPUTS + step_type,))
    return {**schema, "definitions": definitions}


@cache
def _validator(kind: str) -> jsonschema.Draft7Validator:
    """The validator for a file kind (see `_schema`)."""
    import jsonschema  # imported to explain an invalid document: valid ones never need it

    return jsonschema.Draft7Validator(_schema(kind))


@cache
def _input_validator(step_type: str) -> jsonschema.Draft7Validator | None:
    import jsonschema

    schema = _input_schema(step_type)
    return None if schema is None else jsonschema.Draft7Validator(schema)


@cache
def _inner_step_inputs() -> dict[str, list[str]]:
    """Step type -> its inputs that hold an embedded step (with_lock: ['step'])."""
    definitions = load_schema("flow")["definitions"]
    out: dict[str, list[str]] = {}
    for name, definition in definitions.items():
        if name.startswith(_INPUTS):
            props = definition.get("properties", {})
            inner = [k for k, v in props.items() if v.get("$ref") == "#/definitions/inner_step"]
            if inner:
                out[name[len(_INPUTS) :]] = inner
    return out


@cache
def _fast_check(kind: str, step_type: str | None = None) -> Any:
    """The same schema compiled to Python by fastjsonschema: it only says valid or not, but
    17x faster; jsonschema then explains invalid documents. None if it cannot compile."""
    import fastjsonschema

    schema = _schema(kind) if step_type is None else _input_schema(step_type)
    if schema is None:
        return None
    try:
        return fastcheck.compiled(schema, kind if step_type is None else f"{kind}/{step_type}")
    except fastjsonschema.JsonSchemaDefinitionException:  # pragma: no cover - our schemas compile
        return None


def _is_valid(instance: Any, kind: str, step_type: str | None = None) -> bool:
    import fastjsonschema

    check = _fast_check(kind, step_type)
    if check is None:
        return False
    try:
        check(instance)
    except fastjsonschema.JsonSchemaValueException:
        return False
    return True


def check_schema(
    doc: Document, kind: str, plugin_types: frozenset[str] = frozenset()
) -> list[Diagnostic]:
    """All schema problems of `doc`, located and coded. Steps of `plugin_types` (plugin
    step types, built-in names a plugin replaced included) are left to the plugin checks."""
    data = _json_view(doc.data)
    errors = [] if _is_valid(data, kind) else list(_validator(kind).iter_errors(data))
    if kind == "flow" and isinstance(data, dict) and isinstance(data.get("jobs"), list):
        for ji, job in enumerate(data["jobs"]):
            steps = job.get("steps") if isinstance(job, dict) else None
            for si, step in enumerate(steps if isinstance(steps, list) else []):
                errors.extend(_step_input_errors(step, ("jobs", ji, "steps", si), plugin_types))
    out: list[Diagnostic] = []
    for error in errors:
        for leaf in _leaves(error):
            out.extend(_translate(doc, leaf))
    return out


def _step_input_errors(
    step: Any, path: Path, plugin_types: frozenset[str]
) -> list[ValidationError]:
    """Errors of one step's inputs against its own type's schema (and of embedded steps)."""
    if (
        not isinstance(step, dict)
        or not isinstance(step.get("type"), str)
        or step["type"] in plugin_types
    ):
        return []
    step_type = step["type"]
    if _input_schema(step_type) is None:
        return []  # unknown types are AF306; plugin types bring their own schema later
    inputs = step.get("inputs")
    if "inputs" not in step:
        required = load_schema("flow")["definitions"][_INPUTS + step_type].get("required")
        if not required:
            return []
        from jsonschema.exceptions import ValidationError

        return [
            ValidationError(
                "'inputs' is a required property",
                validator="required",
                validator_value=["inputs"],
                instance=step,
                schema={},
                path=path,
            )
        ]
    if not isinstance(inputs, dict):
        return []  # the structural schema reports the type
    out = []
    if not _is_valid(inputs, "flow", step_type):
        validator = _input_validator(step_type)
        assert validator is not None
        for error in validator.iter_errors(inputs):
            error.path.extendleft(reversed((*path, "inputs")))
            out.append(error)
    for key in _inner_step_inputs().get(step_type, []):
        out.extend(_step_input_errors(inputs.get(key), (*path, "inputs", key), plugin_types))
    return out


def check_plugin_inputs(
    doc: Document, schema: dict[str, Any], inputs: Any, path: Path
) -> list[Diagnostic]:
    """A plugin step's inputs (at `path`) against the JSON Schema its plugin ships.

    A `{{...}}` string stands for a value only known at run time, so the type and format
    rules that such a string breaks are not reported.
    """
    from jsonschema.validators import validator_for

    validator = validator_for(schema)(schema)
    out: list[Diagnostic] = []
    for error in validator.iter_errors(_json_view(inputs, untyped=True)):
        for leaf in _leaves(error):
            if (
                isinstance(leaf.instance, str)
                and "{{" in leaf.instance
                and leaf.validator != "required"
            ):
                continue
            leaf.path.extendleft(reversed(path))
            out.extend(_translate(doc, leaf))
    return out


def plugin_schema_problem(schema: Any) -> str | None:
    """Why a plugin's input schema cannot be used, or None."""
    from jsonschema.exceptions import SchemaError
    from jsonschema.validators import validator_for

    if not isinstance(schema, dict):
        return f"input_schema must be a JSON Schema object, not {value_kind(schema)}"
    try:
        validator_for(schema).check_schema(schema)
    except SchemaError as exc:
        return f"input_schema is not a valid JSON Schema: {exc.message}"
    return None


def _leaves(error: ValidationError) -> Iterator[ValidationError]:
    """Descend into anyOf/oneOf alternatives to the error worth showing.

    A titled alternative ("an integer", "a boolean") is reported by its title when the
    value simply has none of the offered shapes; when the value has the right shape but
    fails inside it (an empty list, a bad nested entry), that inner error is reported.
    """
    from jsonschema.exceptions import best_match

    schema = error.schema if isinstance(error.schema, dict) else {}
    if error.validator in ("anyOf", "oneOf") and error.context:
        inner = [
            e for e in error.context if e.relative_path or e.validator not in ("type", "pattern")
        ]
        if inner:
            yield from _leaves(best_match(inner))
            return
        if not schema.get("title"):
            yield from _leaves(best_match(error.context))
            return
    yield error


# Keys whose values the engine's models leave untyped (`Dict[str, Any]`): a date there
# reaches a step or a connector as is, which turns it into text where it wants one.
# Elsewhere (ids, types, depends_on, when, descriptions, ...) its pydantic models want a
# str and refuse a date.
_UNTYPED = frozenset({"inputs", "outputs", "config", "options"})


def _json_view(value: Any, untyped: bool = False) -> Any:
    """The data as JSON Schema sees it: where the engine's models leave values untyped,
    dates are compared as the strings the engine makes of them."""
    if isinstance(value, dict):
        return {k: _json_view(v, untyped or k in _UNTYPED) for k, v in value.items()}
    if isinstance(value, list):
        return [_json_view(v, untyped) for v in value]
    if untyped and isinstance(value, (datetime.date, datetime.datetime)):
        return str(value)
    return value


def _inputs_index(path: Path) -> int | None:
    """Index of the innermost 'inputs' element when `path` lies in a step's inputs
    (with_lock's embedded step included)."""
    for i in range(len(path) - 1, 1, -1):
        if path[i] == "inputs" and (path[i - 2] == "steps" or path[i - 1] == "step"):
            return i
    return None


def _code(path: Path, schema_code: str, input_code: str) -> str:
    return input_code if _inputs_index(path) is not None else schema_code


def _step_type(doc: Document, path: Path) -> str | None:
    """The step type owning the inputs at `path`, if any."""
    idx = _inputs_index(path)
    if idx is None:
        return None
    owner: Any = doc.data
    for part in path[:idx]:
        try:
            owner = owner[part]
        except (KeyError, IndexError, TypeError):
            return None
    step_type = owner.get("type") if isinstance(owner, dict) else None
    return step_type if isinstance(step_type, str) else None


def _translate(doc: Document, error: ValidationError) -> list[Diagnostic]:
    path: Path = tuple(error.absolute_path)
    where = describe_path(doc.data, path)
    kind = error.validator
    value = error.instance
    schema: dict[str, Any] = error.schema if isinstance(error.schema, dict) else {}
    rule: Any = error.validator_value
    hint: str | None

    def at(
        p: Path, code: str, message: str, hint: str | None = None, key: bool = False
    ) -> Diagnostic:
        span = doc.span(p, key=key)
        return Diagnostic(doc.path, span.line, span.column, code, message, hint)

    if "propertyNames" in error.absolute_schema_path:
        # A key the engine's models read as `Dict[str, ...]`: pydantic refuses any other.
        key_path = path + (value,)
        return [
            at(
                key_path,
                _code(key_path, "AF203", "AF603"),
                f"key {show_value(value)} in {where} must be a string, not {value_kind(value)}",
                "quote the key: YAML reads it as a value of another type",
                key=True,
            )
        ]

    if kind == "additionalProperties" and isinstance(value, dict):
        allowed = list(schema.get("properties", {}))
        out = []
        for extra in value:
            if extra in allowed:
                continue
            if not isinstance(extra, str) and path and path[-1] == "inputs":
                continue  # its `propertyNames` error says it
            step_type = _step_type(doc, path + (extra,))
            hint = did_you_mean(str(extra), allowed) or f"allowed keys here: {one_of(allowed)}"
            if not isinstance(extra, str):
                hint = f"the key is read as {show_value(extra)}, not a string; quote it"
            if step_type is not None and path[-1] == "inputs":
                owner = describe_path(doc.data, path[:-1])
                message = f"unknown input '{extra}' for {step_type} in {owner}"
            else:
                message = f"unknown key '{extra}' in {where}"
            out.append(
                at(
                    path + (extra,),
                    _code(path + (extra,), "AF201", "AF601"),
                    message,
                    hint,
                    key=True,
                )
            )
        return out

    if kind == "required" and isinstance(value, dict):
        out = []
        for name in rule:
            if name in value:
                continue
            if name == "inputs":
                step_type = value.get("type", "this step type")
                out.append(
                    at(
                        path,
                        "AF602",
                        f"{where} has no inputs, but {step_type} requires some",
                        "add an 'inputs' mapping",
                    )
                )
                continue
            step_type = _step_type(doc, path + (name,))
            if step_type is not None and path[-1] == "inputs":
                owner = describe_path(doc.data, path[:-1])
                message = f"missing input '{name}' (required by {step_type}) in {owner}"
            else:
                message = f"missing required key '{name}' in {where}"
            out.append(at(path, _code(path + (name,), "AF202", "AF602"), message))
        return out

    if kind == "type":
        expected = type_words(rule)
        hint = _type_hint(value, rule)
        return [
            at(
                path,
                _code(path, "AF203", "AF603"),
                f"{where} must be {expected}, not {_shown(value)}",
                hint,
            )
        ]

    if kind in ("anyOf", "oneOf"):
        title = schema.get("title", "a valid value")
        hint = None
        word = value.strip().lower() if isinstance(value, str) else ""
        if word.isalpha() and word in TRUE_WORDS + FALSE_WORDS and "boolean" in title:
            literal = "true" if word in TRUE_WORDS else "false"
            hint = f"write {literal} without quotes; the engine reads the string {value!r} as true"
        elif isinstance(value, str) and "{{" in value:
            hint = schema.get("description")  # a setting read before templates render
        return [
            at(
                path,
                _code(path, "AF203", "AF603"),
                f"{where} must be {title}, not {_shown(value)}",
                hint,
            )
        ]

    if kind == "enum":
        options = [o for o in rule if o is not None]
        hint = did_you_mean(str(value), [str(o) for o in options])
        return [
            at(
                path,
                _code(path, "AF204", "AF604"),
                f"invalid value {show_value(value)} for {where}; expected one of: {one_of(map(str, options))}",
                hint,
            )
        ]

    if kind == "const":
        return [
            at(path, "AF204", f"unsupported {where} {show_value(value)}; only {rule} is accepted")
        ]

    if kind == "pattern":
        hint = schema.get("description")
        if len(path) >= 2 and path[-1] == "id":
            if len(path) >= 3 and path[-3] == "steps":
                noun = f"step id {show_value(value)} in {describe_path(doc.data, path[:-3])}"
            else:
                noun = {"flow": "flow", "jobs": "job", "items": "item"}.get(
                    str(path[-3] if len(path) >= 3 else path[0]), ""
                )
                noun = f"{noun} id {show_value(value)}".strip()
            return [at(path, "AF205", f"invalid {noun}", hint)]
        return [
            at(path, _code(path, "AF205", "AF603"), f"invalid {where} {show_value(value)}", hint)
        ]

    if kind in ("minLength", "minItems", "maxLength", "maxItems", "minimum", "maximum"):
        limit = rule
        text = {
            "minLength": (
                "must not be empty" if limit == 1 else f"must have at least {limit} characters"
            ),
            "maxLength": f"must have at most {limit} characters",
            "minItems": f"must have at least {limit} item{'s' if limit != 1 else ''}",
            "maxItems": f"must have at most {limit} items",
            "minimum": f"must be at least {limit}",
            "maximum": f"must be at most {limit}",
        }[kind]
        return [at(path, _code(path, "AF206", "AF603"), f"{where} {text}")]

    # Any keyword not handled above still gets a located, coded diagnostic.
    return [
        at(path, _code(path, "AF203", "AF603"), f"{where}: {error.message}")
    ]  # pragma: no cover


def _shown(value: Any) -> str:
    """'a string ('x')' for scalars, just 'a list' for containers."""
    if isinstance(value, (dict, list)):
        return value_kind(value)
    return f"{value_kind(value)} ({show_value(value)})"


def _type_hint(value: Any, expected: Any) -> str | None:
    expected_list = [expected] if isinstance(expected, str) else list(expected)
    if isinstance(value, str) and "array" in expected_list:
        return "write a YAML list, for example [a, b]"
    if isinstance(value, dict) and value == {} and "string" in expected_list:
        return None
    if value is None and "object" in expected_list:
        return "write {} for an empty mapping, or remove the key"
    if value is None and "array" in expected_list:
        return "write [] for an empty list, or remove the key"
    return None
