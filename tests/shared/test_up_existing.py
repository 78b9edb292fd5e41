"""`envctl up` on a shared cluster, as real processes: the test API stands in for the cluster, the
real docker-registry for the registry every runner shares, the helm stand-in for helm, and a kubelet
that runs a pod only if the registry really serves its image."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from envctl.adapters.kube import connect
from envctl.adapters.kube_lease import LeaseApi
from envctl.cluster_lock import ClusterLock, Holder
from tests.shared.shared_world import SharedWorld

pytestmark = pytest.mark.docker

LEASES = "coordination.k8s.io/v1/leases"


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory, docker_engine: str, base_image: str) -> Iterator[SharedWorld]:
    shared = SharedWorld(tmp_path_factory.mktemp("shared"), docker_engine, base_image)
    try:
        yield shared
    finally:
        shared.close()


def tasks(done) -> dict:
    return json.loads(done.stdout)["tasks"]


def test_up_deploys_into_the_branch_namespace_through_the_registry(world: SharedWorld):
    ws = world.workspace("laptop", "feature/Login")
    kubeconfig_before = world.kubeconfig.read_bytes()
    with world.kubelet("acme-shop-feature-login") as kubelet:
        done = world.envctl(ws, "up", "--output", "json")
    assert done.returncode == 0, done.stderr
    assert "namespace acme-shop-feature-login: created, expires" in done.stderr
    ran = tasks(done)
    assert {ran[f"build:{s}"]["result"]["action"] for s in ("base", "api", "worker", "web", "migrate")} == {"built"}
    # base is deployed by nobody, so the build pushes it: another runner pulls it instead of building it
    assert ran["build:base"]["result"]["pushed_to"] == f"{world.registry.address}/{world.prefix}/base:" + (
        ran["build:base"]["result"]["ref"].rpartition(":")[2])  # fmt: skip
    pushed = ran["load:api"]["result"]
    assert pushed["mode"] == "registry" and pushed["nodes"][0]["outcome"] == "pushed"
    assert pushed["chart_ref"].startswith(f"{world.registry.address}/{world.prefix}/api:fp-")
    assert set(kubelet.handled.values()) == {"ready"}  # every pod's image was pullable from the registry
    meta = world.api.get("v1/namespaces", None, "acme-shop-feature-login")["metadata"]
    assert meta["labels"]["app.kubernetes.io/managed-by"] == "envctl"
    assert meta["labels"]["envctl.dev/workspace"] == "acme-shop"
    assert meta["labels"]["envctl.dev/branch"] == "feature-Login"
    assert world.releases()["acme-shop-feature-login/demo"][-1]["status"] == "deployed"
    assert world.api.get(LEASES, "acme-shop-feature-login", "demo")["spec"].get("holderIdentity") is None
    assert world.kubeconfig.read_bytes() == kubeconfig_before  # only ever read


def test_a_second_runner_with_an_empty_image_store_builds_nothing(world: SharedWorld):
    ws = world.workspace("runner-2", "feature/Login")  # a fresh clone on another runner
    removed = world.forget_local_images()
    assert removed  # the first runner's images are gone from the engine: only the registry has them
    with world.kubelet("acme-shop-feature-login"):
        done = world.envctl(ws, "up", "--output", "json")
    assert done.returncode == 0, done.stderr
    ran = tasks(done)
    services = ("base", "api", "worker", "web", "migrate")
    plan = {s["name"]: s for s in json.loads(done.stdout)["plan"]["services"]}
    assert {plan[s]["action"] for s in services} == {"skip"}, plan
    assert {plan[s]["found_in"] for s in services} == {"registry"}
    # Nothing was built, and nothing pulled either: the cluster pulls from the registry itself.
    results = {s: ran[f"build:{s}"]["result"] for s in services}
    assert {(r["action"], r["backend"]) for r in results.values()} == {("present", "registry")}, results
    assert not world.local_images(), "the second runner's image store stays empty"
    loads = [ran[t]["result"]["nodes"][0]["outcome"] for t in ran if t.startswith("load:")]
    assert loads and set(loads) == {"present"}  # every tag was already in the registry: nothing pushed
    assert "namespace acme-shop-feature-login: refreshed" in done.stderr
    assert ran["deploy"]["result"]["action"] == "skipped"  # the same inputs: the release is left as it is


def test_two_workspaces_on_different_branches_deploy_side_by_side(world: SharedWorld):
    one, two = world.workspace("ws-a", "team/a"), world.workspace("ws-b", "team/b")
    with world.kubelet("acme-shop-team-a"), world.kubelet("acme-shop-team-b"):
        first = world.envctl(one, "up")
        second = world.envctl(two, "up")
    assert (first.returncode, second.returncode) == (0, 0), first.stderr + second.stderr
    releases = world.releases()
    assert {"acme-shop-team-a/demo", "acme-shop-team-b/demo"} <= set(releases)
    a = world.api.get("v1/namespaces", None, "acme-shop-team-a")["metadata"]
    b = world.api.get("v1/namespaces", None, "acme-shop-team-b")["metadata"]
    assert (a["labels"]["envctl.dev/branch"], b["labels"]["envctl.dev/branch"]) == ("team-a", "team-b")
    assert a["annotations"]["envctl.dev/created-at"] <= b["annotations"]["envctl.dev/created-at"]
    assert len(releases["acme-shop-team-a/demo"]) == 1  # b's up did not touch a's release


def test_two_ups_for_the_same_branch_one_waits_and_both_end_consistent(world: SharedWorld):
    one, two = world.workspace("race-1", "race"), world.workspace("race-2", "race")
    namespace = "acme-shop-race"
    with world.kubelet(namespace):  # helm waits for the chart's hook Job even when envctl does not wait
        assert world.envctl(one, "up", "--no-wait").returncode == 0  # the namespace exists, nothing holds it
    # Barrier: this test holds the release's lease, so both runs must wait for it.
    gate = ClusterLock(LeaseApi(connect(world.kubeconfig)), namespace, "demo", Holder.this_process("the test", {}))
    gate.acquire(wait=False)
    runs = [world.popen(ws, "up") for ws in (one, two)]
    waiting = []
    try:
        for run in runs:
            assert run.stderr is not None
            for line in run.stderr:
                if "waiting for the test on" in line:
                    waiting.append(line)
                    break
    finally:
        gate.release()
    with world.kubelet(namespace):
        results = [run.communicate(timeout=600) for run in runs]
    assert [run.returncode for run in runs] == [0, 0], [err for _out, err in results]
    assert len(waiting) == 2 and all(f"holds lease demo in namespace {namespace}" in w for w in waiting)
    spec = world.api.get(LEASES, namespace, "demo")["spec"]
    assert spec.get("holderIdentity") is None and spec["leaseTransitions"] >= 3  # up, gate, then each run
    release = world.releases()[f"{namespace}/demo"]
    assert release[-1]["status"] == "deployed"


def test_no_wait_lock_exits_9_while_another_run_holds_the_namespace(world: SharedWorld):
    ws = world.workspace("busy", "busy")
    with world.kubelet("acme-shop-busy"):  # helm waits for the chart's hook Job
        assert world.envctl(ws, "up", "--no-wait").returncode == 0
    gate = ClusterLock(LeaseApi(connect(world.kubeconfig)), "acme-shop-busy", "demo", Holder.this_process("ci", {}))
    gate.acquire(wait=False)
    try:
        done = world.envctl(ws, "up", "--no-wait-lock")
    finally:
        gate.release()
    assert done.returncode == 9
    assert "error: lease demo in namespace acme-shop-busy is held by ci on" in done.stderr


def test_a_namespace_envctl_does_not_own_needs_adopt(world: SharedWorld):
    world.api.create("v1/namespaces", {"metadata": {"name": "legacy-app", "labels": {"team": "legacy"}}})
    ws = world.workspace("adopter", "stable", namespace="legacy-app")
    refused = world.envctl(ws, "up")
    assert refused.returncode == 8
    assert "error: namespace legacy-app exists and is not managed by envctl" in refused.stderr
    assert "--adopt" in refused.stderr
    assert "legacy-app/demo" not in world.releases()  # refused before anything was deployed
    with world.kubelet("legacy-app"):
        adopted = world.envctl(ws, "up", "--adopt")
    assert adopted.returncode == 0, adopted.stderr
    labels = world.api.get("v1/namespaces", None, "legacy-app")["metadata"]["labels"]
    assert labels["team"] == "legacy" and labels["app.kubernetes.io/managed-by"] == "envctl"
    assert "namespace legacy-app: adopted" in adopted.stderr


def test_down_uninstalls_and_deletes_the_namespace_it_created(world: SharedWorld):
    ws = world.workspace("downer", "bye")
    with world.kubelet("acme-shop-bye"):  # helm waits for the chart's hook Job
        assert world.envctl(ws, "up", "--no-wait").returncode == 0
    kept = world.envctl(ws, "down", "--keep-namespace")
    assert kept.returncode == 0, kept.stderr
    assert "release demo: uninstalled rev 1 from namespace acme-shop-bye" in kept.stdout
    assert "namespace acme-shop-bye: kept (--keep-namespace)" in kept.stdout
    assert world.api.get("v1/namespaces", None, "acme-shop-bye")
    with world.kubelet("acme-shop-bye"):
        assert world.envctl(ws, "up", "--no-wait").returncode == 0
    gone = world.envctl(ws, "down")
    assert gone.returncode == 0, gone.stderr
    assert "namespace acme-shop-bye: deleted" in gone.stdout
    assert "acme-shop-bye/demo" not in world.releases() or not world.releases()["acme-shop-bye/demo"]
    again = world.envctl(ws, "down")  # nothing left: still exit 0, so CI can run it unconditionally
    assert again.returncode == 0 and "namespace acme-shop-bye: namespace acme-shop-bye does not exist" in again.stdout
    refused = world.envctl(ws, "down", "--delete-cluster", "--yes")
    assert refused.returncode == 2 and "never deletes a shared cluster" in refused.stderr


def test_down_keeps_an_adopted_namespace_and_refuses_someone_elses(world: SharedWorld):
    world.api.create("v1/namespaces", {"metadata": {"name": "kept-app"}})
    ws = world.workspace("keeper", "keep", namespace="kept-app")
    with world.kubelet("kept-app"):  # helm waits for the chart's hook Job
        assert world.envctl(ws, "up", "--no-wait", "--adopt").returncode == 0
    done = world.envctl(ws, "down")
    assert done.returncode == 0 and "namespace kept-app: kept (adopted, not created by envctl)" in done.stdout
    world.api.create("v1/namespaces", {"metadata": {"name": "not-ours"}})
    other = world.envctl(ws, "down", "--namespace", "not-ours")
    assert other.returncode == 8 and "namespace not-ours is not managed by envctl" in other.stderr
    assert world.api.get("v1/namespaces", None, "not-ours")


def test_status_reads_the_branch_namespace_on_the_shared_cluster(world: SharedWorld):
    ws = world.workspace("looker", "look")
    with world.kubelet("acme-shop-look"):
        assert world.envctl(ws, "up").returncode == 0
    done = world.envctl(ws, "status", "--output", "json")
    report = json.loads(done.stdout)
    assert done.returncode == 0, done.stderr + done.stdout
    assert report["release"]["namespace"] == "acme-shop-look" and report["release"]["state"] == "installed"
    assert report["cluster"]["state"] == "running"
    plan = world.envctl(ws, "plan", "--output", "json")
    assert {s["action"] for s in json.loads(plan.stdout)["services"]} <= {"skip", "pull"}


def test_timings_profile_a_run_on_the_shared_cluster(world: SharedWorld):
    ws = world.workspace("timer", "timed")
    with world.kubelet("acme-shop-timed"):
        up = world.envctl(ws, "up", "--output", "json")
    assert up.returncode == 0, up.stderr
    done = world.envctl(ws, "timings", "--output", "json")
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)["run"]
    assert report["run_id"] == json.loads(up.stdout)["run_id"]
    assert report["outcome"] == "ok"
    kinds = {span["kind"] for span in report["spans"]}
    # The same phases as on k3d: the cluster step only connected, images went through the registry.
    assert {"plan", "cluster", "build", "load", "deploy", "wait"} <= kinds, kinds
    loads = [s for s in report["spans"] if s["kind"] == "load"]
    assert loads and {s["attrs"].get("load_mode") for s in loads} == {"registry"}
