"""Shared fixtures: a real Docker engine and a locally made base image (nothing can be pulled here)."""

from __future__ import annotations

import os
import shutil
import subprocess
import tarfile
import io
from pathlib import Path

import pytest

BASE_IMAGE = "envctl-test/busybox:1"
# Applets the demo services and test images use (sh for RUN, httpd to serve, the rest for scripts).
_APPLETS = ("sh", "ls", "cat", "echo", "sleep", "httpd", "mkdir", "cp", "rm", "true", "false", "env", "wc", "date")


def docker_cli() -> str:
    """The Docker client with the classic BuildKit path (Debian's 20.10 one) if present, else PATH's."""
    debian = Path("/usr/bin/docker")
    return str(debian) if debian.exists() else (shutil.which("docker") or "docker")


def _engine_answers() -> bool:
    try:
        return subprocess.run([docker_cli(), "info"], capture_output=True, timeout=20).returncode == 0
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


def _busybox() -> Path:
    for candidate in (Path("/bin/busybox"), Path("/usr/bin/busybox")):
        if candidate.exists():
            return candidate
    pytest.fail("busybox-static is not installed (scripts/docker-engine.sh start installs it)")


@pytest.fixture(scope="session")
def base_image(docker_engine: str) -> str:
    """``envctl-test/busybox:1``: a root filesystem of busybox-static, imported, never pulled."""
    if subprocess.run([docker_engine, "image", "inspect", BASE_IMAGE], capture_output=True).returncode == 0:
        return BASE_IMAGE
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for folder in ("bin", "tmp", "etc", "srv", "app"):
            info = tarfile.TarInfo(folder)
            info.type = tarfile.DIRTYPE
            info.mode = 0o1777 if folder == "tmp" else 0o755
            tar.addfile(info)
        tar.add(str(_busybox()), arcname="bin/busybox")
        for applet in _APPLETS:
            link = tarfile.TarInfo(f"bin/{applet}")
            link.type = tarfile.SYMTYPE
            link.linkname = "busybox"
            tar.addfile(link)
    subprocess.run(
        [docker_engine, "import", "--change", "ENV PATH=/bin", "-", BASE_IMAGE],
        input=buf.getvalue(),
        check=True,
        capture_output=True,
    )
    return BASE_IMAGE
