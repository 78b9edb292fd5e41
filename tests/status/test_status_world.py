"""`envctl status` against the world `envctl up` leaves: real git/Docker/containerd, the k3d and helm
stand-ins, KMock. One `up` serves the module; the tests run in file order and the last one stops
the cluster. Every test also checks that status changed nothing."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from tests.pipeline.conftest import STANDINS, UpWorld

pytestmark = pytest.mark.docker

DEPLOYED = ("api", "worker", "web", "migrate")


def _status_json(world: UpWorld, env: dict[str, str] | None = None) -> tuple[int, dict, str]:
    done = subprocess.run(
        [sys.executable, "-m", "envctl", "status", "--output", "json"],
        cwd=world.workspace, env=env or world.env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    return done.returncode, json.loads(done.stdout), done.stderr


def _helm_calls(world: UpWorld) -> list[list[str]]:
    if not world.helm_log.exists():
        return []
    return [json.loads(line)["argv"] for line in world.helm_log.read_text().splitlines() if line.strip()]


def _images(world: UpWorld) -> set[str]:
    out = subprocess.run(
        [world.docker, "images", "--format", "{{.Repository}}:{{.Tag}}", "--filter", f"reference={world.cluster}/*"],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    return set(out.stdout.split())


def test_fresh_workspace_has_no_cluster_and_exits_8(fresh_world: UpWorld) -> None:
    done = fresh_world.envctl("status")
    assert done.returncode == 8, done.stderr
    assert "absent" in done.stdout and "no cluster: it does not exist" in done.stdout
    assert f"error: cluster {fresh_world.cluster} absent" in done.stderr
    assert "hint: run `envctl up` to create it" in done.stderr
    code, report, _ = _status_json(fresh_world)
    assert code == 8
    assert report["cluster"]["state"] == "absent"
    assert report["release"]["state"] == "unknown"
    assert report["release"]["note"] == "unknown: no cluster: it does not exist"
    assert report["workloads"] == {"state": "unknown", "items": [], "note": "unknown: no cluster: it does not exist",
                                   "hint": "run `envctl up` to create it"}  # fmt: skip
    assert {i["service"]: i["state"] for i in report["images"]} == {
        "base": "build-only",
        **dict.fromkeys(DEPLOYED, "unknown"),
    }
    # Read-only: no cluster, no kubeconfig, no run record, helm never ran.
    assert not (fresh_world.workspace / ".envctl" / "kubeconfig").exists()
    assert not (fresh_world.workspace / ".envctl" / "runs").exists()
    assert _helm_calls(fresh_world) == []
    listed = subprocess.run(
        [fresh_world.docker, "ps", "-aq", "--filter", f"label=k3d.cluster={fresh_world.cluster}"],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    assert listed.stdout.split() == []


def test_missing_k3d_is_exit_3_with_its_install_hint(fresh_world: UpWorld) -> None:
    without_k3d = [p for p in fresh_world.env["PATH"].split(os.pathsep) if not (Path(p) / "k3d").exists()]
    code, report, stderr = _status_json(
        fresh_world, {**fresh_world.env, "PATH": os.pathsep.join(without_k3d)}
    )
    assert code == 3, stderr
    assert report["cluster"]["state"] == "unknown"
    assert report["cluster"]["note"].startswith("cannot list clusters: ")
    assert report["cluster"]["hint"].startswith("install k3d v5 (https://k3d.io/")
    assert report["release"]["note"] == "unknown: " + report["cluster"]["note"]
    assert "error: cannot list clusters: " in stderr


def test_after_up_everything_is_current_and_ready(upped_world: UpWorld) -> None:
    done = upped_world.envctl("status")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "status: up and current" in done.stdout
    code, report, _ = _status_json(upped_world)
    assert code == 0 and report["ok"] is True and report["problems"] == []
    assert report["cluster"]["state"] == "running" and report["cluster"]["spec"] == "matches"
    assert [n["name"] for n in report["cluster"]["nodes"]] == [upped_world.node]
    release = report["release"]
    assert (release["state"], release["revision"], release["status"], release["inputs"]) == (
        "installed",
        1,
        "deployed",
        "current",
    )
    assert release["deployed_hash"] == release["input_hash"]
    assert release["last_deployed"].startswith("20")  # from helm's release record, e.g. 2026-11-29T07:26:14Z
    workloads = {(w["kind"], w["name"]): w["ready"] for w in report["workloads"]["items"]}
    [values] = upped_world.helm_upgrades()
    migrate = "demo-migrate-" + values["migrate"]["image"]["tag"][:12].rstrip("-")  # the chart's Job name
    assert workloads == {("Deployment", "demo-api"): True, ("Deployment", "demo-worker"): True,
                         ("Deployment", "demo-web"): True, ("Job", migrate): True}  # fmt: skip
    for image in report["images"]:
        if image["service"] == "base":
            assert image["state"] == "build-only"
            continue
        deployed = values[image["service"]]["image"]
        assert image["state"] == "current", image
        assert image["deployed"] == image["ref"] == f"{deployed['repository']}:{deployed['tag']}"
        assert image["local"] is True


# What the kubernetes client's generated API classes and models cost (each API module imports every
# model it names: ~1 s of CPU) is never paid by a no-op `up` or by `status`: they read the API's
# JSON through the ApiClient (envctl/adapters/kube_http.py).
_CLIENT_MODELS = ("kubernetes.client.api.apps_v1_api", "kubernetes.client.api.core_v1_api",
                  "kubernetes.client.api.batch_v1_api", "kubernetes.client.models.v1_pod")  # fmt: skip


# ``envctl ARGS`` run as ``python -m envctl`` does, listing sys.modules when the process exits
# (`-X importtime` would do, but lines written by two importing threads can interleave).
_LIST_MODULES_AT_EXIT = """
import atexit, json, runpy, sys
out, sys.argv = sys.argv[1], ["envctl", *sys.argv[2:]]
atexit.register(lambda: open(out, "w").write(json.dumps(sorted(sys.modules))))
runpy.run_module("envctl", run_name="__main__", alter_sys=True)
"""


def _imports(world: UpWorld, tmp_path: Path, *args: str) -> set[str]:
    """The modules one ``envctl ARGS`` process imported (one process: the point)."""
    listing = tmp_path / "modules.json"
    done = subprocess.run(
        [sys.executable, "-c", _LIST_MODULES_AT_EXIT, str(listing), *args],
        cwd=world.workspace, env=world.env, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    return set(json.loads(listing.read_text()))


@pytest.mark.parametrize("args", [("status",), ("up",)], ids=["status", "no-op-up"])
def test_status_and_a_no_op_up_never_load_the_clients_api_classes_or_models(
    upped_world: UpWorld, tmp_path: Path, args: tuple[str, ...]
) -> None:
    modules = _imports(upped_world, tmp_path, *args)
    assert {"kubernetes.client.api_client", "envctl.adapters.kube_http"} <= modules  # the API was read
    loaded = sorted(m for m in modules if m.startswith(_CLIENT_MODELS))
    assert loaded == [], loaded


def test_an_edited_service_is_named_stale_and_nothing_changes(upped_world: UpWorld) -> None:
    script = upped_world.workspace / "examples" / "services" / "worker" / "worker.sh"
    original = script.read_text()
    runs, images = len(upped_world.runs()), _images(upped_world)
    helm_before = len(_helm_calls(upped_world))
    [values] = upped_world.helm_upgrades()
    old_tag = values["worker"]["image"]["tag"]
    k3d_log = upped_world.workspace.parent / "k3d-argv.jsonl"
    script.write_text(original + "\n# a code change\n")
    try:
        planned = json.loads(upped_world.envctl("plan", "--output", "json", check=True).stdout)
        new_tag = next(s["tag"] for s in planned["services"] if s["name"] == "worker")
        assert new_tag != old_tag

        code, report, stderr = _status_json(upped_world, {**upped_world.env, "K3D_STANDIN_LOG": str(k3d_log)})
        assert code == 7, stderr
        assert "stale: worker" in stderr
        states = {i["service"]: i for i in report["images"]}
        worker = states["worker"]
        assert worker["state"] == "stale"
        assert worker["detail"] == f"deployed {old_tag}, inputs now {new_tag}"
        assert worker["deployed"] == f"{upped_world.cluster}/worker:{old_tag}"
        assert worker["local"] is False  # the new fingerprint was never built
        assert {s: i["state"] for s, i in states.items() if s != "worker"} == {
            "base": "build-only",
            "api": "current",
            "web": "current",
            "migrate": "current",
        }
        assert report["release"]["inputs"] == "changed"  # `envctl up` would upgrade

        table = upped_world.envctl("status")
        assert table.returncode == 7
        assert f"deployed {old_tag}, inputs now {new_tag}" in table.stdout
    finally:
        script.write_text(original)
    # Read-only: no run record, no build, no upgrade; exactly these commands ran.
    assert len(upped_world.runs()) == runs
    assert _images(upped_world) == images
    kubeconfig = str(upped_world.workspace / ".envctl" / "kubeconfig")
    status_calls = _helm_calls(upped_world)[helm_before:]
    chart = str(upped_world.workspace / "charts" / "demo")
    # The release record and its values are read from helm's Secret through the API, not from helm;
    # the inputs as `up` computes them need the release rendered (locally) with the values it would
    # send: once for the new tag, then from the render cache for the second status.
    assert [c for c in status_calls if c[0] != "version"] == [
        ["template", "demo", chart, "--namespace", "envctl-demo", "--values", "-", "--kubeconfig", kubeconfig],
    ]  # fmt: skip
    k3d_calls = [json.loads(line)["argv"] for line in k3d_log.read_text().splitlines()]
    assert k3d_calls == [["k3d", "cluster", "list", "-o", "json"]]
    # With the edit reverted, everything is current again.
    assert upped_world.envctl("status").returncode == 0


def test_a_broken_dockerfile_hides_only_the_images(upped_world: UpWorld) -> None:
    dockerfile = upped_world.workspace / "examples" / "services" / "web" / "Dockerfile"
    original = dockerfile.read_text()
    dockerfile.write_text(
        original.replace("COPY examples/services/web/site", "COPY examples/services/web/nothing")
    )
    try:
        code, report, stderr = _status_json(upped_world)
    finally:
        dockerfile.write_text(original)
    assert code == 2, stderr
    assert report["images"] == []
    assert report["images_note"].startswith("unknown: the plan failed: ")
    assert "examples/services/web/nothing" in report["images_note"]
    assert "error: the plan failed: " in stderr
    # The cluster, release and workloads are still read.
    assert report["cluster"]["state"] == "running"
    assert (report["release"]["state"], report["release"]["inputs"]) == ("installed", "unknown")
    assert report["release"]["note"] == "inputs unknown: the plan failed"
    assert report["workloads"]["state"] == "known" and len(report["workloads"]["items"]) == 4


def test_missing_helm_is_reported_in_the_release_section_with_exit_3(
    upped_world: UpWorld, tmp_path: Path
) -> None:
    only_k3d = tmp_path / "bin"
    only_k3d.mkdir()
    (only_k3d / "k3d").symlink_to(STANDINS / "k3d")
    world_bin = upped_world.env["PATH"].split(os.pathsep)[0]
    rest = [p for p in upped_world.env["PATH"].split(os.pathsep)[1:] if not (Path(p) / "helm").exists()]
    assert world_bin.endswith("bin") and (Path(world_bin) / "helm").exists()
    env = {**upped_world.env, "PATH": os.pathsep.join([str(only_k3d), *rest])}
    code, report, stderr = _status_json(upped_world, env)
    assert code == 3, stderr
    assert report["release"]["state"] == "unknown"
    assert report["release"]["note"] == "unknown: `helm` is not installed or not on PATH"
    assert report["release"]["hint"].startswith("install helm v3 (https://helm.sh/")
    assert "error: `helm` is not installed or not on PATH" in stderr
    # The sections that need no helm still answer.
    assert report["cluster"]["state"] == "running"
    assert all(w["ready"] for w in report["workloads"]["items"]) and report["workloads"]["items"]


UNREACHABLE_HELM = """#!/bin/sh
# A helm whose cluster does not answer: `version` works, `status` fails as helm 3 does; nothing else is known.
case "$1" in
  version) printf 'v3.15.4' ;;
  status) echo 'Error: Kubernetes cluster unreachable: Get "https://127.0.0.1:6443/version": dial tcp 127.0.0.1:6443: connect: connection refused' >&2; exit 1 ;;
  *) echo "Error: unknown command \"$1\" for \"helm\"" >&2; exit 1 ;;
