#!/usr/bin/env python3
"""Benchmark of `envctl up` (issue 5) against the naive sequential pipeline; not a test.

Run from the repository root: /tmp/venv/bin/python scripts/bench_pipeline.py [--json FILE]

The demo's 5 services (base, api, worker, web, migrate) on the test cluster of the end-to-end tests
(tests/support/demo_world.py: k3d/helm stand-ins whose nodes are real containerd containers, KMock
as the API, a kubelet that readies a pod only if its image is on the node). web's build is made
non-trivial: a unique ``RUN`` step writing --data-mb MB of random data and sleeping --sleep s,
placed after web's COPY steps so an edit to web's site re-runs it (as a compile step would).

Scenarios, side by side in one run:
  envctl cold      `envctl up` on a fresh cluster name, none of its images exist (unique names per
                   run); the BuildKit cache is NOT cleared (the engine is shared), but the slow step
                   is unique, so it really runs; the small COPY layers may come from the cache.
  envctl changed   one file of web edited → `envctl up`.
  envctl no-op     `envctl up` again, nothing changed.
  naive cold       the reference dev-ci: docker build each image in order → k3d cluster create →
                   docker save | docker exec -i NODE ctr import, per image → helm upgrade --install →
                   wait for each workload in turn (kubernetes client polls, as `kubectl wait` per
                   deployment/job would). Runs after envctl's, so its COPY layers are cache-warm.
  naive changed    the same edit, the same pipeline on a fresh cluster (a CI runner starts empty).
"""

from __future__ import annotations

import argparse
import fcntl
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
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
)  # fmt: skip

BASE_IMAGE = "envctl-bench-pipeline/busybox:1"
K3S_SOCKET = "/run/k3s/containerd/containerd.sock"
SLOW_SERVICE = "web"
SHOWN_STEP_SECONDS = 0.05  # shorter critical-path steps are left out of the printed path
BUILD_ORDER = ("base", "api", "worker", "web", "migrate")
DEPLOYED = ("api", "worker", "web", "migrate")
JOBS = ("migrate",)  # the chart runs migrate as a Job


NOTE = (
    "note: the cluster is the tests' stand-in (k3d creates containerd containers in ~1-2 s; a real k3d\n"
    "create takes ~2 min in the reference dev-ci), so the naive run here lacks most of its real cost.\n"
    "cold = fresh cluster name, none of the run's images exist; BuildKit cache kept (shared engine),\n"
    "the slow web step is unique per workspace so it really runs."
)


