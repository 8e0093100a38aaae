"""The fast validity check must agree with jsonschema, which explains the errors."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from aetherflow_compiler.frontend.schema_check import _input_validator, _is_valid, _validator

_keys = st.sampled_from(
    [
        "version",
        "flow",
        "id",
        "jobs",
        "steps",
        "type",
        "inputs",
        "outputs",
        "depends_on",
        "when",
        "command",
        "args",
        "on_no_data",
        "resources",
        "kind",
        "driver",
        "workspace",
        "root",
        "cleanup_policy",
        "state",
        "backend",
        "path",
        "locks",
        "scope",
        "ttl_seconds",
        "items",
        "min_count",
        "lock_key",
        "step",
        "env",
        "retry",
        "max_attempts",
        "retry_on_exit_codes",
        "log",
        "stdout",
        "success",
        "exit_codes",
        "idempotency",
        "strategy",
        "timeout_seconds",
        "shell",
        "decode",
        "config",
    ]
)
_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-5, 5),
    st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from(
        [
            "external.process",
            "check_items",
            "with_lock",
            "skip_job",
            "a",
            "{{env.X}}",
            "1",
            " 2 ",
            "true",
            "capture",
            "marker",
            "flow",
            "sqlite",
            "on_success",
            "x y",
            "",
            "1.5",
        ]
    ),
)
_values = st.recursive(
    _scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(_keys, inner, max_size=5)),
    max_leaves=30,
)


@settings(max_examples=400, deadline=None)
@given(st.dictionaries(_keys, _values, max_size=6))
def test_flow_documents(doc: dict) -> None:  # type: ignore[type-arg]
    assert _is_valid(doc, "flow") == (not list(_validator("flow").iter_errors(doc)))


@settings(max_examples=400, deadline=None)
@given(
    st.sampled_from(["external.process", "check_items", "with_lock"]),
    st.dictionaries(_keys, _values, max_size=6),
)
def test_step_inputs(step_type: str, inputs: dict) -> None:  # type: ignore[type-arg]
    validator = _input_validator(step_type)
    assert validator is not None
    assert _is_valid(inputs, "flow", step_type) == (not list(validator.iter_errors(inputs)))
