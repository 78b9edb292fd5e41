"""`ensure_cluster` outcomes with the k3d stand-in (real node containers) and a KMock API."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest

from envctl.config import ClusterSpec
from envctl.errors import ClusterError
from envctl.phases.cluster import ClusterInfo, cluster_fingerprint, ensure_cluster
from envctl.progress import CollectingProgress
from envctl.timing.spans import Recorder
from tests.cluster.conftest import K3dWorld

pytestmark = pytest.mark.docker

LIST = ["k3d", "cluster", "list", "-o", "json"]


def _ensure(world: K3dWorld, spec: ClusterSpec, kubeconfig: Path, **kw: object) -> tuple[ClusterInfo, Recorder]:
    recorder = Recorder()
    info = ensure_cluster(
        spec, kubeconfig, k3d=world.k3d, progress=CollectingProgress(), recorder=recorder,
        ready_timeout=kw.pop("ready_timeout", 20.0), poll_interval=0.1, **kw,  # type: ignore[arg-type]
    )  # fmt: skip
    return info, recorder


def _commands(world: K3dWorld) -> list[list[str]]:
    """The logged argv, each cut to its verb and cluster name (create flags are pinned elsewhere)."""
    return [argv[:4] if argv[1] != "cluster" or argv[2] != "list" else argv for argv in world.argv_log()]


def test_creates_an_absent_cluster_and_writes_only_the_workspace_kubeconfig(
    k3d_world: K3dWorld, cluster_name: str, tmp_path: Path
) -> None:
    kubeconfig = tmp_path / "ws" / ".envctl" / "kubeconfig"
    spec = ClusterSpec(name=cluster_name, agents=1)

    info, recorder = _ensure(k3d_world, spec, kubeconfig)

    assert info == ClusterInfo(
        name=cluster_name,
        action="created",
        kubeconfig=kubeconfig,
        nodes=(f"k3d-{cluster_name}-agent-0", f"k3d-{cluster_name}-server-0"),
        registry=None,
        fingerprint=cluster_fingerprint(spec),
    )
    assert _commands(k3d_world) == [
        LIST, ["k3d", "cluster", "create", cluster_name], LIST, ["k3d", "kubeconfig", "get", cluster_name],
    ]  # fmt: skip
    assert f"server: {k3d_world.api.url}" in kubeconfig.read_text()
    assert stat.S_IMODE(kubeconfig.stat().st_mode) == 0o600
    assert not (k3d_world.home / ".kube").exists()
    assert not (k3d_world.home / ".config").exists()
    spans = recorder.spans()
    assert [(s.name, s.kind, s.outcome) for s in spans] == [
        ("cluster list", "cluster", "ok"), ("cluster create", "cluster", "ok"),
        ("cluster kubeconfig", "cluster", "ok"), ("cluster readiness", "cluster", "ok"),
    ]  # fmt: skip


def test_reuses_a_running_matching_cluster_without_create_or_start(
    k3d_world: K3dWorld, cluster_name: str, tmp_path: Path
) -> None:
    spec = ClusterSpec(name=cluster_name)
    _ensure(k3d_world, spec, tmp_path / "kubeconfig")
    k3d_world.clear_log()

    info, _ = _ensure(k3d_world, spec, tmp_path / "kubeconfig")

    assert info.action == "reused"
    assert info.nodes == (f"k3d-{cluster_name}-server-0",)
    assert k3d_world.argv_log() == [LIST, ["k3d", "kubeconfig", "get", cluster_name]]


def test_starts_a_stopped_cluster(k3d_world: K3dWorld, cluster_name: str, tmp_path: Path) -> None:
    spec = ClusterSpec(name=cluster_name)
    _ensure(k3d_world, spec, tmp_path / "kubeconfig")
    assert k3d_world.standin("cluster", "stop", cluster_name).returncode == 0
    k3d_world.clear_log()

    info, _ = _ensure(k3d_world, spec, tmp_path / "kubeconfig")

    assert info.action == "started"
    assert k3d_world.argv_log() == [
        LIST,
        ["k3d", "cluster", "start", cluster_name, "--wait", "--timeout", "60s"],
        LIST,
        ["k3d", "kubeconfig", "get", cluster_name],
    ]
    cluster = k3d_world.k3d.get(cluster_name)
    assert cluster is not None and cluster.running


def test_a_changed_spec_is_refused_naming_the_fields_and_nothing_is_deleted(
    k3d_world: K3dWorld, cluster_name: str, tmp_path: Path
) -> None:
    _ensure(k3d_world, ClusterSpec(name=cluster_name), tmp_path / "kubeconfig")
    before = k3d_world.containers(cluster_name)
    k3d_world.clear_log()
    changed = ClusterSpec(name=cluster_name, agents=1, disable=("traefik",))

    with pytest.raises(ClusterError) as caught:
        _ensure(k3d_world, changed, tmp_path / "kubeconfig")

    assert caught.value.message == (
        f"cluster '{cluster_name}' exists with a different spec: "
        'agents: 0 -> 1; disable: ["traefik","servicelb","metrics-server"] -> ["traefik"]'
    )
    assert "--recreate" in (caught.value.hint or "")
    assert k3d_world.argv_log() == [LIST]
    assert k3d_world.containers(cluster_name) == before


def test_recreate_deletes_then_creates_with_the_new_spec(
    k3d_world: K3dWorld, cluster_name: str, tmp_path: Path
) -> None:
    _ensure(k3d_world, ClusterSpec(name=cluster_name), tmp_path / "kubeconfig")
    k3d_world.clear_log()
    changed = ClusterSpec(name=cluster_name, agents=1)

    info, recorder = _ensure(k3d_world, changed, tmp_path / "kubeconfig", recreate=True)

    assert info.action == "recreated"
    assert info.fingerprint == cluster_fingerprint(changed)
    assert info.nodes == (f"k3d-{cluster_name}-agent-0", f"k3d-{cluster_name}-server-0")
    assert _commands(k3d_world) == [
        LIST, ["k3d", "cluster", "delete", cluster_name], ["k3d", "cluster", "create", cluster_name],
        LIST, ["k3d", "kubeconfig", "get", cluster_name],
    ]  # fmt: skip
    delete = next(s for s in recorder.spans() if s.name == "cluster delete")
    assert delete.attrs["reason"] == "spec changed"


def test_a_cluster_whose_create_did_not_finish_is_deleted_and_created_again_not_reused(
    k3d_world: K3dWorld, cluster_name: str, tmp_path: Path
) -> None:
    # k3d dies half-way: its node containers run (k3d lists the cluster as running) but k3s never
    # registered a node. Reusing it would wait out the readiness deadline and fail.
    kubeconfig = tmp_path / "ws" / ".envctl" / "kubeconfig"
    spec = ClusterSpec(name=cluster_name)
    k3d_world.env["K3D_STANDIN_CREATE_GATE"] = "http://127.0.0.1:9/"  # nothing listens: the create crashes
    with pytest.raises(ClusterError):
        _ensure(k3d_world, spec, kubeconfig)
    del k3d_world.env["K3D_STANDIN_CREATE_GATE"]
    assert k3d_world.containers(cluster_name), "the crashed create left its containers"
    running = k3d_world.standin("cluster", "list", "-o", "json")
    assert any(c["name"] == cluster_name for c in json.loads(running.stdout))
    k3d_world.clear_log()

    info, recorder = _ensure(k3d_world, spec, kubeconfig, ready_timeout=60.0)

    assert info.action == "recreated"
    assert _commands(k3d_world) == [
        LIST, ["k3d", "cluster", "delete", cluster_name], ["k3d", "cluster", "create", cluster_name],
        LIST, ["k3d", "kubeconfig", "get", cluster_name],
    ]  # fmt: skip
    delete = next(s for s in recorder.spans() if s.name == "cluster delete")
    assert delete.attrs["reason"] == "create did not finish"
    assert list(kubeconfig.parent.glob("cluster-create-*")) == []
    k3d_world.clear_log()

    again, _ = _ensure(k3d_world, spec, kubeconfig)  # a finished create is reused as any cluster

    assert again.action == "reused"
    assert k3d_world.argv_log() == [LIST, ["k3d", "kubeconfig", "get", cluster_name]]


def test_readiness_timeout_names_what_is_not_ready(k3d_world: K3dWorld, cluster_name: str, tmp_path: Path) -> None:
    k3d_world.env["K3D_STANDIN_NOT_READY"] = "1"  # nodes register NotReady and CoreDNS never appears

    with pytest.raises(ClusterError) as caught:
        _ensure(k3d_world, ClusterSpec(name=cluster_name), tmp_path / "kubeconfig", ready_timeout=1.0)

    assert caught.value.message == (
        f"cluster '{cluster_name}' not ready after 1s: "
        f"node k3d-{cluster_name}-server-0 not Ready (KubeletNotReady); coredns missing"
    )
    assert str(tmp_path / "kubeconfig") in (caught.value.hint or "")


def test_the_nodes_it_reports_take_image_imports_at_the_k3s_socket(
    k3d_world: K3dWorld, cluster_name: str, tmp_path: Path, base_image: str
) -> None:
    # The contract the load phase relies on: every reported node answers `ctr -a <k3s socket>`.
    from envctl.adapters.containerd import ContainerdNodes, Node
    from envctl.adapters.k3d import K3S_CONTAINERD_SOCKET

    info, _ = _ensure(k3d_world, ClusterSpec(name=cluster_name, agents=1), tmp_path / "kubeconfig")
    ctr = ContainerdNodes(k3d_world.runner, docker_cli=k3d_world.docker)
    agent = Node(info.nodes[0], K3S_CONTAINERD_SOCKET)
    k3d_world.runner.pipe([k3d_world.docker, "save", base_image], ctr.ctr(agent, "images", "import", "-", stdin=True))

    assert "docker.io/envctl-test/busybox:1" in ctr.images(agent).refs
    assert ctr.images(Node(info.nodes[1], K3S_CONTAINERD_SOCKET)).refs == frozenset()
