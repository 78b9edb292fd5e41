"""Pure parts of the cluster phase: fingerprint, spec diff, label encoding, k3d JSON, readiness words."""

from __future__ import annotations

from pathlib import Path

import pytest

from envctl.adapters.k3d import FINGERPRINT_LABEL, K3d, decode_spec, encode_spec
from envctl.adapters.kube import ClusterHealth
from envctl.adapters.process import SubprocessRunner
from envctl.config import ClusterSpec, RegistrySpec
from envctl.phases.cluster import cluster_fingerprint, spec_differences

DATA = Path(__file__).parent / "data"


@pytest.mark.parametrize(
    "change",
    [
        pytest.param({"image": "rancher/k3s:v1.30.9-k3s1"}, id="k3s image"),
        pytest.param({"servers": 3}, id="servers"),
        pytest.param({"agents": 2}, id="agents"),
        pytest.param({"disable": ("traefik",)}, id="disabled components"),
        pytest.param({"ports": ("8080:80@loadbalancer",)}, id="ports"),
        pytest.param({"k3s_args": ("--tls-san=x",)}, id="k3s args"),
        pytest.param({"registry": RegistrySpec()}, id="registry"),
    ],
)
def test_every_spec_field_changes_the_fingerprint(change: dict[str, object]) -> None:
    base = ClusterSpec(name="dev")
    assert cluster_fingerprint(base) == cluster_fingerprint(ClusterSpec(name="dev"))
    assert cluster_fingerprint(base.model_copy(update=change)) != cluster_fingerprint(base)


def test_spec_differences_name_each_changed_field_with_old_and_new_values() -> None:
    stored = ClusterSpec(name="dev").model_dump(mode="json")
    wanted = ClusterSpec(name="dev", servers=3, ports=("8080:80@loadbalancer",))
    assert spec_differences(stored, wanted) == ['ports: [] -> ["8080:80@loadbalancer"]', "servers: 1 -> 3"]
    assert spec_differences(stored, ClusterSpec(name="dev")) == []
    assert spec_differences(None, wanted) == [
        "the cluster carries no envctl spec (made by another tool or an older envctl)"
    ]


def test_spec_label_round_trips_without_characters_k3d_splits_on() -> None:
    spec = ClusterSpec(name="dev", ports=("8080:80@loadbalancer",), k3s_args=("--a=b;c,d",))
    encoded = encode_spec(spec)
    assert not set(encoded) & set("@;,= ")
    assert decode_spec(encoded) == spec.model_dump(mode="json")
    assert decode_spec("not base64 json!") is None


def test_cluster_list_json_is_parsed_from_the_documented_shape(tmp_path: Path) -> None:
    # A k3d replacement that prints recorded `cluster list -o json` output for exactly that argv.
    exe = tmp_path / "k3d"
    exe.write_text(
        '#!/bin/sh\n[ "$*" = "cluster list -o json" ] || { echo "FATA unexpected: $*" >&2; exit 1; }\n'
        f"cat {DATA / 'k3d-cluster-list.json'}\n"
    )
    exe.chmod(0o755)
    k3d = K3d(SubprocessRunner({"PATH": "/usr/bin:/bin"}), executable=str(exe))

    (cluster,) = k3d.list_clusters()

    assert (cluster.name, cluster.servers_running, cluster.servers_count, cluster.agents_count) == ("dev", 0, 1, 1)
    assert not cluster.running
    assert cluster.workload_nodes == ("k3d-dev-server-0", "k3d-dev-agent-0")
    assert cluster.label(FINGERPRINT_LABEL) == "0123456789abcdef"
    assert k3d.get("dev") == cluster and k3d.get("other") is None


def test_cluster_health_says_what_is_missing() -> None:
    health = ClusterHealth(nodes=(("s0", True, ""), ("a0", False, "KubeletNotReady")), coredns="0/1 available")
    assert health.problems(3) == ["2/3 nodes registered", "node a0 not Ready (KubeletNotReady)", "coredns 0/1 available"]
    assert ClusterHealth(nodes=(("s0", True, ""),), coredns="available").problems(1) == []


@pytest.mark.parametrize(
    ("servers", "agents", "running"),
    [
        pytest.param((1, 1), (1, 1), True, id="all up"),
        pytest.param((0, 1), (1, 1), False, id="server stopped"),
        pytest.param((1, 1), (0, 2), False, id="an agent stopped"),
        pytest.param((0, 0), (0, 0), False, id="no servers at all"),
    ],
)
def test_a_cluster_counts_as_running_only_when_every_node_runs(
    servers: tuple[int, int], agents: tuple[int, int], running: bool
) -> None:
    from envctl.adapters.k3d import K3dCluster

    cluster = K3dCluster("dev", servers[0], servers[1], agents[0], agents[1], nodes=())
    assert cluster.running is running
