"""The engine's flow specification classes and RemoteFileMeta, for plugins, without pydantic.

aetherflow.core.api offers the engine's spec models (pydantic models there). These are
small standard-library classes with the same fields, defaults, nesting and checks, and
the part of pydantic's model interface plugins use: construction with keywords,
model_validate, model_validate_json, model_dump, model_dump_json, model_copy,
model_construct, model_fields, model_fields_set, attribute access, equality, repr and
iteration. A bad value raises SpecValidationError (a ValueError, like pydantic's
ValidationError) listing every problem with its location.

Only plugin_api imports this module, on first use of one of its names: dataclasses and
typing cost start-up time that flows without these names should not pay.
"""

from __future__ import annotations

from typing import Any, Dict, List, Literal, Optional, Set, Tuple, get_args

CleanupPolicy = Literal["on_success", "always", "never"]
LockScope = Literal["none", "job", "flow"]


# The class the built-in sftp and smb connectors return, so that both are one class.
from .connectors.remote_meta import RemoteFileMeta  # noqa: E402,F401

# --- validation ---------------------------------------------------------------------------

_SPEC_REQUIRED = object()  # a field without a default
_SPEC_INVALID = object()  # what a check returns after recording a problem


class SpecValidationError(ValueError):
    """Invalid values for a spec model; errors() lists them as pydantic does:
    {"type", "loc", "msg", "input"} (and "ctx" for some)."""

    def __init__(self, title: str, problems: List[Dict[str, Any]]) -> None:
        self.title = title
        self._problems = problems
        super().__init__(self._text())

    def errors(self, **_ignored: Any) -> List[Dict[str, Any]]:
        return [dict(p) for p in self._problems]

    def error_count(self) -> int:
        return len(self._problems)

    def _text(self) -> str:
        count = len(self._problems)
        lines = [
            "%d validation error%s for %s"
            % (count, "" if count == 1 else "s", self.title)
        ]
        for p in self._problems:
            lines.append(".".join(str(part) for part in p["loc"]))
            lines.append(
                "  %s [type=%s, input_value=%r, input_type=%s]"
                % (p["msg"], p["type"], p["input"], type(p["input"]).__name__)
            )
        return "\n".join(lines)


def _spec_problem(
    problems: List[Dict[str, Any]],
    kind: str,
    loc: Tuple[Any, ...],
    msg: str,
    value: Any,
    context: Optional[Dict[str, Any]] = None,
) -> Any:
    entry: Dict[str, Any] = {"type": kind, "loc": loc, "msg": msg, "input": value}
    if context:
        entry["ctx"] = context
    problems.append(entry)
    return _SPEC_INVALID


def _spec_any(value: Any, loc: Tuple[Any, ...], problems: List[Any]) -> Any:
    return value


def _spec_str(value: Any, loc: Tuple[Any, ...], problems: List[Any]) -> Any:
    if isinstance(value, str):
        return value
    if isinstance(value, (bytes, bytearray)):
        try:
            return bytes(value).decode("utf-8")
        except UnicodeDecodeError:
            return _spec_problem(
                problems,
                "string_unicode",
                loc,
                "Input should be a valid string, unable to parse raw data as a unicode string",
                value,
            )
    return _spec_problem(
        problems, "string_type", loc, "Input should be a valid string", value
    )


def _spec_int(value: Any, loc: Tuple[Any, ...], problems: List[Any]) -> Any:
    """pydantic's lax int: ints and bools, whole floats, strings of a whole number."""
    if isinstance(value, int):
        return int(value)
    if isinstance(value, (bytes, bytearray)):
        value = bytes(value).decode("utf-8", "replace")
    if isinstance(value, str):
        text = value.strip()
        try:
            return int(text)
        except ValueError:
            pass
        whole, dot, fraction = text.partition(".")
        if dot and fraction.strip("0") == "" and whole.lstrip("+-").isdigit():
            return int(whole)  # "60.0"
        return _spec_problem(
            problems,
            "int_parsing",
            loc,
            "Input should be a valid integer, unable to parse string as an integer",
            value,
        )
    if isinstance(value, float):
        if value != value or value in (float("inf"), float("-inf")):
            return _spec_problem(
                problems, "finite_number", loc, "Input should be a finite number", value
            )
        if value.is_integer():
            return int(value)
        return _spec_problem(
            problems,
            "int_from_float",
            loc,
            "Input should be a valid integer, got a number with a fractional part",
            value,
        )
    return _spec_problem(
        problems, "int_type", loc, "Input should be a valid integer", value
    )


