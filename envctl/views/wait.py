"""Readiness renderers: why a release is not ready (failing pod: reason, log tail, events; or what
was still pending at the deadline), as plain lines, a rich renderable, or a dict for JSON output."""

from __future__ import annotations

from rich.console import Group
from rich.text import Text

from envctl.errors import ReleaseNotReadyError
from envctl.results import PodFailure, WaitResult

__all__ = ["not_ready_dict", "not_ready_lines", "not_ready_renderable", "wait_result_dict"]

_LOG_SOURCE = {"previous": "previous container", "current": "current container"}


def _failure_lines(failure: PodFailure) -> list[str]:
    lines = [failure.headline()]
    facts = [
        f"restarts {failure.restarts}" if failure.restarts else "",
        f"image {failure.image}" if failure.image else "",
        f"node {failure.node}" if failure.node else "",
    ]
    if any(facts):
        lines.append("  " + ", ".join(fact for fact in facts if fact))
    if failure.logs:
        lines.append(f"  last {len(failure.logs)} log lines ({_LOG_SOURCE[failure.log_source]}):")
        lines.extend(f"    | {line}" for line in failure.logs)
    elif failure.pod is not None:
        lines.append("  no logs (the container has not written any, or never started)")
    if failure.events:
        lines.append("  recent events:")
        for event in failure.events:
            stamp = event.time or "-"
            count = f" (x{event.count})" if event.count > 1 else ""
            lines.append(f"    {stamp}  {event.type:<7} {event.reason}: {event.message}{count}")
    return lines


def not_ready_lines(error: ReleaseNotReadyError) -> list[str]:
    """The details under the one-line error: the failing pod's evidence, or every unfinished workload."""
    if error.failure is not None:
        return _failure_lines(error.failure)
    lines = [f"release {error.release} in namespace {error.namespace}:"]
    for workload in error.workloads:
        when = f"ready after {workload.ready_at:.1f} s" if workload.ready_at is not None else workload.outcome
        lines.append(f"  {workload.label}: {when} ({workload.state})")
    if error.pods:
        lines.append("  pods:")
        lines.extend(f"    {name}: {state}" for name, state in error.pods)
    return lines


def not_ready_renderable(error: ReleaseNotReadyError) -> Group:
    styled = []
    for line in not_ready_lines(error):
        text = Text(line)
        if line.startswith("    | "):
            text.stylize("dim")
        elif " Warning " in line:
            text.stylize("yellow")
        elif not line.startswith(" "):
            text.stylize("bold")
        styled.append(text)
    return Group(*styled)


def not_ready_dict(error: ReleaseNotReadyError) -> dict[str, object]:
    failure = error.failure
    return {
        "release": error.release,
        "namespace": error.namespace,
        "message": error.message,
        "failure": None
        if failure is None
        else {
            "workload": failure.workload,
            "pod": failure.pod,
            "container": failure.container,
            "reason": failure.reason,
            "message": failure.message,
            "restarts": failure.restarts,
            "node": failure.node,
            "image": failure.image,
            "log_source": failure.log_source,
            "logs": list(failure.logs),
            "events": [
                {"time": e.time, "type": e.type, "reason": e.reason, "message": e.message, "count": e.count}
                for e in failure.events
            ],
        },
        "workloads": [
            {"kind": w.kind, "name": w.name, "outcome": w.outcome, "ready_at": w.ready_at, "state": w.state}
            for w in error.workloads
        ],
        "pods": [{"name": name, "state": state} for name, state in error.pods],
    }


def wait_result_dict(result: WaitResult) -> dict[str, object]:
    return {
        "release": result.release,
        "namespace": result.namespace,
        "seconds": result.seconds,
        "workloads": [
            {"kind": w.kind, "name": w.name, "outcome": w.outcome, "ready_at": w.ready_at, "state": w.state}
            for w in result.workloads
        ],
    }
