"""Worlds for `envctl status`: the demo workspace with the k3d/helm stand-ins and KMock, exactly as
tests/pipeline/conftest.py builds it for `envctl up`, but made once per module (an `up` costs ~10 s)."""

from __future__ import annotations

import os
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import yaml

from tests.pipeline.conftest import DEMO_PATHS, ROOT, STANDINS, UpWorld
from tests.support.kube_api import KubeApi


@contextmanager
def make_world(root: Path, docker_engine: str, base_image: str) -> Iterator[UpWorld]:
    """A fresh demo workspace under ``root`` (nothing up yet); cleans its containers and images."""
    workspace = root / "ws"
    workspace.mkdir()
    for name in DEMO_PATHS:
        source = ROOT / name
        (shutil.copytree if source.is_dir() else shutil.copy2)(source, workspace / name)
    cluster = f"envctl-test-{uuid.uuid4().hex[:6]}"
    config = yaml.safe_load((workspace / "envctl.yaml").read_text())
    config["cluster"]["name"] = cluster
    for name, service in config["services"].items():
        # Images of their own: other tests on this Docker engine remove envctl-demo/* as they finish.
        service["image"] = f"{cluster}/{name}"
        if name in ("api", "worker"):  # they build FROM the base service: point the ARG at its new name
            service.setdefault("build_args", {})["BASE_REF"] = f"{cluster}/base:latest"
        if "BASE_IMAGE" in service.get("build_args", {}):
            service["build_args"]["BASE_IMAGE"] = base_image
    config["build"] = {"network": "none", "docker_cli": docker_engine}
    config["load"] = {"mode": "import"}
    (workspace / "envctl.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@t"]
    for command in (["init", "-q", "-b", "main"], ["add", "-A"], ["commit", "-qm", "demo"]):
        subprocess.run([*git, *command], cwd=workspace, check=True, capture_output=True)
    bin_dir = root / "bin"
    bin_dir.mkdir()
    (bin_dir / "k3d").symlink_to(STANDINS / "k3d")
    (bin_dir / "helm").symlink_to(STANDINS / "helm")
    home = root / "home"
    home.mkdir()
    with KubeApi() as api:
        env = {
            **os.environ,
            "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}",
            "HOME": str(home),
            "K3D_STANDIN_API": api.url,
            "K3D_STANDIN_DOCKER": docker_engine,
            "FAKE_HELM_STATE": str(root / "helm-state.json"),
            "FAKE_HELM_KUBE_URL": api.url,
            "FAKE_HELM_LOG": str(root / "helm-argv.jsonl"),
            "ENVCTL_DOCKER": docker_engine,
            "COLUMNS": "200",
        }
        for key in ("KUBECONFIG", "GITHUB_OUTPUT", "GITHUB_STEP_SUMMARY", "CI"):
            env.pop(key, None)
        try:
            yield UpWorld(workspace, env, cluster, api, docker_engine, root / "helm-argv.jsonl")
        finally:
            remove_images(docker_engine, f"{cluster}/*")
            ids = subprocess.run(
                [docker_engine, "ps", "-aq", "--filter", f"label=k3d.cluster={cluster}"],
                check=False, capture_output=True, text=True,
            ).stdout.split()  # fmt: skip
            if ids:
                subprocess.run([docker_engine, "rm", "-f", "-v", *ids], check=False, capture_output=True)


def remove_images(docker_engine: str, reference: str) -> None:
    images = subprocess.run(
        [docker_engine, "images", "--format", "{{.Repository}}:{{.Tag}}", "--filter", f"reference={reference}"],
        check=False, capture_output=True, text=True,
    ).stdout.split()  # fmt: skip
    if images:
        subprocess.run([docker_engine, "rmi", "-f", *images], check=False, capture_output=True)


@pytest.fixture
def fresh_world(tmp_path: Path, docker_engine: str, base_image: str) -> Iterator[UpWorld]:
    with make_world(tmp_path, docker_engine, base_image) as world:
        yield world


@pytest.fixture(scope="module")
def upped_world(
    tmp_path_factory: pytest.TempPathFactory, docker_engine: str, base_image: str
) -> Iterator[UpWorld]:
    """One `envctl up` of the demo for the whole module, every pod run by the node kubelet."""
    with make_world(tmp_path_factory.mktemp("status"), docker_engine, base_image) as world:
        with world.kubelet() as kubelet:
            world.envctl("up", check=True)
        assert set(kubelet.handled.values()) == {"ready"}, kubelet.handled
        yield world
