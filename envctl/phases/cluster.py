"""`ensure cluster`: reuse, start, create or (only when asked) recreate the k3d cluster.

The decision follows ctlptl's reconcile loop, minus its silent deletes (ctlptl#415): a running
cluster whose stored spec fingerprint matches is reused; a stopped one is started; one whose spec
differs is reported field by field and recreated only with ``recreate=True``. Readiness is then
checked through the API (every node Ready, CoreDNS available), because k3d's ``--wait`` returns
before the node is Ready (k3d#512).
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from envctl.adapters.k3d import K3d
from envctl.adapters.kube import KubeConnect, connect, read_cluster_health
from envctl.cluster_spec import cluster_fingerprint, spec_differences, spec_drift
from envctl.config import ClusterSpec
from envctl.errors import ClusterError
from envctl.progress import Progress
from envctl.results import ClusterAction, ClusterInfo
from envctl.timing.spans import Recorder

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


class ClusterEnsurer:
    """The cluster phase of `up`: ``ensure()`` the one cluster ``spec`` describes."""

    def __init__(
        self, spec: ClusterSpec, kubeconfig: Path, *, k3d: K3d, connect: KubeConnect, progress: Progress,
        recorder: Recorder, recreate: bool = False,
    ) -> None:  # fmt: skip
        self._spec, self._kubeconfig, self._k3d, self._connect = spec, kubeconfig, k3d, connect
        self._progress, self._recorder, self._recreate = progress, recorder, recreate

    def ensure(self) -> ClusterInfo:
        return ensure_cluster(
            self._spec, self._kubeconfig, k3d=self._k3d, progress=self._progress, recorder=self._recorder,
            recreate=self._recreate, connect=self._connect,
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
) -> ClusterInfo:
    """Make the cluster ``spec`` describes usable and write its kubeconfig to ``kubeconfig_path``."""
    fingerprint = cluster_fingerprint(spec)
    with recorder.span("cluster list", "cluster") as listed:
        existing = k3d.get(spec.name)

    action: ClusterAction
    if existing is None:
        action = "created"
        progress.step(_SUBJECT, f"creating {spec.name!r} ({spec.servers} server, {spec.agents} agent)")
        with recorder.span("cluster create", "cluster", image=spec.image):
            k3d.create(spec, fingerprint)
    elif changes := spec_drift(existing, spec):
        if not recreate:
            msg = f"cluster {spec.name!r} exists with a different spec: {'; '.join(changes)}"
            hint = "rerun with --recreate to delete and recreate it (its workloads are lost)"
            raise ClusterError(msg, hint=hint)
        action = "recreated"
        progress.step(_SUBJECT, f"recreating {spec.name!r}: {'; '.join(changes)}")
        with recorder.span("cluster delete", "cluster", reason="spec changed"):
            k3d.delete(spec.name)
        with recorder.span("cluster create", "cluster", image=spec.image):
            k3d.create(spec, fingerprint)
    elif not existing.running:
        action = "started"
        progress.step(_SUBJECT, f"starting stopped cluster {spec.name!r}")
        with recorder.span("cluster start", "cluster"):
            k3d.start(spec.name)
    else:
        action = "reused"
        progress.step(_SUBJECT, f"reusing running cluster {spec.name!r} (spec unchanged)")
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
    return ClusterInfo(
        name=spec.name,
        action=action,
        kubeconfig=kubeconfig_path,
        nodes=cluster.workload_nodes,
        registry=k3d.cluster_registry(spec.registry),
        fingerprint=fingerprint,
    )


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


def _wait_until_ready(
    connect: KubeConnect, kubeconfig: Path, spec: ClusterSpec, timeout: float, interval: float
) -> float:
    import urllib3
    from kubernetes.client import ApiException

    started = time.monotonic()
    deadline = started + timeout
    expected = spec.servers + spec.agents
    api = connect(kubeconfig)
    last: list[str] = ["no answer from the API server yet"]
    try:
        while True:
            try:
                last = read_cluster_health(api).problems(expected)
            except (ApiException, urllib3.exceptions.HTTPError, OSError) as exc:
                # The API refuses connections or answers 5xx while k3s starts: keep polling.
                first = (str(exc).strip().splitlines() or [""])[0][:120]
                last = [f"API not answering ({type(exc).__name__}: {first})"]
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
