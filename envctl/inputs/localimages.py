"""Which image refs exist in the local Docker store: ONE cheap CLI call, never the docker SDK.

``envctl plan`` must start fast and must still work when Docker is absent or not answering; the
answer is then ``None`` with a note saying why, and the plan says so in its reasons.
"""

from __future__ import annotations

import subprocess
from collections.abc import Mapping

from envctl.adapters.process import SubprocessRunner
from envctl.errors import EnvctlError

__all__ = ["docker_cli", "local_image_refs"]

_TIMEOUT = 5.0


def docker_cli(environ: Mapping[str, str]) -> str:
    """The docker client to call: $ENVCTL_DOCKER when set (e.g. /usr/bin/docker), else ``docker``."""
    return environ.get("ENVCTL_DOCKER") or "docker"


def local_image_refs(runner: SubprocessRunner, docker: str = "docker") -> tuple[frozenset[str] | None, str]:
    """``(refs, note)``: every ``repository:tag`` present locally, or ``(None, why not)``."""
    if runner.which(docker) is None:
        return None, f"`{docker}` is not installed"
    argv = [docker, "image", "ls", "--format", "{{.Repository}}:{{.Tag}}"]
    try:
        done = runner.run(argv, timeout=_TIMEOUT, check=False)
    except subprocess.TimeoutExpired:
        return None, f"the Docker engine did not answer within {_TIMEOUT:.0f} s"
    except EnvctlError as exc:
        return None, exc.message
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["no output"])[-1]
        return None, f"`docker image ls` failed: {last}"
    return frozenset(line.strip() for line in done.stdout.splitlines() if line.strip()), ""
