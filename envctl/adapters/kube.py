"""The Kubernetes API adapter: clients made from a workspace kubeconfig, never the global one.

``kubernetes`` is imported lazily so commands that don't talk to a cluster start fast.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from envctl.errors import ClusterError

__all__ = ["connect"]


def connect(kubeconfig: Path, *, pool_size: int = 32) -> Any:
    """An ``ApiClient`` for ``kubeconfig`` (no global state; the default kubeconfig is not read).

    ``pool_size`` is raised from the client's default of 10 because every open watch holds a
    connection (libraries.md §6.1).
    """
    import kubernetes

    if not kubeconfig.is_file():
        msg = f"no kubeconfig at {kubeconfig}"
        raise ClusterError(msg, hint="run `envctl up` to create or reuse the cluster (it writes this file)")
    config = kubernetes.client.Configuration()
    kubernetes.config.load_kube_config(config_file=str(kubeconfig), client_configuration=config)
    config.connection_pool_maxsize = pool_size
    return kubernetes.client.ApiClient(config)
