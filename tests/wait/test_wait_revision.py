"""Which revision a pod belongs to (pure), on the objects the controllers really write.

Every case is built as the Deployment, StatefulSet and DaemonSet controllers leave a namespace:
ReplicaSets controlled by their Deployment (UID), labelled ``pod-template-hash`` and annotated with
their revision, pods controlled by their ReplicaSet; StatefulSet pods labelled with their
``controller-revision-hash``; DaemonSet pods with their ``pod-template-generation``.
"""

from __future__ import annotations

from typing import Any

import pytest

from envctl.workloads.revision import PodRevision, new_replica_set, pod_revision
from envctl.workloads.view import Listed, ReleaseView

LABELS = {"app.kubernetes.io/instance": "demo", "app.kubernetes.io/name": "api"}


def _wire(kind: str, obj: dict[str, Any]) -> dict[str, Any]:
    """``obj`` as the API sends a ``kind``: with its apiVersion and kind, and no null fields."""

    def drop_nulls(value: Any) -> Any:
        if isinstance(value, dict):
            return {key: drop_nulls(item) for key, item in value.items() if item is not None}
        return [drop_nulls(item) for item in value] if isinstance(value, list) else value

    group = {"Pod": "v1", "Job": "batch/v1"}.get(kind, "apps/v1")
    return {"apiVersion": group, "kind": kind, **drop_nulls(obj)}


def _owner(kind: str, name: str, *, controller: bool = True) -> dict[str, Any]:
    return {"apiVersion": "apps/v1", "kind": kind, "name": name, "uid": f"uid-{name}", "controller": controller}


def deployment(revision: int | None, *, generation: int = 2, observed: int | None = 2) -> dict[str, Any]:
    annotations = {"deployment.kubernetes.io/revision": str(revision)} if revision is not None else {}
    return _wire("Deployment", {
        "metadata": {"name": "demo-api", "uid": "uid-demo-api", "generation": generation, "annotations": annotations},
        "spec": {"selector": {"matchLabels": LABELS}, "template": {"metadata": {"labels": LABELS}}},
        "status": {"observedGeneration": observed} if observed is not None else None,
    })  # fmt: skip


def replica_set(hash_: str, revision: int, *, owner: str = "demo-api", created: str = "2026-01-01T00:00:00Z") -> dict[str, Any]:
    return _wire("ReplicaSet", {
        "metadata": {
            "name": f"demo-api-{hash_}", "uid": f"uid-demo-api-{hash_}", "creationTimestamp": created,
            "labels": {**LABELS, "pod-template-hash": hash_},
            "annotations": {"deployment.kubernetes.io/revision": str(revision)},
            "ownerReferences": [_owner("Deployment", owner)],
        },
        "spec": {"selector": {"matchLabels": {**LABELS, "pod-template-hash": hash_}}},
    })  # fmt: skip


def pod(owner_kind: str | None, owner: str | None = None, **labels: str) -> dict[str, Any]:
    refs = [_owner(owner_kind, owner or "")] if owner_kind else []
    return _wire("Pod",
        {"metadata": {"name": "p", "labels": {**LABELS, **labels}, "ownerReferences": refs}}
    )


def statefulset(update: str | None, *, generation: int = 4, observed: int = 4) -> dict[str, Any]:
    return _wire("StatefulSet", {
        "metadata": {"name": "demo-db", "uid": "uid-demo-db", "generation": generation},
        "spec": {"selector": {"matchLabels": LABELS}, "serviceName": "db", "template": {}},
        "status": {"replicas": 1, "observedGeneration": observed, "updateRevision": update,
                   "currentRevision": "demo-db-aaa"},
    })  # fmt: skip


def daemonset(template_generation: str | None) -> dict[str, Any]:
    annotations = {"deprecated.daemonset.template.generation": template_generation} if template_generation else {}
    return _wire("DaemonSet", {
        "metadata": {"name": "demo-agent", "uid": "uid-demo-agent", "annotations": annotations},
        "spec": {"selector": {"matchLabels": LABELS}, "template": {}},
    })  # fmt: skip


def job() -> dict[str, Any]:
    return _wire("Job",
        {"metadata": {"name": "demo-migrate", "uid": "uid-demo-migrate"}, "spec": {"template": {}}}
    )


OLD, NEW = replica_set("5b6f4", 1), replica_set("7c9d5", 2, created="2026-01-02T00:00:00Z")
BOTH = {"demo-api-5b6f4": OLD, "demo-api-7c9d5": NEW}


