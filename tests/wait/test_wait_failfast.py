"""Fail fast: each bad state ends the wait on its reason, long before the deadline, naming pod,
container and reason, with the pod's log tail and events; graced states (pull errors,
Unschedulable) only after their grace.

A failure on the reason (not "not ready after N s") is what shows the wait failed fast: no test
compares a latency with the clock (that is scripts/bench_wait.py's job), so a slow machine only
makes them slower. Lower bounds (a grace is waited out) hold on any machine and are kept."""

from __future__ import annotations

import time

import pytest

from envctl.errors import ExitCode, WorkloadsNotReadyError
from envctl.phases.wait import ReleaseNotReadyError
from tests.support.kubelet import Kubelet
from tests.wait.conftest import Waiter, listed_waiter

NEVER_PULL = 'Container image "envctl-test/api:0123456789ab" is not present with pull policy of Never'


def _fails(wait: Waiter, **kwargs: float) -> ReleaseNotReadyError:
    with pytest.raises(ReleaseNotReadyError) as caught:
        wait(**kwargs)
    return caught.value


@pytest.mark.parametrize(
    ("reason", "message"),
    [
        pytest.param("ErrImageNeverPull", NEVER_PULL, id="never-pull"),
        pytest.param(
            "InvalidImageName",
            'couldn\'t parse image name "Envctl/API:x": invalid reference format',
            id="invalid-image",
        ),
        pytest.param("CreateContainerConfigError", 'secret "api-env" not found', id="config-error"),
        pytest.param("CreateContainerError", "context deadline exceeded", id="create-error"),
        pytest.param(
            "RunContainerError", 'exec: "httpd": executable file not found in $PATH', id="run-error"
        ),
    ],
)
def test_a_container_stuck_in_a_fatal_reason_fails_the_wait_at_once(
    kubelet: Kubelet, wait: Waiter, reason: str, message: str
) -> None:
    kubelet.ready(kubelet.deployment("web"))
    api = kubelet.deployment("api")
    pod = api.pods[0]
    kubelet.later(0.2, kubelet.waiting, pod, reason, message)

    error = _fails(wait, timeout=300)

    assert isinstance(error, WorkloadsNotReadyError) and error.exit_code == ExitCode.NOT_READY
    assert (
        error.message == f"release demo: pod {pod} container api (Deployment/demo-api) is {reason}: {message}"
    )
    assert error.hint
    failure = error.failure
    assert failure is not None
    assert (failure.workload, failure.pod, failure.container, failure.reason) == (
        "Deployment/demo-api",
        pod,
        "api",
        reason,
    )
    # The container never ran: the API answers 400 for its log, so there are none to show.
    assert (failure.logs, failure.log_source) == ((), "none")
    assert [(e.type, e.reason) for e in failure.events] == [("Normal", "Scheduled"), ("Warning", "Failed")]
    assert {(w.name, w.outcome) for w in error.workloads} == {("demo-web", "ready"), ("demo-api", "failed")}
    failed_spans = [
        (s.service, s.outcome, s.attrs.get("reason")) for s in wait.recorder.spans() if s.outcome != "ok"
    ]
    assert failed_spans == [("api", "failed", reason)]


def test_crash_loop_shows_the_previous_containers_log_and_events_in_time_order(
    kubelet: Kubelet, wait: Waiter
) -> None:
    api = kubelet.deployment("api")
    pod = api.pods[0]
    previous = "".join(f"line {n}\n" for n in range(1, 61)) + "panic: cannot bind :8080\n"
    kubelet.logs(pod, "starting\n", previous=previous)
    kubelet.event(pod, "Pulled", "Container image already present on machine", type_="Normal", offset=-3)
    kubelet.event(pod, "Created", "Created container api", type_="Normal", offset=-4)  # posted out of order
    kubelet.later(0.2, kubelet.crash_loop, pod, restarts=4)

    error = _fails(wait, timeout=300)

    assert error.message.startswith(
        f"release demo: pod {pod} container api (Deployment/demo-api) is CrashLoopBackOff"
    )
    failure = error.failure
    assert failure is not None and failure.restarts == 4
    assert failure.log_source == "previous"
    assert len(failure.logs) == 50
    assert failure.logs[0] == "line 12" and failure.logs[-1] == "panic: cannot bind :8080"
    assert [e.reason for e in failure.events] == ["Scheduled", "Created", "Pulled", "BackOff"]


