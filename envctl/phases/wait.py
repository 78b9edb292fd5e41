"""Wait for a release's workloads to become ready, concurrently, and fail fast with the reason.

All workloads (Deployments, StatefulSets, DaemonSets, Jobs), the Deployments' ReplicaSets and the
pods are watched at once, one watch per kind in the release's namespace (wait_watch.py) feeding one
view of the release (workloads/view.py). Every event re-evaluates the whole release, so the total
wait is that of the slowest workload, and a pod of the revision being rolled out
(workloads/revision.py) entering a state that will not clear by waiting (workloads/rules.py) ends
the wait as soon as its event arrives, with the pod's reason, log tail and events
(wait_diagnostics.py) carried on the error for the CLI to render. An earlier revision's pods are
not judged: they stay until the new ones are available, whatever state they are in.
"""

from __future__ import annotations

import queue
import threading
import time
from typing import Any

from envctl.adapters.kube import KubeApiError, KubeConnect, preload_client
from envctl.errors import ClusterError, ReleaseNotReadyError
from envctl.phases.wait_diagnostics import collect_pod_failure, hint_for
from envctl.phases.wait_watch import ResourceWatcher, WatchBroken
from envctl.progress import Progress
from envctl.rbac import KINDS
from envctl.results import ClusterInfo, PodFailure, ReadinessOutcome, WaitResult, WorkloadReadiness
from envctl.scheduler import Cancelled
from envctl.timing.spans import Recorder, Span
from envctl.workloads.rules import PodProblem, WorkloadStatus, pod_summary, release_selector
from envctl.workloads.view import WATCHED_KINDS, ReleaseView
from envctl.workloads.wire import labels_of, name

__all__ = ["PodWaiter", "ReleaseNotReadyError", "WaitResult", "WorkloadReadiness", "preload", "wait_for_release"]

TICK = 0.1  # how often time-based rules (graces, deadline, cancellation) are checked between events
NAME_LABEL = "app.kubernetes.io/name"


class PodWaiter:
    """The wait phase of `up`: ``wait(cluster)`` until the release's workloads are ready.

    ``cancel_event`` is the scheduler's: when another task fails (or Ctrl-C), the wait stops early.
    """

    def __init__(
        self, namespace: str, release: str, *, connect: KubeConnect, timeout: float, recorder: Recorder,
        progress: Progress, cancel_event: threading.Event | None = None,
    ) -> None:  # fmt: skip
        self._namespace, self._release, self._connect, self._timeout = namespace, release, connect, timeout
        self._recorder, self._progress, self._cancel_event = recorder, progress, cancel_event

    def wait(self, cluster: ClusterInfo) -> WaitResult:
        api = self._connect(cluster.kubeconfig)
        try:
            return wait_for_release(
                api, self._namespace, self._release, timeout=self._timeout, recorder=self._recorder,
                progress=self._progress, cancel_event=self._cancel_event,
            )  # fmt: skip
        finally:
            api.close()


def preload() -> None:
    """Import the API client the waiter uses, so a pipeline can pay for it in a background thread
    while images build."""
    preload_client()


