"""The seed's dev-ci, run for real where it can run here: build every image, create a cluster,
``docker save | ctr import`` each deployed image, ``helm upgrade --install --wait``, then a
readiness loop — in that order, one step after the other, on a fresh cluster (a CI runner starts
empty).

What stands in: ``k3d`` and ``helm`` are the test stand-ins (a real containerd node; releases and
workloads in KMock), ``helm --wait`` is a poll of the API until every Deployment is ready (what
helm's wait checks), and pods become Ready through the node kubelet stand-in, which starts a pod
only if its image is really in the node's containerd. The costs those stand-ins cannot have (a
real k3d create, a real helm upgrade, a real pod start) are added by ``model.py``, never here.
"""

from __future__ import annotations

import json
import subprocess
import time
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from bench_pipeline import BenchError, run

from tests.support.demo_world import DemoWorld

K3S_SOCKET = "/run/k3s/containerd/containerd.sock"
_CHUNK = 1 << 20


@dataclass
class DevciRun:
    """Seconds per step (build, cluster, load, deploy, deploy_wait, wait) and bytes imported."""

    steps: dict[str, float] = field(default_factory=dict)
    bytes_moved: int = 0
    wall: float = 0.0


def devci_run(
    world: DemoWorld,
    *,
    services: Sequence[str],
    deployed: Sequence[str],
    refs: Mapping[str, str],
    build_args: Mapping[str, str],
    release: str,
    namespace: str,
    values_file: Path,
    poll: float,
    timeout: float,
) -> DevciRun:
    """One dev-ci pipeline on ``world`` (its cluster must not exist yet); the caller deletes it."""
    result = DevciRun()
    ws, env = world.workspace, world.env
    started = time.monotonic()

    mark = time.monotonic()
    for svc in services:
        argv = [world.docker, "build", "-q", "--network", "none"]
        for key, value in build_args.items():
            argv += ["--build-arg", f"{key}={value}"]
        argv += ["-f", f"services/{svc}/Dockerfile", "-t", refs[svc], "."]
        run(argv, cwd=ws, env={**env, "DOCKER_BUILDKIT": "1"}, timeout=timeout, what=f"dev-ci docker build {svc}")
    result.steps["build"] = time.monotonic() - mark

    mark = time.monotonic()
    run(["k3d", "cluster", "create", world.cluster, "--servers", "1", "--agents", "0", "--wait", "--timeout",
         "120s", "--kubeconfig-update-default=false"], cwd=ws, env=env, timeout=timeout,
        what="dev-ci k3d cluster create")  # fmt: skip
    kubeconfig = world.home / "kubeconfig.yaml"
    kubeconfig.write_text(run(["k3d", "kubeconfig", "get", world.cluster], cwd=ws, env=env, timeout=60).stdout)
    result.steps["cluster"] = time.monotonic() - mark

    mark = time.monotonic()
    for svc in deployed:
        result.bytes_moved += import_image(world.docker, world.node, refs[svc], timeout)
    result.steps["load"] = time.monotonic() - mark

    values = yaml.safe_load(values_file.read_text()) or {}
    for svc in deployed:
        repository, tag = refs[svc].rsplit(":", 1)
        values.setdefault(svc, {})["image"] = {"repository": repository, "tag": tag}
    mark = time.monotonic()
    run(["helm", "upgrade", "--install", release, str(ws / "charts" / "seed"), "--namespace", namespace,
         "--create-namespace", "--values", "-", "--wait", "--timeout", "600s", "--kubeconfig", str(kubeconfig)],
        cwd=ws, env=env, timeout=timeout, stdin=json.dumps(values), what="dev-ci helm upgrade")  # fmt: skip
    result.steps["deploy"] = time.monotonic() - mark
    mark = time.monotonic()
    wait_deployments_ready(world.api.url, namespace, len(deployed), timeout)
    result.steps["deploy_wait"] = time.monotonic() - mark

    mark = time.monotonic()
    readiness_loop(kubeconfig, namespace, len(deployed), poll=poll, timeout=timeout, env=env)
    result.steps["wait"] = time.monotonic() - mark
    result.wall = time.monotonic() - started
    return result


