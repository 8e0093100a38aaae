"""The fork pool the per-file work runs in, when there is enough of it.

The pool forks after `WORKER` holds the state of the current map, so the workers inherit
the compiler, the registry and the cache without pickling them; worker functions read it
from there.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

# Worker state for the process pool (forked, so the compiler is already imported).
WORKER: dict[str, Any] = {}

PARALLEL_MIN = 16  # fewer items than this are worked on in this process


def pool_map(
    function: Any,
    items: list[Any],
    state: dict[str, Any],
    progress: Callable[[int], None] | None = None,
) -> list[Any]:
    """`map` over a process pool when there is enough work for it, else in this process;
    `progress(1)` after each item, in order."""
    WORKER.clear()
    WORKER.update(state)
    workers = min(os.cpu_count() or 1, 8)
    results: Any = None
    if len(items) >= PARALLEL_MIN and workers >= 2:
        import multiprocessing  # only now: importing it and concurrent.futures costs ~20 ms

        if "fork" in multiprocessing.get_all_start_methods():
            from concurrent.futures import ProcessPoolExecutor

            context = multiprocessing.get_context("fork")
            with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
                # Small chunks, so that no worker is left with a long last one while the others wait.
                chunks = max(1, min(16, len(items) // (workers * 8)))
                return _collect(pool.map(function, items, chunksize=chunks), progress)
    results = (function(item) for item in items)
    return _collect(results, progress)


def _collect(results: Any, progress: Callable[[int], None] | None) -> list[Any]:
    out = []
    for result in results:
        out.append(result)
        if progress is not None:
            progress(1)
    return out