def _spec_literal(choices: Tuple[str, ...]) -> Any:
    quoted = ["%r" % c for c in choices]
    expected = (
        quoted[0]
        if len(quoted) == 1
        else "%s or %s" % (", ".join(quoted[:-1]), quoted[-1])
    )

    def check(value: Any, loc: Tuple[Any, ...], problems: List[Any]) -> Any:
        if isinstance(value, str) and value in choices:
            return value
        return _spec_problem(
            problems,
            "literal_error",
            loc,
            "Input should be %s" % expected,
            value,
            {"expected": expected},
        )

    return check


def _spec_optional(inner: Any) -> Any:
    def check(value: Any, loc: Tuple[Any, ...], problems: List[Any]) -> Any:
        return None if value is None else inner(value, loc, problems)

    return check


def _spec_dict(inner: Any) -> Any:
    """Dict[str, inner]: any mapping, copied; keys must be strings."""

    def check(value: Any, loc: Tuple[Any, ...], problems: List[Any]) -> Any:
        if not (isinstance(value, dict) or _spec_is_mapping(value)):
            return _spec_problem(
                problems, "dict_type", loc, "Input should be a valid dictionary", value
            )
        out = {}
        ok = True
        for key, item in value.items():
            good_key = _spec_str(key, loc + (key, "[key]"), problems)
            good_item = inner(item, loc + (key,), problems)
            if good_key is _SPEC_INVALID or good_item is _SPEC_INVALID:
                ok = False
            else:
                out[good_key] = good_item
        return out if ok else _SPEC_INVALID

    return check


def _spec_is_mapping(value: Any) -> bool:
    return (
        hasattr(value, "keys")
        and hasattr(value, "items")
        and hasattr(value, "__getitem__")
    )


def _spec_list(inner: Any) -> Any:
    """List[inner]: lists, tuples, sets, deques and generators, as a new list."""

    def check(value: Any, loc: Tuple[Any, ...], problems: List[Any]) -> Any:
        if isinstance(value, (str, bytes, bytearray)) or _spec_is_mapping(value):
            return _spec_problem(
                problems, "list_type", loc, "Input should be a valid list", value
            )
        try:
            items = list(value)
        except TypeError:
            return _spec_problem(
                problems, "list_type", loc, "Input should be a valid list", value
            )
        out = [
            inner(item, loc + (index,), problems) for index, item in enumerate(items)
        ]
        return _SPEC_INVALID if any(v is _SPEC_INVALID for v in out) else out

    return check


def _spec_model(cls: Any) -> Any:
    def check(value: Any, loc: Tuple[Any, ...], problems: List[Any]) -> Any:
        return cls._spec_build(value, loc, problems)

    return check


class SpecFieldInfo:
    """What model_fields tells about a field (pydantic's FieldInfo, in part)."""

    def __init__(
        self, name: str, annotation: str, check: Any, default: Any, factory: Any
    ) -> None:
        self.name = name
        self.annotation = annotation  # as written in the engine, e.g. 'Dict[str, Any]'
        self.check = check
        self.default = default
        self.default_factory = factory

    def is_required(self) -> bool:
        return self.default is _SPEC_REQUIRED and self.default_factory is None

    def get_default(self, call_default_factory: bool = False) -> Any:
        if self.default_factory is not None:
            return self.default_factory() if call_default_factory else None
        return None if self.default is _SPEC_REQUIRED else self.default

    def __repr__(self) -> str:
        extra = ""
        if self.default_factory is not None:
            extra = ", default_factory=%s" % getattr(
                self.default_factory, "__name__", "<factory>"
            )
        elif self.default is not _SPEC_REQUIRED:
            extra = ", default=%r" % (self.default,)
        return "SpecFieldInfo(annotation=%s, required=%s%s)" % (
            self.annotation,
            self.is_required(),
            extra,
        )