def wait_for_release(
    api_client: Any,
    namespace: str,
    release: str,
    *,
    timeout: float,
    unschedulable_timeout: float = 60.0,
    pull_grace: float = 10.0,
    recorder: Recorder,
    progress: Progress,
    cancel_event: threading.Event | None = None,
) -> WaitResult:
    """Block until every workload of ``release`` in ``namespace`` is ready; record one "wait" span each.

    Raises ``ReleaseNotReadyError`` (a ``WorkloadsNotReadyError``) on a fatal pod state or failed
    workload, or when ``timeout`` seconds pass; ``Cancelled`` when ``cancel_event`` is set;
    ``ClusterError`` when the API refuses to list or watch (e.g. 403).
    """
    waiter = _Waiter(api_client, namespace, release, recorder, progress)
    inbox: queue.Queue[Any] = queue.Queue()
    selector = release_selector(release)
    watchers = [ResourceWatcher(api_client, kind, namespace, selector, inbox) for kind in WATCHED_KINDS]
    for watcher in watchers:
        watcher.start()
    try:
        while True:
            _drain(inbox, waiter.release_view, namespace, timeout=TICK)
            if cancel_event is not None and cancel_event.is_set():
                waiter.record_unfinished("cancelled")
                msg = f"waiting for release {release} was cancelled"
                raise Cancelled(msg)
            result = waiter.evaluate(pull_grace=pull_grace, unschedulable_timeout=unschedulable_timeout)
            if result is not None:
                return result
            if waiter.elapsed() >= timeout:
                waiter.raise_deadline(timeout)
    finally:
        for watcher in watchers:
            watcher.stop()
        for watcher in watchers:
            watcher.join(1.0)


def _drain(inbox: queue.Queue[Any], view: ReleaseView, namespace: str, *, timeout: float) -> None:
    """Apply every message waiting (blocking up to ``timeout`` for the first)."""
    try:
        message = inbox.get(timeout=timeout)
        while True:
            if isinstance(message, WatchBroken):
                msg = (
                    f"cannot list/watch {message.kind}s in namespace {namespace}: {_describe(message.error)}"
                )
                hint = (
                    "check that the kubeconfig's user may list and watch workloads, their ReplicaSets and "
                    f"pods in that namespace (`kubectl auth can-i watch {_resource(message.kind)} -n {namespace}`;"
                    " `envctl rbac` prints the grants)"
                )
                raise ClusterError(msg, hint=hint)
            view.apply(message)
            message = inbox.get_nowait()
    except queue.Empty:
        return


def _describe(error: Exception) -> str:
    """``403 Forbidden: pods is forbidden: ...`` for an API refusal, else the error's first line."""
    if isinstance(error, KubeApiError):
        detail = error.message
        return f"{error.status} {error.reason}".strip() + (f": {detail}" if detail else "")
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


