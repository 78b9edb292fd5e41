"""The `up` graph: edges, history-informed start order (longest expected chain first), and the typed
results tasks hand each other, run on the real scheduler with in-memory phases."""

from __future__ import annotations

import threading
from collections.abc import Mapping
from pathlib import Path

from envctl.phases.protocols import Phases
from envctl.pipeline import RunState, chain_seconds, describe_graph, make_tasks
from envctl.plan import Plan, ServicePlan
from envctl.results import (
    BuiltImage,
    ClusterInfo,
    DeployedImage,
    DeployResult,
    LoadResult,
    NodeResult,
    RunningImages,
    WaitResult,
)
from envctl.scheduler import Scheduler, Task
from envctl.timing.spans import Recorder


def _service(name: str, depends_on: tuple[str, ...] = ()) -> ServicePlan:
    return ServicePlan(
        name=name, image=f"demo/{name}", tag=f"fp-{name}", fingerprint="0" * 64, action="build", reason="test",
        changed=True, changed_inputs=(), depends_on=depends_on, dockerfile=f"{name}/Dockerfile", context=".",
        build_args={}, target=None, dependency_args={"BASE_REF": "base"} if depends_on else {},
    )  # fmt: skip


PLAN = Plan(
    base=None,
    services=(_service("base"), _service("api", ("base",)), _service("worker", ("base",)), _service("web")),
    images=(),
    chart_changed=False,
    needs_cluster=True,
)
DEPLOYED = {"api", "worker", "web"}  # base: an image the others build FROM
CLUSTER = ClusterInfo("demo", "reused", Path("/tmp/kubeconfig"), ("k3d-demo-server-0",), None, "f" * 16)


class InMemoryPhases:
    """Every phase as a stateful in-memory stand-in: each keeps what it was handed, in order."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.built: dict[str, Mapping[str, str]] = {}
        self.loaded: list[tuple[str, ClusterInfo]] = []
        self.deployed: list[Mapping[str, str]] = []
        self.waited: list[ClusterInfo] = []
        self.verified: list[tuple[DeployedImage, ...]] = []

    def ensure(self) -> ClusterInfo:
        return CLUSTER

    def build(self, service: ServicePlan, dependency_args: Mapping[str, str]) -> BuiltImage:
        with self.lock:
            self.built[service.name] = dict(dependency_args)
        return BuiltImage(service.name, service.ref, f"sha256:{service.name}", 1, "built", "test", 0.0)

    def pull(self, ref: str) -> BuiltImage:
        return BuiltImage(ref, ref, "sha256:third", 1, "present", "local", 0.0)

    def load(self, image: BuiltImage, cluster: ClusterInfo) -> LoadResult:
        with self.lock:
            self.loaded.append((image.service, cluster))
        node = NodeResult(cluster.nodes[0], "imported", 1, 0.0)
        return LoadResult(image.service, image.ref, f"registry:5000/{image.ref}", "registry", "test", 1, (node,))

    def deploy(self, refs: Mapping[str, str], cluster: ClusterInfo) -> DeployResult:  # noqa: ARG002 - the Protocol's
        self.deployed.append(dict(refs))
        images = tuple(DeployedImage(name, ref, f"demo/{name}") for name, ref in sorted(refs.items()))
        return DeployResult("demo", "default", 1, "installed", "test", "h", 0.0, images)

    def wait(self, cluster: ClusterInfo) -> WaitResult:
        self.waited.append(cluster)
        return WaitResult("demo", "default", 0.0, ())

    def verify(self, images, cluster: ClusterInfo) -> RunningImages:
        assert self.waited == [cluster]  # only after the wait
        self.verified.append(tuple(images))
        return RunningImages("demo", "default", len(images), len(images))


def _phases(fake: InMemoryPhases) -> Phases:
    return Phases(cluster=fake, build=fake, load=fake, deploy=fake, wait=fake, verify=fake)


def test_chain_seconds_adds_the_longest_chain_built_from_a_service() -> None:
    chain = chain_seconds(PLAN, {"base": 1.0, "api": 5.0, "worker": 2.0, "web": 4.0})
    assert chain == {"base": 6.0, "api": 5.0, "worker": 2.0, "web": 4.0}
    assert chain_seconds(PLAN, {}) == dict.fromkeys(("base", "api", "worker", "web"), 0.0)


def test_graph_edges_loads_wait_for_their_build_and_the_cluster_deploy_for_every_load() -> None:
    tasks = {t.id: t for t in make_tasks(PLAN, _phases(InMemoryPhases()), DEPLOYED, expected={"web": 9.0})}
    assert tasks["build:api"].after == ("build:base",)
    assert "load:base" not in tasks  # build-only: nothing deploys it
    assert tasks["load:web"].after == ("build:web", "cluster")
    assert set(tasks["deploy"].after) == {"cluster", "load:api", "load:worker", "load:web"}
    assert tasks["wait"].after == ("cluster", "deploy")
    assert tasks["verify"].after == ("wait",)
    assert tasks["build:web"].priority == 9.0 > tasks["build:base"].priority
    assert {t.slot for t in tasks.values() if t.kind == "build"} == {"build"}
    described = describe_graph(PLAN, DEPLOYED, wait=True, jobs=2)  # the dry run: the same graph, nothing bound
    assert {(d.id, d.after) for d in described} == {(t.id, t.after) for t in tasks.values()}


def test_tasks_hand_typed_results_to_the_phases_that_need_them() -> None:
    fake = InMemoryPhases()
    state = RunState()
    result = Scheduler(make_tasks(PLAN, _phases(fake), DEPLOYED, state=state), recorder=Recorder(), jobs=3).run()
    assert result.ok, result.first_error
    # One place computes the dependency args: base's fingerprint ref goes to what builds FROM it.
    assert fake.built == {"base": {}, "api": {"BASE_REF": "demo/base:fp-base"}, "worker": {"BASE_REF": "demo/base:fp-base"}, "web": {}}
    assert sorted(service for service, _ in fake.loaded) == ["api", "web", "worker"]  # base is build-only
    assert all(cluster is CLUSTER for _, cluster in fake.loaded)
    # The deploy gets what each load reported (here registry refs), by service.
    assert fake.deployed == [
        {
            "api": "registry:5000/demo/api:fp-api",
            "worker": "registry:5000/demo/worker:fp-worker",
            "web": "registry:5000/demo/web:fp-web",
        }
    ]
    assert fake.waited == [CLUSTER]
    # The verify after the wait checks the pods against what the deploy reported it sent.
    assert [tuple(i.service for i in images) for images in fake.verified] == [("api", "web", "worker")]
    assert isinstance(result.value("verify"), RunningImages)
    assert state.cluster is CLUSTER and set(state.loaded) == {"api", "worker", "web"}
    assert isinstance(result.value("deploy"), DeployResult)


def test_scheduler_starts_the_highest_priority_ready_task_first() -> None:
    started: list[str] = []
    lock = threading.Lock()

    def work(ctx) -> None:
        with lock:
            started.append(ctx.task.id)

    tasks = [Task(name, "build", work, priority=p) for name, p in (("quick", 0.5), ("slow", 9.0), ("mid", 3.0))]
    Scheduler(tasks, recorder=Recorder(), jobs=1).run()
    assert started == ["slow", "mid", "quick"]
