#!/usr/bin/env python3
"""Benchmark of the image phases (issue 3); not a test. Run: python scripts/bench_images.py

Side by side, in one run, on this machine's real Docker engine, containerd nodes and registry:

1. 8 small services (each a random "dependencies" layer plus a code file, on a local busybox):
   * naive: what the reference dev-ci does on every run: build all 8, then ``docker save`` each
     and ``ctr images import`` it into the node;
   * envctl with 1 of 8 services changed: plan → build only what changed → load only what the node lacks
     (`up`'s own graph on the scheduler, minus the deploy and the wait);
   * envctl with nothing changed.
2. A code-only change to a ~200 MB image (incompressible random layer + tiny code layer):
   import mode (save + import of the whole image) vs registry mode (push; the registry keeps the
   big layer).

Targets (issue 3): 1-of-8 ≥ 5× faster than naive; nothing-changed moves 0 bytes; registry mode moves
≤ 1/10 of import mode's bytes. Needs a Docker engine; starts and removes its own node containers
and registry. Options: --deps-mb (per small service, default 8), --big-mb (default 200), --repeat (default 3),
--json FILE.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import shutil
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from envctl.adapters.containerd import ContainerdNodes, Node
from envctl.adapters.docker import DockerEngine
from envctl.adapters.process import SubprocessRunner
from envctl.config import load_config
from envctl.phases.build import BuildOptions, ImageBuilder
from envctl.phases.load import ImageLoader, LoadMode
from envctl.phases.protocols import Phases
from envctl.pipeline import BUILD_SLOT, RunState, make_tasks
from envctl.planning import plan_workspace
from envctl.progress import NullProgress
from envctl.results import BuiltImage, ClusterInfo, DeployResult, LoadResult, RunningImages, WaitResult
from envctl.scheduler import Scheduler
from envctl.timing.spans import Recorder
from tests.support.containerd_node import start_node, stop_node
from tests.support.registry import start_registry, stop_registry

BASE_IMAGE = "envctl-bench/busybox:1"


def docker_cli() -> str:
    return os.environ.get("ENVCTL_DOCKER") or (
        "/usr/bin/docker" if Path("/usr/bin/docker").exists() else "docker"
    )


def ensure_base_image(docker: str) -> bool:
    """Make the busybox base unless present; True when this run made it (and so removes it)."""
    if (
        subprocess.run([docker, "image", "inspect", BASE_IMAGE], capture_output=True, check=False).returncode
        == 0
    ):
        return False
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for folder in ("bin", "tmp", "app"):
            info = tarfile.TarInfo(folder)
            info.type, info.mode = tarfile.DIRTYPE, 0o755
            tar.addfile(info)
        tar.add("/bin/busybox", arcname="bin/busybox")
        link = tarfile.TarInfo("bin/sh")
        link.type, link.linkname = tarfile.SYMTYPE, "busybox"
        tar.addfile(link)
    subprocess.run(
        [docker, "import", "-", BASE_IMAGE],
        input=buf.getvalue(),
        check=True,
        capture_output=True,
    )
    return True


def make_workspace(root: Path, prefix: str, services: dict[str, int]) -> None:
    """services: name → MB of random 'dependencies'. Every service: deps layer, then code layer."""
    config = {"version": 1, "services": {}}
    for name, megabytes in services.items():
        folder = root / "services" / name
        folder.mkdir(parents=True)
        (folder / "deps.bin").write_bytes(os.urandom(megabytes << 20))
        (folder / "code.txt").write_text(f"{name} v0\n")
        (folder / "Dockerfile").write_text(
            f"ARG BASE_IMAGE\nFROM ${{BASE_IMAGE}}\nCOPY services/{name}/deps.bin /deps/deps.bin\n"
            f"COPY services/{name}/code.txt /app/code.txt\n"
        )
        config["services"][name] = {
            "dockerfile": f"services/{name}/Dockerfile",
            "image": f"{prefix}/{name}",
            "build_args": {"BASE_IMAGE": BASE_IMAGE},
        }
    (root / "envctl.yaml").write_text(json.dumps(config, indent=1))  # JSON is YAML


@dataclass(frozen=True)
class BenchRegistry:
    """The benchmark's registry: the nodes and this machine reach it at the same address."""

    push_address: str

    @property
    def cluster_address(self) -> str:
        return self.push_address


class BenchCluster:
    """The cluster phase for nodes this benchmark started itself (no k3d here)."""

    def __init__(self, nodes: list[Node], registry: str | None) -> None:
        self.nodes, self.registry = nodes, BenchRegistry(registry) if registry else None

    def ensure(self) -> ClusterInfo:
        return ClusterInfo("bench", "reused", Path("/nonexistent"), tuple(n.container for n in self.nodes),
                           self.registry, "bench")  # fmt: skip