class _Waiter:
    """Judges the release after each batch of events, and records what it saw."""

    def __init__(
        self, api_client: Any, namespace: str, release: str, recorder: Recorder, progress: Progress
    ) -> None:
        self.started, self.span_start = time.monotonic(), recorder.now()
        self.api_client, self.namespace, self.release = api_client, namespace, release
        self.recorder, self.progress = recorder, progress
        self.release_view = ReleaseView()
        self.ready_at: dict[tuple[str, str], float] = {}

    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def evaluate(self, *, pull_grace: float, unschedulable_timeout: float) -> WaitResult | None:
        """The result once everything is ready; raises on a failure; None while still waiting."""
        view = self.release_view
        if view.synced != set(WATCHED_KINDS):
            return None  # judge only once every kind has been listed
        now = self.elapsed()
        statuses = view.workloads()
        for status in statuses:
            if status.ready and (status.kind, status.name) not in self.ready_at:
                self.ready_at[(status.kind, status.name)] = now
                self._record(status, "ok", end=self.span_start + now, ready_at=round(now, 6))
                self.progress.step(f"{status.kind}/{status.name}", f"ready after {now:.1f} s")
        graces = {"none": 0.0, "pull": pull_grace, "unschedulable": unschedulable_timeout}
        problem = view.fatal_problem(now, graces)
        failed = next((status for status in statuses if status.failed), None)
        if failed is not None:
            self._raise_failure(view.workload_problem(failed), f"{failed.kind}/{failed.name}")
        if problem is not None:
            self._raise_failure(problem, view.owner_of(view.objects["Pod"][problem.pod]))
        if not all(status.ready for status in statuses):
            return None
        if not statuses:
            selector = release_selector(self.release)
            self.progress.step(self.release, f"no workloads labelled {selector} in {self.namespace}")
        return WaitResult(self.release, self.namespace, round(now, 6), self._readiness("ready"))

    def _raise_failure(self, problem: PodProblem, owner: str | None) -> None:
        pod = self.release_view.objects["Pod"].get(problem.pod)
        if pod is not None:
            failure = collect_pod_failure(self.api_client, self.namespace, pod, problem, owner)
        else:  # a failed Job whose pods are gone: report the Job alone
            failure = PodFailure(
                owner, None, None, problem.reason, problem.message, 0, None, None, (), "none", ()
            )
        self.record_unfinished("failed", failure=failure)
        self.progress.step(owner or f"pod/{problem.pod}", f"failed: {problem.reason}")
        msg = f"release {self.release}: {failure.headline()}"
        raise ReleaseNotReadyError(
            msg,
            hint=hint_for(problem.reason),
            release=self.release,
            namespace=self.namespace,
            failure=failure,
            workloads=self._readiness("failed"),
            pods=self.release_view.pod_states(),
        )

    def raise_deadline(self, timeout: float) -> None:
        view = self.release_view
        self.record_unfinished("failed")
        waiting = [status for status in view.workloads() if not status.ready]
        described = []
        for status in waiting:
            workload = view.objects[status.kind][status.name]
            pods = view.pods_of(workload)
            states = "; ".join(f"pod {name(pod)} {pod_summary(pod)}" for pod in pods) or "no pods"
            old = len(view.old_pods_of(workload))
            if old:
                states += f"; {old} pod(s) of an earlier revision left"
            described.append(f"{status.kind}/{status.name} ({status.summary}; {states})")
        unsynced = sorted(set(WATCHED_KINDS) - view.synced)
        if unsynced:
            described.append(f"could not list {', '.join(unsynced)} yet")
        msg = (
            f"release {self.release}: {len(waiting)} workload(s) not ready after {timeout:g} s: "
            + ", ".join(described)
        )
        hint = (
            "raise --timeout if the workloads are only slow, or look at the pods with "
            f"`kubectl -n {self.namespace} describe pods -l {release_selector(self.release)}`"
        )
        raise ReleaseNotReadyError(
            msg,
            hint=hint,
            release=self.release,
            namespace=self.namespace,
            failure=None,
            workloads=self._readiness("not-ready"),
            pods=view.pod_states(),
        )

    def _readiness(self, unfinished: ReadinessOutcome) -> tuple[WorkloadReadiness, ...]:
        return tuple(
            WorkloadReadiness(
                s.kind,
                s.name,
                "ready" if s.ready else ("failed" if s.failed else unfinished),
                self.ready_at.get((s.kind, s.name)),
                s.summary,
            )
            for s in self.release_view.workloads()
        )

    def record_unfinished(self, outcome: str, failure: PodFailure | None = None) -> None:
        """Spans for the workloads that never became ready, ending now with ``outcome``."""
        end = self.recorder.now()
        for status in self.release_view.workloads():
            if (status.kind, status.name) in self.ready_at:
                continue
            label = f"{status.kind}/{status.name}"
            reason = {"reason": failure.reason} if failure is not None and failure.workload == label else {}
            self._record(status, outcome, end=end, state=status.summary, **reason)

    def _record(self, status: WorkloadStatus, outcome: str, *, end: float, **attrs: Any) -> None:
        service = labels_of(self.release_view.objects[status.kind][status.name]).get(NAME_LABEL)
        self.recorder.add(
            Span(
                name=f"wait {status.kind}/{status.name}",
                kind="wait",
                start=self.span_start,
                end=end,
                outcome=outcome,
                service=service,
                attrs={"workload": f"{status.kind}/{status.name}", **attrs},
            )
        )


def _resource(kind: str) -> str:
    """What `kubectl auth can-i` calls a watched kind (``deployments.apps``; a core kind has no group):
    from the table ``envctl rbac`` grants by, so the hint names the grant that rule writes."""
    group, resource = KINDS.get(kind, ("", "pods"))
    return f"{resource}.{group}" if group else resource
