"""`ensure cluster`: reuse, start, create or (only when asked) recreate the k3d cluster.

The decision follows ctlptl's reconcile loop, minus its silent deletes (ctlptl#415): a running
cluster whose stored spec fingerprint matches is reused; a stopped one is started; one whose spec
differs is reported field by field and recreated only with ``recreate=True``. Readiness is then
checked through the API (every node Ready, CoreDNS available), because k3d's ``--wait`` returns
before the node is Ready (k3d#512).

With nothing changed, the k3d questions are skipped: the last run's facts (nodes, kubeconfig) are
kept in ``.envctl/cache/cluster.json`` under a key of the spec fingerprint, the kubeconfig's
content and the id, name and state of every container labelled with the cluster's name (one
``docker ps``; docs/tools.md, "k3d"). k3d makes new containers when it creates, recreates or adds a node, and a stopped
cluster's containers are not running, so any of those is a miss and the full path runs. The API
readiness check runs either way.

A create that does not finish (envctl interrupted, k3d killed or failing without its rollback)
can leave containers that k3d lists as a running cluster with no working k3s inside. So a marker
file, ``.envctl/cluster-create-<name>``, is written before ``k3d cluster create`` and removed once
it returns: a cluster found while the marker is still there is half-made, and is deleted and
created again instead of being reused (and waited on until the readiness deadline).
"""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from envctl.adapters.k3d import K3d
from envctl.adapters.kube import KubeConnect, api_failure, connect, read_cluster_health
from envctl.cluster_spec import cluster_fingerprint, spec_differences, spec_drift
from envctl.config import ClusterSpec
from envctl.errors import ClusterError
from envctl.facts_cache import FactsCache, digest
from envctl.progress import Progress
from envctl.results import ClusterAction, ClusterInfo
from envctl.timing.spans import Recorder

if TYPE_CHECKING:
    from kubernetes.client import ApiClient

__all__ = [
    "ClusterEnsurer",
    "ClusterInfo",
    "cluster_fingerprint",
    "ensure_cluster",
    "spec_differences",
    "spec_drift",
    "write_kubeconfig",
]

_SUBJECT = "cluster"
_CACHE = "cluster"

ListContainers = Callable[[], "tuple[str, ...] | None"]  # the cluster's containers (adapters.docker)


class ClusterEnsurer:
    """The cluster phase of `up`: ``ensure()`` the one cluster ``spec`` describes."""

    def __init__(
        self, spec: ClusterSpec, kubeconfig: Path, *, k3d: K3d, connect: KubeConnect, progress: Progress,
        recorder: Recorder, recreate: bool = False, facts: FactsCache | None = None,
        containers: ListContainers | None = None,
    ) -> None:  # fmt: skip
        self._spec, self._kubeconfig, self._k3d, self._connect = spec, kubeconfig, k3d, connect
        self._progress, self._recorder, self._recreate = progress, recorder, recreate
        self._facts, self._containers = facts, containers

    def ensure(self) -> ClusterInfo:
        return ensure_cluster(
            self._spec, self._kubeconfig, k3d=self._k3d, progress=self._progress, recorder=self._recorder,
            recreate=self._recreate, connect=self._connect, facts=self._facts, containers=self._containers,
        )  # fmt: skip


