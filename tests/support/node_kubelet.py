"""A kubelet for the end-to-end `envctl up` tests: it runs pods only if their image is on the node.

It runs the cluster's controllers for the release namespace (``cluster_controllers.py``: the helm stand-in
applies the chart's Deployments, StatefulSets and Jobs, the controllers make ReplicaSets and pods
from their real pod templates), looks for new pods after every write the API handles
(``KubeApi.changes``) and, for each, asks the node
container's real containerd (``ctr images ls``) whether every container's image is there — exactly
the question a k3s kubelet with ``imagePullPolicy: IfNotPresent`` and no registry access answers.
Present → the pod becomes Running/Ready (a Job's pod Succeeded), and the controllers report it in
the workload's status; absent → ``ErrImageNeverPull``-style waiting state, which envctl's waiter
must report. So an image envctl failed to load really does fail the run.
"""

from __future__ import annotations

import json
import subprocess
import threading
import urllib.error
import urllib.request
from typing import Any, Self

from envctl.adapters.k3d import K3S_CONTAINERD_SOCKET
from tests.support.cluster_controllers import Controllers
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
        self, api: KubeApi, namespace: str, node: str, docker: str, *, crash: frozenset[str] = frozenset(),
        hold: frozenset[str] = frozenset(),
    ) -> None:
        self.api, self.namespace, self.node, self.docker = api, namespace, node, docker
        self.crash = crash  # services whose container exits 1 at start, over and over (CrashLoopBackOff)
        self.hold = hold  # services whose pods this node never starts (they stay Pending, unscheduled)
        self.handled: dict[str, str] = {}  # pod -> "ready" | "missing-image" | "crash-loop" | "held"
        self._started: set[str] = set()  # the UIDs of the pods handled
        self.errors: list[BaseException] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True, name="node-kubelet")
        self.controllers = Controllers(api, namespace)

    def __enter__(self) -> Self:
        self.controllers.__enter__()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self.api.changes.wake()
        self._thread.join(10)
        self.controllers.__exit__(*exc)

    def _loop(self) -> None:
        while not self._stop.is_set():
            seen = self.api.changes.count  # read before the listing: a pod made during it means another look
            try:
                for pod in self._list("/api/v1/namespaces/{ns}/pods"):
                    uid = pod["metadata"].get("uid") or pod["metadata"]["name"]
                    if uid not in self._started:  # by UID: a StatefulSet's pod comes back under its name
                        self._started.add(uid)
                        self._start(pod)
            except (urllib.error.URLError, OSError, subprocess.SubprocessError) as exc:
                self.errors.append(exc)
            self.api.changes.wait(seen, self._stop)

    def _list(self, path: str) -> list[dict[str, Any]]:
        with urllib.request.urlopen(self.api.url + path.format(ns=self.namespace), timeout=60) as resp:
            return json.loads(resp.read()).get("items", [])

    def node_images(self) -> set[str]:
        out = subprocess.run(
            [self.docker, "exec", self.node, "ctr", "-a", K3S_CONTAINERD_SOCKET, "-n", "k8s.io", "images", "ls", "-q"],
            capture_output=True, check=False, text=True, timeout=30,
        )  # fmt: skip
        return set(out.stdout.split()) if out.returncode == 0 else set()

    def missing_image(self, images: list[str]) -> str | None:
        """The first image the node does not have, or None."""
        present = self.node_images()
        return next((image for image in images if _normalise(image) not in present), None)

    def _start(self, pod: dict[str, Any]) -> None:
        name = pod["metadata"]["name"]
        containers = pod["spec"].get("initContainers", []) + pod["spec"]["containers"]
        container = pod["spec"]["containers"][0]
        service = pod["metadata"].get("labels", {}).get(NAME_LABEL, "")
        owners = pod["metadata"].get("ownerReferences") or []
        job = any(ref.get("kind") == "Job" for ref in owners)
        if service in self.hold:
            self.handled[name] = "held"
            return
        missing = self.missing_image([c["image"] for c in containers])
        if missing is not None:
            self.handled[name] = "missing-image"
            waiting = {"reason": "ErrImageNeverPull", "message": f'Container image "{missing}" is not present'}
            self.api.patch_status("v1/pods", self.namespace, name, {
                "phase": "Pending",
                "containerStatuses": [{"name": c["name"], "image": c["image"], "imageID": "", "ready": False,
                                       "restartCount": 0, "state": {"waiting": waiting}}
                                      for c in pod["spec"]["containers"]],
            })  # fmt: skip
            return
        if service in self.crash:
            self.handled[name] = "crash-loop"
            last = {"terminated": {"exitCode": 1, "reason": "Error", "startedAt": _NOW, "finishedAt": _NOW}}
            waiting = {"reason": "CrashLoopBackOff", "message": "back-off 40s restarting failed container"}
            self.api.patch_status("v1/pods", self.namespace, name, {
                "phase": "Running",
                "conditions": [{"type": "PodScheduled", "status": "True"}, {"type": "Ready", "status": "False"}],
                "containerStatuses": [{"name": container["name"], "image": container["image"],
                                       "imageID": container["image"], "ready": False, "restartCount": 3,
                                       "state": {"waiting": waiting}, "lastState": last}],
            })  # fmt: skip
            return
        self.handled[name] = "ready"
        if job:
            state = {"terminated": {"exitCode": 0, "reason": "Completed", "startedAt": _NOW, "finishedAt": _NOW}}
            self.api.patch_status("v1/pods", self.namespace, name, {
                "phase": "Succeeded",
                "conditions": [{"type": "PodScheduled", "status": "True"}, {"type": "Ready", "status": "False"}],
                "containerStatuses": [{"name": c["name"], "image": c["image"], "imageID": c["image"], "ready": False,
                                       "restartCount": 0, "state": state} for c in pod["spec"]["containers"]],
            })  # fmt: skip
            return
        self.api.patch_status("v1/pods", self.namespace, name, {
            "phase": "Running",
            "conditions": [{"type": "PodScheduled", "status": "True"}, {"type": "Ready", "status": "True"}],
            "containerStatuses": [{"name": c["name"], "image": c["image"], "imageID": c["image"], "ready": True,
                                   "restartCount": 0, "state": {"running": {"startedAt": _NOW}}}
                                  for c in pod["spec"]["containers"]],
        })  # fmt: skip


class EveryImageKubelet(NodeKubelet):
    """A node that has every image, with the same controllers: for tests of what helm and the
    controllers make of a chart, where whether an image was loaded is not the question."""

    def __init__(self, api: KubeApi, namespace: str) -> None:
        super().__init__(api, namespace, node="", docker="")

    def missing_image(self, images: list[str]) -> str | None:  # noqa: ARG002 - every image is there
        return None