class ImagesOnly:
    """Deploy and wait phases of a run that measures images only: nothing is deployed."""

    def deploy(self, refs: dict[str, str], cluster: ClusterInfo) -> DeployResult:  # noqa: ARG002 - the Protocol's
        return DeployResult("bench", "bench", 0, "skipped", "benchmark of the image phases", "", 0.0)

    def wait(self, cluster: ClusterInfo) -> WaitResult:  # noqa: ARG002 - the Protocol's
        return WaitResult("bench", "bench", 0.0, ())

    def verify(self, images: object, cluster: ClusterInfo) -> RunningImages:  # noqa: ARG002 - the Protocol's
        return RunningImages("bench", "bench", 0, 0)


class Envctl:
    """envctl's image path exactly as `up` runs it: plan, then `up`'s graph on the scheduler
    (builds, each image loaded as soon as it is built), minus the deploy and the wait."""

    def __init__(self, root: Path, docker: str, nodes: list[Node], registry: str | None = None) -> None:
        self.root, self.docker, self.nodes, self.registry = root, docker, nodes, registry
        self.runner = SubprocessRunner()

    def run(self, mode: LoadMode = "import", jobs: int = 4) -> tuple[float, int, dict[str, str]]:
        started = time.monotonic()
        config_path = self.root / "envctl.yaml"
        config = load_config(config_path)
        plan = plan_workspace(config, self.root, config_path, self.runner, docker_cli=self.docker)
        recorder, progress = Recorder(), NullProgress()
        nodes = {n.container: n for n in self.nodes}
        phases = Phases(
            cluster=BenchCluster(self.nodes, self.registry),
            build=ImageBuilder(
                workspace_root=self.root, docker=DockerEngine(), runner=self.runner,
                options=BuildOptions(docker_cli=self.docker, network="none"), recorder=recorder, progress=progress,
            ),
            load=ImageLoader(
                mode, containerd=ContainerdNodes(self.runner, self.docker), docker=DockerEngine(), recorder=recorder,
                progress=progress, nodes_of=lambda info: [nodes[name] for name in info.nodes],
            ),
            deploy=ImagesOnly(),
            wait=ImagesOnly(),
            verify=ImagesOnly(),
        )  # fmt: skip
        tasks = make_tasks(plan, phases, set(config.services), state=RunState(), wait=False)  # every image is loaded
        result = Scheduler(tasks, recorder=recorder, jobs=jobs + 1, limits={BUILD_SLOT: jobs}).run()
        if not result.ok:
            msg = f"envctl's run failed: {result.first_error}"
            raise SystemExit(msg)
        seconds = time.monotonic() - started
        built = [o.value for o in result.outcomes.values() if isinstance(o.value, BuiltImage)]
        loaded = [o.value for o in result.outcomes.values() if isinstance(o.value, LoadResult)]
        return seconds, sum(r.bytes_moved for r in loaded), {b.service: b.action for b in built}


def naive(root: Path, docker: str, prefix: str, names: list[str], node: Node) -> tuple[float, int]:
    """Build every image, then save and import every image (the reference dev-ci)."""
    runner = SubprocessRunner()
    nodes = ContainerdNodes(runner, docker)
    started = time.monotonic()
    moved = 0
    for name in names:
        runner.run([docker, "build", "-q", "--network", "none", "--build-arg", f"BASE_IMAGE={BASE_IMAGE}",
                    "-f", f"services/{name}/Dockerfile", "-t", f"{prefix}-naive/{name}:dev", "."],
                   cwd=root, env={"DOCKER_BUILDKIT": "1"})  # fmt: skip
    for name in names:
        moved += nodes.import_image(node, f"{prefix}-naive/{name}:dev")
    return time.monotonic() - started, moved


def change(root: Path, name: str) -> str:
    """A code-only change; returns the previous content (to undo it)."""
    path = root / "services" / name / "code.txt"
    before = path.read_text()
    path.write_text(f"{name} {uuid.uuid4().hex}\n")
    return before


