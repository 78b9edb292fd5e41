"""The wait on the objects the controllers really make: an API server that keeps generations
(kube_server_side.py) and the Deployment controller's ReplicaSets and pods (controllers.py).

The test plays Helm (it writes the Deployments and changes their pod template) and the kubelet
(it sets the pods' states); the controller does the rest, on its own: ReplicaSets with their
hash label and revision, pods, the old ReplicaSet scaled down once the new one is available, and
the statuses the waiter reads.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from envctl.adapters.kube import connect
from envctl.errors import ReleaseNotReadyError
from envctl.scheduler import Cancelled
from tests.support.controllers import DeploymentController
from tests.support.kube_api import KubeApi
from tests.support.kube_server_side import ServerSideEmulator
from tests.support.kubelet import REVISION
from tests.wait.conftest import Waiter
from tests.wait.test_wait_rollout import HANG, ReadySignal, wait_outcomes

NAMESPACE = "default"
DEPLOYMENTS = "apps/v1/deployments"


@pytest.fixture
def server() -> Iterator[KubeApi]:
    with KubeApi(emulator=ServerSideEmulator) as api:
        yield api


@pytest.fixture
def controller(server: KubeApi) -> Iterator[DeploymentController]:
    with DeploymentController(server, NAMESPACE) as running:
        yield running


@pytest.fixture
def wait(server: KubeApi, tmp_path: Path, _client_models: None) -> Waiter:
    return Waiter(connect(server.write_kubeconfig(tmp_path / "kubeconfig")), NAMESPACE)


def template(service: str, env: dict[str, str]) -> dict[str, Any]:
    labels = {"app.kubernetes.io/instance": "demo", "app.kubernetes.io/name": service}
    container = {"name": service, "image": f"envctl-test/{service}:0123456789ab", "imagePullPolicy": "IfNotPresent",
                 "env": [{"name": key, "value": value} for key, value in env.items()]}  # fmt: skip
    return {"metadata": {"labels": labels}, "spec": {"containers": [container]}}


def install(api: KubeApi, service: str, env: dict[str, str]) -> None:
    """What `helm upgrade --install` writes for a Deployment of the demo chart."""
    pod_template = template(service, env)
    api.create(DEPLOYMENTS, {
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": f"demo-{service}", "namespace": NAMESPACE,
                     "labels": {**pod_template["metadata"]["labels"], "app.kubernetes.io/managed-by": "Helm"}},
        "spec": {"replicas": 1, "selector": {"matchLabels": pod_template["metadata"]["labels"]},
                 "template": pod_template},
    })  # fmt: skip


def upgrade(api: KubeApi, service: str, env: dict[str, str]) -> None:
    """`helm upgrade` with a new env for the service: only the pod template's env changes."""
    api.patch(DEPLOYMENTS, NAMESPACE, f"demo-{service}", {"spec": {"template": template(service, env)}})


def run_ready(api: KubeApi, pod: str, service: str) -> None:
    """The kubelet: the container started and passes its readiness probe."""
    api.patch_status("v1/pods", NAMESPACE, pod, {
        "phase": "Running",
        "conditions": [{"type": "PodScheduled", "status": "True"}, {"type": "Ready", "status": "True"}],
        "containerStatuses": [{"name": service, "image": f"envctl-test/{service}:0123456789ab", "imageID": "",
                               "ready": True, "restartCount": 0, "state": {"running": {}}}],
    })  # fmt: skip


def crash_loop(api: KubeApi, pod: str, service: str) -> None:
    """The kubelet: the container keeps exiting 1 (here: for want of the env var the fix adds)."""
    api.patch_status("v1/pods", NAMESPACE, pod, {
        "phase": "Running",
        "conditions": [{"type": "PodScheduled", "status": "True"}, {"type": "Ready", "status": "False"}],
        "containerStatuses": [{
            "name": service, "image": f"envctl-test/{service}:0123456789ab", "imageID": "", "ready": False,
            "restartCount": 3, "state": {"waiting": {"reason": "CrashLoopBackOff", "message": "back-off 40s"}},
            "lastState": {"terminated": {"exitCode": 1, "reason": "Error"}},
        }],
    })  # fmt: skip


def status(api: KubeApi, name: str) -> dict[str, Any]:
    return api.get(DEPLOYMENTS, NAMESPACE, name).get("status") or {}


def observed(api: KubeApi, name: str, generation: int) -> bool:
    deployment = api.get(DEPLOYMENTS, NAMESPACE, name)
    return deployment["metadata"].get("generation") == generation == (deployment.get("status") or {}).get(
        "observedGeneration"
    )


