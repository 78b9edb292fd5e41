"""What the helm stand-in makes in the test API for a release (only with FAKE_HELM_KUBE_URL).

Interim: for every top-level values key whose value is a mapping with an ``image`` mapping
(``repository``, ``tag``) and ``enabled`` not false, a Deployment ``<release>-<svc>`` (a Job for the
services in FAKE_HELM_JOBS, default "migrate") and one Pending Pod ``<release>-<svc>-<8 hex of the
image>``; unchanged images keep their objects, ``uninstall`` deletes them. The rendered objects
replace this once the controller stand-in (tests/support/controllers.py) makes the pods.
"""

from __future__ import annotations

import hashlib
import os
from typing import Any

from tests.standins.helm_release import api


class ApplyError(Exception):
    """An object the test API refused."""


def services(config: dict[str, Any] | None) -> dict[str, str]:
    found = {}
    for svc, spec in (config or {}).items():
        if isinstance(spec, dict) and isinstance(spec.get("image"), dict) and spec.get("enabled", True) is not False:
            image = spec["image"]
            found[svc] = f"{image.get('repository', svc)}:{image.get('tag', 'latest')}"
    return found


def sync(name: str, namespace: str, old: dict[str, Any] | None, new: dict[str, Any] | None) -> None:
    if not os.environ.get("FAKE_HELM_KUBE_URL"):
        return
    jobs = set(os.environ.get("FAKE_HELM_JOBS", "migrate").split(","))
    before = services(old["config"] if old else None)
    after = services(new["config"] if new else None)
    for svc, image in before.items():
        if after.get(svc) != image:
            group, plural = ("/apis/batch/v1", "jobs") if svc in jobs else ("/apis/apps/v1", "deployments")
            api("DELETE", f"{group}/namespaces/{namespace}/{plural}/{name}-{svc}")
            api("DELETE", f"/api/v1/namespaces/{namespace}/pods/{pod_name(name, svc, image)}")
    for svc, image in after.items():
        if before.get(svc) == image:
            continue  # unchanged image: helm would leave the workload (and its pods) alone
        labels = {"app.kubernetes.io/instance": name, "app.kubernetes.io/name": svc,
                  "app.kubernetes.io/managed-by": "Helm"}  # fmt: skip
        container = {"name": svc, "image": image, "imagePullPolicy": "IfNotPresent"}
        template: dict[str, Any] = {"metadata": {"labels": labels}, "spec": {"containers": [container]}}
        meta = {"name": f"{name}-{svc}", "namespace": namespace, "labels": labels}
        if svc in jobs:
            template["spec"]["restartPolicy"] = "Never"
            api("POST", f"/apis/batch/v1/namespaces/{namespace}/jobs", {
                "apiVersion": "batch/v1", "kind": "Job", "metadata": meta,
                "spec": {"backoffLimit": 0, "template": template}})  # fmt: skip
        else:
            api("POST", f"/apis/apps/v1/namespaces/{namespace}/deployments", {
                "apiVersion": "apps/v1", "kind": "Deployment", "metadata": meta,
                "spec": {"replicas": 1, "selector": {"matchLabels": labels}, "template": template}})  # fmt: skip
        api("POST", f"/api/v1/namespaces/{namespace}/pods", {
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": pod_name(name, svc, image), "namespace": namespace, "labels": labels},
            "spec": template["spec"], "status": {"phase": "Pending"}})  # fmt: skip


def pod_name(release: str, svc: str, image: str) -> str:
    """`<release>-<svc>-<8 hex of the image>`: a new image means a new pod, as a rollout makes."""
    return f"{release}-{svc}-{hashlib.sha256(image.encode()).hexdigest()[:8]}"
