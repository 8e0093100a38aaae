"""Errors the runtime raises, grouped by the exit code they lead to."""

from __future__ import annotations


class ConfigError(Exception):
    """Usage or configuration problem (missing env, bad env file, bad argument): exit 2."""


class StateStoreError(ConfigError):
    """The state store cannot record what happened (a full disk, a database that stays
    down): the run stops at once, exit 2, and what was recorded before stays exact."""


class WorkspaceError(ConfigError):
    """The workspace cannot hold a job's directory (its root is a file, a read-only file
    system): exit 2. Found before the run starts, or as the job starts (FAILED)."""


class LockHeld(Exception):
    """A flow or job lock is held by another run: exit 3."""


class RunLive(LockHeld):
    """The run id is live in another process (exit 3): a run id runs in one process at a
    time, and this one has written nothing to that run's state."""


class StepError(Exception):
    """A step failed; its job is FAILED (exit 1)."""


class TemplateError(StepError):
    """A template could not be rendered (syntax or missing key)."""


class TemplateSyntaxError(TemplateError):
    pass


class MissingKeyError(TemplateError):
    def __init__(self, path: str) -> None:
        super().__init__(f"missing template key '{path}' (no default given)")
        self.path = path

    @property
    def is_env(self) -> bool:
        return self.path == "env" or self.path.startswith("env.")


class WhenError(Exception):
    """A `when` expression cannot be evaluated: the run stops (exit 1)."""
