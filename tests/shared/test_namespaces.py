"""Namespace ownership: created marked, refreshed by every up, never entered uninvited (test API)."""

from __future__ import annotations

import datetime as dt

import pytest

from envctl.adapters.kube import connect
from envctl.adapters.kube_namespaces import NamespaceApi
from envctl.errors import ClusterError
from envctl.namespaces import ensure_release_namespace
from envctl.ownership import NamespaceInfo, Owner, plan_gc

T0 = dt.datetime(2026, 12, 1, 6, 0, tzinfo=dt.UTC)
OWNER = Owner(workspace="acme/shop", release="demo", branch="feature/Login", pr="12")
DAY = 24 * 3600.0


@pytest.fixture
def namespaces(shared_kubeconfig) -> NamespaceApi:
    return NamespaceApi(connect(shared_kubeconfig))


def test_a_new_namespace_is_created_marked_with_owner_and_expiry(namespaces, shared_api):
    entry = ensure_release_namespace(namespaces, "pr-12", OWNER, ttl_seconds=3 * DAY, now=T0)
    assert entry.action == "create"
    meta = shared_api.get("v1/namespaces", None, "pr-12")["metadata"]
    assert meta["labels"] == {
        "app.kubernetes.io/managed-by": "envctl",
        "envctl.dev/workspace": "acme-shop",
        "envctl.dev/branch": "feature-Login",
        "envctl.dev/pr": "12",
    }
    assert meta["annotations"] == {
        "envctl.dev/created-at": "2026-12-01T06:00:00Z",
        "envctl.dev/last-up": "2026-12-01T06:00:00Z",
        "envctl.dev/expires-at": "2026-12-04T06:00:00Z",
        "envctl.dev/release": "demo",
    }


def test_every_up_refreshes_last_up_and_expiry_but_keeps_created_at(namespaces, shared_api):
    ensure_release_namespace(namespaces, "pr-12", OWNER, ttl_seconds=3 * DAY, now=T0)
    later = T0 + dt.timedelta(hours=5)
    entry = ensure_release_namespace(namespaces, "pr-12", OWNER, ttl_seconds=3 * DAY, now=later)
    assert (entry.action, entry.expires_at) == ("refresh", "2026-12-04T11:00:00Z")
    notes = shared_api.get("v1/namespaces", None, "pr-12")["metadata"]["annotations"]
    assert notes["envctl.dev/created-at"] == "2026-12-01T06:00:00Z"
    assert notes["envctl.dev/last-up"] == "2026-12-01T11:00:00Z"


def test_a_namespace_envctl_does_not_own_is_refused_unless_adopted(namespaces, shared_api):
    shared_api.create("v1/namespaces", {"metadata": {"name": "team-db", "labels": {"team": "db"}}})
    with pytest.raises(ClusterError) as refused:
        ensure_release_namespace(namespaces, "team-db", OWNER, ttl_seconds=DAY, now=T0)
    assert "namespace team-db exists and is not managed by envctl" in refused.value.message
    assert "--adopt" in (refused.value.hint or "")
    assert shared_api.get("v1/namespaces", None, "team-db")["metadata"]["labels"] == {"team": "db"}  # untouched

    entry = ensure_release_namespace(namespaces, "team-db", OWNER, ttl_seconds=DAY, now=T0, adopt=True)
    assert entry.action == "adopt"
    labels = shared_api.get("v1/namespaces", None, "team-db")["metadata"]["labels"]
    assert labels["team"] == "db" and labels["app.kubernetes.io/managed-by"] == "envctl"
    notes = shared_api.get("v1/namespaces", None, "team-db")["metadata"]["annotations"]
    assert notes["envctl.dev/adopted-at"] == "2026-12-01T06:00:00Z"  # so gc and down never delete it
    again = ensure_release_namespace(namespaces, "team-db", OWNER, ttl_seconds=DAY, now=T0)
    assert again.action == "refresh"  # adopted once, ours from then on


