"""`envctl gc` as a real process on a shared cluster (test API + the helm stand-in that stores releases there)."""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from envctl.adapters.helm import Helm, run_sync
from envctl.adapters.kube import connect
from envctl.adapters.kube_lease import LeaseApi
from envctl.adapters.kube_namespaces import NamespaceApi
from envctl.adapters.process import SubprocessRunner
from envctl.cluster_lock import ClusterLock, Holder
from envctl.namespaces import ensure_release_namespace
from envctl.ownership import Owner
from envctl.progress import CollectingProgress
from tests.support.cli import run_envctl
from tests.support.kube_api import KubeApi
from tests.support.node_kubelet import EveryImageKubelet

ROOT = Path(__file__).resolve().parents[2]
NOW = dt.datetime.now(dt.UTC)
DAY = 24 * 3600.0
OURS = Owner(workspace="acme/shop", release="demo", branch="feature/x", pr="1")


@pytest.fixture
def world(tmp_path: Path, shared_api: KubeApi, shared_kubeconfig: Path) -> dict:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "helm").symlink_to(ROOT / "tests" / "standins" / "helm")
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}", "FAKE_HELM_KUBE_URL": shared_api.url,
           "FAKE_HELM_STATE": str(tmp_path / "helm-state.json"), "FAKE_HELM_LOG": str(tmp_path / "helm.log")}  # fmt: skip
    for key in ("KUBECONFIG", "CI", "GITHUB_ACTIONS"):
        env.pop(key, None)
    ws = tmp_path / "ws"
    shutil.copytree(ROOT / "charts" / "demo", ws / "charts" / "demo")
    config = {"version": 1,
              "cluster": {"provider": "existing", "kubeconfig": str(shared_kubeconfig),
                          "registry": {"use": "127.0.0.1:5999", "create": False}},
              "release": {"name": "demo", "namespace": "pr-{pr}", "chart": "charts/demo"}}  # fmt: skip
    (ws / "envctl.yaml").write_text(yaml.safe_dump(config))
    return {"env": env, "ws": ws, "api": shared_api, "kubeconfig": shared_kubeconfig, "state": tmp_path / "helm-state.json"}


def envctl(world: dict, *args: str) -> subprocess.CompletedProcess[str]:
    return run_envctl("--config", str(world["ws"] / "envctl.yaml"), *args, cwd=world["ws"], env=world["env"])


def install_demo(world: dict, namespace: str) -> None:
    """A real helm release (stand-in) in ``namespace``: revision Secret and workloads in the test API."""
    saved = dict(os.environ)
    os.environ.update(world["env"])  # pyhelm3 starts helm with this process's environment
    try:
        helm = Helm.open(SubprocessRunner(world["env"]), world["kubeconfig"], timeout="60s",
                         progress=CollectingProgress())  # fmt: skip
        values = {"api": {"image": {"repository": "envctl-demo/api", "tag": "fp-1"}}}
        with EveryImageKubelet(world["api"], namespace):  # helm waits for the chart's hook Job
            run_sync(helm.install_or_upgrade("demo", ROOT / "charts" / "demo", values, namespace=namespace,
                                             description="test"))  # fmt: skip
    finally:
        os.environ.clear()
        os.environ.update(saved)


def exists(api: KubeApi, resource: str, namespace: str | None, name: str) -> bool:
    try:
        api.get(resource, namespace, name)
    except Exception:  # noqa: BLE001 - a 404 is the answer we look for
        return False
    return True


