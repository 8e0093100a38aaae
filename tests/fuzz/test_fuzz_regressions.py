"""The fuzz suite's reproducers, run every time: each file in tests/fuzz/regressions/ is a
shrunk case that once broke the contract (its `class` and `symptom` say how); now every
command of it must keep the whole contract (fuzz_harness.py)."""

from __future__ import annotations

import pytest
from fuzz_harness import Case, describe, load_regressions, run_case

pytestmark = pytest.mark.fuzz

CASES = load_regressions()


@pytest.mark.parametrize(
    ("name", "case"),
    [(name, case) for name, _data, case in CASES],
    ids=[name for name, _data, _case in CASES],
)
def test_fuzz_regression(name: str, case: Case) -> None:
    violations = run_case(case)
    assert not violations, describe(violations)


def test_regressions_are_kept() -> None:
    """The folder is read: a typo in its path would make the test above run nothing."""
    assert len(CASES) >= 10
    assert all(data["class"] and data["symptom"] for _name, data, _case in CASES)