def mb(n: int) -> str:
    return f"{n / 1e6:.1f} MB"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--deps-mb", type=int, default=8)
    parser.add_argument("--big-mb", type=int, default=200)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    docker = docker_cli()
    made_base = ensure_base_image(docker)
    tag = uuid.uuid4().hex[:6]
    prefix = f"envctl-bench-{tag}"
    work = Path(tempfile.mkdtemp(prefix="envctl-bench-"))
    started_nodes = []
    registry = None
    results: dict[str, object] = {}
    try:
        for role in ("naive", "envctl", "big"):
            # One at a time, each recorded before the next starts: the clean-up removes what started.
            name = f"envctl-bench-{role}-{tag}"
            started_nodes.append(start_node(docker, name, socket_path=f"/run/{name}/containerd.sock"))
        naive_node, envctl_node, big_node = (Node(n.name, n.socket_path) for n in started_nodes)
        registry = start_registry(work / "registry")

        # --- 1. eight small services --------------------------------------------------------------
        small = work / "small"
        names = [f"svc{i}" for i in range(1, 9)]
        make_workspace(small, prefix, dict.fromkeys(names, args.deps_mb))
        tool = Envctl(small, docker, [envctl_node])
        warm_naive = naive(small, docker, prefix, names, naive_node)  # fills the build cache, seeds the node
        cold = tool.run()
        print(f"warm-up: naive {warm_naive[0]:.1f} s ({mb(warm_naive[1])}); envctl first run {cold[0]:.1f} s "
              f"({mb(cold[1])})")  # fmt: skip

        # Repeated and reported as medians: the machine is shared, single runs are noisy.
        samples: dict[str, list[float]] = {"naive": [], "one": [], "none": []}
        moved: dict[str, int] = {}
        for _ in range(args.repeat):
            before = change(small, "svc3")
            naive_s, moved["naive"] = naive(small, docker, prefix, names, naive_node)
            (small / "services/svc3/code.txt").write_text(before)
            change(
                small, "svc5"
            )  # a different fresh change, so envctl's build is not served by naive's cache
            one_s, moved["one"], one_actions = tool.run()
            none_s, moved["none"], none_actions = tool.run()
            assert [n for n, a in one_actions.items() if a == "built"] == ["svc5"], one_actions
            assert set(none_actions.values()) == {"present"}, none_actions
            for key, value in (("naive", naive_s), ("one", one_s), ("none", none_s)):
                samples[key].append(value)
        naive_s, one_s, none_s = (statistics.median(samples[k]) for k in ("naive", "one", "none"))
        results["small"] = {
            "services": 8, "deps_mb_each": args.deps_mb, "repeats": args.repeat,
            "naive_seconds": round(naive_s, 2), "naive_bytes": moved["naive"],
            "one_changed_seconds": round(one_s, 2), "one_changed_bytes": moved["one"],
            "nothing_changed_seconds": round(none_s, 2), "nothing_changed_bytes": moved["none"],
            "speedup_one_changed": round(naive_s / one_s, 1), "speedup_nothing_changed": round(naive_s / none_s, 1),
            "samples_seconds": {k: [round(v, 2) for v in vs] for k, vs in samples.items()},
        }  # fmt: skip

        # --- 2. code-only change to a big image: import vs registry --------------------------------
        big = work / "big"
        make_workspace(big, prefix, {"big": args.big_mb})
        big_tool = Envctl(big, docker, [big_node], registry.address)
        big_tool.run("import")  # v1 on the node
        big_tool.run("registry")  # v1 in the registry
        change(big, "big")
        import_s, import_bytes, _ = big_tool.run("import")
        change(big, "big")
        registry_s, registry_bytes, _ = big_tool.run("registry")
        results["big"] = {
            "image_mb": args.big_mb,
            "import_seconds": round(import_s, 2), "import_bytes": import_bytes,
            "registry_seconds": round(registry_s, 2), "registry_bytes": registry_bytes,
            "bytes_ratio_registry_to_import": round(registry_bytes / import_bytes, 6) if import_bytes else None,
        }  # fmt: skip
    finally:
        for node in started_nodes:
            stop_node(docker, node)
        if registry is not None:
            stop_registry(registry)
        ids = subprocess.run([docker, "images", "-q", "--filter", f"reference={prefix}*/*"],
                             capture_output=True, text=True, check=False).stdout.split()  # fmt: skip
        ids += subprocess.run([docker, "images", "-q", "--filter", f"reference=*/{prefix}/*"],
                              capture_output=True, text=True, check=False).stdout.split()  # fmt: skip
        if ids:
            subprocess.run([docker, "rmi", "-f", *sorted(set(ids))], capture_output=True, check=False)
        if made_base:
            subprocess.run([docker, "rmi", BASE_IMAGE], capture_output=True, check=False)
        shutil.rmtree(work, ignore_errors=True)

    s, b = results["small"], results["big"]
    print(f"\n8 services, {s['deps_mb_each']} MB of dependencies each (median of {s['repeats']} runs; "
          f"samples {s['samples_seconds']}):")  # fmt: skip
    print(f"  naive (build all, save+import all): {s['naive_seconds']:6.2f} s  {mb(s['naive_bytes'])}")
    print(f"  envctl, 1 of 8 changed:             {s['one_changed_seconds']:6.2f} s  {mb(s['one_changed_bytes'])}"
          f"  -> {s['speedup_one_changed']}x faster")  # fmt: skip
    print(f"  envctl, nothing changed:            {s['nothing_changed_seconds']:6.2f} s  "
          f"{s['nothing_changed_bytes']} bytes  -> {s['speedup_nothing_changed']}x faster")  # fmt: skip
    print(f"\ncode-only change to a {b['image_mb']} MB image:")
    print(f"  import mode:   {b['import_seconds']:6.2f} s  {mb(b['import_bytes'])}")
    print(f"  registry mode: {b['registry_seconds']:6.2f} s  {b['registry_bytes']} bytes "
          f"(ratio {b['bytes_ratio_registry_to_import']})")  # fmt: skip
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
