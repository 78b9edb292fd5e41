"""The helm stand-in applies the chart's rendered objects to the test API as helm does, runs its hooks,
and the controller stand-in makes of them what a cluster makes: ReplicaSets by pod template, pods
from the real pod templates, old revisions scaled down once the new one is available."""

from __future__ import annotations

import json
import os
import subprocess
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.deploy.conftest import DEMO_CHART, FakeHelm
from tests.support.cluster_controllers import REVISION_HASH_LABEL
from tests.support.controllers import HASH_LABEL
from tests.support.kube_api import KubeApi
from tests.support.kubelet import REVISION
from tests.support.node_kubelet import EveryImageKubelet

NS = "ci"


@pytest.fixture
def cluster(fake_helm: FakeHelm) -> Iterator[KubeApi]:
    with KubeApi() as api, EveryImageKubelet(api, NS) as kubelet:
        fake_helm.switch("FAKE_HELM_KUBE_URL", api.url)
        yield api
        assert kubelet.errors == [] and kubelet.controllers.errors == []


def helm(*args: str, values: dict[str, Any] | None = None) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(["helm", *args, "--namespace", NS, *(["--values", "-"] if values is not None else [])],
                          input=json.dumps(values or {}), capture_output=True, text=True, timeout=300, check=False,
                          env=dict(os.environ))  # fmt: skip
    assert done.returncode == 0, done.stderr
    return done


def items(api: KubeApi, path: str) -> list[dict[str, Any]]:
    return api._request("GET", path.format(ns=NS))["items"]


def until(api: KubeApi, what: str, check: Callable[[], bool]) -> None:
    """Wait for the controllers' loop to get there: ``check`` again after each write the API handles
    (the bound only stops a hang; no timing is asserted)."""
    deadline = time.monotonic() + 120
    while True:
        seen = api.changes.count  # read before the check: a write during it means another check
        if check():
            return
        assert api.changes.wait(seen, timeout=max(0.0, deadline - time.monotonic())), f"never: {what}"


def replica_sets(api: KubeApi, deployment: str) -> dict[str, dict[str, Any]]:
    return {rs["metadata"]["name"]: rs for rs in items(api, "/apis/apps/v1/namespaces/{ns}/replicasets")
            if rs["metadata"]["ownerReferences"][0]["name"] == deployment}  # fmt: skip


def pods_of(api: KubeApi, owner: str) -> list[dict[str, Any]]:
    return [p for p in items(api, "/api/v1/namespaces/{ns}/pods") if p["metadata"]["ownerReferences"][0]["name"] == owner]


def available(api: KubeApi, deployment: str) -> bool:
    status = api.get("apps/v1/deployments", NS, deployment).get("status") or {}
    return status.get("availableReplicas") == 1 and status.get("replicas") == 1


