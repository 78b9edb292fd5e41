"""Wait for a release's workloads to become ready, concurrently, and fail fast with the reason.

All workloads (Deployments, StatefulSets, DaemonSets, Jobs) and their pods are watched at once, one
watch per kind in the release's namespace (wait_watch.py); every event re-evaluates the whole
release, so the total wait is that of the slowest workload, and a pod entering a state that will not
clear by waiting (wait_rules.py) ends the wait within milliseconds of the event, with the pod's
reason, log tail and events (wait_diagnostics.py) carried on the error for the CLI to render.
"""

from __future__ import annotations

import queue
import threading
import time
from dataclasses import dataclass
from typing import Any, Literal

from envctl.errors import ClusterError, WorkloadsNotReadyError
from envctl.phases.wait_diagnostics import PodFailure, collect_pod_failure
from envctl.phases.wait_rules import (
    WORKLOAD_KINDS, PodProblem, WorkloadStatus, belongs_to, pod_problems, pod_summary, workload_status,
)
from envctl.phases.wait_watch import WATCHED_KINDS, Changed, Listed, ResourceWatcher, WatchBroken, release_selector
from envctl.progress import Progress
from envctl.timing.spans import Cancelled, Recorder, Span

__all__ = ["ReleaseNotReadyError", "WaitResult", "WorkloadReadiness", "preload", "wait_for_release"]

TICK = 0.1  # how often time-based rules (graces, deadline, cancellation) are checked between events
NAME_LABEL = "app.kubernetes.io/name"

Outcome = Literal["ready", "failed", "not-ready", "cancelled"]


@dataclass(frozen=True)
class WorkloadReadiness:
    kind: str
    name: str
    outcome: Outcome
    ready_at: float | None  # seconds after the wait started; None if it never became ready
    state: str  # last observed state, e.g. "1/1 available, 1 updated"

    @property
    def label(self) -> str:
        return f"{self.kind}/{self.name}"


@dataclass(frozen=True)
class WaitResult:
    release: str
    namespace: str
    seconds: float
    workloads: tuple[WorkloadReadiness, ...]


class ReleaseNotReadyError(WorkloadsNotReadyError):
    """The release did not become ready: a pod failed (``failure``) or the deadline passed.

    ``workloads`` holds every workload's last state and ``pods`` every pod's, for views/wait.py.
    """

    def __init__(self, message: str, hint: str | None = None, *, release: str, namespace: str,
                 failure: PodFailure | None, workloads: tuple[WorkloadReadiness, ...],
                 pods: tuple[tuple[str, str], ...]) -> None:
        super().__init__(message, hint)
        self.release = release
        self.namespace = namespace
        self.failure = failure
        self.workloads = workloads
        self.pods = pods


_HINTS = {
    "CrashLoopBackOff": "the container keeps exiting: its log above says why; fix the service and rerun `envctl up`",
    "Error": "the container exits with an error: its log above says why; fix the service and rerun `envctl up`",
    "OOMKilled": "the container ran out of memory: raise its memory limit in the chart values",
    "ErrImageNeverPull": "the image is not on the cluster's nodes: rerun `envctl up` so it is loaded, "
                         "and check the chart uses the tag envctl injects",
    "ErrImagePull": "the image cannot be pulled: check its repository and tag in the chart values, "
                    "or rerun `envctl up` so envctl loads it into the cluster",
    "InvalidImageName": "the image reference is malformed: fix repository/tag in the chart values",
    "CreateContainerConfigError": "a Secret or ConfigMap (or a key) the pod references is missing: create it or fix the chart",
    "CreateContainerError": "the runtime could not create the container: see the events above",
    "RunContainerError": "the container could not start (bad command or mount?): see the events above",
    "Unschedulable": "no node can take the pod: lower its resource requests, fix its node selector, or add agents",
    "ProgressDeadlineExceeded": "the rollout stalled: see the pod's events and log above",
}
_HINTS["ImagePullBackOff"] = _HINTS["ErrImagePull"]


