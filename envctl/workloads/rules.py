"""What "ready" and "broken" mean for a release's workloads and pods: pure functions over API objects
(the JSON the API sends, read through wire.py).

Readiness follows `kubectl rollout status` (updated, available and ready counts against the desired
count, after the controller has observed the latest generation). The fail-fast reasons are the ones
Skaffold and Tilt stop on (docs/tools-behaviour.md, "Pod states that never clear"): a pod in one of
them will not recover by waiting, so the waiter reports it at once instead of sitting out the
deadline as `helm --wait` does (helm#7429).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from envctl.workloads import wire
from envctl.workloads.wire import KubeObject, at, condition, entries, mapping, number, text

__all__ = [
    "RELEASE_LABEL",
    "WORKLOAD_KINDS",
    "PodProblem",
    "WorkloadStatus",
    "belongs_to",
    "container_statuses",
    "is_job_pod",
    "pod_problems",
    "pod_summary",
    "release_selector",
    "workload_status",
]

RELEASE_LABEL = "app.kubernetes.io/instance"
WORKLOAD_KINDS: tuple[str, ...] = ("Deployment", "StatefulSet", "DaemonSet", "Job")

# Waiting reasons that never clear by themselves.
FATAL_WAITING = frozenset(
    {
        "CrashLoopBackOff",
        "ErrImageNeverPull",
        "InvalidImageName",
        "CreateContainerConfigError",
        "CreateContainerError",
        "RunContainerError",
    }
)
# Pull errors can be a registry hiccup: fatal only after a grace period.
PULL_WAITING = frozenset({"ErrImagePull", "ImagePullBackOff"})

Grace = Literal["none", "pull", "unschedulable"]


def release_selector(release: str) -> str:
    """The label selector of every object a Helm release made (the chart labels them so)."""
    return f"{RELEASE_LABEL}={release}"


@dataclass(frozen=True)
class WorkloadStatus:
    """One workload's readiness as last observed; ``summary`` is its state in a few words."""

    kind: str
    name: str
    ready: bool
    failed: bool
    summary: str
    reason: str = ""
    message: str = ""


@dataclass(frozen=True)
class PodProblem:
    """A bad state of one pod (or one of its containers); ``grace`` says how long it is tolerated."""

    pod: str
    container: str | None
    reason: str
    message: str
    restarts: int
    grace: Grace = "none"


def _generation_pending(obj: KubeObject) -> str | None:
    generation = number(obj, "metadata", "generation")
    observed = number(obj, "status", "observedGeneration")  # Jobs have none
    if generation is not None and observed is not None and observed < generation:
        return f"generation {generation} not yet observed (at {observed})"
    return None


def workload_status(kind: str, obj: KubeObject) -> WorkloadStatus:
    """Readiness of a Deployment, StatefulSet, DaemonSet or Job."""
    name = wire.name(obj)
    pending = _generation_pending(obj)
    if pending and kind != "Job":
        return WorkloadStatus(kind, name, ready=False, failed=False, summary=pending)
    check = {"Deployment": _deployment, "StatefulSet": _statefulset, "DaemonSet": _daemonset, "Job": _job}[
        kind
    ]
    return check(name, obj)


def _replicas(obj: KubeObject, field: str) -> int:
    """A count the spec sets, where an unset one means 1 (``replicas``, ``completions``)."""
    value = number(obj, "spec", field)
    return 1 if value is None else value


def _deployment(name: str, obj: KubeObject) -> WorkloadStatus:
    desired = _replicas(obj, "replicas")
    progressing = condition(obj, "Progressing")
    if (
        progressing is not None
        and progressing.get("status") == "False"
        and progressing.get("reason") == "ProgressDeadlineExceeded"
    ):
        return WorkloadStatus(
            "Deployment",
            name,
            ready=False,
            failed=True,
            summary="progress deadline exceeded",
            reason="ProgressDeadlineExceeded",
            message=text(progressing, "message") or "",
        )
    updated = number(obj, "status", "updatedReplicas") or 0
    available = number(obj, "status", "availableReplicas") or 0
    total = number(obj, "status", "replicas") or 0
    ready = updated >= desired and available >= desired and total <= updated
    summary = f"{available}/{desired} available, {updated} updated"
    if total > updated:
        summary += f", {total - updated} old pending termination"
    return WorkloadStatus("Deployment", name, ready=ready, failed=False, summary=summary)


def _statefulset(name: str, obj: KubeObject) -> WorkloadStatus:
    desired = _replicas(obj, "replicas")
    ready_count = number(obj, "status", "readyReplicas") or 0
    update, current = text(obj, "status", "updateRevision"), text(obj, "status", "currentRevision")
    rolling = bool(update and current and update != current)
    summary = f"{ready_count}/{desired} ready" + (", rolling update in progress" if rolling else "")
    return WorkloadStatus(
        "StatefulSet", name, ready=ready_count >= desired and not rolling, failed=False, summary=summary
    )


def _daemonset(name: str, obj: KubeObject) -> WorkloadStatus:
    desired = number(obj, "status", "desiredNumberScheduled")
    if desired is None:
        return WorkloadStatus("DaemonSet", name, ready=False, failed=False, summary="not scheduled yet")
    number_ready = number(obj, "status", "numberReady") or 0
    updated = number(obj, "status", "updatedNumberScheduled")
    updated = desired if updated is None else updated
    return WorkloadStatus(
        "DaemonSet",
        name,
        ready=number_ready >= desired and updated >= desired,
        failed=False,
        summary=f"{number_ready}/{desired} ready, {updated} updated",
    )


