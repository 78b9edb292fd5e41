"""`ensure cluster`: reuse, start, create or (only when asked) recreate the k3d cluster.

The decision follows ctlptl's reconcile loop, minus its silent deletes (ctlptl#415): a running
cluster whose stored spec fingerprint matches is reused; a stopped one is started; one whose spec
differs is reported field by field and recreated only with ``recreate=True``. Readiness is then
checked through the API (every node Ready, CoreDNS available), because k3d's ``--wait`` returns
before the node is Ready (k3d#512).
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from envctl.adapters.k3d import FINGERPRINT_LABEL, SPEC_LABEL, K3d, K3dCluster, K3dRegistry, decode_spec
from envctl.config import ClusterSpec
from envctl.errors import ClusterError
from envctl.progress import Progress
from envctl.timing.spans import Recorder

__all__ = ["ClusterInfo", "cluster_fingerprint", "ensure_cluster", "spec_differences", "spec_drift", "write_kubeconfig"]

Action = Literal["reused", "started", "created", "recreated"]
_SUBJECT = "cluster"


@dataclass(frozen=True)
class ClusterInfo:
    name: str
    action: Action
    kubeconfig: Path
    nodes: tuple[str, ...]  # server and agent containers (where images go), not the load balancer
    registry: K3dRegistry | None  # the cluster's registry (push and in-cluster addresses), or None
    fingerprint: str


def cluster_fingerprint(spec: ClusterSpec) -> str:
    """SHA-256 over the canonical JSON of every field that shapes the cluster."""
    canonical = json.dumps(spec.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


def spec_differences(stored: dict[str, Any] | None, wanted: ClusterSpec) -> list[str]:
    """``["agents: 0 -> 2", ...]``; a single explanatory entry when the stored spec is unknown."""
    if stored is None:
        return ["the cluster carries no envctl spec (made by another tool or an older envctl)"]
    current = wanted.model_dump(mode="json")
    return [
        f"{key}: {_show(stored.get(key))} -> {_show(current.get(key))}"
        for key in sorted(set(stored) | set(current))
        if stored.get(key) != current.get(key)
    ]


def spec_drift(cluster: K3dCluster, wanted: ClusterSpec) -> tuple[str, ...]:
    """How an existing cluster differs from ``wanted`` (empty when its stored fingerprint matches).

    The one comparison `up`, `status` and `doctor` all make.
    """
    if cluster.label(FINGERPRINT_LABEL) == cluster_fingerprint(wanted):
        return ()
    raw = cluster.label(SPEC_LABEL)
    return tuple(spec_differences(decode_spec(raw) if raw else None, wanted))


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
) -> ClusterInfo:
    """Make the cluster ``spec`` describes usable and write its kubeconfig to ``kubeconfig_path``."""
    fingerprint = cluster_fingerprint(spec)
    with recorder.span("cluster list", "cluster") as listed:
        existing = k3d.get(spec.name)

    action: Action
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
        waited = _wait_until_ready(kubeconfig_path, spec, ready_timeout, poll_interval)
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
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    os.chmod(path, 0o600)


def _wait_until_ready(kubeconfig: Path, spec: ClusterSpec, timeout: float, interval: float) -> float:
    import urllib3
    from kubernetes.client import ApiException

    from envctl.adapters.kube import connect, read_cluster_health

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


def _show(value: Any) -> str:
    return json.dumps(value, separators=(",", ":")) if isinstance(value, (list, dict)) else str(value)
