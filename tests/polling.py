"""Waiting in tests: poll a condition against a deadline instead of sleeping a fixed time.

A fixed sleep is too short on a loaded machine (the test flakes) and too long everywhere
else (the suite crawls). `wait_for` returns as soon as the condition holds and fails the
test, saying what it waited for, when the deadline passes first. A sleep that IS the
behaviour under test (a lock's TTL running out, a step that must take time) stays a sleep.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

T = TypeVar("T")


def wait_for(
    predicate: Callable[[], T], timeout: float = 30, interval: float = 0.01, what: str = ""
) -> T:
    """Call `predicate` every `interval` seconds until it returns something true, and return
    that; fail with an AssertionError naming `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(f"gave up after {timeout:g} s waiting for {what or predicate}")
        time.sleep(interval)


def text_of(path: Path) -> str:
    """The file's text without surrounding whitespace; "" while it does not exist (a pid
    file someone is writing: empty until the line is there)."""
    try:
        return path.read_text().strip()
    except FileNotFoundError:
        return ""
