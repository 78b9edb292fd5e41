"""The test API server itself: the official client lists, reads and watches through it."""

from __future__ import annotations

from pathlib import Path

import kubernetes

from envctl.adapters.kube import connect
from tests.support.kube_api import KubeApi


def test_official_client_lists_and_watches_pods(tmp_path: Path) -> None:
    with KubeApi() as api:
        client = connect(api.write_kubeconfig(tmp_path / "kubeconfig"))
        v1 = kubernetes.client.CoreV1Api(client)
        api.create("v1/pods", {"apiVersion": "v1", "kind": "Pod",
                               "metadata": {"name": "web-0", "namespace": "ns"},
                               "spec": {"containers": [{"name": "web", "image": "x:1"}]}})
        assert [p.metadata.name for p in v1.list_namespaced_pod("ns").items] == ["web-0"]
        api.patch_status("v1/pods", "ns", "web-0", {"phase": "Running"})
        seen = []
        watch = kubernetes.watch.Watch()
        for event in watch.stream(v1.list_namespaced_pod, "ns", _request_timeout=(2, 2)):
            seen.append((event["type"], event["object"].status.phase if event["object"].status else None))
            if event["object"].status and event["object"].status.phase == "Running":
                watch.stop()
        assert seen[-1] == ("ADDED", "Running")
        assert kubernetes.client.VersionApi(client).get_code().git_version == "v1.31.5+k3s1"
