"""`envctl up` refuses bad input and a broken environment in one line, before touching anything."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.pipeline.conftest import DEMO_PATHS, ROOT, STANDINS
from tests.support.cli import run_envctl


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    ws = tmp_path / "ws"
    ws.mkdir()
    for name in DEMO_PATHS:
        source = ROOT / name
        (shutil.copytree if source.is_dir() else shutil.copy2)(source, ws / name)
    return ws


def _up(ws: Path, *args: str, path: str, **env: str) -> subprocess.CompletedProcess[str]:
    return run_envctl("up", *args, cwd=ws, env={**os.environ, "PATH": path, **env})


def _standins(tmp_path: Path) -> str:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    for tool in ("k3d", "helm"):
        if not (bin_dir / tool).exists():
            (bin_dir / tool).symlink_to(STANDINS / tool)
    return f"{bin_dir}{os.pathsep}{os.environ['PATH']}"


def test_missing_k3d_is_one_line_exit_3_and_nothing_written(workspace: Path, tmp_path: Path) -> None:
    (tmp_path / "bin").mkdir()
    (tmp_path / "bin" / "helm").symlink_to(STANDINS / "helm")  # helm is there, k3d is not
    done = _up(workspace, path=f"{tmp_path / 'bin'}{os.pathsep}{Path(sys.executable).parent}{os.pathsep}/usr/bin:/bin")
    assert done.returncode == 3
    assert done.stderr.splitlines()[0] == "error: `k3d` is not installed or not on PATH"
    assert "https://k3d.io" in done.stderr  # its own install page: there is no scripts/ in a user's workspace
    assert not (workspace / ".envctl").exists()


def test_docker_daemon_down_names_the_socket_and_writes_nothing(workspace: Path, tmp_path: Path) -> None:
    done = _up(workspace, path=_standins(tmp_path), DOCKER_HOST=f"unix://{tmp_path}/no-docker.sock")
    assert done.returncode == 3, done.stderr
    assert f"unix://{tmp_path}/no-docker.sock" in done.stderr.splitlines()[0]
    assert "hint: start Docker" in done.stderr
    assert not (workspace / ".envctl").exists()


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (("--load-mode", "teleport"), "--load-mode 'teleport' is not a load mode"),
        (("--timeout", "5 minutes"), "not a duration"),
        (("--output", "yaml"), "--output 'yaml' is not an up format"),
        (("--services", "nope"), "nope"),
    ],
    ids=["load-mode", "timeout", "output", "unknown-service"],
)
def test_bad_flags_exit_2_without_side_effects(workspace: Path, tmp_path: Path, args: tuple[str, ...],
                                               needle: str) -> None:  # fmt: skip
    done = _up(workspace, "--dry-run", *args, path=_standins(tmp_path))
    assert done.returncode == 2, done.stderr
    assert needle in done.stderr
    assert not (workspace / ".envctl").exists()