class _Release:
    """The release as last observed: its workloads and pods, and since when each problem has lasted."""

    def __init__(self) -> None:
        self.objects: dict[str, dict[str, Any]] = {kind: {} for kind in WATCHED_KINDS}
        self.synced: set[str] = set()
        self.problem_since: dict[tuple[str, str | None, str], float] = {}

    def apply(self, message: Listed | Changed) -> None:
        known = self.objects[message.kind]
        if isinstance(message, Listed):
            known.clear()
            known.update({obj.metadata.name: obj for obj in message.items})
            self.synced.add(message.kind)
        elif message.event == "DELETED":
            known.pop(message.obj.metadata.name, None)
        else:
            known[message.obj.metadata.name] = message.obj

    def workloads(self) -> list[WorkloadStatus]:
        return [workload_status(kind, obj) for kind in WORKLOAD_KINDS for obj in self.objects[kind].values()]

    def owner_of(self, pod: Any) -> str | None:
        for kind in WORKLOAD_KINDS:
            for obj in self.objects[kind].values():
                if belongs_to(pod, obj):
                    return f"{kind}/{obj.metadata.name}"
        return None

    def fatal_problem(self, now: float, *, pull_grace: float, unschedulable_timeout: float) -> PodProblem | None:
        """The first problem that is fatal now; graced problems become fatal once they have lasted long enough."""
        graces = {"none": 0.0, "pull": pull_grace, "unschedulable": unschedulable_timeout}
        seen: set[tuple[str, str | None, str]] = set()
        fatal: PodProblem | None = None
        for pod in self.objects["Pod"].values():
            for problem in pod_problems(pod):
                key = (problem.pod, problem.container, problem.grace)
                seen.add(key)
                since = self.problem_since.setdefault(key, now)
                if fatal is None and now - since >= graces[problem.grace]:
                    fatal = problem
        for key in set(self.problem_since) - seen:
            del self.problem_since[key]  # recovered (e.g. a pull that finally worked): its grace starts over
        return fatal

    def failed_workload(self) -> tuple[WorkloadStatus, Any] | None:
        for status in self.workloads():
            if status.failed:
                return status, self.objects[status.kind][status.name]
        return None

    def pods_of(self, workload: Any) -> list[Any]:
        return [pod for pod in self.objects["Pod"].values() if belongs_to(pod, workload)]

    def pod_states(self) -> tuple[tuple[str, str], ...]:
        return tuple((name, pod_summary(pod)) for name, pod in sorted(self.objects["Pod"].items()))


def preload() -> None:
    """Import the client's API classes the waiter uses (seconds on a cold start: the ``kubernetes``
    models load lazily), so a pipeline can pay for it in a background thread while images build."""
    import kubernetes

    for api in (kubernetes.client.AppsV1Api, kubernetes.client.BatchV1Api, kubernetes.client.CoreV1Api):
        api.__name__  # noqa: B018 - touching the attribute is what triggers the lazy import


