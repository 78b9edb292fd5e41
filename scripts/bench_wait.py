#!/usr/bin/env python3
"""Benchmark envctl's readiness waiter against an emulated Kubernetes API (KMock over real HTTP).

1. Ten Deployments become ready after staggered delays (all starting together, as after one
   `helm upgrade`). envctl's concurrent waiter vs waiting on each Deployment in turn, as a script of
   `kubectl wait --for=condition=Available deployment/<name>` lines does: for each one, list it,
   and if it is not ready, watch until it is. Both use the same client and the same readiness rule;
   the ratio is sequential / concurrent. Run for two wait orders: readiness order, and slowest first.
2. Fail fast: the time from a pod entering CrashLoopBackOff (the moment the emulated kubelet sends
   the status) to envctl's waiter raising, log tail and events included. Median of several trials.

    /tmp/venv/bin/python scripts/bench_wait.py [--trials 7] [--json]

Run from the repository root (it uses tests/support for the emulated API and kubelet).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # tests/support is not installed

from envctl.adapters.kube import connect
from envctl.phases.wait import ReleaseNotReadyError, preload, wait_for_release
from envctl.progress import NullProgress
from envctl.timing.spans import Recorder
from envctl.workloads.rules import workload_status
from tests.support.kube_api import KubeApi
from tests.support.kubelet import Kubelet

WORKLOADS = 10
STEP = 0.2  # Deployment i becomes ready (i + 1) * STEP seconds after the deploy


def wait_sequentially(api_client: Any, namespace: str, names: list[str], timeout: float) -> None:
    """What a `kubectl wait` per Deployment does: one list-then-watch per Deployment, in turn."""
    import kubernetes

    apps = kubernetes.client.AppsV1Api(api_client)
    deadline = time.monotonic() + timeout
    for name in names:
        selector = f"metadata.name={name}"
        listing = apps.list_namespaced_deployment(namespace, field_selector=selector)
        # The field selector is ignored by the emulated API: filter by name as well.
        if any(d.metadata.name == name and workload_status("Deployment", d).ready for d in listing.items):
            continue
        watch = kubernetes.watch.Watch()
        for event in watch.stream(
            apps.list_namespaced_deployment,
            namespace,
            field_selector=selector,
            resource_version=listing.metadata.resource_version,
            _request_timeout=(5, max(0.1, deadline - time.monotonic())),
        ):
            obj = event["object"]
            if obj.metadata.name == name and workload_status("Deployment", obj).ready:
                watch.stop()
                break
        else:
            msg = f"{name} not ready in time"
            raise TimeoutError(msg)


def readiness_trial(order: str, *, concurrent: bool) -> float:
    with KubeApi() as api, tempfile.TemporaryDirectory() as tmp, Kubelet(api, "bench") as kubelet:
        client = connect(api.write_kubeconfig(Path(tmp) / "kubeconfig"))
        workloads = [kubelet.deployment(f"svc{i:02d}") for i in range(WORKLOADS)]
        names = [w.name for w in workloads]
        if order == "slowest-first":
            names.reverse()
        started = time.monotonic()
        for i, workload in enumerate(workloads):
            kubelet.later((i + 1) * STEP, kubelet.ready, workload)
        if concurrent:
            wait_for_release(
                client, "bench", "demo", timeout=30, recorder=Recorder(), progress=NullProgress()
            )
        else:
            wait_sequentially(client, "bench", names, timeout=30)
        return time.monotonic() - started


def crash_trial() -> float:
    with KubeApi() as api, tempfile.TemporaryDirectory() as tmp, Kubelet(api, "bench") as kubelet:
        client = connect(api.write_kubeconfig(Path(tmp) / "kubeconfig"))
        healthy = [kubelet.deployment(f"svc{i:02d}") for i in range(WORKLOADS - 1)]
        crashing = kubelet.deployment("crashy")
        kubelet.logs(crashing.pods[0], "", previous="boot\npanic: cannot bind :8080\n")
        for i, workload in enumerate(healthy):
            kubelet.later(0.1 * (i + 1), kubelet.ready, workload)
        kubelet.later(0.5, kubelet.crash_loop, crashing.pods[0])
        try:
            wait_for_release(
                client, "bench", "demo", timeout=60, recorder=Recorder(), progress=NullProgress()
            )
        except ReleaseNotReadyError as error:
            raised = time.monotonic()
            # The error is what was measured: check it is the one this scenario provokes.
            failure, message = error.failure, error.message
            assert failure is not None, message
            assert failure.reason == "CrashLoopBackOff", message
            assert failure.logs, "the log tail is part of what the waiter collects before raising"
            return raised - kubelet.entered[(crashing.pods[0], "CrashLoopBackOff")]
        msg = "the waiter did not fail on CrashLoopBackOff"
        raise AssertionError(msg)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    parser.add_argument("--trials", type=int, default=7)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    cold = time.monotonic()
    preload()
    cold_seconds = time.monotonic() - cold
    results: dict[str, Any] = {
        "workloads": WORKLOADS,
        "slowest_ready_after": WORKLOADS * STEP,
        "client_cold_import_seconds": round(cold_seconds, 3),
        "readiness": {},
    }
    readiness_trial("readiness-order", concurrent=True)  # warm-up (first requests, model deserialisers)
    for order in ("readiness-order", "slowest-first"):
        concurrent = statistics.median(readiness_trial(order, concurrent=True) for _ in range(3))
        sequential = statistics.median(readiness_trial(order, concurrent=False) for _ in range(3))
        results["readiness"][order] = {
            "concurrent_s": round(concurrent, 3),
            "sequential_s": round(sequential, 3),
            "ratio": round(sequential / concurrent, 2),
        }
    crash = [crash_trial() for _ in range(args.trials)]
    results["crashloop_to_raise_s"] = {
        "median": round(statistics.median(crash), 3),
        "min": round(min(crash), 3),
        "max": round(max(crash), 3),
        "trials": len(crash),
        "target": 2.0,
    }

    if args.json:
        print(json.dumps(results, indent=2))
        return 0
    print(f"{WORKLOADS} Deployments ready after {STEP:g}..{WORKLOADS * STEP:g} s (staggered):")
    for order, row in results["readiness"].items():
        print(
            f"  wait order {order:<16} concurrent {row['concurrent_s']:.3f} s   "
            f"sequential {row['sequential_s']:.3f} s   ratio {row['ratio']:.2f}x"
        )
    c = results["crashloop_to_raise_s"]
    print(
        f"CrashLoopBackOff -> waiter raised: median {c['median']:.3f} s "
        f"(min {c['min']:.3f}, max {c['max']:.3f}, {c['trials']} trials; target <= 2 s)"
    )
    print(f"kubernetes client cold import (preload): {cold_seconds:.2f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