esac
"""


def test_an_unreachable_cluster_behind_helm_exits_8(upped_world: UpWorld, tmp_path: Path) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "helm").write_text(UNREACHABLE_HELM)
    (bin_dir / "helm").chmod(0o755)
    # With a storage driver envctl does not read itself, the release record comes from helm.
    env = {**upped_world.env, "PATH": f"{bin_dir}{os.pathsep}{upped_world.env['PATH']}", "HELM_DRIVER": "configmap"}
    code, report, stderr = _status_json(upped_world, env)
    assert code == 8, stderr
    assert report["release"]["state"] == "unknown"
    assert report["release"]["note"] == (
        "unknown: helm status of release demo still failing after 1 attempts: Kubernetes cluster unreachable: "
        'Get "https://127.0.0.1:6443/version": dial tcp 127.0.0.1:6443: connect: connection refused'
    )
    assert {i["state"] for i in report["images"]} == {"unknown", "build-only"}
    # With helm's default driver the record is read from its Secret: the same broken helm is not
    # asked for it, so the release is known to be installed. Its inputs need a render by this other
    # helm binary (the cache is kept per binary), which fails: they stay unknown.
    code, report, stderr = _status_json(upped_world, {**env, "HELM_DRIVER": "secret"})
    assert (report["release"]["state"], report["release"]["inputs"]) == ("installed", "unknown"), stderr
    assert report["release"]["note"].startswith("inputs unknown: helm template of release demo failed"), report


def test_a_crashing_pod_makes_its_workload_not_ready_by_the_waiters_rules(upped_world: UpWorld) -> None:
    api, namespace = upped_world.api, "envctl-demo"
    with urllib.request.urlopen(f"{api.url}/api/v1/namespaces/{namespace}/pods", timeout=10) as resp:
        pods = json.loads(resp.read())["items"]
    [pod] = [p for p in pods if p["metadata"]["labels"].get("app.kubernetes.io/name") == "web"]
    name, container = pod["metadata"]["name"], pod["spec"]["containers"][0]["name"]
    deployment_before = api.get("apps/v1/deployments", namespace, "demo-web")["status"]
    pod_before = pod["status"]
    api.patch_status("apps/v1/deployments", namespace, "demo-web",
                     {"availableReplicas": 0, "readyReplicas": 0, "updatedReplicas": 1, "replicas": 1})  # fmt: skip
    api.patch_status("v1/pods", namespace, name, {
        "phase": "Running",
        "conditions": [{"type": "Ready", "status": "False"}],
        "containerStatuses": [{"name": container, "ready": False, "restartCount": 3, "image": "x", "imageID": "",
                               "state": {"waiting": {"reason": "CrashLoopBackOff",
                                                     "message": "back-off 40s restarting failed container"}}}],
    })  # fmt: skip
    try:
        code, report, stderr = _status_json(upped_world)
    finally:
        api.patch_status("apps/v1/deployments", namespace, "demo-web", deployment_before)
        api.patch_status("v1/pods", namespace, name, pod_before)
    assert code == 7, stderr
    assert "not ready: Deployment/demo-web" in stderr
    [web] = [w for w in report["workloads"]["items"] if w["name"] == "demo-web"]
    assert web == {"kind": "Deployment", "name": "demo-web", "ready": False, "failed": False,
                   "summary": "0/1 available, 1 updated",
                   "problem": f"{name}: CrashLoopBackOff (back-off 40s restarting failed container)"}  # fmt: skip
    assert all(w["ready"] for w in report["workloads"]["items"] if w["name"] != "demo-web")
    assert {i["state"] for i in report["images"]} == {"current", "build-only"}  # images are not the problem


def test_a_cluster_spec_that_differs_is_named_field_by_field_with_exit_8(upped_world: UpWorld) -> None:
    config = upped_world.workspace / "envctl.yaml"
    original = config.read_text()
    config.write_text(original.replace("  agents: 0\n", "  agents: 2\n"))
    try:
        code, report, stderr = _status_json(upped_world)
    finally:
        config.write_text(original)
    assert code == 8, stderr
    assert (report["cluster"]["state"], report["cluster"]["spec"]) == ("running", "differs")
    assert report["cluster"]["differences"] == ["agents: 0 -> 2"]
    assert f"error: cluster {upped_world.cluster} differs from envctl.yaml" in stderr
    assert "hint: `envctl up --recreate` deletes and recreates it: agents: 0 -> 2" in stderr
    assert report["release"]["state"] == "installed"  # the rest is still read


def test_a_stopped_cluster_says_stopped_and_exits_8(upped_world: UpWorld) -> None:
    subprocess.run(
        [str(STANDINS / "k3d"), "cluster", "stop", upped_world.cluster],
        env=upped_world.env, capture_output=True, text=True, check=True, timeout=120,
    )  # fmt: skip
    helm_before = len(_helm_calls(upped_world))
    done = upped_world.envctl("status")
    assert done.returncode == 8, done.stderr
    # Said once, in the cluster section; the release and workloads it leaves unknown point to it.
    assert done.stdout.count("cluster not running (stopped)") == 1, done.stdout
    assert "unknown: the same cause as above" in done.stdout
    assert "hint: run `envctl up` to start it" in done.stderr
    code, report, _ = _status_json(upped_world)
    assert code == 8
    assert report["cluster"]["state"] == "stopped"
    assert [n["running"] for n in report["cluster"]["nodes"]] == [False]
    assert report["release"]["state"] == "unknown" and report["workloads"]["state"] == "unknown"
    assert _helm_calls(upped_world)[helm_before:] == []  # a stopped cluster is not asked
    # ...and status did not start it.
    inspect = subprocess.run(
        [upped_world.docker, "inspect", "-f", "{{.State.Running}}", upped_world.node],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    assert inspect.stdout.strip() == "false"
