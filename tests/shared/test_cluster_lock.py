"""The cluster-wide lock: a Lease, fought over by real processes through the test API."""

from __future__ import annotations

import os
import queue
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from envctl.adapters.kube import connect
from envctl.adapters.kube_lease import LeaseApi, LeaseConflict, LeaseRecord
from tests.support.kube_api import KubeApi

HOLDER = Path(__file__).with_name("lease_holder.py")
ROOT = Path(__file__).resolve().parents[2]
HANG_GUARD = 60.0  # seconds: only a hung process ever reaches it


class Proc:
    def __init__(self, kubeconfig: Path, name: str, duration: int, mode: str = "wait") -> None:
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        self.popen = subprocess.Popen(
            [sys.executable, str(HOLDER), str(kubeconfig), "pr-7", name, str(duration), mode],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env, bufsize=1,
        )  # fmt: skip
        self.lines: queue.Queue[str] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.popen.stdout is not None
        for line in self.popen.stdout:
            self.lines.put(line.strip())

    def next_line(self, timeout: float = HANG_GUARD) -> str:
        try:
            return self.lines.get(timeout=timeout) if timeout else self.lines.get_nowait()
        except queue.Empty:
            return ""

    def expect(self, prefix: str) -> str:
        line = self.next_line()
        assert line.startswith(prefix), f"expected {prefix!r}, got {line!r}"
        return line

    def release(self) -> None:
        assert self.popen.stdin is not None
        self.popen.stdin.write("release\n")
        self.popen.stdin.flush()
        self.expect("RELEASED")
        assert self.popen.wait(HANG_GUARD) == 0

    def stop(self) -> None:
        if self.popen.poll() is None:
            self.popen.kill()
            self.popen.wait(HANG_GUARD)


@pytest.fixture(autouse=True)
def _namespace(shared_api: KubeApi) -> None:
    shared_api.create("v1/namespaces", {"metadata": {"name": "pr-7"}})  # a lease lives in its namespace


@pytest.fixture
def procs() -> Iterator[list[Proc]]:
    started: list[Proc] = []
    yield started
    for proc in started:
        proc.stop()


def lease(api: KubeApi, name: str = "demo") -> dict:
    return api.get("coordination.k8s.io/v1/leases", "pr-7", name)


def test_a_second_process_waits_naming_the_holder_then_gets_the_lease(shared_kubeconfig, shared_api, procs):
    first = Proc(shared_kubeconfig, "demo", 30)
    procs.append(first)
    first_id = first.expect("ACQUIRED").split()[1]
    second = Proc(shared_kubeconfig, "demo", 30)
    procs.append(second)
    waiting = second.expect("WAITING")
    host = first_id.split("/")[0]
    assert f"lease-holder test on {host} (pid {first.popen.pid}, https://ci.example/o/r/actions/runs/demo)" in waiting
    assert "holds lease demo in namespace pr-7" in waiting
    assert lease(shared_api)["spec"]["holderIdentity"] == first_id

    first.release()
    second_id = second.expect("ACQUIRED").split()[1]
    spec = lease(shared_api)["spec"]
    assert (spec["holderIdentity"], spec["leaseTransitions"]) == (second_id, 1)  # one change of holder
    second.release()
    assert lease(shared_api)["spec"].get("holderIdentity") is None


def test_no_wait_exits_9_naming_the_holder(shared_kubeconfig, procs):
    first = Proc(shared_kubeconfig, "demo", 30)
    procs.append(first)
    first.expect("ACQUIRED")
    refused = Proc(shared_kubeconfig, "demo", 30, mode="no-wait")
    procs.append(refused)
    line = refused.expect("LOCKED")
    assert "lease demo in namespace pr-7 is held by lease-holder test on" in line
    assert refused.popen.wait(HANG_GUARD) == 9
    first.release()


def test_a_killed_holder_is_taken_over_after_the_lease_duration(shared_kubeconfig, shared_api, procs):
    victim = Proc(shared_kubeconfig, "demo", 2)
    procs.append(victim)
    victim_id = victim.expect("ACQUIRED").split()[1]
    heir = Proc(shared_kubeconfig, "demo", 2)
    procs.append(heir)
    heir.expect("WAITING")
    os.kill(victim.popen.pid, signal.SIGKILL)  # mid-run: no release, no more renewals
    victim.popen.wait(HANG_GUARD)

    _, heir_id, waited = heir.expect("ACQUIRED").split()
    assert float(waited) >= 2.0  # never before a whole duration without renewals
    assert "TOOK-OVER lease-holder test on" in heir.expect("TOOK-OVER")
    spec = lease(shared_api)["spec"]
    assert spec["holderIdentity"] == heir_id != victim_id
    assert spec["leaseTransitions"] == 1
    heir.release()


def test_a_renewing_holder_keeps_its_lease_past_its_duration(shared_kubeconfig, shared_api, procs):
    holder = Proc(shared_kubeconfig, "demo", 3)
    procs.append(holder)
    holder.expect("ACQUIRED")
    waiter = Proc(shared_kubeconfig, "demo", 3)
    procs.append(waiter)
    waiter.expect("WAITING")
    # Barrier: four renewals seen after the waiter started watching = more than one duration (3 s / 3 each).
    seen = {lease(shared_api)["spec"]["renewTime"]}
    while len(seen) < 5:
        assert holder.popen.poll() is None
        since = shared_api.changes.count  # read again only after a write (a renewal), not in a busy loop
        seen.add(lease(shared_api)["spec"]["renewTime"])
        shared_api.changes.wait(since, timeout=1)  # the bound only re-checks that the holder lives
    assert waiter.next_line(timeout=0) == ""  # still waiting: a live holder is never taken over
    holder.release()
    waiter.expect("ACQUIRED")
    waiter.release()


def test_a_stale_write_is_refused_and_only_one_racer_wins(shared_kubeconfig):
    api = LeaseApi(connect(shared_kubeconfig))
    created = api.create("pr-7", "race", LeaseRecord(holder="a", duration_seconds=30))
    with pytest.raises(LeaseConflict):
        api.create("pr-7", "race", LeaseRecord(holder="b", duration_seconds=30))
    from dataclasses import replace

    winner = api.replace("pr-7", "race", replace(created, holder="b"))
    with pytest.raises(LeaseConflict):
        api.replace("pr-7", "race", replace(created, holder="c"))  # read before b's write
    assert api.read("pr-7", "race") == winner
    assert winner.holder == "b" and winner.resource_version != created.resource_version
