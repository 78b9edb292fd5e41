"""The release as last observed: its workloads and pods, kept current from list and watch messages.

It answers the waiter's and `envctl status`'s questions (which problem is fatal by now, which
workload owns a pod, which pods are left over from an earlier revision) without any I/O, so it is
easy to reason about. Pods are placed in revisions as the controllers place them (revision.py):
the Deployments' ReplicaSets are watched too, and only the current revision's pods (and bare pods
no workload controls) are judged, so an earlier revision's crash-looping pod, still running until
the new one is available, never fails the rollout that replaces it.
"""

from __future__ import annotations

from dataclasses import dataclass

from envctl.workloads import wire
from envctl.workloads.revision import PodRevision, pod_revision
from envctl.workloads.rules import (
    WORKLOAD_KINDS,
    Grace,
    PodProblem,
    WorkloadStatus,
    belongs_to,
    pod_problems,
    pod_summary,
    workload_status,
)
from envctl.workloads.wire import KubeObject, at, entries, number, text

__all__ = ["WATCHED_KINDS", "Changed", "Listed", "ReleaseView"]

# ReplicaSets carry their Deployment's pod template labels (the release label among them), so the
# release's selector finds them as it finds the pods.
WATCHED_KINDS: tuple[str, ...] = (*WORKLOAD_KINDS, "ReplicaSet", "Pod")


@dataclass(frozen=True)
class Listed:
    """A full, fresh list of one kind (replaces what was known about it)."""

    kind: str
    items: tuple[KubeObject, ...]


@dataclass(frozen=True)
class Changed:
    kind: str
    event: str  # ADDED / MODIFIED / DELETED
    obj: KubeObject


class ReleaseView:
    """The release as last observed: its workloads and pods, and since when each problem has lasted."""

    def __init__(self) -> None:
        self.objects: dict[str, dict[str, KubeObject]] = {kind: {} for kind in WATCHED_KINDS}
        self.synced: set[str] = set()
        self.problem_since: dict[tuple[str, str | None, Grace], float] = {}

    def apply(self, message: Listed | Changed) -> None:
        known = self.objects[message.kind]
        if isinstance(message, Listed):
            known.clear()
            known.update({wire.name(obj): obj for obj in message.items})
            self.synced.add(message.kind)
        elif message.event == "DELETED":
            known.pop(wire.name(message.obj), None)
        else:
            known[wire.name(message.obj)] = message.obj

    def workloads(self) -> list[WorkloadStatus]:
        return [workload_status(kind, obj) for kind in WORKLOAD_KINDS for obj in self.objects[kind].values()]

    def revision_of(self, pod: KubeObject) -> PodRevision:
        """Where ``pod`` stands among its workload's revisions, by what its controllers wrote."""
        workloads = {kind: self.objects[kind] for kind in WORKLOAD_KINDS}
        return pod_revision(pod, workloads, self.objects["ReplicaSet"])

    def judged(self, pod: KubeObject) -> bool:
        """Whether ``pod``'s state speaks for the release: a pod of the current revision, or a bare
        pod no workload controls. An earlier revision's pod is on its way out, and one whose
        revision is not settled yet (its ReplicaSet not seen, the new generation not observed) is
        judged once it is."""
        return self.revision_of(pod).verdict in {"current", "unowned"}

    def owner_of(self, pod: KubeObject) -> str | None:
        controlled = self.revision_of(pod).workload
        if controlled is not None:
            return controlled
        for kind in WORKLOAD_KINDS:
            for obj in self.objects[kind].values():
                if belongs_to(pod, obj):
                    return f"{kind}/{wire.name(obj)}"
        return None

    def pods_of(self, workload: KubeObject) -> list[KubeObject]:
        """The pods ``workload`` selects that are not of an earlier revision."""
        return [
            pod
            for pod in self.objects["Pod"].values()
            if belongs_to(pod, workload) and self.revision_of(pod).verdict != "old"
        ]

    def old_pods_of(self, workload: KubeObject) -> list[KubeObject]:
        """The pods of ``workload``'s earlier revisions still present (a rollout in progress)."""
        return [
            pod
            for pod in self.objects["Pod"].values()
            if belongs_to(pod, workload) and self.revision_of(pod).verdict == "old"
        ]

    def pod_states(self) -> tuple[tuple[str, str], ...]:
        return tuple((name, pod_summary(pod)) for name, pod in sorted(self.objects["Pod"].items()))

    def fatal_problem(self, now: float, graces: dict[str, float]) -> PodProblem | None:
        """The first problem that is fatal now (a graced one once it has lasted its grace)."""
        seen: set[tuple[str, str | None, Grace]] = set()
        fatal: PodProblem | None = None
        for pod in self.objects["Pod"].values():
            if not self.judged(pod):
                continue
            for problem in pod_problems(pod):
                key = (problem.pod, problem.container, problem.grace)
                seen.add(key)
                since = self.problem_since.setdefault(key, now)
                if fatal is None and now - since >= graces[problem.grace]:
                    fatal = problem
        for key in set(self.problem_since) - seen:
            del self.problem_since[key]  # recovered (e.g. a pull that finally worked): its grace starts over
        return fatal

    def workload_problem(self, status: WorkloadStatus) -> PodProblem:
        """A failed workload's problem, pinned on the pod that shows it best (the last to exit non-zero)."""
        pods = self.pods_of(self.objects[status.kind][status.name])
        for pod in reversed(pods):
            for container in entries(pod, "status", "containerStatuses"):
                terminated = at(container, "state", "terminated")
                exit_code = number(terminated, "exitCode")
                if terminated is not None and exit_code != 0:
                    exited = f"exited with code {exit_code}"
                    message = f"{status.message}; {exited}" if status.message else exited
                    return PodProblem(
                        wire.name(pod),
                        text(container, "name"),
                        status.reason,
                        message,
                        number(container, "restartCount") or 0,
                    )
        return PodProblem(wire.name(pods[-1]) if pods else "", None, status.reason, status.message, 0)
