"""The layout module writes what black would leave unchanged."""

from __future__ import annotations

import black
from hypothesis import given, settings
from hypothesis import strategies as st

from aetherflow_compiler.codegen.literals import to_node
from aetherflow_compiler.codegen.python.layout import (
    Atom,
    Call,
    number_literal,
    string_literal,
    text,
)

MODE = black.Mode(target_versions={black.TargetVersion.PY38})

_text = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=30
)
_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(10**20), 10**20),
    st.floats(allow_nan=True, allow_infinity=True),
    _text,
    st.sampled_from(["x" * 95, "日本語" * 20, "'\"'", 'a"b\'c"', "\\", "\t\n\r\x07"]),
)
_values = st.recursive(
    _scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=5),
        st.dictionaries(st.one_of(_text, st.integers(0, 9), st.booleans()), inner, max_size=5),
    ),
    max_leaves=30,
)


def _stable(source: str) -> bool:
    return black.format_str(source, mode=MODE) == source


@settings(max_examples=300, deadline=None)
@given(
    value=_values,
    key=st.sampled_from(["x", "inputs", "a_rather_long_keyword_name"]),
    indent=st.sampled_from([0, 4]),
)
def test_any_literal_is_laid_out_as_black_would_keep_it(
    value: object, key: str, indent: int
) -> None:
    call = Call("run.step", ((None, Atom('"s"')), (key, to_node(value))))
    body = text(call, indent)
    source = body + "\n" if indent == 0 else "def job(run):\n" + body + "\n"
    assert _stable(source), source
    # The literal reads back as the same value (repr also compares NaN and -0.0).
    assert repr(eval(compile(text(to_node(value), 0), "<literal>", "eval"), {})) == repr(value)


def test_strings_and_numbers_use_black_spelling() -> None:
    assert string_literal("it's") == '"it\'s"'
    assert string_literal('say "hi"') == "'say \"hi\"'"
    assert string_literal("both ' and \"") == '"both \' and \\""'
    assert string_literal("tab\there\x07") == '"tab\\there\\x07"'
    assert number_literal(1e16) == "1e16" and number_literal(2.5e-07) == "2.5e-07"
