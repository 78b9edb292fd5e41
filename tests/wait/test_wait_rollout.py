"""A rollout judged by revision: only the pods of the Deployment's current ReplicaSet speak for it.

The world is the one the controllers leave (tests/support/kubelet.py): a ReplicaSet per pod
template, labelled ``pod-template-hash`` and annotated with its revision, the earlier revision's
pods kept until the new one is available. The changes here keep the image, command and args (an
env-only change, as a ConfigMap checksum annotation also makes), so only the revision tells an old
pod from a new one.
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from envctl.errors import ReleaseNotReadyError
from envctl.progress import CollectingProgress
from envctl.scheduler import Cancelled
from tests.support.kubelet import Kubelet
from tests.wait.conftest import Waiter, listed_waiter

HANG = 60  # bounds a hang only: every wait here ends on what it sees


class ReadySignal(CollectingProgress):
    """Sets ``seen`` when the waiter reports ``subject`` ready: by then it has judged the whole
    release as first listed (readiness is reported before the pods are judged, in the same pass)."""

    def __init__(self, subject: str) -> None:
        super().__init__()
        self.subject, self.seen = subject, threading.Event()

    def step(self, subject: str, message: str) -> None:
        super().step(subject, message)
        if subject == self.subject and message.startswith("ready"):
            self.seen.set()


def test_an_env_only_change_whose_old_pod_crash_loops_waits_for_the_new_revision_and_succeeds(
    kubelet: Kubelet, wait: Waiter
) -> None:
    worker = kubelet.deployment("worker")
    kubelet.ready(worker)
    api = kubelet.deployment("api")
    broken = api.pods[0]
    kubelet.crash_loop(broken)  # the revision that crashes for want of an env var
    kubelet.rollout(api, env={"DATABASE_URL": "postgres://db/app"})  # same image, command and args
    fixed = api.pods[0]
    wait.progress = signal = ReadySignal("Deployment/demo-worker")

    with ThreadPoolExecutor(1) as pool:
        waiting = pool.submit(wait)
        # The waiter has judged the release with the old pod crash-looping and did not fail.
        assert signal.seen.wait(HANG), waiting.exception(0) if waiting.done() else "no verdict"
        assert not waiting.done()
        kubelet.ready(api)  # the new pod Ready; the old ReplicaSet scaled down, its pod deleted
        result = waiting.result(HANG)

    assert fixed != broken
    assert [(w.name, w.outcome) for w in result.workloads] == [("demo-worker", "ready"), ("demo-api", "ready")]
    assert ("Deployment/demo-api", "failed: CrashLoopBackOff") not in signal.steps


def test_a_healthy_pod_of_the_old_revision_does_not_pass_a_new_revision_that_crashes(
    kubelet: Kubelet, wait: Waiter
) -> None:
    api = kubelet.deployment("api")
    kubelet.ready(api)
    healthy = api.pods[0]
    kubelet.rollout(api, env={"FEATURE": "on"})
    kubelet.crash_loop(api.pods[0])

    with pytest.raises(ReleaseNotReadyError) as caught:
        wait(timeout=HANG)

    failure = caught.value.failure
    assert failure is not None
    assert (failure.workload, failure.pod, failure.reason) == ("Deployment/demo-api", api.pods[0], "CrashLoopBackOff")
    assert failure.pod != healthy


def test_a_healthy_pod_of_the_old_revision_does_not_pass_a_new_revision_that_never_starts(
    kubelet: Kubelet, wait: Waiter
) -> None:
    kubelet.ready(kubelet.deployment("worker"))
    api = kubelet.deployment("api")
    kubelet.ready(api)
    kubelet.rollout(api, env={"FEATURE": "on"})  # its pod stays Pending: the world does not change
    wait.progress = signal = ReadySignal("Deployment/demo-worker")
    cancel = threading.Event()

    with ThreadPoolExecutor(1) as pool:
        waiting = pool.submit(wait, cancel_event=cancel)
        # The waiter has judged the release (the old pod Running and ready, the new one Pending) ...
        assert signal.seen.wait(HANG), waiting.exception(0) if waiting.done() else "no verdict"
        cancel.set()  # ... and anything but waiting on would be wrong: a result here is a false pass
        with pytest.raises(Cancelled):
            waiting.result(HANG)

    assert wait_outcomes(wait) == [("demo-worker", "ok"), ("demo-api", "cancelled")]


def wait_outcomes(wait: Waiter) -> list[tuple[str, str]]:
    return [(str(s.attrs["workload"]).split("/", 1)[1], s.outcome) for s in wait.recorder.spans()]


def test_the_deadline_names_the_new_revisions_pods_and_counts_the_old_ones(kubelet: Kubelet, wait: Waiter) -> None:
    api = kubelet.deployment("api")
    kubelet.ready(api)
    kubelet.rollout(api, env={"FEATURE": "on"})
    judge = listed_waiter(wait)
    assert judge.evaluate(pull_grace=30, unschedulable_timeout=60) is None

    with pytest.raises(ReleaseNotReadyError) as caught:
        judge.raise_deadline(300)

    assert caught.value.message == (
        "release demo: 1 workload(s) not ready after 300 s: Deployment/demo-api (1/1 available, 1 updated, "
        f"1 old pending termination; pod {api.pods[0]} Pending (ContainerCreating); "
        "1 pod(s) of an earlier revision left)"
    )
