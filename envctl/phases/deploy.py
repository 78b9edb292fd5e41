"""The deploy phase: ``helm upgrade --install`` of the release, skipped when nothing it depends on changed.

Values are merged here, not by pyhelm3 (whose merge concatenates lists): the values files in
order, then ``release.set`` (dotted paths), then every service's image ``repository``/``tag`` at
its ``values_path``. Maps merge key by key; anything else, lists included, is replaced by the
later layer - what helm itself does with several ``-f`` files.

Helm never skips a no-op upgrade (helm#8833) and helm-diff is slow (helm-diff#444), so envctl
hashes its inputs (the chart's files, the merged values, the injected image refs) and stores the
hash on the release as its ``--description`` (``envctl-input-hash=<hex>``), which
``helm status -o json`` returns in ``info.description``. A release whose latest revision is
``deployed`` with the same hash is left alone. A release left ``pending-*`` by an interrupted run
is recovered first (pyhelm3's ``get_proceedable_revision``). helm's ``--wait`` is never used:
envctl's waiter watches the workloads concurrently afterwards.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import yaml

from envctl.adapters.helm import Helm, ReleaseState, run_sync
from envctl.config import ReleaseSpec
from envctl.errors import ConfigError
from envctl.progress import Progress
from envctl.timing.spans import Recorder

__all__ = [
    "HASH_PREFIX",
    "DeployResult",
    "RemoveResult",
    "compute_input_hash",
    "deploy_release",
    "deploy_release_async",
    "make_values",
    "merge_values",
    "remove_release",
]

HASH_PREFIX = "envctl-input-hash="
ImageRef = tuple[str, str]  # (repository, tag)


@dataclass(frozen=True)
class DeployResult:
    release: str
    namespace: str
    revision: int
    action: Literal["installed", "upgraded", "skipped"]
    reason: str
    input_hash: str
    seconds: float


@dataclass(frozen=True)
class RemoveResult:
    release: str
    namespace: str
    action: Literal["uninstalled", "not-installed"]
    revision: int | None
    seconds: float


# --- values: pure -------------------------------------------------------------------------------
def merge_values(*layers: Mapping[str, Any]) -> dict[str, Any]:
    """Deep-merge value layers, later wins; maps merge, lists and scalars are replaced (as helm -f does)."""
    merged: dict[str, Any] = {}
    for layer in layers:
        merged = _merge_two(merged, layer)
    return merged


def _merge_two(base: Mapping[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in override.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = _merge_two(out[key], value)
        else:
            out[key] = _copy(value)
    return out


def _copy(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {k: _copy(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_copy(v) for v in value]
    return value


def _set_dotted(values: dict[str, Any], path: str, value: Any, *, origin: str) -> None:
    node = values
    parts = path.split(".")
    for depth, part in enumerate(parts[:-1]):
        child = node.setdefault(part, {})
        if not isinstance(child, dict):
            where = ".".join(parts[: depth + 1])
            msg = f"{origin} {path!r}: {where!r} is {type(child).__name__} {child!r} in the values, not a mapping"
            raise ConfigError(msg, hint=f"point {origin} at a key inside a mapping, or change the values file")
        node = child
    node[parts[-1]] = _copy(value)


def load_values_file(path: Path) -> dict[str, Any]:
    if not path.is_file():
        msg = f"values file {path} does not exist"
        raise ConfigError(msg, hint="fix release.values in envctl.yaml (paths are relative to the workspace root)")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        msg = f"values file {path}: malformed YAML: {str(exc).splitlines()[0]}"
        raise ConfigError(msg, hint="fix the YAML syntax of the values file") from exc
    if data is None:
        return {}
    if not isinstance(data, dict):
        msg = f"values file {path}: expected a mapping at the top level, got {type(data).__name__}"
        raise ConfigError(msg, hint="a values file is a YAML mapping of chart values")
    return data


def make_values(
    values_files: Iterable[Path], set_values: Mapping[str, Any], service_refs: Mapping[str, ImageRef]
) -> dict[str, Any]:
    """The one values dict sent to helm: files in order, then ``set``, then the image refs."""
    values = merge_values(*(load_values_file(path) for path in values_files))
    for path, value in set_values.items():
        _set_dotted(values, path, value, origin="release.set")
    for values_path, (repository, tag) in sorted(service_refs.items()):
        _set_dotted(values, f"{values_path}.repository", repository, origin="values_path")
        _set_dotted(values, f"{values_path}.tag", tag, origin="values_path")
    return values


def compute_input_hash(chart_dir: Path, values: Mapping[str, Any], service_refs: Mapping[str, ImageRef]) -> str:
    """SHA-256 over the chart's files (sorted by path, minus .helmignore), the values and the image refs."""
    import pathspec

    ignore_file = chart_dir / ".helmignore"
    ignored = pathspec.GitIgnoreSpec.from_lines(
        ignore_file.read_text(encoding="utf-8").splitlines() if ignore_file.is_file() else []
    )
    digest = hashlib.sha256()
    files = sorted(p for p in chart_dir.rglob("*") if p.is_file())
    for path in files:
        relative = path.relative_to(chart_dir).as_posix()
        if ignored.match_file(relative):
            continue
        digest.update(b"file\0" + relative.encode() + b"\0")
        digest.update(hashlib.sha256(path.read_bytes()).digest())
    digest.update(b"values\0" + json.dumps(values, sort_keys=True, separators=(",", ":"), default=str).encode())
    refs = sorted((path, repo, tag) for path, (repo, tag) in service_refs.items())
    digest.update(b"refs\0" + json.dumps(refs).encode())
    return digest.hexdigest()


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
    span_attrs: Mapping[str, Any] | None = None,
    clock: Callable[[], float] = time.monotonic,
) -> DeployResult:
    """Install, upgrade or skip the release (synchronous; for the scheduler's worker threads).

    ``span_attrs`` are added to the "deploy" span (e.g. the scheduler's ``ctx.edge_attrs``).
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
            span_attrs=span_attrs,
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
    span_attrs: Mapping[str, Any] | None = None,
    clock: Callable[[], float] = time.monotonic,
) -> DeployResult:
    started = clock()
    name, namespace = release_spec.name, release_spec.namespace
    attrs = {"release": name, "namespace": namespace, **(span_attrs or {})}
    with recorder.span(f"deploy {name}", "deploy", **attrs) as span:
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
    old_hash = current.description.removeprefix(HASH_PREFIX)
    deployed_values = await helm.values(current.name, current.namespace, current.revision)
    changed = []
    for path, (repository, tag) in sorted(service_refs.items()):
        old = _lookup(deployed_values, path)
        if old.get("repository") != repository:
            changed.append(f"{path} {old.get('repository', '?')}:{old.get('tag', '?')} -> {repository}:{tag}")
        elif old.get("tag") != tag:
            changed.append(f"{path} tag {old.get('tag', '?')} -> {tag}")
    what = "; ".join(changed) if changed else "chart or values changed"
    return f"{what} (hash {old_hash[:12]} -> {input_hash[:12]})"


def _lookup(values: Mapping[str, Any], dotted: str) -> dict[str, Any]:
    node: Any = values
    for part in dotted.split("."):
        node = node.get(part) if isinstance(node, Mapping) else None
    return dict(node) if isinstance(node, Mapping) else {}


def image_ref_at(values: Mapping[str, Any] | None, values_path: str) -> ImageRef | None:
    """The (repository, tag) a values tree holds at ``values_path``, if it holds a tag there."""
    node = _lookup(values or {}, values_path)
    return (str(node.get("repository", "")), str(node["tag"])) if "tag" in node else None


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
