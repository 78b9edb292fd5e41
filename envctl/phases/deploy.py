"""The deploy phase: ``helm upgrade --install`` of the release, skipped when nothing it depends on changed.

First the release is rendered (``helm template``, through envctl's post-renderer for ``inject:
rewrite`` services: phases/release_render.py, shared with `envctl status`) and checked: every
deployed service's built ref must run in some rendered workload, else exit 2 before anything is
deployed, naming the image fields the chart does render (image_check.py). What is sent and the
input hash (chart files, values, refs, rendered manifests) come from that render. The hash is
stored on the release as its ``--description``, which ``helm status -o json`` returns in
``info.description``: a release whose latest revision is ``deployed`` with the same hash is left
alone. A release left ``pending-*`` by an interrupted run is recovered first (pyhelm3's
``get_proceedable_revision``). helm's ``--wait`` is never used: envctl's waiter watches the
workloads concurrently afterwards.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from envctl.adapters.helm import Helm, ReleaseState, run_sync
from envctl.config import ReleaseSpec
from envctl.errors import ImageNotRenderedError
from envctl.image_check import Injection
from envctl.phases.release_render import RenderedRelease, deployed_refs, render_release
from envctl.progress import Progress
from envctl.release import HASH_PREFIX, compute_input_hash, input_hash_of, lookup, make_values, merge_values
from envctl.results import ClusterInfo, DeployResult, ImageRef, RemoveResult
from envctl.timing.spans import Recorder

__all__ = [
    "HASH_PREFIX",
    "DeployResult",
    "ImagePolicy",
    "ReleaseDeployer",
    "RemoveResult",
    "compute_input_hash",
    "deploy_release",
    "deploy_release_async",
    "deployed_refs",
    "make_values",
    "merge_values",
    "remove_release",
]

HelmFactory = Callable[[Path], Helm]  # kubeconfig → a Helm for that cluster (the composition root's)


@dataclass(frozen=True)
class ImagePolicy:
    """How the deploy checks and injects images: each deployed service's injection, the third-party
    images ``images:`` lists, and whether an image in neither is an error (``--strict-images``)."""

    services: Mapping[str, Injection]
    third_party: tuple[str, ...] = ()
    strict: bool = False


class ReleaseDeployer:
    """The deploy phase of `up`: ``deploy(refs, cluster)`` installs, upgrades or skips the release.

    ``refs`` are by service; when they lack some deployed services (`up --services a,b` planned only
    a few), those keep the images the release runs now instead of the chart defaults.
    """

    def __init__(
        self,
        spec: ReleaseSpec,
        chart_dir: Path,
        values_files: Iterable[Path],
        *,
        policy: ImagePolicy,
        helm: HelmFactory,
        progress: Progress,
        recorder: Recorder,
    ) -> None:
        self._spec, self._chart_dir, self._values_files = spec, chart_dir, tuple(values_files)
        self._policy = policy
        self._helm, self._progress, self._recorder = helm, progress, recorder

    def deploy(self, refs: Mapping[str, str], cluster: ClusterInfo) -> DeployResult:
        helm = self._helm(cluster.kubeconfig)
        outside = [name for name in self._policy.services if name not in refs]
        if outside:
            refs = {**run_sync(deployed_refs(helm, self._spec, self._policy.services, outside)), **refs}
        return deploy_release(
            self._spec, self._chart_dir, self._values_files, refs, policy=self._policy,
            helm=helm, progress=self._progress, recorder=self._recorder,
        )  # fmt: skip


# --- the phase ----------------------------------------------------------------------------------
def deploy_release(
    release_spec: ReleaseSpec,
    chart_dir: Path,
    values_files: Iterable[Path],
    refs: Mapping[str, str],
    *,
    policy: ImagePolicy,
    helm: Helm,
    progress: Progress,
    recorder: Recorder,
    clock: Callable[[], float] = time.monotonic,
) -> DeployResult:
    """Check, then install, upgrade or skip the release (synchronous; for the scheduler's worker threads).

    ``refs``: service → the ref its workloads must run. The "deploy" span inherits the task's graph
    edges the scheduler binds on this thread.
    """
    job = deploy_release_async(
        release_spec, chart_dir, values_files, refs, policy=policy,
        helm=helm, progress=progress, recorder=recorder, clock=clock,
    )  # fmt: skip
    return run_sync(job)


async def deploy_release_async(
    release_spec: ReleaseSpec,
    chart_dir: Path,
    values_files: Iterable[Path],
    refs: Mapping[str, str],
    *,
    policy: ImagePolicy,
    helm: Helm,
    progress: Progress,
    recorder: Recorder,
    clock: Callable[[], float] = time.monotonic,
) -> DeployResult:
    started = clock()
    name, namespace = release_spec.name, release_spec.namespace
    with recorder.span(f"deploy {name}", "deploy", release=name, namespace=namespace) as span:
        with recorder.span(f"render {name}", "deploy", release=name) as render_span:
            rendered = await render_release(
                helm, release_spec, chart_dir, values_files, refs=refs, services=policy.services
            )
            _check(rendered, policy, name, progress)
            render_span.set(rewrite_rules=len(rendered.rules), images=len(rendered.images))
        input_hash = rendered.input_hash
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
            return DeployResult(name, namespace, current.revision, "skipped", reason, input_hash, clock() - started,
                                rendered.images)  # fmt: skip
        reason = await _why_deploy(helm, current, rendered.values_refs, input_hash)
        progress.step(name, f"{'upgrading' if current else 'installing'}: {reason}")
        deployed = await helm.install_or_upgrade(
            name, chart_dir, rendered.values, namespace=namespace, description=HASH_PREFIX + input_hash,
            post_render=rendered.post_render,
        )  # fmt: skip
        action: Literal["installed", "upgraded"] = "upgraded" if current is not None else "installed"
        seconds = clock() - started
        span.set(action=action, revision=deployed.revision, reason=reason)
        progress.step(name, f"{action} rev {deployed.revision} in {seconds:.1f} s")
        return DeployResult(name, namespace, deployed.revision, action, reason, input_hash, seconds, rendered.images)


def _check(rendered: RenderedRelease, policy: ImagePolicy, release: str, progress: Progress) -> None:
    """The pre-deploy image check: warnings go to progress, the first error stops the deploy."""
    findings = rendered.findings(policy.third_party, strict=policy.strict)
    for finding in findings:
        if finding.level == "warning":
            progress.step(release, f"warning: {finding.message}")
    errors = [finding for finding in findings if finding.level == "error"]
    if errors:
        first = errors[0]
        more = f" (and {len(errors) - 1} more: {', '.join(e.service or 'an image' for e in errors[1:])})"
        msg = first.message + (more if len(errors) > 1 else "")
        raise ImageNotRenderedError(msg, hint=first.hint)


async def _why_deploy(
    helm: Helm, current: ReleaseState | None, values_refs: Mapping[str, ImageRef], input_hash: str
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
    for path, (repository, tag) in sorted(values_refs.items()):
        old = lookup(deployed_values, path)
        if old.get("repository") != repository:
            changed.append(f"{path} {old.get('repository', '?')}:{old.get('tag', '?')} -> {repository}:{tag}")
        elif old.get("tag") != tag:
            changed.append(f"{path} tag {old.get('tag', '?')} -> {tag}")
    what = "; ".join(changed) if changed else "chart, values or rewritten images changed"
    return f"{what} (hash {old_hash[:12]} -> {input_hash[:12]})"


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
