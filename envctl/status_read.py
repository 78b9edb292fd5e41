"""Reading what `envctl status` reports — read-only: nothing is created, started, built or deployed.

The cluster comes from ``k3d cluster list -o json``, the release from ``helm status`` / ``helm get
values`` (``helm get manifest`` for ``inject: rewrite`` services), the workloads from one list per
kind (no watches) judged by the waiter's own rules, and the images by comparing the plan's
fingerprint tags with what the release runs. Whether the inputs changed is answered as the deploy
answers it: the release rendered (``helm template``, through the post-renderer for rewritten
images) and hashed by phases/release_render.py.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from envctl.cluster_spec import spec_drift
from envctl.errors import DeployError, EnvctlError, ExitCode
from envctl.release import input_hash_of
from envctl.results import split_tag
from envctl.status import (
    ClusterStatus,
    ImageStatus,
    NodeStatus,
    ReleaseStatus,
    StatusReport,
    WorkloadsStatus,
    WorkloadState,
    compare_image,
)

if TYPE_CHECKING:
    from concurrent.futures import Future

    from envctl.adapters.helm import ReleaseState
    from envctl.image_check import Injection
    from envctl.plan import Plan, ServicePlan
    from envctl.toolbox import AppState

__all__ = ["gather_status"]


def gather_status(state: AppState) -> StatusReport:
    """Read everything `envctl status` shows; never creates, starts or changes anything."""
    from concurrent.futures import ThreadPoolExecutor

    config, _ = state.config, state.runner  # made here, once, before two threads use them
    spec = state.release_spec()  # the names this run renders (branch namespaces on a shared cluster)
    release = ReleaseStatus(spec.name, spec.namespace, "unknown")
    workloads = WorkloadsStatus("unknown")
    deployed: dict[str, str] | None = None
    # The plan (git + `docker image ls`), the helm reads and the API lists wait on independent
    # processes and sockets: overlap them (the helm reads need the plan for the input hash).
    with ThreadPoolExecutor(2, thread_name_prefix="envctl-status") as pool:
        planned = pool.submit(state.plan)
        cluster = _cluster_status(state)
        if cluster.state != "running" or cluster.kubeconfig is None:
            why = cluster.note or f"cluster {cluster.state}"
            release = replace(release, note=f"unknown: {why}", hint=cluster.hint)
            workloads = replace(workloads, note=f"unknown: {why}", hint=cluster.hint)
            plan = _result(planned)
        else:
            kubeconfig = Path(cluster.kubeconfig)
            listed = pool.submit(_workloads_status, state, spec.name, spec.namespace, kubeconfig)
            plan = _result(planned)
            release, deployed = _release_status(state, plan, kubeconfig)
            workloads = listed.result()
    if isinstance(plan, EnvctlError):
        note = f"unknown: the plan failed: {plan.message}"
        return StatusReport(cluster, release, workloads, (), note, plan.hint, plan.exit_code)
    from envctl.pipeline import deployed_services

    services = deployed_services(plan, config.services)
    images = tuple(_image_status(plan, service, services, release, deployed) for service in plan.services)
    return StatusReport(cluster, release, workloads, images)


def _result(planned: Future[Plan]) -> Plan | EnvctlError:
    """The plan, or the error that stopped it (a broken Dockerfile must not hide the cluster)."""
    try:
        return planned.result()
    except EnvctlError as exc:
        return exc


def _cluster_status(state: AppState) -> ClusterStatus:
    spec = state.config.cluster
    if spec.provider == "existing":
        return _shared_cluster_status(state)
    try:
        found = state.k3d.get(spec.name)
    except EnvctlError as exc:
        return ClusterStatus(spec.name, "unknown", note=f"cannot list clusters: {exc.message}", hint=exc.hint,
                             error_code=exc.exit_code or ExitCode.CLUSTER)  # fmt: skip
    if found is None:
        return ClusterStatus(spec.name, "absent", note="no cluster: it does not exist",
                             hint="run `envctl up` to create it")  # fmt: skip
    nodes = tuple(NodeStatus(n.name, n.role, n.running) for n in found.nodes if n.role in ("server", "agent"))
    differences = spec_drift(found, spec)
    kubeconfig = state.workspace.kubeconfig
    known = ClusterStatus(spec.name, "running", nodes, "differs" if differences else "matches", differences)
    if not found.running:
        return replace(known, state="stopped", note="cluster not running (stopped)", hint="run `envctl up` to start it")
    if not kubeconfig.is_file():
        return replace(
            known,
            note=f"no kubeconfig at {kubeconfig}",
            hint="run `envctl up` (it writes the workspace kubeconfig)",
            error_code=ExitCode.CLUSTER,
        )
    return replace(known, kubeconfig=str(kubeconfig))


def _shared_cluster_status(state: AppState) -> ClusterStatus:
    """An existing cluster: does its API answer through the user's kubeconfig (only read)?"""
    from envctl.phases.existing_cluster import api_version

    try:
        target = state.kube_target()
        version = api_version(state.kube(target.kubeconfig), target.describe())
    except EnvctlError as exc:
        name = state.config.cluster.context or "existing"
        return ClusterStatus(name, "unknown", note=exc.message, hint=exc.hint, error_code=exc.exit_code)
    return ClusterStatus(
        target.context or "current-context", "running", spec="matches", kubeconfig=str(target.kubeconfig),
        note=f"existing cluster {target.describe()}, {version}",
    )  # fmt: skip


