#!/usr/bin/env python3
"""Peak memory of `envctl up` when a build prints a lot (issue 10, "bounded memory"); not a test.

Run from the repository root: .venv/bin/python scripts/bench_build_output.py [--mb 150] [--backend engine]

The demo on the test cluster (tests/support/demo_world.py), with one step added to web's
Dockerfile that prints ``--mb`` MB to stdout. envctl streams build output to the progress display
and keeps only a bounded tail for the error message, so its peak memory should not grow with the
output. Peak = the highest VmHWM of the `envctl up` process (read from /proc every 50 ms while it
runs), beside a no-op `up` of the same workspace for reference.

Note: BuildKit clips each step's log at about 1 MiB before it reaches the client, so the output
only reaches envctl in full with ``--backend engine`` (the Engine API's legacy builder), the default
here.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.support.demo_world import (
    DemoWorld,
    commit_all,
    copy_demo,
    ensure_base_image,
    remove_cluster_containers,
    remove_images,
)

BASE_IMAGE = "envctl-bench-output/busybox:1"


def peak_rss_mb(argv: list[str], cwd: Path, env: dict[str, str], timeout: float) -> tuple[int, float]:
    """Run ``argv``; returns (exit code, peak resident memory in MB of that process)."""
    proc = subprocess.Popen(argv, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    peak = 0
    err: list[bytes] = []
    reader = threading.Thread(target=lambda: err.append(proc.stderr.read() if proc.stderr else b""), daemon=True)
    reader.start()
    deadline = time.monotonic() + timeout
    while proc.poll() is None and time.monotonic() < deadline:
        try:
            status = Path(f"/proc/{proc.pid}/status").read_text()
        except OSError:
            break
        for line in status.splitlines():
            if line.startswith("VmHWM:"):
                peak = max(peak, int(line.split()[1]))
        time.sleep(0.05)
    if proc.poll() is None:
        proc.kill()
    proc.wait()
    reader.join()
    if proc.returncode != 0:
        sys.stderr.write(b"".join(err).decode(errors="replace")[-3000:])
    return proc.returncode, peak / 1024


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mb", type=int, default=150, help="MB the build step prints")
    parser.add_argument("--backend", default="engine", choices=("engine", "buildkit"))
    parser.add_argument("--timeout", type=float, default=900.0)
    args = parser.parse_args()
    docker = "/usr/bin/docker" if Path("/usr/bin/docker").exists() else "docker"
    prefix = f"envctl-bench-{uuid.uuid4().hex[:6]}"
    made_base = ensure_base_image(docker, BASE_IMAGE)
    work = Path(tempfile.mkdtemp(prefix="envctl-bench-output-"))
    world = None
    try:
        ws = work / "ws"
        copy_demo(ws, cluster=prefix, prefix=prefix, base_image=BASE_IMAGE, docker=docker)
        config = yaml.safe_load((ws / "envctl.yaml").read_text())
        config["build"]["backend"] = args.backend
        (ws / "envctl.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
        dockerfile = ws / "examples" / "services" / "web" / "Dockerfile"
        line = "0123456789" * 10  # 100 characters and a newline per line
        loud = (f"RUN busybox yes {line} | busybox head -c {args.mb * 1_000_000} && echo {uuid.uuid4().hex}\n")
        dockerfile.write_text(dockerfile.read_text() + loud)
        commit_all(ws, "a loud build step")
        world = DemoWorld(work / "world", ws, prefix, "envctl-demo", docker)
        envctl = [sys.executable, "-m", "envctl", "up"]
        with world.kubelet():
            code, loud_peak = peak_rss_mb(envctl, ws, world.env, args.timeout)
            if code != 0:
                print(f"bench_build_output: envctl up exited {code}", file=sys.stderr)
                return 1
            code, noop_peak = peak_rss_mb(envctl, ws, world.env, args.timeout)
        print(f"envctl up, web's build printing {args.mb} MB ({args.backend}): peak RSS {loud_peak:.0f} MB")
        print(f"envctl up, no-op on the same workspace:                 peak RSS {noop_peak:.0f} MB")
        return 0
    finally:
        if world is not None:
            world.close()
        remove_cluster_containers(docker, prefix)
        remove_images(docker, prefix)
        if made_base:
            subprocess.run([docker, "rmi", "-f", BASE_IMAGE], check=False, capture_output=True, timeout=120)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
