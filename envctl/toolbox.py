"""The composition root: the only place that reads the environment, creates clients and binds phases.

Commands ask an ``AppState`` for the workspace, config and tools they need. Every tool is made on
first use, once per invocation, under a lock (the scheduler's threads may ask at the same time),
so ``envctl plan`` never imports the docker or kubernetes clients. The environment overrides
every verb honours are read here and only here (``Overrides``; README "Environment").
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar, cast

from envctl.config import CONFIG_FILE, EnvConfig, load_config
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
    from envctl.pipeline import Phases, UpOptions
    from envctl.plan import Plan
    from envctl.progress import Progress
    from envctl.timing.spans import Recorder

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

    def resolve(self, relative: str) -> Path:
        return (self.root / relative).resolve()


@dataclass(frozen=True)
class Overrides:
    """The environment variables envctl reads (README "Environment"), for every verb alike.

    ``ENVCTL_K3D``: the k3d executable (default ``k3d`` on PATH). ``ENVCTL_DOCKER``: the docker
    client for builds, ``docker save``/``exec`` and the plan's image list (default ``docker``;
    ``build.docker_cli`` in envctl.yaml wins). ``DOCKER_HOST`` is read by the docker adapter,
    ``CI`` marks runs as CI runs, ``GITHUB_OUTPUT``/``GITHUB_STEP_SUMMARY`` receive CI outputs.
    """

    k3d: str = "k3d"
    docker: str | None = None
    ci: bool = False

    @classmethod
    def from_environ(cls, environ: dict[str, str]) -> Overrides:
        return cls(
            k3d=environ.get("ENVCTL_K3D") or "k3d",
            docker=environ.get("ENVCTL_DOCKER") or None,
            ci=environ.get("CI", "").lower() in ("1", "true", "yes"),
        )


@dataclass
class AppState:
    """Global options plus lazily made tools, shared by the commands of one invocation."""

    config_path: Path | None = None
    verbose: bool = False
    environ: dict[str, str] = field(default_factory=lambda: dict(os.environ))
    cwd: Path = field(default_factory=Path.cwd)
    _made: dict[str, object] = field(default_factory=dict, init=False, repr=False)
    _lock: threading.RLock = field(default_factory=threading.RLock, init=False, repr=False)

    def _once(self, key: str, make: Callable[[], T]) -> T:
        """``make()`` on first use, then the same object; re-entrant (a factory may use another)."""
        with self._lock:
            if key not in self._made:
                self._made[key] = make()
            return cast(T, self._made[key])  # stored by this key's factory only

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

    @property
    def in_ci(self) -> bool:
        return self.overrides.ci

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

            return DockerEngine(self.environ)

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

            return ContainerdNodes(self.runner, self.docker_cli)

        return self._once("containerd", make)

    def registry(self, address: str) -> RegistryClient:
        """A client of the registry at ``address`` (host:port)."""
        from envctl.adapters.registry import RegistryClient

        return self._once(f"registry:{address}", lambda: RegistryClient(address))

    def helm(self, kubeconfig: Path, *, progress: Progress | None = None, attempts: int = 4) -> Helm:
        """Helm for the cluster of ``kubeconfig`` (a new client: pyhelm3 binds it to one kubeconfig)."""
        from envctl.adapters.helm import Helm
        from envctl.progress import NullProgress

        return Helm.open(
            self.runner, kubeconfig, timeout=self.config.release.timeout, progress=progress or NullProgress(),
            attempts=attempts,
        )  # fmt: skip

    def kube(self, kubeconfig: Path) -> ApiClient:
        """A Kubernetes API client for ``kubeconfig`` (a new one: the caller closes it)."""
        from envctl.adapters.kube import connect

        return connect(kubeconfig)

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
        from envctl.planning import plan_workspace

        return plan_workspace(
            self.config,
            self.workspace.root,
            self.workspace.config_path,
            self.runner,
            docker_cli=self.docker_cli,
            cache_registry=cache_registry or self.config.build.cache_registry,
            base=base,
            changed_only=changed_only,
            selected=selected,
        )

    def up_phases(
        self,
        plan: Plan,
        options: UpOptions,
        *,
        recorder: Recorder,
        progress: Progress,
        cancel_event: threading.Event,
        cache_from: tuple[str, ...] | None = None,
        cache_to: tuple[str, ...] | None = None,
        cache_registry: str | None = None,
    ) -> Phases:
        """The phases of `up`, each bound to the tools made here."""
        from envctl.adapters.containerd import Node
        from envctl.adapters.k3d import K3S_CONTAINERD_SOCKET
        from envctl.phases.build import BuildOptions, ImageBuilder
        from envctl.phases.cluster import ClusterEnsurer
        from envctl.phases.deploy import ReleaseDeployer
        from envctl.phases.load import ImageLoader
        from envctl.phases.wait import PodWaiter
        from envctl.pipeline import Phases

        config, workspace = self.config, self.workspace
        build_options = BuildOptions.from_config(
            config.build,
            docker_cli=self.docker_cli,
            cache_from=cache_from,
            cache_to=cache_to,
            cache_registry=cache_registry,
            layout_refs=plan.dependency_refs,  # a container buildx builder gets these as OCI layouts
        )
        return Phases(
            cluster=ClusterEnsurer(
                config.cluster,
                workspace.kubeconfig,
                k3d=self.k3d,
                connect=self.kube,
                progress=progress,
                recorder=recorder,
                recreate=options.recreate,
            ),
            build=ImageBuilder(
                workspace_root=workspace.root,
                docker=self.docker,
                runner=self.runner,
                options=build_options,
                recorder=recorder,
                progress=progress,
            ),
            load=ImageLoader(
                options.load_mode,
                containerd=self.containerd,
                docker=self.docker,
                recorder=recorder,
                progress=progress,
                nodes_of=lambda info: [Node(name, ctr_address=K3S_CONTAINERD_SOCKET) for name in info.nodes],
            ),
            deploy=ReleaseDeployer(
                config.release,
                workspace.resolve(config.release.chart),
                [workspace.resolve(path) for path in config.release.values],
                values_paths=[s.values_path for s in config.services.values() if s.values_path],
                helm=lambda kubeconfig: self.helm(kubeconfig, progress=progress),
                progress=progress,
                recorder=recorder,
            ),
            wait=PodWaiter(
                config.release.namespace,
                config.release.name,
                connect=self.kube,
                timeout=options.timeout,
                recorder=recorder,
                progress=progress,
                cancel_event=cancel_event,
            ),
        )