def wait_for_release(api_client: Any, namespace: str, release: str, *, timeout: float,
                     unschedulable_timeout: float = 60.0, pull_grace: float = 10.0, recorder: Recorder,
                     progress: Progress, cancel_event: threading.Event | None = None) -> WaitResult:
    """Block until every workload of ``release`` in ``namespace`` is ready; record one "wait" span each.

    Raises ``ReleaseNotReadyError`` (a ``WorkloadsNotReadyError``) on a fatal pod state or failed
    workload, or when ``timeout`` seconds pass; ``Cancelled`` when ``cancel_event`` is set.
    """
    started, span_start = time.monotonic(), recorder.now()
    inbox: queue.Queue[Any] = queue.Queue()
    watchers = [ResourceWatcher(api_client, kind, namespace, release, inbox) for kind in WATCHED_KINDS]
    state = _Release()
    ready_at: dict[tuple[str, str], float] = {}
    for watcher in watchers:
        watcher.start()
    try:
        while True:
            _drain(inbox, state, namespace, timeout=TICK)
            now = time.monotonic()
            if cancel_event is not None and cancel_event.is_set():
                _record(recorder, state, span_start, ready_at, "cancelled")
                msg = f"waiting for release {release} was cancelled"
                raise Cancelled(msg)
            if state.synced != set(WATCHED_KINDS):
                if now - started >= timeout:
                    _raise_deadline(release, namespace, state, ready_at, timeout, recorder, span_start)
                continue
            statuses = state.workloads()
            for status in statuses:
                key = (status.kind, status.name)
                if status.ready and key not in ready_at:
                    ready_at[key] = now - started
                    _record_ready(recorder, state, status, span_start, ready_at[key])
                    progress.step(f"{status.kind}/{status.name}", f"ready after {ready_at[key]:.1f} s")
            _fail_fast(api_client, namespace, release, state, ready_at, now, recorder, span_start,
                       pull_grace=pull_grace, unschedulable_timeout=unschedulable_timeout, progress=progress)
            if all(status.ready for status in statuses):
                if not statuses:
                    progress.step(release, f"no workloads labelled {release_selector(release)} in {namespace}")
                return WaitResult(release, namespace, round(now - started, 6), _readiness(statuses, ready_at, "ready"))
            if now - started >= timeout:
                _raise_deadline(release, namespace, state, ready_at, timeout, recorder, span_start)
    finally:
        for watcher in watchers:
            watcher.stop()
        for watcher in watchers:
            watcher.join(1.0)


def _drain(inbox: queue.Queue[Any], state: _Release, namespace: str, *, timeout: float) -> None:
    """Apply every message waiting (blocking up to ``timeout`` for the first)."""
    try:
        message = inbox.get(timeout=timeout)
        while True:
            if isinstance(message, WatchBroken):
                msg = f"cannot list/watch {message.kind}s in namespace {namespace}: {_first_line(message.error)}"
                raise ClusterError(msg, hint="check that the kubeconfig's user may list and watch workloads and "
                                             "pods in that namespace (`kubectl auth can-i watch pods -n NS`)")
            state.apply(message)
            message = inbox.get_nowait()
    except queue.Empty:
        return


def _first_line(error: Exception) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


def _fail_fast(api_client: Any, namespace: str, release: str, state: _Release, ready_at: dict[tuple[str, str], float],
               now: float, recorder: Recorder, span_start: float, *, pull_grace: float,
               unschedulable_timeout: float, progress: Progress) -> None:
    failed = state.failed_workload()
    problem = state.fatal_problem(now, pull_grace=pull_grace, unschedulable_timeout=unschedulable_timeout)
    if failed is not None:
        status, workload = failed
        problem = _workload_problem(state, status, workload)
        owner = f"{status.kind}/{status.name}"
    elif problem is not None:
        owner = state.owner_of(state.objects["Pod"][problem.pod])
    else:
        return
    pod = state.objects["Pod"].get(problem.pod) if problem.pod else None
    failure = (collect_pod_failure(api_client, namespace, pod, problem, owner) if pod is not None else
               PodFailure(owner, None, problem.container, problem.reason, problem.message, problem.restarts,
                          None, None, (), "none", ()))
    _record(recorder, state, span_start, ready_at, "failed", failure=failure)
    progress.step(owner or f"pod/{problem.pod}", f"failed: {problem.reason}")
    hint = _HINTS.get(problem.reason, "read the pod's log and events above, fix the cause and rerun `envctl up`")
    msg = f"release {release}: {failure.headline()}"
    raise ReleaseNotReadyError(msg, hint=hint, release=release, namespace=namespace, failure=failure,
                               workloads=_readiness(state.workloads(), ready_at, "failed"), pods=state.pod_states())


