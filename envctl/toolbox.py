"""The composition root: the only place that reads the environment, creates clients and binds phases.

Commands ask an ``AppState`` for the workspace, config and tools they need. Every tool is made on
first use, once per invocation, under a lock (the scheduler's threads may ask at the same time),
so ``envctl plan`` never imports the docker or kubernetes clients. The environment overrides
every verb honours are read here and only here (``Overrides``; README "Environment").
"""

from __future__ import annotations

import dataclasses
import os
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar, cast

from envctl.config import CONFIG_FILE, EnvConfig, ReleaseSpec, load_config
from envctl.errors import ConfigError

if TYPE_CHECKING:
    from kubernetes.client import ApiClient

    from envctl.adapters.containerd import ContainerdNodes
    from envctl.adapters.docker import DockerEngine
    from envctl.adapters.git import Git
    from envctl.adapters.helm import Helm
    from envctl.adapters.k3d import K3d
    from envctl.adapters.process import SubprocessRunner
    from envctl.adapters.registry import RegistryClient
    from envctl.facts_cache import FactsCache
    from envctl.image_check import Injection
    from envctl.kube_target import KubeTarget
    from envctl.naming import NameFacts
    from envctl.ownership import Owner
    from envctl.phases.protocols import Phases
    from envctl.pipeline import UpOptions
    from envctl.plan import Plan
    from envctl.progress import Progress
    from envctl.timing.spans import Recorder
    from envctl.workspace_identity import ReleaseTarget

__all__ = ["AppState", "Overrides", "Workspace", "find_config"]

STATE_DIR = ".envctl"
T = TypeVar("T")


def find_config(start: Path) -> Path | None:
    """The nearest envctl.yaml at or above ``start``."""
    for folder in (start, *start.parents):
        candidate = folder / CONFIG_FILE
        if candidate.is_file():
            return candidate
    return None


@dataclass(frozen=True)
class Workspace:
    """Where a workspace lives: its root (the config's folder) and envctl's state folder in it."""

    root: Path
    config_path: Path

    @property
    def state_dir(self) -> Path:
        return self.root / STATE_DIR

    @property
    def runs_dir(self) -> Path:
        return self.state_dir / "runs"

    @property
    def kubeconfig(self) -> Path:
        return self.state_dir / "kubeconfig"

    @property
    def cache_dir(self) -> Path:
        """Facts kept across runs (facts_cache.py); removing the folder only costs time."""
        return self.state_dir / "cache"

    def resolve(self, relative: str) -> Path:
        return (self.root / relative).resolve()


@dataclass(frozen=True)
class Overrides:
    """The environment variables envctl reads (README "Environment"), for every verb alike.

    ``ENVCTL_K3D``: the k3d executable (default ``k3d`` on PATH). ``ENVCTL_DOCKER``: the docker
    client for builds, ``docker save``/``exec`` and the plan's image list (default ``docker``;
    ``build.docker_cli`` in envctl.yaml wins). ``DOCKER_HOST`` is read by the docker adapter,
    ``CI`` marks runs as CI runs, ``GITHUB_OUTPUT``/``GITHUB_STEP_SUMMARY`` receive CI outputs.
    ``HELM_DRIVER``: helm's release storage; envctl reads release records from the cluster itself
    only for helm's default ``secret`` driver, and asks helm for any other.
    """

    k3d: str = "k3d"
    docker: str | None = None
    ci: bool = False
    helm_driver: str = "secret"

    @classmethod
    def from_environ(cls, environ: dict[str, str]) -> Overrides:
        return cls(
            k3d=environ.get("ENVCTL_K3D") or "k3d",
            docker=environ.get("ENVCTL_DOCKER") or None,
            ci=environ.get("CI", "").lower() in ("1", "true", "yes"),
            helm_driver=(environ.get("HELM_DRIVER") or "secret").lower(),
        )


