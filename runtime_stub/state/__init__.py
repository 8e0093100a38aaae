"""The state store: job and step statuses, step results, job outputs, runs and locks.

One interface (`base.StateStore`), two backends, each in its own module and imported only
when a run opens it:
- `sqlite.SqliteState`: the engine's tables (job_runs, step_runs, locks) so existing ops
  queries keep working, plus af_runs, af_step_results and af_job_outputs. One connection
  per run, WAL journal, every write one transaction.
- `files.FileState`: the same information as JSON files, each written to a temp file and
  renamed.
"""

from __future__ import annotations

if False:  # names for annotations only: importing typing slows every start
    from typing import Any

from ..errors import ConfigError


def open_state(backend: str, path: str) -> Any:
    if backend == "file":
        try:
            from .files import FileState

            return FileState(path)
        except OSError as exc:
            raise ConfigError(
                "cannot open the file state store at %s: %s" % (path, exc)
            ) from None
    import sqlite3  # only flows with SQLite state pay for the import

    from .sqlite import SqliteState

    try:
        return SqliteState(path)
    except (OSError, sqlite3.Error) as exc:
        raise ConfigError(
            "cannot open the sqlite state store at %s: %s" % (path, exc)
        ) from None
