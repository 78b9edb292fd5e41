"""What "ready" and "broken" mean for a release's workloads and pods: pure functions over API models.

Readiness follows `kubectl rollout status` (updated, available and ready counts against the desired
count, after the controller has observed the latest generation). The fail-fast reasons are the ones
Skaffold and Tilt stop on (docs/tools-behaviour.md, "Pod states that never clear"): a pod in one of
them will not recover by waiting, so the waiter reports it at once instead of sitting out the
deadline as `helm --wait` does (helm#7429).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

__all__ = [
    "RELEASE_LABEL",
    "WORKLOAD_KINDS",
    "PodProblem",
    "WorkloadStatus",
    "belongs_to",
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


def _condition(conditions: Any, kind: str) -> Any:
    for condition in conditions or ():
        if condition.type == kind:
            return condition
    return None


def _generation_pending(obj: Any) -> str | None:
    generation = obj.metadata.generation if obj.metadata else None
    observed = getattr(obj.status, "observed_generation", None)  # Jobs have none
    if generation is not None and observed is not None and observed < generation:
        return f"generation {generation} not yet observed (at {observed})"
    return None


def workload_status(kind: str, obj: Any) -> WorkloadStatus:
    """Readiness of a Deployment, StatefulSet, DaemonSet or Job model."""
    name = obj.metadata.name
    pending = _generation_pending(obj)
    if pending and kind != "Job":
        return WorkloadStatus(kind, name, ready=False, failed=False, summary=pending)
    check = {"Deployment": _deployment, "StatefulSet": _statefulset, "DaemonSet": _daemonset, "Job": _job}[
        kind
    ]
    return check(name, obj)


def _deployment(name: str, obj: Any) -> WorkloadStatus:
    desired = 1 if obj.spec.replicas is None else obj.spec.replicas
    status = obj.status
    progressing = _condition(status.conditions if status else None, "Progressing")
    if (
        progressing is not None
        and progressing.status == "False"
        and progressing.reason == "ProgressDeadlineExceeded"
    ):
        return WorkloadStatus(
            "Deployment",
            name,
            ready=False,
            failed=True,
            summary="progress deadline exceeded",
            reason="ProgressDeadlineExceeded",
            message=progressing.message or "",
        )
    updated = (status.updated_replicas if status else None) or 0
    available = (status.available_replicas if status else None) or 0
    total = (status.replicas if status else None) or 0
    ready = updated >= desired and available >= desired and total <= updated
    summary = f"{available}/{desired} available, {updated} updated"
    if total > updated:
        summary += f", {total - updated} old pending termination"
    return WorkloadStatus("Deployment", name, ready=ready, failed=False, summary=summary)


def _statefulset(name: str, obj: Any) -> WorkloadStatus:
    desired = 1 if obj.spec.replicas is None else obj.spec.replicas
    status = obj.status
    ready_count = (status.ready_replicas if status else None) or 0
    rolling = bool(
        status
        and status.update_revision
        and status.current_revision
        and status.update_revision != status.current_revision
    )
    summary = f"{ready_count}/{desired} ready" + (", rolling update in progress" if rolling else "")
    return WorkloadStatus(
        "StatefulSet", name, ready=ready_count >= desired and not rolling, failed=False, summary=summary
    )


def _daemonset(name: str, obj: Any) -> WorkloadStatus:
    status = obj.status
    if status is None or status.desired_number_scheduled is None:
        return WorkloadStatus("DaemonSet", name, ready=False, failed=False, summary="not scheduled yet")
    desired = status.desired_number_scheduled
    number_ready = status.number_ready or 0
    updated = desired if status.updated_number_scheduled is None else status.updated_number_scheduled
    return WorkloadStatus(
        "DaemonSet",
        name,
        ready=number_ready >= desired and updated >= desired,
        failed=False,
        summary=f"{number_ready}/{desired} ready, {updated} updated",
    )


def _job(name: str, obj: Any) -> WorkloadStatus:
    status = obj.status
    conditions = status.conditions if status else None
    failed = _condition(conditions, "Failed")
    if failed is not None and failed.status == "True":
        return WorkloadStatus(
            "Job",
            name,
            ready=False,
            failed=True,
            summary=f"failed: {failed.reason or 'Failed'}",
            reason=failed.reason or "Failed",
            message=failed.message or "",
        )
    complete = _condition(conditions, "Complete")
    succeeded = (status.succeeded if status else None) or 0
    completions = 1 if obj.spec.completions is None else obj.spec.completions
    if complete is not None and complete.status == "True":
        return WorkloadStatus(
            "Job", name, ready=True, failed=False, summary=f"complete ({succeeded} succeeded)"
        )
    active = (status.active if status else None) or 0
    return WorkloadStatus(
        "Job",
        name,
        ready=False,
        failed=False,
        summary=f"{succeeded}/{completions} succeeded, {active} active",
    )


def belongs_to(pod: Any, workload: Any) -> bool:
    """Whether ``pod`` is selected by ``workload`` (matchLabels; matchExpressions are not needed here)."""
    selector = workload.spec.selector if workload.spec else None
    match = (selector.match_labels if selector else None) or {}
    labels = (pod.metadata.labels if pod.metadata else None) or {}
    return bool(match) and all(labels.get(key) == value for key, value in match.items())


def is_job_pod(pod: Any) -> bool:
    owners = (pod.metadata.owner_references if pod.metadata else None) or ()
    labels = (pod.metadata.labels if pod.metadata else None) or {}
    return (
        any(owner.kind == "Job" for owner in owners)
        or "job-name" in labels
        or "batch.kubernetes.io/job-name" in labels
    )


def _one_line(text: str | None) -> str:
    return " ".join((text or "").split())


def pod_problems(pod: Any) -> list[PodProblem]:
    """Every bad state ``pod`` shows now, in the order the kubelet would hit them (init containers first).

    A Job's pods may fail and be replaced within the Job's backoff limit, so their exits and Failed
    phase are left to the Job's own Failed condition.
    """
    name = pod.metadata.name
    if pod.metadata.deletion_timestamp is not None:
        return []  # an old replica on its way out: whatever it does no longer matters
    status = pod.status
    if status is None:
        return []
    job_pod = is_job_pod(pod)
    problems: list[PodProblem] = []
    scheduled = _condition(status.conditions, "PodScheduled")
    if scheduled is not None and scheduled.status == "False" and scheduled.reason == "Unschedulable":
        problems.append(
            PodProblem(name, None, "Unschedulable", _one_line(scheduled.message), 0, "unschedulable")
        )
    for container in [*(status.init_container_statuses or ()), *(status.container_statuses or ())]:
        restarts = container.restart_count or 0
        state = container.state
        waiting = state.waiting if state else None
        terminated = state.terminated if state else None
        if waiting is not None and waiting.reason in FATAL_WAITING:
            problems.append(
                PodProblem(name, container.name, waiting.reason, _one_line(waiting.message), restarts)
            )
        elif waiting is not None and waiting.reason in PULL_WAITING:
            problems.append(
                PodProblem(name, container.name, waiting.reason, _one_line(waiting.message), restarts, "pull")
            )
        elif terminated is not None and terminated.exit_code != 0 and restarts > 0 and not job_pod:
            # Crashing again before the back-off shows in `waiting`.
            reason = terminated.reason or "Error"
            problems.append(
                PodProblem(
                    name,
                    container.name,
                    reason,
                    f"exited with code {terminated.exit_code}, restarted {restarts} times"
                    + (f": {_one_line(terminated.message)}" if terminated.message else ""),
                    restarts,
                )
            )
    if status.phase == "Failed" and not job_pod:
        problems.append(
            PodProblem(name, None, status.reason or "Failed", _one_line(status.message) or "pod failed", 0)
        )
    return problems


def pod_summary(pod: Any) -> str:
    """A pod's state in a few words, e.g. ``Pending (ContainerCreating)`` or ``Running, not ready``."""
    status = pod.status
    if status is None or status.phase is None:
        return "Pending"
    reasons = []
    for container in [*(status.init_container_statuses or ()), *(status.container_statuses or ())]:
        state = container.state
        if state and state.waiting and state.waiting.reason:
            reasons.append(state.waiting.reason)
        elif state and state.terminated and state.terminated.reason and status.phase != "Succeeded":
            reasons.append(state.terminated.reason)
    scheduled = _condition(status.conditions, "PodScheduled")
    if scheduled is not None and scheduled.status == "False":
        reasons.append(scheduled.reason or "not scheduled")
    ready = _condition(status.conditions, "Ready")
    summary = str(status.phase)
    if status.phase == "Running":
        summary += ", ready" if ready is not None and ready.status == "True" else ", not ready"
    return summary + (f" ({', '.join(dict.fromkeys(reasons))})" if reasons else "")
