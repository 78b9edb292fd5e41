"""After the wait: do the release's pods run the images envctl built? (exit 7 when they do not)

The pre-deploy check (``image_check.check_images``) judges what ``helm template`` renders; what
the cluster runs can still differ: the upgrade renders with ``.Release.IsUpgrade`` true and a live
``lookup`` where ``helm template`` did not, Helm 3 before 3.21 keeps hooks away from the
post-renderer, and a mutating admission webhook may change images (docs/tools-behaviour.md, "Helm
post-renderer", "helm template"). So once the workloads are ready, every pod of the release is
read once and each container whose image belongs to a deployed service must run its built ref.

The pod's *spec* image is compared, not ``status.containerStatuses[].image``: the kubelet may
report there another tag of the same image ID (docs/tools-behaviour.md, "Pod status images"), and
envctl's fingerprint tags often share one. Pods on their way out are not judged: those being
deleted, and those of a workload's earlier revision (``workloads.revision``).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from envctl.adapters.kube import KubeConnect, lister
from envctl.errors import ClusterError, RunningImageMismatchError
from envctl.image_check import RunningContainer, belongs, check_running
from envctl.progress import Progress
from envctl.results import ClusterInfo, DeployedImage, RunningImages
from envctl.timing.spans import Recorder
from envctl.workloads.revision import pod_revision
from envctl.workloads.rules import release_selector

__all__ = ["ImageVerifier", "running_containers"]

_OWNER_KINDS = ("Deployment", "StatefulSet", "DaemonSet", "Job")
_REQUEST_TIMEOUT = 30


class ImageVerifier:
    """The verify step of `up`: ``verify(images, cluster)`` reads the release's pods once."""

    def __init__(
        self, namespace: str, release: str, *, connect: KubeConnect, recorder: Recorder, progress: Progress
    ) -> None:
        self._namespace, self._release, self._connect = namespace, release, connect
        self._recorder, self._progress = recorder, progress

    def verify(self, images: Sequence[DeployedImage], cluster: ClusterInfo) -> RunningImages:
        name, namespace = self._release, self._namespace
        with self._recorder.span(f"verify images {name}", "wait", release=name, namespace=namespace) as span:
            api = self._connect(cluster.kubeconfig)
            try:
                pods, workloads, replica_sets = _read(api, namespace, release_selector(name))
            except Exception as exc:
                if not _api_failure(exc):
                    raise
                first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:160]
                msg = f"reading the pods of release {name} in namespace {namespace} failed: {first}"
                raise ClusterError(msg, hint="check the cluster with `envctl doctor`, then rerun") from exc
            finally:
                api.close()
            judged = [pod for pod in pods if _judged(pod, workloads, replica_sets)]
            containers = [c for pod in judged for c in running_containers(pod)]
            problems = check_running(containers, images)
            mine = sum(1 for c in containers if any(belongs(item, c.image) for item in images))
            span.set(pods=len(judged), containers=mine, mismatches=len(problems))
            if problems:
                more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
                msg = f"release {name}: {problems[0]}{more}"
                hint = (
                    "the chart does not use the image envctl passes for this service in every workload "
                    "(a hard-coded image, or one that .Release.IsUpgrade or a webhook changes): make it read "
                    "values_path, or set inject: rewrite"
                )
                raise RunningImageMismatchError(msg, hint=hint)
            self._progress.step(name, f"{len(judged)} pod(s) run the images envctl built")
            return RunningImages(name, namespace, len(judged), mine)


def running_containers(pod: Any) -> Iterator[RunningContainer]:
    """The init containers and containers of ``pod`` (a client model), with their spec images."""
    spec = pod.spec
    for entries, init in ((spec.init_containers if spec else None, True), (spec.containers if spec else None, False)):
        for container in entries or ():
            if container.image:
                yield RunningContainer(pod.metadata.name, container.name, container.image, init)


def _judged(pod: Any, workloads: Mapping[str, Mapping[str, Any]], replica_sets: Mapping[str, Any]) -> bool:
    if pod.metadata.deletion_timestamp is not None:
        return False
    return pod_revision(pod, workloads, replica_sets).verdict != "old"


def _api_failure(exc: Exception) -> bool:
    import urllib3
    from kubernetes.client import ApiException

    return isinstance(exc, ApiException | urllib3.exceptions.HTTPError | OSError)


def _read(api: Any, namespace: str, selector: str) -> tuple[list[Any], dict[str, dict[str, Any]], dict[str, Any]]:
    """The release's pods, its workloads by kind and name, and its ReplicaSets by name."""

    def listed(kind: str) -> list[Any]:
        found = lister(api, kind)(namespace, label_selector=selector, _request_timeout=_REQUEST_TIMEOUT)
        return list(found.items or ())

    workloads = {kind: {obj.metadata.name: obj for obj in listed(kind)} for kind in _OWNER_KINDS}
    # A Deployment's ReplicaSets carry its pod template's labels, the release label among them.
    sets = listed("ReplicaSet")
    return listed("Pod"), workloads, {str(rs.metadata.name): rs for rs in sets if rs.metadata is not None}
