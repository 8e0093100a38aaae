"""Did-you-mean suggestions for misspelled keys, ids and values."""

from __future__ import annotations

import difflib
import itertools
from collections.abc import Collection, Iterable, Sequence
from typing import Any

# Names that the reference engine silently ignores although users write them, mapped to
# the name the engine actually reads.
KNOWN_MISNAMES = {
    "required_files": "require_files",
    "required_globs": "require_glob",
    "required_glob": "require_glob",
    "require_globs": "require_glob",
    "forbidden_files": "forbid_files",
    "sleep_seconds": "backoff_seconds",
    "max_capture_bytes": "max_capture_kb",
    "timeout": "timeout_seconds",
    "depends": "depends_on",
}


# A suggestion compares the word with every candidate, and a hint that names the
# candidates names them all: with thousands of names from the flow (a 4 MiB flow holds
# 40,000 steps) and as many errors, both made the report quadratic. Hints over such names
# (hint_from, the checks' id lists) suggest nothing beyond POOL_LIMIT candidates, and
# lists stop after LIST_LIMIT names.
POOL_LIMIT = 200
LIST_LIMIT = 20


def closest(word: str, candidates: Iterable[str]) -> str | None:
    """The candidate closest to `word`, or None when nothing is close enough."""
    pool = sorted({c for c in candidates if isinstance(c, str)})
    if not pool:
        return None
    lowered = {c.lower(): c for c in pool}
    if word.lower() in lowered:
        return lowered[word.lower()]
    match = difflib.get_close_matches(word, pool, n=1, cutoff=0.6)
    return match[0] if match else None


def listing(names: Sequence[str], total: int | None = None, empty: str = "(none)") -> str:
    """`a, b, c` for a hint: at most LIST_LIMIT names, then how many more. `names` may be
    a prefix of the list when `total` says how long the whole is."""
    total = len(names) if total is None else total
    if not total:
        return empty
    shown = ", ".join(str(name) for name in names[:LIST_LIMIT])
    return shown if total <= LIST_LIMIT else f"{shown}, ... ({total - LIST_LIMIT} more)"


def did_you_mean(word: str, candidates: Iterable[str]) -> str | None:
    """A hint sentence for a misspelled name, or None."""
    pool = sorted({c for c in candidates if isinstance(c, str)})
    known = KNOWN_MISNAMES.get(word)
    if known is not None and known in pool:
        return f"did you mean '{known}'? The engine silently ignores '{word}'"
    best = closest(word, pool)
    if best is not None:
        return f"did you mean '{best}'?"
    return None


def hint_from(word: str, candidates: Collection[Any], label: str, empty: str = "(none)") -> str:
    """A did-you-mean for `word`, else `label: a, b, ...` (sorted); past POOL_LIMIT
    candidates only the first few in their own order, so that a hint costs the same
    however many candidates there are."""
    if len(candidates) > POOL_LIMIT:
        return f"{label}: {listing([str(c) for c in itertools.islice(candidates, LIST_LIMIT)], len(candidates))}"
    return (
        did_you_mean(word, candidates)
        or f"{label}: {listing(sorted(str(c) for c in candidates), empty=empty)}"
    )


def one_of(candidates: Iterable[str]) -> str:
    return ", ".join(sorted(candidates))
