"""Rendering why a release is not ready: the failing pod's evidence, or what was pending at the deadline."""

from __future__ import annotations

import json

from rich.console import Console

from envctl.errors import ReleaseNotReadyError
from envctl.results import EventLine, PodFailure, WorkloadReadiness
from envctl.views.wait import not_ready_dict, not_ready_lines, not_ready_renderable

FAILURE = PodFailure(
    workload="Deployment/demo-api",
    pod="demo-api-1",
    container="api",
    reason="CrashLoopBackOff",
    message="back-off 40s restarting failed container",
    restarts=3,
    node="k3d-envctl-server-0",
    image="envctl-test/api:0123456789ab",
    logs=("boot", "panic: cannot bind :8080"),
    log_source="previous",
    events=(
        EventLine("2026-11-29T07:00:00+00:00", "Normal", "Started", "Started container api", 1),
        EventLine(
            "2026-11-29T07:00:05+00:00", "Warning", "BackOff", "Back-off restarting failed container", 4
        ),
    ),
)
WORKLOADS = (
    WorkloadReadiness("Deployment", "demo-web", "ready", 1.25, "1/1 available, 1 updated"),
    WorkloadReadiness("Deployment", "demo-api", "failed", None, "0/1 available, 0 updated"),
)


def _error(failure: PodFailure | None) -> ReleaseNotReadyError:
    return ReleaseNotReadyError(
        "release demo: ...",
        hint="fix it",
        release="demo",
        namespace="dev",
        failure=failure,
        workloads=WORKLOADS,
        pods=(("demo-api-1", "Running, not ready (CrashLoopBackOff)"),),
    )


def test_a_pod_failure_shows_reason_log_tail_and_events() -> None:
    assert not_ready_lines(_error(FAILURE)) == [
        ("pod demo-api-1 container api (Deployment/demo-api) is CrashLoopBackOff: "
        "back-off 40s restarting failed container"),
        "  restarts 3, image envctl-test/api:0123456789ab, node k3d-envctl-server-0",
        "  last 2 log lines (previous container):",
        "    | boot",
        "    | panic: cannot bind :8080",
        "  recent events:",
        "    2026-11-29T07:00:00+00:00  Normal  Started: Started container api",
        "    2026-11-29T07:00:05+00:00  Warning BackOff: Back-off restarting failed container (x4)",
    ]


def test_a_pod_without_logs_says_so() -> None:
    no_logs = PodFailure(
        "Deployment/demo-api",
        "demo-api-1",
        "api",
        "ErrImageNeverPull",
        "not present",
        0,
        None,
        None,
        (),
        "none",
        (),
    )
    assert not_ready_lines(_error(no_logs)) == [
        "pod demo-api-1 container api (Deployment/demo-api) is ErrImageNeverPull: not present",
        "  no logs (the container has not written any, or never started)",
    ]


def test_the_deadline_lists_every_workload_and_pod() -> None:
    assert not_ready_lines(_error(None)) == [
        "release demo in namespace dev:",
        "  Deployment/demo-web: ready after 1.2 s (1/1 available, 1 updated)",
        "  Deployment/demo-api: failed (0/1 available, 0 updated)",
        "  pods:",
        "    demo-api-1: Running, not ready (CrashLoopBackOff)",
    ]


def test_the_dict_is_json_and_the_renderable_prints_the_same_lines() -> None:
    data = json.loads(json.dumps(not_ready_dict(_error(FAILURE))))
    assert data["failure"]["logs"] == ["boot", "panic: cannot bind :8080"]
    assert data["failure"]["events"][1]["count"] == 4
    assert [w["outcome"] for w in data["workloads"]] == ["ready", "failed"]
    console = Console(record=True, width=200, color_system=None)
    console.print(not_ready_renderable(_error(FAILURE)))
    assert console.export_text().splitlines() == not_ready_lines(_error(FAILURE))
