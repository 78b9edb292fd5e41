"""The error family: one class per cause, each with a hint and a documented exit code.

Every error is caught once, in ``cli.main``, and printed as one line (``error: <message>``)
plus an optional ``hint: <fix>`` line. Tracebacks appear only with ``--verbose``.
The exit codes are a contract, documented in the README ("Exit codes").
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

if TYPE_CHECKING:
    from envctl.results import LoadResult, PodFailure, WorkloadReadiness

__all__ = [
    "BuildError",
    "BuildFailed",
    "BuildFailure",
    "BuildStepFailure",
    "ClusterError",
    "ConfigError",
    "DaemonUnavailableError",
    "DeployError",
    "EnvctlError",
    "ExitCode",
    "ImageNotRenderedError",
    "InputError",
    "LoadError",
    "LoadFailed",
    "LockedError",
    "ReleaseNotReadyError",
    "RunningImageMismatchError",
    "StateUnwritableError",
    "TimedOutError",
    "ToolFailedError",
    "ToolMissingError",
    "WorkloadsNotReadyError",
]


class ExitCode:
    OK = 0
    FAILED = 1  # an unexpected failure (a bug): rerun with --verbose and report it
    BAD_INPUT = 2  # bad flags, config, refs or names; nothing was changed
    ENVIRONMENT = 3  # a tool is missing or a daemon does not answer
    BUILD = 4
    LOAD = 5
    DEPLOY = 6
    NOT_READY = 7
    CLUSTER = 8
    LOCKED = 9
    TIMED_OUT = 11  # an external step (build, image import, helm) ran past its time limit and was stopped
    INTERRUPTED = 130


class EnvctlError(Exception):
    """Base of every error envctl reports to its user.

    ``message`` names the problem; ``hint`` names the fix.
    """

    exit_code: ClassVar[int] = ExitCode.FAILED

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint


class InputError(EnvctlError):
    """A bad flag value, service name, git ref or Dockerfile."""

    exit_code = ExitCode.BAD_INPUT


class ConfigError(InputError):
    """envctl.yaml is malformed or breaks a rule."""


class ImageNotRenderedError(ConfigError):
    """The rendered chart would not run a service's built image (a wrong ``values_path``, a rewrite
    that matches nothing) or, with ``--strict-images``, runs an image envctl neither built nor lists.
    Raised before ``helm upgrade``: nothing was deployed."""


class ToolMissingError(EnvctlError):
    """An executable envctl needs is not on PATH."""

    exit_code = ExitCode.ENVIRONMENT


class DaemonUnavailableError(EnvctlError):
    """A daemon (Docker, a registry, the API server) does not answer."""

    exit_code = ExitCode.ENVIRONMENT


class StateUnwritableError(EnvctlError):
    """envctl's own state folder (``.envctl``: lock, kubeconfig, run records) cannot be written."""

    exit_code = ExitCode.ENVIRONMENT


class ToolFailedError(EnvctlError):
    """An external command exited non-zero; carries its argv and stderr tail."""

    exit_code = ExitCode.FAILED

    def __init__(
        self,
        message: str,
        hint: str | None = None,
        *,
        argv: list[str] | None = None,
        returncode: int | None = None,
        stderr: str = "",
    ) -> None:
        super().__init__(message, hint)
        self.argv = argv or []
        self.returncode = returncode
        self.stderr = stderr


class TimedOutError(ToolFailedError):
    """An external step ran past its time limit (README "Timeouts") and was stopped, not awaited."""

    exit_code = ExitCode.TIMED_OUT


class BuildError(EnvctlError):
    exit_code = ExitCode.BUILD


class LoadError(EnvctlError):
    exit_code = ExitCode.LOAD


class DeployError(EnvctlError):
    exit_code = ExitCode.DEPLOY


class WorkloadsNotReadyError(EnvctlError):
    exit_code = ExitCode.NOT_READY


class RunningImageMismatchError(WorkloadsNotReadyError):
    """After the wait, a pod of the release runs a service's image at another ref than envctl built
    (a chart that hard-codes an image, a mutating webhook): the release is up, but stale."""


class ClusterError(EnvctlError):
    exit_code = ExitCode.CLUSTER


class LockedError(EnvctlError):
    exit_code = ExitCode.LOCKED


# --- the failures of `envctl up`'s phases, with the evidence their views render -----------------
class BuildStepFailure(BuildError):
    """A build backend failed; carries the failing step and the log for the build phase's message."""

    def __init__(self, message: str, *, step: str, log: Sequence[str]) -> None:
        super().__init__(message, hint="fix the failing step; the log tail shows why")
        self.step = step
        self.log = list(log)


@dataclass(frozen=True)
class BuildFailure:
    service: str
    step: str
    error: str
    log_tail: tuple[str, ...]


class BuildFailed(BuildError):
    """One service's build failed: names the service, the failing step and the tail of its log."""

    def __init__(self, failure: BuildFailure) -> None:
        tail = "\n".join(f"  | {line}" for line in failure.log_tail)
        msg = f"build of {failure.service} failed at step {failure.step}: {failure.error}\n{tail}"
        super().__init__(msg, hint=f"fix that step in {failure.service}'s Dockerfile, or rerun with --verbose")
        self.failure = failure


class LoadFailed(LoadError):
    """Loading one image failed on some node(s); ``result`` holds every node's outcome."""

    def __init__(self, result: LoadResult) -> None:
        failed = [node for node in result.nodes if node.outcome == "failed"]
        first = failed[0]
        more = f" (and {len(failed) - 1} more)" if len(failed) > 1 else ""
        msg = f"loading {result.ref} ({result.service}) into {first.node} failed: {first.error}{more}"
        if first.node.startswith("registry:"):
            hint = "check the registry accepts pushes (not read-only, disk space); rerun to push only what is missing"
        else:
            hint = "check the node container runs (`docker ps`) and has disk space; rerun to load only what is missing"
        super().__init__(msg, hint=hint)
        self.result = result


class ReleaseNotReadyError(WorkloadsNotReadyError):
    """The release did not become ready: a pod failed (``failure``) or the deadline passed.

    ``workloads`` holds every workload's last state and ``pods`` every pod's, for views/wait.py.
    """

    def __init__(
        self,
        message: str,
        hint: str | None = None,
        *,
        release: str,
        namespace: str,
        failure: PodFailure | None,
        workloads: tuple[WorkloadReadiness, ...],
        pods: tuple[tuple[str, str], ...],
    ) -> None:
        super().__init__(message, hint)
        self.release = release
        self.namespace = namespace
        self.failure = failure
        self.workloads = workloads
        self.pods = pods
