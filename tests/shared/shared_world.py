"""A shared cluster on this machine: the test API (with server-side conflicts), a real registry, the
helm stand-in, and demo workspaces configured for ``provider: existing`` — no k3d anywhere on PATH,
so nothing at cluster level could be created even by mistake."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import yaml

from tests.support.demo_world import STANDINS, copy_demo, git, remove_images
from tests.support.kube_api import KubeApi
from tests.support.kube_server_side import ServerSideEmulator
from tests.support.registry import RegistryHandle, start_registry, stop_registry
from tests.support.registry_kubelet import RegistryKubelet

REMOTE = "git@github.com:acme/shop.git"


class SharedWorld:
    def __init__(self, root: Path, docker: str, base_image: str) -> None:
        self.root, self.docker, self.base_image = root, docker, base_image
        self.prefix = f"envctl-test-{uuid.uuid4().hex[:6]}"
        self.api = KubeApi(emulator=ServerSideEmulator).__enter__()
        self.registry: RegistryHandle = start_registry(root / "registry")
        bin_dir = root / "bin"
        bin_dir.mkdir(parents=True)
        (bin_dir / "helm").symlink_to(STANDINS / "helm")
        (root / "home" / ".kube").mkdir(parents=True)
        self.kubeconfig = self.api.write_kubeconfig(root / "home" / ".kube" / "config")
        self.env = {
            **os.environ,
            "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}",
            "HOME": str(root / "home"),
            "FAKE_HELM_STATE": str(root / "helm-state.json"),
            "FAKE_HELM_KUBE_URL": self.api.url,
            "ENVCTL_DOCKER": docker,
            "COLUMNS": "200",
        }
        for key in ("KUBECONFIG", "GITHUB_OUTPUT", "GITHUB_STEP_SUMMARY", "CI", "GITHUB_REF", "GITHUB_HEAD_REF",
                    "GITHUB_ACTIONS", "GITHUB_REF_NAME"):  # fmt: skip
            self.env.pop(key, None)

    def workspace(self, name: str, branch: str, *, namespace: str = "{workspace}-{branch}") -> Path:
        """A clone of the demo (same images and remote for every clone) checked out on ``branch``."""
        ws = self.root / name
        config = copy_demo(ws, cluster="unused", prefix=self.prefix, base_image=self.base_image, docker=self.docker)
        config["cluster"] = {"provider": "existing", "registry": {"use": self.registry.address, "create": False}}
        config["release"]["namespace"] = namespace
        config.pop("load", None)
        (ws / "envctl.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
        git(ws, "remote", "add", "origin", REMOTE)
        git(ws, "checkout", "-q", "-b", branch)
        return ws

    def envctl(self, ws: Path, *args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "envctl", *args], cwd=ws, env=self.env, capture_output=True,
                              text=True, timeout=timeout, check=False)  # fmt: skip

    def popen(self, ws: Path, *args: str) -> subprocess.Popen[str]:
        return subprocess.Popen([sys.executable, "-m", "envctl", *args], cwd=ws, env=self.env, text=True,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)  # fmt: skip

    def kubelet(self, namespace: str) -> RegistryKubelet:
        return RegistryKubelet(self.api, namespace, self.registry.address)

    def releases(self) -> dict:
        path = Path(self.env["FAKE_HELM_STATE"])
        return json.loads(path.read_text())["releases"] if path.exists() else {}

    def forget_local_images(self) -> list[str]:
        """A fresh runner's Docker image store: none of this world's images, under either name."""
        removed = self.local_images()
        if removed:
            subprocess.run([self.docker, "rmi", "-f", *removed], capture_output=True, check=False)
        return removed

    def local_images(self) -> list[str]:
        """This world's images in the local Docker store (its own prefix, or pulled from its registry)."""
        refs = subprocess.run([self.docker, "images", "--format", "{{.Repository}}:{{.Tag}}"], capture_output=True,
                              text=True, check=False).stdout.split()  # fmt: skip
        mine = (f"{self.prefix}/", f"{self.registry.address}/{self.prefix}/")
        return [r for r in refs if r.startswith(mine)]

    def close(self) -> None:
        stop_registry(self.registry)
        self.api.__exit__(None, None, None)
        remove_images(self.docker, self.prefix)
        refs = subprocess.run([self.docker, "images", "--format", "{{.Repository}}:{{.Tag}}"], capture_output=True,
                              text=True, check=False).stdout.split()  # fmt: skip
        pushed = [r for r in refs if r.startswith(f"{self.registry.address}/{self.prefix}/")]
        if pushed:
            subprocess.run([self.docker, "rmi", "-f", *pushed], capture_output=True, check=False)
