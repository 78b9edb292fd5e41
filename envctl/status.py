"""`envctl status`, the report: cluster, release, workloads and image staleness (reading: status_read.py).

Nothing here creates, starts, builds, loads or deploys anything, and no run record is written: the
cluster is read from ``k3d cluster list -o json``, the release from ``helm status`` / ``helm get
values``, the workloads from one list per kind (no watches), judged by the waiter's own rules
(workloads/rules.py through ``ReleaseView``), and the images by comparing the plan's
fingerprint tags with the tags the release runs at each service's ``values_path``.

Each section degrades on its own and says why (``note``/``hint``); when a section could not be
read because of an error, it keeps that error's exit code, so the report's exit code says what is
most fundamentally wrong (exit codes: ``StatusReport.exit_code``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from envctl.errors import ExitCode
from envctl.results import ImageRef, split_tag

__all__ = [
    "ClusterStatus",
    "ImageStatus",
    "NodeStatus",
    "ReleaseStatus",
    "StatusReport",
    "WorkloadState",
    "WorkloadsStatus",
    "compare_image",
]

ClusterState = Literal["running", "stopped", "absent", "unknown"]
ImageState = Literal["current", "stale", "not-deployed", "build-only", "unknown"]


@dataclass(frozen=True)
class NodeStatus:
    name: str
    role: str
    running: bool


@dataclass(frozen=True)
class ClusterStatus:
    name: str
    state: ClusterState
    nodes: tuple[NodeStatus, ...] = ()
    spec: Literal["matches", "differs", "unknown"] = "unknown"
    differences: tuple[str, ...] = ()  # spec_differences() lines when the spec differs
    kubeconfig: str | None = None  # the workspace kubeconfig, when it exists
    note: str = ""
    hint: str | None = None
    error_code: int | None = None  # exit code of the error that kept this section unknown


@dataclass(frozen=True)
class ReleaseStatus:
    name: str
    namespace: str
    state: Literal["installed", "not-installed", "unknown"]
    revision: int | None = None
    status: str | None = None  # deployed, failed, pending-upgrade, ...
    last_deployed: str | None = None
    # Would `envctl up` skip the deploy? "current": the stored input hash equals what a deploy
    # would send now; "changed": it differs (or was not stored by envctl); "unknown": not computable.
    inputs: Literal["current", "changed", "unknown"] = "unknown"
    deployed_hash: str | None = None
    input_hash: str | None = None
    note: str = ""
    hint: str | None = None
    error_code: int | None = None


@dataclass(frozen=True)
class WorkloadState:
    kind: str
    name: str
    ready: bool
    failed: bool
    summary: str  # the waiter's words, e.g. "1/1 available, 1 updated"
    problem: str = ""  # the first bad pod state, e.g. "demo-api-1a2b: CrashLoopBackOff (...)"


@dataclass(frozen=True)
class WorkloadsStatus:
    state: Literal["known", "unknown"]
    items: tuple[WorkloadState, ...] = ()
    note: str = ""
    hint: str | None = None
    error_code: int | None = None

    @property
    def not_ready(self) -> tuple[WorkloadState, ...]:
        return tuple(w for w in self.items if not w.ready)


@dataclass(frozen=True)
class ImageStatus:
    service: str
    ref: str  # the plan's fingerprint ref (what `up` would deploy now)
    state: ImageState
    deployed: str | None = None  # repository:tag the release runs at values_path, if known
    local: bool | None = None  # whether the fingerprint image exists locally (None: not checked)
    detail: str = ""


@dataclass(frozen=True)
class StatusReport:
    cluster: ClusterStatus
    release: ReleaseStatus
    workloads: WorkloadsStatus
    images: tuple[ImageStatus, ...]
    images_note: str = ""  # why the images are not listed (the plan failed: e.g. a broken Dockerfile)
    images_hint: str | None = None
    images_error_code: int | None = None

    @property
    def stale(self) -> tuple[ImageStatus, ...]:
        return tuple(i for i in self.images if i.state in ("stale", "not-deployed"))

    @property
    def exit_code(self) -> int:
        """0 all current and ready; 8 the cluster is absent, stopped, unreachable or differs from
        envctl.yaml (`up` would refuse it without --recreate); 3 a tool is missing; 7 workloads not
        ready, images stale or the release's inputs changed. A section that could not be read
        because of an error keeps that error's code; the first such section (cluster, release,
        workloads) decides."""
        if self.cluster.state in ("absent", "stopped") or self.cluster.spec == "differs":
            return ExitCode.CLUSTER
        for code in (self.cluster.error_code, self.release.error_code, self.workloads.error_code):
            if code:
                return code
        if self.images_error_code:
            return self.images_error_code
        return ExitCode.NOT_READY if self.problems() else ExitCode.OK

    def problems(self) -> list[str]:
        """What keeps the environment from being up and current, in words (empty when it is)."""
        found: list[str] = []
        if self.cluster.state != "running":
            found.append(f"cluster {self.cluster.name} {self.cluster.state}")
        elif self.cluster.spec == "differs":
            found.append(f"cluster {self.cluster.name} differs from envctl.yaml")
        if self.release.state == "not-installed":
            found.append(f"release {self.release.name} not installed")
        elif self.release.state == "installed" and self.release.status != "deployed":
            found.append(f"release {self.release.name} is {self.release.status}")
        elif self.release.inputs == "changed":
            found.append(f"release {self.release.name} inputs changed since rev {self.release.revision}")
        if self.workloads.not_ready:
            names = ", ".join(f"{w.kind}/{w.name}" for w in self.workloads.not_ready)
            found.append(f"not ready: {names}")
        if self.stale:
            found.append(f"stale: {', '.join(i.service for i in self.stale)}")
        return found


def compare_image(service: str, ref: str, deployed: ImageRef | None, *, local: bool | None) -> ImageStatus:
    """Classify one service's image: the plan's fingerprint ``ref`` vs the deployed (repository, tag).

    A registry-mode deploy runs ``<registry>/<repository>:<tag>``: the repository matches when it is
    the plan's or ends with ``/<plan's repository>``.
    """
    repository, tag = split_tag(ref)
    if deployed is None:
        return ImageStatus(service, ref, "not-deployed", None, local, "the release sets no image here")
    deployed_repo, deployed_tag = deployed
    shown = f"{deployed_repo}:{deployed_tag}"
    same_repo = deployed_repo == repository or deployed_repo.endswith("/" + repository)
    if same_repo and deployed_tag == tag:
        return ImageStatus(service, ref, "current", shown, local, "")
    detail = f"deployed {shown}, inputs now {ref}" if not same_repo else f"deployed {deployed_tag}, inputs now {tag}"
    return ImageStatus(service, ref, "stale", shown, local, detail)
