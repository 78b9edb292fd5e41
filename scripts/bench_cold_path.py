#!/usr/bin/env python3
"""The cold path's two open questions, measured on this machine; not a test.

Run from the repository root: .venv/bin/python scripts/bench_cold_path.py [--repeat 5] [--json FILE]

1. When does a new node's containerd answer, against when the API server reports the node Ready?
   ``k3d cluster create`` (the tests' stand-in: real containerd node containers, KMock as the API)
   runs in the background while two pollers record the first moment
   ``docker exec NODE ctr -a <k3s socket> version`` succeeds and the first moment the API lists the
   node Ready. (Real k3s orders these differently; see docs/benchmarks.md.)
2. What does a build cost, from what its Dockerfile shows? Cold BuildKit builds (a unique salt per
   run, so nothing comes from the cache) of Dockerfiles that vary one thing each: RUN steps that do
   nothing, RUN steps that write data or sleep, COPY of few big or many small files, a second stage.
   Printed with the static features an estimator can read (RUN steps, input bytes and files,
   stages), and least-squares fits of seconds on those features alone and with what the RUN steps
   really do (MB written, seconds slept), which the Dockerfile's text does not show.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

SCRIPTS = Path(__file__).resolve().parent
sys.path[:0] = [str(SCRIPTS), str(SCRIPTS.parent)]

from seedbench.cleanup import prune_build_cache, prune_context_copies

from tests.support.demo_world import DemoWorld, ensure_base_image, remove_cluster_containers, remove_images

DOCKER = "/usr/bin/docker" if Path("/usr/bin/docker").exists() else "docker"
K3S_SOCKET = "/run/k3s/containerd/containerd.sock"
MB = 1 << 20


# --- 1. containerd vs API ---------------------------------------------------------------------------
def first_success(
    probe: Callable[[], bool], started: float, stop: threading.Event, out: dict[str, float], key: str
) -> None:
    while not stop.is_set():
        if probe():
            out[key] = time.monotonic() - started
            return
        time.sleep(0.02)


def node_ready(api_url: str, node: str) -> bool:
    try:
        with urllib.request.urlopen(f"{api_url}/api/v1/nodes/{node}", timeout=2) as resp:  # the loopback test API
            conditions = json.loads(resp.read()).get("status", {}).get("conditions", [])
    except OSError:
        return False
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)


def containerd_answers(node: str) -> bool:
    done = subprocess.run([DOCKER, "exec", node, "ctr", "-a", K3S_SOCKET, "version"], capture_output=True,
                          check=False, timeout=10)  # fmt: skip
    return done.returncode == 0


def create_once(work: Path, cluster: str) -> dict[str, float]:
    world = DemoWorld(work / cluster, work, cluster, "default", DOCKER)
    times: dict[str, float] = {}
    stop = threading.Event()
    try:
        started = time.monotonic()
        pollers = [
            threading.Thread(target=first_success, args=(lambda: containerd_answers(world.node), started, stop, times,
                                                         "containerd")),
            threading.Thread(target=first_success, args=(lambda: node_ready(world.api.url, world.node), started, stop,
                                                         times, "api_node_ready")),
        ]  # fmt: skip
        for poller in pollers:
            poller.start()
        subprocess.run(["k3d", "cluster", "create", cluster, "--wait", "--kubeconfig-update-default=false"],
                       env=world.env, check=True, capture_output=True, timeout=300)  # fmt: skip
        times["create_returned"] = time.monotonic() - started
        for poller in pollers:
            poller.join(30)
    finally:
        stop.set()
        world.close()
    return times


# --- 2. build cost ------------------------------------------------------------------------------------
def variants(base: str, salt: str) -> dict[str, tuple[str, dict[str, int], dict[str, float]]]:
    """name → (Dockerfile, context files: relative path → bytes, what its RUN steps do that the text
    does not show: MB written, seconds slept). Each variant has its own salt, so none reuses another's cache."""
    small = {f"src/f{i:04d}.py": 2048 for i in range(2000)}
    shapes: dict[str, tuple[str, dict[str, int], dict[str, float]]] = {
        "copy 1 MB": ("COPY app /app\n", {"app/a.bin": 1 * MB}, {}),
        "copy 100 MB": ("COPY app /app\n", {"app/a.bin": 100 * MB}, {}),
        "copy 2000 small files": ("COPY src /src\n", small, {}),
        "1 empty RUN": ("", {}, {}),
        "4 empty RUN": ("RUN true\n" * 3, {}, {}),
        "RUN writes 50 MB": (f"RUN head -c {50 * MB} /dev/urandom >/d\n", {}, {"run_mb": 50}),
        "RUN writes 200 MB": (f"RUN head -c {200 * MB} /dev/urandom >/d\n", {}, {"run_mb": 200}),
        "RUN sleeps 3 s": ("RUN sleep 3\n", {}, {"run_sleep": 3}),
        "2 stages, 50 MB": (
            f"RUN head -c {50 * MB} /dev/urandom >/d\nFROM {base}\nCOPY --from=0 /d /d\n",
            {},
            {"run_mb": 50},
        ),
    }
    result: dict[str, tuple[str, dict[str, int], dict[str, float]]] = {}
    for i, (name, (shape, files, hidden)) in enumerate(shapes.items()):
        # A second stage gets a salted step too, so its records are pruned with the rest.
        body = shape.replace(f"FROM {base}\n", f"FROM {base}\nRUN echo {salt}-{i}b >/dev/null\n")
        result[name] = (f"FROM {base}\nRUN echo {salt}-{i} >/dev/null\n{body}", files, hidden)
    return result


