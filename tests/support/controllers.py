"""The Deployment and ReplicaSet controllers' part of a cluster, for the test API.

What envctl's waiter reads about a rollout is written by these controllers (docs/tools-behaviour.md,
"Revisions"), so tests of the wait run on the same objects a real cluster has:

* a Deployment whose pod template has no ReplicaSet yet gets one, ``<deployment>-<hash>``,
  labelled ``pod-template-hash: <hash>`` (as its pod template), annotated
  ``deployment.kubernetes.io/revision`` with the next revision and controlled by the Deployment
  (owner reference with its UID); a template that returns to an older ReplicaSet's (a rollback)
  gives that one the next revision. The Deployment's own revision annotation follows, *then* its
  ``status.observedGeneration``: that order is what lets a reader trust the annotation.
* each ReplicaSet keeps ``spec.replicas`` pods, ``<replicaset>-<5 characters>``, labelled and
  controlled by it, made from its template (Pending until a kubelet runs them);
* a rolling update with one replica's defaults (maxSurge 1, maxUnavailable 0): the earlier
  ReplicaSets keep their pods until every pod of the new one is Ready, then are scaled to 0 and
  their pods deleted;
* statuses as the controllers write them: ReplicaSet replicas/ready/available, Deployment
  replicas (all revisions), updatedReplicas (the new ReplicaSet's), ready/available/unavailable.

Running pods is the kubelet's part, not this module's: a pod is available once its ``Ready``
condition is True (minReadySeconds 0). UIDs and ``metadata.generation`` are the API server's part:
use ``KubeApi(emulator=ServerSideEmulator)``. The controller reconciles in a thread after every write
the API handles (``KubeApi.changes``; or call ``reconcile()``); ``settle(predicate)`` waits for a pass
after which the predicate holds, the barrier a test uses instead of sleeping.
"""

from __future__ import annotations

import hashlib
import json
import threading
import urllib.error
import urllib.request
from collections.abc import Callable
from typing import Any, Self

from tests.support.kube_api import KubeApi
from tests.support.kubelet import REVISION, template_hash

__all__ = ["DeploymentController"]

HASH_LABEL = "pod-template-hash"
_SAFE = "bcdfghjklmnpqrstvwxz2456789"  # rand.SafeEncodeString's alphabet, for pod name suffixes


def _suffix(seed: str) -> str:
    digest = hashlib.sha256(seed.encode()).digest()
    return "".join(_SAFE[b % len(_SAFE)] for b in digest[:5])


def _revision(obj: dict[str, Any]) -> int:
    try:
        return int((obj["metadata"].get("annotations") or {}).get(REVISION, "0"))
    except ValueError:
        return 0


def _controlled_by(obj: dict[str, Any], owner: dict[str, Any]) -> bool:
    uid = owner["metadata"].get("uid")
    return uid is not None and any(
        ref.get("controller") and ref.get("uid") == uid for ref in obj["metadata"].get("ownerReferences") or ()
    )


def _owner(obj: dict[str, Any]) -> dict[str, Any]:
    meta = obj["metadata"]
    return {"apiVersion": obj.get("apiVersion", "apps/v1"), "kind": obj["kind"], "name": meta["name"],
            "uid": meta["uid"], "controller": True, "blockOwnerDeletion": True}  # fmt: skip


def _active(pod: dict[str, Any]) -> bool:
    return not pod["metadata"].get("deletionTimestamp") and (pod.get("status") or {}).get("phase") not in {
        "Succeeded",
        "Failed",
    }


def _ready(pod: dict[str, Any]) -> bool:
    conditions = (pod.get("status") or {}).get("conditions") or ()
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)


def _differs(current: Any, wanted: dict[str, Any]) -> bool:
    """Whether writing ``wanted`` would change ``current`` (so a pass that changes nothing writes nothing)."""
    current = current or {}
    return any(current.get(key) != value for key, value in wanted.items())


