"""Fixtures for the image phases: a copy of the demo workspace planned by envctl's own plan,
one real containerd node and one real registry per session.
"""

from __future__ import annotations

import shutil
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from envctl.adapters.process import SubprocessRunner
from envctl.config import load_config
from envctl.plan import Plan, ServicePlan
from envctl.planning import plan_workspace
from tests.support.containerd_node import NodeHandle, ensure_node_image, start_node, stop_node
from tests.support.registry import RegistryHandle, start_registry, stop_registry

REPO = Path(__file__).resolve().parents[2]


class DemoWorkspace:
    """The repository's demo (envctl.yaml + examples/) copied to tmp, with unique image names
    and the locally made busybox as every external base image (nothing can be pulled here)."""

    def __init__(self, root: Path, prefix: str, base_image: str, docker_cli: str = "docker") -> None:
        self.root = root
        self.prefix = prefix
        self.base_image = base_image
        self.docker_cli = docker_cli
        root.mkdir(parents=True)
        shutil.copytree(REPO / "examples", root / "examples")
        for dockerfile in (root / "examples").rglob("Dockerfile"):  # FROM ${BASE_REF} defaults name the base
            dockerfile.write_text(dockerfile.read_text().replace("envctl-demo/", f"{prefix}/"))
        shutil.copy(REPO / ".dockerignore", root / ".dockerignore")
        raw = yaml.safe_load((REPO / "envctl.yaml").read_text())
        for name, spec in raw["services"].items():
            spec["image"] = f"{prefix}/{name}"
            if "BASE_IMAGE" in spec.get("build_args", {}):
                spec["build_args"]["BASE_IMAGE"] = base_image
        (root / "envctl.yaml").write_text(yaml.safe_dump(raw))

    def plan(self, *, cache_registry: str | None = None, selected: tuple[str, ...] | None = None) -> Plan:
        """envctl's own plan of this workspace (local images and the cache registry asked, as `up` does)."""
        config_path = self.root / "envctl.yaml"
        return plan_workspace(
            load_config(config_path), self.root, config_path, SubprocessRunner(), docker_cli=self.docker_cli,
            cache_registry=cache_registry, selected=selected,
        )  # fmt: skip

    def services(self) -> list[ServicePlan]:
        return list(self.plan().services)

    def service(self, name: str, *, cache_registry: str | None = None) -> ServicePlan:
        return self.plan(cache_registry=cache_registry).service(name)

    def edit(self, relative: str, text: str) -> None:
        (self.root / relative).write_text(text)

    def remove_images(self, docker_cli: str) -> None:
        out = subprocess.run(
            [docker_cli, "images", "-q", "--filter", f"reference={self.prefix}/*"],
            capture_output=True,
            text=True,
            check=False,
        ).stdout.split()
        if out:
            subprocess.run([docker_cli, "rmi", "-f", *sorted(set(out))], capture_output=True, check=False)


@pytest.fixture
def workspace(tmp_path: Path, base_image: str, docker_engine: str) -> Iterator[DemoWorkspace]:
    ws = DemoWorkspace(tmp_path / "repo", f"envctl-test-{uuid.uuid4().hex[:8]}", base_image, docker_engine)
    yield ws
    ws.remove_images(docker_engine)


@pytest.fixture(scope="session")
def containerd_node(docker_engine: str) -> Iterator[NodeHandle]:
    """One node for the session (starting one costs ~1 s; tests use unique image names)."""
    ensure_node_image(docker_engine)
    suffix = uuid.uuid4().hex[:6]
    node = start_node(
        docker_engine, f"envctl-test-node-{suffix}", socket_path=f"/run/envctl-{suffix}/containerd.sock"
    )
    yield node
    stop_node(docker_engine, node)


@pytest.fixture(scope="session")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RegistryHandle]:
    handle = start_registry(tmp_path_factory.mktemp("registry"))
    yield handle
    stop_registry(handle)
