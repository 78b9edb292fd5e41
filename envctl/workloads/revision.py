"""Which revision a pod belongs to, told the way the controllers tell it: pure functions over API objects.

A rollout leaves the previous revision's pods running until the new ones are available, so the
waiter must judge only the pods of the revision it waits for. Comparing pod specs with the
workload's template cannot do that (an env-only or ConfigMap-checksum change keeps images, command
and args), so the pods are placed by what the controllers write on them (docs/tools-behaviour.md,
"Revisions"):

* Deployment: its current ReplicaSet is the one it controls whose ``deployment.kubernetes.io/revision``
  annotation equals its own, once ``status.observedGeneration`` has caught up with
  ``metadata.generation`` (before that the annotation still names the previous ReplicaSet); a pod
  is current when that ReplicaSet controls it.
* StatefulSet: a pod is current when its ``controller-revision-hash`` label equals
  ``status.updateRevision`` (again once the generation is observed).
* DaemonSet: a pod is current when its ``pod-template-generation`` label equals the DaemonSet's
  ``deprecated.daemonset.template.generation`` annotation.
* Job: a Job's pod template cannot change, so all its pods are current.

"Controls" is the controller owner reference, matched by UID as the API machinery does.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Literal

from envctl.workloads.wire import KubeObject, annotations_of, entries, labels_of, name, number, text

__all__ = [
    "CONTROLLER_REVISION_HASH",
    "DAEMONSET_TEMPLATE_GENERATION",
    "POD_TEMPLATE_GENERATION",
    "POD_TEMPLATE_HASH",
    "REVISION_ANNOTATION",
    "PodRevision",
    "Verdict",
    "controller_of",
    "generation_observed",
    "new_replica_set",
    "pod_revision",
]

REVISION_ANNOTATION = "deployment.kubernetes.io/revision"
POD_TEMPLATE_HASH = "pod-template-hash"
CONTROLLER_REVISION_HASH = "controller-revision-hash"
POD_TEMPLATE_GENERATION = "pod-template-generation"
DAEMONSET_TEMPLATE_GENERATION = "deprecated.daemonset.template.generation"

_PLACED_KINDS = frozenset({"Deployment", "StatefulSet", "DaemonSet", "Job"})

# current: a pod of the revision being rolled out, to be judged; old: an earlier revision's, on its
# way out; unsettled: the controller has not yet shown which revision is current (judge it later);
# unowned: no workload kind envctl follows controls it (a bare Pod the chart renders, an operator's
# pod): judged as it is.
Verdict = Literal["current", "old", "unsettled", "unowned"]


@dataclass(frozen=True)
class PodRevision:
    """Where a pod stands: its verdict and the workload that controls it (``Kind/name``), if any."""

    verdict: Verdict
    workload: str | None
    why: str


def controller_of(obj: KubeObject) -> KubeObject | None:
    """The owner reference with ``controller: true`` (at most one exists), or None."""
    return next((ref for ref in entries(obj, "metadata", "ownerReferences") if ref.get("controller")), None)


def _controlled_by(obj: KubeObject, owner: KubeObject) -> bool:
    ref = controller_of(obj)
    owner_uid = text(owner, "metadata", "uid")
    return ref is not None and owner_uid is not None and ref.get("uid") == owner_uid


def generation_observed(workload: KubeObject) -> bool:
    """Whether the controller has seen the workload's latest spec (``kubectl rollout status``'s
    first test: ``metadata.generation <= status.observedGeneration``, a missing one counting as 0)."""
    generation = number(workload, "metadata", "generation") or 0
    observed = number(workload, "status", "observedGeneration") or 0
    return generation <= observed


def _revision_number(obj: KubeObject) -> int | None:
    raw = annotations_of(obj).get(REVISION_ANNOTATION)
    try:
        return int(raw) if raw is not None else None
    except ValueError:
        return None


def _created(obj: KubeObject) -> tuple[str, str]:
    """Sort key: creation time (RFC 3339 in UTC, whole seconds, as the API writes it: the text
    sorts as the time does), then name."""
    return (text(obj, "metadata", "creationTimestamp") or "", name(obj))


def new_replica_set(deployment: KubeObject, replica_sets: Iterable[KubeObject]) -> KubeObject | None:
    """The Deployment's current ReplicaSet, or None while the controller has not settled on one.

    Among the ReplicaSets the Deployment controls, the one whose revision annotation equals the
    Deployment's; should several (kubernetes#40415), the oldest, as kubectl's FindNewReplicaSet
    chooses (creation time, then name).
    """
    if not generation_observed(deployment):
        return None
    revision = _revision_number(deployment)
    if revision is None:
        return None
    matching = [rs for rs in replica_sets if _controlled_by(rs, deployment) and _revision_number(rs) == revision]
    return min(matching, key=_created, default=None)


def pod_revision(
    pod: KubeObject, workloads: Mapping[str, Mapping[str, KubeObject]], replica_sets: Mapping[str, KubeObject]
) -> PodRevision:
    """Where ``pod`` stands among its workload's revisions.

    ``workloads`` maps a kind (Deployment, StatefulSet, DaemonSet, Job) to the release's objects of
    that kind by name; ``replica_sets`` the release's ReplicaSets by name.
    """
    ref = controller_of(pod)
    if ref is None:
        return PodRevision("unowned", None, "no controller")
    kind, owner_name = text(ref, "kind") or "", text(ref, "name") or ""
    if kind == "ReplicaSet":
        return _replica_set_pod(pod, owner_name, workloads.get("Deployment", {}), replica_sets)
    if kind not in _PLACED_KINDS:
        # An operator's own kind: envctl reads no revisions of it, so nothing can call its pods old.
        return PodRevision("unowned", None, f"its controller {kind}/{owner_name} is of a kind envctl does not follow")
    owner = workloads.get(kind, {}).get(owner_name)
    label = f"{kind}/{owner_name}"
    if owner is None or not _controlled_by(pod, owner):
        # A workload kind the release's selector did not list (or a stale reference): not ours to judge.
        return PodRevision("unsettled", None, f"its controller {label} is not one of the release's workloads")
    if kind == "Job":
        return PodRevision("current", label, "a Job's pod template cannot change")
    if kind == "StatefulSet":
        return _statefulset_pod(pod, owner, label)
    if kind == "DaemonSet":
        return _daemonset_pod(pod, owner, label)
    return PodRevision("unsettled", label, f"pods of a {kind} are not placed in revisions")


def _replica_set_pod(
    pod: KubeObject, owner: str, deployments: Mapping[str, KubeObject], replica_sets: Mapping[str, KubeObject]
) -> PodRevision:
    replica_set = replica_sets.get(owner)
    if replica_set is None or not _controlled_by(pod, replica_set):
        return PodRevision("unsettled", None, f"its ReplicaSet {owner} has not been seen yet")
    rs_ref = controller_of(replica_set)
    if rs_ref is None or rs_ref.get("kind") != "Deployment":
        return PodRevision("current", f"ReplicaSet/{owner}", "a ReplicaSet of its own")
    deployment_name = text(rs_ref, "name") or ""
    deployment = deployments.get(deployment_name)
    if deployment is None or not _controlled_by(replica_set, deployment):
        return PodRevision("unsettled", None, f"its Deployment {deployment_name} has not been seen yet")
    label = f"Deployment/{deployment_name}"
    newest = new_replica_set(deployment, replica_sets.values())
    if newest is None:
        return PodRevision("unsettled", label, "the Deployment's current ReplicaSet is not known yet")
    if name(newest) == owner:
        return PodRevision("current", label, f"ReplicaSet {owner} is the current revision")
    return PodRevision("old", label, f"ReplicaSet {owner} is an earlier revision than {name(newest)}")


def _statefulset_pod(pod: KubeObject, statefulset: KubeObject, label: str) -> PodRevision:
    update = text(statefulset, "status", "updateRevision")
    if not generation_observed(statefulset) or not update:
        return PodRevision("unsettled", label, "the StatefulSet's update revision is not known yet")
    mine = labels_of(pod).get(CONTROLLER_REVISION_HASH)
    if mine == update:
        return PodRevision("current", label, f"revision {update}")
    return PodRevision("old", label, f"revision {mine} is not the update revision {update}")


def _daemonset_pod(pod: KubeObject, daemonset: KubeObject, label: str) -> PodRevision:
    wanted = annotations_of(daemonset).get(DAEMONSET_TEMPLATE_GENERATION)
    if wanted is None:
        return PodRevision("unsettled", label, "the DaemonSet's template generation is not known")
    mine = labels_of(pod).get(POD_TEMPLATE_GENERATION)
    if mine == wanted:
        return PodRevision("current", label, f"template generation {wanted}")
    return PodRevision("old", label, f"template generation {mine} is not {wanted}")