class DeploymentController:
    """Reconciles the Deployments of ``namespace`` in the test API; use as a context manager."""

    def __init__(self, api: KubeApi, namespace: str) -> None:
        self.api, self.namespace = api, namespace
        self.errors: list[BaseException] = []
        self._stop = threading.Event()
        self._passes = threading.Condition()
        self._thread = threading.Thread(target=self._loop, daemon=True, name="deployment-controller")

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self.api.changes.wake()
        self._thread.join(10)
        if self.errors and exc[0] is None:
            raise self.errors[0]

    def settle(self, predicate: Callable[[], bool], timeout: float = 60) -> bool:
        """Block until a reconcile pass has ended with ``predicate()`` true (``timeout`` bounds a hang)."""
        with self._passes:
            return self._passes.wait_for(lambda: bool(self.errors) or predicate(), timeout) and not self.errors

    # --- reading -------------------------------------------------------------------------------------
    def _list(self, plural: str) -> list[dict[str, Any]]:
        prefix = "/api/v1" if plural == "pods" else "/apis/apps/v1"
        with urllib.request.urlopen(f"{self.api.url}{prefix}/namespaces/{self.namespace}/{plural}", timeout=60) as resp:
            return json.loads(resp.read()).get("items") or []

    def replica_sets(self, deployment: str) -> list[dict[str, Any]]:
        """The ReplicaSets ``deployment`` controls, oldest revision first."""
        owner = self.api.get("apps/v1/deployments", self.namespace, deployment)
        owned = [rs for rs in self._list("replicasets") if _controlled_by(rs, owner)]
        return sorted(owned, key=_revision)

    def pods(self, deployment: str, *, current: bool = True) -> list[str]:
        """The names of the pods of ``deployment``'s current ReplicaSet (``current=False``: of the earlier ones)."""
        sets = self.replica_sets(deployment)
        wanted = sets[-1:] if current else sets[:-1]
        return sorted(pod["metadata"]["name"] for pod in self._list("pods")
                      if _active(pod) and any(_controlled_by(pod, rs) for rs in wanted))  # fmt: skip

    # --- reconciling ---------------------------------------------------------------------------------
    def _loop(self) -> None:
        while not self._stop.is_set():
            seen = self.api.changes.count  # read before the pass: a write during it means another pass
            try:
                self.reconcile()
            except (urllib.error.URLError, OSError, KeyError, ValueError) as exc:
                self.errors.append(exc)
            with self._passes:
                self._passes.notify_all()
            if self.errors:
                return
            self.api.changes.wait(seen, self._stop)

    def reconcile(self) -> None:
        """One pass over every Deployment of the namespace."""
        replica_sets = self._list("replicasets")
        pods = self._list("pods")
        for deployment in self._list("deployments"):
            self._sync(deployment, replica_sets, pods)

    def _sync(self, deployment: dict[str, Any], replica_sets: list[dict[str, Any]], pods: list[dict[str, Any]]) -> None:
        meta = deployment["metadata"]
        if not meta.get("uid"):
            return  # not one the API server made (no UID to own by)
        desired = deployment["spec"].get("replicas", 1)
        template = deployment["spec"]["template"]
        owned = [rs for rs in replica_sets if _controlled_by(rs, deployment)]
        new = self._new_replica_set(deployment, owned, template, desired)
        if _revision(deployment) != _revision(new):
            self.api.patch("apps/v1/deployments", self.namespace, meta["name"],
                           {"metadata": {"annotations": {REVISION: str(_revision(new))}}})  # fmt: skip
        old = [rs for rs in owned if rs["metadata"]["name"] != new["metadata"]["name"]]
        new_pods = self._scale(new, desired, pods)
        if len(new_pods) >= desired and all(_ready(pod) for pod in new_pods):
            for rs in old:  # the new revision is available: the earlier ones go
                if rs["spec"].get("replicas", 1) != 0:
                    self.api.patch("apps/v1/replicasets", self.namespace, rs["metadata"]["name"], {"spec": {"replicas": 0}})
                    rs["spec"]["replicas"] = 0
        old_pods = [pod for rs in old for pod in self._scale(rs, rs["spec"].get("replicas", 1), pods)]
        every = new_pods + old_pods
        available = sum(1 for pod in every if _ready(pod))
        status = {
            "observedGeneration": meta.get("generation", 1), "replicas": len(every), "updatedReplicas": len(new_pods),
            "readyReplicas": available, "availableReplicas": available, "unavailableReplicas": max(0, len(every) - available),
        }  # fmt: skip
        if _differs(deployment.get("status"), status):
            self.api.patch_status("apps/v1/deployments", self.namespace, meta["name"], status)

    def _new_replica_set(
        self, deployment: dict[str, Any], owned: list[dict[str, Any]], template: dict[str, Any], desired: int
    ) -> dict[str, Any]:
        """The ReplicaSet of the Deployment's template, made (or, for a rollback, promoted) as the
        newest revision."""
        hash_ = template_hash(template)
        newest = max((_revision(rs) for rs in owned), default=0)
        found = next((rs for rs in owned if (rs["metadata"].get("labels") or {}).get(HASH_LABEL) == hash_), None)
        if found is not None:
            if _revision(found) < newest:
                found = self.api.patch("apps/v1/replicasets", self.namespace, found["metadata"]["name"],
                                       {"metadata": {"annotations": {REVISION: str(newest + 1)}},
                                        "spec": {"replicas": desired}})  # fmt: skip
            return found
        labels = {**(template.get("metadata", {}).get("labels") or {}), HASH_LABEL: hash_}
        selector = {**(deployment["spec"].get("selector", {}).get("matchLabels") or {}), HASH_LABEL: hash_}
        name = f"{deployment['metadata']['name']}-{hash_}"
        body = {
            "apiVersion": "apps/v1", "kind": "ReplicaSet",
            "metadata": {"name": name, "namespace": self.namespace, "labels": labels,
                         "annotations": {REVISION: str(newest + 1)}, "ownerReferences": [_owner(deployment)]},
            "spec": {"replicas": desired, "selector": {"matchLabels": selector},
                     "template": {**template, "metadata": {**template.get("metadata", {}), "labels": labels}}},
        }  # fmt: skip
        created: dict[str, Any] = self.api.create("apps/v1/replicasets", body)
        return created

    def _scale(self, rs: dict[str, Any], replicas: int, pods: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """The ReplicaSet controller: ``replicas`` active pods of ``rs`` (made or deleted); returns them."""
        mine = [pod for pod in pods if _controlled_by(pod, rs) and _active(pod)]
        name = rs["metadata"]["name"]
        index = len([pod for pod in pods if _controlled_by(pod, rs)])
        while len(mine) < replicas:
            pod_name = f"{name}-{_suffix(f'{name}/{index}')}"
            index += 1
            template = rs["spec"]["template"]
            mine.append(self.api.create("v1/pods", {
                "apiVersion": "v1", "kind": "Pod",
                "metadata": {"name": pod_name, "namespace": self.namespace,
                             "labels": template["metadata"]["labels"], "ownerReferences": [_owner(rs)]},
                "spec": template.get("spec") or {},
                "status": {"phase": "Pending", "conditions": [{"type": "PodScheduled", "status": "True"}]},
            }))  # fmt: skip
        for pod in mine[replicas:]:
            self.api.delete("v1/pods", self.namespace, pod["metadata"]["name"])
        mine = mine[:replicas]
        ready = sum(1 for pod in mine if _ready(pod))
        status = {"observedGeneration": rs["metadata"].get("generation", 1), "replicas": len(mine),
                  "readyReplicas": ready, "availableReplicas": ready}  # fmt: skip
        if _differs(rs.get("status"), status):
            self.api.patch_status("apps/v1/replicasets", self.namespace, name, status)
        return mine