@pytest.mark.parametrize(
    ("the_pod", "workloads", "replica_sets", "verdict", "workload"),
    [
        pytest.param(pod("ReplicaSet", "demo-api-7c9d5", **{"pod-template-hash": "7c9d5"}),
                     {"Deployment": {"demo-api": deployment(2)}}, BOTH, "current", "Deployment/demo-api",
                     id="deployment-pod-of-the-current-replicaset"),
        pytest.param(pod("ReplicaSet", "demo-api-5b6f4", **{"pod-template-hash": "5b6f4"}),
                     {"Deployment": {"demo-api": deployment(2)}}, BOTH, "old", "Deployment/demo-api",
                     id="deployment-pod-of-the-previous-replicaset"),
        pytest.param(pod("ReplicaSet", "demo-api-5b6f4"),
                     {"Deployment": {"demo-api": deployment(1, generation=3, observed=2)}}, BOTH,
                     "unsettled", "Deployment/demo-api",
                     id="new-spec-not-observed-so-the-revision-annotation-is-stale"),
        pytest.param(pod("ReplicaSet", "demo-api-5b6f4"),
                     {"Deployment": {"demo-api": deployment(2, generation=1, observed=None)}}, BOTH,
                     "unsettled", "Deployment/demo-api", id="no-observed-generation-counts-as-zero"),
        pytest.param(pod("ReplicaSet", "demo-api-7c9d5"),
                     {"Deployment": {"demo-api": deployment(3)}}, BOTH, "unsettled", "Deployment/demo-api",
                     id="the-replicaset-of-the-deployments-revision-not-seen-yet"),
        pytest.param(pod("ReplicaSet", "demo-api-7c9d5"),
                     {"Deployment": {"demo-api": deployment(None)}}, BOTH, "unsettled", "Deployment/demo-api",
                     id="deployment-without-a-revision-yet"),
        pytest.param(pod("ReplicaSet", "demo-api-7c9d5"),
                     {"Deployment": {"demo-api": deployment(2)}}, {"demo-api-5b6f4": OLD}, "unsettled", None,
                     id="the-pods-replicaset-not-seen-yet"),
        pytest.param(pod("ReplicaSet", "demo-api-7c9d5"), {"Deployment": {}}, BOTH, "unsettled", None,
                     id="the-replicasets-deployment-not-seen-yet"),
        pytest.param(pod("ReplicaSet", "demo-api-7c9d5"),
                     {"Deployment": {"demo-api": deployment(2)}},
                     {"demo-api-5b6f4": OLD, "demo-api-7c9d5": replica_set("7c9d5", 2, owner="other")},
                     "unsettled", None, id="a-replicaset-another-deployment-controls-is-not-this-ones"),
        pytest.param(pod("ReplicaSet", "solo-1"), {"Deployment": {}},
                     {"solo-1": _wire("ReplicaSet",
                         {"metadata": {"name": "solo-1", "uid": "uid-solo-1"}, "spec": {"selector": {}}})},
                     "current", "ReplicaSet/solo-1", id="a-replicaset-of-its-own"),
        pytest.param(pod(None), {}, {}, "unowned", None, id="a-bare-pod"),
        pytest.param(pod("StatefulSet", "demo-db", **{"controller-revision-hash": "demo-db-bbb"}),
                     {"StatefulSet": {"demo-db": statefulset("demo-db-bbb")}}, {}, "current", "StatefulSet/demo-db",
                     id="statefulset-pod-at-the-update-revision"),
        pytest.param(pod("StatefulSet", "demo-db", **{"controller-revision-hash": "demo-db-aaa"}),
                     {"StatefulSet": {"demo-db": statefulset("demo-db-bbb")}}, {}, "old", "StatefulSet/demo-db",
                     id="statefulset-pod-at-the-previous-revision"),
        pytest.param(pod("StatefulSet", "demo-db", **{"controller-revision-hash": "demo-db-aaa"}),
                     {"StatefulSet": {"demo-db": statefulset("demo-db-aaa", generation=5)}}, {}, "unsettled",
                     "StatefulSet/demo-db", id="statefulset-new-spec-not-observed"),
        pytest.param(pod("StatefulSet", "demo-db"), {"StatefulSet": {"demo-db": statefulset(None)}}, {},
                     "unsettled", "StatefulSet/demo-db", id="statefulset-without-an-update-revision"),
        pytest.param(pod("DaemonSet", "demo-agent", **{"pod-template-generation": "3"}),
                     {"DaemonSet": {"demo-agent": daemonset("3")}}, {}, "current", "DaemonSet/demo-agent",
                     id="daemonset-pod-of-the-current-template-generation"),
        pytest.param(pod("DaemonSet", "demo-agent", **{"pod-template-generation": "2"}),
                     {"DaemonSet": {"demo-agent": daemonset("3")}}, {}, "old", "DaemonSet/demo-agent",
                     id="daemonset-pod-of-an-earlier-template-generation"),
        pytest.param(pod("Job", "demo-migrate"), {"Job": {"demo-migrate": job()}}, {}, "current", "Job/demo-migrate",
                     id="job-pod"),
        pytest.param(pod("Job", "demo-migrate"), {"Job": {}}, {}, "unsettled", None,
                     id="controller-not-among-the-releases-workloads"),
        pytest.param(pod("Rollout", "demo-api"), {"Deployment": {"demo-api": deployment(2)}}, BOTH, "unowned", None,
                     id="an-operators-kind-keeps-no-revisions-envctl-reads"),
    ],
)  # fmt: skip
def test_pod_revision(
    the_pod: Any, workloads: dict[str, dict[str, Any]], replica_sets: dict[str, Any], verdict: str, workload: str | None
) -> None:
    placed = pod_revision(the_pod, workloads, replica_sets)
    assert (placed.verdict, placed.workload) == (verdict, workload), placed.why


