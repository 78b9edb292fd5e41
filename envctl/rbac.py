"""The least privilege a CI identity needs to run envctl on a shared cluster, as manifests (pure).

RBAC alone cannot say "only namespaces named ``pr-*`` that envctl labelled", so the grant has
three parts:

* ``ClusterRole envctl-ci``, bound cluster-wide to the service account: namespaces (get, list,
  watch, create, patch, delete — ``gc`` lists them by label), and the right to bind **only** the
  ClusterRole ``envctl-release`` (RoleBindings create/get plus ``bind`` on that one name).
* ``ClusterRole envctl-release``, never bound cluster-wide: what a release needs *inside* its
  namespace — its Lease, helm's release Secrets (``sh.helm.release.v1.*``), the kinds the chart
  renders, and reading pods, their logs and events for the readiness wait. envctl binds it in each
  namespace it creates (RoleBinding ``envctl``), so secrets elsewhere stay unreadable.
* A ``ValidatingAdmissionPolicy`` (admissionregistration.k8s.io/v1, Kubernetes ≥ 1.30) for that
  service account: a namespace may be created only with the prefix and the managed-by label, and
  changed or deleted only if it already had both; RoleBindings may be made only in such
  namespaces and only to ``envctl-release``. (Admission sees writes, not reads: the reads granted
  above are the namespace list and what ``envctl-release`` grants where it is bound.)
"""

from __future__ import annotations

import re
from typing import Any

from envctl.ownership import MANAGED_BY

__all__ = ["CI_ROLE", "KINDS", "RELEASE_ROLE", "chart_kinds", "rbac_manifests"]

CI_ROLE = "envctl-ci"
RELEASE_ROLE = "envctl-release"
_WRITE = ("get", "list", "watch", "create", "update", "patch", "delete")
_READ = ("get", "list", "watch")

# Kinds a chart commonly renders → (API group, resource). Anything else is reported, not guessed.
KINDS: dict[str, tuple[str, str]] = {
    "Deployment": ("apps", "deployments"),
    "StatefulSet": ("apps", "statefulsets"),
    "DaemonSet": ("apps", "daemonsets"),
    "ReplicaSet": ("apps", "replicasets"),
    "Job": ("batch", "jobs"),
    "CronJob": ("batch", "cronjobs"),
    "Service": ("", "services"),
    "ConfigMap": ("", "configmaps"),
    "Secret": ("", "secrets"),
    "ServiceAccount": ("", "serviceaccounts"),
    "PersistentVolumeClaim": ("", "persistentvolumeclaims"),
    "Ingress": ("networking.k8s.io", "ingresses"),
    "NetworkPolicy": ("networking.k8s.io", "networkpolicies"),
    "HorizontalPodAutoscaler": ("autoscaling", "horizontalpodautoscalers"),
    "PodDisruptionBudget": ("policy", "poddisruptionbudgets"),
}
_KIND_LINE = re.compile(r"^kind:\s*([A-Za-z0-9]+)\s*$", re.MULTILINE)


def chart_kinds(templates: dict[str, str]) -> list[str]:
    """The ``kind:`` values a chart's templates declare at top level (``templates`` = name → text)."""
    return sorted({kind for text in templates.values() for kind in _KIND_LINE.findall(text)})


def _rules_for(kinds: list[str]) -> tuple[list[dict[str, Any]], list[str]]:
    by_group: dict[str, set[str]] = {}
    unknown = []
    for kind in kinds:
        if kind not in KINDS:
            unknown.append(kind)
            continue
        group, resource = KINDS[kind]
        by_group.setdefault(group, set()).add(resource)
    rules = [
        {"apiGroups": [group], "resources": sorted(res), "verbs": list(_WRITE)}
        for group, res in sorted(by_group.items())
    ]
    return rules, unknown


def _labelled(var: str) -> str:
    key, value = MANAGED_BY
    return (
        f'has({var}.metadata.labels) && "{key}" in {var}.metadata.labels && {var}.metadata.labels["{key}"] == "{value}"'
    )


def _owned(var: str, prefix: str) -> str:
    return f'{var}.metadata.name.startsWith("{prefix}") && {_labelled(var)}'


