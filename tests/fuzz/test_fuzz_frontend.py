"""Fuzzing the front end: generated and mutated inputs of every kind the compiler reads
(flows, profiles, scheduler files, bundle manifests, the project config, plugin folders,
odd file systems) through `validate`, `compile` (`--target all`, `--single-file`,
`--check`), `explain` and `graph`, each checked against the contract in fuzz_harness.py.

Two profiles:

- the default, part of every `make test`: a few examples per kind, derandomized (the same
  inputs every run), no Hypothesis database, no shrinking; a failure prints the case as
  JSON, which a file in tests/fuzz/regressions/ can keep;
- the long one: `AETHERFLOW_FUZZ=long .venv/bin/python -m pytest -m fuzz tests/fuzz`
  (docs/evidence.md). $AETHERFLOW_FUZZ_EXAMPLES inputs per kind (default 1000), random
  seeds; it does not stop at the first failure but collects every class of failure,
  shrinks one case of each and writes it, regression-ready, to $AETHERFLOW_FUZZ_OUT
  (default: a new folder under /tmp, printed), with a summary of what ran.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
import time
from pathlib import Path

import pytest
from fuzz_harness import Case, Violation, describe, run_case, save_regression, shrink
from fuzz_strategies import STRATEGIES
from hypothesis import HealthCheck, Phase, given, settings

pytestmark = pytest.mark.fuzz

LONG = os.environ.get("AETHERFLOW_FUZZ", "") == "long"
# Inputs per kind in the default profile: the flow kind has the most to explore.
CI_EXAMPLES = {
    "flow": 150,
    "profiles": 40,
    "scheduler": 40,
    "manifest": 40,
    "config": 40,
    "plugins": 25,
    "fs": 12,
}
QUIET = list(HealthCheck)  # inputs are big on purpose, and each runs several commands


@pytest.mark.parametrize("kind", sorted(STRATEGIES))
def test_front_end_keeps_its_contract(kind: str) -> None:
    if LONG:
        _survey(kind, int(os.environ.get("AETHERFLOW_FUZZ_EXAMPLES", "1000")))
        return

    @settings(
        max_examples=CI_EXAMPLES[kind],
        derandomize=True,
        database=None,
        deadline=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=QUIET,
        print_blob=False,
    )
    @given(STRATEGIES[kind]())
    def check(case: Case) -> None:
        violations = run_case(case)
        assert not violations, (
            describe(violations)
            + "\nthe case, as a regression file takes it:\n"
            + json.dumps(case.as_json())
        )

    check()


def _survey(kind: str, examples: int) -> None:
    """Run `examples` inputs, keep every class of failure (its first case and how often it
    came), shrink each and write them out; fail listing the classes."""
    out = Path(
        os.environ.get("AETHERFLOW_FUZZ_OUT") or tempfile.mkdtemp(prefix="aetherflow-fuzz-out-")
    )
    out.mkdir(parents=True, exist_ok=True)
    classes: dict[str, tuple[int, Violation, Case]] = {}
    tried = 0
    started = time.monotonic()

    @settings(
        max_examples=examples,
        database=None,
        deadline=None,
        phases=[Phase.generate],
        suppress_health_check=QUIET,
    )
    @given(STRATEGIES[kind]())
    def explore(case: Case) -> None:
        nonlocal tried
        tried += 1
        for violation in run_case(case):
            count, first, first_case = classes.get(violation.signature, (0, violation, case))
            classes[violation.signature] = (count + 1, first, first_case)

    explore()
    explored = time.monotonic() - started
    summary = []
    for i, (signature, (count, violation, case)) in enumerate(
        sorted(classes.items(), key=lambda x: -x[1][0])
    ):
        small = shrink(case, signature, budget=int(os.environ.get("AETHERFLOW_FUZZ_SHRINK", "150")))
        slug = re.sub(r"[^a-z0-9]+", "-", signature.lower()).strip("-")[:60]
        path = save_regression(
            f"{kind}-{i:02d}-{slug}",
            small,
            violation,
            f"seen {count} times in {tried} inputs",
            out / kind,
        )
        summary.append(
            {"class": signature, "count": count, "example": str(path), "symptom": violation.detail}
        )
    report = {
        "kind": kind,
        "inputs": tried,
        "explore_seconds": round(explored, 1),
        "total_seconds": round(time.monotonic() - started, 1),
        "classes": summary,
    }
    (out / f"{kind}-summary.json").write_text(json.dumps(report, indent=2) + "\n")
    print(f"\n{kind}: {tried} inputs in {explored:.0f} s; {len(summary)} classes; written to {out}")
    assert not summary, "\n".join(
        f"{s['count']:5d}  {s['class']}  ({s['example']})" for s in summary
    )