def test_install_applies_every_rendered_object_and_runs_the_hook(cluster: KubeApi, fake_helm: FakeHelm) -> None:
    release = json.loads(helm("upgrade", "demo", str(DEMO_CHART), "--install", "-o", "json", values={}).stdout)

    api = cluster
    assert api.get("v1/configmaps", NS, "demo-settings")["data"] == {"INTERVAL": "5", "LOG_LEVEL": "info"}
    service = api.get("v1/services", NS, "demo-api")
    assert service["metadata"]["annotations"] == {"meta.helm.sh/release-name": "demo",
                                                  "meta.helm.sh/release-namespace": NS}  # fmt: skip
    assert service["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "Helm"
    # The hook ran (helm waited for its Job to complete) and was deleted (hook-succeeded).
    [hook] = release["hooks"]
    assert (hook["name"], hook["last_run"]["phase"]) == ("demo-schema-check", "Succeeded")
    assert [j["metadata"]["name"] for j in items(api, "/apis/batch/v1/namespaces/{ns}/jobs")] == ["demo-migrate-dev"]
    for name in ("demo-api", "demo-web", "demo-worker"):
        until(api, f"{name} available", lambda name=name: available(api, name))
        [rs] = replica_sets(api, name).values()
        [pod] = pods_of(api, rs["metadata"]["name"])
        template = api.get("apps/v1/deployments", NS, name)["spec"]["template"]
        assert rs["metadata"]["annotations"][REVISION] == "1"
        assert pod["metadata"]["labels"][HASH_LABEL] == rs["metadata"]["labels"][HASH_LABEL]
        assert pod["spec"] == template["spec"]  # made from the chart's own pod template
    [job_pod] = pods_of(api, "demo-migrate-dev")
    assert job_pod["metadata"]["labels"]["job-name"] == "demo-migrate-dev"


def test_a_settings_only_change_rolls_the_worker_and_nothing_else(cluster: KubeApi) -> None:
    api = cluster
    helm("upgrade", "demo", str(DEMO_CHART), "--install", values={})
    until(api, "all available", lambda: all(available(api, f"demo-{s}") for s in ("api", "web", "worker")))
    before = {s: replica_sets(api, f"demo-{s}") for s in ("api", "web", "worker")}
    first_worker_pods = [p["metadata"]["name"] for rs in before["worker"] for p in pods_of(api, rs)]

    helm("upgrade", "demo", str(DEMO_CHART), "--install", values={"worker": {"interval": 9}})

    assert api.get("v1/configmaps", NS, "demo-settings")["data"]["INTERVAL"] == "9"
    until(api, "a second worker ReplicaSet", lambda: len(replica_sets(api, "demo-worker")) == 2)
    until(api, "the new revision available, the old scaled down", lambda: available(api, "demo-worker") and all(
        rs["spec"]["replicas"] == 0 for name, rs in replica_sets(api, "demo-worker").items() if name in before["worker"]))
    new = {n: rs for n, rs in replica_sets(api, "demo-worker").items() if n not in before["worker"]}
    [(new_name, new_rs)] = new.items()
    assert new_rs["metadata"]["annotations"][REVISION] == "2"
    assert api.get("apps/v1/deployments", NS, "demo-worker")["metadata"]["annotations"][REVISION] == "2"
    until(api, "the old worker pod gone", lambda: all(p["metadata"]["name"] not in first_worker_pods
                                                 for p in items(api, "/api/v1/namespaces/{ns}/pods")))  # fmt: skip
    assert len(pods_of(api, new_name)) == 1
    assert {s: set(replica_sets(api, f"demo-{s}")) for s in ("api", "web")} == {
        s: set(before[s]) for s in ("api", "web")}  # untouched  # fmt: skip


def test_uninstall_deletes_the_objects_and_the_cluster_collects_their_pods(cluster: KubeApi) -> None:
    api = cluster
    helm("upgrade", "demo", str(DEMO_CHART), "--install", values={"web": {"enabled": False}})
    until(api, "pods", lambda: len(items(api, "/api/v1/namespaces/{ns}/pods")) == 3)

    helm("uninstall", "demo")

    for path in ("/apis/apps/v1/namespaces/{ns}/deployments", "/api/v1/namespaces/{ns}/services",
                 "/api/v1/namespaces/{ns}/configmaps", "/apis/batch/v1/namespaces/{ns}/jobs"):  # fmt: skip
        assert items(api, path) == []
    until(api, "nothing left", lambda: not items(api, "/api/v1/namespaces/{ns}/pods")
          and not items(api, "/apis/apps/v1/namespaces/{ns}/replicasets"))  # fmt: skip


def test_a_statefulset_replaces_its_pods_by_revision(cluster: KubeApi) -> None:
    api = cluster
    labels = {"app.kubernetes.io/name": "db"}
    template = {"metadata": {"labels": labels}, "spec": {"containers": [{"name": "db", "image": "db:1"}]}}
    api.create("apps/v1/statefulsets", {"apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": {
        "name": "db", "namespace": NS}, "spec": {"replicas": 2, "serviceName": "db", "selector": {
            "matchLabels": labels}, "template": template}})  # fmt: skip
    until(api, "two ready pods", lambda: (api.get("apps/v1/statefulsets", NS, "db").get("status") or {}).get("readyReplicas") == 2)
    first = api.get("apps/v1/statefulsets", NS, "db")["status"]["updateRevision"]

    template["spec"]["containers"][0]["image"] = "db:2"
    api.patch("apps/v1/statefulsets", NS, "db", {"spec": {"template": template}})

    def rolled() -> bool:
        status = api.get("apps/v1/statefulsets", NS, "db").get("status") or {}
        return status.get("currentRevision") == status.get("updateRevision") != first and status.get("readyReplicas") == 2

    until(api, "every pod at the new revision", rolled)
    stateful_set = api.get("apps/v1/statefulsets", NS, "db")
    pods = sorted(pods_of(api, "db"), key=lambda p: p["metadata"]["name"])
    assert [p["metadata"]["name"] for p in pods] == ["db-0", "db-1"]
    assert {p["metadata"]["labels"][REVISION_HASH_LABEL] for p in pods} == {stateful_set["status"]["updateRevision"]}
    assert stateful_set["metadata"]["generation"] == 2 == stateful_set["status"]["observedGeneration"]


def test_a_hook_job_that_never_completes_fails_the_install_after_the_timeout(fake_helm: FakeHelm) -> None:
    """helm waits for a hook Job (here its container crash-loops, so it never completes) up to
    --timeout, then fails the install and records the revision as failed."""
    from tests.support.node_kubelet import EveryImageKubelet

    class CrashingKubelet(EveryImageKubelet):
        def __init__(self, api: KubeApi) -> None:
            super().__init__(api, NS)
            self.crash = frozenset({"schema-check"})

    with KubeApi() as api, CrashingKubelet(api):
        fake_helm.switch("FAKE_HELM_KUBE_URL", api.url)
        done = subprocess.run(["helm", "upgrade", "demo", str(DEMO_CHART), "--install", "--timeout", "2s", "--namespace",
                               NS, "--values", "-"], input="{}", capture_output=True, text=True, timeout=120,
                              check=False, env=dict(os.environ))  # fmt: skip
        status = json.loads(subprocess.run(["helm", "status", "demo", "-n", NS, "-o", "json"], capture_output=True,
                                           text=True, timeout=60, check=True, env=dict(os.environ)).stdout)  # fmt: skip

    assert done.returncode == 1
    assert done.stderr == "Error: failed post-install: timed out waiting for the condition on jobs/demo-schema-check\n"
    assert status["info"]["status"] == "failed"
    assert status["info"]["description"].startswith('Release "demo" failed: failed post-install: timed out')