def one_pod(controller: DeploymentController, deployment: str) -> str:
    assert controller.settle(lambda: len(controller.pods(deployment)) == 1)
    return controller.pods(deployment)[0]


def test_an_env_only_change_whose_old_pod_is_crash_looping_waits_for_the_new_revision_and_succeeds(
    server: KubeApi, controller: DeploymentController, wait: Waiter
) -> None:
    install(server, "worker", {})
    install(server, "api", {})
    run_ready(server, one_pod(controller, "demo-worker"), "worker")
    broken = one_pod(controller, "demo-api")
    crash_loop(server, broken, "api")
    upgrade(server, "api", {"DATABASE_URL": "postgres://db/app"})  # same image, command and args
    assert controller.settle(lambda: observed(server, "demo-api", 2) and controller.pods("demo-api") != [broken])
    fixed = controller.pods("demo-api")[0]
    assert controller.settle(lambda: status(server, "demo-worker").get("availableReplicas") == 1)
    assert controller.pods("demo-api", current=False) == [broken]  # kept until the new one is available
    wait.progress = signal = ReadySignal("Deployment/demo-worker")

    with ThreadPoolExecutor(1) as pool:
        waiting = pool.submit(wait)
        # The waiter has judged the release with the old revision's pod crash-looping, and waits on.
        assert signal.seen.wait(HANG), waiting.exception(0) if waiting.done() else "no verdict"
        assert not waiting.done()
        run_ready(server, fixed, "api")  # the controller then scales the old ReplicaSet down
        result = waiting.result(HANG)

    assert [(w.name, w.outcome) for w in result.workloads] == [("demo-worker", "ready"), ("demo-api", "ready")]
    old, new = controller.replica_sets("demo-api")
    assert (old["metadata"]["annotations"][REVISION], old["spec"]["replicas"]) == ("1", 0)
    assert new["metadata"]["annotations"][REVISION] == "2"
    assert controller.pods("demo-api", current=False) == []


def test_an_old_healthy_pod_does_not_pass_the_wait_for_a_new_revision_that_never_becomes_ready(
    server: KubeApi, controller: DeploymentController, wait: Waiter
) -> None:
    install(server, "worker", {})
    install(server, "api", {})
    run_ready(server, one_pod(controller, "demo-worker"), "worker")
    healthy = one_pod(controller, "demo-api")
    run_ready(server, healthy, "api")
    upgrade(server, "api", {"FEATURE": "on"})
    assert controller.settle(lambda: observed(server, "demo-api", 2) and controller.pods("demo-api") != [healthy])
    stuck = controller.pods("demo-api")[0]  # Pending for good: no kubelet runs it
    assert controller.settle(lambda: status(server, "demo-worker").get("availableReplicas") == 1)
    wait.progress = signal = ReadySignal("Deployment/demo-worker")
    cancel = threading.Event()

    with ThreadPoolExecutor(1) as pool:
        waiting = pool.submit(wait, cancel_event=cancel)
        assert signal.seen.wait(HANG), waiting.exception(0) if waiting.done() else "no verdict"
        cancel.set()  # judged with the old pod serving and the new one Pending: a result is a false pass
        with pytest.raises(Cancelled):
            waiting.result(HANG)

    assert wait_outcomes(wait) == [("demo-worker", "ok"), ("demo-api", "cancelled")]
    assert controller.pods("demo-api", current=False) == [healthy]  # still serving: not scaled down
    crash_loop(server, stuck, "api")
    with pytest.raises(ReleaseNotReadyError) as crashed:
        wait(timeout=HANG)
    assert crashed.value.failure is not None
    assert (crashed.value.failure.pod, crashed.value.failure.reason) == (stuck, "CrashLoopBackOff")


def test_a_rollback_to_an_earlier_template_makes_its_replicaset_the_newest_revision(
    server: KubeApi, controller: DeploymentController
) -> None:
    install(server, "api", {})
    first = one_pod(controller, "demo-api")
    run_ready(server, first, "api")
    upgrade(server, "api", {"FEATURE": "on"})
    assert controller.settle(lambda: observed(server, "demo-api", 2) and controller.pods("demo-api") != [first])
    upgrade(server, "api", {})  # back to the first template

    assert controller.settle(lambda: observed(server, "demo-api", 3))
    revisions = {rs["metadata"]["name"]: rs["metadata"]["annotations"][REVISION]
                 for rs in controller.replica_sets("demo-api")}  # fmt: skip
    deployment = server.get(DEPLOYMENTS, NAMESPACE, "demo-api")
    assert sorted(revisions.values()) == ["2", "3"]
    assert deployment["metadata"]["annotations"][REVISION] == "3"
    assert controller.pods("demo-api") == [first]  # the first ReplicaSet's pod, never scaled away

