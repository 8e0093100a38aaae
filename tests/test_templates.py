"""The template contract, token by token, as the engine's resolver reads it."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from aetherflow_compiler.frontend.parse_template import (
    UNSUPPORTED,
    TemplateSyntaxError,
    parse_template,
)
from aetherflow_compiler.ir.template import Ref, Text


def test_plain_strings_are_not_templates() -> None:
    assert parse_template("hello") is None
    assert parse_template("") is None


def test_standalone_tokens_are_typed_and_keep_default_spaces() -> None:
    t = parse_template("{{ env.URL:http://a:b }}")
    assert t is not None and t.standalone
    assert t.parts == (Ref(("env", "URL"), "http://a:b ", 0, 24),)
    t = parse_template("{{steps.probe.count}}")
    assert t is not None and t.standalone and t.refs[0].default is None
    assert parse_template("{{x:}}").refs[0].default == ""  # type: ignore[union-attr]


def test_standalone_matches_before_a_trailing_newline_like_the_engine() -> None:
    t = parse_template("{{env.X}}\n")
    assert t is not None and t.standalone


def test_inline_tokens_render_to_strings_and_strip_default_trailing_spaces() -> None:
    t = parse_template("a {{ env.X: d  }} b {{run_id}}")
    assert t is not None and not t.standalone
    assert t.parts[0] == Text("a ")
    assert t.parts[1] == Ref(("env", "X"), " d", 2, 17)
    assert t.parts[2] == Text(" b ")
    assert t.parts[3] == Ref(("run_id",), None, 20, 30)


def test_lone_closing_braces_after_the_last_token_are_accepted_like_the_engine() -> None:
    t = parse_template("a }} b")
    assert t is not None and t.parts == (Text("a }} b"),)


@pytest.mark.parametrize(
    "value, detail",
    [
        ("${HOME}", "'${' is not allowed in a templated value"),
        ("{% if x %}", "'{%' is not allowed in a templated value"),
        ("{# note #}", "'{#' is not allowed in a templated value"),
        ("find -exec rm {} ;", "'{}' is not allowed in a templated value"),
        ("{{ x | lower }}", "filters are not supported"),
        ("{{ a.b-c }}", "'a.b-c' is not a PATH"),
        ("x {{ }}", "empty token"),
        ("x {{a {{b}} }}", "nested braces"),
        ("x }} {{a}}", "'}}' before '{{'"),
        ("{{a", "'{{' is never closed"),
        ("{{1abc}}", "'1abc' is not a PATH"),
    ],
)
def test_everything_else_fails_with_the_exact_message(value: str, detail: str) -> None:
    with pytest.raises(TemplateSyntaxError) as info:
        parse_template(value)
    assert (
        str(info.value)
        == UNSUPPORTED
        == "Unsupported templating syntax. Use {{VAR}} or {{VAR:DEFAULT}}"
    )
    assert info.value.detail == detail


@given(st.text())
def test_parser_never_fails_with_anything_but_the_contract_error(value: str) -> None:
    try:
        parse_template(value)
    except TemplateSyntaxError as exc:
        assert 0 <= exc.offset <= len(value)