def features(dockerfile: str, files: dict[str, int]) -> dict[str, float]:
    lines = [line.split()[0].upper() for line in dockerfile.splitlines() if line.strip()]
    return {"run_steps": lines.count("RUN"), "input_mb": sum(files.values()) / MB, "input_files": len(files),
            "stages": lines.count("FROM")}  # fmt: skip


def build_once(work: Path, dockerfile: str, files: dict[str, int], tag: str) -> float:
    context = work / uuid.uuid4().hex[:8]
    for path, size in files.items():
        target = context / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(uuid.uuid4().bytes * (size // 16))
    context.mkdir(exist_ok=True)
    (context / "Dockerfile").write_text(dockerfile)
    started = time.monotonic()
    subprocess.run([DOCKER, "build", "-q", "--network", "none", "-t", tag, str(context)], check=True,
                   capture_output=True, timeout=600, env={"DOCKER_BUILDKIT": "1", "PATH": "/usr/bin:/bin"})  # fmt: skip
    seconds = time.monotonic() - started
    subprocess.run(["rm", "-rf", str(context)], check=False)
    return seconds


def fit(rows: list[dict[str, Any]], keys: list[str]) -> tuple[list[float], float]:
    """Least squares of seconds on [1, *keys] (normal equations; tiny systems). Returns (coefficients, R²)."""
    xs = [[1.0, *(r[k] for k in keys)] for r in rows]
    ys = [r["seconds"] for r in rows]
    n = len(xs[0])
    a = [[sum(x[i] * x[j] for x in xs) for j in range(n)] for i in range(n)]
    b = [sum(x[i] * y for x, y in zip(xs, ys, strict=False)) for i in range(n)]
    for i in range(n):  # Gauss-Jordan with a small ridge for collinear columns
        a[i][i] += 1e-9
        pivot = a[i][i]
        a[i] = [v / pivot for v in a[i]]
        b[i] /= pivot
        for k in range(n):
            if k != i:
                factor = a[k][i]
                a[k] = [vk - factor * vi for vk, vi in zip(a[k], a[i], strict=False)]
                b[k] -= factor * b[i]
    mean = statistics.mean(ys)
    predicted = [sum(c * v for c, v in zip(b, x, strict=False)) for x in xs]
    total = sum((y - mean) ** 2 for y in ys) or 1.0
    return b, 1 - sum((y - p) ** 2 for y, p in zip(ys, predicted, strict=False)) / total


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    prefix = f"envctl-bench-{uuid.uuid4().hex[:6]}"
    started_at = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime())
    work = Path(tempfile.mkdtemp(prefix=f"{prefix}-"))
    clusters: list[str] = []
    try:
        creates = []
        for i in range(args.repeat):
            clusters.append(f"{prefix}-c{i}")
            creates.append(create_once(work, clusters[-1]))
        base = f"{prefix}/busybox:1"
        ensure_base_image(DOCKER, base)
        rows: list[dict[str, Any]] = []
        for round_ in range(2):
            for name, (dockerfile, files, hidden) in variants(base, f"{prefix}-{round_}").items():
                seconds = build_once(work, dockerfile, files, f"{prefix}/v:{round_}-{len(rows)}")
                rows.append({"variant": name, "seconds": seconds, **features(dockerfile, files),
                             "run_mb": hidden.get("run_mb", 0.0),
                             "run_sleep": hidden.get("run_sleep", 0.0)})  # fmt: skip
        static_keys = ["run_steps", "input_mb", "input_files", "stages"]
        static, r2_static = fit(rows, static_keys)
        full, r2_full = fit(rows, [*static_keys, "run_mb", "run_sleep"])
        result = {"creates": creates, "builds": rows, "fit_static": static, "r2_static": r2_static,
                  "fit_with_run_work": full, "r2_with_run_work": r2_full}  # fmt: skip
        for key in ("containerd", "api_node_ready", "create_returned"):
            values = [c[key] for c in creates if key in c]
            print(f"{key:<18} median {statistics.median(values):.2f} s  ({', '.join(f'{v:.2f}' for v in values)})")
        for name, (dockerfile, files, hidden) in variants(base, "").items():
            samples = [r["seconds"] for r in rows if r["variant"] == name]
            print(f"{name:<24} {statistics.median(samples):6.2f} s  {features(dockerfile, files)} {hidden}")
        for label, coefficients, r2, keys in (
            ("static", static, r2_static, static_keys),
            ("with RUN work", full, r2_full, [*static_keys, "run_mb", "run_sleep"]),
        ):
            terms = " + ".join(f"{c:.4f}·{k}" for c, k in zip(coefficients, ["1", *keys], strict=False))
            print(f"fit, {label}: seconds = {terms}  (R² {r2:.2f})")  # fmt: skip
        if args.json:
            args.json.write_text(json.dumps(result, indent=1))
        return 0
    finally:
        for cluster in clusters:
            remove_cluster_containers(DOCKER, cluster)
        remove_images(DOCKER, prefix)
        prune_build_cache(prefix)
        prune_context_copies(started_at, 90 * MB)  # the 100 MB context of "copy 100 MB"
        subprocess.run(["rm", "-rf", str(work)], check=False)


if __name__ == "__main__":
    sys.exit(main())
