"""`envctl up` as a dependency graph: cluster ∥ builds → per-image loads → deploy → wait → verify.

The plan is computed first (pure and cheap), so bad input fails before any side effect. Then the
cluster is ensured *while* images build or pull, so creating or starting k3d overlaps them; each
image is loaded as soon as *it* is built and the cluster is ready; the deploy starts when every
image the release needs is loaded; the wait follows the deploy, and the verify (the pods run the
images the deploy sent) follows the wait.

This module only wires phases together. Each phase sits behind a one- or two-method Protocol
(``phases/protocols.py``) and handles one item per call; the scheduler is the only source of
concurrency. Tasks hand their typed results to each other through one ``RunState``; every decision
lives in the plan or in the phases themselves.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal, NoReturn

from envctl.config import ServiceSpec
from envctl.image_check import Injection, injections
from envctl.phases.protocols import BuildPhase, Phases
from envctl.plan import Plan, ServicePlan, dependency_build_args
from envctl.results import (
    BuiltImage,
    ClusterInfo,
    DeployedImage,
    DeployResult,
    LoadResult,
    RunningImages,
    WaitResult,
)
from envctl.scheduler import Scheduler, Task, TaskContext, TaskDescription
from envctl.timing.spans import Recorder

__all__ = [
    "BUILD_SLOT",
    "LoadMode",
    "RunState",
    "UpOptions",
    "chain_seconds",
    "deployed_services",
    "describe_graph",
    "image_tasks",
    "make_tasks",
    "service_refs",
]

LoadMode = Literal["auto", "import", "registry"]
_Step = Callable[[TaskContext], object]
BUILD_SLOT = "build"  # builds and cache pulls share --jobs slots; the cluster task never takes one


@dataclass(frozen=True)
class UpOptions:
    changed_only: bool = False
    base: str | None = None
    services: tuple[str, ...] | None = None
    jobs: int = 4
    keep_going: bool = False
    recreate: bool = False
    load_mode: LoadMode = "auto"
    wait: bool = True
    timeout: float = 300.0
    dry_run: bool = False
    strict_images: bool = False  # a rendered image neither built nor under `images:` is an error


class RunState:
    """What the tasks of one run produced so far, typed.

    Each task writes its own result once; a task reads only the results of the tasks it runs
    after, so the scheduler's ordering guarantees they are there (a missing one is a graph bug).
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._cluster: ClusterInfo | None = None
        self._images: dict[str, BuiltImage] = {}  # by service name, or by ref for third-party images
        self._loaded: dict[str, LoadResult] = {}  # by service name
        self._deployed: DeployResult | None = None

    @property
    def cluster(self) -> ClusterInfo:
        with self._lock:
            if self._cluster is None:
                msg = "the cluster task has not finished"
                raise RuntimeError(msg)
            return self._cluster

    @cluster.setter
    def cluster(self, info: ClusterInfo) -> None:
        with self._lock:
            self._cluster = info

    def image(self, key: str) -> BuiltImage:
        with self._lock:
            return self._images[key]

    def add_image(self, key: str, image: BuiltImage) -> None:
        with self._lock:
            self._images[key] = image

    def add_loaded(self, service: str, result: LoadResult) -> None:
        with self._lock:
            self._loaded[service] = result

    @property
    def loaded(self) -> dict[str, LoadResult]:
        with self._lock:
            return dict(self._loaded)

    @property
    def deployed(self) -> DeployResult:
        with self._lock:
            if self._deployed is None:
                msg = "the deploy task has not finished"
                raise RuntimeError(msg)
            return self._deployed

    @deployed.setter
    def deployed(self, result: DeployResult) -> None:
        with self._lock:
            self._deployed = result


def deployed_services(plan: Plan, services: Mapping[str, ServiceSpec]) -> dict[str, Injection]:
    """The services the release runs, by name, and how each reaches the chart: every configured
    service but the base images others build FROM that name no ``values_path``/``inject``."""
    bases = {dep for service in plan.services for dep in service.depends_on}
    return injections(services, bases)


def service_refs(plan: Plan, deployed: Collection[str], loaded: Mapping[str, LoadResult]) -> dict[str, str]:
    """The ref each deployed service of the plan must run, by service name: the reference the load
    phase reports (a registry ref in registry mode, the fingerprint ref otherwise)."""
    refs: dict[str, str] = {}
    for service in plan.services:
        if service.name in deployed:
            result = loaded.get(service.name)
            refs[service.name] = result.chart_ref if result is not None else service.ref
    return refs


