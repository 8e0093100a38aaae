"""The differential fuzzer (difffuzz.py): Hypothesis builds valid random flows over the
language's control surface; each must end the same with the reference engine, as the Python
artifact and as the sh artifact under dash. Engine against Python: exit class, job and step
statuses, typed promoted outputs and every file written (the steps write their rendered argv
and some their environment into files). sh against Python: the same and the exit status.

Two profiles:
- in `make test`: a fixed, derandomised budget (SMALL_BATCHES batches of BATCH flows, each
  batch compiled in one `aetherflow compile --target all` and run by one engine start), no
  Hypothesis database;
- the long one (docs/evidence.md):
      AETHERFLOW_FUZZ=long nice -n 15 .venv/bin/python -m pytest -m fuzz tests/conformance
  $AETHERFLOW_FUZZ_EXAMPLES flows (default 1000) from seed $AETHERFLOW_FUZZ_SEED (default:
  random), every disagreement written, as a corpus case ready for cases/, to
  $AETHERFLOW_FUZZ_OUT/difffuzz.txt.

Known disagreements (known_failing.yaml) are not generated while they are listed.
"""

from __future__ import annotations

import os
import random
import shutil
import tempfile
import time
from pathlib import Path

import pytest
from difffuzz import flow_cases, run_batch
from hypothesis import HealthCheck, Phase, given, seed, settings
from hypothesis import strategies as st

pytestmark = [pytest.mark.conformance, pytest.mark.fuzz]

BATCH = 8
SMALL_BATCHES = 20
LONG = os.environ.get("AETHERFLOW_FUZZ", "") == "long"

_batches = st.lists(flow_cases(), min_size=BATCH, max_size=BATCH, unique_by=repr)
_quiet = [
    HealthCheck.too_slow,
    HealthCheck.data_too_large,
    HealthCheck.function_scoped_fixture,
    HealthCheck.filter_too_much,
    HealthCheck.large_base_example,
]


def _profile() -> tuple[int, dict]:  # type: ignore[type-arg]
    """(number of batches, Hypothesis settings) of the profile in use."""
    common = {"database": None, "deadline": None, "suppress_health_check": _quiet}
    if not LONG:
        return SMALL_BATCHES, {
            **common,
            "derandomize": True,
            "phases": [Phase.explicit, Phase.generate],
        }
    examples = int(os.environ.get("AETHERFLOW_FUZZ_EXAMPLES", "1000"))
    return -(-examples // BATCH), {**common, "phases": [Phase.generate]}


def test_generated_flows_end_alike(tmp_path_factory: pytest.TempPathFactory) -> None:
    """Every generated flow ends the same on the three sides. The run does not stop at the
    first disagreement: each is written, as a corpus case, to the report (long profile:
    $AETHERFLOW_FUZZ_OUT/difffuzz.txt) and the test fails at the end with all of them."""
    batches, options = _profile()
    start_seed = int(os.environ.get("AETHERFLOW_FUZZ_SEED") or random.randrange(2**32))
    out = Path(os.environ.get("AETHERFLOW_FUZZ_OUT") or tmp_path_factory.mktemp("difffuzz-out"))
    out.mkdir(parents=True, exist_ok=True)
    report = out / "difffuzz.txt"
    tally = {"flows": 0, "disagreeing": 0, "with_sh": 0, "not_compiled": 0}
    found: list[str] = []
    started = time.monotonic()
    with report.open("w", encoding="utf-8") as sink:
        sink.write(
            f"# {'long profile, seed ' + str(start_seed) if LONG else 'small profile'}: "
            f"{batches} batches of {BATCH} flows\n"
        )

        @settings(max_examples=batches, **options)
        @given(batch=_batches)
        def survey(batch: list[dict]) -> None:  # type: ignore[type-arg]
            root = Path(
                tempfile.mkdtemp(
                    prefix="batch-", dir=out if LONG else tmp_path_factory.getbasetemp()
                )
            )
            names = [(f"fz{tally['flows'] + i}", case) for i, case in enumerate(batch)]
            for verdict in run_batch(names, root):
                tally["flows"] += 1
                tally["with_sh"] += verdict.sh is not None
                tally["not_compiled"] += bool(verdict.differences.get("compile"))
                if not verdict.agrees:
                    tally["disagreeing"] += 1
                    found.append(verdict.explain())
                    sink.write(found[-1] + "\n\n")
                    sink.flush()
            if LONG:
                shutil.rmtree(root, ignore_errors=True)

        (seed(start_seed)(survey) if LONG else survey)()
        elapsed = time.monotonic() - started
        sink.write(f"# {tally} in {elapsed:.0f} s\n")
    print(f"difffuzz: {tally} in {elapsed:.0f} s; report {report}")
    assert tally["flows"] == batches * BATCH
    assert (
        not found
    ), f"{len(found)} of {tally['flows']} flows disagree ({report}):\n\n" + "\n\n".join(found[:5])
