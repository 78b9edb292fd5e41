"""`envctl rbac`: exactly the grants envctl needs, and an admission policy that really confines them.

The policy's CEL is evaluated here with a CEL implementation (``common-expression-language``)
against the admission requests an API server would build, so a typo or a wrong rule fails a test.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import cel
import pytest
import yaml

from envctl.rbac import rbac_manifests
from tests.support.cli import run_envctl

ROOT = Path(__file__).resolve().parents[2]
SA_USER = "system:serviceaccount:envctl-system:envctl"


def envctl(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return run_envctl(*args, cwd=cwd, env={**os.environ, "COLUMNS": "200"})


def by_kind(docs: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {f"{doc['kind']}/{doc['metadata']['name']}": doc for doc in docs}


def rules(role: dict[str, Any]) -> set[tuple[str, str, tuple[str, ...], tuple[str, ...]]]:
    return {(g, r, tuple(rule["verbs"]), tuple(rule.get("resourceNames", ())))
            for rule in role["rules"] for g in rule["apiGroups"] for r in rule["resources"]}  # fmt: skip


def test_the_demo_gets_exactly_these_grants_and_nothing_more():
    done = envctl(ROOT, "rbac", "--namespace-prefix", "pr-")
    assert done.returncode == 0, done.stderr
    docs = by_kind([d for d in yaml.safe_load_all(done.stdout) if d])
    assert sorted(docs) == [
        "ClusterRole/envctl-ci", "ClusterRole/envctl-release", "ClusterRoleBinding/envctl-ci",
        "ValidatingAdmissionPolicy/envctl-pr-namespaces", "ValidatingAdmissionPolicyBinding/envctl-pr-namespaces",
    ]  # fmt: skip
    crud = ("get", "list", "watch", "create", "update", "patch", "delete")
    assert rules(docs["ClusterRole/envctl-release"]) == {
        ("coordination.k8s.io", "leases", ("get", "create", "patch"), ()),
        ("", "secrets", crud, ()),
        ("", "pods", ("get", "list", "watch"), ()),
        ("", "events", ("get", "list", "watch"), ()),
        ("", "pods/log", ("get",), ()),
        ("apps", "replicasets", ("get", "list", "watch"), ()),  # the wait's revisions
        ("apps", "deployments", crud, ()),  # the demo chart's Deployments
        ("batch", "jobs", crud, ()),  # its migrate Job and schema-check hook
        ("", "configmaps", crud, ()),  # its settings ConfigMap
        ("", "services", crud, ()),  # and Services
    }
    assert rules(docs["ClusterRole/envctl-ci"]) == {
        ("", "namespaces", ("get", "list", "watch", "create", "patch", "delete"), ()),
        ("rbac.authorization.k8s.io", "rolebindings", ("get", "create"), ()),
        ("rbac.authorization.k8s.io", "clusterroles", ("bind",), ("envctl-release",)),
    }
    binding = docs["ClusterRoleBinding/envctl-ci"]
    assert binding["roleRef"]["name"] == "envctl-ci"  # envctl-release is never bound cluster-wide
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": "envctl", "namespace": "envctl-system"}]


def admit(policy: dict[str, Any], request: dict[str, Any]) -> list[str]:
    """The messages of the validations that deny ``request`` (empty: admitted)."""
    ctx = cel.Context()
    for name in ("object", "oldObject", "namespaceObject"):
        ctx.add_variable(name, request.get(name))
    ctx.add_variable("request", request["request"])
    condition = policy["spec"]["matchConditions"][0]["expression"]
    if not cel.evaluate(condition, ctx):
        return []
    return [v["message"] for v in policy["spec"]["validations"] if not cel.evaluate(v["expression"], ctx)]


def ns(name: str, labelled: bool) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name}
    if labelled:
        meta["labels"] = {"app.kubernetes.io/managed-by": "envctl", "team": "x"}
    return {"metadata": meta}


def req(resource: str, operation: str, user: str = SA_USER, **objects: Any) -> dict[str, Any]:
    request = {"resource": {"group": "", "version": "v1", "resource": resource}, "operation": operation,
               "userInfo": {"username": user}}  # fmt: skip
    return {"request": request, "object": None, "oldObject": None, "namespaceObject": None, **objects}


def binding_to(role: str) -> dict[str, Any]:
    return {"metadata": {"name": "envctl"}, "roleRef": {"kind": "ClusterRole", "name": role}}


CASES = [
    pytest.param(req("namespaces", "CREATE", object=ns("pr-1", True)), True, id="create-own"),
    pytest.param(req("namespaces", "CREATE", object=ns("pr-1", False)), False, id="create-unlabelled"),
    pytest.param(req("namespaces", "CREATE", object=ns("prod", True)), False, id="create-outside-prefix"),
    pytest.param(req("namespaces", "UPDATE", object=ns("pr-1", True), oldObject=ns("pr-1", True)), True, id="refresh"),
    pytest.param(req("namespaces", "UPDATE", object=ns("pr-9", True), oldObject=ns("pr-9", False)), False,
                 id="adopt-by-labelling"),
    pytest.param(req("namespaces", "DELETE", oldObject=ns("pr-1", True)), True, id="delete-own"),
    pytest.param(req("namespaces", "DELETE", oldObject=ns("kube-system", False)), False, id="delete-kube-system"),
    pytest.param(req("namespaces", "DELETE", oldObject=ns("pr-2", False)), False, id="delete-unlabelled-prefixed"),
    pytest.param(req("rolebindings", "CREATE", object=binding_to("envctl-release"), namespaceObject=ns("pr-1", True)),
                 True, id="bind-release-role-in-own"),
    pytest.param(req("rolebindings", "CREATE", object=binding_to("envctl-release"),
                     namespaceObject=ns("kube-system", False)), False, id="bind-in-kube-system"),
    pytest.param(req("rolebindings", "CREATE", object=binding_to("cluster-admin"), namespaceObject=ns("pr-1", True)),
                 False, id="bind-cluster-admin"),
    pytest.param(req("namespaces", "DELETE", user="admin", oldObject=ns("kube-system", False)), True,
                 id="other-users-unaffected"),
]  # fmt: skip


@pytest.mark.parametrize(("request_", "admitted"), CASES)
def test_the_admission_policy_confines_the_service_account(request_: dict[str, Any], admitted: bool):
    docs, _ = rbac_manifests("pr-", "envctl", "envctl-system", ["Deployment"])
    policy = next(d for d in docs if d["kind"] == "ValidatingAdmissionPolicy")
    assert (admit(policy, request_) == []) is admitted


def test_a_kind_without_a_rule_is_named_not_granted(tmp_path: Path):
    shutil.copytree(ROOT / "charts" / "demo", tmp_path / "charts" / "demo")
    (tmp_path / "charts" / "demo" / "templates" / "route.yaml").write_text("apiVersion: x/v1\nkind: HTTPRoute\n")
    (tmp_path / "envctl.yaml").write_text("version: 1\nrelease:\n  chart: charts/demo\n")
    done = envctl(tmp_path, "rbac", "--namespace-prefix", "preview-")
    assert done.returncode == 0, done.stderr
    assert "the chart renders kind HTTPRoute, which envctl has no rule for" in done.stderr
    assert "# kind HTTPRoute: no rule generated" in done.stdout and "httproutes" not in done.stdout
    assert "ValidatingAdmissionPolicy" in done.stdout and 'startsWith("preview-")' in done.stdout


@pytest.mark.parametrize("args", [["--namespace-prefix", "PR_"], ["--namespace-prefix", "pr-", "--service-account", "A"]])
def test_bad_names_are_exit_2(args: list[str]):
    done = envctl(ROOT, "rbac", *args)
    assert done.returncode == 2 and done.stderr.startswith("error: ") and "hint: " in done.stderr
