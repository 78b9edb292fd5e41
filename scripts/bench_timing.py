#!/usr/bin/env python3
"""What envctl's own machinery adds to a run: span recording, the scheduler on a no-op graph,
the workspace lock, writing the run record, and analysing the history.

    /tmp/venv/bin/python scripts/bench_timing.py        # prints one line per figure

These are the parts of a no-op `envctl up` that are envctl's, not k3d's, Docker's or Helm's
(target for the whole no-op run: ≤ 2 s). Figures are medians of repeated measurements.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from envctl.lock import workspace_lock
from envctl.scheduler import Scheduler, Task
from envctl.timing.advice import advise
from envctl.timing.analysis import analyze, compare_runs
from envctl.timing.history import RunHistory, RunMeta, RunRecord
from envctl.timing.spans import Recorder

SERVICES = ("base", "api", "worker", "web", "migrate")


def demo_graph() -> list[Task]:
    """The shape of the demo's `up` graph: plan, cluster ∥ builds, pipelined loads, deploy, wait."""
    noop = lambda _ctx: None  # noqa: E731 - one no-op task body, shared by every task
    tasks = [Task("plan", "plan", noop), Task("cluster", "cluster", noop)]
    for svc in SERVICES:
        after = ("plan", "build:base") if svc in ("api", "worker") else ("plan",)
        tasks.append(Task(f"build:{svc}", "build", noop, after=after, service=svc))
        tasks.append(Task(f"load:{svc}", "load", noop, after=(f"build:{svc}", "cluster"), service=svc))
    tasks.append(Task("deploy", "deploy", noop, after=tuple(f"load:{s}" for s in SERVICES)))
    tasks.append(Task("wait", "wait", noop, after=("deploy",)))
    return tasks


def median_ms(fn: Callable[[], object], repeat: int = 20) -> float:
    samples = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - started) * 1000)
    return statistics.median(samples)


def main() -> None:
    rec = Recorder()
    n = 100_000
    started = time.perf_counter()
    for _ in range(n):
        with rec.span("x", "build"):
            pass
    print(f"span recording: {(time.perf_counter() - started) / n * 1e6:.1f} µs per span")

    graph_ms = median_ms(lambda: Scheduler(demo_graph(), recorder=Recorder(), jobs=4).run())
    print(f"scheduler, demo graph of {len(demo_graph())} no-op tasks: {graph_ms:.1f} ms per run")

    with tempfile.TemporaryDirectory() as tmp:
        state = Path(tmp) / ".envctl"

        def lock_once() -> None:
            with workspace_lock(state):
                pass

        print(f"workspace lock, take and release: {median_ms(lock_once):.2f} ms")

        history = RunHistory(state / "runs", keep=200)
        recorder = Recorder()
        Scheduler(demo_graph(), recorder=recorder, jobs=4).run()
        spans = tuple(recorder.spans())
        for _ in range(200):
            history.write(RunRecord(RunMeta.start("up", environ={}).finish("ok", 0, 1.0), spans))
        write_ms = median_ms(
            lambda: history.write(RunRecord(RunMeta.start("up", environ={}).finish("ok", 0, 1.0), spans))
        )
        print(f"run record write (atomic, fsync) + prune at 200 kept runs: {write_ms:.1f} ms")

        def analyse_history() -> None:
            runs = history.scan(last=200).records
            analysis = analyze(runs[-1])
            advise(runs[-1], analysis, runs)
            compare_runs(runs)

        print(f"read + analyse + compare 200 runs: {median_ms(analyse_history, repeat=5):.0f} ms")
        (Path(tmp) / "envctl.yaml").write_text("version: 1\n")
        cli_ms = median_ms(
            lambda: subprocess.run([sys.executable, "-m", "envctl", "timings", "--output", "json"], cwd=tmp,
                                   capture_output=True, check=True),
            repeat=5,
        )
        print(f"`envctl timings --output json` (process start to exit, 200 runs kept): {cli_ms:.0f} ms")


if __name__ == "__main__":
    main()
