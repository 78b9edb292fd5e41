"""The error family: one class per cause, each with a hint and a documented exit code.

Every error is caught once, in ``cli.main``, and printed as one line (``error: <message>``)
plus an optional ``hint: <fix>`` line. Tracebacks appear only with ``--verbose``.
The exit codes are a contract, documented in the README ("Exit codes").
"""

from __future__ import annotations

from typing import ClassVar

__all__ = [
    "BuildError",
    "ClusterError",
    "ConfigError",
    "DaemonUnavailableError",
    "DeployError",
    "EnvctlError",
    "ExitCode",
    "InputError",
    "LoadError",
    "LockedError",
    "NotBuiltYetError",
    "StateUnwritableError",
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
    NOT_BUILT = 10  # the command exists but is not implemented yet
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


class BuildError(EnvctlError):
    exit_code = ExitCode.BUILD


class LoadError(EnvctlError):
    exit_code = ExitCode.LOAD


class DeployError(EnvctlError):
    exit_code = ExitCode.DEPLOY


class WorkloadsNotReadyError(EnvctlError):
    exit_code = ExitCode.NOT_READY


class ClusterError(EnvctlError):
    exit_code = ExitCode.CLUSTER


class LockedError(EnvctlError):
    exit_code = ExitCode.LOCKED


class NotBuiltYetError(EnvctlError):
    exit_code = ExitCode.NOT_BUILT