def test_crash_loop_without_a_previous_log_falls_back_to_the_current_one(
    kubelet: Kubelet, wait: Waiter
) -> None:
    pod = kubelet.deployment("api").pods[0]
    kubelet.logs(pod, "listening on :8080\nkilled\n")  # previous=true still answers 400
    kubelet.later(0.1, kubelet.crash_loop, pod, restarts=1)

    failure = _fails(wait).failure

    assert failure is not None
    assert (failure.log_source, failure.logs) == ("current", ("listening on :8080", "killed"))


def test_a_container_exiting_non_zero_after_a_restart_fails_before_the_back_off_shows(
    kubelet: Kubelet, wait: Waiter
) -> None:
    pod = kubelet.statefulset("db").pods[0]
    kubelet.logs(pod, "", previous="FATAL: data directory has wrong ownership\n")
    kubelet.later(0.1, kubelet.exited, pod, exit_code=2, restarts=1)

    error = _fails(wait)

    assert error.message == (
        f"release demo: pod {pod} container db (StatefulSet/demo-db) is Error: "
        "exited with code 2, restarted 1 times"
    )
    assert error.failure is not None and error.failure.logs == ("FATAL: data directory has wrong ownership",)


def test_an_evicted_pod_fails_the_wait(kubelet: Kubelet, wait: Waiter) -> None:
    pod = kubelet.deployment("api").pods[0]
    kubelet.later(
        0.1,
        kubelet.api.patch_status,
        "v1/pods",
        kubelet.namespace,
        pod,
        {"phase": "Failed", "reason": "Evicted", "message": "The node was low on resource: memory."},
    )

    error = _fails(wait)

    assert error.message == (
        f"release demo: pod {pod} (Deployment/demo-api) is Evicted: The node was low on resource: memory."
    )


@pytest.mark.parametrize("reason", ["ErrImagePull", "ImagePullBackOff"])
def test_a_pull_error_is_tolerated_within_the_grace(kubelet: Kubelet, wait: Waiter, reason: str) -> None:
    api = kubelet.deployment("api")
    kubelet.later(0.1, kubelet.waiting, api.pods[0], reason, "rpc error: code = Unknown desc = i/o timeout")
    kubelet.later(0.4, kubelet.ready, api)  # the registry came back (the grace is far longer)

    result = wait(pull_grace=120)

    assert [(w.name, w.outcome) for w in result.workloads] == [("demo-api", "ready")]


def test_a_pull_error_becomes_fatal_after_the_grace(kubelet: Kubelet, wait: Waiter) -> None:
    pod = kubelet.deployment("api").pods[0]

    def pull_fails_then_backs_off() -> None:  # one action: the back-off always follows the error
        kubelet.waiting(pod, "ErrImagePull", "pull access denied for envctl-test/api")
        kubelet.waiting(pod, "ImagePullBackOff", 'Back-off pulling image "envctl-test/api"')

    kubelet.later(0.1, pull_fails_then_backs_off)

    error = _fails(wait, pull_grace=0.6)

    lasted = time.monotonic() - kubelet.entered[(pod, "ErrImagePull")]
    assert lasted >= 0.6, "the grace runs from the first pull error, across ErrImagePull/BackOff"
    assert error.failure is not None and error.failure.reason == "ImagePullBackOff"
    assert "rerun `envctl up`" in (error.hint or "")


