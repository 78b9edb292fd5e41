"""The Kubernetes API adapter: clients made from a workspace kubeconfig, never the global one.

``kubernetes`` is imported lazily so commands that don't talk to a cluster start fast.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from http import HTTPStatus
from pathlib import Path
from typing import TYPE_CHECKING, Any

from envctl.errors import ClusterError, InputError

if TYPE_CHECKING:
    from kubernetes.client import ApiClient

__all__ = ["ClusterHealth", "KubeConnect", "connect", "get_json", "lister", "read_cluster_health"]

KubeConnect = Callable[[Path], "ApiClient"]  # kubeconfig → client (the composition root's factory)


def connect(kubeconfig: Path, *, pool_size: int = 32, context: str | None = None) -> ApiClient:
    """An ``ApiClient`` for ``kubeconfig`` (no global state; the default kubeconfig is not read).

    ``context`` picks one of the file's contexts (default: its current one); the file is only read.

    ``pool_size`` is raised from the client's default of 10 because every open watch holds a
    connection (docs/tools-behaviour.md, "Kubernetes client").
    """
    import kubernetes

    if not kubeconfig.is_file():
        msg = f"no kubeconfig at {kubeconfig}"
        raise ClusterError(msg, hint="run `envctl up` to create or reuse the cluster (it writes this file)")
    config = kubernetes.client.Configuration()
    try:
        kubernetes.config.load_kube_config(config_file=str(kubeconfig), context=context, client_configuration=config)
    except kubernetes.config.ConfigException as exc:
        msg = f"{kubeconfig}: {exc}"
        raise ClusterError(msg, hint="check the kubeconfig and the context (cluster.context or --context)") from exc
    except Exception:
        # Parsed once on the way that works; only a file the loader choked on is read again, to
        # name the problem (raises InputError) instead of passing on the parser's own error.
        _check_readable(kubeconfig)
        raise
    config.connection_pool_maxsize = pool_size
    return kubernetes.client.ApiClient(config)


def _check_readable(kubeconfig: Path) -> None:
    """A kubeconfig that is not a YAML mapping is bad input (exit 2), not a crash: the client's own
    loader raises whatever its parser does (a ``ReaderError`` for a NUL byte, ``AttributeError``
    for a list) instead of its ``ConfigException``."""
    import yaml

    try:
        parsed = yaml.safe_load(kubeconfig.read_bytes())
    except (OSError, yaml.YAMLError) as exc:
        problem = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        msg = f"{kubeconfig} is not a readable kubeconfig: {problem}"
        raise InputError(msg, hint=_KUBECONFIG_HINT) from None
    if not isinstance(parsed, dict):
        msg = f"{kubeconfig} is not a kubeconfig: expected a mapping, got {type(parsed).__name__}"
        raise InputError(msg, hint=_KUBECONFIG_HINT)


_KUBECONFIG_HINT = (
    "point --kubeconfig or cluster.kubeconfig at a valid file; a workspace's own .envctl/kubeconfig is "
    "rewritten by the next `envctl up`"
)


@dataclass(frozen=True)
class ClusterHealth:
    """What the API says about a cluster's readiness: node Ready conditions and CoreDNS."""

    nodes: tuple[tuple[str, bool, str], ...]  # (name, ready, reason when not ready)
    coredns: str  # "available", "missing", or the unavailable state, e.g. "0/1 available"

    def problems(self, expected_nodes: int) -> list[str]:
        """What is not ready yet, in words; empty when the cluster is usable."""
        found = [f"node {name} not Ready ({reason})" for name, ready, reason in self.nodes if not ready]
        if len(self.nodes) < expected_nodes:
            found.insert(0, f"{len(self.nodes)}/{expected_nodes} nodes registered")
        if self.coredns != "available":
            found.append(f"coredns {self.coredns}")
        return found


def lister(api_client: ApiClient, kind: str) -> Callable[..., Any]:
    """The client's namespaced list function for a workload kind, ``ReplicaSet`` or ``Pod``
    (watchable: a ``kubernetes.watch.Watch`` streams it)."""
    import kubernetes

    apps = kubernetes.client.AppsV1Api(api_client)
    functions: dict[str, Callable[..., Any]] = {
        "Deployment": apps.list_namespaced_deployment,
        "StatefulSet": apps.list_namespaced_stateful_set,
        "DaemonSet": apps.list_namespaced_daemon_set,
        "ReplicaSet": apps.list_namespaced_replica_set,
        "Job": kubernetes.client.BatchV1Api(api_client).list_namespaced_job,
        "Pod": kubernetes.client.CoreV1Api(api_client).list_namespaced_pod,
    }
    return functions[kind]


def read_cluster_health(api_client: ApiClient) -> ClusterHealth:
    """Node readiness and the kube-system ``coredns`` Deployment, read once (no waiting here)."""
    import kubernetes

    core = kubernetes.client.CoreV1Api(api_client)
    nodes: list[tuple[str, bool, str]] = []
    for node in core.list_node(_request_timeout=10).items:
        ready = next((c for c in (node.status.conditions or []) if c.type == "Ready"), None) if node.status else None
        ok = ready is not None and ready.status == "True"
        reason = "" if ok else (ready.reason or ready.status) if ready else "no Ready condition"
        nodes.append((str(node.metadata.name if node.metadata else "?"), ok, str(reason or "unknown")))
    apps = kubernetes.client.AppsV1Api(api_client)
    try:
        dns = apps.read_namespaced_deployment("coredns", "kube-system", _request_timeout=10)
    except kubernetes.client.ApiException as exc:
        if exc.status != HTTPStatus.NOT_FOUND:
            raise
        return ClusterHealth(tuple(nodes), "missing")
    status = dns.status
    available = (status.available_replicas or 0) if status else 0
    wanted = (dns.spec.replicas if dns.spec and dns.spec.replicas is not None else 1)
    state = "available" if available >= max(1, wanted) else f"{available}/{wanted} available"
    return ClusterHealth(tuple(nodes), state)


def get_json(api_client: ApiClient, path: str, query: Mapping[str, str], *, timeout: float = 10.0) -> Any:
    """GET ``path`` (an API path, e.g. ``/api/v1/namespaces/ci/secrets``) → its JSON body as plain
    dicts, or None for 404 Not Found; any other non-2xx is the client's ``ApiException``.

    Through the client's connection, TLS and auth, but without its typed API classes and models:
    those import hundreds of model modules (about a second of CPU) to read a few fields.
    """
    import kubernetes

    method, url, headers, _, _ = api_client.param_serialize(
        "GET", path, query_params=list(query.items()), header_params={"Accept": "application/json"},
        auth_settings=["BearerToken"],
    )  # fmt: skip
    response = api_client.call_api(method, url, headers, _request_timeout=timeout)
    body = response.read()
    if response.status == HTTPStatus.NOT_FOUND:
        return None
    if not HTTPStatus.OK <= response.status < HTTPStatus.MULTIPLE_CHOICES:
        raise kubernetes.client.ApiException.from_response(
            http_resp=response, body=body.decode(errors="replace"), data=None
        )
    return json.loads(body)
