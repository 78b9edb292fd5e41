"""What the user needs to see about a failing pod: its reason, the tail of its log and its recent events.

Logs come from the previous container instance when the container restarted (the current one has
usually not logged anything yet); ``previous=True`` answers 400 when there is none, so the current
log is tried next, then "no logs" (libraries.md §6.5). Events are filtered by the involved object
client-side too, because a test API ignores field selectors.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from envctl.errors import WorkloadsNotReadyError
from envctl.phases.wait_rules import PodProblem

__all__ = [
    "LOG_LINES",
    "EventLine",
    "PodFailure",
    "ReleaseNotReadyError",
    "WaitResult",
    "WorkloadReadiness",
    "collect_pod_failure",
    "hint_for",
]

LOG_LINES = 50
EVENT_COUNT = 10
REQUEST_TIMEOUT = (5, 10)

LogSource = Literal["previous", "current", "none"]
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


@dataclass(frozen=True)
class EventLine:
    time: str | None  # ISO 8601, as the API reported it
    type: str  # Normal / Warning
    reason: str
    message: str
    count: int


@dataclass(frozen=True)
class PodFailure:
    """Why a release's pod will not become ready, with the evidence to fix it."""

    workload: str | None  # "Deployment/demo-api", when a workload of the release selects the pod
    pod: str | None  # None when a failed workload has no pod left to show
    container: str | None
    reason: str
    message: str
    restarts: int
    node: str | None
    image: str | None
    logs: tuple[str, ...]
    log_source: LogSource
    events: tuple[EventLine, ...]

    def headline(self) -> str:
        """One line naming pod, container and reason, e.g. for an error message."""
        if self.pod is None:
            where, owner = self.workload or "a workload", ""
        else:
            where = f"pod {self.pod}" + (f" container {self.container}" if self.container else "")
            owner = f" ({self.workload})" if self.workload else ""
        detail = f": {self.message}" if self.message else ""
        return f"{where}{owner} is {self.reason}{detail}"


def collect_pod_failure(
    api_client: Any, namespace: str, pod: Any, problem: PodProblem, workload: str | None
) -> PodFailure:
    import kubernetes

    core = kubernetes.client.CoreV1Api(api_client)
    container = problem.container or _first_container(pod)
    # Both reads at once: the user is waiting for the failure report.
    with ThreadPoolExecutor(2, thread_name_prefix="envctl-diagnostics") as pool:
        logs_read = pool.submit(
            _read_logs, core, namespace, problem.pod, container, restarted=_restarts(pod, container) > 0
        )
        events_read = pool.submit(_recent_events, core, namespace, problem.pod)
        logs, source = logs_read.result()
        events = events_read.result()
    return PodFailure(
        workload=workload,
        pod=problem.pod,
        container=problem.container,
        reason=problem.reason,
        message=problem.message,
        restarts=_restarts(pod, container),
        node=pod.spec.node_name if pod.spec else None,
        image=_image(pod, container),
        logs=logs,
        log_source=source,
        events=events,
    )


def _first_container(pod: Any) -> str | None:
    containers = pod.spec.containers if pod.spec else None
    return containers[0].name if containers else None


def _container_status(pod: Any, container: str | None) -> Any:
    status = pod.status
    for candidate in [
        *((status.init_container_statuses or ()) if status else ()),
        *((status.container_statuses or ()) if status else ()),
    ]:
        if candidate.name == container:
            return candidate
    return None


def _restarts(pod: Any, container: str | None) -> int:
    status = _container_status(pod, container)
    return (status.restart_count or 0) if status is not None else 0


def _image(pod: Any, container: str | None) -> str | None:
    for spec in [
        *((pod.spec.init_containers or ()) if pod.spec else ()),
        *((pod.spec.containers or ()) if pod.spec else ()),
    ]:
        if spec.name == container:
            return spec.image
    return None


