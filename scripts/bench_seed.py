#!/usr/bin/env python3
"""Benchmark on a monorepo shaped like the seed one: envctl against the seed's dev-ci; not a test.

Run from the repository root: .venv/bin/python scripts/bench_seed.py [--quick] [--json FILE]
[--lock /work/locks/docker]

A generated monorepo (scripts/seedbench/monorepo.py: 12 services from the repository root, a shared
library 10 of them copy, one that copies a sibling's folder, a shared base, dependency layers of
50-400 MB of incompressible data, code layers of a few MB, one chart) and a seeded replay of merges
drawn from the seed's change distribution (2.4 services rebuilt per merge, 41 % touching no image
input). Side by side, on this machine's test cluster (tests/support/demo_world.py: stand-in k3d
whose nodes are real containerd containers, KMock as the API, a kubelet that readies a pod only if
its image is on the node, stand-in helm):

  envctl cold     `envctl up --changed-only` as a process on a fresh cluster, no image built yet;
  dev-ci cold     the seed's dev-ci (scripts/seedbench/devci.py) with nothing built yet;
  per merge       the merge's edit committed in both workspaces, then `envctl up --changed-only`
                  (cluster reused) and the whole dev-ci on a fresh cluster.

A real k3d create, helm upgrade and pod start cannot run here: they are modelled from published
figures (--model-* flags; scripts/seedbench/model.py, docs/benchmarks.md) and every line that
includes one says `modelled`. --lock FILE holds an exclusive flock on FILE around each measured
run only, so other users of a shared Docker engine get it in between.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
import uuid
from pathlib import Path

SCRIPTS = Path(__file__).resolve().parent
REPO = SCRIPTS.parent
sys.path[:0] = [str(SCRIPTS), str(REPO)]

from bench_pipeline import BenchError, held, run
from seedbench import cleanup
from seedbench.devci import devci_run
from seedbench.model import Figures, Models, devci_figures, envctl_figures
from seedbench.monorepo import (
    DEPLOYED,
    SERVICES,
    Shape,
    apply_merge,
    draw_merges,
    expected_rebuilt,
    summary,
    write_monorepo,
)  # fmt: skip
from seedbench.report import MergeResult, Outcome, payload, render

from tests.support.demo_world import DemoWorld, ensure_base_image

DOCKER = "/usr/bin/docker" if Path("/usr/bin/docker").exists() else "docker"
QUICK = {"merges": 4, "base_mb": 2.0, "deps_scale": 0.01, "code_kb": 64, "lib_kb": 32}
FULL = {"merges": 20, "base_mb": 120.0, "deps_scale": 1.0, "code_kb": 3072, "lib_kb": 1024}


_T0 = time.monotonic()


def log(text: str) -> None:
    print(f"[{time.monotonic() - _T0:7.1f} s] {text}", file=sys.stderr, flush=True)


class Bench:
    """The two workspaces, their worlds and what the run made (so ``close`` removes exactly that)."""

    def __init__(self, args: argparse.Namespace, work: Path, prefix: str) -> None:
        self.args, self.work, self.prefix = args, work, prefix
        self.shape = Shape(base_mb=args.base_mb, deps_scale=args.deps_scale, code_kb=args.code_kb, lib_kb=args.lib_kb)
        self.models = Models(args.model_k3d_create, args.model_helm_upgrade, args.model_pod_start)
        self.base = f"{prefix}/python-base:3.11"
        self.envctl_ws, self.devci_ws = work / "envctl-ws", work / "devci-ws"
        self.envctl_world: DemoWorld | None = None
        self.clusters: list[str] = []
        self.devci_tags: list[str] = []
        self.disk = cleanup.DiskWatch(work)

    # --- set-up ------------------------------------------------------------------------------
    def setup(self) -> None:
        busybox = f"{self.prefix}/busybox:1"
        ensure_base_image(DOCKER, busybox)
        # The shared base, as if pulled: busybox plus an incompressible runtime layer.
        context = self.work / "base"
        context.mkdir()
        size = int(self.shape.base_mb * (1 << 20))
        (context / "Dockerfile").write_text(
            f"FROM {busybox}\nRUN echo {self.prefix} >/dev/null && mkdir -p /usr/lib/python3.11 "
            f"&& head -c {size} /dev/urandom >/usr/lib/python3.11/runtime.bin\n"
        )
        run([DOCKER, "build", "-q", "--network", "none", "-t", self.base, str(context)], cwd=context,
            env=cleanup.buildkit_env(), timeout=self.args.timeout, what="build the shared base")  # fmt: skip
        for ws, name in ((self.envctl_ws, "e"), (self.devci_ws, "d")):
            write_monorepo(ws, shape=self.shape, prefix=f"{self.prefix}-{name}", base_image=self.base,
                           cluster=f"{self.prefix}-e", salt=f"{self.prefix}-{name}")  # fmt: skip
        self.envctl_world = DemoWorld(self.work / "envctl-home", self.envctl_ws, f"{self.prefix}-e", "seed", DOCKER)
        self.clusters.append(f"{self.prefix}-e")

    # --- envctl ------------------------------------------------------------------------------
    def envctl_up(self, what: str) -> tuple[Figures, tuple[str, ...]]:
        world = self.envctl_world
        assert world is not None
        with held(self.args.lock), world.kubelet() as kubelet:
            started = time.monotonic()
            run([sys.executable, "-m", "envctl", "up", "--changed-only"], cwd=world.workspace, env=world.env,
                timeout=self.args.timeout, what=f"envctl up ({what})")  # fmt: skip
            wall = time.monotonic() - started
        if "missing-image" in kubelet.handled.values():
            msg = f"envctl ({what}): a pod's image was not on the node: {kubelet.handled}"
            raise BenchError(msg)
        timings = run([sys.executable, "-m", "envctl", "timings", "--output", "json"], cwd=world.workspace,
                      env=world.env, timeout=60, what="envctl timings")  # fmt: skip
        body = json.loads(timings.stdout)["run"]
        if body.get("outcome", "ok") != "ok":
            msg = f"envctl up ({what}) recorded outcome {body['outcome']!r}"
            raise BenchError(msg)
        built = tuple(sorted(s["service"] for s in body["spans"] if s["kind"] == "build" and s["outcome"] == "ok"))
        self.disk.sample()
        return envctl_figures(body, wall, self.models), built

    # --- dev-ci ------------------------------------------------------------------------------
    def devci(self, index: int) -> Figures:
        cluster = f"{self.prefix}-d{index}"
        tag = f"m{index}"
        world = DemoWorld(self.work / f"devci-home-{index}", self.devci_ws, cluster, "seed", DOCKER)
        self.clusters.append(cluster)
        refs = {svc: f"{self.prefix}-d/{svc}:{tag}" for svc in SERVICES}
        try:
            with held(self.args.lock), world.kubelet() as kubelet:
                result = devci_run(world, services=list(SERVICES), deployed=DEPLOYED, refs=refs,
                                   build_args={"BASE_IMAGE": self.base}, release="seed", namespace="seed",
                                   values_file=self.devci_ws / "values" / "ci.yaml", poll=self.args.devci_poll,
                                   timeout=self.args.timeout)  # fmt: skip
                self.disk.sample()
            if set(kubelet.handled.values()) != {"ready"} or len(kubelet.handled) != len(DEPLOYED):
                msg = f"dev-ci {index}: pods not all started from node images: {kubelet.handled}"
                raise BenchError(msg)
        finally:
            world.close()  # a CI runner's cluster dies with the runner
        cleanup.untag(DOCKER, [f"{self.prefix}-d/{svc}:{t}" for t in self.devci_tags for svc in SERVICES])
        self.devci_tags = [tag]
        return devci_figures(result.steps, result.bytes_moved, self.models)

    def close(self) -> None:
        if self.envctl_world is not None:
            self.envctl_world.close()
        cleanup.remove_everything(DOCKER, self.prefix, self.clusters)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small layers and 4 merges (what the CI test runs)")
    parser.add_argument("--merges", type=int, help="merges to replay (default 20; quick 4)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the merge draw (default 0)")
    parser.add_argument("--base-mb", type=float, help="shared base layer MB (default 120; quick 2)")
    parser.add_argument("--deps-scale", type=float, help="multiplies the 50-400 MB dependency layers (quick 0.01)")
    parser.add_argument("--code-kb", type=int, help="code per service, KB (default 3072; quick 64)")
    parser.add_argument("--lib-kb", type=int, help="shared library, KB (default 1024; quick 32)")
    parser.add_argument("--model-k3d-create", type=float, default=17.0,
                        help="seconds of a real k3d create to API + DNS (default 17: 12.6 create + 4.1 DNS, "
                             "k3d v5.8.3 in minikube's time-to-k8s v1.36.0; "
                             "the seed's dev-ci reports ~120)")  # fmt: skip
    parser.add_argument(
        "--model-helm-upgrade",
        type=float,
        default=2.0,
        help="seconds of a real helm upgrade without --wait (default 2: ~1-3 s per release)",
    )
    parser.add_argument(
        "--model-pod-start",
        type=float,
        default=3.0,
        help="seconds until rolled pods are Ready (default 3: k3d app Running +3.0 s, time-to-k8s)",
    )
    parser.add_argument("--devci-poll", type=float, default=2.0, help="sleep of the readiness loop between tries")
    parser.add_argument("--timeout", type=float, default=900.0, help="bound on every step, seconds")
    parser.add_argument("--lock", type=Path, help="flock this file around each measured run (shared engines)")
    parser.add_argument("--json", type=Path, help="also write the results as JSON here")
    args = parser.parse_args(argv)
    defaults = QUICK if args.quick else FULL
    for key, value in defaults.items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    prefix = f"envctl-bench-{uuid.uuid4().hex[:6]}"
    work = Path(tempfile.mkdtemp(prefix=f"{prefix}-"))
    bench = Bench(args, work, prefix)
    try:
        cleanup.check_disk(work, bench.shape, args.merges)
        merges = draw_merges(args.merges, args.seed)
        log(f"{prefix}: {len(merges)} merges, dependency layers x{args.deps_scale}, base {args.base_mb} MB")
        bench.setup()
        log("set up: shared base built, two workspaces written")
        cold_envctl, built = bench.envctl_up("cold")
        log(f"envctl cold: {cold_envctl.total_measured:.1f} s measured")
        if set(built) != set(SERVICES):
            msg = f"envctl cold start built {built}, not every service"
            raise BenchError(msg)
        cold_devci = bench.devci(0)
        log(f"dev-ci cold: {cold_devci.total_measured:.1f} s measured {cold_devci.detail['steps']}")
        results = []
        for merge in merges:
            for ws in (bench.envctl_ws, bench.devci_ws):
                apply_merge(ws, merge)
            env_fig, built = bench.envctl_up(f"merge {merge.index}")
            if set(built) != expected_rebuilt(merge):
                expected = sorted(expected_rebuilt(merge))
                msg = f"merge {merge.index} ({merge.kind}): envctl built {built}, expected {expected}"
                raise BenchError(msg)
            results.append(MergeResult(merge, built, env_fig, bench.devci(merge.index)))
            log(
                f"merge {merge.index:>2} {merge.kind:<8} envctl {env_fig.total_measured:6.1f} s, "
                f"dev-ci {results[-1].devci.total_measured:6.1f} s measured"
            )
        outcome = Outcome(bench.shape, bench.models, args.seed, results, cold_envctl, cold_devci,
                          summary(merges), bench.disk.report())  # fmt: skip
        print(render(outcome))
        if args.json:
            args.json.parent.mkdir(parents=True, exist_ok=True)
            args.json.write_text(json.dumps({"prefix": prefix, **payload(outcome)}, indent=1))
        return 0
    except (BenchError, cleanup.NotEnoughDisk) as exc:
        print(f"bench_seed: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("bench_seed: interrupted; removing what it made", file=sys.stderr)
        return 130
    finally:
        with held(args.lock):
            bench.close()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
