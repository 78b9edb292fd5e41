"""The waiter against an emulated API over real HTTP: concurrent readiness, other releases, 410, cancel."""

from __future__ import annotations

import threading
import time

import kmock
import pytest

from envctl.errors import ClusterError
from envctl.scheduler import Cancelled
from tests.support.kube_api import KubeApi
from tests.support.kubelet import Kubelet
from tests.wait.conftest import Waiter


def test_every_kind_is_waited_on_concurrently_so_the_total_is_the_slowest(
    kubelet: Kubelet, wait: Waiter
) -> None:
    delays = {"DaemonSet": 0.2, "Deployment": 0.4, "StatefulSet": 0.6, "Job": 0.8}
    workloads = [
        kubelet.daemonset("agent"),
        kubelet.deployment("api", replicas=2),
        kubelet.statefulset("db"),
        kubelet.job("migrate"),
    ]
    for workload in workloads:
        kubelet.later(delays[workload.kind], kubelet.ready, workload)

    started = time.monotonic()
    result = wait()
    took = time.monotonic() - started

    assert took >= 0.8 - 0.1  # it waited for the slowest (an upper bound would time the machine)
    assert {(w.kind, w.name, w.outcome) for w in result.workloads} == {
        ("DaemonSet", "demo-agent", "ready"),
        ("Deployment", "demo-api", "ready"),
        ("StatefulSet", "demo-db", "ready"),
        ("Job", "demo-migrate", "ready"),
    }
    ready_at = {w.kind: w.ready_at for w in result.workloads}
    for kind, delay in delays.items():
        assert ready_at[kind] is not None
        assert ready_at[kind] >= delay - 0.1, kind
    assert sorted(ready_at, key=lambda kind: ready_at[kind]) == list(delays)
    # One "wait" span per workload, ending when it was seen ready, named after its service.
    spans = {s.service: s for s in wait.recorder.spans()}
    assert set(spans) == {"agent", "api", "db", "migrate"}
    assert all(s.kind == "wait" and s.outcome == "ok" for s in spans.values())
    assert spans["migrate"].seconds == pytest.approx(ready_at["Job"], abs=1e-3)
    assert spans["api"].attrs == {
        "workload": "Deployment/demo-api",
        "ready_at": round(ready_at["Deployment"], 6),
    }
    assert [subject for subject, _ in wait.progress.steps] == [
        "DaemonSet/demo-agent",
        "Deployment/demo-api",
        "StatefulSet/demo-db",
        "Job/demo-migrate",
    ]


def test_workloads_already_ready_are_confirmed_at_once(kubelet: Kubelet, wait: Waiter) -> None:
    kubelet.ready(kubelet.deployment("api"))
    result = wait(timeout=300)
    # no event needed: judged on the first lists (nothing else could end it before the deadline)
    assert result.seconds < 300
    assert [(w.name, w.outcome, w.state) for w in result.workloads] == [
        ("demo-api", "ready", "1/1 available, 1 updated")
    ]


def test_another_release_in_the_namespace_is_ignored(kubelet: Kubelet, wait: Waiter) -> None:
    ours = kubelet.deployment("api")
    theirs = kubelet.deployment("api", release="other")
    kubelet.crash_loop(theirs.pods[0])  # would fail the wait if it were counted as ours
    kubelet.later(0.2, kubelet.ready, ours)

    result = wait()

    assert [(w.name, w.outcome) for w in result.workloads] == [("demo-api", "ready")]


def test_a_410_on_a_watch_leads_to_a_relist_and_the_wait_still_succeeds(
    kube_api: KubeApi, kubelet: Kubelet, wait: Waiter
) -> None:
    api = kubelet.deployment("api")
    gone = {
        "type": "ERROR",
        "object": {
            "kind": "Status",
            "apiVersion": "v1",
            "status": "Failure",
            "code": 410,
            "reason": "Expired",
            "message": "too old resource version: 1 (42)",
        },
    }

    async def expire_first_watches() -> None:
        for resource in ("watch apps/v1/deployments", "watch v1/pods"):
            kube_api.emulator[resource, kmock.namespace(kubelet.namespace)][:1] << (gone,)

    kube_api.run(expire_first_watches())
    kubelet.later(0.3, kubelet.ready, api)

    result = wait(timeout=300)  # a hang bound, not a margin: readiness is what ends it

    assert [(w.name, w.outcome) for w in result.workloads] == [("demo-api", "ready")]
    deployment_reads = [
        ("watch=true" in str(r.url))
        for r in kube_api.emulator
        if r.method == "GET" and f"/namespaces/{kubelet.namespace}/deployments" in str(r.url)
    ]
    assert deployment_reads[:4] == [False, True, False, True], "list, watch (410), list again, watch again"


def test_a_release_without_workloads_is_ready_at_once(kubelet: Kubelet, wait: Waiter) -> None:
    result = wait()
    assert result.workloads == ()
    assert wait.progress.steps == [
        ("demo", f"no workloads labelled app.kubernetes.io/instance=demo in {kubelet.namespace}")
    ]


def test_cancel_event_stops_the_wait_early(kubelet: Kubelet, wait: Waiter) -> None:
    kubelet.deployment("api")  # never becomes ready
    cancel = threading.Event()
    threading.Timer(0.3, cancel.set).start()

    with pytest.raises(Cancelled):  # the deadline (300 s) would raise another error
        wait(timeout=300, cancel_event=cancel)

    assert [(s.name, s.outcome) for s in wait.recorder.spans()] == [("wait Deployment/demo-api", "cancelled")]


@pytest.mark.parametrize(
    ("resource", "kind", "can_i"),
    [("v1/pods", "Pods", "pods"), ("apps/v1/replicasets", "ReplicaSets", "replicasets.apps")],
)
def test_a_refused_watch_is_reported_as_a_cluster_error(
    kube_api: KubeApi, kubelet: Kubelet, wait: Waiter, resource: str, kind: str, can_i: str
) -> None:
    kubelet.deployment("api")
    plural = resource.rsplit("/", 1)[1]
    forbidden = {
        "kind": "Status",
        "apiVersion": "v1",
        "status": "Failure",
        "code": 403,
        "reason": "Forbidden",
        "message": f'{plural} is forbidden: User "dev" cannot list resource "{plural}"',
    }

    async def forbid() -> None:
        kube_api.emulator[f"list {resource}", kmock.namespace(kubelet.namespace)] << 403 << forbidden

    kube_api.run(forbid())

    with pytest.raises(ClusterError) as caught:
        wait(timeout=300)  # the refusal ends it, never the deadline

    assert caught.value.message == (
        f"cannot list/watch {kind} in namespace {kubelet.namespace}: "
        f'403 Forbidden: {plural} is forbidden: User "dev" cannot list resource "{plural}"'
    )
    assert f"kubectl auth can-i watch {can_i} -n {kubelet.namespace}" in (caught.value.hint or "")


def test_a_crashing_pod_of_the_previous_revision_does_not_fail_the_rollout_that_fixes_it(
    kubelet: Kubelet, wait: Waiter
) -> None:
    api = kubelet.deployment("api")
    kubelet.crash_loop(api.pods[0])  # the broken build, still crashing
    kubelet.rollout(api, image="envctl-test/api:fedcba987654")
    kubelet.later(0.3, kubelet.ready, api)  # the fix is available; the old revision is scaled down

    result = wait()

    assert [(w.name, w.outcome) for w in result.workloads] == [("demo-api", "ready")]
