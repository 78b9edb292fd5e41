"""The typed results the phases of `envctl up` hand to each other, to the run report and to views.

Each is a frozen dataclass of plain fields (``--output json`` prints them field by field), and
each phase returns exactly one of them for the one item it handled:

- cluster ``ensure() -> ClusterInfo``
- build ``build(service, dependency args) -> BuiltImage`` (and ``pull(ref) -> BuiltImage``)
- load ``load(BuiltImage, ClusterInfo) -> LoadResult``
- deploy ``deploy(refs, ClusterInfo) -> DeployResult``
- wait ``wait(ClusterInfo) -> WaitResult``
- verify ``verify(images, ClusterInfo) -> RunningImages``

Nothing here does I/O or imports another envctl module, so every layer may use these types.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Protocol

__all__ = [
    "BuiltImage",
    "ClusterAction",
    "ClusterInfo",
    "ClusterRegistry",
    "DeployResult",
    "DeployedImage",
    "EventLine",
    "ImageRef",
    "LoadResult",
    "LogSource",
    "NodeResult",
    "PodFailure",
    "ReadinessOutcome",
    "ReleaseRecord",
    "RemoveResult",
    "RunningImages",
    "WaitResult",
    "WorkloadReadiness",
    "split_tag",
]

ImageRef = tuple[str, str]  # (repository, tag), as a chart reads an image at its values_path
ClusterAction = Literal["reused", "started", "created", "recreated"]
ReadinessOutcome = Literal["ready", "failed", "not-ready", "cancelled"]
LogSource = Literal["previous", "current", "none"]


def split_tag(ref: str) -> ImageRef:
    """``"reg:5000/a/b:tag"`` → ``("reg:5000/a/b", "tag")``: split at the last colon, as the refs
    envctl writes (plan refs, ``repository:tag`` read back from values) always carry a tag. Unlike
    ``adapters.docker.split_ref``, a ref without one is not read as ``:latest``."""
    repository, _, tag = ref.rpartition(":")
    return repository, tag


@dataclass(frozen=True)
class ReleaseRecord:
    """One revision of a Helm release as helm stores it: what ``helm status``, ``helm get values``
    and ``helm get manifest`` print of it, read from the record itself."""

    name: str
    namespace: str
    revision: int
    status: str  # deployed, failed, pending-install, pending-upgrade, pending-rollback, ...
    description: str
    config: dict[str, object]  # the user-supplied values (``helm get values``)
    manifest: str  # the rendered manifests, hooks apart (``helm get manifest``)
    last_deployed: str | None


class ClusterRegistry(Protocol):
    """The cluster's registry, reached by two names (adapters/k3d.py's ``K3dRegistry`` is one)."""

    @property
    def push_address(self) -> str:
        """host:port this machine pushes to."""
        ...

    @property
    def cluster_address(self) -> str:
        """host:port the nodes pull from (what the chart must name)."""
        ...


@dataclass(frozen=True)
class ClusterInfo:
    name: str
    action: ClusterAction
    kubeconfig: Path
    nodes: tuple[str, ...]  # server and agent containers (where images go), not the load balancer
    registry: ClusterRegistry | None  # the cluster's registry (push and in-cluster addresses), or None
    fingerprint: str
    provider: Literal["k3d", "existing"] = "k3d"
    context: str | None = None  # provider existing: the kubeconfig context (None: its current one)


@dataclass(frozen=True)
class BuiltImage:
    service: str  # the service, or the image ref itself for a third-party image
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
class NodeResult:
    node: str  # the node container, or "registry:<address>" in registry mode
    outcome: Literal["present", "retagged", "imported", "pushed", "failed"]
    bytes_moved: int
    seconds: float
    error: str | None = None


@dataclass(frozen=True)
class LoadResult:
    service: str
    ref: str
    chart_ref: str  # the reference the chart must use for this image
    mode: Literal["import", "registry"]
    reason: str  # why this mode (auto says which facts decided)
    image_size: int
    nodes: tuple[NodeResult, ...]

    @property
    def bytes_moved(self) -> int:
        return sum(n.bytes_moved for n in self.nodes)

    @property
    def ok(self) -> bool:
        return all(n.outcome != "failed" for n in self.nodes)


@dataclass(frozen=True)
class DeployedImage:
    """A service the release runs, the ref it must run, and how its containers are recognised."""

    service: str
    ref: str  # the chart ref envctl built (and loaded) for it
    image: str  # the configured repository
    image_match: str = ""  # inject: rewrite's glob over a repository; "" = same last path segment


@dataclass(frozen=True)
class DeployResult:
    release: str
    namespace: str
    revision: int
    action: Literal["installed", "upgraded", "skipped"]
    reason: str
    input_hash: str
    seconds: float
    images: tuple[DeployedImage, ...] = ()  # what the pods must run (checked after the wait)


@dataclass(frozen=True)
class RunningImages:
    """After the wait: the release's pods run the images envctl built (checked containers counted)."""

    release: str
    namespace: str
    pods: int
    containers: int  # containers whose image belongs to a deployed service


@dataclass(frozen=True)
class RemoveResult:
    release: str
    namespace: str
    action: Literal["uninstalled", "not-installed"]
    revision: int | None
    seconds: float


@dataclass(frozen=True)
class WorkloadReadiness:
    kind: str
    name: str
    outcome: ReadinessOutcome
    ready_at: float | None  # seconds after the wait started; None if it never became ready
    state: str  # last observed state, e.g. "1/1 available, 1 updated"

    @property
    def label(self) -> str:
        return f"{self.kind}/{self.name}"


@dataclass(frozen=True)
class WaitResult:
    release: str
    namespace: str
    seconds: float
    workloads: tuple[WorkloadReadiness, ...]


@dataclass(frozen=True)
class EventLine:
    time: str | None  # ISO 8601, as the API reported it
    type: str  # Normal / Warning
    reason: str
    message: str
    count: int


@dataclass(frozen=True)
class PodFailure:
    """Why a release's pod will not become ready, with the evidence to fix it."""

    workload: str | None  # "Deployment/demo-api", when a workload of the release selects the pod
    pod: str | None  # None when a failed workload has no pod left to show
    container: str | None
    reason: str
    message: str
    restarts: int
    node: str | None
    image: str | None
    logs: tuple[str, ...]
    log_source: LogSource
    events: tuple[EventLine, ...]

    def headline(self) -> str:
        """One line naming pod, container and reason, e.g. for an error message."""
        if self.pod is None:
            where, owner = self.workload or "a workload", ""
        else:
            where = f"pod {self.pod}" + (f" container {self.container}" if self.container else "")
            owner = f" ({self.workload})" if self.workload else ""
        detail = f": {self.message}" if self.message else ""
        return f"{where}{owner} is {self.reason}{detail}"
