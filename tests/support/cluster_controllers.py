"""The cluster's controllers for one namespace of a ``KubeApi``: what kube-controller-manager does with
the objects `helm upgrade` applies, so the waiter meets the objects a real cluster has.

* **Deployment, ReplicaSet**: ``controllers.DeploymentController`` (a ReplicaSet per pod template,
  ``pod-template-hash``, revision annotation, owner references by UID, the old ReplicaSet scaled down
  once the new one is available).
* **StatefulSet** → ``updateRevision`` ``<name>-<hash>``; pods ``<name>-<ordinal>`` labelled
  ``controller-revision-hash``; a pod of another revision is replaced (highest ordinal first) once the
  others are ready; ``currentRevision`` follows when every pod is updated.
* **Job** → one pod ``<job>-<5 chars>`` at a time (labels ``job-name``, ``controller-uid``), a new one
  after a failure until ``backoffLimit`` (default 6) failures: condition ``Failed``/``BackoffLimitExceeded``;
  a Succeeded pod: ``succeeded`` and condition ``Complete``.
* **Garbage collector** → a ReplicaSet or pod whose controller (by UID) is gone is deleted (helm
  deletes a Deployment or Job with background propagation: its dependents go afterwards).

Pods are created Pending; a kubelet stand-in (``node_kubelet.py``) runs them or not. ``step()`` is one
pass; ``with Controllers(api, ns):`` runs passes on a thread until the block ends: a pass after every
write the API handles (``KubeApi.changes``; nothing here depends on time passing), a pass that wrote
something followed at once by the next. Facts in docs/tools-behaviour.md, "Revisions".
"""

from __future__ import annotations

import json
import threading
import urllib.error
import urllib.request
from typing import Any, Self

from tests.support.controllers import DeploymentController, _suffix
from tests.support.kube_api import KubeApi
from tests.support.kubelet import template_hash

__all__ = ["REVISION_HASH_LABEL", "Controllers"]

REVISION_HASH_LABEL = "controller-revision-hash"
_APPS = "/apis/apps/v1/namespaces/{ns}"
_CORE = "/api/v1/namespaces/{ns}"
_BATCH = "/apis/batch/v1/namespaces/{ns}"
_RACES = (404, 409)  # deleted meanwhile / made meanwhile: the next pass sees how things are


def _owner(obj: dict[str, Any]) -> dict[str, Any]:
    return {"apiVersion": obj["apiVersion"], "kind": obj["kind"], "name": obj["metadata"]["name"],
            "uid": obj["metadata"]["uid"], "controller": True, "blockOwnerDeletion": True}  # fmt: skip


def _controller_uid(obj: dict[str, Any]) -> str | None:
    refs = obj.get("metadata", {}).get("ownerReferences") or []
    return next((ref.get("uid") for ref in refs if ref.get("controller")), None)


def _ready(pod: dict[str, Any]) -> bool:
    conditions = (pod.get("status") or {}).get("conditions") or []
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)


def _phase(pod: dict[str, Any]) -> str:
    return str((pod.get("status") or {}).get("phase") or "Pending")


