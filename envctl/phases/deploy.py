"""The deploy phase: ``helm upgrade --install`` of the release, skipped when nothing it depends on changed.

What is sent and the input hash come from ``envctl.release`` (shared with `envctl status`). The
hash is stored on the release as its ``--description``, which ``helm status -o json`` returns in
``info.description``: a release whose latest revision is ``deployed`` with the same hash is left
alone. A release left ``pending-*`` by an interrupted run is recovered first (pyhelm3's
``get_proceedable_revision``). helm's ``--wait`` is never used: envctl's waiter watches the
workloads concurrently afterwards.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Literal

from envctl.adapters.helm import Helm, ReleaseState, run_sync
from envctl.config import ReleaseSpec
from envctl.errors import ConfigError
from envctl.progress import Progress
from envctl.release import (
    HASH_PREFIX,
    compute_input_hash,
    image_ref_at,
    input_hash_of,
    lookup,
    make_values,
    merge_values,
)
from envctl.results import ClusterInfo, DeployResult, ImageRef, RemoveResult
from envctl.timing.spans import Recorder

__all__ = [
    "HASH_PREFIX",
    "DeployResult",
    "ReleaseDeployer",
    "RemoveResult",
    "compute_input_hash",
    "deploy_release",
    "deploy_release_async",
    "deployed_image_refs",
    "make_values",
    "merge_values",
    "remove_release",
]

HelmFactory = Callable[[Path], Helm]  # kubeconfig → a Helm for that cluster (the composition root's)


class ReleaseDeployer:
    """The deploy phase of `up`: ``deploy(refs, cluster)`` installs, upgrades or skips the release.

    ``values_paths`` are every configured service's; when ``refs`` lacks some (`up --services a,b`
    planned only a few), those keep the images the release runs now instead of the chart defaults.
    """

    def __init__(
        self,
        spec: ReleaseSpec,
        chart_dir: Path,
        values_files: Iterable[Path],
        *,
        values_paths: Iterable[str],
        helm: HelmFactory,
        progress: Progress,
        recorder: Recorder,
    ) -> None:
        self._spec, self._chart_dir, self._values_files = spec, chart_dir, tuple(values_files)
        self._values_paths = tuple(values_paths)
        self._helm, self._progress, self._recorder = helm, progress, recorder

    def deploy(self, refs: Mapping[str, ImageRef], cluster: ClusterInfo) -> DeployResult:
        helm = self._helm(cluster.kubeconfig)
        outside = [path for path in self._values_paths if path not in refs]
        if outside:
            refs = {**run_sync(deployed_image_refs(helm, self._spec, outside)), **refs}
        return deploy_release(
            self._spec, self._chart_dir, self._values_files, refs,
            helm=helm, progress=self._progress, recorder=self._recorder,
        )  # fmt: skip


# --- the phase ----------------------------------------------------------------------------------
def deploy_release(
    release_spec: ReleaseSpec,
    chart_dir: Path,
    values_files: Iterable[Path],
    service_refs: Mapping[str, ImageRef],
    *,
    helm: Helm,
    progress: Progress,
    recorder: Recorder,
    clock: Callable[[], float] = time.monotonic,
) -> DeployResult:
    """Install, upgrade or skip the release (synchronous; for the scheduler's worker threads).

    The "deploy" span inherits the task's graph edges the scheduler binds on this thread.
    """
    return run_sync(
        deploy_release_async(
            release_spec,
            chart_dir,
            values_files,
            service_refs,
            helm=helm,
            progress=progress,
            recorder=recorder,
            clock=clock,
        )
    )


async def deploy_release_async(
    release_spec: ReleaseSpec,
    chart_dir: Path,
    values_files: Iterable[Path],
    service_refs: Mapping[str, ImageRef],
    *,
    helm: Helm,
    progress: Progress,
    recorder: Recorder,
    clock: Callable[[], float] = time.monotonic,
) -> DeployResult:
    started = clock()
    name, namespace = release_spec.name, release_spec.namespace
    with recorder.span(f"deploy {name}", "deploy", release=name, namespace=namespace) as span:
        if not (chart_dir / "Chart.yaml").is_file():
            msg = f"no Helm chart at {chart_dir} (no Chart.yaml)"
            raise ConfigError(msg, hint="fix release.chart in envctl.yaml (a chart folder, relative to the workspace)")
        values = make_values(values_files, release_spec.set, service_refs)
        input_hash = compute_input_hash(chart_dir, values, service_refs)
        span.set(input_hash=input_hash)
        current = await helm.current(name, namespace)
        if current is not None and current.pending:
            progress.step(name, f"release left {current.status} at rev {current.revision}; recovering first")
            with recorder.span(f"recover {name}", "deploy", release=name, status=current.status):
                current = await helm.recover(name, namespace)
        if current is not None and current.status == "deployed" and current.description == HASH_PREFIX + input_hash:
            reason = f"release {name} rev {current.revision} already has these inputs (hash {input_hash[:12]})"
            span.skip(reason)
            span.set(action="skipped", revision=current.revision)
            progress.step(name, f"skipped: {reason}")
            return DeployResult(name, namespace, current.revision, "skipped", reason, input_hash, clock() - started)
        reason = await _why_deploy(helm, current, service_refs, input_hash)
        progress.step(name, f"{'upgrading' if current else 'installing'}: {reason}")
        deployed = await helm.install_or_upgrade(
            name, chart_dir, values, namespace=namespace, description=HASH_PREFIX + input_hash
        )
        action: Literal["installed", "upgraded"] = "upgraded" if current is not None else "installed"
        seconds = clock() - started
        span.set(action=action, revision=deployed.revision, reason=reason)
        progress.step(name, f"{action} rev {deployed.revision} in {seconds:.1f} s")
        return DeployResult(name, namespace, deployed.revision, action, reason, input_hash, seconds)


async def _why_deploy(
    helm: Helm, current: ReleaseState | None, service_refs: Mapping[str, ImageRef], input_hash: str
) -> str:
    """The reason, in words, for installing or upgrading (names the images whose tag changed)."""
    if current is None:
        return "release not installed"
    if current.status != "deployed":
        return f"rev {current.revision} is {current.status}"
    if not current.description.startswith(HASH_PREFIX):
        return f"rev {current.revision} was not deployed by envctl (no input hash)"
    old_hash = input_hash_of(current.description) or ""
    deployed_values = await helm.values(current.name, current.namespace, current.revision)
    changed = []
    for path, (repository, tag) in sorted(service_refs.items()):
        old = lookup(deployed_values, path)
        if old.get("repository") != repository:
            changed.append(f"{path} {old.get('repository', '?')}:{old.get('tag', '?')} -> {repository}:{tag}")
        elif old.get("tag") != tag:
            changed.append(f"{path} tag {old.get('tag', '?')} -> {tag}")
    what = "; ".join(changed) if changed else "chart or values changed"
    return f"{what} (hash {old_hash[:12]} -> {input_hash[:12]})"


async def deployed_image_refs(
    helm: Helm, release_spec: ReleaseSpec, values_paths: Iterable[str]
) -> dict[str, ImageRef]:
    """The images the deployed release runs at ``values_paths`` (empty when it is not installed).

    `up --services a,b` deploys the other services with these, so a partial run never resets
    them to the chart's default images.
    """
    current = await helm.current(release_spec.name, release_spec.namespace)
    if current is None:
        return {}
    values = await helm.values(release_spec.name, release_spec.namespace, current.revision)
    return {path: ref for path in values_paths if (ref := image_ref_at(values, path)) is not None}


def remove_release(
    release_spec: ReleaseSpec,
    *,
    helm: Helm,
    progress: Progress,
    recorder: Recorder,
    clock: Callable[[], float] = time.monotonic,
) -> RemoveResult:
    """Uninstall the release; an absent release is not an error (the result says so)."""
    started = clock()
    name, namespace = release_spec.name, release_spec.namespace
    with recorder.span(f"uninstall {name}", "deploy", release=name, namespace=namespace) as span:
        removed = run_sync(helm.uninstall(name, namespace))
        if removed is None:
            span.skip("not installed")
            progress.step(name, f"release {name} is not installed in namespace {namespace}; nothing to uninstall")
            return RemoveResult(name, namespace, "not-installed", None, clock() - started)
        span.set(revision=removed.revision)
        progress.step(name, f"uninstalled release {name} (rev {removed.revision}) from namespace {namespace}")
        return RemoveResult(name, namespace, "uninstalled", removed.revision, clock() - started)
