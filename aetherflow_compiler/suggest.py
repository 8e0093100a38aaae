"""Did-you-mean suggestions for misspelled keys, ids and values."""

from __future__ import annotations

import difflib
from collections.abc import Iterable

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


def one_of(candidates: Iterable[str]) -> str:
    return ", ".join(sorted(candidates))
