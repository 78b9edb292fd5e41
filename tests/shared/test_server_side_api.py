"""The test API's server-side layer behaves as a real API server does where envctl relies on it."""

from __future__ import annotations

import urllib.error

import pytest

from tests.support.kube_api import KubeApi

LEASES = "coordination.k8s.io/v1/leases"


def test_objects_get_a_resource_version_and_stale_writes_conflict(shared_api: KubeApi):
    shared_api.create("v1/namespaces", {"metadata": {"name": "pr-1"}})
    made = shared_api.create(LEASES, {"metadata": {"name": "demo", "namespace": "pr-1"}, "spec": {}})
    version = made["metadata"]["resourceVersion"]
    updated = shared_api.patch(LEASES, "pr-1", "demo", {"metadata": {"resourceVersion": version}, "spec": {"a": 1}})
    assert updated["metadata"]["resourceVersion"] != version
    with pytest.raises(urllib.error.HTTPError) as stale:
        shared_api.patch(LEASES, "pr-1", "demo", {"metadata": {"resourceVersion": version}, "spec": {"a": 2}})
    assert stale.value.code == 409
    assert shared_api.get(LEASES, "pr-1", "demo")["spec"] == {"a": 1}


def test_namespaces_are_served_and_take_their_contents_with_them(shared_api: KubeApi):
    with pytest.raises(urllib.error.HTTPError) as missing:
        shared_api.create(LEASES, {"metadata": {"name": "demo", "namespace": "pr-2"}})
    assert missing.value.code == 404
    shared_api.create("v1/namespaces", {"metadata": {"name": "pr-2", "labels": {"a": "b"}}})
    shared_api.create(LEASES, {"metadata": {"name": "demo", "namespace": "pr-2"}})
    assert shared_api.get("v1/namespaces", None, "pr-2")["metadata"]["labels"] == {"a": "b"}
    shared_api.delete("v1/namespaces", None, "pr-2")
    for resource, namespace, name in (("v1/namespaces", None, "pr-2"), (LEASES, "pr-2", "demo")):
        with pytest.raises(urllib.error.HTTPError) as gone:
            shared_api.get(resource, namespace, name)
        assert gone.value.code == 404
    assert shared_api.get("v1/namespaces", None, "default")["metadata"]["name"] == "default"
