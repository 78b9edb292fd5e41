"""Build phase: make one service's fingerprint-tagged image exist locally, as the plan decided.

The plan already knows what exists (local images, cache-registry tags) and says per service:
``skip`` → the image is present locally, nothing to do ("present"); ``pull`` → the cache registry
holds the fingerprint tag, pull and tag it ("pulled"); ``build`` → build it ("built") with
BuildKit (buildx, or the classic path of a pre-23 client) or the Engine API's legacy builder. A
build never tags the ref until it succeeded (``--iidfile``, then tag), so a failed or cancelled
build leaves no ref that the next run would mistake for a finished image.

One image per call: the scheduler runs builds concurrently (``--jobs``), each after the services
it builds FROM.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from functools import partial
from pathlib import Path
from typing import Literal

from envctl import __version__
from envctl.adapters import buildkit, buildkit_secrets
from envctl.adapters.docker import DockerEngine, ImageFacts
from envctl.adapters.process import SubprocessRunner
from envctl.adapters.registry import RegistryClient
from envctl.config import BuildSettings
from envctl.errors import BuildError, BuildFailed, BuildFailure, BuildStepFailure, ToolMissingError
from envctl.plan import REDACTED, ServicePlan
from envctl.progress import Progress
from envctl.results import BuiltImage
from envctl.timing.spans import Recorder

__all__ = ["BuildOptions", "BuiltImage", "ImageBuilder"]

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
    # Only these services' images are pushed here (None: all). On a shared cluster the load phase
    # pushes what is deployed (its own span); the build phase pushes only the rest, e.g. a base image
    # others build FROM, so another runner can pull it instead of building it.
    push_only: frozenset[str] | None = None
    builder: str | None = None  # build.builder: a named buildx builder (`--builder NAME`)
    # build.secrets: id -> ("env", VAR) or ("file", path as configured; relative to the workspace)
    secrets: buildkit_secrets.SecretSources = field(default_factory=dict)
    timeout: float | None = None  # timeouts.build: seconds one build may run before it is stopped

    @classmethod
    def from_config(
        cls,
        settings: BuildSettings,
        *,
        docker_cli: str,
        cache_from: Sequence[str] | None = None,
        cache_to: Sequence[str] | None = None,
        cache_registry: str | None = None,
        layout_refs: frozenset[str] = frozenset(),
        timeout: float | None = None,
    ) -> BuildOptions:
        """The config's build settings; flags given on the command line win."""
        return cls(
            docker_cli=docker_cli,
            backend=settings.backend,
            network=settings.network,
            cache_from=tuple(settings.cache_from if cache_from is None else cache_from),
            cache_to=tuple(settings.cache_to if cache_to is None else cache_to),
            cache_registry=cache_registry or settings.cache_registry,
            push=settings.push,
            builder=settings.builder,
            layout_refs=layout_refs,
            secrets={
                key: ("env", source.env) if source.env is not None else ("file", source.file or "")
                for key, source in settings.secrets.items()
            },
            timeout=timeout,
        )


