"""A test driver that plays the controllers and the kubelet for one release in a KubeApi namespace.

It creates workloads and their pods the way Helm, the API server and the controllers would (labels,
selectors, UIDs, controller owner references, pod templates, and the revision marks: a Deployment's
ReplicaSet per template labelled ``pod-template-hash`` and annotated with its revision, a
StatefulSet's ``controller-revision-hash``, a DaemonSet's ``pod-template-generation``;
docs/tools-behaviour.md, "Revisions"). ``rollout`` changes a Deployment's pod template as
``helm upgrade`` does: a new ReplicaSet and pods, the old ones kept until ``ready`` makes the new
revision available and scales the old one down. It moves them through states over HTTP (so
watchers see every change): Pending → Running/Ready, CrashLoopBackOff with restarts, image pull
errors, Unschedulable, Job Complete/Failed. It also serves pod logs (current and previous instance) through KMock reactions
and posts the events a kubelet/scheduler would. ``later(delay, action, ...)`` runs a transition on a
timer; ``close()`` (or leaving the ``with`` block) waits for them and re-raises any error.

``entered`` records the monotonic time just before each state change was sent, so a test or the
benchmark can measure how long envctl took to notice it.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import itertools
import json
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Self

import kmock

from tests.support.kube_api import KubeApi

RELEASE_LABEL = "app.kubernetes.io/instance"
NAME_LABEL = "app.kubernetes.io/name"

_RESOURCES = {
    "Deployment": "apps/v1/deployments",
    "StatefulSet": "apps/v1/statefulsets",
    "DaemonSet": "apps/v1/daemonsets",
    "Job": "batch/v1/jobs",
    "ReplicaSet": "apps/v1/replicasets",
}
_API_VERSIONS = {"Deployment": "apps/v1", "StatefulSet": "apps/v1", "DaemonSet": "apps/v1", "Job": "batch/v1"}
REVISION = "deployment.kubernetes.io/revision"
# The characters the controllers' hashes are written in (rand.SafeEncodeString: no vowels, no 0/1/3).
_SAFE = "bcdfghjklmnpqrstvwxz2456789"


def template_hash(template: dict[str, Any]) -> str:
    """A stable hash of a pod template, spelled as the controllers spell ``pod-template-hash``."""
    digest = int.from_bytes(hashlib.sha256(json.dumps(template, sort_keys=True).encode()).digest()[:8], "big")
    return "".join(_SAFE[(digest >> (5 * i)) % len(_SAFE)] for i in range(10))


@dataclass
class Workload:
    kind: str
    name: str  # "<release>-<service>", as the demo chart names them
    service: str
    image: str
    labels: dict[str, str]
    job: bool = False  # its pods carry the job-name label
    pods: list[str] = field(default_factory=list)  # the current revision's
    uid: str = ""
    generation: int = 1
    revision: int = 1  # a Deployment's, as its annotation says
    template: dict[str, Any] = field(default_factory=dict)
    revision_hash: str = ""  # pod-template-hash (Deployment) / controller-revision-hash (StatefulSet)
    old_pods: list[str] = field(default_factory=list)  # earlier revisions' pods not yet scaled down
    old_replica_sets: list[str] = field(default_factory=list)

    @property
    def replica_set(self) -> str:
        return f"{self.name}-{self.revision_hash}"


def _now(offset: float = 0.0) -> str:
    return (dt.datetime.now(dt.UTC) + dt.timedelta(seconds=offset)).strftime("%Y-%m-%dT%H:%M:%SZ")


class Kubelet:
    def __init__(self, api: KubeApi, namespace: str, release: str = "demo") -> None:
        self.api = api
        self.namespace = namespace
        self.release = release
        self.workloads: dict[str, Workload] = {}
        self.entered: dict[tuple[str, str], float] = {}  # (pod or workload, state) -> monotonic time
        self._pod_owner: dict[str, Workload] = {}
        self._timers: list[threading.Timer] = []
        self._errors: list[BaseException] = []
        self._events = itertools.count()
        self._order = itertools.count()
        self._pending: set[tuple[float, int]] = set()  # (due, order) of actions not yet run
        self._turn = threading.Condition()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- creating workloads ------------------------------------------------------------------
    def deployment(self, service: str, *, replicas: int = 1, release: str | None = None) -> Workload:
        return self._workload("Deployment", service, replicas, release, {"replicas": replicas})

    def statefulset(self, service: str, *, replicas: int = 1) -> Workload:
        return self._workload(
            "StatefulSet", service, replicas, None, {"replicas": replicas, "serviceName": service}
        )

    def daemonset(self, service: str, *, nodes: int = 1) -> Workload:
        return self._workload("DaemonSet", service, nodes, None, {})

    def job(self, service: str) -> Workload:
        return self._workload("Job", service, 1, None, {"backoffLimit": 1}, pod_labels=True)

    def _workload(
        self,
        kind: str,
        service: str,
        pods: int,
        release: str | None,
        spec: dict[str, Any],
        *,
        pod_labels: bool = False,
    ) -> Workload:
        release = release or self.release
        name = f"{release}-{service}"
        selector = {RELEASE_LABEL: release, NAME_LABEL: service}
        labels = {**selector, "app.kubernetes.io/managed-by": "Helm"}
        workload = Workload(
            kind, name, service, image=f"envctl-test/{service}:0123456789ab", labels=labels, job=pod_labels,
            uid=f"uid-{name}",
        )  # fmt: skip
        workload.template = {"metadata": {"labels": labels}, "spec": self._pod_spec(workload, workload.image)}
        workload.revision_hash = template_hash(workload.template)
        # The API server gives a DaemonSet its template generation when it is created.
        annotations = {"deprecated.daemonset.template.generation": "1"} if kind == "DaemonSet" else {}
        body = {
            "apiVersion": _API_VERSIONS[kind],
            "kind": kind,
            "metadata": {"name": name, "namespace": self.namespace, "labels": labels, "generation": 1,
                         "uid": workload.uid, "annotations": annotations},
            "spec": {**spec, "selector": {"matchLabels": selector}, "template": workload.template},
        }  # fmt: skip
        self.api.create(_RESOURCES[kind], body)
        self.workloads[name] = workload
        if kind == "Deployment":
            self._new_replica_set(workload, pods)
        for index in range(pods):
            pod = {
                "StatefulSet": f"{name}-{index}",
                "Deployment": f"{workload.replica_set}-{index:05d}",
            }.get(kind, f"{name}-7c9d5-{index:05d}")
            self._create_pod(workload, pod, image=workload.image)
            workload.pods.append(pod)
        self._observed(workload, available=0)
        return workload

    def rollout(self, workload: Workload, *, env: dict[str, str] | None = None, image: str | None = None) -> None:
        """A new pod template for a Deployment, as `helm upgrade` applies it (the API server bumps the
        generation) and its controller answers: a ReplicaSet of the next revision with new pods,
        while the earlier revision's pods stay (available or not) until ``ready`` scales them down."""
        assert workload.kind == "Deployment", "only Deployments roll out in this driver"
        if image is not None:
            workload.image = image
        spec = self._pod_spec(workload, workload.image)
        if env:
            spec["containers"][0]["env"] = [{"name": key, "value": value} for key, value in env.items()]
        workload.template = {"metadata": {"labels": workload.labels}, "spec": spec}
        workload.generation += 1
        self.api.patch(_RESOURCES["Deployment"], self.namespace, workload.name, {
            "metadata": {"generation": workload.generation}, "spec": {"template": workload.template},
        })  # fmt: skip
        workload.old_replica_sets.append(workload.replica_set)
        workload.old_pods.extend(workload.pods)
        ready_before = sum(1 for pod in workload.pods if (pod, "Ready") in self.entered)
        workload.pods = []
        workload.revision += 1
        workload.revision_hash = template_hash(workload.template)
        self._new_replica_set(workload, 1)
        pod = f"{workload.replica_set}-00000"
        self._create_pod(workload, pod, image=workload.image)
        workload.pods.append(pod)
        self._observed(workload, available=ready_before)

    def _new_replica_set(self, workload: Workload, replicas: int) -> None:
        """What the Deployment controller does for a template it has no ReplicaSet for: a ReplicaSet
        of the next revision, then the Deployment's own revision annotation."""
        labels = {**workload.labels, "pod-template-hash": workload.revision_hash}
        template = {**workload.template, "metadata": {"labels": labels}}
        selector = {RELEASE_LABEL: workload.labels[RELEASE_LABEL], NAME_LABEL: workload.service}
        self.api.create(_RESOURCES["ReplicaSet"], {
            "apiVersion": "apps/v1", "kind": "ReplicaSet",
            "metadata": {
                "name": workload.replica_set, "namespace": self.namespace, "labels": labels,
                "uid": f"uid-{workload.replica_set}", "generation": 1,
                "annotations": {REVISION: str(workload.revision)},
                "ownerReferences": [self._owner("Deployment", workload.name, workload.uid)],
            },
            "spec": {"replicas": replicas, "template": template,
                     "selector": {"matchLabels": {**selector, "pod-template-hash": workload.revision_hash}}},
        })  # fmt: skip
        self.api.patch(
            _RESOURCES["Deployment"], self.namespace, workload.name,
            {"metadata": {"annotations": {REVISION: str(workload.revision)}}},
        )  # fmt: skip

    def _observed(self, workload: Workload, *, available: int) -> None:
        """The status a controller writes once it has seen the workload's generation (nothing ready yet)."""
        new, old = len(workload.pods), len(workload.old_pods)
        status: dict[str, Any] = {
            "Deployment": {"observedGeneration": workload.generation, "replicas": new + old,
                           "updatedReplicas": new, "availableReplicas": available},
            "StatefulSet": {"observedGeneration": workload.generation, "replicas": new,
                            "currentRevision": workload.replica_set, "updateRevision": workload.replica_set},
        }.get(workload.kind, {})  # fmt: skip
        if status:
            self.api.patch_status(_RESOURCES[workload.kind], self.namespace, workload.name, status)

    @staticmethod
    def _owner(kind: str, name: str, uid: str) -> dict[str, Any]:
        return {"apiVersion": _API_VERSIONS.get(kind, "apps/v1"), "kind": kind, "name": name, "uid": uid,
                "controller": True, "blockOwnerDeletion": True}  # fmt: skip

    @staticmethod
    def _pod_spec(workload: Workload, image: str) -> dict[str, Any]:
        return {
            "containers": [{"name": workload.service, "image": image, "imagePullPolicy": "IfNotPresent"}],
            **({"restartPolicy": "Never"} if workload.kind == "Job" else {}),
        }

    def _revision_labels(self, workload: Workload) -> dict[str, str]:
        return {
            "Deployment": {"pod-template-hash": workload.revision_hash},
            "StatefulSet": {"controller-revision-hash": workload.replica_set},
            "DaemonSet": {"pod-template-generation": "1"},
            "Job": {"job-name": workload.name} if workload.job else {},
        }[workload.kind]

    def _create_pod(self, workload: Workload, pod: str, *, image: str) -> None:
        owner = (
            self._owner("ReplicaSet", workload.replica_set, f"uid-{workload.replica_set}")
            if workload.kind == "Deployment"
            else self._owner(workload.kind, workload.name, workload.uid)
        )
        spec = {**self._pod_spec(workload, image), **workload.template.get("spec", {})}
        spec["containers"] = [{**spec["containers"][0], "image": image}]
        self.api.create(
            "v1/pods",
            {
                "apiVersion": "v1",
                "kind": "Pod",
                "metadata": {
                    "name": pod,
                    "namespace": self.namespace,
                    "labels": {**workload.labels, **self._revision_labels(workload)},
                    "ownerReferences": [owner],
                },
                "spec": {**spec, "nodeName": "k3d-envctl-server-0"},
                "status": {
                    "phase": "Pending",
                    "conditions": [{"type": "PodScheduled", "status": "True"}],
                    "containerStatuses": [self._container(workload, waiting=("ContainerCreating", ""))],
                },
            },
        )
        self._pod_owner[pod] = workload
        self._serve_no_logs(pod)
        self.event(
            pod,
            "Scheduled",
            f"Successfully assigned {self.namespace}/{pod} to k3d-envctl-server-0",
            type_="Normal",
            offset=-5,
        )

    # --- state changes (call directly, or via later()) ----------------------------------------
    def ready(self, workload: Workload) -> None:
        """Every pod of the current revision Running and Ready; then, as the controllers do once it is
        available, an earlier revision's ReplicaSet scaled down and its pods deleted, and the
        workload's status says it is ready."""
        for pod in workload.pods:
            if workload.kind == "Job":
                self._patch_pod(
                    pod,
                    "Succeeded",
                    "Succeeded",
                    [self._container(workload, terminated=(0, "Completed"))],
                    ready=False,
                )
            else:
                self._patch_pod(
                    pod, "Ready", "Running", [self._container(workload, running=True, ready=True)], ready=True
                )
        for replica_set in workload.old_replica_sets:
            self.api.patch(_RESOURCES["ReplicaSet"], self.namespace, replica_set, {"spec": {"replicas": 0}})
        for pod in workload.old_pods:
            self.api.delete("v1/pods", self.namespace, pod)
        workload.old_pods = []
        n = len(workload.pods)
        status: dict[str, Any] = {
            "Deployment": {
                "observedGeneration": workload.generation,
                "replicas": n,
                "updatedReplicas": n,
                "readyReplicas": n,
                "availableReplicas": n,
            },
            "StatefulSet": {
                "observedGeneration": workload.generation,
                "replicas": n,
                "readyReplicas": n,
                "updatedReplicas": n,
                "currentRevision": workload.replica_set,
                "updateRevision": workload.replica_set,
            },
            "DaemonSet": {
                "observedGeneration": 1,
                "currentNumberScheduled": n,
                "desiredNumberScheduled": n,
                "numberMisscheduled": 0,
                "numberReady": n,
                "numberAvailable": n,
                "updatedNumberScheduled": n,
            },
            "Job": {"succeeded": n, "conditions": [{"type": "Complete", "status": "True"}]},
        }[workload.kind]
        self._mark(workload.name, "Ready")
        self.api.patch_status(_RESOURCES[workload.kind], self.namespace, workload.name, status)

    def crash_loop(self, pod: str, *, restarts: int = 3, exit_code: int = 1) -> None:
        workload = self._pod_owner[pod]
        self.event(pod, "BackOff", f"Back-off restarting failed container {workload.service} in pod {pod}")
        container = self._container(
            workload,
            restarts=restarts,
            waiting=(
                "CrashLoopBackOff",
                f"back-off 40s restarting failed container={workload.service} pod={pod}",
            ),
            last_terminated=(exit_code, "Error"),
        )
        self._patch_pod(pod, "CrashLoopBackOff", "Running", [container], ready=False)

    def exited(self, pod: str, *, exit_code: int = 1, restarts: int = 1, reason: str = "Error") -> None:
        """The container has just exited again, before the kubelet shows the back-off."""
        workload = self._pod_owner[pod]
        container = self._container(workload, restarts=restarts, terminated=(exit_code, reason))
        self._patch_pod(pod, "Exited", "Running", [container], ready=False)

    def waiting(self, pod: str, reason: str, message: str = "") -> None:
        """A container stuck in ``reason`` (ErrImagePull, ImagePullBackOff, ErrImageNeverPull, ...)."""
        workload = self._pod_owner[pod]
        event_reason = {"ErrImagePull": "Failed", "ImagePullBackOff": "BackOff"}.get(reason, "Failed")
        self.event(pod, event_reason, f"Error: {reason}" + (f": {message}" if message else ""))
        self._patch_pod(
            pod, reason, "Pending", [self._container(workload, waiting=(reason, message))], ready=False
        )

    def unschedulable(
        self, pod: str, message: str = "0/1 nodes are available: 1 Insufficient memory."
    ) -> None:
        self.event(pod, "FailedScheduling", message)
        self._mark(pod, "Unschedulable")
        self.api.patch_status(
            "v1/pods",
            self.namespace,
            pod,
            {
                "phase": "Pending",
                "conditions": [
                    {"type": "PodScheduled", "status": "False", "reason": "Unschedulable", "message": message}
                ],
                "containerStatuses": [],
            },
        )

    def fail_job(self, workload: Workload, *, exit_code: int = 1) -> None:
        for pod in workload.pods:
            self._patch_pod(
                pod,
                "Failed",
                "Failed",
                [self._container(workload, terminated=(exit_code, "Error"))],
                ready=False,
            )
        self._mark(workload.name, "Failed")
        self.api.patch_status(
            _RESOURCES[workload.kind],
            self.namespace,
            workload.name,
            {
                "failed": len(workload.pods),
                "conditions": [
                    {
                        "type": "Failed",
                        "status": "True",
                        "reason": "BackoffLimitExceeded",
                        "message": "Job has reached the specified backoff limit",
                    }
                ],
            },
        )

    # --- logs and events ------------------------------------------------------------------------
    def logs(self, pod: str, current: str, *, previous: str | None = None) -> None:
        """Serve ``current`` as the container's log, and ``previous`` as the previous instance's
        (without one, ``previous=true`` gets the API's 400, as for a container that never restarted)."""
        path = f"get /api/v1/namespaces/{self.namespace}/pods/{pod}/log"
        service = self._pod_owner[pod].service
        no_previous = {
            "kind": "Status",
            "apiVersion": "v1",
            "status": "Failure",
            "code": 400,
            "reason": "BadRequest",
            "message": f'previous terminated container "{service}" in pod "{pod}" not found',
        }

        async def add() -> None:
            emulator = self.api.emulator
            (emulator**10)[path] << kmock.headers({"Content-Type": "text/plain"}) << current.encode()
            if previous is None:
                (emulator**20)[path, kmock.params(previous="true")] << 400 << no_previous
            else:
                (
                    (emulator**20)[path, kmock.params(previous="true")]
                    << kmock.headers({"Content-Type": "text/plain"})
                    << previous.encode()
                )

        self.api.run(add())

    def _serve_no_logs(self, pod: str) -> None:
        """Until logs() is called, answer as the API does for a container that never started: 400."""
        path = f"get /api/v1/namespaces/{self.namespace}/pods/{pod}/log"
        body = {
            "kind": "Status",
            "apiVersion": "v1",
            "status": "Failure",
            "code": 400,
            "reason": "BadRequest",
            "message": f'container "{self._pod_owner[pod].service}" in pod "{pod}" is waiting to start',
        }

        async def add() -> None:
            (self.api.emulator**1)[path] << 400 << body

        self.api.run(add())

    def event(
        self, pod: str, reason: str, message: str, *, type_: str = "Warning", offset: float = 0.0
    ) -> None:
        """An event about ``pod``, stamped ``offset`` seconds from now."""
        self.api.create(
            "v1/events",
            {
                "apiVersion": "v1",
                "kind": "Event",
                "metadata": {"name": f"{pod}.{next(self._events):04d}", "namespace": self.namespace},
                "involvedObject": {"kind": "Pod", "name": pod, "namespace": self.namespace},
                "reason": reason,
                "message": message,
                "type": type_,
                "count": 1,
                "firstTimestamp": _now(offset),
                "lastTimestamp": _now(offset),
                "source": {"component": "kubelet"},
            },
        )

    # --- timing ------------------------------------------------------------------------------------
    def later(self, delay: float, action: Any, *args: Any, **kwargs: Any) -> None:
        """Run ``action`` after ``delay`` s, and never before an action due earlier has run: on a
        busy machine timer threads wake late and out of order, the states they send must not."""
        key = (time.monotonic() + delay, next(self._order))
        with self._turn:
            self._pending.add(key)

        def run() -> None:
            with self._turn:
                self._turn.wait_for(lambda: min(self._pending) == key)
            try:
                action(*args, **kwargs)
            except BaseException as exc:  # noqa: BLE001 - re-raised in the test's thread by close()
                self._errors.append(exc)
            finally:
                with self._turn:
                    self._pending.discard(key)
                    self._turn.notify_all()

        timer = threading.Timer(delay, run)
        timer.daemon = True
        self._timers.append(timer)
        timer.start()

    def close(self) -> None:
        for timer in self._timers:
            timer.join(30)
        if self._errors:
            raise self._errors[0]

    # --- internals --------------------------------------------------------------------------------
    def _mark(self, subject: str, state: str) -> None:
        self.entered[(subject, state)] = time.monotonic()

    def _patch_pod(
        self, pod: str, mark: str, phase: str, containers: list[dict[str, Any]], *, ready: bool
    ) -> None:
        conditions = [
            {"type": "PodScheduled", "status": "True"},
            {"type": "Ready", "status": "True" if ready else "False"},
        ]
        self._mark(pod, mark)
        self.api.patch_status(
            "v1/pods",
            self.namespace,
            pod,
            {"phase": phase, "conditions": conditions, "containerStatuses": containers},
        )

    @staticmethod
    def _container(
        workload: Workload,
        *,
        restarts: int = 0,
        ready: bool = False,
        running: bool = False,
        waiting: tuple[str, str] | None = None,
        terminated: tuple[int, str] | None = None,
        last_terminated: tuple[int, str] | None = None,
    ) -> dict[str, Any]:
        state: dict[str, Any] = {}
        if running:
            state = {"running": {"startedAt": _now()}}
        elif waiting is not None:
            state = {"waiting": {"reason": waiting[0], **({"message": waiting[1]} if waiting[1] else {})}}
        elif terminated is not None:
            state = {"terminated": {"exitCode": terminated[0], "reason": terminated[1], "finishedAt": _now()}}
        status = {
            "name": workload.service,
            "image": workload.image,
            "imageID": "",
            "ready": ready,
            "restartCount": restarts,
            "state": state,
        }
        if last_terminated is not None:
            status["lastState"] = {
                "terminated": {"exitCode": last_terminated[0], "reason": last_terminated[1]}
            }
        return status
