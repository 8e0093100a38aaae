"""The state store: job and step statuses, step results, job outputs, runs and locks.

One interface (`base.StateStore`), three backends, each in its own module and imported
only when a run opens it:
- `sqlite.SqliteState`: the engine's tables (job_runs, step_runs, locks) so existing ops
  queries keep working, plus af_runs, af_step_results, af_job_outputs and af_locks (the
  artifact's own flow and job locks: `locks` holds only what the engine would hold). One connection
  per run, WAL journal, every write one transaction.
- `files.FileState`: the same information as JSON files, each written to a temp file and
  renamed.
- `postgres.PostgresState`: the same tables in PostgreSQL, for many hosts; chosen by
  AETHERFLOW_STATE_URL in the run's environment, whatever the flow declares.
The two database backends share their reads, in the same SQL (`base.SqlStateStore`).
"""

from __future__ import annotations

from .. import TYPE_CHECKING
from ..errors import ConfigError

if TYPE_CHECKING:  # names for annotations only: importing typing slows every start
    from typing import Any

    from .base import StateStore


def open_state(backend: str, path: str, env: Any = None) -> StateStore:
    url = (env or {}).get("AETHERFLOW_STATE_URL", "")
    if url:
        if not url.startswith(("postgresql://", "postgres://")):
            raise ConfigError(
                "AETHERFLOW_STATE_URL must be a postgresql:// URL (the only shared state store)"
            )
        from .postgres import PostgresState

        try:
            retry = float((env or {}).get("AETHERFLOW_STATE_RETRY_SECONDS") or 30)
        except ValueError:
            raise ConfigError(
                "AETHERFLOW_STATE_RETRY_SECONDS must be a number"
            ) from None
        return PostgresState(url, retry)
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
