"""The check after the wait: the release's pods run the refs the deploy sent (exit 7 when not),
read from an emulated API that selects by label as the real one does."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from envctl.adapters.kube import connect
from envctl.errors import ExitCode, RunningImageMismatchError
from envctl.phases.verify import ImageVerifier
from envctl.progress import CollectingProgress
from envctl.results import ClusterInfo, DeployedImage
from envctl.timing.spans import Recorder
from tests.support.kube_api import KubeApi

NS = "verify"
API = DeployedImage("api", "envctl-demo/api:fp-new", "envctl-demo/api")


@pytest.fixture
def kube_api() -> Iterator[KubeApi]:
    with KubeApi() as api:
        yield api


def _pod(name: str, image: str, *, release: str = "demo", init: str | None = None, owner: dict | None = None) -> dict:
    meta: dict[str, Any] = {"name": name, "namespace": NS, "labels": {"app.kubernetes.io/instance": release}}
    if owner is not None:
        meta["ownerReferences"] = [owner]
    spec: dict[str, Any] = {"containers": [{"name": "main", "image": image}]}
    if init is not None:
        spec["initContainers"] = [{"name": "setup", "image": init}]
    return {"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": spec, "status": {"phase": "Running"}}


def _verify(kube_api: KubeApi, tmp_path: Path, images: tuple[DeployedImage, ...] = (API,)) -> tuple[Any, Recorder]:
    kubeconfig = kube_api.write_kubeconfig(tmp_path / "kubeconfig")
    recorder, progress = Recorder(), CollectingProgress()
    verifier = ImageVerifier(NS, "demo", connect=connect, recorder=recorder, progress=progress)
    cluster = ClusterInfo("demo", "reused", kubeconfig, ("node",), None, "f" * 16)
    return verifier.verify(images, cluster), recorder


def test_pods_running_the_built_refs_pass(kube_api: KubeApi, tmp_path: Path) -> None:
    kube_api.create("v1/pods", _pod("demo-api-1", "envctl-demo/api:fp-new", init="busybox:1.36"))
    kube_api.create("v1/pods", _pod("other-api-1", "envctl-demo/api:stale", release="other"))  # not this release
    result, recorder = _verify(kube_api, tmp_path)
    assert (result.pods, result.containers) == (1, 1)
    [span] = recorder.spans()
    assert (span.kind, span.outcome, span.attrs["mismatches"]) == ("wait", "ok", 0)


def test_a_hard_coded_image_of_the_service_fails_with_exit_7(kube_api: KubeApi, tmp_path: Path) -> None:
    kube_api.create("v1/pods", _pod("demo-api-1", "envctl-demo/api:fp-new"))
    kube_api.create("v1/pods", _pod("demo-api-canary", "envctl-demo/api:1.0"))
    with pytest.raises(RunningImageMismatchError) as caught:
        _verify(kube_api, tmp_path)
    assert caught.value.exit_code == ExitCode.NOT_READY == 7
    assert caught.value.message == (
        "release demo: pod demo-api-canary container main runs envctl-demo/api:1.0, "
        "not envctl-demo/api:fp-new (service api)"
    )
    assert caught.value.hint is not None and "values_path" in caught.value.hint


def test_pods_on_their_way_out_are_not_judged(kube_api: KubeApi, tmp_path: Path) -> None:
    # A Deployment at revision 2: the pod of its revision-1 ReplicaSet is an earlier revision's.
    deployment = kube_api.create("apps/v1/deployments", {
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "demo-api", "namespace": NS, "uid": "dep-uid", "generation": 2,
                     "labels": {"app.kubernetes.io/instance": "demo"},
                     "annotations": {"deployment.kubernetes.io/revision": "2"}},
        "spec": {"selector": {"matchLabels": {"app": "api"}}, "template": {}},
        "status": {"observedGeneration": 2},
    })  # fmt: skip
    owner = {"apiVersion": "apps/v1", "kind": "Deployment", "name": "demo-api", "uid": deployment["metadata"]["uid"],
             "controller": True}  # fmt: skip
    for name, revision in (("demo-api-old", "1"), ("demo-api-new", "2")):
        kube_api.create("apps/v1/replicasets", {
            "apiVersion": "apps/v1", "kind": "ReplicaSet",
            "metadata": {"name": name, "namespace": NS, "uid": f"{name}-uid", "ownerReferences": [owner],
                         "labels": {"app.kubernetes.io/instance": "demo"},
                         "annotations": {"deployment.kubernetes.io/revision": revision}},
            "spec": {"selector": {"matchLabels": {"app": "api"}}},
        })  # fmt: skip
    rs_owner = {"apiVersion": "apps/v1", "kind": "ReplicaSet", "controller": True}
    kube_api.create("v1/pods", _pod("demo-api-old-x", "envctl-demo/api:fp-old",
                                    owner={**rs_owner, "name": "demo-api-old", "uid": "demo-api-old-uid"}))
    kube_api.create("v1/pods", _pod("demo-api-new-x", "envctl-demo/api:fp-new",
                                    owner={**rs_owner, "name": "demo-api-new", "uid": "demo-api-new-uid"}))
    terminating = _pod("demo-api-gone", "envctl-demo/api:fp-older")
    terminating["metadata"]["deletionTimestamp"] = "2026-01-01T00:00:00Z"
    kube_api.create("v1/pods", terminating)
    result, _ = _verify(kube_api, tmp_path)
    assert (result.pods, result.containers) == (1, 1)