class _RenderStore:
    """The helm adapter's RenderCache over the workspace's facts cache: the last few renders in one
    entry (a deploy renders at most twice: plain, then through the post-renderer), so the folder
    does not grow with every edit."""

    _NAME, _KEPT = "helm-templates", 4

    def __init__(self, facts: FactsCache) -> None:
        self._facts = facts
        self._lock = threading.Lock()

    def _entries(self) -> list[tuple[str, str]]:
        kept = self._facts.get(self._NAME, "renders") or {}
        entries = kept.get("entries")
        if not isinstance(entries, list):
            return []
        return [
            (e["key"], e["manifest"]) for e in entries
            if isinstance(e, dict) and isinstance(e.get("key"), str) and isinstance(e.get("manifest"), str)
        ]  # fmt: skip

    def get(self, key: str) -> str | None:
        with self._lock:
            return next((manifest for k, manifest in self._entries() if k == key), None)

    def put(self, key: str, manifest: str) -> None:
        with self._lock:
            kept = [(key, manifest), *(e for e in self._entries() if e[0] != key)][: self._KEPT]
            self._facts.put(self._NAME, "renders", {"entries": [{"key": k, "manifest": m} for k, m in kept]})


@dataclass
class AppState:
    """Global options plus lazily made tools, shared by the commands of one invocation."""

    config_path: Path | None = None
    verbose: bool = False
    # --namespace / --context of the running command (shared clusters); None: envctl.yaml decides.
    namespace: str | None = None
    context: str | None = None
    environ: dict[str, str] = field(default_factory=lambda: dict(os.environ))
    cwd: Path = field(default_factory=Path.cwd)
    _made: dict[str, object] = field(default_factory=dict, init=False, repr=False)
    _lock: threading.RLock = field(default_factory=threading.RLock, init=False, repr=False)

    def _once(self, key: str, make: Callable[[], T]) -> T:
        """``make()`` on first use, then the same object; re-entrant (a factory may use another)."""
        with self._lock:
            if key not in self._made:
                self._made[key] = make()
            return cast("T", self._made[key])  # stored by this key's factory only

    # --- the workspace ---------------------------------------------------------------------------
    @property
    def workspace(self) -> Workspace:
        return self._once("workspace", self._find_workspace)

    def _find_workspace(self) -> Workspace:
        if self.config_path is not None:
            path = self.config_path if self.config_path.is_absolute() else self.cwd / self.config_path
            if not path.is_file():
                msg = f"{self.config_path}: no such config file"
                raise ConfigError(msg, hint="pass the path of an existing envctl.yaml to --config")
        else:
            found = find_config(self.cwd)
            if found is None:
                msg = f"no {CONFIG_FILE} in {self.cwd} or its parent folders"
                raise ConfigError(msg, hint="run `envctl init` in the workspace root, or pass --config PATH")
            path = found
        path = path.resolve()
        return Workspace(root=path.parent, config_path=path)

    @property
    def config(self) -> EnvConfig:
        return self._once("config", lambda: load_config(self.workspace.config_path))

    @property
    def overrides(self) -> Overrides:
        return self._once("overrides", lambda: Overrides.from_environ(self.environ))

    # --- tools -----------------------------------------------------------------------------------
    @property
    def runner(self) -> SubprocessRunner:
        def make() -> SubprocessRunner:
            from envctl.adapters.process import SubprocessRunner

            log = None
            if self.verbose:
                from envctl import output

                log = output.debug
            return SubprocessRunner(self.environ, log=log)

        return self._once("runner", make)

    @property
    def docker_cli(self) -> str:
        """The docker client for builds, saves, `docker exec` and the plan's image list."""
        try:
            configured = self.config.build.docker_cli
        except ConfigError:
            configured = None  # outside a workspace (doctor): the environment and PATH decide
        return configured or self.overrides.docker or "docker"

    @property
    def docker(self) -> DockerEngine:
        def make() -> DockerEngine:
            from envctl.adapters.docker import DockerEngine
            from envctl.config import parse_duration

            # a whole registry pull or push is bounded as a load is (timeouts.load), and stopped with the run
            limit = parse_duration(self.config.timeouts.load)
            return DockerEngine(self.environ, transfer_timeout=limit, stoppable=self.runner.stoppable)

        return self._once("docker", make)

    @property
    def k3d(self) -> K3d:
        def make() -> K3d:
            from envctl.adapters.k3d import K3d

            return K3d(self.runner, self.overrides.k3d)

        return self._once("k3d", make)

    @property
    def git(self) -> Git:
        """git in the workspace root."""

        def make() -> Git:
            from envctl.adapters.git import Git

            return Git(self.runner, self.workspace.root)

        return self._once("git", make)

    @property
    def containerd(self) -> ContainerdNodes:
        def make() -> ContainerdNodes:
            from envctl.adapters.containerd import ContainerdNodes
            from envctl.config import parse_duration

            limit = parse_duration(self.config.timeouts.load)
            return ContainerdNodes(self.runner, self.docker_cli, import_timeout=limit)

        return self._once("containerd", make)

    def registry(self, address: str) -> RegistryClient:
        """A client of the registry at ``address`` (host:port)."""
        from envctl.adapters.registry import RegistryClient

        return self._once(f"registry:{address}", lambda: RegistryClient(address))

    def helm(
        self,
        kubeconfig: Path,
        *,
        progress: Progress | None = None,
        attempts: int = 4,
        context: str | None = None,
        create_namespace: bool = True,
    ) -> Helm:
        """Helm for the cluster of ``kubeconfig`` (a new client: pyhelm3 binds it to one kubeconfig)."""
        from envctl.adapters.helm import Helm
        from envctl.adapters.helm_storage import SecretRecords
        from envctl.config import parse_duration
        from envctl.facts_cache import FactsCache
        from envctl.progress import NullProgress

        context = context or self._shared_context(kubeconfig)

        def get_json(path: str, query: Mapping[str, str]) -> Any:
            from envctl.adapters.kube import get_json

            client = self.kube(kubeconfig, context=context)
            try:
                return get_json(client, path, query)
            finally:
                client.close()

        secret_driver = self.overrides.helm_driver in ("secret", "secrets")
        return Helm.open(
            self.runner, kubeconfig, timeout=self.config.release.timeout, progress=progress or NullProgress(),
            attempts=attempts, context=context, create_namespace=create_namespace,
            call_timeout=parse_duration(self.config.timeouts.helm),
            records=SecretRecords(get_json) if secret_driver else None,
            renders=_RenderStore(FactsCache(self.workspace.cache_dir)),
        )  # fmt: skip

    def kube(self, kubeconfig: Path, *, context: str | None = None) -> ApiClient:
        """A Kubernetes API client for ``kubeconfig`` (a new one: the caller closes it); on a shared
        cluster its context defaults to the configured one (``--context``, else ``cluster.context``)."""
        from envctl.adapters.kube import connect

        return connect(kubeconfig, context=context or self._shared_context(kubeconfig))

    def _shared_context(self, kubeconfig: Path) -> str | None:
        if self.config.cluster.provider != "existing":
            return None
        target = self.kube_target()
        return target.context if kubeconfig == target.kubeconfig else None

    # --- shared clusters: where the API is, what the release is called, who owns it ---------------
    def kube_target(self, context: str | None = None) -> KubeTarget:
        """The cluster API of this workspace (k3d's own kubeconfig, or the user's, only read)."""
        from envctl.kube_target import resolve_kube_target

        ws = self.workspace
        chosen = context or self.context
        return resolve_kube_target(self.config, ws.root, ws.kubeconfig, self.environ, context=chosen)

    def release_spec(self, namespace: str | None = None) -> ReleaseSpec:
        """``release`` with this run's rendered names (and a shared cluster's pull secret)."""
        return _rendered_release(self.config, self.release_target(namespace or self.namespace))

    def release_target(self, namespace: str | None = None) -> ReleaseTarget:
        """``release.name``/``namespace`` with their placeholders filled in (``--namespace`` wins)."""
        from envctl.workspace_identity import resolve_release

        return resolve_release(self.config.release, self.name_facts, namespace=namespace)

    @property
    def name_facts(self) -> NameFacts:
        """Branch, pull request, user and workspace of this run (CI variables first, then git)."""

        def make() -> NameFacts:
            from envctl.adapters.git import Git
            from envctl.workspace_identity import name_facts, workspace_id

            repo = Git(self.runner, self.workspace.root)
            _commit, branch = repo.head()
            return name_facts(self.environ, branch, workspace_id(repo.remote_url(), self.workspace.root.name))

        return self._once("name_facts", make)

    @property
    def shared_registry(self) -> str | None:
        """The registry a shared cluster pulls from (its tags are what the plan asks), else None."""
        registry = self.config.cluster.registry
        return registry.use if self.config.cluster.provider == "existing" and registry is not None else None

    def owner(self, release: ReleaseTarget) -> Owner:
        from envctl.ownership import Owner

        facts = self.name_facts
        return Owner(workspace=facts.workspace or self.workspace.root.name, release=release.name, branch=facts.branch,
                     pr=facts.pr)  # fmt: skip

    # --- what commands compute -------------------------------------------------------------------
    def plan(
        self,
        *,
        base: str | None = None,
        changed_only: bool = False,
        selected: tuple[str, ...] | None = None,
        cache_registry: str | None = None,
    ) -> Plan:
        """The workspace's plan (pure decisions over one read of git, the local images and the cache registry)."""
        from envctl.facts_cache import FactsCache
        from envctl.planning import plan_workspace

        registry = cache_registry or self.config.build.cache_registry or self.shared_registry
        return plan_workspace(
            self.config,
            self.workspace.root,
            self.workspace.config_path,
            self.runner,
            docker_cli=self.docker_cli,
            cache_registry=registry,
            base=base,
            changed_only=changed_only,
            selected=selected,
            registry_serves_cluster=registry is not None and registry == self.shared_registry,
            scan_cache=FactsCache(self.workspace.cache_dir),
        )

    def up_phases(
        self,
        plan: Plan,
        options: UpOptions,
        *,
        deployed: Mapping[str, Injection],
        recorder: Recorder,
        progress: Progress,
        cancel_event: threading.Event,
        cache_from: tuple[str, ...] | None = None,
        cache_to: tuple[str, ...] | None = None,
        cache_registry: str | None = None,
        release: ReleaseTarget | None = None,
        target: KubeTarget | None = None,
    ) -> Phases:
        """The phases of `up`, each bound to the tools made here (``deployed``: the services the
        release runs, as the run's tasks were made for them; ``release``: the rendered names,
        ``target``: the cluster API, as the command resolved them from its flags)."""
        from envctl.adapters.containerd import Node
        from envctl.adapters.k3d import K3S_CONTAINERD_SOCKET
        from envctl.config import parse_duration
        from envctl.phases.build import BuildOptions, ImageBuilder
        from envctl.phases.cluster import ClusterEnsurer
        from envctl.phases.deploy import ImagePolicy, ReleaseDeployer
        from envctl.phases.load import ImageLoader
        from envctl.phases.protocols import ClusterPhase, Phases
        from envctl.phases.verify import ImageVerifier
        from envctl.phases.wait import PodWaiter

        config, workspace = self.config, self.workspace
        release = release or self.release_target()
        spec = _rendered_release(config, release)
        existing = config.cluster.provider == "existing"
        target = target or self.kube_target()
        context = target.context
        build_options = BuildOptions.from_config(
            config.build, docker_cli=self.docker_cli, cache_from=cache_from, cache_to=cache_to,
            cache_registry=cache_registry or self.shared_registry,
            layout_refs=plan.dependency_refs,  # a container buildx builder gets these as OCI layouts
            timeout=parse_duration(config.timeouts.build),
        )  # fmt: skip
        if existing:  # the shared registry is every runner's cache: images nothing deploys go there too
            undeployed = frozenset(name for name in config.services if name not in deployed)
            build_options = dataclasses.replace(build_options, push=True, push_only=undeployed)
        cluster: ClusterPhase
        if existing:
            from envctl.phases.existing_cluster import ExistingCluster

            cluster = ExistingCluster(
                target.kubeconfig, context, _shared_registry(config), connect=lambda p: self.kube(p, context=context),
                progress=progress, recorder=recorder,
            )  # fmt: skip
        else:
            from envctl.adapters.docker import labelled_containers
            from envctl.facts_cache import FactsCache

            label = f"k3d.cluster={config.cluster.name}"  # k3d labels every container of a cluster so
            cluster = ClusterEnsurer(
                config.cluster, workspace.kubeconfig, k3d=self.k3d, connect=self.kube, progress=progress,
                recorder=recorder, recreate=options.recreate, facts=FactsCache(workspace.cache_dir),
                containers=lambda: labelled_containers(self.runner, self.docker_cli, label),
            )  # fmt: skip
        return Phases(
            cluster=cluster,
            build=ImageBuilder(
                workspace_root=workspace.root,
                docker=self.docker,
                runner=self.runner,
                options=build_options,
                recorder=recorder,
                progress=progress,
            ),
            load=ImageLoader(
                # A shared cluster has no node containers to import into: its images go through the registry.
                "registry" if existing else options.load_mode,
                containerd=self.containerd,
                docker=self.docker,
                recorder=recorder,
                progress=progress,
                nodes_of=lambda info: [Node(name, ctr_address=K3S_CONTAINERD_SOCKET) for name in info.nodes],
            ),
            deploy=ReleaseDeployer(
                spec,
                workspace.resolve(config.release.chart),
                [workspace.resolve(path) for path in config.release.values],
                policy=ImagePolicy(deployed, tuple(config.images), strict=options.strict_images),
                helm=lambda kubeconfig: self.helm(
                    kubeconfig, progress=progress, context=context, create_namespace=not existing
                ),
                progress=progress,
                recorder=recorder,
            ),
            wait=PodWaiter(
                spec.namespace,
                spec.name,
                connect=lambda kubeconfig: self.kube(kubeconfig, context=context),
                timeout=options.timeout,
                recorder=recorder,
                progress=progress,
                cancel_event=cancel_event,
            ),
            verify=ImageVerifier(
                spec.namespace, spec.name, connect=lambda kubeconfig: self.kube(kubeconfig, context=context),
                recorder=recorder, progress=progress,
            ),
        )  # fmt: skip


def _shared_registry(config: EnvConfig) -> str:
    """``registry.use`` of a shared cluster (the config requires it with provider existing)."""
    registry = config.cluster.registry
    if registry is None or not registry.use:
        msg = "provider: existing needs cluster.registry.use"
        raise ConfigError(msg, hint="set cluster.registry.use: HOST:PORT in envctl.yaml")
    return registry.use


def _rendered_release(config: EnvConfig, release: ReleaseTarget) -> ReleaseSpec:
    """The release spec with this run's names, and a shared cluster's pull secret for the chart
    (top-level ``imagePullSecrets``, the convention of `helm create` charts)."""
    update: dict[str, object] = {"name": release.name, "namespace": release.namespace}
    registry = config.cluster.registry
    if config.cluster.provider == "existing" and registry is not None and registry.pull_secret:
        update["set"] = {**config.release.set, "imagePullSecrets": [{"name": registry.pull_secret}]}
    return config.release.model_copy(update=update)
