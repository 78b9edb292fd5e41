"""Every k3d command line envctl runs, pinned as an exact argv against the k3d v5 flags.

The flags come from k3d-io/k3d docs/usage/commands/k3d_cluster_create.md (v5): ``--image``,
``--servers``, ``--agents``, ``--k3s-arg ARG@NODEFILTER``, ``--port``, ``--registry-create
NAME[:HOST][:HOSTPORT]``, ``--registry-use``, ``--kubeconfig-update-default``,
``--kubeconfig-switch-context``, ``--wait``, ``--timeout``, ``--runtime-label KEY=VALUE@NODEFILTER``.
The stand-in logs what it was given and rejects anything it does not know, so an argv that
passes here was also accepted by a strict parser.
"""

from __future__ import annotations

import pytest

from envctl.adapters.k3d import FINGERPRINT_LABEL, SPEC_LABEL, K3d, decode_spec, encode_spec
from envctl.adapters.process import SubprocessRunner
from envctl.config import ClusterSpec, RegistrySpec
from envctl.errors import ClusterError
from tests.cluster.conftest import K3dWorld

pytestmark = pytest.mark.docker


def _full_spec(name: str) -> ClusterSpec:
    return ClusterSpec(
        name=name,
        image="rancher/k3s:v1.31.5-k3s1",
        servers=1,
        agents=1,
        disable=("traefik", "servicelb", "metrics-server"),
        ports=("8080:80@loadbalancer",),
        k3s_args=("--tls-san=envctl.local", "--kubelet-arg=max-pods=50@agent:*"),
        registry=RegistrySpec(create=True, name="envctl-registry", host_port=5111),
    )


def test_create_argv_with_every_spec_field(k3d_world: K3dWorld, cluster_name: str) -> None:
    spec = _full_spec(cluster_name)
    k3d_world.k3d.create(spec, "f00dfeed12345678")

    assert k3d_world.argv_log() == [[
        "k3d", "cluster", "create", cluster_name,
        "--image", "rancher/k3s:v1.31.5-k3s1",
        "--servers", "1",
        "--agents", "1",
        "--k3s-arg", "--disable=traefik@server:*",
        "--k3s-arg", "--disable=servicelb@server:*",
        "--k3s-arg", "--disable=metrics-server@server:*",
        "--k3s-arg", "--tls-san=envctl.local@server:*",
        "--k3s-arg", "--kubelet-arg=max-pods=50@agent:*",
        "--port", "8080:80@loadbalancer",
        "--registry-create", "envctl-registry:127.0.0.1:5111",
        "--kubeconfig-update-default=false",
        "--kubeconfig-switch-context=false",
        "--wait",
        "--timeout", "120s",
        "--runtime-label", f"{FINGERPRINT_LABEL}=f00dfeed12345678@server:*",
        "--runtime-label", f"{SPEC_LABEL}={encode_spec(spec)}@server:*",
    ]]  # fmt: skip
    # The labels are readable back from `cluster list -o json`, on the servers only.
    cluster = k3d_world.k3d.get(cluster_name)
    assert cluster is not None
    assert cluster.label(FINGERPRINT_LABEL) == "f00dfeed12345678"
    assert decode_spec(cluster.label(SPEC_LABEL) or "") == spec.model_dump(mode="json")
    assert cluster.workload_nodes == (f"k3d-{cluster_name}-agent-0", f"k3d-{cluster_name}-server-0")


def test_create_argv_with_an_existing_registry(k3d_world: K3dWorld, cluster_name: str) -> None:
    spec = ClusterSpec(name=cluster_name, disable=(), registry=RegistrySpec(use="k3d-shared-registry:5000"))
    assert k3d_world.k3d.create_argv(spec, "ab") == [
        "k3d", "cluster", "create", cluster_name, "--image", spec.image, "--servers", "1", "--agents", "0",
        "--registry-use", "k3d-shared-registry:5000",
        "--kubeconfig-update-default=false", "--kubeconfig-switch-context=false", "--wait", "--timeout", "120s",
        "--runtime-label", f"{FINGERPRINT_LABEL}=ab@server:*",
        "--runtime-label", f"{SPEC_LABEL}={encode_spec(spec)}@server:*",
    ]  # fmt: skip


def test_list_start_delete_and_kubeconfig_argv(k3d_world: K3dWorld, cluster_name: str) -> None:
    k3d = k3d_world.k3d
    k3d.create(ClusterSpec(name=cluster_name), "0" * 16)
    assert k3d_world.standin("cluster", "stop", cluster_name).returncode == 0
    k3d_world.clear_log()

    stopped = k3d.get(cluster_name)
    k3d.start(cluster_name)
    started = k3d.get(cluster_name)
    kubeconfig = k3d.kubeconfig_get(cluster_name)
    k3d.delete(cluster_name)

    assert k3d_world.argv_log() == [
        ["k3d", "cluster", "list", "-o", "json"],
        ["k3d", "cluster", "start", cluster_name, "--wait", "--timeout", "60s"],
        ["k3d", "cluster", "list", "-o", "json"],
        ["k3d", "kubeconfig", "get", cluster_name],
        ["k3d", "cluster", "delete", cluster_name],
    ]
    assert stopped is not None and not stopped.running and (stopped.servers_running, stopped.servers_count) == (0, 1)
    assert started is not None and started.running
    assert f"server: {k3d_world.api.url}" in kubeconfig and f"current-context: k3d-{cluster_name}" in kubeconfig
    assert k3d.get(cluster_name) is None
    assert k3d_world.containers(cluster_name) == []


def test_version_is_parsed_from_k3d_version(k3d_world: K3dWorld) -> None:
    assert k3d_world.k3d.version() == "5.8.3"
    assert k3d_world.argv_log() == [["k3d", "version"]]


def test_a_k3d_failure_becomes_a_cluster_error_naming_the_cause(k3d_world: K3dWorld, cluster_name: str) -> None:
    k3d_world.k3d.create(ClusterSpec(name=cluster_name), "1" * 16)
    with pytest.raises(ClusterError, match=f"k3d could not create cluster '{cluster_name}'.*already exists"):
        k3d_world.k3d.create(ClusterSpec(name=cluster_name), "1" * 16)


def test_k3d_runs_without_colours(tmp_path) -> None:
    # k3d logs to stdout with ANSI colours unless LOG_COLORS=false (docs/tools.md, "k3d"). This k3d
    # answers only when the adapter set it, whatever the caller's environment says.
    exe = tmp_path / "k3d"
    exe.write_text('#!/bin/sh\n[ "$LOG_COLORS" = false ] && echo "k3d version v5.8.3" || echo "colours on"\n')
    exe.chmod(0o755)
    runner = SubprocessRunner({"PATH": "/usr/bin:/bin", "LOG_COLORS": "true"})
    assert K3d(runner, executable=str(exe)).version() == "5.8.3"
