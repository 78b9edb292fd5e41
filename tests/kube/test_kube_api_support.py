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


def _pod(name: str, labels: dict[str, str]) -> dict:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": "ns", "labels": labels},
            "spec": {"containers": [{"name": "c", "image": "x:1"}]}}  # fmt: skip


def test_lists_and_watches_honour_label_selectors_as_an_api_server_does(tmp_path: Path) -> None:
    with KubeApi() as api:
        v1 = kubernetes.client.CoreV1Api(connect(api.write_kubeconfig(tmp_path / "kubeconfig")))
        api.create("v1/pods", _pod("mine", {"app.kubernetes.io/instance": "demo", "tier": "web"}))
        api.create("v1/pods", _pod("theirs", {"app.kubernetes.io/instance": "other", "tier": "web"}))
        api.create("v1/pods", _pod("bare", {}))

        def names(selector: str) -> list[str]:
            return sorted(p.metadata.name for p in v1.list_namespaced_pod("ns", label_selector=selector).items)

        assert names("app.kubernetes.io/instance=demo") == ["mine"]
        assert names("app.kubernetes.io/instance!=demo") == ["bare", "theirs"]
        assert names("app.kubernetes.io/instance in (demo, other),tier=web") == ["mine", "theirs"]
        assert names("app.kubernetes.io/instance notin (demo)") == ["bare", "theirs"]
        assert names("tier") == ["mine", "theirs"] and names("!tier") == ["bare"]
        assert names("") == ["bare", "mine", "theirs"]

        # A watch sees only what its selector selects; relabelling out of it reads as DELETED.
        events = []
        watch = kubernetes.watch.Watch()
        stream = watch.stream(v1.list_namespaced_pod, "ns", label_selector="app.kubernetes.io/instance=demo",
                              _request_timeout=(2, 5))  # fmt: skip
        for event in stream:
            events.append((event["type"], event["object"].metadata.name))
            if len(events) == 1:
                api.patch("v1/pods", "ns", "theirs", {"metadata": {"labels": {"tier": "db"}}})  # not selected
                api.patch("v1/pods", "ns", "mine", {"metadata": {"labels": {"app.kubernetes.io/instance": "x"}}})
            if len(events) == 2:
                watch.stop()
        assert events == [("ADDED", "mine"), ("DELETED", "mine")]


def test_event_lists_honour_field_selectors(tmp_path: Path) -> None:
    with KubeApi() as api:
        v1 = kubernetes.client.CoreV1Api(connect(api.write_kubeconfig(tmp_path / "kubeconfig")))
        for name, kind, about in (("e1", "Pod", "web-0"), ("e2", "Pod", "api-0"), ("e3", "Deployment", "web-0")):
            api.create("v1/events", {"apiVersion": "v1", "kind": "Event",
                                     "metadata": {"name": name, "namespace": "ns"},
                                     "involvedObject": {"kind": kind, "name": about, "namespace": "ns"}})  # fmt: skip
        listed = v1.list_namespaced_event("ns", field_selector="involvedObject.kind=Pod,involvedObject.name=web-0")
        assert [e.metadata.name for e in listed.items] == ["e1"]
        listed = v1.list_namespaced_event("ns", field_selector="involvedObject.kind!=Pod")
        assert [e.metadata.name for e in listed.items] == ["e3"]