def import_image(docker: str, node: str, ref: str, timeout: float) -> int:
    """``docker save REF | docker exec -i NODE ctr -n k8s.io images import -``; returns bytes piped.

    The bytes pass through this process (1 MB at a time) so they can be counted."""
    save = subprocess.Popen([docker, "save", ref], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    ctr = subprocess.Popen(
        [docker, "exec", "-i", node, "ctr", "-a", K3S_SOCKET, "-n", "k8s.io", "images", "import", "-"],
        stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )  # fmt: skip
    assert save.stdout is not None
    assert save.stderr is not None
    assert ctr.stdin is not None
    assert ctr.stderr is not None
    moved = 0
    deadline = time.monotonic() + timeout
    try:
        while chunk := save.stdout.read(_CHUNK):
            ctr.stdin.write(chunk)
            moved += len(chunk)
            if time.monotonic() > deadline:
                msg = f"took over {timeout:.0f} s"
                raise BenchError(msg)
        ctr.stdin.close()
        ctr.wait(timeout=max(1.0, deadline - time.monotonic()))
        save.wait(timeout=30)
    except (BenchError, subprocess.TimeoutExpired, BrokenPipeError) as exc:
        for proc in (save, ctr):
            proc.kill()
            proc.wait()
        msg = f"importing {ref} into {node} failed: {exc} {ctr.stderr.read().decode(errors='replace')[-500:]}"
        raise BenchError(msg) from None
    if save.returncode or ctr.returncode:
        err = (save.stderr.read() or ctr.stderr.read()).decode(errors="replace").strip()
        msg = f"importing {ref} into {node} failed: {err[-1000:]}"
        raise BenchError(msg)
    return moved


def wait_deployments_ready(api_url: str, namespace: str, count: int, timeout: float, poll: float = 0.1) -> None:
    """What ``helm --wait`` checks for Deployments: ``count`` of them with every replica ready."""
    deadline = time.monotonic() + timeout
    url = f"{api_url}/apis/apps/v1/namespaces/{namespace}/deployments"
    while True:
        with urllib.request.urlopen(url, timeout=10) as resp:  # the loopback test API
            items = json.loads(resp.read()).get("items", [])
        ready = [d for d in items if (d.get("status") or {}).get("readyReplicas", 0) >= d["spec"].get("replicas", 1)]
        if len(ready) >= count:
            return
        if time.monotonic() > deadline:
            msg = f"helm --wait: {len(ready)}/{count} Deployments ready after {timeout:.0f} s"
            raise BenchError(msg)
        time.sleep(poll)


def readiness_loop(
    kubeconfig: Path, namespace: str, count: int, *, poll: float, timeout: float, env: Mapping[str, str]
) -> None:
    """The seed's readiness loop: ``kubectl get pods`` until ``count`` pods are Ready, sleeping between tries."""
    deadline = time.monotonic() + timeout
    # --raw: the test API serves the resources but not kubectl's discovery documents.
    argv = ["kubectl", "--kubeconfig", str(kubeconfig), "get", "--raw", f"/api/v1/namespaces/{namespace}/pods"]
    while True:
        done = run(argv, cwd=kubeconfig.parent, env=dict(env), timeout=60, what="kubectl get pods")
        pods = json.loads(done.stdout).get("items", [])
        ready = [p for p in pods if _pod_ready(p)]
        if len(ready) >= count:
            return
        if time.monotonic() > deadline:
            msg = f"readiness loop: {len(ready)}/{count} pods Ready after {timeout:.0f} s"
            raise BenchError(msg)
        time.sleep(poll)


def _pod_ready(pod: dict[str, Any]) -> bool:
    conditions = (pod.get("status") or {}).get("conditions") or []
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)