def ensure_cluster(
    spec: ClusterSpec,
    kubeconfig_path: Path,
    *,
    k3d: K3d,
    progress: Progress,
    recorder: Recorder,
    recreate: bool = False,
    ready_timeout: float = 120.0,
    poll_interval: float = 0.5,
    connect: KubeConnect = connect,
    facts: FactsCache | None = None,
    containers: ListContainers | None = None,
) -> ClusterInfo:
    """Make the cluster ``spec`` describes usable and write its kubeconfig to ``kubeconfig_path``.

    ``facts`` and ``containers`` (both or neither): reuse the last run's facts while the cluster's
    containers and kubeconfig are the ones they were read from (module docstring)."""
    fingerprint = cluster_fingerprint(spec)
    kept = _KeptFacts(facts, containers, spec, fingerprint, kubeconfig_path)
    unfinished = _CreateMarker(kubeconfig_path.parent, spec.name)
    if kept.enabled and not unfinished.present():
        reused = _reuse_kept(kept, spec, kubeconfig_path, connect=connect, progress=progress, recorder=recorder)
        if reused is not None:
            return reused
    with recorder.span("cluster list", "cluster") as listed:
        existing = k3d.get(spec.name)

    action: ClusterAction
    changes = spec_drift(existing, spec) if existing is not None else []
    if changes and not recreate and not unfinished.present():
        msg = f"cluster {spec.name!r} exists with a different spec: {'; '.join(changes)}"
        hint = "rerun with --recreate to delete and recreate it (its workloads are lost)"
        raise ClusterError(msg, hint=hint)
    if existing is None:
        action = "created"
        progress.step(_SUBJECT, f"creating {spec.name!r} ({spec.servers} server, {spec.agents} agent)")
    elif unfinished.present() or changes:
        action = "recreated"
        why = "create did not finish" if unfinished.present() else "spec changed"
        shown = "an earlier create of it did not finish" if unfinished.present() else "; ".join(changes)
        progress.step(_SUBJECT, f"recreating {spec.name!r}: {shown}")
        with recorder.span("cluster delete", "cluster", reason=why):
            k3d.delete(spec.name)
    elif not existing.running:
        action = "started"
        progress.step(_SUBJECT, f"starting stopped cluster {spec.name!r}")
        with recorder.span("cluster start", "cluster"):
            k3d.start(spec.name)
    else:
        action = "reused"
        progress.step(_SUBJECT, f"reusing running cluster {spec.name!r} (spec unchanged)")
    if action in ("created", "recreated"):
        with recorder.span("cluster create", "cluster", image=spec.image), unfinished:
            k3d.create(spec, fingerprint)
    # The decision goes on the span so `envctl timings` can tell a reuse from a create.
    listed.set(action=action, cluster=spec.name)

    cluster = existing if action == "reused" else k3d.get(spec.name)
    if cluster is None:
        msg = f"k3d reported success but cluster {spec.name!r} is not listed"
        raise ClusterError(msg, hint="run `k3d cluster list` to inspect; `envctl doctor` checks the set-up")

    with recorder.span("cluster kubeconfig", "cluster"):
        write_kubeconfig(kubeconfig_path, k3d.kubeconfig_get(spec.name))

    with recorder.span("cluster readiness", "cluster") as span:
        waited = _wait_until_ready(connect, kubeconfig_path, spec, ready_timeout, poll_interval)
        span.set(seconds_waited=round(waited, 3))
    progress.step(_SUBJECT, f"{spec.name!r} {action} and ready")
    info = ClusterInfo(
        name=spec.name,
        action=action,
        kubeconfig=kubeconfig_path,
        nodes=cluster.workload_nodes,
        registry=k3d.cluster_registry(spec.registry),
        fingerprint=fingerprint,
    )
    kept.store(info.nodes)
    return info


class _CreateMarker:
    """``with marker: k3d.create(...)``: the file exists from before the create until it returns;
    left behind by a create that raised or was interrupted (module docstring)."""

    def __init__(self, state_dir: Path, name: str) -> None:
        self._path = state_dir / f"cluster-create-{name}"

    def present(self) -> bool:
        return self._path.exists()

    def __enter__(self) -> None:
        self._path.parent.mkdir(parents=True, exist_ok=True)
        self._path.write_text(f"{os.getpid()}\n", encoding="utf-8")

    def __exit__(self, kind: type[BaseException] | None, *_: object) -> None:
        if kind is None:
            self._path.unlink(missing_ok=True)


