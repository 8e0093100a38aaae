"""The YAML loader: engine-compatible values, positions, and refusal of unsafe input."""

from __future__ import annotations

import datetime
import time
import tracemalloc
from pathlib import Path

from aetherflow_compiler import loader
from aetherflow_compiler.loader import load_bytes, load_file


def load(text: str):
    doc, diags = load_bytes(text.encode(), "t.yaml")
    return doc, diags


def test_values_match_pyyaml_yaml11_semantics() -> None:
    doc, diags = load("a: yes\nb: 017\nc: 1:30\nd: 1e3\ne: ~\nf: 2024-01-31\ng: '017'\nh: 0x1F\n")
    assert doc is not None
    assert doc.data == {
        "a": True, "b": 15, "c": 90, "d": "1e3", "e": None,
        "f": datetime.date(2024, 1, 31), "g": "017", "h": 31,
    }
    assert sorted(d.code for d in diags) == ["AF802", "AF803", "AF804"]


def test_every_value_and_key_has_a_position() -> None:
    doc, _ = load("jobs:\n  - id: a\n    steps:\n      - {id: s, type: t}\n")
    assert doc is not None
    assert (doc.span(("jobs", 0, "id")).line, doc.span(("jobs", 0, "id")).column) == (2, 9)
    key = doc.span(("jobs", 0, "steps"), key=True)
    assert (key.line, key.column) == (3, 5)
    assert (doc.span(("jobs", 0, "steps", 0, "type")).line, doc.span(("jobs", 0, "steps", 0, "type")).column) == (4, 23)
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
    for tagged in ("!!python/object:os.system {}", "!!binary aGk=", "!!set {a}", "!custom x", "!!omap [{a: 1}]"):
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
