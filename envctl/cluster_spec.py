"""Does a cluster still match envctl.yaml? Pure comparisons of the spec k3d stores on the cluster.

The cluster's spec and its fingerprint are stored on its server containers as runtime labels when
envctl creates it (adapters/k3d.py); `up` (reuse or refuse), `status` and `doctor` compare them
with the config the same way, here.
"""

from __future__ import annotations

import hashlib
import json

from envctl.adapters.k3d import FINGERPRINT_LABEL, SPEC_LABEL, K3dCluster, decode_spec
from envctl.config import ClusterSpec

__all__ = ["cluster_fingerprint", "spec_differences", "spec_drift"]


def cluster_fingerprint(spec: ClusterSpec) -> str:
    """SHA-256 over the canonical JSON of every field that shapes the cluster."""
    canonical = json.dumps(spec.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


def spec_differences(stored: dict[str, object] | None, wanted: ClusterSpec) -> list[str]:
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


def _show(value: object) -> str:
    return json.dumps(value, separators=(",", ":")) if isinstance(value, (list, dict)) else str(value)