def chain_seconds(plan: Plan, expected: Mapping[str, float]) -> dict[str, float]:
    """Per service: its expected build time plus the longest expected chain of builds FROM it.

    Starting the longest chain first (longest-processing-time-first) keeps a slow build from
    queueing behind quick ones when --jobs is smaller than the number of ready builds.
    """
    dependents: dict[str, list[str]] = {s.name: [] for s in plan.services}
    for service in plan.services:
        for dep in service.depends_on:
            dependents.setdefault(dep, []).append(service.name)
    chain: dict[str, float] = {}
    for service in reversed(plan.services):  # the plan lists dependencies first
        below = max((chain.get(d, 0.0) for d in dependents.get(service.name, ())), default=0.0)
        chain[service.name] = expected.get(service.name, 0.0) + below
    return chain


def make_tasks(
    plan: Plan,
    phases: Phases,
    deployed: Collection[str],
    *,
    state: RunState | None = None,
    wait: bool = True,
    expected: Mapping[str, float] | None = None,
) -> list[Task]:
    """The graph of one `envctl up` (the same graph `--dry-run` prints).

    ``deployed``: the services the release runs (``deployed_services``); only those are loaded.
    ``expected`` (seconds per service build, e.g. medians from the run history) orders ready builds.
    """
    graph = _Graph(plan, phases, state or RunState())
    priority = chain_seconds(plan, expected or {})
    tasks: list[Task] = [
        Task("cluster", "cluster", graph.cluster, own_spans=True, reason="create, start or reuse the k3d cluster"),
    ]
    load_ids: list[str] = []
    for service in plan.services:
        tasks.append(_build_task(graph, service, priority))
        if service.name in deployed:
            load_ids.append(f"load:{service.name}")
            tasks.append(
                Task(
                    load_ids[-1],
                    "load",
                    graph.load(service.name, loaded_as=service.name),
                    after=(f"build:{service.name}", "cluster"),
                    service=service.name,
                    reason="put the image on every node that lacks it",
                    own_spans=True,
                )
            )
    for ref in plan.images:
        tasks.append(_pull_task(graph, ref))
        load_ids.append(f"load:{ref}")
        tasks.append(
            Task(
                load_ids[-1],
                "load",
                graph.load(ref, loaded_as=None),
                after=(f"pull:{ref}", "cluster"),
                reason="put the third-party image on every node that lacks it",
                own_spans=True,
            )
        )
    tasks.append(
        Task(
            "deploy",
            "deploy",
            graph.deploy(deployed),
            after=("cluster", *load_ids),
            reason="check the rendered chart runs every built image, then helm upgrade --install "
            "(skipped when inputs match)",
            own_spans=True,
        )
    )
    if wait:
        tasks.append(
            Task(
                "wait",
                "wait",
                graph.wait,
                after=("cluster", "deploy"),
                reason="watch every workload of the release; fail fast on known-bad pod states",
                own_spans=True,
            )
        )
        tasks.append(
            Task(
                "verify",
                "wait",
                graph.verify,
                after=("wait",),
                reason="the release's pods run the images the deploy sent",
                own_spans=True,
            )
        )
    return tasks


def image_tasks(
    plan: Plan, build: BuildPhase, *, state: RunState | None = None, expected: Mapping[str, float] | None = None
) -> list[Task]:
    """Only the image part of the graph (every build and pull, with their edges): what `up` runs to
    make the images exist, for callers that need images and no cluster (benchmarks, phase tests)."""
    phases = Phases(cluster=_UNBOUND, build=build, load=_UNBOUND, deploy=_UNBOUND, wait=_UNBOUND, verify=_UNBOUND)
    graph = _Graph(plan, phases, state or RunState())
    priority = chain_seconds(plan, expected or {})
    return [*(_build_task(graph, s, priority) for s in plan.services), *(_pull_task(graph, r) for r in plan.images)]