@contextmanager
def held(lock: Path | None) -> Iterator[None]:
    """An exclusive flock on ``lock`` around a benchmark's Docker work (others on a shared engine wait)."""
    if lock is None:
        yield
        return
    with lock.open("a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


class BenchError(RuntimeError):
    pass


@dataclass
class Result:
    scenario: str
    seconds: float
    steps: dict[str, float] = field(default_factory=dict)
    critical_path: list[dict] = field(default_factory=list)
    critical_by_phase: dict[str, float] = field(default_factory=dict)
    tools: dict[str, float] = field(default_factory=dict)
    recorded_wall: float | None = None
    timings: dict | None = None  # envctl's whole `timings --output json` run body, spans included


def run(
    argv: list[str],
    *,
    cwd: Path,
    env: dict[str, str],
    timeout: float,
    stdin: str | None = None,
    what: str = "",
) -> subprocess.CompletedProcess[str]:
    """Run one command in its own process group; on timeout, interrupt the group (envctl stops its
    children on SIGINT), then kill it, so no orphaned build outlives the clean-up."""
    proc = subprocess.Popen(argv, cwd=cwd, env=env, text=True, start_new_session=True,
                            stdin=subprocess.PIPE if stdin is not None else subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)  # fmt: skip
    try:
        out, err = proc.communicate(stdin, timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGINT)
        try:
            proc.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()
        msg = f"{what or argv[0]}: no answer within {timeout:.0f} s ({' '.join(argv)})"
        raise BenchError(msg) from None
    except KeyboardInterrupt:
        # The child is in its own session, so the terminal's Ctrl-C did not reach it: pass it on.
        os.killpg(proc.pid, signal.SIGINT)
        proc.wait(30)
        raise
    if proc.returncode != 0:
        msg = f"{what or argv[0]} exited {proc.returncode}: {' '.join(argv)}\n{err.strip()[-2000:]}"
        raise BenchError(msg)
    return subprocess.CompletedProcess(argv, proc.returncode, out, err)


# --- the workspace edits ---------------------------------------------------------------------
def make_build_slow(workspace: Path, seconds: float, data_mb: int) -> None:
    dockerfile = workspace / "examples" / "services" / SLOW_SERVICE / "Dockerfile"
    step = (f"RUN echo {uuid.uuid4().hex} >/dev/null && head -c {data_mb << 20} /dev/urandom >/srv/blob.bin"
            f" && sleep {seconds}\n")  # fmt: skip
    dockerfile.write_text(dockerfile.read_text() + step)
    commit_all(workspace, f"slow {SLOW_SERVICE} build")


def change_one_service(workspace: Path) -> None:
    page = workspace / "examples" / "services" / SLOW_SERVICE / "site" / "index.html"
    page.write_text(page.read_text() + f"\n<!-- change {uuid.uuid4().hex} -->\n")


# --- envctl ----------------------------------------------------------------------------------
def envctl_up(world: DemoWorld, scenario: str, timeout: float) -> Result:
    started = time.monotonic()
    run([sys.executable, "-m", "envctl", "up"], cwd=world.workspace, env=world.env, timeout=timeout,
        what=f"envctl up ({scenario})")  # fmt: skip
    seconds = time.monotonic() - started
    report = json.loads(run([sys.executable, "-m", "envctl", "timings", "--output", "json"], cwd=world.workspace,
                            env=world.env, timeout=60, what="envctl timings").stdout)["run"]  # fmt: skip
    if report.get("outcome", "ok") != "ok":
        msg = f"envctl up ({scenario}) recorded outcome {report['outcome']!r}"
        raise BenchError(msg)
    return Result(scenario, seconds, steps={p["kind"]: p["seconds"] for p in report["phases"]},
                  critical_path=report["critical_path"], critical_by_phase=report["critical_by_phase"],
                  tools=report["tools"],
                  recorded_wall=report["wall_seconds"], timings=report)  # fmt: skip


# --- the naive sequential pipeline ------------------------------------------------------------
def naive_pipeline(world: DemoWorld, config: dict, docker: str, scenario: str, timeout: float) -> Result:
    """build all → create cluster → import all → helm upgrade --install → wait each workload in turn."""
    services = config["services"]
    refs = {svc: f"{services[svc]['image']}:dev" for svc in BUILD_ORDER}
    steps: dict[str, float] = {}
    ws, env = world.workspace, world.env
    started = time.monotonic()

    mark = time.monotonic()
    for svc in BUILD_ORDER:
        args = [f"{k}={v}" for k, v in services[svc].get("build_args", {}).items()]
        if svc in ("api", "worker"):
            args.append(f"BASE_REF={refs['base']}")
        argv = [docker, "build", "-q", "--network", "none", *(a for arg in args for a in ("--build-arg", arg)),
                "-f", services[svc]["dockerfile"], "-t", refs[svc], "."]  # fmt: skip
        run(argv, cwd=ws, env={**env, "DOCKER_BUILDKIT": "1"}, timeout=timeout, what=f"docker build {svc}")
    steps["build"] = time.monotonic() - mark

    mark = time.monotonic()
    run(["k3d", "cluster", "create", world.cluster, "--servers", "1", "--agents", "0", "--wait", "--timeout", "120s",
         "--kubeconfig-update-default=false"], cwd=ws, env=env, timeout=timeout, what="k3d cluster create")  # fmt: skip
    kubeconfig = world.home / "kubeconfig.yaml"
    kubeconfig.write_text(
        run(["k3d", "kubeconfig", "get", world.cluster], cwd=ws, env=env, timeout=60).stdout
    )
    steps["cluster"] = time.monotonic() - mark

    mark = time.monotonic()
    for svc in DEPLOYED:
        import_image(docker, world.node, refs[svc], timeout)
    steps["load"] = time.monotonic() - mark

    mark = time.monotonic()
    release = config["release"]
    values = {}
    for path in release.get("values", []):
        values.update(yaml.safe_load((ws / path).read_text()) or {})
    for svc in DEPLOYED:
        repository, tag = refs[svc].rsplit(":", 1)
        values.setdefault(svc, {})["image"] = {"repository": repository, "tag": tag}
    run(["helm", "upgrade", "--install", release["name"], str(ws / release["chart"]), "--namespace",
         release["namespace"], "--create-namespace", "--values", "-", "--timeout", "300s", "--kubeconfig",
         str(kubeconfig)], cwd=ws, env=env, timeout=timeout, stdin=json.dumps(values), what="helm upgrade")  # fmt: skip
    steps["deploy"] = time.monotonic() - mark

    mark = time.monotonic()
    wait_each(kubeconfig, release["name"], release["namespace"], timeout)
    steps["wait"] = time.monotonic() - mark
    return Result(scenario, time.monotonic() - started, steps=steps)


def import_image(docker: str, node: str, ref: str, timeout: float) -> None:
    """``docker save REF | docker exec -i NODE ctr -n k8s.io images import -`` (two argv lists, one pipe)."""
    save = subprocess.Popen([docker, "save", ref], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    ctr = subprocess.Popen([docker, "exec", "-i", node, "ctr", "-a", K3S_SOCKET, "-n", "k8s.io", "images", "import",
                            "-"], stdin=save.stdout, stdout=subprocess.PIPE, stderr=subprocess.PIPE)  # fmt: skip
    assert save.stdout is not None
    save.stdout.close()  # so save sees a broken pipe if ctr dies
    try:
        _, ctr_err = ctr.communicate(timeout=timeout)
        save_err = save.communicate(timeout=30)[1]
    except subprocess.TimeoutExpired:
        save.kill()
        ctr.kill()
        msg = f"importing {ref} into {node} took over {timeout:.0f} s"
        raise BenchError(msg) from None
    if save.returncode or ctr.returncode:
        msg = f"importing {ref} into {node} failed: {(save_err or ctr_err).decode().strip()[-1000:]}"
        raise BenchError(msg)


def wait_each(kubeconfig: Path, release: str, namespace: str, timeout: float, poll: float = 0.25) -> None:
    """One workload after the other, as `kubectl wait --for=condition=...` per workload would."""
    from kubernetes import client, config

    api_client = config.new_client_from_config(config_file=str(kubeconfig))
    apps, batch = client.AppsV1Api(api_client), client.BatchV1Api(api_client)
    deadline = time.monotonic() + timeout
    for svc in DEPLOYED:
        name = f"{release}-{svc}"
        while True:
            if svc in JOBS:  # the chart names the Job after its image tag: found by its labels
                selector = f"app.kubernetes.io/instance={release},app.kubernetes.io/name={svc}"
                jobs = batch.list_namespaced_job(namespace, label_selector=selector, _request_timeout=10).items
                done = bool(jobs) and all(job.status and job.status.succeeded for job in jobs)
            else:
                dep = apps.read_namespaced_deployment(name, namespace, _request_timeout=10)
                done = bool(dep.status and (dep.status.ready_replicas or 0) >= (dep.spec.replicas or 1))
            if done:
                break
            if time.monotonic() > deadline:
                msg = f"{name} in {namespace} not ready within {timeout:.0f} s (is its image on the node?)"
                raise BenchError(msg)
            time.sleep(poll)
    api_client.close()


# --- reporting -------------------------------------------------------------------------------
def path_text(result: Result) -> str:
    parts = [f"{p['name']} {p['seconds']:.1f}s" for p in result.critical_path if p["seconds"] >= SHOWN_STEP_SECONDS]
    return " → ".join(parts) or "-"


def table(results: dict[str, Result], summary: dict) -> str:
    lines = [
        f"{'scenario':<16}{'wall s':>8}  {'build':>6}{'cluster':>8}{'load':>6}{'deploy':>7}{'wait':>6}  critical path"
    ]
    for key, r in results.items():
        s = r.steps
        cells = "".join(f"{s.get(k, 0.0):>{w}.1f}" for k, w in (("build", 6), ("cluster", 8), ("load", 6),
                                                                   ("deploy", 7), ("wait", 6)))  # fmt: skip
        lines.append(
            f"{key:<16}{r.seconds:>8.1f}  {cells}  {path_text(r) if r.critical_path else '(sequential)'}"
        )
    lines.append("")
    for name, value in summary["ratios"].items():
        lines.append(f"{name:<40}{value:>7.1f}×")
    o = summary["noop_overhead"]
    lines.append(f"{'envctl overhead on the no-op run':<40}{o['recorded_seconds']:>7.2f} s recorded "
                 f"(target ≤ 2 s); process wall {o['process_wall_seconds']:.2f} s, "
                 f"of which {o['process_minus_tools_seconds']:.2f} s not in a tool")  # fmt: skip
    lines.append(NOTE)
    return "\n".join(lines)


def summarise(results: dict[str, Result]) -> dict:
    r = {k: v.seconds for k, v in results.items()}
    noop = results["envctl no-op"]
    return {
        "ratios": {
            "naive cold / envctl cold": r["naive cold"] / r["envctl cold"],
            "naive changed / envctl changed": r["naive changed"] / r["envctl changed"],
            "naive changed / envctl no-op": r["naive changed"] / r["envctl no-op"],
            "naive cold / envctl no-op": r["naive cold"] / r["envctl no-op"],
        },
        "noop_overhead": {
            "recorded_seconds": noop.tools.get("envctl overhead", 0.0),
            "process_wall_seconds": noop.seconds,
            "recorded_wall_seconds": noop.recorded_wall,
            # Interpreter start, imports, config, lock and history write: outside the recorded spans.
            "outside_record_seconds": noop.seconds - (noop.recorded_wall or 0.0),
            # Everything of the process that was not k3d, docker, helm or readiness.
            "process_minus_tools_seconds": noop.seconds
            - sum(v for k, v in noop.tools.items() if k != "envctl overhead"),
        },
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sleep", type=float, default=3.0, help="seconds the slow build step sleeps")
    parser.add_argument("--data-mb", type=int, default=8, help="MB of random data the slow build step writes")
    parser.add_argument("--timeout", type=float, default=300.0, help="bound on every step")
    parser.add_argument("--noop-repeat", type=int, default=3, help="no-op runs (the median is reported)")
    parser.add_argument("--json", type=Path, help="also write the summary as JSON here")
    args = parser.parse_args()
    docker = "/usr/bin/docker" if Path("/usr/bin/docker").exists() else "docker"
    tag = uuid.uuid4().hex[:6]
    prefix = f"envctl-bench-{tag}"
    made_base = ensure_base_image(docker, BASE_IMAGE)
    work = Path(tempfile.mkdtemp(prefix="envctl-bench-pipeline-"))
    worlds: list[DemoWorld] = []
    results: dict[str, Result] = {}
    try:

        def world(name: str, cluster: str, workspace: Path) -> DemoWorld:
            made = DemoWorld(work / name, workspace, cluster, "envctl-demo", docker)
            worlds.append(made)
            return made

        # envctl: one workspace, one cluster for its three runs.
        ws = work / "envctl-ws"
        copy_demo(ws, cluster=f"{prefix}-e", prefix=prefix, base_image=BASE_IMAGE, docker=docker)
        make_build_slow(ws, args.sleep, args.data_mb)
        env_world = world("envctl", f"{prefix}-e", ws)
        with env_world.kubelet() as kubelet:
            results["envctl cold"] = envctl_up(env_world, "cold", args.timeout)
            change_one_service(ws)
            results["envctl changed"] = envctl_up(env_world, "one changed", args.timeout)
            # The no-op is cheap and the machine shared: repeat it and keep the median run.
            noops = sorted((envctl_up(env_world, "no-op", args.timeout) for _ in range(args.noop_repeat)),
                           key=lambda r: r.seconds)  # fmt: skip
            results["envctl no-op"] = noops[len(noops) // 2]
            noop_samples = [round(r.seconds, 3) for r in noops]
        if set(kubelet.handled.values()) != {"ready"}:
            msg = f"envctl: some pod's image was not on the node: {kubelet.handled}"
            raise BenchError(msg)

        # naive: its own workspace (own images, own slow-step nonce); a fresh cluster and API per run.
        naive_prefix = f"{prefix}-naive"
        nws = work / "naive-ws"
        config = copy_demo(
            nws, cluster=f"{prefix}-n1", prefix=naive_prefix, base_image=BASE_IMAGE, docker=docker
        )
        make_build_slow(nws, args.sleep, args.data_mb)
        for key, cluster in (("naive cold", f"{prefix}-n1"), ("naive changed", f"{prefix}-n2")):
            if key == "naive changed":
                change_one_service(nws)
            naive_world = world(key.replace(" ", "-"), cluster, nws)
            with naive_world.kubelet() as kubelet:
                results[key] = naive_pipeline(naive_world, config, docker, key, args.timeout)
            if set(kubelet.handled.values()) != {"ready"}:
                msg = f"{key}: some pod's image was not on the node: {kubelet.handled}"
                raise BenchError(msg)
            naive_world.close()  # a CI runner starts with no cluster
            worlds.remove(naive_world)

        summary = summarise(results)
        summary["noop_overhead"]["process_wall_samples"] = noop_samples
        summary["load_average"] = list(os.getloadavg())
        print(table(results, summary))
        if args.json:
            payload = {
                "note": NOTE,
                "settings": {"slow_service": SLOW_SERVICE, "sleep_seconds": args.sleep, "data_mb": args.data_mb,
                             "changed_service": SLOW_SERVICE, "services": list(BUILD_ORDER)},
                "scenarios": {k: {"seconds": v.seconds, "steps": v.steps, "critical_path": v.critical_path,
                                  "critical_by_phase": v.critical_by_phase,
                                  "tools": v.tools, "recorded_wall_seconds": v.recorded_wall,
                                  "envctl_timings": v.timings}
                              for k, v in results.items()},
                **summary,
            }  # fmt: skip
            args.json.parent.mkdir(parents=True, exist_ok=True)
            args.json.write_text(json.dumps(payload, indent=1))
        return 0
    except BenchError as exc:
        print(f"bench_pipeline: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("bench_pipeline: interrupted; removing what it made", file=sys.stderr)
        return 130
    finally:
        for w in worlds:
            w.close()
        for cluster in (f"{prefix}-e", f"{prefix}-n1", f"{prefix}-n2"):
            remove_cluster_containers(docker, cluster)
        remove_images(docker, prefix)
        remove_images(docker, f"{prefix}-naive")
        if made_base:
            subprocess.run([docker, "rmi", "-f", BASE_IMAGE], check=False, capture_output=True, timeout=120)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
