"""Which cluster API a command talks to: the workspace's own k3d kubeconfig, or an existing cluster's.

``provider: k3d`` — ``.envctl/kubeconfig`` in the workspace, which envctl wrote for the cluster it
created. ``provider: existing`` — the user's kubeconfig, **only ever read**: ``cluster.kubeconfig``
(``~`` expanded; relative to the workspace), else the first file of ``$KUBECONFIG``, else
``~/.kube/config``; the context is ``--context``, else ``cluster.context``, else the file's
current one. Precedence: flag > envctl.yaml > environment > default, as for every setting.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from envctl.config import EnvConfig
from envctl.errors import ClusterError, InputError

__all__ = ["KubeTarget", "resolve_kube_target"]


@dataclass(frozen=True)
class KubeTarget:
    """A kubeconfig file and the context in it (None: the file's current context)."""

    provider: str
    kubeconfig: Path
    context: str | None

    def describe(self) -> str:
        return f"{self.kubeconfig}" + (f" (context {self.context})" if self.context else "")


def resolve_kube_target(
    config: EnvConfig,
    workspace_root: Path,
    workspace_kubeconfig: Path,
    environ: dict[str, str],
    *,
    context: str | None = None,
) -> KubeTarget:
    """Where the cluster API is for this workspace; ``ClusterError`` when that file does not exist."""
    cluster = config.cluster
    if cluster.provider == "k3d":
        if context is not None:
            msg = "--context is only for provider: existing (a k3d cluster has its own kubeconfig)"
            raise InputError(msg, hint="drop --context, or set cluster.provider: existing in envctl.yaml")
        return KubeTarget("k3d", workspace_kubeconfig, None)
    home = Path(environ.get("HOME") or Path.home())
    first_listed = next((entry for entry in environ.get("KUBECONFIG", "").split(os.pathsep) if entry), None)
    if cluster.kubeconfig is not None:
        path = Path(
            cluster.kubeconfig.replace("~", str(home), 1) if cluster.kubeconfig.startswith("~") else cluster.kubeconfig
        )
        path = path if path.is_absolute() else workspace_root / path
        source = "cluster.kubeconfig"
    elif first_listed is not None:
        path, source = Path(first_listed), "$KUBECONFIG"
    else:
        path = home / ".kube" / "config"
        source = "the default kubeconfig"
    if not path.is_file():
        msg = f"no kubeconfig at {path} ({source})"
        raise ClusterError(
            msg, hint="set cluster.kubeconfig in envctl.yaml or $KUBECONFIG to your cluster's kubeconfig"
        )
    return KubeTarget("existing", path, context or cluster.context)
