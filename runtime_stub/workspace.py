"""Job workspaces `<root>/<flow_id>/<job_id>/<run_id>/` and the path sandbox."""

from __future__ import annotations

import os

from . import TYPE_CHECKING
from .errors import StepError, WorkspaceError

if TYPE_CHECKING:  # names for annotations only: importing typing slows every start
    from typing import Dict, List


class Workspace:
    def __init__(
        self,
        root: str,
        flow_id: str,
        run_id: str,
        layout: Dict[str, str],
        cleanup_policy: str,
        sandbox: bool = True,
    ) -> None:
        self.root = root
        self.flow_id = flow_id
        self.run_id = run_id
        self.layout = layout
        self.cleanup_policy = cleanup_policy
        self.sandbox = sandbox

    def job_dir(self, job_id: str) -> str:
        return os.path.join(self.root, self.flow_id, job_id, self.run_id)

    def artifacts_dir(self, job_id: str) -> str:
        return os.path.join(self.job_dir(job_id), self.layout["artifacts"])

    def scratch_dir(self, job_id: str) -> str:
        return os.path.join(self.job_dir(job_id), self.layout["scratch"])

    def manifests_dir(self, job_id: str) -> str:
        return os.path.join(self.job_dir(job_id), self.layout["manifests"])

    def check(self) -> None:
        """Before the run starts, without creating anything: the nearest existing folder
        of `<root>/<flow_id>` must be a writable directory (WorkspaceError otherwise).
        access(2) finds a read-only file system for every user, modes only for others
        than root."""
        path = os.path.abspath(os.path.join(self.root, self.flow_id))
        while not os.path.lexists(path) and os.path.dirname(path) != path:
            path = os.path.dirname(path)
        problem = (
            "is not a directory"
            if not os.path.isdir(path)
            else "" if os.access(path, os.W_OK | os.X_OK) else "is not writable"
        )
        if problem:
            raise WorkspaceError(
                "the workspace root %s cannot hold job directories: %s %s"
                % (self.root, path, problem)
            )

    def prepare(self, job_id: str) -> None:
        """Create the job dir and the layout's three subdirectories."""
        for path in (
            self.artifacts_dir(job_id),
            self.scratch_dir(job_id),
            self.manifests_dir(job_id),
        ):
            try:
                os.makedirs(path, exist_ok=True)
            except OSError as exc:
                raise WorkspaceError(
                    "cannot create the job directory %s: %s" % (path, exc)
                ) from None

    def cleanup(self, job_id: str, succeeded: bool) -> None:
        """on_success: after SUCCESS or a no-data SKIPPED job; always: after any outcome."""
        if self.cleanup_policy == "always" or (
            self.cleanup_policy == "on_success" and succeeded
        ):
            import shutil  # imported when needed: start-up time matters

            shutil.rmtree(self.job_dir(job_id), ignore_errors=True)

    def resolve(self, job_id: str, path: str) -> str:
        """A step's path: relative to the job's artifacts dir; absolute only inside the
        workspace root or the artifacts dir (unless AETHERFLOW_STRICT_SANDBOX is false).
        """
        artifacts = os.path.realpath(self.artifacts_dir(job_id))
        raw = str(path)
        candidate = os.path.realpath(
            raw if os.path.isabs(raw) else os.path.join(artifacts, raw)
        )
        if not self.sandbox:
            return candidate
        roots: List[str] = []
        for root in (os.path.realpath(self.root), artifacts):
            if os.path.exists(root) and root not in roots:
                roots.append(root)
        for root in roots:
            if candidate == root or candidate.startswith(root.rstrip(os.sep) + os.sep):
                return candidate
        raise StepError(
            "path %r is outside the sandbox (allowed roots: %s)"
            % (raw, ", ".join(roots))
        )