def _deploy_refs(plan: Plan, services: dict[str, Injection], deployed: dict[str, str]) -> dict[str, str]:
    """The ref per deployed service a deploy would use now. Where the deployed tag is the plan's,
    the deployed ref is kept (a registry-mode load deploys `<registry>/<repository>`)."""
    refs: dict[str, str] = {}
    for service in plan.services:
        if service.name not in services:
            continue
        old = deployed.get(service.name)
        if old is not None and compare_image(service.name, service.ref, split_tag(old), local=None).state == "current":
            refs[service.name] = old
        else:
            refs[service.name] = service.ref
    return {**{name: ref for name, ref in deployed.items() if name in services}, **refs}


def _release_status(
    state: AppState, plan: Plan | EnvctlError, kubeconfig: Path
) -> tuple[ReleaseStatus, dict[str, str] | None]:
    from envctl.adapters.helm import classify, run_sync
    from envctl.phases.release_render import deployed_refs, render_release
    from envctl.pipeline import deployed_services

    config, spec = state.config, state.release_spec()
    base = ReleaseStatus(spec.name, spec.namespace, "unknown")
    # Without a plan there are no images to compare the deployed refs with: only `helm status` is read.
    services = {} if isinstance(plan, EnvctlError) else deployed_services(plan, config.services)

    async def read() -> tuple[ReleaseState | None, dict[str, str] | None]:
        current = await helm.current(spec.name, spec.namespace)
        if current is None or not services:
            return current, None
        return current, await deployed_refs(helm, spec, services, list(services), revision=current.revision)

    try:
        # One attempt: status reports the state now instead of retrying transient failures.
        helm = state.helm(kubeconfig, attempts=1)
        current, values = run_sync(read())
    except EnvctlError as exc:
        # A transient helm failure (connection refused, API 5xx) means the cluster does not answer.
        unreachable = (
            isinstance(exc, DeployError) and exc.__cause__ and classify(exc.__cause__) == "transient"
        )
        code = ExitCode.CLUSTER if unreachable else exc.exit_code
        return replace(base, note=f"unknown: {exc.message}", hint=exc.hint, error_code=code), None
    if current is None:
        return replace(base, state="not-installed", note=f"not installed in namespace {spec.namespace}",
                       hint="run `envctl up` to deploy it"), None  # fmt: skip
    release = replace(
        base, state="installed", revision=current.revision, status=current.status, last_deployed=current.last_deployed
    )
    stored = input_hash_of(current.description)
    values = values or {}
    if isinstance(plan, EnvctlError):
        return replace(release, deployed_hash=stored, note="inputs unknown: the plan failed"), values
    refs = _deploy_refs(plan, services, values)
    try:
        chart = state.workspace.resolve(spec.chart)
        if not (chart / "Chart.yaml").is_file():
            return replace(release, note=f"inputs unknown: no Helm chart at {chart}"), values
        files = [state.workspace.resolve(p) for p in spec.values]
        now = run_sync(render_release(helm, spec, chart, files, refs=refs, services=services)).input_hash
    except EnvctlError as exc:
        return replace(
            release, deployed_hash=stored, note=f"inputs unknown: {exc.message}", hint=exc.hint
        ), values
    same = stored == now and current.status == "deployed"
    note = "" if stored else "not deployed by envctl (no input hash)"
    return replace(release, inputs="current" if same else "changed", deployed_hash=stored, input_hash=now,
                   note=note), values  # fmt: skip


