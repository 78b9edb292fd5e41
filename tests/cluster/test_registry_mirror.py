"""Registry mode end to end on real components (issue 15 points 1 and 2).

The k3d stand-in creates the registry container under k3d's real name and writes k3d's
``/etc/rancher/k3s/registries.yaml`` into the nodes. envctl pushes to the registry and hands the
chart a reference; the node's real containerd then pulls that reference the way a k3s node's CRI
does: through the mirrors of registries.yaml, rendered as containerd ``hosts.toml`` files
(containerd docs/hosts.md; k3s renders registries.yaml the same way) and resolved by name.
"""

from __future__ import annotations

import json
import socket
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from envctl.adapters.docker import DockerEngine
from envctl.adapters.k3d import K3S_CONTAINERD_SOCKET, K3dRegistry
from envctl.config import ClusterSpec, RegistrySpec
from envctl.errors import ClusterError
from envctl.phases.build import BuiltImage
from envctl.phases.cluster import ClusterInfo, ensure_cluster
from envctl.phases.load import ImageLoader
from envctl.progress import CollectingProgress
from envctl.timing.spans import Recorder
from tests.cluster.conftest import K3dWorld

pytestmark = pytest.mark.docker


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def registry_name(docker_engine: str) -> Iterator[str]:
    name = f"envctl-test-reg-{uuid.uuid4().hex[:6]}"
    yield name
    subprocess.run([docker_engine, "rm", "-f", "-v", name, f"k3d-{name}"], capture_output=True, check=False)


@pytest.fixture
def pushed_image(docker_engine: str, base_image: str) -> Iterator[BuiltImage]:
    name = f"envctl-test/mirror-{uuid.uuid4().hex[:6]}"
    ref = f"{name}:fp-1"
    subprocess.run([docker_engine, "tag", base_image, ref], check=True)
    facts = DockerEngine().inspect(ref)
    assert facts is not None
    yield BuiltImage("api", ref, facts.image_id, facts.size, "built", "engine", 0.0)
    # the ref and the registry-prefixed tag the push made (`<registry>/envctl-test/mirror-…:fp-1`)
    listed = subprocess.run([docker_engine, "images", "--format", "{{.Repository}}:{{.Tag}}"], capture_output=True,
                            text=True, check=False).stdout.split()  # fmt: skip
    tags = [tag for tag in listed if tag == ref or tag.endswith(f"/{ref}")]
    if tags:
        subprocess.run([docker_engine, "rmi", *tags], capture_output=True, check=False)


def _ensure(world: K3dWorld, spec: ClusterSpec, tmp_path: Path) -> ClusterInfo:
    return ensure_cluster(spec, tmp_path / "kubeconfig", k3d=world.k3d, progress=CollectingProgress(),
                          recorder=Recorder(), ready_timeout=20.0, poll_interval=0.1)  # fmt: skip


def _push(world: K3dWorld, info: ClusterInfo, image: BuiltImage) -> str:
    """Registry-mode load of ``image`` into ``info``'s cluster, as `envctl up`'s load task runs it; the chart's ref."""
    assert info.registry is not None
    from envctl.adapters.containerd import ContainerdNodes

    loader = ImageLoader("registry", containerd=ContainerdNodes(world.runner, world.docker), docker=DockerEngine(),
                         recorder=Recorder(), progress=CollectingProgress(), nodes_of=lambda _: [])  # fmt: skip
    return loader.load(image, info).chart_ref


