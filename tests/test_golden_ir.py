"""Golden tests of the IR: each flow in tests/golden/ir/ (with its `<name>.profiles.yaml`,
if any) and the exact text `ir.pprint.format_flow` gives for it (`<name>.ir`), so a change
to the front end shows up as an IR diff before it shows up as generated code."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from aetherflow_compiler.frontend.loader import load_bytes
from aetherflow_compiler.frontend.validate import check_document
from aetherflow_compiler.ir import nodes as ir
from aetherflow_compiler.ir.builder import build_flow
from aetherflow_compiler.ir.pprint import format_flow, format_value, format_when
from aetherflow_compiler.ir.when import BoolOp, Compare, JobAttr, Literal, Not
from aetherflow_compiler.steps import default_registry
from conftest import EXAMPLES, GOLDEN

CASES = GOLDEN / "ir"


def _build(path: Path, profiles_file: Path | None, source_name: str) -> ir.Flow:
    profiles = yaml.safe_load(profiles_file.read_text()) if profiles_file else None
    doc, diags = load_bytes(path.read_bytes(), source_name)
    assert doc is not None and not diags
    assert not check_document(doc, "flow", default_registry(), profiles)
    return build_flow(doc, source_name, profiles)


def _cases() -> list[tuple[str, Path, Path | None]]:
    out: list[tuple[str, Path, Path | None]] = []
    for path in sorted(CASES.glob("*.yaml")):
        if not path.name.endswith(".profiles.yaml"):
            profiles = path.with_name(path.stem + ".profiles.yaml")
            out.append((path.stem, path, profiles if profiles.exists() else None))
    for path in sorted((EXAMPLES / "flows").glob("*.yaml")):
        profiles = EXAMPLES / "profiles.yaml"
        out.append((f"example_{path.stem}", path, profiles if profiles.exists() else None))
    return out


@pytest.mark.parametrize(
    ("name", "path", "profiles"), _cases(), ids=lambda v: v if isinstance(v, str) else ""
)
def test_ir_golden(name: str, path: Path, profiles: Path | None, update_golden: bool) -> None:
    actual = format_flow(_build(path, profiles, f"flows/{path.name}"))
    expected = CASES / f"{name}.ir"
    if update_golden:
        expected.write_text(actual)
    assert expected.exists(), f"missing golden file {expected.name}; run pytest --update-golden"
    assert actual == expected.read_text()


def test_every_case_has_its_golden_file_and_no_file_is_left_over() -> None:
    names = {name for name, _, _ in _cases()}
    assert {p.stem for p in CASES.glob("*.ir")} == names


def test_when_is_printed_with_its_grouping() -> None:
    """The printer shows how `when` was parsed: `not` binds tighter than `and`, which binds
    tighter than `or`; chained comparisons stay one comparison."""
    status = JobAttr("a", "status", 0)
    tree = BoolOp(
        "or",
        (
            BoolOp("and", (Not(Compare(Literal(1), ("<",), (Literal(2),))), status)),
            Compare(Literal(1), ("<", "<="), (Literal(2), Literal(3))),
        ),
    )
    assert format_when(tree) == "(((not (1 < 2)) and jobs.a.status) or (1 < 2 <= 3))"
    assert format_value(ir.Map((("k", ir.Seq((1, None, "x"))),))) == "{'k': [1, None, 'x']}"