def test_an_owner_reference_that_is_not_the_controller_places_nothing() -> None:
    the_pod = _wire("Pod",
        {"metadata": {"name": "p", "ownerReferences": [_owner("ReplicaSet", "demo-api-7c9d5", controller=False)]}}
    )
    assert pod_revision(the_pod, {"Deployment": {"demo-api": deployment(2)}}, BOTH) == PodRevision(
        "unowned", None, "no controller"
    )


def test_an_owner_with_the_same_name_but_another_uid_is_not_the_controller() -> None:
    """A Deployment deleted and re-created under the same name: its old ReplicaSets are orphans."""
    recreated = deployment(2)
    recreated["metadata"]["uid"] = "uid-demo-api-recreated"
    placed = pod_revision(pod("ReplicaSet", "demo-api-7c9d5"), {"Deployment": {"demo-api": recreated}}, BOTH)
    assert placed.verdict == "unsettled"


def test_of_two_replicasets_at_the_deployments_revision_the_oldest_is_the_new_one() -> None:
    """kubernetes#40415: after some cluster upgrades two ReplicaSets share a template; kubectl picks the oldest."""
    older = replica_set("aaaaa", 2, created="2026-01-01T00:00:00Z")
    newer = replica_set("bbbbb", 2, created="2026-01-03T00:00:00Z")
    assert new_replica_set(deployment(2), [newer, OLD, older]) is older


def crash_looping(name: str, replica_set_name: str) -> dict[str, Any]:
    """A pod of ``replica_set_name`` whose container is in CrashLoopBackOff."""
    hash_ = replica_set_name.rsplit("-", 1)[1]
    return _wire("Pod", {
        "metadata": {"name": name, "labels": {**LABELS, "pod-template-hash": hash_},
                     "ownerReferences": [_owner("ReplicaSet", replica_set_name)]},
        "status": {"phase": "Running", "containerStatuses": [{
            "name": "api", "image": "api:1", "imageID": "", "ready": False, "restartCount": 3,
            "state": {"waiting": {"reason": "CrashLoopBackOff"}}}]},
    })  # fmt: skip


def _view(*pods: Any, the_deployment: Any = None) -> ReleaseView:
    view = ReleaseView()
    view.apply(Listed("Deployment", (the_deployment or deployment(2),)))
    view.apply(Listed("ReplicaSet", (OLD, NEW)))
    view.apply(Listed("Pod", pods))
    return view


def test_the_release_view_judges_only_the_current_revisions_pods() -> None:
    old, new = crash_looping("demo-api-5b6f4-x", "demo-api-5b6f4"), crash_looping("demo-api-7c9d5-y", "demo-api-7c9d5")
    graces = {"none": 0.0, "pull": 10.0, "unschedulable": 60.0}

    assert _view(old).fatal_problem(0.0, graces) is None  # the earlier revision, on its way out
    problem = _view(old, new).fatal_problem(0.0, graces)
    assert problem is not None and problem.pod == "demo-api-7c9d5-y"
    unobserved = deployment(1, generation=3, observed=2)  # the new template not taken in yet
    assert _view(old, new, the_deployment=unobserved).fatal_problem(0.0, graces) is None
    view = _view(old, new)
    assert view.owner_of(old) == "Deployment/demo-api"
    assert [p["metadata"]["name"] for p in view.pods_of(deployment(2))] == ["demo-api-7c9d5-y"]
    assert [p["metadata"]["name"] for p in view.old_pods_of(deployment(2))] == ["demo-api-5b6f4-x"]