def _spec_field(
    name: str,
    annotation: str,
    check: Any,
    default: Any = _SPEC_REQUIRED,
    factory: Any = None,
) -> SpecFieldInfo:
    return SpecFieldInfo(name, annotation, check, default, factory)


def _spec_dump_value(value: Any, flags: Dict[str, bool]) -> Any:
    if isinstance(value, SpecModel):
        return value._spec_dump(None, None, flags)
    if isinstance(value, dict):
        return {k: _spec_dump_value(v, flags) for k, v in value.items()}
    if isinstance(value, list):
        return [_spec_dump_value(v, flags) for v in value]
    if isinstance(value, tuple):
        return tuple(_spec_dump_value(v, flags) for v in value)
    return value


def _spec_json_default(value: Any) -> Any:
    """What json cannot write itself, the way pydantic's JSON mode writes it."""
    if isinstance(value, (set, frozenset)):
        return list(value)
    if isinstance(value, (bytes, bytearray)):
        return bytes(value).decode("utf-8")
    if hasattr(value, "isoformat"):  # date, time, datetime
        return value.isoformat()
    if hasattr(value, "__fspath__"):  # pathlib paths
        return str(value)
    import decimal
    import enum
    import uuid

    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, (decimal.Decimal, uuid.UUID)):
        return str(value)
    raise ValueError("Unable to serialize unknown type: %r" % type(value))


