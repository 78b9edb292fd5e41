"""A helm call (pyhelm3 runs helm itself, outside the subprocess runner) is stopped like any child:
by the run's stop (``SubprocessRunner.terminate_all``, what an interruption calls) and by its time
limit (``timeouts.helm`` → ``TimedOutError``, exit 11). The stand-in helm holds its upgrade at a
gate the test never releases, so only the stop or the limit can end the call."""

from __future__ import annotations

import asyncio
import os
import threading

import pytest

from envctl.adapters.helm import Helm, run_sync
from envctl.adapters.process import SubprocessRunner
from envctl.errors import ExitCode, TimedOutError
from envctl.progress import CollectingProgress
from tests.deploy.conftest import DEMO_CHART, FakeHelm
from tests.support.gate import Gate, wait_until
from tests.support.procs import marked_processes

VALUES = {"api": {"image": {"repository": "x/api", "tag": "1"}}}


def open_helm(fake_helm: FakeHelm, runner: SubprocessRunner, call_timeout: float | None) -> Helm:
    return Helm.open(runner, fake_helm.kubeconfig, timeout="300s", progress=CollectingProgress(),
                     attempts=1, call_timeout=call_timeout)  # fmt: skip


def test_a_helm_call_past_its_limit_is_stopped_and_is_exit_11(fake_helm: FakeHelm) -> None:
    with Gate() as gate:
        url = gate.url("upgrade")
        fake_helm.switch("FAKE_HELM_UPGRADE_GATE", url)
        helm = open_helm(fake_helm, SubprocessRunner(dict(os.environ)), call_timeout=2)
        with pytest.raises(TimedOutError) as caught:
            # Through the post-renderer: the upgrade is the only timed call (no `show chart` first), so
            # only the limit can end it, whether or not a slow machine got the stand-in to the gate in 2 s.
            run_sync(helm.install_or_upgrade("demo", DEMO_CHART, VALUES, namespace="ci", description="t",
                                             post_render="[]"))  # fmt: skip
        assert caught.value.exit_code == ExitCode.TIMED_OUT == 11
        assert caught.value.message == "helm upgrade of release demo did not finish within 2 s and was stopped"
        assert caught.value.hint is not None and "timeouts.helm" in caught.value.hint
        wait_until(lambda: not marked_processes((url,)), "the held helm is gone", timeout=60)
    assert fake_helm.state()["releases"] == {}  # stopped before it changed anything


def test_a_helm_version_that_hangs_at_start_up_is_stopped_and_is_exit_11(fake_helm: FakeHelm) -> None:
    with Gate() as gate:
        url = gate.url("version")
        fake_helm.switch("FAKE_HELM_VERSION_GATE", url)
        helm = Helm.open(SubprocessRunner(dict(os.environ)), fake_helm.kubeconfig, timeout="300s",
                         progress=CollectingProgress(), version_timeout=2)  # fmt: skip
        with pytest.raises(TimedOutError) as caught:
            _ = helm.version  # the first call that needs pyhelm3's client runs `helm version`
        # Not asserted: that the stand-in reached the gate within the 2 s (that is the machine's speed);
        # held there or still starting, only the limit can end it.
        assert caught.value.exit_code == ExitCode.TIMED_OUT
        assert caught.value.message == "`helm version` did not answer within 2 s"
        wait_until(lambda: not marked_processes((url,)), "the held helm is gone", timeout=60)


def test_stopping_the_run_stops_a_running_helm_call(fake_helm: FakeHelm) -> None:
    runner = SubprocessRunner(dict(os.environ))
    outcome: list[BaseException] = []

    def deploy() -> None:
        helm = open_helm(fake_helm, runner, call_timeout=None)  # no limit: only the stop can end it
        try:
            run_sync(helm.install_or_upgrade("demo", DEMO_CHART, VALUES, namespace="ci", description="t"))
        except BaseException as exc:  # noqa: BLE001 - what the scheduler's worker would see
            outcome.append(exc)

    with Gate() as gate:
        url = gate.url("upgrade")
        fake_helm.switch("FAKE_HELM_UPGRADE_GATE", url)
        worker = threading.Thread(target=deploy)
        worker.start()
        gate.wait_arrived("upgrade", alive=worker.is_alive)
        runner.terminate_all()  # what the scheduler calls on Ctrl-C or SIGTERM
        worker.join(120)
        assert not worker.is_alive()
        assert [type(exc) for exc in outcome] == [asyncio.CancelledError]
        wait_until(lambda: not marked_processes((url,)), "the held helm is gone", timeout=60)
    assert fake_helm.state()["releases"] == {}
