"""The cluster facts kept across runs (phases/cluster.py, facts_cache.py): a reuse with nothing
changed asks k3d nothing; a stopped, recreated or re-specified cluster, a changed kubeconfig and a
corrupt cache file all take the full path. Real node containers (k3d stand-in), KMock as the API."""

from __future__ import annotations

from pathlib import Path

import pytest

from envctl.adapters.docker import labelled_containers
from envctl.config import ClusterSpec
from envctl.errors import ClusterError
from envctl.facts_cache import FactsCache
from envctl.phases.cluster import ClusterInfo, _KeptFacts, ensure_cluster
from envctl.progress import CollectingProgress
from envctl.timing.spans import Recorder
from tests.cluster.conftest import K3dWorld

pytestmark = pytest.mark.docker

LIST = ["k3d", "cluster", "list", "-o", "json"]


def _ensure(world: K3dWorld, spec: ClusterSpec, ws: Path) -> tuple[ClusterInfo, Recorder]:
    recorder = Recorder()
    info = ensure_cluster(
        spec, ws / "kubeconfig", k3d=world.k3d, progress=CollectingProgress(), recorder=recorder,
        ready_timeout=20.0, poll_interval=0.1, facts=FactsCache(ws / "cache"),
        containers=lambda: labelled_containers(world.runner, world.docker, f"k3d.cluster={spec.name}"),
    )  # fmt: skip
    return info, recorder


def test_a_reuse_with_nothing_changed_asks_k3d_nothing(k3d_world: K3dWorld, cluster_name: str, tmp_path: Path) -> None:
    spec = ClusterSpec(name=cluster_name, agents=1)
    first, _ = _ensure(k3d_world, spec, tmp_path)
    assert first.action == "created"
    k3d_world.clear_log()

    info, recorder = _ensure(k3d_world, spec, tmp_path)

    assert info == ClusterInfo(name=cluster_name, action="reused", kubeconfig=tmp_path / "kubeconfig",
                               nodes=first.nodes, registry=None, fingerprint=first.fingerprint)  # fmt: skip
    assert k3d_world.argv_log() == []
    [span] = recorder.spans()
    assert (span.name, span.attrs["cache_hit"], span.attrs["action"]) == ("cluster facts", True, "reused")


def test_a_stopped_cluster_is_started_not_taken_from_the_cache(
    k3d_world: K3dWorld, cluster_name: str, tmp_path: Path
) -> None:
    spec = ClusterSpec(name=cluster_name)
    _ensure(k3d_world, spec, tmp_path)
    assert k3d_world.standin("cluster", "stop", cluster_name).returncode == 0
    k3d_world.clear_log()

    info, _ = _ensure(k3d_world, spec, tmp_path)

    assert info.action == "started"
    assert k3d_world.argv_log()[:2] == [LIST, ["k3d", "cluster", "start", cluster_name, "--wait", "--timeout", "60s"]]
    k3d_world.clear_log()
    assert _ensure(k3d_world, spec, tmp_path)[0].action == "reused"
    assert k3d_world.argv_log() == []  # the started cluster's facts were kept


def test_a_recreated_cluster_of_the_same_name_is_listed_again(
    k3d_world: K3dWorld, cluster_name: str, tmp_path: Path
) -> None:
    spec = ClusterSpec(name=cluster_name)
    _ensure(k3d_world, spec, tmp_path)
    # Someone else deletes and recreates it with the same spec: new containers, so a miss.
    assert k3d_world.standin("cluster", "delete", cluster_name).returncode == 0
    made = _ensure(k3d_world, spec, tmp_path / "other")
    assert made[0].action == "created"
    k3d_world.clear_log()

    info, _ = _ensure(k3d_world, spec, tmp_path)

    assert info.action == "reused"
    assert k3d_world.argv_log() == [LIST, ["k3d", "kubeconfig", "get", cluster_name]]


def test_a_changed_spec_still_meets_the_drift_check(k3d_world: K3dWorld, cluster_name: str, tmp_path: Path) -> None:
    _ensure(k3d_world, ClusterSpec(name=cluster_name), tmp_path)

    with pytest.raises(ClusterError, match="different spec"):
        _ensure(k3d_world, ClusterSpec(name=cluster_name, agents=1), tmp_path)


def test_a_changed_kubeconfig_or_a_corrupt_cache_file_takes_the_full_path(
    k3d_world: K3dWorld, cluster_name: str, tmp_path: Path
) -> None:
    spec = ClusterSpec(name=cluster_name)
    _ensure(k3d_world, spec, tmp_path)
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(kubeconfig.read_text() + "\n# edited\n")
    k3d_world.clear_log()

    assert _ensure(k3d_world, spec, tmp_path)[0].action == "reused"
    assert k3d_world.argv_log() == [LIST, ["k3d", "kubeconfig", "get", cluster_name]]
    assert "# edited" not in kubeconfig.read_text()  # k3d's own kubeconfig again

    (tmp_path / "cache" / "cluster.json").write_text('{"key": ')
    k3d_world.clear_log()
    assert _ensure(k3d_world, spec, tmp_path)[0].action == "reused"
    assert k3d_world.argv_log() == [LIST, ["k3d", "kubeconfig", "get", cluster_name]]
    k3d_world.clear_log()
    assert _ensure(k3d_world, spec, tmp_path)[0].action == "reused"
    assert k3d_world.argv_log() == []  # rewritten whole by the run before


def test_facts_an_api_refuses_are_dropped_and_k3d_asked(k3d_world: K3dWorld, cluster_name: str, tmp_path: Path) -> None:
    spec = ClusterSpec(name=cluster_name)
    first, _ = _ensure(k3d_world, spec, tmp_path)
    # Facts kept under a kubeconfig whose API no longer answers (as after a certificate rotation).
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(kubeconfig.read_text().replace(k3d_world.api.url, "http://127.0.0.1:9"))
    kept = _KeptFacts(FactsCache(tmp_path / "cache"),
                      lambda: labelled_containers(k3d_world.runner, k3d_world.docker, f"k3d.cluster={cluster_name}"),
                      spec, first.fingerprint, kubeconfig)  # fmt: skip
    kept.store(first.nodes)
    assert kept.nodes() == first.nodes
    k3d_world.clear_log()

    info, recorder = _ensure(k3d_world, spec, tmp_path)

    assert info.action == "reused"
    assert k3d_world.argv_log() == [LIST, ["k3d", "kubeconfig", "get", cluster_name]]
    assert recorder.spans()[0].attrs["cache_hit"] is False
    assert k3d_world.api.url in kubeconfig.read_text()
