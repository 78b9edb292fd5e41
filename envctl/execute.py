"""Execute one `envctl up`: bind the phases to their tools, run the graph, record the run.

The plan is computed first — it is cheap (≤ 0.5 s) and pure, so a bad Dockerfile or an unknown
service fails before anything touches the cluster or the image store. Then the scheduler runs the
graph from ``pipeline.make_tasks``: the cluster is ensured while images build, each image loads
as soon as it is built, the deploy waits for every load, the wait follows. Whatever happens —
success, a failed step, Ctrl-C — the spans are written as one run record under ``.envctl/runs``.
"""

from __future__ import annotations

import shlex
import sys
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from envctl import __version__, output
from envctl.errors import EnvctlError
from envctl.pipeline import Phases, UpOptions, make_tasks
from envctl.plan import Plan
from envctl.scheduler import Scheduler, ScheduleResult, SchedulerInterrupted, TaskContext
from envctl.timing.spans import Recorder
from envctl.toolbox import AppState

__all__ = ["UpReport", "preflight", "run_up"]


@dataclass
class UpReport:
    """What one `envctl up` did (``--output json`` prints ``to_dict()``)."""

    run_id: str
    plan: Plan
    schedule: ScheduleResult | None
    outcome: str
    seconds: float
    error: EnvctlError | None = None
    summary: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        tasks = {}
        if self.schedule is not None:
            for task_id, done in self.schedule.outcomes.items():
                tasks[task_id] = {"outcome": done.outcome, "reason": done.reason, "result": _plain(done.value)}
        return {
            "version": 1,
            "envctl_version": __version__,
            "run_id": self.run_id,
            "outcome": self.outcome,
            "seconds": round(self.seconds, 3),
            "error": None if self.error is None else {"message": self.error.message, "hint": self.error.hint},
            "plan": self.plan.to_dict(),
            "tasks": tasks,
        }


def run_up(state: AppState, options: UpOptions, build_overrides: Mapping[str, Any]) -> UpReport:
    from envctl.phases import wait as wait_phase
    from envctl.timing.formats import phase_summary_lines, write_ci_outputs
    from envctl.timing.history import RunHistory, RunMeta, RunRecord, git_identity

    recorder = Recorder()
    progress = output.make_progress()
    with recorder.span("plan", "plan") as span:
        plan = state.plan(base=options.base, changed_only=options.changed_only, selected=options.services)
        span.set(services=len(plan.services), changed=list(plan.changed_services))
    for service in plan.services:
        progress.step(service.name, f"{service.action}: {service.reason}")
    meta = RunMeta.start(
        shlex.join(sys.argv[1:]) or "up",  # as typed after `envctl` (the views prefix "envctl")
        environ=state.environ,
        git=git_identity(state.runner, state.workspace.root),
        changed_services=tuple(plan.changed_services),
    )
    # The images other builds are FROM: a container buildx builder gets them as OCI layouts.
    layout_refs = frozenset(plan.service(dep).ref for s in plan.services for dep in s.dependency_args.values())
    phases = bind_phases(state, options, {**build_overrides, "layout_refs": layout_refs}, recorder, progress)
    # The kubernetes models import lazily and slowly; pay for it while images build. (After
    # bind_phases imported the docker SDK here: two threads importing `requests` at once deadlock
    # on its circular imports.)
    threading.Thread(target=wait_phase.preload, daemon=True, name="preload-kubernetes").start()
    values_paths = {name: spec.values_path for name, spec in state.config.services.items()}
    history = RunHistory(state.workspace.runs_dir, keep=state.config.history.keep)
    scheduler = Scheduler(
        make_tasks(plan, phases, values_paths, wait=options.wait, expected=expected_build_seconds(history)),
        recorder=recorder,
        # One slot more than --jobs: the cluster task mostly waits on k3d and must not hold back a
        # build; builds themselves are bounded by --jobs in bind_phases.
        jobs=options.jobs + 1,
        fail_fast=not options.keep_going,
        on_cancel=state.runner.terminate_all,
    )
    interrupted: SchedulerInterrupted | None = None
    try:
        with progress:
            result = scheduler.run()
    except SchedulerInterrupted as exc:
        interrupted, result = exc, exc.result
    failure = None if interrupted else result.first_error
    error = failure if isinstance(failure, EnvctlError) else None
    outcome = "cancelled" if interrupted else ("ok" if failure is None else "failed")
    code = 130 if interrupted else (0 if failure is None else getattr(failure, "exit_code", 1))
    record = RunRecord(meta.finish(outcome, code, recorder.now()), tuple(recorder.spans()))
    history.write(record)
    summary = phase_summary_lines(record)
    for line in summary:
        output.info(line)
    output.info(f"run {meta.run_id} recorded; `envctl timings` shows where the time went")
    write_ci_outputs(record, state.environ)
    if interrupted is not None:
        raise interrupted
    if failure is not None and error is None:
        raise failure  # not an envctl error: a bug, recorded above; crash loudly with its traceback
    if error is not None:
        _show_failure(error)
    return UpReport(meta.run_id, plan, result, outcome, recorder.now(), error, summary)


def expected_build_seconds(history: Any, last: int = 10) -> dict[str, float]:
    """Median seconds of each service's real builds (not skips) over the last runs."""
    import statistics

    seen: dict[str, list[float]] = {}
    for run in history.scan(last).records:
        for span in run.spans:
            if span.kind == "build" and span.outcome == "ok" and span.service:
                seen.setdefault(span.service, []).append(span.seconds)
    return {service: statistics.median(times) for service, times in seen.items()}


