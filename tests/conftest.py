"""Shared fixtures: a real Docker engine and the locally made base image (nothing can be pulled here).

Also the suite's process hygiene: a suite started with SIGINT ignored (a background job, ``nohup``)
would hand that to every child it starts, and the Ctrl-C tests would find their `envctl up` deaf.
"""

from __future__ import annotations

import functools
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.images import BASE_IMAGE, busybox_recipe, ensure_image


def pytest_configure(config: pytest.Config) -> None:
    # An ignored signal survives exec; a handled one is reset to its default. So giving this process
    # Python's own SIGINT handler back restores the default disposition in every child it starts.
    if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)
    if signal.getsignal(signal.SIGQUIT) == signal.SIG_IGN:
        signal.signal(signal.SIGQUIT, signal.SIG_DFL)
    # The helm stand-in renders with helm_python: started by a python3 without it (a bare PATH),
    # it reruns itself under this interpreter, which has the test dependencies.
    os.environ.setdefault("ENVCTL_TEST_PYTHON", sys.executable)
    # ... and with this interpreter's folder first on PATH, a stand-in found through an inherited
    # PATH starts under it at once: no second interpreter per helm call (the fast tier's deploy
    # tests spent 40 s of CPU on those starts, 23 s without them).
    here = str(Path(sys.executable).parent)
    if os.environ.get("PATH", "").split(os.pathsep)[0] != here:
        os.environ["PATH"] = os.pathsep.join([here, *filter(None, [os.environ.get("PATH")])])


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Every test that asks for the engine (directly or through a fixture) is a ``docker`` test, so
    ``pytest -m "not docker"`` is the fast tier without anyone having to remember the marker."""
    for item in items:
        if "docker_engine" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.docker)


@functools.cache
def classic_docker_cli() -> str | None:
    """The first ``docker`` on PATH older than 23.0 (Debian's docker.io 20.10 here): its built-in
    classic BuildKit (``DOCKER_BUILDKIT=1 docker build``) is what builds run on without buildx.
    Every ``docker`` on PATH is asked, since a newer client without buildx may come first."""
    for folder in os.environ.get("PATH", "").split(os.pathsep):
        exe = Path(folder or ".") / "docker"
        if not (exe.is_file() and os.access(exe, os.X_OK)):
            continue
        probe = subprocess.run([str(exe), "version", "--format", "{{.Client.Version}}"], capture_output=True,
                               text=True, timeout=30, check=False)  # fmt: skip
        major = probe.stdout.strip().split(".", 1)[0]
        if major.isdigit() and int(major) < 23:
            return str(exe)
    return None


def docker_cli() -> str:
    """The client the tests drive the engine with: the classic-BuildKit one when there is one."""
    return classic_docker_cli() or shutil.which("docker") or "docker"


@pytest.fixture(scope="session")
def classic_docker(docker_engine: str) -> str:
    """A pre-23 docker client (classic BuildKit), or a skip saying which client is missing."""
    found = classic_docker_cli()
    if found is None:
        pytest.skip("needs a docker client older than 23.0 (Debian's docker.io 20.10) on PATH for classic BuildKit")
    return found


def _engine_answers() -> bool:
    try:
        return subprocess.run([docker_cli(), "info"], capture_output=True, timeout=20, check=False).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


@pytest.fixture(scope="session")
def docker_engine() -> str:
    """A running Docker engine; fails (in CI) or skips (elsewhere) when none answers."""
    if not _engine_answers():
        reason = "no Docker engine answers; start one with scripts/docker-engine.sh start"
        if os.environ.get("ENVCTL_REQUIRE_DOCKER"):
            pytest.fail(reason)
        pytest.skip(reason)
    return docker_cli()


@pytest.fixture(scope="session")
def base_image(docker_engine: str) -> str:
    """``envctl-test/busybox:1``: busybox-static, imported, never pulled; remade when its recipe changed."""
    ensure_image(docker_engine, BASE_IMAGE, busybox_recipe())
    return BASE_IMAGE