class _KeptFacts:
    """The last run's facts of this cluster in the workspace's cache (module docstring): kept for a
    cluster without a registry (its address would have to be kept and checked too)."""

    def __init__(
        self, facts: FactsCache | None, containers: ListContainers | None, spec: ClusterSpec, fingerprint: str,
        kubeconfig: Path,
    ) -> None:  # fmt: skip
        with_registry = spec.registry is not None and bool(spec.registry.use or spec.registry.create)
        self._facts = None if with_registry else facts
        self._containers, self.fingerprint, self._kubeconfig = containers, fingerprint, kubeconfig
        self.enabled = self._facts is not None and containers is not None

    def nodes(self) -> tuple[str, ...] | None:
        """The nodes the cluster had when its containers and kubeconfig were the ones of now; else None."""
        key = self._key()
        known = self._facts.get(_CACHE, key) if self._facts is not None and key is not None else None
        if known is None or not isinstance(known.get("nodes"), list):
            return None
        return tuple(str(node) for node in known["nodes"])

    def drop(self) -> None:
        if self._facts is not None:
            self._facts.drop(_CACHE)

    def store(self, nodes: tuple[str, ...]) -> None:
        key = self._key()
        if self._facts is not None and key is not None:
            self._facts.put(_CACHE, key, {"nodes": list(nodes)})

    def _key(self) -> str | None:
        """None when the facts cannot be trusted: no kubeconfig, Docker not answering, no container,
        or one not running."""
        if self._facts is None or self._containers is None:
            return None
        containers = self._containers()
        if not containers or any(not line.endswith(" running") for line in containers):
            return None
        try:
            config = hashlib.sha256(self._kubeconfig.read_bytes()).hexdigest()
        except OSError:
            return None
        return digest("cluster", self.fingerprint, config, containers)


def _reuse_kept(
    kept: _KeptFacts, spec: ClusterSpec, kubeconfig: Path, *, connect: KubeConnect, progress: Progress,
    recorder: Recorder,
) -> ClusterInfo | None:
    """The cluster as the kept facts describe it, when they hold and the API confirms at once;
    otherwise None (the facts are dropped: a rotated certificate, k3s still starting) and the
    caller asks k3d."""
    with recorder.span("cluster facts", "cluster") as looked:
        nodes = kept.nodes()
        ready = nodes is not None and _ready_now(connect, kubeconfig, spec)
        looked.set(cache_hit=ready, **({"action": "reused", "cluster": spec.name} if ready else {}))
    if nodes is None:
        return None
    if not ready:
        kept.drop()
        return None
    progress.step(_SUBJECT, f"{spec.name!r} reused and ready (its containers and spec unchanged)")
    return ClusterInfo(name=spec.name, action="reused", kubeconfig=kubeconfig, nodes=nodes, registry=None,
                       fingerprint=kept.fingerprint)  # fmt: skip


def write_kubeconfig(path: Path, content: str) -> None:
    """Write atomically with mode 0600 (it holds cluster credentials); never ~/.kube/config."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(content)
        tmp.replace(path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    path.chmod(0o600)


def _ready_now(connect: KubeConnect, kubeconfig: Path, spec: ClusterSpec) -> bool:
    """One look at the API: every node Ready and CoreDNS available (no waiting, no error)."""
    try:
        api = connect(kubeconfig)
    except ClusterError:
        return False
    try:
        return not _problems(api, spec.servers + spec.agents)
    finally:
        api.close()


def _wait_until_ready(
    connect: KubeConnect, kubeconfig: Path, spec: ClusterSpec, timeout: float, interval: float
) -> float:
    started = time.monotonic()
    deadline = started + timeout
    expected = spec.servers + spec.agents
    api = connect(kubeconfig)
    try:
        while True:
            last = _problems(api, expected)
            if not last:
                return time.monotonic() - started
            if time.monotonic() >= deadline:
                msg = f"cluster {spec.name!r} not ready after {timeout:g}s: {'; '.join(last)}"
                raise ClusterError(
                    msg,
                    hint=f"inspect it with `kubectl --kubeconfig {kubeconfig} get nodes,pods -A`, "
                    "or delete it with `k3d cluster delete` and run again",
                )
            time.sleep(interval)
    finally:
        api.close()


def _problems(api: ApiClient, expected: int) -> list[str]:
    """One round of the readiness check: what is not ready yet (empty: ready). An API that refuses
    connections or answers 5xx, as while k3s starts, is one more problem, not an error."""
    try:
        return read_cluster_health(api).problems(expected)
    except Exception as exc:
        if not api_failure(exc):
            raise
        first = (str(exc).strip().splitlines() or [""])[0][:120]
        return [f"API not answering ({type(exc).__name__}: {first})"]
