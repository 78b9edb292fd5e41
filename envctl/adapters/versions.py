"""Version probes for `envctl doctor`: one small command per tool, read without a shell.

Each probe returns the version string or raises the runner's ``ToolMissingError`` (not on PATH)
or ``ToolFailedError`` (it ran and failed, e.g. Docker's daemon not answering).
"""

from __future__ import annotations

import json
import re

from envctl.adapters.process import SubprocessRunner
from envctl.errors import ToolFailedError

__all__ = ["docker_server_version", "helm_version", "kubectl_client_version", "parse_semver"]

_SEMVER = re.compile(r"v?(\d+)\.(\d+)\.(\d+)")


def parse_semver(text: str) -> tuple[int, int, int] | None:
    match = _SEMVER.search(text)
    return (int(match[1]), int(match[2]), int(match[3])) if match else None


def docker_server_version(runner: SubprocessRunner, docker_cli: str = "docker") -> str:
    """The Engine's version through ``docker_cli``; fails when the daemon does not answer (the client
    alone is not enough)."""
    return runner.run([docker_cli, "version", "--format", "{{.Server.Version}}"], timeout=20).stdout.strip()


def helm_version(runner: SubprocessRunner) -> str:
    # The same probe pyhelm3 runs at start-up: "v3.17.3", no newline
    # (docs/tools-behaviour.md, "helm (through pyhelm3)").
    return runner.run(["helm", "version", "--template", "{{ .Version }}"], timeout=20).stdout.strip()


def kubectl_client_version(runner: SubprocessRunner) -> str:
    out = runner.run(["kubectl", "version", "--client", "-o", "json"], timeout=20).stdout
    try:
        return str(json.loads(out)["clientVersion"]["gitVersion"])
    except (ValueError, KeyError, TypeError) as exc:
        msg = f"`kubectl version --client -o json` printed no clientVersion: {out.strip()[:120]!r}"
        raise ToolFailedError(msg, hint="check that `kubectl` on PATH is kubectl") from exc
