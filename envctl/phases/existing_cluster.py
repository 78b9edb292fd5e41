"""`ensure cluster` for ``provider: existing``: a cluster someone else runs, only ever connected to.

Nothing is created, started or deleted at cluster level and the kubeconfig is only read. The phase
asks the API server for its version (so an unreachable cluster fails here, in one line, before a
deploy) and yields the same typed ``ClusterInfo`` as the k3d phase: no node containers (images
reach the cluster through ``registry.use``), the registry, the kubeconfig and its context.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from envctl.adapters.kube import KubeApiError, server_version, unreachable
from envctl.errors import ClusterError
from envctl.progress import Progress
from envctl.results import ClusterInfo
from envctl.timing.spans import Recorder

__all__ = ["ExistingCluster", "SharedRegistry", "api_version"]


def api_version(api_client: Any, where: str) -> str:
    """The server's ``gitVersion``; ``ClusterError`` (exit 8) when it does not answer."""
    try:
        return server_version(api_client, timeout=10)
    except KubeApiError as exc:
        msg = f"the cluster API of {where} refused: {exc.status} {exc.reason}"
        raise ClusterError(msg, hint="check the kubeconfig's credentials (`kubectl version`)") from exc
    except Exception as exc:
        if not unreachable(exc):
            raise
        msg = f"the cluster API of {where} does not answer ({type(exc).__name__})"
        raise ClusterError(msg, hint="check the kubeconfig's server, the context and your network") from exc


@dataclass(frozen=True)
class SharedRegistry:
    """``registry.use``: runners push to it and the cluster's nodes pull from it by the same name."""

    address: str

    @property
    def push_address(self) -> str:
        return self.address

    @property
    def cluster_address(self) -> str:
        return self.address


class ExistingCluster:
    """The cluster phase of `up` on a shared cluster: ``ensure()`` connects and checks, nothing more."""

    def __init__(
        self,
        kubeconfig: Path,
        context: str | None,
        registry: str,
        *,
        connect: Any,
        progress: Progress,
        recorder: Recorder,
    ) -> None:
        self._kubeconfig, self._context, self._registry, self._connect = kubeconfig, context, registry, connect
        self._progress, self._recorder = progress, recorder

    def ensure(self) -> ClusterInfo:
        where = f"{self._kubeconfig}" + (f" (context {self._context})" if self._context else "")
        with self._recorder.span("cluster connect", "cluster", provider="existing") as span:
            version = api_version(self._connect(self._kubeconfig), where)
            span.set(server_version=version)
        name = self._context or "current-context"
        self._progress.step("cluster", f"using the existing cluster {where} ({version})")
        return ClusterInfo(
            name=name, action="reused", kubeconfig=self._kubeconfig, nodes=(), registry=SharedRegistry(self._registry),
            fingerprint="", provider="existing", context=self._context,
        )  # fmt: skip