class SpecModel:
    """Base of the spec classes: a pydantic-like model with declared fields."""

    _spec_fields: Tuple[SpecFieldInfo, ...] = ()
    _spec_forbid_extra = False
    model_fields: Dict[str, SpecFieldInfo] = {}
    _spec_given: Set[str]  # model_fields_set, in __dict__ (set by _spec_set)

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls.model_fields = {f.name: f for f in cls._spec_fields}

    def __init__(self, **data: Any) -> None:
        problems: List[Dict[str, Any]] = []
        values = type(self)._spec_values(data, (), problems)
        if problems:
            raise SpecValidationError(type(self).__name__, problems)
        self._spec_set(values, set(k for k in data if k in self.model_fields))

    # -- building ------------------------------------------------------------------------
    @classmethod
    def _spec_values(
        cls, data: Any, loc: Tuple[Any, ...], problems: List[Any]
    ) -> Dict[str, Any]:
        values: Dict[str, Any] = {}
        for field in cls._spec_fields:
            if field.name in data:
                values[field.name] = field.check(
                    data[field.name], loc + (field.name,), problems
                )
            elif field.default_factory is not None:
                values[field.name] = field.default_factory()
            elif field.default is not _SPEC_REQUIRED:
                values[field.name] = field.default
            else:
                _spec_problem(
                    problems, "missing", loc + (field.name,), "Field required", data
                )
        if cls._spec_forbid_extra:
            for key in data:
                if key not in cls.model_fields:
                    _spec_problem(
                        problems,
                        "extra_forbidden",
                        loc + (key,),
                        "Extra inputs are not permitted",
                        data[key],
                    )
        return values

    @classmethod
    def _spec_build(cls, value: Any, loc: Tuple[Any, ...], problems: List[Any]) -> Any:
        if isinstance(value, cls):
            return value
        if not (isinstance(value, dict) or _spec_is_mapping(value)):
            return _spec_problem(
                problems,
                "model_type",
                loc,
                "Input should be a valid dictionary or instance of %s" % cls.__name__,
                value,
                {"class_name": cls.__name__},
            )
        before = len(problems)
        values = cls._spec_values(value, loc, problems)
        if len(problems) > before:
            return _SPEC_INVALID
        model = cls.__new__(cls)
        model._spec_set(values, set(k for k in value if k in cls.model_fields))
        return model

    def _spec_set(self, values: Dict[str, Any], given: Any) -> None:
        self.__dict__.update(values)
        self.__dict__["_spec_given"] = set(given)  # model_fields_set

    # -- pydantic's model interface ------------------------------------------------------
    @classmethod
    def model_validate(cls, obj: Any, **_ignored: Any) -> Any:
        problems: List[Dict[str, Any]] = []
        model = cls._spec_build(obj, (), problems)
        if problems:
            raise SpecValidationError(cls.__name__, problems)
        return model

    @classmethod
    def model_validate_json(cls, json_data: Any, **_ignored: Any) -> Any:
        import json

        return cls.model_validate(json.loads(json_data))

    @classmethod
    def model_construct(cls, _fields_set: Any = None, **values: Any) -> Any:
        """A model from trusted values, unchecked (defaults fill the missing fields)."""
        model = cls.__new__(cls)
        filled: Dict[str, Any] = {}
        for field in cls._spec_fields:
            if field.name in values:
                filled[field.name] = values[field.name]
            elif field.default_factory is not None:
                filled[field.name] = field.default_factory()
            elif field.default is not _SPEC_REQUIRED:
                filled[field.name] = field.default
        filled.update((k, v) for k, v in values.items() if k not in filled)
        given = set(values) if _fields_set is None else set(_fields_set)
        model._spec_set(filled, given)
        return model

    @property
    def model_fields_set(self) -> Any:
        return set(self._spec_given)

    def model_dump(
        self,
        *,
        mode: str = "python",
        include: Any = None,
        exclude: Any = None,
        exclude_unset: bool = False,
        exclude_defaults: bool = False,
        exclude_none: bool = False,
        **_ignored: Any,
    ) -> Dict[str, Any]:
        """The fields as plain values, nested models as dicts. include and exclude name
        top-level fields only (a set, or a dict whose keys are used)."""
        flags = {
            "exclude_unset": exclude_unset,
            "exclude_defaults": exclude_defaults,
            "exclude_none": exclude_none,
        }
        dumped = self._spec_dump(include, exclude, flags)
        if mode == "json":
            import json

            data: Dict[str, Any] = json.loads(
                json.dumps(dumped, default=_spec_json_default)
            )
            return data
        if mode != "python":
            raise ValueError(
                "model_dump mode must be 'python' or 'json', not %r" % mode
            )
        return dumped

    def _spec_dump(
        self, include: Any, exclude: Any, flags: Dict[str, bool]
    ) -> Dict[str, Any]:
        out: Dict[str, Any] = {}
        for field in self._spec_fields:
            name = field.name
            if name not in self.__dict__:  # model_construct without a required field
                continue
            if include is not None and name not in include:
                continue
            if exclude is not None and name in exclude:
                continue
            value = self.__dict__[name]
            if flags["exclude_unset"] and name not in self._spec_given:
                continue
            if flags["exclude_none"] and value is None:
                continue
            if (
                flags["exclude_defaults"]
                and not field.is_required()
                and value == field.get_default(True)
            ):
                continue
            out[name] = _spec_dump_value(value, flags)
        return out

    def model_dump_json(self, *, indent: Optional[int] = None, **options: Any) -> str:
        import json

        return json.dumps(
            self.model_dump(**options),
            indent=indent,
            separators=(",", ":") if indent is None else (",", ": "),
            ensure_ascii=False,
            default=_spec_json_default,
        )

    def model_copy(
        self, *, update: Optional[Dict[str, Any]] = None, deep: bool = False
    ) -> Any:
        """A copy (shallow unless deep=True) with `update` applied unchecked, as pydantic does."""
        if deep:
            import copy

            clone = copy.deepcopy(self)
        else:
            clone = type(self).__new__(type(self))
            values = {k: v for k, v in self.__dict__.items() if k != "_spec_given"}
            clone._spec_set(values, self._spec_given)
        if update:
            clone.__dict__.update(update)
            clone._spec_given.update(update)
        return clone

    # -- object protocol -----------------------------------------------------------------
    def __setattr__(self, name: str, value: Any) -> None:
        if name not in self.model_fields:
            raise ValueError(
                '"%s" object has no field "%s"' % (type(self).__name__, name)
            )
        self.__dict__[name] = value
        self._spec_given.add(name)

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        return all(
            self.__dict__.get(f.name, _SPEC_REQUIRED)
            == other.__dict__.get(f.name, _SPEC_REQUIRED)
            for f in self._spec_fields
        )

    # mutable, like pydantic models (typeshed's object.__hash__ is a method, not None)
    __hash__ = None  # type: ignore[assignment]

    def __iter__(self) -> Any:
        return iter(
            [
                (f.name, self.__dict__[f.name])
                for f in self._spec_fields
                if f.name in self.__dict__
            ]
        )

    def __repr__(self) -> str:
        return "%s(%s)" % (
            type(self).__name__,
            ", ".join("%s=%r" % item for item in self),
        )


