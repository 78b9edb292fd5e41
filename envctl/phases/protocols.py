"""One Protocol per phase: what the graph (pipeline.py) calls, what the composition root binds.

Each phase handles one item per call and returns a typed, frozen result (results.py); the scheduler
is the only source of concurrency, so a phase never starts threads of its own.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from envctl.plan import ServicePlan
from envctl.results import BuiltImage, ClusterInfo, DeployedImage, DeployResult, LoadResult, RunningImages, WaitResult

__all__ = ["BuildPhase", "ClusterPhase", "DeployPhase", "LoadPhase", "Phases", "VerifyPhase", "WaitPhase"]


class ClusterPhase(Protocol):
    def ensure(self) -> ClusterInfo:
        """Create, start or reuse the cluster; ready to take images when it returns."""
        ...


class BuildPhase(Protocol):
    def build(self, service: ServicePlan, dependency_args: Mapping[str, str]) -> BuiltImage:
        """Make ``service``'s fingerprint image exist locally as its plan's action says."""
        ...

    def pull(self, ref: str) -> BuiltImage:
        """Make a third-party image exist locally (pulled only when absent)."""
        ...


class LoadPhase(Protocol):
    def load(self, image: BuiltImage, cluster: ClusterInfo) -> LoadResult:
        """Put ``image`` where every node of ``cluster`` can run it."""
        ...


class DeployPhase(Protocol):
    def deploy(self, refs: Mapping[str, str], cluster: ClusterInfo) -> DeployResult:
        """Install or upgrade the release with ``refs`` (service → the ref the chart must run), or skip it."""
        ...


class WaitPhase(Protocol):
    def wait(self, cluster: ClusterInfo) -> WaitResult:
        """Block until the release's workloads are ready; fail fast on known-bad states."""
        ...


class VerifyPhase(Protocol):
    def verify(self, images: Sequence[DeployedImage], cluster: ClusterInfo) -> RunningImages:
        """After the wait: the release's pods run ``images`` (the refs the deploy sent)."""
        ...


@dataclass(frozen=True)
class Phases:
    """The phases of one run, bound to their tools by the composition root (toolbox.py)."""

    cluster: ClusterPhase
    build: BuildPhase
    load: LoadPhase
    deploy: DeployPhase
    wait: WaitPhase
    verify: VerifyPhase
