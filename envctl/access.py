"""Can this identity do what envctl needs on a shared cluster? Asked with SelfSubjectAccessReview.

The needs are the same as ``envctl rbac`` grants (``rbac.py``), checked in the release namespace
(or, before it exists, cluster-wide for the namespace verbs). ``doctor`` shows the answers, so a
missing verb is found before a run fails halfway.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from envctl.rbac import KINDS

__all__ = ["AccessAnswer", "AccessNeed", "check_access", "required_access"]


@dataclass(frozen=True)
class AccessNeed:
    verb: str
    group: str
    resource: str
    namespaced: bool
    why: str

    def describe(self) -> str:
        what = f"{self.resource}.{self.group}" if self.group else self.resource
        return f"{self.verb} {what}"


@dataclass(frozen=True)
class AccessAnswer:
    need: AccessNeed
    allowed: bool
    reason: str


def required_access(kinds: list[str]) -> list[AccessNeed]:
    """Every verb envctl uses, with why (``kinds``: what the chart renders)."""
    needs = [AccessNeed(v, "", "namespaces", namespaced=False, why="create, refresh and gc namespaces")
             for v in ("get", "list", "create", "patch", "delete")]  # fmt: skip
    needs += [
        AccessNeed(v, "coordination.k8s.io", "leases", namespaced=True, why="the cluster-wide lock")
        for v in ("get", "create", "patch")
    ]
    needs += [
        AccessNeed(v, "", "secrets", namespaced=True, why="helm's release records")
        for v in ("get", "list", "create", "update", "delete")
    ]
    needs += [AccessNeed(v, "", "pods", namespaced=True, why="waiting for readiness") for v in ("list", "watch")]
    needs += [
        AccessNeed(v, "apps", "replicasets", namespaced=True, why="telling the current revision's pods")
        for v in ("list", "watch")
    ]
    for kind in kinds:
        if kind in KINDS:
            group, resource = KINDS[kind]
            needs += [
                AccessNeed(v, group, resource, namespaced=True, why=f"the chart's {kind}s")
                for v in ("get", "create", "patch", "delete")
            ]
    return needs


def check_access(api_client: Any, namespace: str, needs: list[AccessNeed]) -> list[AccessAnswer]:
    """One SelfSubjectAccessReview per need (namespaced ones in ``namespace``)."""
    from envctl.adapters.kube import create_object

    answers = []
    for need in needs:
        attributes = {"verb": need.verb, "group": need.group, "resource": need.resource}
        if need.namespaced:
            attributes["namespace"] = namespace
        body: Any = {"apiVersion": "authorization.k8s.io/v1", "kind": "SelfSubjectAccessReview",
                     "spec": {"resourceAttributes": attributes}}  # fmt: skip
        status = create_object(api_client, "SelfSubjectAccessReview", None, body, timeout=10).get("status")
        allowed = bool(isinstance(status, dict) and status.get("allowed"))
        if isinstance(status, dict):
            reason = str(status.get("reason") or status.get("evaluationError") or "")
        else:
            reason = "no answer"
        answers.append(AccessAnswer(need, allowed, reason))
    return answers