def _workloads_status(state: AppState, release: str, namespace: str, kubeconfig: Path) -> WorkloadsStatus:
    from kubernetes.config import ConfigException

    from envctl.phases.release_list import api_failure, first_line, list_release
    from envctl.workloads.rules import pod_problems, pod_summary, release_selector
    from envctl.workloads.wire import name

    try:
        api = state.kube(kubeconfig)
    except ConfigException as exc:
        note, hint = f"unknown: unreadable kubeconfig {kubeconfig}: {exc}", "rerun `envctl up` to rewrite it"
        return WorkloadsStatus("unknown", note=note, hint=hint, error_code=ExitCode.CLUSTER)
    except EnvctlError as exc:
        return WorkloadsStatus(
            "unknown", note=f"unknown: {exc.message}", hint=exc.hint, error_code=exc.exit_code
        )
    try:
        view = list_release(api, namespace, release, timeout=10)
    except Exception as exc:
        if not api_failure(exc):
            raise
        return WorkloadsStatus("unknown", note=f"unknown: the API did not answer ({first_line(exc)})",
                               hint="check the cluster with `envctl doctor`", error_code=ExitCode.CLUSTER)  # fmt: skip
    finally:
        api.close()
    items = []
    for status in view.workloads():
        problem = ""
        if not status.ready:
            pods = view.pods_of(view.objects[status.kind][status.name])
            bad = next((p for pod in pods for p in pod_problems(pod)), None)
            if bad is not None:
                problem = f"{bad.pod}: {bad.reason}" + (f" ({bad.message})" if bad.message else "")
            elif pods:
                problem = "; ".join(f"{name(pod)}: {pod_summary(pod)}" for pod in pods)
        items.append(
            WorkloadState(status.kind, status.name, status.ready, status.failed, status.summary, problem)
        )
    note = "" if items else f"no workloads labelled {release_selector(release)} in namespace {namespace}"
    return WorkloadsStatus("known", tuple(items), note=note)


def _image_status(
    plan: Plan, service: ServicePlan, services: dict[str, Injection], release: ReleaseStatus,
    deployed: dict[str, str] | None,
) -> ImageStatus:  # fmt: skip
    local = (not service.changed) if plan.local_images_checked else None
    if service.name not in services:
        return ImageStatus(
            service.name,
            service.ref,
            "build-only",
            None,
            local,
            "built only (a base image others build FROM, or inject: none): not deployed",
        )
    if release.state == "not-installed":
        return ImageStatus(service.name, service.ref, "not-deployed", None, local, "release not installed")
    if release.state != "installed":
        return ImageStatus(
            service.name, service.ref, "unknown", None, local, release.note or "release unknown"
        )
    ref = (deployed or {}).get(service.name)
    return compare_image(service.name, service.ref, None if ref is None else split_tag(ref), local=local)
