#!/usr/bin/env python3
"""Benchmark of envctl's "nothing changed" verbs on the demo (issue 14); not a test.

Run from the repository root: .venv/bin/python scripts/bench_noop.py [--runs N] [--json FILE] [--lock FILE]

The demo workspace on this machine's test cluster (tests/support/demo_world.py: k3d/helm stand-ins
whose node is a real containerd container, KMock as the API, a kubelet that readies a pod only if
its image is on the node). One `envctl up` brings it up (cold, not timed here); then each verb runs
N times as a real process (the `envctl` console script: interpreter start-up and imports included)
and the median process wall time, and CPU time of envctl and the tools it ran, are reported:

  up        `envctl up` with nothing changed (plan, cluster reuse, load and deploy skipped, wait)
  status    `envctl status`
  plan      `envctl plan` (warm: the same plan was made before)

Each verb is timed twice: with envctl's caches under .envctl/cache removed before every run
("no cache": what a first run after an edit pays) and kept ("cached"). Targets (issue 14):
up <= 1.0 s, status <= 1.0 s, plan <= 0.3 s, cached. `scripts/bench_plan.py` times `envctl plan`
on a 20,000-file workspace (target <= 0.5 s).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

SCRIPTS = Path(__file__).resolve().parent
REPO = SCRIPTS.parent
sys.path[:0] = [str(SCRIPTS), str(REPO)]

from bench_pipeline import BenchError, held
from bench_plan import envctl_path

from tests.support.demo_world import (
    DemoWorld,
    copy_demo,
    ensure_base_image,
    remove_cluster_containers,
    remove_images,
)  # fmt: skip

BASE_IMAGE = "envctl-bench-noop/busybox:1"
TARGETS = {"up": 1.0, "status": 1.0, "plan": 0.3}
VERBS = {"up": ["up"], "status": ["status"], "plan": ["plan"]}


def run_verb(world: DemoWorld, args: list[str], timeout: float) -> tuple[float, float]:
    """(wall, CPU) seconds of one `envctl ARGS` process; a non-zero exit is a failed benchmark.

    CPU counts envctl and every process it waited for (git, docker, the k3d and helm stand-ins):
    on a shared machine wall time includes waiting for a core, CPU time does not."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.monotonic()
    done = subprocess.run([envctl_path(), *args], cwd=world.workspace, env=world.env, capture_output=True,
                          text=True, timeout=timeout, check=False)  # fmt: skip
    seconds = time.monotonic() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        msg = f"envctl {' '.join(args)} exited {done.returncode}\n{done.stderr.strip()[-2000:]}"
        raise BenchError(msg)
    return seconds, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def measure(world: DemoWorld, verb: str, runs: int, timeout: float, *, cached: bool) -> list[tuple[float, float]]:
    samples = []
    cache = world.workspace / ".envctl" / "cache"
    for _ in range(runs):
        if not cached:
            shutil.rmtree(cache, ignore_errors=True)
        samples.append(run_verb(world, VERBS[verb], timeout))
    return samples


def table(results: dict[str, dict[str, list[tuple[float, float]]]]) -> str:
    lines = [
        "envctl with nothing changed, demo workspace (test cluster), seconds, median of runs",
        f"{'':<8} {'wall':>19} {'CPU (envctl + tools)':>21}",
        f"{'verb':<8} {'no cache':>9} {'cached':>8}  {'no cache':>9} {'cached':>8}  {'target':>6}  wall, cached",
    ]
    for verb, by in results.items():
        wall = [statistics.median(s[0] for s in by[state]) for state in ("no cache", "cached")]
        cpu = [statistics.median(s[1] for s in by[state]) for state in ("no cache", "cached")]
        verdict = "ok" if wall[1] <= TARGETS[verb] else "MISSED"
        samples = " ".join(f"{s[0]:.2f}" for s in by["cached"])
        lines.append(f"{verb:<8} {wall[0]:>9.2f} {wall[1]:>8.2f}  {cpu[0]:>9.2f} {cpu[1]:>8.2f}  {TARGETS[verb]:>6.1f}"
                     f"  {samples}  {verdict}")  # fmt: skip
    lines.append(f"load average at the end: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7, help="runs per verb and cache state (median reported)")
    parser.add_argument("--timeout", type=float, default=300.0, help="bound on every run")
    parser.add_argument("--json", type=Path, help="also write the figures as JSON here")
    parser.add_argument("--lock", type=Path, help="flock this file around the Docker work")
    args = parser.parse_args()
    docker = "/usr/bin/docker" if Path("/usr/bin/docker").exists() else "docker"
    prefix = f"envctl-bench-noop-{uuid.uuid4().hex[:6]}"
    work = Path(tempfile.mkdtemp(prefix="envctl-bench-noop-"))
    world: DemoWorld | None = None
    made_base = False
    results: dict[str, dict[str, list[tuple[float, float]]]] = {}
    try:
        with held(args.lock):
            made_base = ensure_base_image(docker, BASE_IMAGE)
            ws = work / "ws"
            copy_demo(ws, cluster=f"{prefix}-c", prefix=prefix, base_image=BASE_IMAGE, docker=docker)
            world = DemoWorld(work / "world", ws, f"{prefix}-c", "envctl-demo", docker)
            with world.kubelet() as kubelet:
                run_verb(world, ["up"], args.timeout)  # the cold run that makes everything
                for verb in VERBS:
                    results[verb] = {
                        "no cache": measure(world, verb, args.runs, args.timeout, cached=False),
                        "cached": measure(world, verb, args.runs, args.timeout, cached=True),
                    }
            if set(kubelet.handled.values()) != {"ready"}:
                msg = f"some pod's image was not on the node: {kubelet.handled}"
                raise BenchError(msg)
        print(table(results))
        if args.json:
            payload = {
                "targets": TARGETS,
                "load_average": list(os.getloadavg()),
                "verbs": {
                    verb: {
                        state: {"wall_median": statistics.median(s[0] for s in samples),
                                "cpu_median": statistics.median(s[1] for s in samples),
                                "samples": [{"wall": w, "cpu": c} for w, c in samples]}
                        for state, samples in by.items()
                    }
                    for verb, by in results.items()
                },
            }
            args.json.parent.mkdir(parents=True, exist_ok=True)
            args.json.write_text(json.dumps(payload, indent=1))
        return 0
    except BenchError as exc:
        print(f"bench_noop: {exc}", file=sys.stderr)
        return 1
    finally:
        if world is not None:
            world.close()
        remove_cluster_containers(docker, f"{prefix}-c")
        remove_images(docker, prefix)
        if made_base:
            subprocess.run([docker, "rmi", "-f", BASE_IMAGE], check=False, capture_output=True, timeout=120)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