def test_unschedulable_fails_after_its_own_timeout(kubelet: Kubelet, wait: Waiter) -> None:
    pod = kubelet.deployment("api").pods[0]
    kubelet.later(0.1, kubelet.unschedulable, pod)

    error = _fails(wait, timeout=300, unschedulable_timeout=0.7)

    lasted = time.monotonic() - kubelet.entered[(pod, "Unschedulable")]
    assert lasted >= 0.7
    assert error.message == (
        f"release demo: pod {pod} (Deployment/demo-api) is Unschedulable: "
        "0/1 nodes are available: 1 Insufficient memory."
    )
    assert error.failure is not None
    assert error.failure.events[-1].reason == "FailedScheduling"
    assert "resource requests" in (error.hint or "")


def test_a_failed_job_names_its_pod_container_and_exit(kubelet: Kubelet, wait: Waiter) -> None:
    kubelet.ready(kubelet.deployment("api"))
    job = kubelet.job("migrate")
    pod = job.pods[0]
    kubelet.logs(pod, 'applying 0003_users.sql\nERROR: relation "users" already exists\n')
    kubelet.later(0.2, kubelet.fail_job, job, exit_code=3)

    error = _fails(wait, timeout=300)

    assert error.message == (
        f"release demo: pod {pod} container migrate (Job/demo-migrate) is BackoffLimitExceeded: "
        "Job has reached the specified backoff limit; exited with code 3"
    )
    assert error.failure is not None
    assert error.failure.logs[-1] == 'ERROR: relation "users" already exists'
    assert {(w.name, w.outcome) for w in error.workloads} == {
        ("demo-api", "ready"),
        ("demo-migrate", "failed"),
    }


def test_the_deadline_names_what_is_not_ready_and_its_last_state(kubelet: Kubelet, wait: Waiter) -> None:
    kubelet.ready(kubelet.daemonset("agent"))
    api = kubelet.deployment("api")
    kubelet.job("migrate")
    kubelet.waiting(api.pods[0], "ErrImagePull", "i/o timeout")  # within its grace
    judge = listed_waiter(wait)
    assert judge.evaluate(pull_grace=30, unschedulable_timeout=60) is None  # still waiting

    with pytest.raises(ReleaseNotReadyError) as caught:
        judge.raise_deadline(0.8)

    error = caught.value
    assert error.failure is None
    assert error.message == (
        "release demo: 2 workload(s) not ready after 0.8 s: "
        f"Deployment/demo-api (0/1 available, 1 updated; pod {api.pods[0]} Pending (ErrImagePull)), "
        "Job/demo-migrate (0/1 succeeded, 0 active; pod demo-migrate-7c9d5-00000 Pending (ContainerCreating))"
    )
    assert "--timeout" in (error.hint or "")
    assert {(w.name, w.outcome) for w in error.workloads} == {
        ("demo-agent", "ready"),
        ("demo-api", "not-ready"),
        ("demo-migrate", "not-ready"),
    }
    assert sorted((s.service, s.outcome) for s in wait.recorder.spans()) == [
        ("agent", "ok"),
        ("api", "failed"),
        ("migrate", "failed"),
    ]


def test_the_deadline_ends_a_wait_nothing_else_ends(kubelet: Kubelet, wait: Waiter) -> None:
    kubelet.deployment("api")  # neither ready nor failing, ever

    started = time.monotonic()
    error = _fails(wait, timeout=0.3)

    assert time.monotonic() - started >= 0.3  # a lower bound: holds on any machine
    assert error.failure is None
    assert error.message.startswith("release demo: ")
    assert " not ready after 0.3 s" in error.message


def test_the_first_failure_wins_while_others_are_still_starting(kubelet: Kubelet, wait: Waiter) -> None:
    workloads = [kubelet.deployment(f"svc{n}") for n in range(4)]
    for n, workload in enumerate(workloads[:3]):
        kubelet.later(0.1 * (n + 1), kubelet.ready, workload)
    crashing = workloads[3].pods[0]
    kubelet.later(0.15, kubelet.crash_loop, crashing)

    failure = _fails(wait).failure

    assert failure is not None and failure.pod == crashing
