"""`envctl up` as a dependency graph: cluster ∥ builds → per-image loads → deploy → wait.

The plan is computed first (pure and cheap), so bad input fails before any side effect. Then the
cluster is ensured *while* images build or pull, so creating or starting k3d overlaps them; each image is loaded
as soon as *it* is built and the cluster is ready; the deploy starts when every image the release
needs is loaded; the wait follows the deploy. ``make_tasks`` only wires phases together: every
decision lives in the plan or in the phases themselves.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from envctl.plan import Plan, ServicePlan
from envctl.scheduler import Task, TaskContext

__all__ = ["ImageRef", "Phases", "UpOptions", "chain_seconds", "make_tasks", "service_refs"]

ImageRef = tuple[str, str]  # (repository, tag) as the chart reads them


@dataclass(frozen=True)
class UpOptions:
    changed_only: bool = False
    base: str | None = None
    services: tuple[str, ...] | None = None
    jobs: int = 4
    keep_going: bool = False
    recreate: bool = False
    load_mode: str = "auto"
    wait: bool = True
    timeout: float = 300.0
    dry_run: bool = False


@dataclass(frozen=True)
class Phases:
    """The phase entry points the graph calls, bound to their tools by the composition root.

    Each takes the scheduler's ``TaskContext`` so it can honour cancellation and attach the
    graph's dependency edges to the spans it records.
    """

    cluster: Callable[[TaskContext], Any]  # -> ClusterInfo
    build: Callable[[ServicePlan, Mapping[str, str], TaskContext], Any]  # (service, dependency args) -> BuiltImage
    pull: Callable[[str, TaskContext], Any]  # third-party ref -> BuiltImage
    load: Callable[[Any, Any, TaskContext], Any]  # (BuiltImage, ClusterInfo) -> LoadResult
    deploy: Callable[[Mapping[str, ImageRef], TaskContext], Any]  # values_path refs -> DeployResult
    wait: Callable[[Any, TaskContext], Any]  # ClusterInfo -> WaitResult


def service_refs(
    plan: Plan,
    values_paths: Mapping[str, str | None],
    loaded: Mapping[str, Any],
) -> dict[str, ImageRef]:
    """The image each deployed service runs, keyed by where the chart reads it.

    The chart gets the reference the load phase reports (a registry ref in registry mode, the
    fingerprint ref otherwise); services without a ``values_path`` are images others build FROM.
    """
    refs: dict[str, ImageRef] = {}
    for service in plan.services:
        path = values_paths.get(service.name)
        if not path:
            continue
        result = loaded.get(service.name)
        ref = getattr(result, "chart_ref", None) or service.ref
        repository, _, tag = ref.rpartition(":")
        refs[path] = (repository, tag)
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
    values_paths: Mapping[str, str | None],
    *,
    wait: bool = True,
    expected: Mapping[str, float] | None = None,
) -> list[Task]:
    """The graph of one `envctl up` (the same graph `--dry-run` prints).

    ``expected`` (seconds per service build, e.g. medians from the run history) orders ready builds.
    """
    priority = chain_seconds(plan, expected or {})
    tasks: list[Task] = [
        Task("cluster", "cluster", phases.cluster, own_spans=True, reason="create, start or reuse the k3d cluster"),
    ]
    load_ids: list[str] = []
    in_plan = {s.name for s in plan.services}
    for service in plan.services:
        deps = tuple(f"build:{d}" for d in service.depends_on if d in in_plan)
        tasks.append(
            Task(
                f"build:{service.name}",
                "pull" if service.action == "pull" else "build",
                _build(phases, plan, service),
                after=deps,
                service=service.name,
                reason=f"{service.action}: {service.reason}",
                own_spans=True,
                priority=priority.get(service.name, 0.0),
            )
        )
        if values_paths.get(service.name):
            load_id = f"load:{service.name}"
            tasks.append(
                Task(
                    load_id,
                    "load",
                    _load(phases, f"build:{service.name}"),
                    after=(f"build:{service.name}", "cluster"),
                    service=service.name,
                    reason="put the image on every node that lacks it",
                    own_spans=True,
                )
            )
            load_ids.append(load_id)
    for ref in plan.images:
        tasks.append(
            Task(f"pull:{ref}", "pull", _pull(phases, ref), reason="third-party image (pulled once)", own_spans=True)
        )
        tasks.append(
            Task(
                f"load:{ref}",
                "load",
                _load(phases, f"pull:{ref}"),
                after=(f"pull:{ref}", "cluster"),
                reason="put the third-party image on every node that lacks it",
                own_spans=True,
            )
        )
        load_ids.append(f"load:{ref}")
    tasks.append(
        Task(
            "deploy",
            "deploy",
            _deploy(phases, plan, values_paths),
            after=("cluster", *load_ids),
            reason="helm upgrade --install with each service's fingerprint tag (skipped when inputs match)",
            own_spans=True,
        )
    )
    if wait:
        tasks.append(
            Task(
                "wait",
                "wait",
                lambda ctx: phases.wait(ctx.results["cluster"], ctx),
                after=("cluster", "deploy"),
                reason="watch every workload of the release; fail fast on known-bad pod states",
                own_spans=True,
            )
        )
    return tasks


def _build(phases: Phases, plan: Plan, service: ServicePlan) -> Callable[[TaskContext], Any]:
    def run(ctx: TaskContext) -> Any:
        ctx.raise_if_cancelled()
        dependency_args = {arg: plan.service(dep).ref for arg, dep in service.dependency_args.items()}
        return phases.build(service, dependency_args, ctx)

    return run


def _pull(phases: Phases, ref: str) -> Callable[[TaskContext], Any]:
    def run(ctx: TaskContext) -> Any:
        ctx.raise_if_cancelled()
        return phases.pull(ref, ctx)

    return run


def _load(phases: Phases, source: str) -> Callable[[TaskContext], Any]:
    def run(ctx: TaskContext) -> Any:
        ctx.raise_if_cancelled()
        return phases.load(ctx.results[source], ctx.results["cluster"], ctx)

    return run


def _deploy(phases: Phases, plan: Plan, values_paths: Mapping[str, str | None]) -> Callable[[TaskContext], Any]:
    def run(ctx: TaskContext) -> Any:
        ctx.raise_if_cancelled()
        loaded = {
            key.removeprefix("load:"): value for key, value in ctx.results.items() if key.startswith("load:")
        }
        return phases.deploy(service_refs(plan, values_paths, loaded), ctx)

    return run