def test_another_workspaces_namespace_is_refused(namespaces):
    other = Owner(workspace="acme/billing", release="billing")
    ensure_release_namespace(namespaces, "staging", other, ttl_seconds=DAY, now=T0)
    with pytest.raises(ClusterError, match=r"belongs to another envctl workspace \(acme-billing\)"):
        ensure_release_namespace(namespaces, "staging", OWNER, ttl_seconds=DAY, now=T0)


def ns(name: str, *, managed: bool = True, expires: str | None = None, last_up: str | None = None,
       terminating: bool = False) -> NamespaceInfo:  # fmt: skip
    labels = {"app.kubernetes.io/managed-by": "envctl"} if managed else {"app.kubernetes.io/managed-by": "Helm"}
    notes = {"envctl.dev/release": "demo"}
    if expires:
        notes["envctl.dev/expires-at"] = expires
    if last_up:
        notes["envctl.dev/last-up"] = last_up
    return NamespaceInfo(name, labels, notes, terminating)


@pytest.mark.parametrize(
    ("namespace", "older_than", "delete", "reason"),
    [
        pytest.param(ns("a", expires="2026-12-01T05:59:59Z"), None, True, "expired 2026-12-01T05:59:59Z", id="expired"),
        pytest.param(ns("a", expires="2026-12-01T06:00:01Z"), None, False, "expires 2026-12-01T06:00:01Z", id="fresh"),
        pytest.param(ns("a", expires="2026-12-09T00:00:00Z", last_up="2026-11-20T00:00:00Z"), 72 * 3600.0, True,
                     "last up 2026-11-20T00:00:00Z, older than --older-than", id="older-than"),
        pytest.param(ns("a", expires="2026-12-09T00:00:00Z", last_up="2026-11-30T12:00:00Z"), 72 * 3600.0, False,
                     "within --older-than", id="recent-up"),
        pytest.param(ns("a", expires="yesterday"), None, False, "no readable expires-at: kept", id="unreadable"),
        pytest.param(ns("a", expires="2026-11-01T00:00:00Z", terminating=True), None, False,
                     "already being deleted", id="terminating"),
    ],
)  # fmt: skip
def test_gc_decisions(namespace: NamespaceInfo, older_than: float | None, delete: bool, reason: str):
    [decision] = plan_gc([namespace], T0, older_than_seconds=older_than)
    assert decision.delete is delete and reason in decision.reason


def test_gc_never_deletes_an_adopted_namespace():
    adopted = ns("team-db", expires="2020-01-01T00:00:00Z")
    adopted.annotations["envctl.dev/adopted-at"] = "2019-01-01T00:00:00Z"
    [decision] = plan_gc([adopted], T0, older_than_seconds=1.0)
    assert not decision.delete and "adopted" in decision.reason


def test_gc_never_lists_a_namespace_envctl_does_not_manage():
    decisions = plan_gc([ns("theirs", managed=False, expires="2020-01-01T00:00:00Z"), ns("ours")], T0)
    assert [d.namespace for d in decisions] == ["ours"]


def test_a_created_or_adopted_namespace_binds_the_release_role_to_whoever_runs_envctl(namespaces, shared_api):
    shared_api.emulator.username = "system:serviceaccount:envctl-system:envctl"
    ensure_release_namespace(namespaces, "pr-12", OWNER, ttl_seconds=DAY, now=T0)
    binding = shared_api.get("rbac.authorization.k8s.io/v1/rolebindings", "pr-12", "envctl")
    assert binding["roleRef"] == {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "envctl-release"}
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": "envctl", "namespace": "envctl-system"}]
    ensure_release_namespace(namespaces, "pr-12", OWNER, ttl_seconds=DAY, now=T0)  # a refresh: binding kept as is

    shared_api.emulator.username = "alice@example.com"
    shared_api.create("v1/namespaces", {"metadata": {"name": "legacy"}})
    ensure_release_namespace(namespaces, "legacy", OWNER, ttl_seconds=DAY, now=T0, adopt=True)
    subjects = shared_api.get("rbac.authorization.k8s.io/v1/rolebindings", "legacy", "envctl")["subjects"]
    assert subjects == [{"kind": "User", "name": "alice@example.com", "apiGroup": "rbac.authorization.k8s.io"}]
