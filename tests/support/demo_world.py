"""The demo workspace on this machine's test cluster, outside pytest (for scripts/bench_pipeline.py).

The same world as tests/pipeline/conftest.py ``up_world``: a copy of the demo in a fresh git repo,
the k3d and helm stand-ins on PATH, KMock as the cluster's API, and (via ``kubelet()``) a kubelet
that makes a pod Ready only if its image really is in the node's containerd. Differences, so a
benchmark never collides with tests running at the same time on the shared engine: images are
named ``<prefix>/<svc>`` instead of ``envctl-demo/<svc>`` (the Dockerfiles' ``BASE_REF`` default
follows), and everything made is removed by name/label in ``close()``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import yaml

from tests.support.images import busybox_recipe, ensure_image
from tests.support.kube_api import KubeApi
from tests.support.node_kubelet import NodeKubelet

ROOT = Path(__file__).resolve().parents[2]
STANDINS = ROOT / "tests" / "standins"
DEMO_PATHS = ("envctl.yaml", ".dockerignore", "examples", "charts", "values")


def ensure_base_image(docker: str, ref: str) -> bool:
    """A busybox-static root filesystem imported as ``ref`` (nothing can be pulled here).
    Returns True when this call made it, so the caller knows to remove it."""
    return ensure_image(docker, ref, busybox_recipe())


def copy_demo(workspace: Path, *, cluster: str, prefix: str, base_image: str, docker: str) -> dict:
    """Copy the demo into ``workspace`` (a new git repo) with this machine's settings; returns the config."""
    workspace.mkdir(parents=True)
    for name in DEMO_PATHS:
        source = ROOT / name
        if source.is_dir():
            shutil.copytree(source, workspace / name)
        else:
            shutil.copy2(source, workspace / name)
    config = yaml.safe_load((workspace / "envctl.yaml").read_text())
    config["cluster"]["name"] = cluster
    for service in config["services"].values():
        service["image"] = service["image"].replace("envctl-demo/", f"{prefix}/", 1)
        if "BASE_IMAGE" in service.get("build_args", {}):
            service["build_args"]["BASE_IMAGE"] = base_image
    config["build"] = {"network": "none", "docker_cli": docker}
    config["load"] = {"mode": "import"}
    (workspace / "envctl.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    for dockerfile in (workspace / "examples" / "services").glob("*/Dockerfile"):
        # The default BASE_REF names the base service's image: it must follow the renamed images.
        dockerfile.write_text(dockerfile.read_text().replace("envctl-demo/base:", f"{prefix}/base:"))
    git(workspace, "init", "-q", "-b", "main")
    commit_all(workspace, "demo")
    return config


def git(workspace: Path, *args: str) -> None:
    subprocess.run(["git", "-c", "user.name=bench", "-c", "user.email=bench@localhost", *args],
                   cwd=workspace, check=True, capture_output=True, timeout=60)  # fmt: skip


def commit_all(workspace: Path, message: str) -> None:
    git(workspace, "add", "-A")
    git(workspace, "commit", "-qm", message)


class DemoWorld:
    """KMock + stand-ins + one workspace; ``close()`` removes the cluster's containers and stops KMock."""

    def __init__(self, home: Path, workspace: Path, cluster: str, namespace: str, docker: str) -> None:
        self.home, self.workspace, self.cluster, self.namespace, self.docker = (
            home,
            workspace,
            cluster,
            namespace,
            docker,
        )
        self.api = KubeApi().__enter__()
        bin_dir = home / "bin"
        bin_dir.mkdir(parents=True)
        (bin_dir / "k3d").symlink_to(STANDINS / "k3d")
        (bin_dir / "helm").symlink_to(STANDINS / "helm")
        (home / "home").mkdir()
        self.env = {
            **os.environ,
            "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}",
            "HOME": str(home / "home"),
            "K3D_STANDIN_API": self.api.url,
            "K3D_STANDIN_DOCKER": docker,
            "FAKE_HELM_STATE": str(home / "helm-state.json"),
            "FAKE_HELM_KUBE_URL": self.api.url,
            "ENVCTL_DOCKER": docker,
            "COLUMNS": "200",
        }
        for key in ("KUBECONFIG", "GITHUB_OUTPUT", "GITHUB_STEP_SUMMARY", "CI"):
            self.env.pop(key, None)

    @property
    def node(self) -> str:
        return f"k3d-{self.cluster}-server-0"

    def kubelet(self) -> NodeKubelet:
        return NodeKubelet(self.api, self.namespace, self.node, self.docker)

    def close(self) -> None:
        remove_cluster_containers(self.docker, self.cluster)
        self.api.__exit__(None, None, None)


def remove_cluster_containers(docker: str, cluster: str) -> None:
    ids = subprocess.run([docker, "ps", "-aq", "--filter", f"label=k3d.cluster={cluster}"],
                         check=False, capture_output=True, text=True, timeout=60).stdout.split()  # fmt: skip
    if ids:
        subprocess.run([docker, "rm", "-f", "-v", *ids], check=False, capture_output=True, timeout=120)


def remove_images(docker: str, prefix: str) -> list[str]:
    """Remove every image whose repository starts with ``prefix/``; returns what was removed."""
    refs = subprocess.run([docker, "images", "--format", "{{.Repository}}:{{.Tag}}"],
                          check=False, capture_output=True, text=True, timeout=60).stdout.split()  # fmt: skip
    mine = [r for r in refs if r.startswith(f"{prefix}/")]
    if mine:
        subprocess.run([docker, "rmi", "-f", *mine], check=False, capture_output=True, timeout=120)
    return mine
