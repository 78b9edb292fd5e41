#!/usr/bin/env python3
"""Benchmark of envctl's "nothing changed" verbs on the demo (issue 14); not a test.

Run from the repository root: .venv/bin/python scripts/bench_noop.py [--runs N] [--json FILE] [--lock FILE]

The demo workspace on this machine's test cluster (tests/support/demo_world.py: k3d/helm stand-ins
whose node is a real containerd container, KMock as the API, a kubelet that readies a pod only if
its image is on the node). One `envctl up` brings it up (cold, not timed here); then each verb runs
N times as a real process (the `envctl` console script: interpreter start-up and imports included)
and the median process wall time is reported:

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
import fcntl
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

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


class BenchError(RuntimeError):
    pass


def envctl_path() -> str:
    candidate = Path(sys.executable).with_name("envctl")
    return str(candidate) if candidate.exists() else (shutil.which("envctl") or "envctl")


@contextmanager
def locked(path: Path | None) -> Iterator[None]:
    """An exclusive flock on ``path`` around the measured runs (others on a shared engine wait)."""
    if path is None:
        yield
        return
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def run_verb(world: DemoWorld, args: list[str], timeout: float) -> float:
    """Process wall seconds of one `envctl ARGS`; a non-zero exit is a failed benchmark."""
    started = time.monotonic()
    done = subprocess.run([envctl_path(), *args], cwd=world.workspace, env=world.env, capture_output=True,
                          text=True, timeout=timeout, check=False)  # fmt: skip
    seconds = time.monotonic() - started
    if done.returncode != 0:
        msg = f"envctl {' '.join(args)} exited {done.returncode}\n{done.stderr.strip()[-2000:]}"
        raise BenchError(msg)
    return seconds


def measure(world: DemoWorld, verb: str, runs: int, timeout: float, *, cached: bool) -> list[float]:
    samples = []
    cache = world.workspace / ".envctl" / "cache"
    for _ in range(runs):
        if not cached:
            shutil.rmtree(cache, ignore_errors=True)
        samples.append(run_verb(world, VERBS[verb], timeout))
    return samples


def table(results: dict[str, dict[str, list[float]]]) -> str:
    lines = [
        "envctl with nothing changed, demo workspace (test cluster), process wall seconds, median of runs",
        f"{'verb':<8} {'no cache':>9} {'cached':>8} {'target':>7}  samples (cached)",
    ]
    for verb, by in results.items():
        cold, warm = statistics.median(by["no cache"]), statistics.median(by["cached"])
        verdict = "ok" if warm <= TARGETS[verb] else "MISSED"
        samples = " ".join(f"{s:.2f}" for s in by["cached"])
        lines.append(f"{verb:<8} {cold:>9.2f} {warm:>8.2f} {TARGETS[verb]:>6.1f}  {samples}  {verdict}")
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
    results: dict[str, dict[str, list[float]]] = {}
    try:
        with locked(args.lock):
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
                    verb: {state: {"median": statistics.median(s), "samples": s} for state, s in by.items()}
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
