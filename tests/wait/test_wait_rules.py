"""Readiness and fail-fast rules over API objects as the API sends them (JSON; pure): the cases the
emulated scenarios don't reach."""

from __future__ import annotations

from typing import Any

import pytest

from envctl.workloads.rules import pod_problems, pod_summary, workload_status

SELECTOR = {"selector": {"matchLabels": {"app": "x"}}, "template": {}}


def _workload(
    kind: str, spec: dict[str, Any], status: dict[str, Any] | None, generation: int | None = None
) -> dict[str, Any]:
    """The object as the API sends it: a field never set is left out, not null."""
    group = "batch/v1" if kind == "Job" else "apps/v1"
    metadata: dict[str, Any] = {"name": "x", **({"generation": generation} if generation is not None else {})}
    obj = {"apiVersion": group, "kind": kind, "metadata": metadata, "spec": {**SELECTOR, **spec}}
    return {**obj, "status": status} if status is not None else obj


@pytest.mark.parametrize(
    ("kind", "spec", "status", "generation", "ready", "summary"),
    [
        pytest.param(
            "Deployment",
            {"replicas": 2},
            {"replicas": 2, "updatedReplicas": 2, "availableReplicas": 2, "observedGeneration": 3},
            3,
            True,
            "2/2 available, 2 updated",
            id="deployment-available",
        ),
        pytest.param(
            "Deployment",
            {"replicas": 2},
            {"replicas": 2, "updatedReplicas": 2, "availableReplicas": 2, "observedGeneration": 2},
            3,
            False,
            "generation 3 not yet observed (at 2)",
            id="deployment-new-generation-not-observed",
        ),
        pytest.param(
            "Deployment",
            {"replicas": 1},
            {"replicas": 2, "updatedReplicas": 1, "availableReplicas": 2},
            None,
            False,
            "2/1 available, 1 updated, 1 old pending termination",
            id="deployment-old-replica-left",
        ),
        pytest.param(
            "Deployment",
            {"replicas": 0},
            None,
            None,
            True,
            "0/0 available, 0 updated",
            id="deployment-scaled-to-zero",
        ),
        pytest.param(
            "Deployment",
            {},
            None,
            None,
            False,
            "0/1 available, 0 updated",
            id="deployment-default-one-replica",
        ),
        pytest.param(
            "StatefulSet",
            {"replicas": 2},
            {"replicas": 2, "readyReplicas": 2, "currentRevision": "a", "updateRevision": "b"},
            None,
            False,
            "2/2 ready, rolling update in progress",
            id="statefulset-rolling",
        ),
        pytest.param(
            "StatefulSet",
            {"replicas": 2},
            {"replicas": 2, "readyReplicas": 2, "currentRevision": "b", "updateRevision": "b"},
            None,
            True,
            "2/2 ready",
            id="statefulset-ready",
        ),
        pytest.param("DaemonSet", {}, None, None, False, "not scheduled yet", id="daemonset-not-scheduled"),
        pytest.param(
            "DaemonSet",
            {},
            {
                "currentNumberScheduled": 3,
                "desiredNumberScheduled": 3,
                "numberMisscheduled": 0,
                "numberReady": 3,
                "updatedNumberScheduled": 2,
            },
            None,
            False,
            "3/3 ready, 2 updated",
            id="daemonset-updating",
        ),
        pytest.param(
            "Job",
            {"completions": 2},
            {"succeeded": 1, "active": 1},
            None,
            False,
            "1/2 succeeded, 1 active",
            id="job-running",
        ),
        pytest.param(
            "Job",
            {},
            {"succeeded": 1, "conditions": [{"type": "Complete", "status": "True"}]},
            None,
            True,
            "complete (1 succeeded)",
            id="job-complete",
        ),
    ],
)
def test_workload_readiness(
    kind: str,
    spec: dict[str, Any],
    status: dict[str, Any] | None,
    generation: int | None,
    ready: bool,
    summary: str,
) -> None:
    result = workload_status(kind, _workload(kind, spec, status, generation))
    assert (result.ready, result.failed, result.summary) == (ready, False, summary)