# --- the engine's spec classes, in its field order ------------------------------------------


def _spec_default_layout() -> Dict[str, str]:
    return {"artifacts": "artifacts", "scratch": "scratch", "manifests": "manifests"}


class WorkspaceSpec(SpecModel):
    _spec_fields = (
        _spec_field("root", "str", _spec_str, "/tmp/work"),
        _spec_field(
            "cleanup_policy",
            "CleanupPolicy",
            _spec_literal(get_args(CleanupPolicy)),
            "on_success",
        ),
        _spec_field(
            "layout",
            "Dict[str, str]",
            _spec_dict(_spec_str),
            factory=_spec_default_layout,
        ),
    )


class StateSpec(SpecModel):
    _spec_fields = (
        _spec_field(
            "backend",
            "Literal['sqlite', 'file']",
            _spec_literal(("sqlite", "file")),
            "sqlite",
        ),
        _spec_field("path", "str", _spec_str, "/tmp/state/aetherflow.sqlite"),
    )


class LocksSpec(SpecModel):
    _spec_fields = (
        _spec_field("scope", "LockScope", _spec_literal(get_args(LockScope)), "job"),
        _spec_field("ttl_seconds", "int", _spec_int, 3600),
    )


class FlowMetaSpec(SpecModel):
    _spec_fields = (
        _spec_field("id", "str", _spec_str),
        _spec_field("description", "Optional[str]", _spec_optional(_spec_str), None),
        _spec_field(
            "workspace",
            "WorkspaceSpec",
            _spec_model(WorkspaceSpec),
            factory=WorkspaceSpec,
        ),
        _spec_field("state", "StateSpec", _spec_model(StateSpec), factory=StateSpec),
        _spec_field("locks", "LocksSpec", _spec_model(LocksSpec), factory=LocksSpec),
    )


class ResourceSpec(SpecModel):
    _spec_forbid_extra = True  # the engine forbids unknown keys here

    _spec_fields = (
        _spec_field("kind", "str", _spec_str),
        _spec_field("driver", "str", _spec_str),
        _spec_field("profile", "Optional[str]", _spec_optional(_spec_str), None),
        _spec_field("config", "Dict[str, Any]", _spec_dict(_spec_any), factory=dict),
        _spec_field("options", "Dict[str, Any]", _spec_dict(_spec_any), factory=dict),
        _spec_field("decode", "Dict[str, Any]", _spec_dict(_spec_any), factory=dict),
    )


class StepSpec(SpecModel):
    _spec_fields = (
        _spec_field("id", "str", _spec_str),
        _spec_field("type", "str", _spec_str),
        _spec_field("inputs", "Dict[str, Any]", _spec_dict(_spec_any), factory=dict),
        _spec_field(
            "on_no_data",
            "Optional[Literal['skip_job']]",
            _spec_optional(_spec_literal(("skip_job",))),
            None,
        ),
        _spec_field("outputs", "Dict[str, Any]", _spec_dict(_spec_any), factory=dict),
    )


class JobSpec(SpecModel):
    _spec_fields = (
        _spec_field("id", "str", _spec_str),
        _spec_field("description", "Optional[str]", _spec_optional(_spec_str), None),
        _spec_field("depends_on", "List[str]", _spec_list(_spec_str), factory=list),
        _spec_field("when", "Optional[str]", _spec_optional(_spec_str), None),
        _spec_field("steps", "List[StepSpec]", _spec_list(_spec_model(StepSpec))),
    )


class FlowSpec(SpecModel):
    _spec_fields = (
        _spec_field("version", "int", _spec_int, 1),
        _spec_field("flow", "FlowMetaSpec", _spec_model(FlowMetaSpec)),
        _spec_field(
            "resources",
            "Dict[str, ResourceSpec]",
            _spec_dict(_spec_model(ResourceSpec)),
            factory=dict,
        ),
        _spec_field("jobs", "List[JobSpec]", _spec_list(_spec_model(JobSpec))),
    )