class Controllers:
    def __init__(self, api: KubeApi, namespace: str) -> None:
        self.api, self.namespace = api, namespace
        self.errors: list[BaseException] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True, name="controllers")
        self._made = 0  # pods made so far, to name them uniquely
        self._writes = 0  # writes of the current pass
        self._deployments = DeploymentController(api, namespace)  # its reconcile(), driven from here

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self.api.changes.wake()
        self._thread.join(10)

    def _loop(self) -> None:
        while not self._stop.is_set():
            seen = self.api.changes.count  # read before the pass: a write during it means another pass
            # A pass that wrote something (or lost a race) is followed at once by the next (a new
            # ReplicaSet's pods, a finished Job's status); otherwise the next waits for a change.
            self._writes = 0
            try:
                self.step()
            except (urllib.error.URLError, OSError, KeyError) as exc:
                self.errors.append(exc)
            if not self._writes:
                self.api.changes.wait(seen, self._stop)

    # --- HTTP ------------------------------------------------------------------------------------
    def _request(self, method: str, path: str, body: Any = None) -> Any:
        data = None if body is None else json.dumps(body).encode()
        self._writes += method != "GET"
        req = urllib.request.Request(self.api.url + path.format(ns=self.namespace), data=data, method=method)
        req.add_header("Content-Type", "application/merge-patch+json" if method == "PATCH" else "application/json")
        try:
            with urllib.request.urlopen(req, timeout=60) as resp:
                raw = resp.read()
        except urllib.error.HTTPError as exc:
            if exc.code in _RACES:
                return None
            raise
        return json.loads(raw) if raw else None

    def _list(self, path: str) -> list[dict[str, Any]]:
        return (self._request("GET", path) or {}).get("items", [])

    def _status(self, path: str, obj: dict[str, Any], status: dict[str, Any]) -> None:
        current = obj.get("status") or {}
        if any(current.get(k) != v for k, v in status.items()):
            self._request("PATCH", f"{path}/{obj['metadata']['name']}/status", {"status": status})

    # --- one pass --------------------------------------------------------------------------------
    def step(self) -> None:
        """One pass: Deployments and ReplicaSets (``DeploymentController``), then StatefulSets, Jobs and
        the garbage collector over one listing (a list costs tens of milliseconds here)."""
        try:
            self._deployments.reconcile()
        except urllib.error.HTTPError as exc:
            if exc.code not in _RACES:
                raise
            self._writes += 1  # something moved under it: look again at once
        pods = self._list(_CORE + "/pods")
        deployments = self._list(_APPS + "/deployments")
        replica_sets = self._list(_APPS + "/replicasets")
        stateful_sets = self._list(_APPS + "/statefulsets")
        jobs = self._list(_BATCH + "/jobs")
        for stateful_set in stateful_sets:
            self._stateful_set(stateful_set, pods)
        for job in jobs:
            self._job(job, pods)
        alive = {o["metadata"]["uid"] for o in [*deployments, *replica_sets, *stateful_sets, *jobs]}
        for path, objs in ((_APPS + "/replicasets", replica_sets), (_CORE + "/pods", pods)):
            for obj in objs:  # the garbage collector: a dependent whose controller is gone
                uid = _controller_uid(obj)
                if uid is not None and uid not in alive:
                    self._request("DELETE", f"{path}/{obj['metadata']['name']}")

    def _owned(self, owner: dict[str, Any], objs: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [o for o in objs if _controller_uid(o) == owner["metadata"]["uid"]]

    def _pod(self, owner: dict[str, Any], prefix: str, labels: dict[str, str], name: str | None = None) -> None:
        template = owner["spec"]["template"]
        self._made += 1
        seed = f"{owner['metadata']['uid']}/{self._made}"
        pod_name = name or f"{prefix}-{_suffix(seed)}"
        self._request("POST", _CORE + "/pods", {
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": pod_name, "namespace": self.namespace,
                         "labels": {**(template.get("metadata", {}).get("labels") or {}), **labels},
                         "annotations": template.get("metadata", {}).get("annotations") or {},
                         "ownerReferences": [_owner(owner)]},
            "spec": template["spec"],
            "status": {"phase": "Pending", "conditions": [{"type": "PodScheduled", "status": "True"}]},
        })  # fmt: skip

    def _stateful_set(self, stateful_set: dict[str, Any], pods: list[dict[str, Any]]) -> None:
        meta = stateful_set["metadata"]
        wanted = int(stateful_set["spec"].get("replicas", 1))
        update = f"{meta['name']}-{template_hash(stateful_set['spec']['template'])}"
        owned = {p["metadata"]["name"]: p for p in self._owned(stateful_set, pods)}
        for ordinal in range(wanted):
            name = f"{meta['name']}-{ordinal}"
            if name not in owned:
                self._pod(stateful_set, "", {REVISION_HASH_LABEL: update, "apps.kubernetes.io/pod-index": str(ordinal)},
                          name=name)  # fmt: skip
        stale = [p for p in owned.values() if p["metadata"]["labels"].get(REVISION_HASH_LABEL) != update]
        others_ready = all(_ready(p) for p in owned.values() if p not in stale)
        if stale and others_ready:  # RollingUpdate: highest ordinal first, one at a time
            victim = max(stale, key=lambda p: int(p["metadata"]["name"].rsplit("-", 1)[1]))
            self._request("DELETE", _CORE + f"/pods/{victim['metadata']['name']}")
        updated = [p for p in owned.values() if p not in stale]
        ready = sum(1 for p in owned.values() if _ready(p))
        current = update if len(updated) == wanted and not stale else (stateful_set.get("status") or {}).get(
            "currentRevision", update)
        self._status(_APPS + "/statefulsets", stateful_set, {
            "observedGeneration": int(meta.get("generation") or 1), "replicas": len(owned), "readyReplicas": ready,
            "updatedReplicas": len(updated), "currentRevision": current, "updateRevision": update,
        })  # fmt: skip

    def _job(self, job: dict[str, Any], pods: list[dict[str, Any]]) -> None:
        status = job.get("status") or {}
        if any(c.get("status") == "True" for c in status.get("conditions") or []):
            return  # finished
        owned = self._owned(job, pods)
        succeeded = sum(1 for p in owned if _phase(p) == "Succeeded")
        failed = sum(1 for p in owned if _phase(p) == "Failed")
        active = len(owned) - succeeded - failed
        limit = int(job["spec"].get("backoffLimit", 6))
        name, uid = job["metadata"]["name"], job["metadata"]["uid"]
        if succeeded:
            new = {"succeeded": succeeded, "failed": failed, "active": 0,
                   "conditions": [{"type": "Complete", "status": "True"}]}  # fmt: skip
        elif failed > limit:
            new = {"failed": failed, "active": 0, "conditions": [{
                "type": "Failed", "status": "True", "reason": "BackoffLimitExceeded",
                "message": "Job has reached the specified backoff limit"}]}  # fmt: skip
        else:
            if not active:
                self._pod(job, name, {"job-name": name, "controller-uid": uid, "batch.kubernetes.io/job-name": name,
                                      "batch.kubernetes.io/controller-uid": uid})  # fmt: skip
            new = {"active": 1, "failed": failed}
        self._status(_BATCH + "/jobs", job, new)
