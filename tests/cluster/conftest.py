"""Fixtures for the cluster tests: the k3d stand-in on a private PATH, a KMock API, unique names.

Every cluster a test makes is a set of real containers labelled ``k3d.cluster=<name>``; the
``cluster_name`` fixture removes them by that label afterwards, whatever the test did.
"""

from __future__ import annotations

import json
import os
import subprocess
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from envctl.adapters.k3d import K3d
from envctl.adapters.process import SubprocessRunner
from tests.support.kube_api import KubeApi

STANDIN = Path(__file__).resolve().parents[1] / "standins" / "k3d"


@dataclass
class K3dWorld:
    """The stand-in's environment: PATH, argv log, API and a runner/adapter using them."""

    env: dict[str, str]
    log: Path
    home: Path
    api: KubeApi
    docker: str

    @property
    def runner(self) -> SubprocessRunner:
        return SubprocessRunner(self.env)

    @property
    def k3d(self) -> K3d:
        return K3d(self.runner)

    def argv_log(self) -> list[list[str]]:
        if not self.log.exists():
            return []
        return [json.loads(line)["argv"] for line in self.log.read_text().splitlines() if line.strip()]

    def clear_log(self) -> None:
        self.log.unlink(missing_ok=True)

    def standin(self, *args: str, extra_env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        """Run the stand-in directly (test set-up such as `cluster stop`); not logged as envctl's."""
        env = {**self.env, **(extra_env or {})}
        env.pop("K3D_STANDIN_LOG", None)
        return subprocess.run([str(STANDIN), *args], env=env, capture_output=True, check=False, text=True, timeout=120)

    def containers(self, name: str) -> list[str]:
        out = subprocess.run(
            [self.docker, "ps", "-a", "--filter", f"label=k3d.cluster={name}", "--format", "{{.Names}}"],
            capture_output=True, text=True, check=True,
        )  # fmt: skip
        return sorted(out.stdout.split())


@pytest.fixture
def kube_api() -> Iterator[KubeApi]:
    with KubeApi() as api:
        yield api


@pytest.fixture
def k3d_world(tmp_path: Path, docker_engine: str, kube_api: KubeApi) -> K3dWorld:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "k3d").symlink_to(STANDIN)
    home = tmp_path / "home"
    home.mkdir()
    env = {
        **os.environ,
        "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}",
        "HOME": str(home),
        "K3D_STANDIN_LOG": str(tmp_path / "k3d-argv.jsonl"),
        "K3D_STANDIN_API": kube_api.url,
        "K3D_STANDIN_DOCKER": docker_engine,
    }
    env.pop("KUBECONFIG", None)
    return K3dWorld(env=env, log=tmp_path / "k3d-argv.jsonl", home=home, api=kube_api, docker=docker_engine)


@pytest.fixture
def cluster_name(docker_engine: str) -> Iterator[str]:
    name = f"envctl-test-{uuid.uuid4().hex[:6]}"
    yield name
    ids = subprocess.run(
        [docker_engine, "ps", "-aq", "--filter", f"label=k3d.cluster={name}"], capture_output=True, check=False, text=True
    ).stdout.split()
    if ids:
        subprocess.run([docker_engine, "rm", "-f", "-v", *ids], capture_output=True, check=False)