def rbac_manifests(
    prefix: str, account: str, account_namespace: str, kinds: list[str]
) -> tuple[list[dict[str, Any]], list[str]]:
    """The manifests (in apply order) and the chart kinds that have no rule (to be added by hand)."""
    base = prefix.rstrip("-") or "envctl"
    chart_rules, unknown = _rules_for(kinds)
    subject = {"kind": "ServiceAccount", "name": account, "namespace": account_namespace}
    user = f"system:serviceaccount:{account_namespace}:{account}"
    release_role = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRole",
        "metadata": {"name": RELEASE_ROLE, "labels": {MANAGED_BY[0]: MANAGED_BY[1]}},
        "rules": [
            {"apiGroups": ["coordination.k8s.io"], "resources": ["leases"], "verbs": ["get", "create", "patch"]},
            {"apiGroups": [""], "resources": ["secrets"], "verbs": list(_WRITE)},  # helm's release records
            {"apiGroups": [""], "resources": ["pods", "events"], "verbs": list(_READ)},
            {"apiGroups": [""], "resources": ["pods/log"], "verbs": ["get"]},
            # The wait tells a Deployment's current pods by its ReplicaSets (the controller makes them).
            {"apiGroups": ["apps"], "resources": ["replicasets"], "verbs": list(_READ)},
            *chart_rules,
        ],
    }
    ci_role = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRole",
        "metadata": {"name": CI_ROLE, "labels": {MANAGED_BY[0]: MANAGED_BY[1]}},
        "rules": [
            {"apiGroups": [""], "resources": ["namespaces"],
             "verbs": ["get", "list", "watch", "create", "patch", "delete"]},
            {"apiGroups": ["rbac.authorization.k8s.io"], "resources": ["rolebindings"], "verbs": ["get", "create"]},
            {"apiGroups": ["rbac.authorization.k8s.io"], "resources": ["clusterroles"], "verbs": ["bind"],
             "resourceNames": [RELEASE_ROLE]},
        ],
    }  # fmt: skip
    binding = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRoleBinding",
        "metadata": {"name": CI_ROLE},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": CI_ROLE},
        "subjects": [subject],
    }
    policy_name = f"envctl-{base}-namespaces"
    not_namespaces = 'request.resource.resource != "namespaces"'
    policy = {
        "apiVersion": "admissionregistration.k8s.io/v1",
        "kind": "ValidatingAdmissionPolicy",
        "metadata": {"name": policy_name},
        "spec": {
            "failurePolicy": "Fail",
            "matchConstraints": {
                "resourceRules": [
                    {"apiGroups": [""], "apiVersions": ["v1"], "operations": ["CREATE", "UPDATE", "DELETE"],
                     "resources": ["namespaces"]},
                    {"apiGroups": ["rbac.authorization.k8s.io"], "apiVersions": ["v1"],
                     "operations": ["CREATE", "UPDATE", "DELETE"], "resources": ["rolebindings"]},
                ]
            },
            "matchConditions": [
                {"name": "envctl-service-account", "expression": f'request.userInfo.username == "{user}"'},
            ],
            "validations": [
                {"expression": f'{not_namespaces} || request.operation != "CREATE" || {_owned("object", prefix)}',
                 "message": f"envctl may only create namespaces named {prefix}* "
                            f"labelled {MANAGED_BY[0]}={MANAGED_BY[1]}"},
                {"expression": f'{not_namespaces} || request.operation == "CREATE" || {_owned("oldObject", prefix)}',
                 "message": f"envctl may only change or delete namespaces named {prefix}* it created"},
                {"expression": f'request.resource.resource != "rolebindings" || '
                               f'({_owned("namespaceObject", prefix)} && '
                               f'(request.operation == "DELETE" || object.roleRef.name == "{RELEASE_ROLE}"))',
                 "message": f"envctl may only bind {RELEASE_ROLE}, and only in its own {prefix}* namespaces"},
            ],
        },
    }  # fmt: skip
    policy_binding = {
        "apiVersion": "admissionregistration.k8s.io/v1",
        "kind": "ValidatingAdmissionPolicyBinding",
        "metadata": {"name": policy_name},
        "spec": {"policyName": policy_name, "validationActions": ["Deny"]},
    }
    return [release_role, ci_role, binding, policy, policy_binding], unknown
