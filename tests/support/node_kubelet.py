"""A kubelet for the end-to-end `envctl up` tests: it runs pods only if their image is on the node.

It polls the release namespace of a ``KubeApi`` for new pods (created by the helm stand-in) and,
for each, asks the node container's real containerd (``ctr images ls``) whether the pod's image
is there — exactly the question a k3s kubelet with ``imagePullPolicy: IfNotPresent`` and no
registry access answers. Present → the pod becomes Running/Ready (a Job's pod Succeeded) and its
workload's status says so; absent → ``ErrImageNeverPull``-style waiting state, which envctl's
waiter must report. So an image envctl failed to load really does fail the run.
"""

from __future__ import annotations

import json
import subprocess
import threading
import urllib.error
import urllib.request
from typing import Any, Self

from envctl.adapters.k3d import K3S_CONTAINERD_SOCKET
from tests.support.kube_api import KubeApi

NAME_LABEL = "app.kubernetes.io/name"
_NOW = "2026-01-01T00:00:00Z"


def _normalise(ref: str) -> str:
    first = ref.split("/", 1)[0]
    if "/" not in ref:
        ref = f"library/{ref}"
    if "." not in first and ":" not in first and first != "localhost":
        ref = f"docker.io/{ref}"
    return ref


class NodeKubelet:
    """Use as a context manager around the `envctl up` runs of one test."""

    def __init__(
        self, api: KubeApi, namespace: str, node: str, docker: str, *, poll: float = 0.1, crash: frozenset[str] = frozenset()
    ) -> None:
        self.api, self.namespace, self.node, self.docker, self.poll = api, namespace, node, docker, poll
        self.crash = crash  # services whose container exits 1 at start, over and over (CrashLoopBackOff)
        self.handled: dict[str, str] = {}  # pod -> "ready" | "missing-image"
        self.errors: list[BaseException] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True, name="node-kubelet")

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(10)

    def _loop(self) -> None:
        while not self._stop.wait(self.poll):
            try:
                for pod in self._list("/api/v1/namespaces/{ns}/pods"):
                    name = pod["metadata"]["name"]
                    if name not in self.handled:
                        self._start(pod)
            except (urllib.error.URLError, OSError, subprocess.SubprocessError) as exc:
                self.errors.append(exc)

    def _list(self, path: str) -> list[dict[str, Any]]:
        with urllib.request.urlopen(self.api.url + path.format(ns=self.namespace), timeout=5) as resp:
            return json.loads(resp.read()).get("items", [])

    def node_images(self) -> set[str]:
        out = subprocess.run(
            [self.docker, "exec", self.node, "ctr", "-a", K3S_CONTAINERD_SOCKET, "-n", "k8s.io", "images", "ls", "-q"],
            capture_output=True, check=False, text=True, timeout=30,
        )  # fmt: skip
        return set(out.stdout.split()) if out.returncode == 0 else set()

    def _start(self, pod: dict[str, Any]) -> None:
        name = pod["metadata"]["name"]
        container = pod["spec"]["containers"][0]
        image = container["image"]
        service = pod["metadata"]["labels"].get(NAME_LABEL, "")
        job = self._is_job(service)
        if _normalise(image) not in self.node_images():
            self.handled[name] = "missing-image"
            waiting = {"reason": "ErrImageNeverPull", "message": f'Container image "{image}" is not present'}
            self.api.patch_status("v1/pods", self.namespace, name, {
                "phase": "Pending",
                "containerStatuses": [{"name": container["name"], "image": image, "imageID": "", "ready": False,
                                       "restartCount": 0, "state": {"waiting": waiting}}],
            })  # fmt: skip
            return
        if service in self.crash:
            self.handled[name] = "crash-loop"
            last = {"terminated": {"exitCode": 1, "reason": "Error", "startedAt": _NOW, "finishedAt": _NOW}}
            waiting = {"reason": "CrashLoopBackOff", "message": "back-off 40s restarting failed container"}
            self.api.patch_status("v1/pods", self.namespace, name, {
                "phase": "Running",
                "conditions": [{"type": "PodScheduled", "status": "True"}, {"type": "Ready", "status": "False"}],
                "containerStatuses": [{"name": container["name"], "image": image, "imageID": image, "ready": False,
                                       "restartCount": 3, "state": {"waiting": waiting}, "lastState": last}],
            })  # fmt: skip
            return
        self.handled[name] = "ready"
        if job:
            state = {"terminated": {"exitCode": 0, "reason": "Completed", "startedAt": _NOW, "finishedAt": _NOW}}
            self.api.patch_status("v1/pods", self.namespace, name, {
                "phase": "Succeeded",
                "conditions": [{"type": "PodScheduled", "status": "True"}, {"type": "Ready", "status": "False"}],
                "containerStatuses": [{"name": container["name"], "image": image, "imageID": image, "ready": False,
                                       "restartCount": 0, "state": state}],
            })  # fmt: skip
            workload_status: dict[str, Any] = {"succeeded": 1, "conditions": [{"type": "Complete", "status": "True"}]}
            self.api.patch_status("batch/v1/jobs", self.namespace, f"{self._release(pod)}-{service}", workload_status)
            return
        self.api.patch_status("v1/pods", self.namespace, name, {
            "phase": "Running",
            "conditions": [{"type": "PodScheduled", "status": "True"}, {"type": "Ready", "status": "True"}],
            "containerStatuses": [{"name": container["name"], "image": image, "imageID": image, "ready": True,
                                   "restartCount": 0, "state": {"running": {"startedAt": _NOW}}}],
        })  # fmt: skip
        workload_status = {"observedGeneration": 1, "replicas": 1, "updatedReplicas": 1, "readyReplicas": 1,
                           "availableReplicas": 1}  # fmt: skip
        self.api.patch_status("apps/v1/deployments", self.namespace, f"{self._release(pod)}-{service}", workload_status)

    @staticmethod
    def _release(pod: dict[str, Any]) -> str:
        return pod["metadata"]["labels"]["app.kubernetes.io/instance"]

    def _is_job(self, service: str) -> bool:
        return any(job["metadata"]["labels"].get(NAME_LABEL) == service for job in self._list("/apis/batch/v1/namespaces/{ns}/jobs"))