def test_a_stalled_deployment_has_failed() -> None:
    status = {
        "conditions": [
            {
                "type": "Progressing",
                "status": "False",
                "reason": "ProgressDeadlineExceeded",
                "message": 'ReplicaSet "x-1" has timed out progressing.',
            }
        ]
    }
    result = workload_status("Deployment", _workload("Deployment", {}, status))
    assert (result.failed, result.reason, result.message) == (
        True,
        "ProgressDeadlineExceeded",
        'ReplicaSet "x-1" has timed out progressing.',
    )


def _pod(status: dict[str, Any], *, owner: str = "ReplicaSet", deleting: bool = False) -> dict[str, Any]:
    return (
        {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {
                "name": "x-1",
                "ownerReferences": [{"apiVersion": "v1", "kind": owner, "name": "x", "uid": "u"}],
                **({"deletionTimestamp": "2026-01-01T00:00:00Z"} if deleting else {}),
            },
            "spec": {"containers": [{"name": "app"}]},
            "status": status,
        }
    )


def _container(state: dict[str, Any], restarts: int = 0, name: str = "app") -> dict[str, Any]:
    return {
        "name": name,
        "image": "i",
        "imageID": "",
        "ready": False,
        "restartCount": restarts,
        "state": state,
    }


CRASH = {"waiting": {"reason": "CrashLoopBackOff", "message": "back-off 10s"}}


@pytest.mark.parametrize(
    ("pod", "expected"),
    [
        pytest.param(
            _pod({"phase": "Running", "containerStatuses": [_container(CRASH, 2)]}),
            [("app", "CrashLoopBackOff", "back-off 10s", "none")],
            id="crash-loop",
        ),
        pytest.param(
            _pod(
                {
                    "phase": "Pending",
                    "initContainerStatuses": [_container(CRASH, 1, "init-db")],
                    "containerStatuses": [_container({"waiting": {"reason": "PodInitializing"}})],
                }
            ),
            [("init-db", "CrashLoopBackOff", "back-off 10s", "none")],
            id="init-container-crash-loop",
        ),
        pytest.param(
            _pod(
                {
                    "phase": "Pending",
                    "containerStatuses": [_container({"waiting": {"reason": "ErrImagePull"}})],
                }
            ),
            [("app", "ErrImagePull", "", "pull")],
            id="pull-error-is-graced",
        ),
        pytest.param(
            _pod({"phase": "Running", "containerStatuses": [_container({"terminated": {"exitCode": 0}}, 1)]}),
            [],
            id="clean-exit-is-not-a-crash",
        ),
        pytest.param(
            _pod({"phase": "Running", "containerStatuses": [_container({"terminated": {"exitCode": 1}}, 0)]}),
            [],
            id="first-exit-before-any-restart-is-not-yet-a-crash",
        ),
        pytest.param(
            _pod(
                {"phase": "Failed", "containerStatuses": [_container({"terminated": {"exitCode": 1}}, 1)]},
                owner="Job",
            ),
            [],
            id="job-pod-failures-are-left-to-the-job",
        ),
        pytest.param(
            _pod({"phase": "Running", "containerStatuses": [_container(CRASH, 3)]}, deleting=True),
            [],
            id="terminating-old-replica-is-ignored",
        ),
        pytest.param(
            _pod(
                {
                    "phase": "Pending",
                    "conditions": [
                        {
                            "type": "PodScheduled",
                            "status": "False",
                            "reason": "Unschedulable",
                            "message": "0/1 nodes\n ok",
                        }
                    ],
                }
            ),
            [(None, "Unschedulable", "0/1 nodes ok", "unschedulable")],
            id="unschedulable-is-graced",
        ),
    ],
)
def test_pod_problems(pod: Any, expected: list[tuple[str | None, str, str, str]]) -> None:
    assert [(p.container, p.reason, p.message, p.grace) for p in pod_problems(pod)] == expected


def test_pod_summary_names_phase_readiness_and_reasons() -> None:
    pod = _pod(
        {
            "phase": "Running",
            "conditions": [{"type": "Ready", "status": "False"}],
            "containerStatuses": [_container(CRASH, 2)],
        }
    )
    assert pod_summary(pod) == "Running, not ready (CrashLoopBackOff)"
