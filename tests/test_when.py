"""`when` expressions: Python precedence and chaining, without Python's parser or eval."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from aetherflow_compiler.when import (
    BoolOp,
    Compare,
    JobAttr,
    JobOutput,
    Literal,
    Not,
    WhenSyntaxError,
    parse_when,
    referenced_jobs,
)


def test_comparison_with_boolean_in_any_case_and_position() -> None:
    assert parse_when("TRUE == jobs.a.outputs.x") == Compare(
        Literal(True), ("==",), (JobOutput("a", "x", (), 8),)
    )


def test_precedence_not_binds_looser_than_comparison_and_tighter_than_and() -> None:
    expr = parse_when("not jobs.a.outputs.n > 1 and jobs.b.status == 'SUCCESS' or false")
    assert isinstance(expr, BoolOp) and expr.op == "or"
    left = expr.values[0]
    assert isinstance(left, BoolOp) and left.op == "and"
    assert isinstance(left.values[0], Not) and isinstance(left.values[0].operand, Compare)
    assert left.values[1] == Compare(JobAttr("b", "status", 29), ("==",), (Literal("SUCCESS"),))


def test_chained_comparisons_and_literals() -> None:
    expr = parse_when("0 < jobs.a.outputs.n <= -2.5")
    assert expr == Compare(Literal(0), ("<", "<="), (JobOutput("a", "n", (), 4), Literal(-2.5)))
    assert parse_when("jobs.a.outputs.s == ' true'") == Compare(
        JobOutput("a", "s", (), 0), ("==",), (Literal(" true"),)
    )
    assert parse_when("jobs.a.outputs.v == None") == Compare(JobOutput("a", "v", (), 0), ("==",), (Literal(None),))


def test_bare_truthiness_and_nested_output_paths() -> None:
    expr = parse_when("(jobs.a.outputs.meta.ok)")
    assert expr == JobOutput("a", "meta", ("ok",), 1)
    assert referenced_jobs(parse_when("jobs.a.outputs.x and not jobs.b.skip_reason")) == [
        JobOutput("a", "x", (), 0),
        JobAttr("b", "skip_reason", 25),
    ]


@pytest.mark.parametrize(
    "source, code, offset",
    [
        ("jobs.a.outputs.x ==", "AF501", 19),
        ("(jobs.a.outputs.x", "AF501", 17),
        ("jobs.a.outputs.x == 'open", "AF501", 20),
        ("jobs.a.outputs.x + 1", "AF502", 17),
        ("len(jobs.a.outputs.x)", "AF502", 0),
        ("jobs.a.outputs.x[0]", "AF502", 16),
        ("x == 1", "AF502", 0),
        ("jobs.a.outputs", "AF403", 0),
        ("jobs.a.result", "AF403", 0),
        ("jobs.a.outputs.x == 007", "AF501", 20),
        ("jobs.a.outputs.x == - jobs.b.outputs.y", "AF502", 20),
        ("jobs.a.outputs.x and and", "AF501", 21),
    ],
)
def test_errors_are_coded_and_point_into_the_expression(source: str, code: str, offset: int) -> None:
    with pytest.raises(WhenSyntaxError) as info:
        parse_when(source)
    assert (info.value.code, info.value.offset) == (code, offset)


@given(st.text(alphabet="jobs.aoutput_x=!<>()'\" andornt0123456789-+TRUEfalse", max_size=40))
def test_parser_only_ever_raises_its_own_error(source: str) -> None:
    try:
        parse_when(source)
    except WhenSyntaxError as exc:
        assert exc.code in ("AF403", "AF501", "AF502")
        assert 0 <= exc.offset <= len(source)


def test_nesting_and_integer_size_are_bounded() -> None:
    """300 nested parentheses raised RecursionError (exit 3); the engine's Python parser
    stops at 200 parentheses and at 4,300-digit integers."""
    deepest = "(" * 25 + "not " * 25 + "jobs.a.outputs.x" + ")" * 25
    expr = parse_when(deepest)
    for _ in range(25):
        assert isinstance(expr, Not)
        expr = expr.operand
    assert isinstance(expr, JobOutput)
    for source, offset in (("(" * 300 + "true" + ")" * 300, 50), ("not " * 60 + "true", 200),
                           ("(" * 30 + "not " * 30 + "true" + ")" * 30, 30 + 20 * 4)):
        with pytest.raises(WhenSyntaxError) as info:
            parse_when(source)
        assert (info.value.code, info.value.offset) == ("AF502", offset)
        assert "more than 50 levels deep" in info.value.message
    assert parse_when("jobs.a.outputs.x == " + "9" * 4300).comparators[0].value == int("9" * 4300)  # type: ignore[union-attr]
    with pytest.raises(WhenSyntaxError) as info:
        parse_when("jobs.a.outputs.x == " + "9" * 4301)
    assert (info.value.code, info.value.offset) == ("AF501", 20)
