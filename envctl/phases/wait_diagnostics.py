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

from envctl.adapters.kube import api_failure, list_objects, read_pod_log
from envctl.results import EventLine, LogSource, PodFailure
from envctl.workloads.rules import PodProblem, container_statuses
from envctl.workloads.wire import KubeObject, entries, number, text

__all__ = ["LOG_LINES", "collect_pod_failure", "hint_for"]

LOG_LINES = 50
EVENT_COUNT = 10
REQUEST_TIMEOUT = (5, 10)


def collect_pod_failure(
    api_client: Any, namespace: str, pod: KubeObject, problem: PodProblem, workload: str | None
) -> PodFailure:
    container = problem.container or _first_container(pod)
    # Both reads at once: the user is waiting for the failure report.
    with ThreadPoolExecutor(2, thread_name_prefix="envctl-diagnostics") as pool:
        logs_read = pool.submit(
            _read_logs, api_client, namespace, problem.pod, container, restarted=_restarts(pod, container) > 0
        )
        events_read = pool.submit(_recent_events, api_client, namespace, problem.pod)
        logs, source = logs_read.result()
        events = events_read.result()
    return PodFailure(
        workload=workload,
        pod=problem.pod,
        container=problem.container,
        reason=problem.reason,
        message=problem.message,
        restarts=_restarts(pod, container),
        node=text(pod, "spec", "nodeName"),
        image=_image(pod, container),
        logs=logs,
        log_source=source,
        events=events,
    )


def _first_container(pod: KubeObject) -> str | None:
    containers = entries(pod, "spec", "containers")
    return text(containers[0], "name") if containers else None


def _restarts(pod: KubeObject, container: str | None) -> int:
    status = next((c for c in container_statuses(pod) if c.get("name") == container), None)
    return (number(status, "restartCount") or 0) if status is not None else 0


def _image(pod: KubeObject, container: str | None) -> str | None:
    for spec in [*entries(pod, "spec", "initContainers"), *entries(pod, "spec", "containers")]:
        if spec.get("name") == container:
            return text(spec, "image") or None
    return None


def _read_logs(
    api_client: Any, namespace: str, pod: str, container: str | None, *, restarted: bool
) -> tuple[tuple[str, ...], LogSource]:
    attempts: list[LogSource] = ["previous", "current"] if restarted else ["current"]
    for source in attempts:
        try:
            log = read_pod_log(
                api_client, namespace, pod, container=container, tail_lines=LOG_LINES,
                previous=source == "previous", timeout=REQUEST_TIMEOUT,
            )  # fmt: skip
        except Exception as exc:
            if not api_failure(exc):
                raise
            continue  # no such instance (400), or the kubelet is unreachable: try the next source
        lines = tuple(log.splitlines()[-LOG_LINES:])
        if lines:
            return lines, source
    return (), "none"


def _event_time(event: KubeObject) -> datetime | None:
    stamp = (
        text(event, "lastTimestamp")
        or text(event, "eventTime")
        or text(event, "firstTimestamp")
        or text(event, "metadata", "creationTimestamp")
    )
    if not stamp:
        return None
    try:
        when = datetime.fromisoformat(stamp)  # RFC 3339 in UTC, as the API writes times
    except ValueError:
        return None
    return when if when.tzinfo is not None else when.replace(tzinfo=UTC)


def _recent_events(api_client: Any, namespace: str, pod: str) -> tuple[EventLine, ...]:
    try:
        listing = list_objects(
            api_client, "Event", namespace, field_selector=f"involvedObject.kind=Pod,involvedObject.name={pod}",
            timeout=REQUEST_TIMEOUT,
        )  # fmt: skip
    except Exception as exc:
        if not api_failure(exc):
            raise
        return ()  # events are a help, not a requirement: report the failure without them
    mine = list(listing.items)
    # Events without any timestamp sort first: they are the least likely to be the recent ones.
    mine.sort(key=lambda e: (_event_time(e) is not None, _event_time(e) or datetime.min.replace(tzinfo=UTC)))
    return tuple(
        EventLine(
            time=t.isoformat() if (t := _event_time(e)) else None,
            type=text(e, "type") or "Normal",
            reason=text(e, "reason") or "",
            message=" ".join((text(e, "message") or "").split()),
            count=number(e, "count") or 1,
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
