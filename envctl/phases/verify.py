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

from collections.abc import Iterator, Sequence

from envctl.adapters.kube import KubeConnect
from envctl.errors import ClusterError, RunningImageMismatchError
from envctl.image_check import RunningContainer, belongs, check_running
from envctl.phases.release_list import api_failure, first_line, list_release
from envctl.progress import Progress
from envctl.results import ClusterInfo, DeployedImage, RunningImages
from envctl.timing.spans import Recorder
from envctl.workloads import wire
from envctl.workloads.wire import KubeObject, at, entries, text

__all__ = ["ImageVerifier", "running_containers"]

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
                view = list_release(api, namespace, name, timeout=_REQUEST_TIMEOUT)
            except Exception as exc:
                if not api_failure(exc):
                    raise
                msg = f"reading the pods of release {name} in namespace {namespace} failed: {first_line(exc)}"
                raise ClusterError(msg, hint="check the cluster with `envctl doctor`, then rerun") from exc
            finally:
                api.close()
            # Pods on their way out are not judged: being deleted, or of an earlier revision.
            judged = [
                pod for pod in view.objects["Pod"].values()
                if at(pod, "metadata", "deletionTimestamp") is None and view.revision_of(pod).verdict != "old"
            ]  # fmt: skip
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


def running_containers(pod: KubeObject) -> Iterator[RunningContainer]:
    """The init containers and containers of ``pod`` (as the API sent it), with their spec images."""
    for field, init in (("initContainers", True), ("containers", False)):
        for container in entries(pod, "spec", field):
            image = text(container, "image")
            if image:
                yield RunningContainer(wire.name(pod), text(container, "name") or "", image, init)
