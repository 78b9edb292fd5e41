"""Fixtures for the image phases: a small monorepo workspace, real containerd node, real registry.

``ServiceDouble`` has the attribute shape of ``envctl.plan.ServicePlan`` (the image phases read
only these); its fingerprint here is a plain hash of the files each Dockerfile copies plus the
fingerprints of the services it builds FROM, which is what the plan computes too.
"""

from __future__ import annotations

import hashlib
import subprocess
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.support.containerd_node import NodeHandle, ensure_node_image, start_node, stop_node
from tests.support.registry import RegistryHandle, start_registry, stop_registry


@dataclass(frozen=True)
class ServiceDouble:
    name: str
    image: str
    tag: str
    fingerprint: str
    action: str = "build"
    reason: str = "inputs changed"
    changed: bool = True
    changed_inputs: tuple[str, ...] = ()
    depends_on: tuple[str, ...] = ()
    dockerfile: str = ""
    context: str = "."
    build_args: Mapping[str, str] = field(default_factory=dict)
    target: str | None = None

    @property
    def ref(self) -> str:
        return f"{self.image}:{self.tag}"


# name → (inputs the Dockerfile copies, the service it builds FROM or None, Dockerfile body)
_SERVICES = {
    "base": (("libs/common",), None, "ARG BASE_IMAGE\nFROM ${BASE_IMAGE}\nCOPY libs/common /app/common\n"),
    "api": (("services/api",), "base", "ARG BASE\nFROM ${BASE}\nCOPY services/api /app/api\n"),
    "web": (("services/web",), "base", "ARG BASE\nFROM ${BASE}\nCOPY services/web /app/web\n"),
    "solo": (("services/solo",), None, "ARG BASE_IMAGE\nFROM ${BASE_IMAGE}\nCOPY services/solo /app/solo\n"),
}


class Workspace:
    """A tmp monorepo whose services are planned by content, like the real plan."""

    def __init__(self, root: Path, prefix: str, base_image: str) -> None:
        self.root = root
        self.prefix = prefix
        self.base_image = base_image
        (root / "libs/common").mkdir(parents=True)
        (root / "libs/common/lib.txt").write_text("shared v1\n")
        for name, (_, _, body) in _SERVICES.items():
            folder = root / "services" / name
            folder.mkdir(parents=True, exist_ok=True)
            (folder / "Dockerfile").write_text(body)
            (folder / "app.txt").write_text(f"{name} v1\n")

    def services(self) -> list[ServiceDouble]:
        planned: dict[str, ServiceDouble] = {}
        for name, (inputs, base, _) in _SERVICES.items():
            digest = hashlib.sha256()
            for rel in (*inputs, f"services/{name}/Dockerfile"):
                for path in sorted((self.root / rel).rglob("*")) if (self.root / rel).is_dir() else [self.root / rel]:
                    if path.is_file():
                        digest.update(str(path.relative_to(self.root)).encode() + b"\0" + path.read_bytes())
            if base is not None:
                digest.update(planned[base].fingerprint.encode())
            fingerprint = digest.hexdigest()
            args = {"BASE": planned[base].ref} if base else {"BASE_IMAGE": self.base_image}
            planned[name] = ServiceDouble(
                name=name,
                image=f"{self.prefix}/{name}",
                tag=f"fp-{fingerprint[:16]}",
                fingerprint=fingerprint,
                depends_on=(base,) if base else (),
                dockerfile=f"services/{name}/Dockerfile",
                build_args=args,
            )
        return list(planned.values())

    def remove_images(self, docker_cli: str) -> None:
        out = subprocess.run([docker_cli, "images", "-q", "--filter", f"reference={self.prefix}/*"],
                             capture_output=True, text=True, check=False).stdout.split()
        if out:
            subprocess.run([docker_cli, "rmi", "-f", *sorted(set(out))], capture_output=True, check=False)


@pytest.fixture
def workspace(tmp_path: Path, base_image: str, docker_engine: str) -> Iterator[Workspace]:
    ws = Workspace(tmp_path / "repo", f"envctl-test-{uuid.uuid4().hex[:8]}", base_image)
    yield ws
    ws.remove_images(docker_engine)


@pytest.fixture(scope="session")
def containerd_node(docker_engine: str) -> Iterator[NodeHandle]:
    """One node for the session (starting one costs ~1 s; tests use unique image names)."""
    ensure_node_image(docker_engine)
    suffix = uuid.uuid4().hex[:6]
    node = start_node(docker_engine, f"envctl-test-node-{suffix}", socket_path=f"/run/envctl-{suffix}/containerd.sock")
    yield node
    stop_node(docker_engine, node)


@pytest.fixture(scope="session")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RegistryHandle]:
    handle = start_registry(tmp_path_factory.mktemp("registry"))
    yield handle
    stop_registry(handle)
