"""Build phase: make each service's fingerprint-tagged image exist locally, doing the least work.

Per service, in order of cost: the ref already exists locally → nothing ("present"); the cache
registry holds the fingerprint tag → pull it ("pulled"); otherwise build it ("built") with BuildKit
(buildx, or the classic path of a pre-23 client) or the Engine API's legacy builder. A build never
tags the ref until it succeeded (``--iidfile``, then tag), so a failed or cancelled build leaves no
ref that the next run would mistake for a finished image.

``build_images`` runs services concurrently (``jobs``), a dependency before its dependents;
``ImageBuilder.build_one`` is the per-service step for callers that schedule builds themselves.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, replace
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from envctl import __version__
from envctl.adapters import buildkit
from envctl.adapters.docker import BuildStepFailure, DockerEngine
from envctl.adapters.process import SubprocessRunner
from envctl.adapters.registry import RegistryClient
from envctl.errors import BuildError, DaemonUnavailableError
from envctl.progress import Progress
from envctl.timing.spans import Recorder, Span

if TYPE_CHECKING:
    from envctl.config import BuildSettings
    from envctl.plan import ServicePlan

__all__ = ["BuildFailed", "BuildFailure", "BuildOptions", "BuiltImage", "ImageBuilder", "build_images"]

Backend = Literal["buildkit-buildx", "buildkit-classic", "engine"]
LOG_TAIL = 15


@dataclass(frozen=True)
class BuildOptions:
    docker_cli: str = "docker"
    backend: Literal["auto", "buildkit", "engine"] = "auto"
    network: str | None = None  # RUN steps' network; "none" where the engine has no bridge
    cache_from: tuple[str, ...] = ()
    cache_to: tuple[str, ...] = ()
    cache_registry: str | None = None  # host:port holding fingerprint tags to pull / push
    push: bool = False  # push freshly built images to cache_registry
    layout_refs: frozenset[str] = frozenset()  # refs other planned builds are FROM (buildkit.DependencyLayouts)
    jobs: int | None = None  # concurrent builds; None = CPU count
    keep_going: bool = False

    @classmethod
    def from_config(cls, settings: BuildSettings, *, docker_cli: str, **overrides: object) -> BuildOptions:
        base = cls(
            docker_cli=docker_cli,
            backend=settings.backend,
            network=settings.network,
            cache_from=tuple(settings.cache_from),
            cache_to=tuple(settings.cache_to),
            cache_registry=settings.cache_registry,
            push=settings.push,
            jobs=settings.jobs,
        )
        return replace(base, **overrides)  # type: ignore[arg-type] - e.g. jobs=, keep_going= from flags


@dataclass(frozen=True)
class BuiltImage:
    service: str
    ref: str
    image_id: str
    size: int
    action: Literal["built", "pulled", "present"]
    backend: str  # the build backend, "registry" for a pull, "local" when already present
    seconds: float
    cache_hits: int | None = None  # BuildKit/legacy steps served from cache, when the log says
    cache_steps: int | None = None
    pushed_to: str | None = None


@dataclass(frozen=True)
class BuildFailure:
    service: str
    step: str
    error: str
    log_tail: tuple[str, ...]


class BuildFailed(BuildError):
    """One or more builds failed; ``built`` holds what did finish (with --keep-going)."""

    def __init__(self, failures: Sequence[BuildFailure], built: Sequence[BuiltImage]) -> None:
        first = failures[0]
        more = f" (and {len(failures) - 1} more failed)" if len(failures) > 1 else ""
        tail = "\n".join(f"  | {line}" for line in first.log_tail)
        msg = f"build of {first.service} failed at step {first.step}: {first.error}{more}\n{tail}"
        super().__init__(msg, hint=f"fix that step in {first.service}'s Dockerfile, or rerun with --verbose")
        self.failures = tuple(failures)
        self.built = tuple(built)


class ImageBuilder:
    """Builds, pulls or finds one service image at a time; safe to call from several threads."""

    def __init__(
        self,
        *,
        workspace_root: Path,
        docker: DockerEngine,
        runner: SubprocessRunner,
        options: BuildOptions,
        recorder: Recorder,
        progress: Progress,
    ) -> None:
        self._root = workspace_root
        self._docker = docker
        self._runner = runner
        self._options = options
        self._recorder = recorder
        self._progress = progress
        self._backend: Backend | None = None
        self._layouts: buildkit.DependencyLayouts | None = None
        self._lock = threading.Lock()

    @property
    def recorder(self) -> Recorder:
        return self._recorder

    @property
    def backend(self) -> Backend:
        """The build backend, chosen once per run from what the docker CLI can do."""
        with self._lock:
            if self._backend is None:
                self._backend = self._choose_backend()
            return self._backend

    def build_one(self, service: ServicePlan, extra_args: Mapping[str, str] | None = None) -> BuiltImage:
        name, ref = service.name, service.ref
        started = time.monotonic()
        facts = self._docker.inspect(ref)
        if facts is not None:
            with self._recorder.span(f"build {name}", "build", service=name, backend="local") as span:
                span.skip("image present locally")
                span.set(cache_hit=True, image_size=facts.size)
            self._progress.step(name, f"up to date ({ref} exists locally)")
            return BuiltImage(name, ref, facts.image_id, facts.size, "present", "local", 0.0)
        cached = self._cached_ref(service)
        if cached is not None:
            return self._pull(service, cached, started)
        return self._build(service, dict(extra_args or {}), started)

    def pull_third_party(self, refs: Sequence[str]) -> list[BuiltImage]:
        """Images from ``images:`` in envctl.yaml: pulled only when absent locally."""
        pulled = []
        for ref in refs:
            facts = self._docker.inspect(ref)
            if facts is None:
                started = time.monotonic()
                with self._recorder.span(f"pull {ref}", "pull", reason="absent locally"):
                    self._progress.step(ref, "pulling (absent locally)")
                    self._docker.pull(ref, lambda line, r=ref: self._progress.detail(r, line))
                facts = self._docker.inspect(ref)
                if facts is None:
                    msg = f"{ref} is still absent after pulling it"
                    raise BuildError(msg, hint="check the image name and that the registry serves it")
                pulled.append(BuiltImage(ref, ref, facts.image_id, facts.size, "pulled", "registry",
                                         time.monotonic() - started))  # fmt: skip
            else:
                pulled.append(BuiltImage(ref, ref, facts.image_id, facts.size, "present", "local", 0.0))
        return pulled

    def _cached_ref(self, service: ServicePlan) -> str | None:
        registry = self._options.cache_registry
        if not registry:
            return None
        try:
            found = RegistryClient(registry).manifest(service.image, service.tag)
        except DaemonUnavailableError as exc:
            self._progress.step(service.name, f"cache registry unusable, building instead: {exc.message}")
            return None
        return f"{registry}/{service.image}:{service.tag}" if found is not None else None

    def _pull(self, service: ServicePlan, cached: str, started: float) -> BuiltImage:
        name = service.name
        with self._recorder.span(f"pull {name}", "pull", service=name, reason="fingerprint tag in cache registry"):
            self._progress.step(name, f"pulling {cached} (built elsewhere with the same inputs)")
            self._docker.pull(cached, lambda line: self._progress.detail(name, line))
            self._docker.tag(cached, service.ref)
        facts = self._facts(service.ref)
        seconds = time.monotonic() - started
        self._progress.step(name, f"pulled in {seconds:.1f} s")
        return BuiltImage(name, service.ref, facts.image_id, facts.size, "pulled", "registry", seconds)

    def _build(self, service: ServicePlan, extra_args: dict[str, str], started: float) -> BuiltImage:
        name = service.name
        backend = self.backend
        labels = {
            "dev.envctl.service": name,
            "dev.envctl.fingerprint": service.fingerprint,
            "dev.envctl.version": __version__,
        }
        args = {**service.build_args, **extra_args}
        with self._recorder.span(f"build {name}", "build", service=name, backend=backend,
                                 reason=service.reason) as span:  # fmt: skip
            self._progress.step(name, f"building with {backend} ({service.reason})")
            image_id, log = self._run_backend(service, args, labels, backend, tuple(extra_args.values()))
            # Only now, after success, does the fingerprint ref point at the image.
            self._docker.tag(image_id, service.ref)
            facts = self._facts(service.ref)
            hits, steps = _cache_stats(backend, log)
            # The names and meanings timing/analysis.py reads: any hit at all, and the counts.
            span.set(cache_hit=hits > 0, cache_hits=hits, cache_steps=steps, image_size=facts.size)
            pushed_to = self._push(service) if self._options.push and self._options.cache_registry else None
        seconds = time.monotonic() - started
        self._progress.step(name, f"built in {seconds:.1f} s (cache {hits}/{steps} steps)")
        return BuiltImage(name, service.ref, facts.image_id, facts.size, "built", backend, seconds,
                          hits, steps, pushed_to)  # fmt: skip

    def _run_backend(
        self,
        service: ServicePlan,
        args: Mapping[str, str],
        labels: Mapping[str, str],
        backend: Backend,
        dependency_refs: tuple[str, ...] = (),
    ) -> tuple[str, list[str]]:
        """(image ID, build log); a failure becomes ``BuildFailed`` naming service, step and log tail."""
        context, dockerfile = self._root / service.context, self._root / service.dockerfile
        on_line = partial(self._progress.detail, service.name)
        try:
            if backend == "engine":
                log: list[str] = []
                image_id = self._docker.build(
                    context=context,
                    dockerfile=dockerfile,
                    build_args=args,
                    labels=labels,
                    target=service.target,
                    network=self._options.network,
                    on_line=lambda line: (log.append(line), on_line(line)),
                )
                return image_id, log
            request = buildkit.BuildRequest(
                context=str(context),
                dockerfile=str(dockerfile),
                build_args=args,
                labels=labels,
                target=service.target,
                network=self._options.network,
                cache_from=self._options.cache_from,
                cache_to=self._options.cache_to,
                cache_scope=service.name,  # one cache per service (adapters/buildkit_cache.py)
            )
            if backend == "buildkit-buildx":  # a container builder gets FROM images as OCI layouts
                layouts = self._dependency_layouts()
                request = replace(request, contexts=layouts.contexts(dependency_refs),
                                  oci_layout=layouts.export_dir(service.ref))  # fmt: skip
            flavor: buildkit.BuildkitFlavor = "buildx" if backend == "buildkit-buildx" else "classic"
            return buildkit.run_build(
                self._runner, flavor, self._options.docker_cli, request, cwd=str(self._root), on_line=on_line
            )
        except BuildStepFailure as exc:
            failure = BuildFailure(service.name, exc.step, exc.message, tuple(exc.log[-LOG_TAIL:]))
            raise BuildFailed([failure], []) from exc

    def _push(self, service: ServicePlan) -> str:
        target = f"{self._options.cache_registry}/{service.image}:{service.tag}"
        self._docker.tag(service.ref, target)
        self._docker.push(target, lambda line: self._progress.detail(service.name, line))
        return target

    def _facts(self, ref: str):
        facts = self._docker.inspect(ref)
        if facts is None:
            msg = f"{ref} is missing right after it was made"
            raise BuildError(msg, hint="another process removed it; rerun envctl")
        return facts

    def _dependency_layouts(self) -> buildkit.DependencyLayouts:
        with self._lock:
            if self._layouts is None:
                driver = buildkit.detect_driver(self._runner, self._options.docker_cli)
                root = self._root / ".envctl" / "oci"
                self._layouts = buildkit.DependencyLayouts(root, driver, self._options.layout_refs)
            return self._layouts

    def _choose_backend(self) -> Backend:
        wanted = self._options.backend
        if wanted == "engine":
            return "engine"
        flavor = buildkit.detect_flavor(self._runner, self._options.docker_cli)
        if flavor is not None:
            return "buildkit-buildx" if flavor == "buildx" else "buildkit-classic"
        if wanted == "buildkit":
            msg = f"`{self._options.docker_cli}` offers no BuildKit (no buildx plugin, client ≥ 23)"
            raise BuildError(msg, hint="install the buildx plugin, or set build.backend: engine")
        return "engine"


def _cache_stats(backend: Backend, log: Sequence[str]) -> tuple[int, int]:
    if backend == "engine":
        steps = sum(1 for line in log if line.startswith("Step ") and " : FROM " not in line)
        return sum(1 for line in log if "Using cache" in line), steps
    return buildkit.cache_stats(log)


def build_images(
    services: Sequence[ServicePlan],
    *,
    builder: ImageBuilder,
    jobs: int | None = None,
    keep_going: bool = False,
) -> list[BuiltImage]:
    """Make every service image exist, ``jobs`` at a time, each after the services it depends on.

    A service's ``dependency_args`` (``FROM ${ARG}`` → dependency service) become build args
    holding the dependency's fingerprint ref, as ``plan.dependency_build_args`` computes. A failure
    stops new builds (unless ``keep_going``); services depending on a failed one never start.
    Raises ``BuildFailed`` at the end, carrying what was built.
    """
    by_name = {s.name: s for s in services}
    waiting = dict(by_name)
    built: dict[str, BuiltImage] = {}
    failures: list[BuildFailure] = []
    broken: set[str] = set()  # failed, or depending on something that failed
    running: dict[Future[BuiltImage], str] = {}
    limit = jobs or os.cpu_count() or 2
    with ThreadPoolExecutor(max_workers=limit, thread_name_prefix="build") as pool:
        while waiting or running:
            for name, service in list(waiting.items()):
                if len(running) >= limit:
                    break  # submit no more than can run, so a failure stops what has not started
                deps = [d for d in service.depends_on if d in by_name]
                if any(d in broken for d in deps):
                    broken.add(name)
                    del waiting[name]
                elif all(d in built for d in deps) and (keep_going or not failures):
                    del waiting[name]
                    extra = {arg: by_name[dep].ref for arg, dep in service.dependency_args.items() if dep in by_name}
                    running[pool.submit(builder.build_one, service, extra)] = name
            if not running:
                break  # the rest wait on failed builds, or we stopped after a failure
            done, _ = wait(running, return_when=FIRST_COMPLETED)
            for future in done:
                name = running.pop(future)
                try:
                    built[name] = future.result()
                except BuildFailed as exc:
                    failures.extend(exc.failures)
                    broken.add(name)
    never_started = [name for name in by_name if name not in built and name not in {f.service for f in failures}]
    for name in never_started:
        # Recorded so the timeline shows them, and never as built.
        now = builder.recorder.now()
        reason = "a dependency failed" if name in broken else "stopped after another build failed"
        builder.recorder.add(Span(f"build {name}", "build", now, now, "cancelled", name, {"reason": reason}))
    if failures:
        raise BuildFailed(failures, list(built.values()))
    return [built[s.name] for s in services]
