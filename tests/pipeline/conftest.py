"""The whole `envctl up` on this machine: real git, Docker builds and containerd nodes; KMock for
the API; the k3d and helm stand-ins on PATH; a kubelet that runs a pod only if its image is on the node.
"""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support.demo_world import DEMO_PATHS, ROOT, STANDINS, DemoWorld, copy_demo, git, remove_images
from tests.support.kube_api import KubeApi
from tests.support.node_kubelet import NodeKubelet

__all__ = ["DEMO_PATHS", "ROOT", "STANDINS", "UpWorld", "make_world"]



@dataclass
class UpWorld:
    workspace: Path
    env: dict[str, str]
    cluster: str
    api: KubeApi
    docker: str
    helm_log: Path

    @property
    def prefix(self) -> str:
        """Where this world's images live: ``<prefix>/<service>``."""
        return self.cluster

    @property
    def node(self) -> str:
        return f"k3d-{self.cluster}-server-0"

    def envctl(self, *args: str, timeout: float = 300, check: bool = False) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(
            [sys.executable, "-m", "envctl", *args],
            cwd=self.workspace, env=self.env, capture_output=True, check=False, text=True, timeout=timeout,
        )  # fmt: skip
        if check and done.returncode != 0:
            pytest.fail(f"envctl {' '.join(args)} exited {done.returncode}:\n{done.stderr}")
        return done

    def popen(self, *args: str) -> subprocess.Popen[str]:
        return subprocess.Popen(
            [sys.executable, "-m", "envctl", *args],
            cwd=self.workspace, env=self.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip

    def runs(self) -> list[dict]:
        folder = self.workspace / ".envctl" / "runs"
        return [json.loads(p.read_text()) for p in sorted(folder.glob("*.json"))]

    def git(self, *args: str) -> None:
        git(self.workspace, *args)

    def kubelet(self, *, crash: frozenset[str] = frozenset(), hold: frozenset[str] = frozenset()) -> NodeKubelet:
        return NodeKubelet(self.api, "envctl-demo", self.node, self.docker, crash=crash, hold=hold)

    def helm_calls(self) -> list[dict]:
        if not self.helm_log.exists():
            return []
        return [json.loads(line) for line in self.helm_log.read_text().splitlines() if line.strip()]

    def helm_upgrades(self) -> list[dict]:
        return [json.loads(c["stdin"]) for c in self.helm_calls() if c["argv"][0] == "upgrade"]


@contextmanager
def make_world(root: Path, docker_engine: str, base_image: str) -> Iterator[UpWorld]:
    """A fresh copy of the demo under ``root`` (nothing up yet), its images named after its own
    cluster so tests sharing the Docker engine never remove each other's; cleaned up on exit."""
    cluster = f"envctl-test-{uuid.uuid4().hex[:6]}"
    copy_demo(root / "ws", cluster=cluster, prefix=cluster, base_image=base_image, docker=docker_engine)
    world = DemoWorld(root, root / "ws", cluster, "envctl-demo", docker_engine)
    world.env["FAKE_HELM_LOG"] = str(root / "helm-argv.jsonl")
    try:
        yield UpWorld(world.workspace, world.env, cluster, world.api, docker_engine, root / "helm-argv.jsonl")
    finally:
        world.close()
        remove_images(docker_engine, cluster)


@pytest.fixture
def up_world(tmp_path: Path, docker_engine: str, base_image: str) -> Iterator[UpWorld]:
    with make_world(tmp_path, docker_engine, base_image) as world:
        yield world