class ImageBuilder:
    """Builds, pulls or finds one image per call; safe to call from the scheduler's threads."""

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
    def backend(self) -> Backend:
        """The build backend, chosen once per run from what the docker CLI can do."""
        with self._lock:
            if self._backend is None:
                self._backend = self._choose_backend()
            return self._backend

    def build(self, service: ServicePlan, dependency_args: Mapping[str, str]) -> BuiltImage:
        """Do what the plan decided for ``service``; ``dependency_args`` point its ``FROM ${ARG}``
        at the images it builds FROM (``plan.dependency_build_args``)."""
        if service.action == "skip":
            return self._present(service)
        if service.action == "pull":
            return self._pull(service)
        return self._build(service, dependency_args)

    def pull(self, ref: str) -> BuiltImage:
        """A third-party image from ``images:`` in envctl.yaml: pulled only when absent locally."""
        facts = self._docker.inspect(ref)
        if facts is not None:
            return BuiltImage(ref, ref, facts.image_id, facts.size, "present", "local", 0.0)
        started = time.monotonic()
        with self._recorder.span(f"pull {ref}", "pull", reason="absent locally"):
            self._progress.step(ref, "pulling (absent locally)")
            self._docker.pull(ref, lambda line: self._progress.detail(ref, line))
        facts = self._docker.inspect(ref)
        if facts is None:
            msg = f"{ref} is still absent after pulling it"
            raise BuildError(msg, hint="check the image name and that the registry serves it")
        return BuiltImage(ref, ref, facts.image_id, facts.size, "pulled", "registry", time.monotonic() - started)

    def _present(self, service: ServicePlan) -> BuiltImage:
        name, ref = service.name, service.ref
        if service.found_in == "registry":
            return self._in_cluster_registry(service)
        with self._recorder.span(f"build {name}", "build", service=name, backend="local") as span:
            facts = self._docker.inspect(ref)
            if facts is None:
                msg = f"the plan skipped {name} ({service.reason}), but {ref} is not in the local Docker engine"
                hint = "rerun without --changed-only to build it, or run `envctl up` again (it re-plans)"
                raise BuildError(msg, hint=hint)
            span.skip("image present locally")
            span.set(cache_hit=True, image_size=facts.size)
        self._progress.step(name, f"up to date ({ref} exists locally)")
        return BuiltImage(name, ref, facts.image_id, facts.size, "present", "local", 0.0)

    def _in_cluster_registry(self, service: ServicePlan) -> BuiltImage:
        """The plan found the image in the registry the cluster pulls from: nothing moves; the
        registry's manifest says which image it is (its config digest is Docker's image ID)."""
        name, registry = service.name, self._options.cache_registry
        with self._recorder.span(f"build {name}", "build", service=name, backend="registry") as span:
            held = RegistryClient(registry).manifest(service.image, service.tag) if registry else None
            if held is None:
                msg = f"the plan skipped {name} ({service.reason}), but {registry} no longer serves {service.ref}"
                raise BuildError(msg, hint="run `envctl up` again: it re-plans and builds what is missing")
            span.skip("image in the cluster's registry")
            span.set(cache_hit=True, image_size=held.size)
        self._progress.step(name, f"up to date ({service.ref} is in {registry})")
        return BuiltImage(name, service.ref, held.config_digest, held.size, "present", "registry", 0.0)

    def _pull(self, service: ServicePlan) -> BuiltImage:
        name, registry = service.name, self._options.cache_registry
        if not registry:
            msg = f"the plan pulls {name} from a cache registry, but none is configured"
            raise BuildError(msg, hint="set build.cache_registry in envctl.yaml or pass --cache-registry")
        cached = f"{registry}/{service.image}:{service.tag}"
        started = time.monotonic()
        with self._recorder.span(f"pull {name}", "pull", service=name, reason="fingerprint tag in cache registry"):
            self._progress.step(name, f"pulling {cached} (built elsewhere with the same inputs)")
            self._docker.pull(cached, lambda line: self._progress.detail(name, line))
            self._docker.tag(cached, service.ref)
        facts = self._facts(service.ref)
        seconds = time.monotonic() - started
        self._progress.step(name, f"pulled in {seconds:.1f} s")
        return BuiltImage(name, service.ref, facts.image_id, facts.size, "pulled", "registry", seconds)

    def _build(self, service: ServicePlan, dependency_args: Mapping[str, str]) -> BuiltImage:
        name = service.name
        started = time.monotonic()
        backend = self.backend
        labels = {
            "dev.envctl.service": name,
            "dev.envctl.fingerprint": service.fingerprint,
            "dev.envctl.version": __version__,
        }
        with self._recorder.span(f"build {name}", "build", service=name, backend=backend,
                                 reason=service.reason) as span:  # fmt: skip
            self._progress.step(name, f"building with {backend} ({service.reason})")
            image_id, log = self._run_backend(service, dependency_args, labels, backend)
            # Only now, after success, does the fingerprint ref point at the image.
            self._docker.tag(image_id, service.ref)
            facts = self._facts(service.ref)
            hits, steps = _cache_stats(backend, log)
            # The names and meanings timing/analysis.py reads: any hit at all, and the counts.
            span.set(cache_hit=hits > 0, cache_hits=hits, cache_steps=steps, image_size=facts.size)
            pushed_to = self._push(service) if self._pushes(service.name) else None
        seconds = time.monotonic() - started
        self._progress.step(name, f"built in {seconds:.1f} s (cache {hits}/{steps} steps)")
        return BuiltImage(name, service.ref, facts.image_id, facts.size, "built", backend, seconds,
                          hits, steps, pushed_to)  # fmt: skip

    def _run_backend(
        self,
        service: ServicePlan,
        dependency_args: Mapping[str, str],
        labels: Mapping[str, str],
        backend: Backend,
    ) -> tuple[str, list[str]]:
        """(image ID, build log); a failure becomes ``BuildFailed`` naming service, step and log tail.

        Every line shown or kept has the values of secret build args and env secrets masked."""
        context, dockerfile = self._root / service.context, self._root / service.dockerfile
        secrets = buildkit_secrets.secret_refs(self._options.secrets, self._root, self._runner.env)
        mask = buildkit_secrets.masker(self._secret_values(service), REDACTED)
        progress = partial(self._progress.detail, service.name)

        def on_line(line: str) -> None:
            progress(mask(line))

        args = {**service.build_args, **dependency_args}
        try:
            if backend == "engine":
                return self._docker.build(
                    context=context,
                    dockerfile=dockerfile,
                    build_args=args,
                    labels=labels,
                    target=service.target,
                    network=self._options.network,
                    on_line=on_line,
                    timeout=self._options.timeout,
                    stoppable=self._runner.stoppable,  # an interruption stops it as it stops a child
                )
            request = buildkit.BuildRequest(
                context=str(context),
                dockerfile=str(dockerfile),
                build_args=dependency_args,
                env_args=service.build_args,
                secrets=secrets,
                labels=labels,
                target=service.target,
                network=self._options.network,
                cache_from=self._options.cache_from,
                cache_to=self._options.cache_to,
                cache_scope=service.name,  # one cache per service (adapters/buildkit_cache.py)
                builder=self._options.builder,
            )
            if backend == "buildkit-buildx":  # a container builder gets FROM images as OCI layouts
                layouts = self._dependency_layouts()
                request = replace(
                    request,
                    contexts=layouts.contexts(dependency_args.values()),
                    oci_layout=layouts.export_dir(service.ref),
                )
            flavor: buildkit.BuildkitFlavor = "buildx" if backend == "buildkit-buildx" else "classic"
            return buildkit.run_build(
                self._runner, flavor, self._options.docker_cli, request, cwd=str(self._root), on_line=on_line,
                timeout=self._options.timeout,
            )
        except BuildStepFailure as exc:
            tail = tuple(mask(line) for line in exc.log[-LOG_TAIL:])
            raise BuildFailed(BuildFailure(service.name, mask(exc.step), mask(exc.message), tail)) from None

    def _secret_values(self, service: ServicePlan) -> list[str]:
        """What the build output must never show: non-public build arg values, env secrets' values."""
        values = [value for key, value in service.build_args.items() if key not in service.public_args]
        values += [self._runner.env.get(source, "") for kind, source in self._options.secrets.values() if kind == "env"]
        return values

    def _pushes(self, name: str) -> bool:
        options = self._options
        chosen = options.push_only is None or name in options.push_only
        return bool(options.push and options.cache_registry and chosen)

    def _push(self, service: ServicePlan) -> str:
        target = f"{self._options.cache_registry}/{service.image}:{service.tag}"
        self._docker.tag(service.ref, target)
        self._docker.push(target, lambda line: self._progress.detail(service.name, line))
        return target

    def _facts(self, ref: str) -> ImageFacts:
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
        backend = self._pick_backend()
        if backend == "engine" and self._options.secrets:  # refused: never built without its secrets
            msg = "build.secrets needs BuildKit, and this build would run on the legacy builder (Engine API)"
            hint = "use a docker client with BuildKit (buildx, or 20.10) and build.backend auto, or drop build.secrets"
            raise ToolMissingError(msg, hint=hint)
        return backend

    def _pick_backend(self) -> Backend:
        wanted = self._options.backend
        flavor = buildkit.detect_flavor(self._runner, self._options.docker_cli) if wanted != "engine" else None
        if self._options.builder and flavor != "buildx":  # refused, never silently built elsewhere
            raise buildkit.builder_needs_buildx(self._options.builder)
        if wanted == "engine":
            return "engine"
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
