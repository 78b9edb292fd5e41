"""What envctl needs, asked of the API with SelfSubjectAccessReview (the test API's RBAC answers)."""

from __future__ import annotations

from envctl.access import check_access, required_access
from envctl.adapters.kube import connect


def test_every_need_is_asked_and_a_missing_verb_is_named(shared_kubeconfig, shared_api):
    shared_api.emulator.denied = {("delete", "namespaces"), ("create", "leases")}
    needs = required_access(["Deployment", "Job", "Gateway"])
    answers = check_access(connect(shared_kubeconfig), "pr-1", needs)
    missing = [a.need.describe() for a in answers if not a.allowed]
    assert missing == ["delete namespaces", "create leases.coordination.k8s.io"]
    asked = {a.need.describe() for a in answers}
    assert {"patch deployments.apps", "create jobs.batch", "watch pods", "watch replicasets.apps",
            "update secrets"} <= asked
    assert not any("gateway" in item for item in asked)  # an unknown kind is not guessed
