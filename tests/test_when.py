"""`when` expressions: Python precedence and chaining, without Python's parser or eval."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from aetherflow_compiler.frontend.parse_when import WhenSyntaxError, parse_when
from aetherflow_compiler.ir.when import (
    BoolOp,
    Compare,
    JobAttr,
    JobOutput,
    Literal,
    Not,
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
    assert parse_when("jobs.a.outputs.v == None") == Compare(
        JobOutput("a", "v", (), 0), ("==",), (Literal(None),)
    )


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
def test_errors_are_coded_and_point_into_the_expression(
    source: str, code: str, offset: int
) -> None:
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
    for source, offset in (
        ("(" * 300 + "true" + ")" * 300, 50),
        ("not " * 60 + "true", 200),
        ("(" * 30 + "not " * 30 + "true" + ")" * 30, 30 + 20 * 4),
    ):
        with pytest.raises(WhenSyntaxError) as info:
            parse_when(source)
        assert (info.value.code, info.value.offset) == ("AF502", offset)
        assert "more than 50 levels deep" in info.value.message
    assert parse_when("jobs.a.outputs.x == " + "9" * 4300).comparators[0].value == int("9" * 4300)  # type: ignore[union-attr]
    with pytest.raises(WhenSyntaxError) as info:
        parse_when("jobs.a.outputs.x == " + "9" * 4301)
    assert (info.value.code, info.value.offset) == ("AF501", 20)


@pytest.mark.parametrize(
    "source, value",
    [
        ("1_000", 1000),
        ("0x2", 2),
        ("0X_1f", 31),
        ("0o17", 15),
        ("0b10", 2),
        ("00", 0),
        ("0_0", 0),
        ("1_0.5_0e1_0", 1_0.5_0e1_0),
        ("1.", 1.0),
        ("1.e2", 100.0),
        (".5", 0.5),
        ("2E-3", 0.002),
        ("'a' 'b'", "ab"),
        ("'a' \"b\" 'c'", "abc"),
        ("r'a\\b'", "a\\b"),
        ("U'x'", "x"),
        ("'''it's'''", "it's"),
        ('"""say "hi" """', 'say "hi" '),
        ("b'x'", b"x"),
        ("rb'a' Br'\\d'", b"a\\d"),
        ("2j", 2j),
        ("1_0.5e-1j", 1.05j),
        ("-1J", -1j),
    ],
)
def test_literals_are_read_as_python_reads_them(source: str, value: object) -> None:
    """The engine evaluates `when` as Python: every literal form Python takes means what it
    means there (underscores, bases, implicit string concatenation, string prefixes)."""
    expr = parse_when(f"jobs.a.outputs.x == {source}")
    assert isinstance(expr, Compare) and expr.comparators == (Literal(value),)  # type: ignore[arg-type]
    assert type(expr.comparators[0].value) is type(value)  # type: ignore[union-attr]


def test_names_are_python_identifiers_as_python_normalizes_them() -> None:
    assert parse_when("jobs.jü.outputs.n == 1").left == JobOutput("jü", "n", (), 0)  # type: ignore[union-attr]
    assert parse_when("jobs.日本.status") == JobAttr("日本", "status", 0)
    assert parse_when("jobs.ﬁ.outputs.ünï") == JobOutput(
        "fi", "ünï", (), 0
    )  # NFKC, as Python reads it
    assert parse_when("jobs . a . outputs . n # a comment") == JobOutput("a", "n", (), 0)
    assert parse_when("(jobs.a.outputs.n ==\n 1)") == Compare(
        JobOutput("a", "n", (), 1), ("==",), (Literal(1),)
    )
    assert parse_when("jobs.a.outputs.n \\\n== 1") == Compare(
        JobOutput("a", "n", (), 0), ("==",), (Literal(1),)
    )
    assert parse_when(" jobs.a.outputs.n\u00a0") == JobOutput(
        "a", "n", (), 1
    )  # the engine strips it


@pytest.mark.parametrize(
    "source, code, offset, words",
    [
        ("jobs.if.status == 'SUCCESS'", "AF501", 5, "'if' is a Python keyword"),
        ("jobs.a.outputs.None", "AF501", 15, "'None' is a Python keyword"),
        ("jobs.a.outputs.n\u00a0== 1", "AF501", 16, "invalid non-printable character U+00A0"),
        ("jobs.a.outputs.n ==\n 1", "AF501", 19, "invalid syntax"),
        ("jobs.a.outputs.n\r== 1", "AF501", 17, "invalid syntax"),
        ("jobs.a.outputs. true", "AF501", 16, "invalid syntax"),  # the engine's " true" -> " True"
        ("jobs.a→b.status", "AF501", 6, "unexpected character '→'"),
        ("jobs.a.outputs.n == 1_", "AF501", 21, "unexpected '_'"),
        ("jobs.a.outputs.n == 01", "AF501", 20, "leading zeros"),
        ("jobs.a.outputs.s == b'x' 'y'", "AF501", 25, "cannot mix bytes and text"),
        ("jobs.a.outputs.s == f'x'", "AF502", 20, "f-strings"),
        ("jobs.a.outputs.n == 0x" + "f" * 3600, "AF502", 20, "more than 4300 digits in decimal"),
    ],
)
def test_what_python_refuses_is_a_located_error(
    source: str, code: str, offset: int, words: str
) -> None:
    """The engine's validation parses `when` as Python and refuses the flow on a syntax
    error, running nothing: so does the compiler, at the offending character."""
    with pytest.raises(WhenSyntaxError) as info:
        parse_when(source)
    assert (info.value.code, info.value.offset) == (code, offset)
    assert words in info.value.message