def _build_task(graph: _Graph, service: ServicePlan, priority: Mapping[str, float]) -> Task:
    in_plan = {s.name for s in graph.plan.services}
    return Task(
        f"build:{service.name}",
        "pull" if service.action == "pull" else "build",
        graph.build(service),
        after=tuple(f"build:{d}" for d in service.depends_on if d in in_plan),
        service=service.name,
        reason=f"{service.action}: {service.reason}",
        own_spans=True,
        priority=priority.get(service.name, 0.0),
        slot=BUILD_SLOT,
    )


def _pull_task(graph: _Graph, ref: str) -> Task:
    return Task(f"pull:{ref}", "pull", graph.pull(ref), reason="third-party image (pulled once)", own_spans=True)


def describe_graph(plan: Plan, deployed: Collection[str], *, wait: bool, jobs: int) -> list[TaskDescription]:
    """The graph a run of ``plan`` would execute, in start order, with nothing bound or run."""
    phases = Phases(cluster=_UNBOUND, build=_UNBOUND, load=_UNBOUND, deploy=_UNBOUND, wait=_UNBOUND, verify=_UNBOUND)
    tasks = make_tasks(plan, phases, deployed, wait=wait)
    return Scheduler(tasks, recorder=Recorder(), jobs=jobs).describe()


class _Graph:
    """The task bodies: each calls one phase with typed inputs from the run state and stores its result."""

    def __init__(self, plan: Plan, phases: Phases, state: RunState) -> None:
        self.plan, self.phases, self.state = plan, phases, state

    def cluster(self, ctx: TaskContext) -> ClusterInfo:
        ctx.raise_if_cancelled()
        info = self.phases.cluster.ensure()
        self.state.cluster = info
        return info

    def build(self, service: ServicePlan) -> _Step:
        def run(ctx: TaskContext) -> BuiltImage:
            ctx.raise_if_cancelled()
            image = self.phases.build.build(service, dependency_build_args(service, self.plan))
            self.state.add_image(service.name, image)
            return image

        return run

    def pull(self, ref: str) -> _Step:
        def run(ctx: TaskContext) -> BuiltImage:
            ctx.raise_if_cancelled()
            image = self.phases.build.pull(ref)
            self.state.add_image(ref, image)
            return image

        return run

    def load(self, key: str, *, loaded_as: str | None) -> _Step:
        def run(ctx: TaskContext) -> LoadResult:
            ctx.raise_if_cancelled()
            result = self.phases.load.load(self.state.image(key), self.state.cluster)
            if loaded_as is not None:
                self.state.add_loaded(loaded_as, result)
            return result

        return run

    def deploy(self, deployed: Collection[str]) -> _Step:
        def run(ctx: TaskContext) -> DeployResult:
            ctx.raise_if_cancelled()
            refs = service_refs(self.plan, deployed, self.state.loaded)
            result = self.phases.deploy.deploy(refs, self.state.cluster)
            self.state.deployed = result
            return result

        return run

    def wait(self, ctx: TaskContext) -> WaitResult:
        ctx.raise_if_cancelled()
        return self.phases.wait.wait(self.state.cluster)

    def verify(self, ctx: TaskContext) -> RunningImages:
        ctx.raise_if_cancelled()
        return self.phases.verify.verify(self.state.deployed.images, self.state.cluster)


class _Unbound:
    """Every phase, bound to nothing: the dry run describes the graph and runs no task."""

    def ensure(self) -> ClusterInfo:
        _never()

    # The phases' Protocol signatures; the arguments are never read.
    def build(self, service: ServicePlan, dependency_args: Mapping[str, str]) -> BuiltImage:  # noqa: ARG002
        _never()

    def pull(self, ref: str) -> BuiltImage:  # noqa: ARG002
        _never()

    def load(self, image: BuiltImage, cluster: ClusterInfo) -> LoadResult:  # noqa: ARG002
        _never()

    def deploy(self, refs: Mapping[str, str], cluster: ClusterInfo) -> DeployResult:  # noqa: ARG002
        _never()

    def wait(self, cluster: ClusterInfo) -> WaitResult:  # noqa: ARG002
        _never()

    def verify(self, images: Sequence[DeployedImage], cluster: ClusterInfo) -> RunningImages:  # noqa: ARG002
        _never()


_UNBOUND = _Unbound()


def _never() -> NoReturn:
    msg = "the dry-run graph is described, never run"
    raise AssertionError(msg)