def _workload_problem(state: _Release, status: WorkloadStatus, workload: Any) -> PodProblem:
    """A failed workload's problem, pinned on the pod that shows it best (the last one that exited non-zero)."""
    detail = status.message
    chosen: tuple[str, str | None, int, str] | None = None
    for pod in state.pods_of(workload):
        for container in (pod.status.container_statuses if pod.status else None) or ():
            terminated = container.state.terminated if container.state else None
            if terminated is not None and terminated.exit_code != 0:
                chosen = (pod.metadata.name, container.name, container.restart_count or 0,
                          f"exited with code {terminated.exit_code}")
    if chosen is None:
        pods = state.pods_of(workload)
        if not pods:
            return PodProblem("", None, status.reason, detail, 0)
        return PodProblem(pods[-1].metadata.name, None, status.reason, detail, 0)
    pod, container, restarts, exit_text = chosen
    return PodProblem(pod, container, status.reason, f"{detail}; {exit_text}" if detail else exit_text, restarts)


def _readiness(statuses: list[WorkloadStatus], ready_at: dict[tuple[str, str], float],
               unfinished: Outcome) -> tuple[WorkloadReadiness, ...]:
    return tuple(
        WorkloadReadiness(s.kind, s.name, "ready" if s.ready else ("failed" if s.failed else unfinished),
                          ready_at.get((s.kind, s.name)), s.summary)
        for s in statuses
    )


def _raise_deadline(release: str, namespace: str, state: _Release, ready_at: dict[tuple[str, str], float],
                    timeout: float, recorder: Recorder, span_start: float) -> None:
    _record(recorder, state, span_start, ready_at, "failed")
    waiting = [s for s in state.workloads() if not s.ready]
    described = []
    for status in waiting:
        workload = state.objects[status.kind][status.name]
        pods = "; ".join(f"pod {pod.metadata.name} {pod_summary(pod)}" for pod in state.pods_of(workload))
        described.append(f"{status.kind}/{status.name} ({status.summary}" + (f"; {pods})" if pods else "; no pods)"))
    unsynced = sorted(set(WATCHED_KINDS) - state.synced)
    if unsynced:
        described.append(f"could not list {', '.join(unsynced)}")
    msg = f"release {release}: {len(waiting)} workload(s) not ready after {timeout:g} s: {', '.join(described)}"
    raise ReleaseNotReadyError(msg, hint="raise --timeout if the workloads are only slow, or look at the pods "
                                         f"with `kubectl -n {namespace} describe pods -l {release_selector(release)}`",
                               release=release, namespace=namespace, failure=None,
                               workloads=_readiness(state.workloads(), ready_at, "not-ready"), pods=state.pod_states())


def _record_ready(recorder: Recorder, state: _Release, status: WorkloadStatus, span_start: float,
                  ready_after: float) -> None:
    obj = state.objects[status.kind][status.name]
    recorder.add(Span(name=f"wait {status.kind}/{status.name}", kind="wait", start=span_start,
                      end=span_start + ready_after, service=_service(obj),
                      attrs={"workload": f"{status.kind}/{status.name}", "ready_at": round(ready_after, 6)}))


def _record(recorder: Recorder, state: _Release, span_start: float, ready_at: dict[tuple[str, str], float],
            outcome: str, failure: PodFailure | None = None) -> None:
    """Spans for the workloads that never became ready, ending now with ``outcome``."""
    end = recorder.now()
    for status in state.workloads():
        if (status.kind, status.name) in ready_at:
            continue
        attrs: dict[str, Any] = {"workload": f"{status.kind}/{status.name}", "state": status.summary}
        if failure is not None and failure.workload == f"{status.kind}/{status.name}":
            attrs["reason"] = failure.reason
        recorder.add(Span(name=f"wait {status.kind}/{status.name}", kind="wait", start=span_start, end=end,
                          outcome=outcome, service=_service(state.objects[status.kind][status.name]), attrs=attrs))


def _service(obj: Any) -> str | None:
    labels = (obj.metadata.labels if obj.metadata else None) or {}
    return labels.get(NAME_LABEL)