def _pod_pull(world: K3dWorld, node: str, ref: str) -> subprocess.CompletedProcess[str]:
    """Pull ``ref`` in the node as its CRI would: registries.yaml mirrors → hosts.toml → containerd."""
    read = subprocess.run([world.docker, "exec", node, "cat", "/etc/rancher/k3s/registries.yaml"],
                          capture_output=True, text=True, check=True)  # fmt: skip
    for host, mirror in (yaml.safe_load(read.stdout)["mirrors"] or {}).items():
        toml = "".join(
            f'[host."{endpoint}"]\n  capabilities = ["pull", "resolve"]\n' for endpoint in mirror["endpoint"]
        )
        folder = f"/etc/containerd/certs.d/{host}"
        subprocess.run([world.docker, "exec", "-i", node, "sh", "-c", f"mkdir -p {folder} && cat > {folder}/hosts.toml"],
                       input=toml, text=True, check=True)  # fmt: skip
    return subprocess.run(
        [world.docker, "exec", node, "ctr", "-a", K3S_CONTAINERD_SOCKET, "-n", "k8s.io", "images", "pull",
         "--hosts-dir", "/etc/containerd/certs.d", ref],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip


def test_created_registry_is_named_as_k3d_names_it_and_pods_pull_what_envctl_deploys(
    k3d_world: K3dWorld, cluster_name: str, registry_name: str, pushed_image: BuiltImage, tmp_path: Path
) -> None:
    port = _free_port()
    spec = ClusterSpec(name=cluster_name, disable=(), registry=RegistrySpec(name=registry_name, host_port=port))
    info = _ensure(k3d_world, spec, tmp_path)

    assert info.registry == K3dRegistry(registry_name, "127.0.0.1", str(port))
    assert k3d_world.containers(cluster_name) == sorted(
        [registry_name, f"k3d-{cluster_name}-server-0", f"k3d-{cluster_name}-serverlb"]
    )
    chart_ref = _push(k3d_world, info, pushed_image)
    assert chart_ref == f"{registry_name}:{port}/{pushed_image.ref}"

    server = f"k3d-{cluster_name}-server-0"
    pulled = _pod_pull(k3d_world, server, chart_ref)
    assert pulled.returncode == 0, pulled.stderr
    listed = subprocess.run([k3d_world.docker, "exec", server, "ctr", "-a", K3S_CONTAINERD_SOCKET, "-n", "k8s.io",
                             "images", "ls", "-q"], capture_output=True, text=True, check=True).stdout.split()  # fmt: skip
    assert chart_ref in listed

    # What envctl deployed before (a `k3d-` prefix no container, DNS name or mirror has) cannot be pulled.
    old = _pod_pull(k3d_world, server, f"k3d-{registry_name}:{port}/{pushed_image.ref}")
    assert old.returncode != 0

    # The registry goes with the cluster, as k3d deletes it.
    k3d_world.k3d.delete(cluster_name)
    assert k3d_world.containers(cluster_name) == []


def test_registry_use_names_an_existing_k3d_registry_container(
    k3d_world: K3dWorld, cluster_name: str, registry_name: str, pushed_image: BuiltImage, tmp_path: Path
) -> None:
    port = _free_port()
    made = k3d_world.standin("registry", "create", registry_name, "--port", f"127.0.0.1:{port}")
    assert made.returncode == 0, made.stderr
    spec = ClusterSpec(name=cluster_name, disable=(), registry=RegistrySpec(use=f"k3d-{registry_name}"))
    info = _ensure(k3d_world, spec, tmp_path)

    assert info.registry == K3dRegistry(f"k3d-{registry_name}", "127.0.0.1", str(port))
    chart_ref = _push(k3d_world, info, pushed_image)
    assert chart_ref == f"k3d-{registry_name}:{port}/{pushed_image.ref}"
    pulled = _pod_pull(k3d_world, f"k3d-{cluster_name}-server-0", chart_ref)
    assert pulled.returncode == 0, pulled.stderr

    # A used registry outlives the cluster.
    k3d_world.k3d.delete(cluster_name)
    listed = json.loads(k3d_world.standin("registry", "list", "-o", "json").stdout)
    assert f"k3d-{registry_name}" in [node["name"] for node in listed]


def test_registry_use_of_a_host_port_fails_cluster_creation_with_k3ds_reason(
    k3d_world: K3dWorld, cluster_name: str, tmp_path: Path
) -> None:
    """What the old README promised ("host:port of an existing registry") is what k3d refuses."""
    spec = ClusterSpec(name=cluster_name, disable=(), registry=RegistrySpec(use="127.0.0.1:5000"))
    with pytest.raises(ClusterError) as caught:
        _ensure(k3d_world, spec, tmp_path)
    assert "Failed to find registry node '127.0.0.1'" in caught.value.message
    assert caught.value.message.endswith("Cluster creation FAILED, all changes have been rolled back!")
    assert k3d_world.containers(cluster_name) == []
