"""The whole `envctl up` on this machine: real git, Docker builds and containerd nodes; KMock for
the API; the k3d and helm stand-ins on PATH; a kubelet that runs a pod only if its image is on the node.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from tests.support.kube_api import KubeApi
from tests.support.node_kubelet import NodeKubelet

ROOT = Path(__file__).resolve().parents[2]
STANDINS = ROOT / "tests" / "standins"
DEMO_PATHS = ("envctl.yaml", ".dockerignore", "examples", "charts", "values")


@dataclass
class UpWorld:
    workspace: Path
    env: dict[str, str]
    cluster: str
    api: KubeApi
    docker: str
    helm_log: Path

    @property
    def node(self) -> str:
        return f"k3d-{self.cluster}-server-0"

    def envctl(self, *args: str, timeout: float = 300, check: bool = False) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(
            [sys.executable, "-m", "envctl", *args],
            cwd=self.workspace, env=self.env, capture_output=True, text=True, timeout=timeout,
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
        subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", *args], cwd=self.workspace, check=True, capture_output=True)

    def kubelet(self) -> NodeKubelet:
        return NodeKubelet(self.api, "envctl-demo", self.node, self.docker)

    def helm_upgrades(self) -> list[dict]:
        if not self.helm_log.exists():
            return []
        calls = [json.loads(line) for line in self.helm_log.read_text().splitlines() if line.strip()]
        return [json.loads(c["stdin"]) for c in calls if c["argv"][0] == "upgrade"]


@pytest.fixture
def up_world(tmp_path: Path, docker_engine: str, base_image: str) -> Iterator[UpWorld]:
    workspace = tmp_path / "ws"
    workspace.mkdir()
    for name in DEMO_PATHS:
        source = ROOT / name
        if source.is_dir():
            shutil.copytree(source, workspace / name)
        else:
            shutil.copy2(source, workspace / name)
    cluster = f"envctl-test-{uuid.uuid4().hex[:6]}"
    config = yaml.safe_load((workspace / "envctl.yaml").read_text())
    config["cluster"]["name"] = cluster
    # Nothing can be pulled here: the busybox base is made locally (tests/conftest.py).
    for service in config["services"].values():
        if "BASE_IMAGE" in service.get("build_args", {}):
            service["build_args"]["BASE_IMAGE"] = base_image
    config["build"] = {"network": "none", "docker_cli": docker_engine}
    config["load"] = {"mode": "import"}
    (workspace / "envctl.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    for command in (["init", "-q", "-b", "main"], ["add", "-A"], ["-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "demo"]):
        subprocess.run(["git", *command], cwd=workspace, check=True, capture_output=True)
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "k3d").symlink_to(STANDINS / "k3d")
    (bin_dir / "helm").symlink_to(STANDINS / "helm")
    home = tmp_path / "home"
    home.mkdir()
    with KubeApi() as api:
        env = {
            **os.environ,
            "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}",
            "HOME": str(home),
            "K3D_STANDIN_API": api.url,
            "K3D_STANDIN_DOCKER": docker_engine,
            "FAKE_HELM_STATE": str(tmp_path / "helm-state.json"),
            "FAKE_HELM_KUBE_URL": api.url,
            "FAKE_HELM_LOG": str(tmp_path / "helm-argv.jsonl"),
            "ENVCTL_DOCKER": docker_engine,
            "COLUMNS": "200",
        }
        for key in ("KUBECONFIG", "GITHUB_OUTPUT", "GITHUB_STEP_SUMMARY", "CI"):
            env.pop(key, None)
        yield UpWorld(workspace, env, cluster, api, docker_engine, tmp_path / "helm-argv.jsonl")
    ids = subprocess.run(
        [docker_engine, "ps", "-aq", "--filter", f"label=k3d.cluster={cluster}"], capture_output=True, text=True
    ).stdout.split()
    if ids:
        subprocess.run([docker_engine, "rm", "-f", "-v", *ids], capture_output=True)
    images = subprocess.run(
        [docker_engine, "images", "--format", "{{.Repository}}:{{.Tag}}", "--filter", "reference=envctl-demo/*"],
        capture_output=True, text=True,
    ).stdout.split()  # fmt: skip
    if images:
        subprocess.run([docker_engine, "rmi", "-f", *images], capture_output=True)