def _read_logs(
    core: Any, namespace: str, pod: str, container: str | None, *, restarted: bool
) -> tuple[tuple[str, ...], LogSource]:
    import kubernetes
    import urllib3

    attempts: list[LogSource] = ["previous", "current"] if restarted else ["current"]
    for source in attempts:
        try:
            text = core.read_namespaced_pod_log(
                pod,
                namespace,
                container=container,
                tail_lines=LOG_LINES,
                previous=source == "previous",
                _request_timeout=REQUEST_TIMEOUT,
            )
        except (kubernetes.client.ApiException, urllib3.exceptions.HTTPError):
            continue  # no such instance (400), or the kubelet is unreachable: try the next source
        lines = tuple(str(text).splitlines()[-LOG_LINES:])
        if lines:
            return lines, source
    return (), "none"


def _event_time(event: Any) -> datetime | None:
    return (
        event.last_timestamp
        or event.event_time
        or event.first_timestamp
        or (event.metadata.creation_timestamp if event.metadata else None)
    )


def _recent_events(core: Any, namespace: str, pod: str) -> tuple[EventLine, ...]:
    import kubernetes
    import urllib3

    try:
        listing = core.list_namespaced_event(
            namespace,
            field_selector=f"involvedObject.kind=Pod,involvedObject.name={pod}",
            _request_timeout=REQUEST_TIMEOUT,
        )
    except (kubernetes.client.ApiException, urllib3.exceptions.HTTPError):
        return ()  # events are a help, not a requirement: report the failure without them
    mine = [
        e
        for e in listing.items
        if e.involved_object.name == pod and (e.involved_object.kind or "Pod") == "Pod"
    ]
    # Events without any timestamp sort first: they are the least likely to be the recent ones.
    mine.sort(key=lambda e: (_event_time(e) is not None, _event_time(e) or datetime.min))
    return tuple(
        EventLine(
            time=t.isoformat() if (t := _event_time(e)) else None,
            type=e.type or "Normal",
            reason=e.reason or "",
            message=" ".join((e.message or "").split()),
            count=e.count or 1,
        )
        for e in mine[-EVENT_COUNT:]
    )


class ReleaseNotReadyError(WorkloadsNotReadyError):
    """The release did not become ready: a pod failed (``failure``) or the deadline passed.

    ``workloads`` holds every workload's last state and ``pods`` every pod's, for views/wait.py.
    """

    def __init__(
        self,
        message: str,
        hint: str | None = None,
        *,
        release: str,
        namespace: str,
        failure: PodFailure | None,
        workloads: tuple[WorkloadReadiness, ...],
        pods: tuple[tuple[str, str], ...],
    ) -> None:
        super().__init__(message, hint)
        self.release = release
        self.namespace = namespace
        self.failure = failure
        self.workloads = workloads
        self.pods = pods


_RERUN = "fix the service and rerun `envctl up`"
_PULL = (
    "the image cannot be pulled: check its repository and tag in the chart values, "
    "or rerun `envctl up` so envctl loads it into the cluster"
)
_HINTS = {
    "CrashLoopBackOff": f"the container keeps exiting: its log above says why; {_RERUN}",
    "Error": f"the container exits with an error: its log above says why; {_RERUN}",
    "OOMKilled": "the container ran out of memory: raise its memory limit in the chart values",
    "ErrImageNeverPull": "the image is not on the cluster's nodes: rerun `envctl up` so it is loaded, "
    "and check the chart uses the tag envctl injects",
    "ErrImagePull": _PULL,
    "ImagePullBackOff": _PULL,
    "InvalidImageName": "the image reference is malformed: fix repository/tag in the chart values",
    "CreateContainerConfigError": "a Secret or ConfigMap (or a key) the pod references is missing: "
    "create it or fix the chart",
    "CreateContainerError": "the runtime could not create the container: see the events above",
    "RunContainerError": "the container could not start (bad command or mount?): see the events above",
    "Unschedulable": "no node can take the pod: lower its resource requests, fix its node selector, "
    "or add agents",
    "ProgressDeadlineExceeded": "the rollout stalled: see the pod's events and log above",
    "BackoffLimitExceeded": f"the job's pod failed: its log above says why; {_RERUN}",
}


def hint_for(reason: str) -> str:
    return _HINTS.get(reason, "read the pod's log and events above, fix the cause and rerun `envctl up`")
