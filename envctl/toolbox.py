"""The composition root: the only place that reads the environment and creates clients.

Commands ask an ``AppState`` for the workspace, config and tools they need; everything is
created lazily so ``envctl plan`` never imports the docker or kubernetes clients.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

from envctl.config import CONFIG_FILE, EnvConfig, load_config
from envctl.errors import ConfigError

__all__ = ["AppState", "Workspace", "find_config"]

STATE_DIR = ".envctl"


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


@dataclass
class AppState:
    """Global options plus lazily made tools, shared by the commands of one invocation."""

    config_path: Path | None = None
    verbose: bool = False
    environ: dict[str, str] = field(default_factory=lambda: dict(os.environ))
    cwd: Path = field(default_factory=Path.cwd)

    @cached_property
    def workspace(self) -> Workspace:
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

    @cached_property
    def config(self) -> EnvConfig:
        return load_config(self.workspace.config_path)

    @cached_property
    def runner(self):  # noqa: ANN201 - typed lazily to keep start-up imports small
        from envctl.adapters.process import SubprocessRunner

        return SubprocessRunner(self.environ)

    @cached_property
    def docker_cli(self) -> str:
        """The docker client for builds, saves and `docker exec` (a pre-23 one has classic BuildKit)."""
        return self.config.build.docker_cli or self.environ.get("ENVCTL_DOCKER") or "docker"

    @cached_property
    def docker(self):  # noqa: ANN201 - typed lazily: envctl plan must not import the docker SDK
        from envctl.adapters.docker import DockerEngine

        return DockerEngine(self.environ)

    def plan(
        self,
        *,
        base: str | None = None,
        changed_only: bool = False,
        selected: tuple[str, ...] | None = None,
    ):  # noqa: ANN201 - envctl.plan.Plan, imported lazily to keep `envctl --help` fast
        """The workspace's plan (pure decisions over one read of git and the local image list)."""
        from envctl.inputs.planning import plan_workspace

        return plan_workspace(
            self.config,
            self.workspace.root,
            self.workspace.config_path,
            self.runner,
            self.environ,
            base=base,
            changed_only=changed_only,
            selected=selected,
        )

    @property
    def in_ci(self) -> bool:
        return self.environ.get("CI", "").lower() in ("1", "true", "yes")