def preflight(state: AppState) -> None:
    """Missing tools and a silent Docker daemon fail here, in one line, before anything is touched
    (no cluster call, no build, no run record)."""
    from envctl.adapters.process import install_hint
    from envctl.errors import NotBuiltYetError, ToolMissingError

    if state.config.cluster.provider == "existing":
        # Until `up` drives a shared cluster it must not fall back to creating a k3d one.
        msg = "`envctl up` with cluster.provider: existing is not built yet"
        raise NotBuiltYetError(msg, hint="use provider: k3d for now; `envctl gc` and `envctl rbac` work with existing")

    for tool in (state.environ.get("ENVCTL_K3D", "k3d"), "helm"):
        if state.runner.which(tool) is None:
            msg = f"`{tool}` is not installed or not on PATH"
            raise ToolMissingError(msg, hint=install_hint(tool))
    state.docker.ping()


def _show_failure(error: EnvctlError) -> None:
    from envctl.phases.wait import ReleaseNotReadyError

    if isinstance(error, ReleaseNotReadyError):
        from envctl.views.wait import not_ready_renderable

        output.problem(not_ready_renderable(error))


def bind_phases(
    state: AppState,
    options: UpOptions,
    build_overrides: Mapping[str, Any],
    recorder: Recorder,
    progress: Any,
) -> Phases:
    """The composition of `up`: each phase bound to the tools the composition root made."""
    import docker  # noqa: F401 - imported once on this thread, before worker threads race to import it

    from envctl.adapters.containerd import ContainerdNodes, Node
    from envctl.adapters.k3d import K3S_CONTAINERD_SOCKET, K3d
    from envctl.phases.build import BuildOptions, ImageBuilder
    from envctl.phases.cluster import ensure_cluster
    from envctl.phases.load import RegistryTarget, load_images, node_holdings

    config, workspace, runner = state.config, state.workspace, state.runner
    builder = ImageBuilder(
        workspace_root=workspace.root,
        docker=state.docker,
        runner=runner,
        options=BuildOptions.from_config(config.build, docker_cli=state.docker_cli, **build_overrides),
        recorder=recorder,
        progress=progress,
    )
    containerd = ContainerdNodes(runner, state.docker_cli)
    build_slots = threading.BoundedSemaphore(options.jobs)
    # What the nodes held when the first load began: listed once per run, not once per image.
    # Safe to share: each load only asks about its own image, and envctl only adds images.
    holdings: dict[str, Any] = {}
    holdings_lock = threading.Lock()

    def nodes_hold(nodes: list[Node]) -> dict[str, Any]:
        with holdings_lock:
            if not holdings:
                holdings.update(node_holdings(containerd, nodes))
            return holdings

    def build(service: Any, dependency_args: Mapping[str, str], _: TaskContext) -> Any:
        with build_slots:
            return builder.build_one(service, dependency_args)

    def cluster(_: TaskContext) -> Any:
        k3d = K3d(runner, state.environ.get("ENVCTL_K3D", "k3d"))
        return ensure_cluster(
            config.cluster,
            workspace.kubeconfig,
            k3d=k3d,
            progress=progress,
            recorder=recorder,
            recreate=options.recreate,
        )

    def load(built: Any, info: Any, _: TaskContext) -> Any:
        nodes = [Node(name, ctr_address=K3S_CONTAINERD_SOCKET) for name in info.nodes]
        registry = None
        if info.registry:  # pushed to from here, pulled by the nodes through k3d's mirror for its name
            registry = RegistryTarget(address=info.registry.push_address, cluster_address=info.registry.cluster_address)
        results = load_images(
            [built],
            nodes,
            options.load_mode,  # type: ignore[arg-type] - validated by the CLI
            containerd=containerd,
            docker=state.docker,
            recorder=recorder,
            progress=progress,
            registry=registry,
            held=nodes_hold(nodes),
        )
        return results[0]

    def deploy(refs: Mapping[str, tuple[str, str]], ctx: TaskContext) -> Any:
        from envctl.adapters.helm import Helm, run_sync
        from envctl.phases.deploy import deploy_release, deployed_image_refs

        info = ctx.results["cluster"]
        helm = Helm.open(runner, info.kubeconfig, timeout=config.release.timeout, progress=progress)
        outside = [s.values_path for s in config.services.values() if s.values_path and s.values_path not in refs]
        if outside:  # `--services` planned only some: the others keep what the release runs now
            refs = {**run_sync(deployed_image_refs(helm, config.release, outside)), **refs}
        return deploy_release(
            config.release,
            workspace.resolve(config.release.chart),
            [workspace.resolve(path) for path in config.release.values],
            refs,
            helm=helm,
            progress=progress,
            recorder=recorder,
        )

    def wait(info: Any, ctx: TaskContext) -> Any:
        from envctl.adapters.kube import connect
        from envctl.phases.wait import wait_for_release

        return wait_for_release(
            connect(info.kubeconfig),
            config.release.namespace,
            config.release.name,
            timeout=options.timeout,
            recorder=recorder,
            progress=progress,
            cancel_event=ctx.cancel_event,
        )

    return Phases(
        cluster=cluster,
        build=build,
        pull=lambda ref, _: builder.pull_third_party([ref])[0],
        load=load,
        deploy=deploy,
        wait=wait,
    )


def _plain(value: Any) -> Any:
    """A JSON-friendly view of a phase result (frozen dataclasses of plain fields)."""
    import dataclasses
    from pathlib import Path

    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, Path):
        return str(value)
    return value