def _job(name: str, obj: KubeObject) -> WorkloadStatus:
    failed = condition(obj, "Failed")
    if failed is not None and failed.get("status") == "True":
        reason = text(failed, "reason") or "Failed"
        return WorkloadStatus(
            "Job",
            name,
            ready=False,
            failed=True,
            summary=f"failed: {reason}",
            reason=reason,
            message=text(failed, "message") or "",
        )
    complete = condition(obj, "Complete")
    succeeded = number(obj, "status", "succeeded") or 0
    completions = _replicas(obj, "completions")
    if complete is not None and complete.get("status") == "True":
        return WorkloadStatus(
            "Job", name, ready=True, failed=False, summary=f"complete ({succeeded} succeeded)"
        )
    active = number(obj, "status", "active") or 0
    return WorkloadStatus(
        "Job",
        name,
        ready=False,
        failed=False,
        summary=f"{succeeded}/{completions} succeeded, {active} active",
    )


def belongs_to(pod: KubeObject, workload: KubeObject) -> bool:
    """Whether ``pod`` is selected by ``workload`` (matchLabels; matchExpressions are not needed here)."""
    match = mapping(workload, "spec", "selector", "matchLabels")
    pod_labels = wire.labels_of(pod)
    return bool(match) and all(pod_labels.get(key) == value for key, value in match.items())


def is_job_pod(pod: KubeObject) -> bool:
    pod_labels = wire.labels_of(pod)
    return (
        any(owner.get("kind") == "Job" for owner in entries(pod, "metadata", "ownerReferences"))
        or "job-name" in pod_labels
        or "batch.kubernetes.io/job-name" in pod_labels
    )


def _one_line(value: str | None) -> str:
    return " ".join((value or "").split())


def container_statuses(pod: KubeObject) -> list[KubeObject]:
    """The pod's init container statuses, then its container statuses."""
    return [*entries(pod, "status", "initContainerStatuses"), *entries(pod, "status", "containerStatuses")]


def pod_problems(pod: KubeObject) -> list[PodProblem]:
    """Every bad state ``pod`` shows now, in the order the kubelet would hit them (init containers first).

    A Job's pods may fail and be replaced within the Job's backoff limit, so their exits and Failed
    phase are left to the Job's own Failed condition.
    """
    name = wire.name(pod)
    if at(pod, "metadata", "deletionTimestamp") is not None:
        return []  # an old replica on its way out: whatever it does no longer matters
    if at(pod, "status") is None:
        return []
    job_pod = is_job_pod(pod)
    problems: list[PodProblem] = []
    scheduled = condition(pod, "PodScheduled")
    if scheduled is not None and scheduled.get("status") == "False" and scheduled.get("reason") == "Unschedulable":
        problems.append(
            PodProblem(name, None, "Unschedulable", _one_line(text(scheduled, "message")), 0, "unschedulable")
        )
    for container in container_statuses(pod):
        problem = _container_problem(name, container, job_pod=job_pod)
        if problem is not None:
            problems.append(problem)
    if text(pod, "status", "phase") == "Failed" and not job_pod:
        message = _one_line(text(pod, "status", "message")) or "pod failed"
        problems.append(PodProblem(name, None, text(pod, "status", "reason") or "Failed", message, 0))
    return problems


def _container_problem(pod: str, container: KubeObject, *, job_pod: bool) -> PodProblem | None:
    restarts = number(container, "restartCount") or 0
    name = text(container, "name")
    waiting, terminated = at(container, "state", "waiting"), at(container, "state", "terminated")
    reason = text(waiting, "reason")
    if waiting is not None and reason in FATAL_WAITING:
        return PodProblem(pod, name, str(reason), _one_line(text(waiting, "message")), restarts)
    if waiting is not None and reason in PULL_WAITING:
        return PodProblem(pod, name, str(reason), _one_line(text(waiting, "message")), restarts, "pull")
    exit_code = number(terminated, "exitCode")
    if terminated is not None and exit_code != 0 and restarts > 0 and not job_pod:
        # Crashing again before the back-off shows in `waiting`.
        message = text(terminated, "message")
        return PodProblem(
            pod,
            name,
            text(terminated, "reason") or "Error",
            f"exited with code {exit_code}, restarted {restarts} times"
            + (f": {_one_line(message)}" if message else ""),
            restarts,
        )
    return None


def pod_summary(pod: KubeObject) -> str:
    """A pod's state in a few words, e.g. ``Pending (ContainerCreating)`` or ``Running, not ready``."""
    phase = text(pod, "status", "phase")
    if phase is None:
        return "Pending"
    reasons = []
    for container in container_statuses(pod):
        waiting = text(container, "state", "waiting", "reason")
        terminated = text(container, "state", "terminated", "reason")
        if waiting:
            reasons.append(waiting)
        elif terminated and phase != "Succeeded":
            reasons.append(terminated)
    scheduled = condition(pod, "PodScheduled")
    if scheduled is not None and scheduled.get("status") == "False":
        reasons.append(text(scheduled, "reason") or "not scheduled")
    ready = condition(pod, "Ready")
    summary = phase
    if phase == "Running":
        summary += ", ready" if ready is not None and ready.get("status") == "True" else ", not ready"
    return summary + (f" ({', '.join(dict.fromkeys(reasons))})" if reasons else "")
