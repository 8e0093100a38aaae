"""The YAML loader: engine-compatible values, positions, and refusal of unsafe input."""

from __future__ import annotations

import datetime
import time
import tracemalloc
from pathlib import Path

from aetherflow_compiler.frontend import loader
from aetherflow_compiler.frontend.loader import load_bytes, load_file


def load(text: str):
    doc, diags = load_bytes(text.encode(), "t.yaml")
    return doc, diags


def test_values_match_pyyaml_yaml11_semantics() -> None:
    doc, diags = load("a: yes\nb: 017\nc: 1:30\nd: 1e3\ne: ~\nf: 2024-01-31\ng: '017'\nh: 0x1F\n")
    assert doc is not None
    assert doc.data == {
        "a": True,
        "b": 15,
        "c": 90,
        "d": "1e3",
        "e": None,
        "f": datetime.date(2024, 1, 31),
        "g": "017",
        "h": 31,
    }
    assert sorted(d.code for d in diags) == ["AF802", "AF803", "AF804"]


def test_every_value_and_key_has_a_position() -> None:
    doc, _ = load("jobs:\n  - id: a\n    steps:\n      - {id: s, type: t}\n")
    assert doc is not None
    assert (doc.span(("jobs", 0, "id")).line, doc.span(("jobs", 0, "id")).column) == (2, 9)
    key = doc.span(("jobs", 0, "steps"), key=True)
    assert (key.line, key.column) == (3, 5)
    assert (
        doc.span(("jobs", 0, "steps", 0, "type")).line,
        doc.span(("jobs", 0, "steps", 0, "type")).column,
    ) == (4, 23)
    # A path that does not exist falls back to its nearest ancestor.
    assert doc.span(("jobs", 0, "steps", 0, "nope")).line == 4


def test_position_inside_a_scalar_accounts_for_quotes() -> None:
    doc, _ = load('a: "x {{env.A}}"\nb: x {{env.B}}\nc: |\n  {{env.C}}\n')
    assert doc is not None
    assert doc.position_in_scalar(("a",), 2) == (1, 7)
    assert doc.position_in_scalar(("b",), 2) == (2, 6)
    assert doc.position_in_scalar(("c",), 0) == (3, 4)  # block scalar: its start


def test_merge_keys_expand_like_pyyaml() -> None:
    doc, diags = load("base: &b {x: 1, y: 2}\nother: &o {y: 3, z: 4}\nm:\n  <<: [*b, *o]\n  x: 9\n")
    assert doc is not None and not diags
    assert doc.data["m"] == {"x": 9, "y": 2, "z": 4}


def test_duplicate_keys_are_refused_even_when_they_spell_the_same_boolean() -> None:
    doc, diags = load("a: 1\nyes: 1\ntrue: 2\n")
    assert doc is None
    assert diags[-1].code == "AF108" and diags[-1].line == 3


def test_billion_laughs_fails_fast_in_bounded_memory() -> None:
    lines = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for prev, name in zip("abcdefghi", "bcdefghij", strict=True):
        lines.append(f"{name}: &{name} [" + ",".join([f"*{prev}"] * 10) + "]")
    tracemalloc.start()
    started = time.perf_counter()
    doc, diags = load("\n".join(lines) + "\n")
    elapsed = time.perf_counter() - started
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert doc is None and diags[0].code == "AF106"
    assert elapsed < 2.0
    assert peak < 50 * 1024 * 1024


def test_recursive_alias_is_refused() -> None:
    doc, diags = load("a: &a [1, *a]\n")
    assert doc is None and diags[0].code == "AF107"


def test_deep_nesting_is_a_located_error_not_a_crash() -> None:
    doc, diags = load("a: " + "[" * 5000 + "]" * 5000 + "\n")
    assert doc is None and diags[0].code == "AF103"


def test_tags_outside_the_core_schema_are_refused() -> None:
    for tagged in (
        "!!python/object:os.system {}",
        "!!binary aGk=",
        "!!set {a}",
        "!custom x",
        "!!omap [{a: 1}]",
    ):
        doc, diags = load(f"a: {tagged}\n")
        assert doc is None and diags[0].code == "AF105", tagged
    doc, diags = load("a: !!str 5\nb: !!int '7'\n")
    assert doc is not None and doc.data == {"a": "5", "b": 7}


def test_bom_is_accepted_and_non_utf8_is_located() -> None:
    doc, _ = load_bytes("\ufeffa: 1\n".encode(), "t.yaml")
    assert doc is not None and doc.data == {"a": 1}
    doc, diags = load_bytes(b"a: 1\nb: caf\xe9\n", "t.yaml")
    assert doc is None and (diags[0].code, diags[0].line, diags[0].column) == ("AF102", 2, 7)


def test_control_characters_are_a_syntax_error() -> None:
    doc, diags = load("a: \x07bell\n")
    assert doc is None and diags[0].code == "AF103" and diags[0].line == 1


def test_oversize_file_is_refused_without_reading_it_all(tmp_path: Path, monkeypatch) -> None:
    big = tmp_path / "big.yaml"
    with open(big, "wb") as fh:
        fh.write(b"a: " + b"x" * (50 * 1024 * 1024) + b"\n")
    tracemalloc.start()
    started = time.perf_counter()
    doc, diags = load_file(str(big), "big.yaml")
    elapsed = time.perf_counter() - started
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert doc is None
    assert (diags[0].code, diags[0].file, diags[0].line) == ("AF101", "big.yaml", 1)
    assert elapsed < 1.0
    assert peak < loader.MAX_FILE_BYTES * 3


