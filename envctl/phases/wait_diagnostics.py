"""What the user needs to see about a failing pod: its reason, the tail of its log and its recent events.

Logs come from the previous container instance when the container restarted (the current one has
usually not logged anything yet); ``previous=True`` answers 400 when there is none, so the current
log is tried next, then "no logs" (docs/tools-behaviour.md, "Pod logs"). Events are the pod's own,
chosen by the API server with a field selector on the involved object.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

from envctl.results import EventLine, LogSource, PodFailure
from envctl.workloads.rules import PodProblem

__all__ = ["LOG_LINES", "collect_pod_failure", "hint_for"]

LOG_LINES = 50
EVENT_COUNT = 10
REQUEST_TIMEOUT = (5, 10)


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
            return str(spec.image) if spec.image else None
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
    mine = list(listing.items)
    # Events without any timestamp sort first: they are the least likely to be the recent ones.
    mine.sort(key=lambda e: (_event_time(e) is not None, _event_time(e) or datetime.min.replace(tzinfo=UTC)))
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