def test_gc_deletes_only_owned_and_expired_namespaces(world: dict):
    api: KubeApi = world["api"]
    store = NamespaceApi(connect(world["kubeconfig"]))
    ten_days_ago = NOW - dt.timedelta(days=10)
    ensure_release_namespace(store, "pr-1", OURS, ttl_seconds=3 * DAY, now=ten_days_ago)          # ours, expired
    ensure_release_namespace(store, "pr-2", OURS, ttl_seconds=3 * DAY, now=NOW)                   # ours, fresh
    other = Owner(workspace="acme/billing", release="billing")
    ensure_release_namespace(store, "pr-3", other, ttl_seconds=DAY, now=ten_days_ago)             # another's, expired
    ensure_release_namespace(store, "pr-4", OURS, ttl_seconds=DAY, now=ten_days_ago)              # expired but in use
    api.create("v1/namespaces", {"metadata": {"name": "team-db", "labels": {"team": "db"},
               "annotations": {"envctl.dev/expires-at": "2020-01-01T00:00:00Z"}}})  # not envctl's  # fmt: skip
    install_demo(world, "pr-1")
    release_secret = "sh.helm.release.v1.demo.v1"
    assert exists(api, "v1/secrets", "pr-1", release_secret)
    busy = ClusterLock(LeaseApi(connect(world["kubeconfig"])), "pr-4", "demo", Holder.this_process("envctl up", {}))
    busy.acquire(wait=False)
    try:
        dry = envctl(world, "gc", "--dry-run", "--output", "json")
        assert dry.returncode == 0, dry.stderr
        planned = {row["namespace"]: row["outcome"] for row in json.loads(dry.stdout)["namespaces"]}
        assert planned == {"pr-1": "would-delete", "pr-2": "kept", "pr-3": "would-delete", "pr-4": "would-delete"}
        assert all(exists(api, "v1/namespaces", None, name) for name in ("pr-1", "pr-3", "pr-4"))

        done = envctl(world, "gc", "--output", "json")
    finally:
        busy.release()
    assert done.returncode == 0, done.stderr
    rows = {row["namespace"]: row for row in json.loads(done.stdout)["namespaces"]}
    assert {name: row["outcome"] for name, row in rows.items()} == {
        "pr-1": "deleted", "pr-2": "kept", "pr-3": "deleted", "pr-4": "in-use"}  # fmt: skip
    assert "release demo rev 1 uninstalled" in rows["pr-1"]["reason"]
    assert "held by envctl up on" in rows["pr-4"]["reason"]
    assert not exists(api, "v1/namespaces", None, "pr-1") and not exists(api, "v1/secrets", "pr-1", release_secret)
    assert not exists(api, "v1/namespaces", None, "pr-3")
    assert all(exists(api, "v1/namespaces", None, name) for name in ("pr-2", "pr-4", "team-db"))
    assert json.loads(world["state"].read_text())["releases"] == {}  # helm uninstalled it (hooks would run)


def test_older_than_collects_idle_namespaces_and_keeps_recent_ones(world: dict):
    store = NamespaceApi(connect(world["kubeconfig"]))
    ensure_release_namespace(store, "pr-5", OURS, ttl_seconds=30 * DAY, now=NOW - dt.timedelta(hours=80))
    ensure_release_namespace(store, "pr-6", OURS, ttl_seconds=30 * DAY, now=NOW - dt.timedelta(hours=2))
    done = envctl(world, "gc", "--older-than", "72h")
    assert done.returncode == 0, done.stderr
    assert "pr-5 (release demo): deleted — last up" in done.stdout
    assert "pr-6 (release demo): kept — last up" in done.stdout
    assert "deleted 1 of 2 envctl namespace(s)" in done.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        pytest.param(["--older-than", "3 days"], "error: --older-than '3 days' is not a duration", id="bad-duration"),
        pytest.param(["--output", "yaml"], "error: --output 'yaml' is not a gc format", id="bad-output"),
    ],
)
def test_bad_flags_are_one_line_exit_2(world: dict, args: list[str], message: str):
    done = envctl(world, "gc", *args)
    assert (done.returncode, done.stdout) == (2, "")
    assert done.stderr.splitlines()[0] == message and done.stderr.splitlines()[1].startswith("hint: ")


def test_an_unreachable_cluster_is_exit_8(world: dict, tmp_path: Path):
    dead = tmp_path / "dead-kubeconfig"
    dead.write_text(world["kubeconfig"].read_text().replace(world["api"].url, "http://127.0.0.1:9"))
    config = yaml.safe_load((world["ws"] / "envctl.yaml").read_text())
    config["cluster"]["kubeconfig"] = str(dead)
    (world["ws"] / "envctl.yaml").write_text(yaml.safe_dump(config))
    done = envctl(world, "gc")
    assert done.returncode == 8
    assert "does not answer" in done.stderr and "Traceback" not in done.stderr


def test_context_picks_the_cluster_and_the_kubeconfig_is_only_read(world: dict, tmp_path: Path):
    two = json.loads(world["kubeconfig"].read_text())
    two["clusters"].append({"name": "dead", "cluster": {"server": "http://127.0.0.1:9"}})
    two["contexts"].append({"name": "dead", "context": {"cluster": "dead", "user": "kmock"}})
    two["current-context"] = "dead"
    kubeconfig = tmp_path / "two-contexts"
    kubeconfig.write_text(json.dumps(two))
    config = yaml.safe_load((world["ws"] / "envctl.yaml").read_text())
    config["cluster"]["kubeconfig"] = str(kubeconfig)
    (world["ws"] / "envctl.yaml").write_text(yaml.safe_dump(config))
    before = kubeconfig.read_bytes()
    assert envctl(world, "gc").returncode == 8  # the current context: nobody answers
    done = envctl(world, "gc", "--context", "kmock")
    assert done.returncode == 0, done.stderr
    assert f"on {kubeconfig} (context kmock)" in done.stdout
    assert envctl(world, "gc", "--context", "nope").returncode == 8
    assert kubeconfig.read_bytes() == before


def test_context_with_a_k3d_workspace_is_bad_input(world: dict):
    (world["ws"] / "envctl.yaml").write_text("version: 1\n")
    done = envctl(world, "gc", "--context", "x")
    assert done.returncode == 2 and "--context is only for provider: existing" in done.stderr