def test_unreadable_paths_are_located_errors(tmp_path: Path) -> None:
    doc, diags = load_file(str(tmp_path), "somedir")
    assert doc is None and diags[0].code == "AF100"


def test_integers_up_to_4300_digits_load_and_longer_ones_are_af111() -> None:
    """Python cannot turn a longer integer into text: PyYAML fails on such a decimal one,
    and every message, check and code generator that printed one died (exit 3)."""
    largest = 10**4300 - 1
    for text in ("9" * 4300, "-" + "9" * 4300, hex(largest), "0o" * 0 + "0" + oct(largest)[2:]):
        doc, diags = load(f"a: {text}\n")
        assert doc is not None and abs(doc.data["a"]) == largest, text[:10]
    for text in (
        "9" * 4301,
        "1" + "_0" * 4300,
        hex(largest + 1),
        "0" + oct(largest + 1)[2:],
        "0b" + bin(largest + 1)[2:],
        "!!int " + "9" * 4301,
    ):
        doc, diags = load(f"a: {text}\n")
        assert doc is None and (diags[0].code, diags[0].line, diags[0].column) == (
            "AF111",
            1,
            4,
        ), text[:10]
        assert (
            diags[0].message.endswith("has more than 4300 digits") and len(diags[0].message) < 100
        )
    # Base 60: 60**2418 has 4300 digits, 60**2419 one more; PyYAML's quadratic sum is never run
    # for a longer one (a million parts took 90 s).
    doc, _ = load("a: 1" + ":0" * 2418 + "\n")
    assert doc is not None and doc.data["a"] == 60**2418
    started = time.perf_counter()
    for parts in (2419, 1_000_000):
        doc, diags = load("a: 1" + ":0" * parts + "\n")
        assert doc is None and diags[0].code == "AF111"
    assert time.perf_counter() - started < 5


def test_core_tags_must_describe_their_value() -> None:
    """PyYAML refuses these with ValueError, KeyError, AttributeError or ConstructorError."""
    cases = {
        "!!int abc": "'abc' is not a valid !!int",
        "!!float x": "'x' is not a valid !!float",
        "!!bool maybe": "'maybe' is not a valid !!bool",
        "!!timestamp soon": "'soon' is not a valid !!timestamp",
        "!!map abc": "a plain value cannot be tagged !!map",
        "!!seq abc": "a plain value cannot be tagged !!seq",
        "!!merge abc": "a plain value cannot be tagged !!merge",
        "!!str [1]": "a list cannot be tagged !!str",
        "!!seq {a: 1}": "a mapping cannot be tagged !!seq",
        "!!null [1]": "a list cannot be tagged !!null",
        "2024-02-30": "'2024-02-30' is not a valid !!timestamp (day is out of range for month)",
        "0x_": "'0x_' is not a valid !!int",
    }
    for tagged, message in cases.items():
        doc, diags = load(f"k:\n  - {tagged}\n")
        assert doc is None, tagged
        assert (diags[0].code, diags[0].line, diags[0].column, diags[0].message) == (
            "AF103",
            2,
            5,
            f"invalid YAML: {message}",
        ), tagged
    # The same tags on values they describe, and `!!merge` on a `<<` key, still load.
    doc, diags = load(
        "a: !!map {x: !!int '7', y: !!seq [!!bool yes, !!float '1.5', !!null '']}\n"
        "b: {? !!merge '<<' : {z: 1}}\n"
    )
    assert doc is not None and doc.data == {"a": {"x": 7, "y": [True, 1.5, None]}, "b": {"z": 1}}


def test_lists_and_mappings_nest_100_deep_and_no_deeper() -> None:
    doc, _ = load("a: " + "[" * 99 + "]" * 99 + "\n")  # the root mapping and 99 lists
    assert doc is not None
    doc, diags = load("a: " + "[" * 100 + "]" * 100 + "\n")
    assert doc is None and (diags[0].code, diags[0].line, diags[0].column) == ("AF103", 1, 3 + 100)
    assert diags[0].message == "invalid YAML: lists and mappings nest more than 100 levels deep"


def test_aliases_and_merge_keys_cannot_nest_past_the_limit() -> None:
    """Each alias below adds a level the text does not show."""
    chain = ["a0: &a0 [x]"] + [f"a{n}: &a{n} [*a{n - 1}]" for n in range(1, 150)]
    doc, diags = load("\n".join(chain) + "\n")
    assert doc is None and diags[0].code == "AF103" and "nest more than 100" in diags[0].message
    # Merge keys flatten their mappings, but expanding them recursed once per level.
    doc, diags = load("m: " + "{<<: " * 120 + "{x: 1}" + "}" * 120 + "\n")
    assert doc is None and diags[0].code == "AF103" and "nest more than 100" in diags[0].message
    doc, diags = load("m: " + "{<<: " * 90 + "{x: 1}" + "}" * 90 + "\n")
    assert doc is not None and doc.data == {"m": {"x": 1}}


def test_position_inside_a_scalar_is_exact_up_to_the_first_escape_or_line_break() -> None:
    doc, _ = load('a: "x {{env.A}}\\t{{env.B}}"\nb: "{{env.C}}\n  {{env.D}}"\n')
    assert doc is not None
    assert doc.position_in_scalar(("a",), 2) == (1, 7)
    assert doc.position_in_scalar(("a",), 12) == (1, 4)  # after the escape: the scalar's start
    assert doc.position_in_scalar(("b",), 0) == (2, 5)
    assert doc.position_in_scalar(("b",), 10) == (2, 4)  # on the next line: the scalar's start
