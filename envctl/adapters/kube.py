"""The Kubernetes API adapter: clients made from a workspace kubeconfig, never the global one, and
the reads envctl makes through them, as JSON objects (kube_http.py says why not the client's models).

``kubernetes`` is imported lazily so commands that don't talk to a cluster start fast.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from http import HTTPStatus
from pathlib import Path
from typing import TYPE_CHECKING

from envctl.adapters.kube_http import (
    JsonObject,
    KubeApiError,
    Timeout,
    WatchStream,
    api_path,
    open_watch,
    request_json,
    request_text,
    unreachable,
)
from envctl.errors import ClusterError, InputError

if TYPE_CHECKING:
    from kubernetes.client import ApiClient

__all__ = [
    "ClusterHealth",
    "JsonObject",
    "KubeApiError",
    "KubeConnect",
    "Listing",
    "WatchStream",
    "api_failure",
    "connect",
    "create_object",
    "get_json",
    "get_object",
    "list_objects",
    "preload_client",
    "read_cluster_health",
    "read_pod_log",
    "server_version",
    "unreachable",
    "watch_objects",
]

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


def preload_client() -> None:
    """Import what ``connect`` and the requests need: the client's ``ApiClient`` and kubeconfig
    loader (its API classes and models are not used: kube_http.py)."""
    import kubernetes.client.api_client
    import kubernetes.config  # noqa: F401 - imported for its side effect: loaded before it is needed


# Where each kind envctl reads lives: (group/version, plural).
RESOURCES: dict[str, tuple[str, str]] = {
    "Deployment": ("apps/v1", "deployments"),
    "StatefulSet": ("apps/v1", "statefulsets"),
    "DaemonSet": ("apps/v1", "daemonsets"),
    "ReplicaSet": ("apps/v1", "replicasets"),
    "Job": ("batch/v1", "jobs"),
    "Pod": ("v1", "pods"),
    "Event": ("v1", "events"),
    "Secret": ("v1", "secrets"),
    "Node": ("v1", "nodes"),
    "Namespace": ("v1", "namespaces"),
    "Lease": ("coordination.k8s.io/v1", "leases"),
    "SelfSubjectAccessReview": ("authorization.k8s.io/v1", "selfsubjectaccessreviews"),
}


@dataclass(frozen=True)
class Listing:
    """One list of a kind: its objects and the resourceVersion a watch resumes from."""

    items: tuple[JsonObject, ...]
    resource_version: str | None


def api_failure(exc: BaseException) -> bool:
    """Whether ``exc`` says the API did not answer or refused (an error to report, not a bug to raise)."""
    return isinstance(exc, KubeApiError) or unreachable(exc)


def _path(kind: str, namespace: str | None, name: str | None = None) -> str:
    group_version, plural = RESOURCES[kind]
    return api_path(group_version, plural, namespace, name)


def _selectors(label_selector: str | None, field_selector: str | None) -> list[tuple[str, str]]:
    query = [("labelSelector", label_selector)] if label_selector else []
    return query + ([("fieldSelector", field_selector)] if field_selector else [])


def list_objects(
    api: ApiClient, kind: str, namespace: str | None, *, label_selector: str | None = None,
    field_selector: str | None = None, timeout: Timeout,
) -> Listing:  # fmt: skip
    """The objects of ``kind`` in ``namespace`` (None: cluster-wide) the selectors select."""
    found = request_json(
        api, "GET", _path(kind, namespace), query=_selectors(label_selector, field_selector), timeout=timeout
    )
    items = tuple(item for item in found.get("items") or () if isinstance(item, dict))
    version = (found.get("metadata") or {}).get("resourceVersion")
    return Listing(items, str(version) if version else None)


def get_object(api: ApiClient, kind: str, namespace: str | None, name: str, *, timeout: Timeout) -> JsonObject:
    """One object; ``KubeApiError`` with status 404 when there is none."""
    return request_json(api, "GET", _path(kind, namespace, name), timeout=timeout)


def create_object(
    api: ApiClient, kind: str, namespace: str | None, body: JsonObject, *, timeout: Timeout
) -> JsonObject:
    """POST ``body`` (a JSON object of ``kind``); the object the API answered with."""
    return request_json(api, "POST", _path(kind, namespace), body=body, timeout=timeout)


def watch_objects(
    api: ApiClient, kind: str, namespace: str, *, label_selector: str, resource_version: str | None,
    server_timeout: int, timeout: Timeout,
) -> WatchStream:  # fmt: skip
    """A watch of ``kind`` from ``resource_version`` (None: from now), with bookmarks, which the
    server ends after ``server_timeout`` seconds."""
    query: list[tuple[str, str | int | bool]] = [
        ("labelSelector", label_selector), ("allowWatchBookmarks", True), ("timeoutSeconds", server_timeout),
    ]  # fmt: skip
    if resource_version:
        query.append(("resourceVersion", resource_version))
    return open_watch(api, _path(kind, namespace), query=query, timeout=timeout)


def read_pod_log(
    api: ApiClient, namespace: str, pod: str, *, container: str | None, tail_lines: int, previous: bool,
    timeout: Timeout,
) -> str:  # fmt: skip
    """The tail of a container's log (``previous``: of its instance before the last restart)."""
    query: list[tuple[str, str | int | bool]] = [("tailLines", tail_lines), ("previous", previous)]
    if container:
        query.insert(0, ("container", container))
    return request_text(api, _path("Pod", namespace, pod) + "/log", query=query, timeout=timeout)


def server_version(api: ApiClient, *, timeout: Timeout) -> str:
    """The API server's ``gitVersion`` (``GET /version``)."""
    return str(request_json(api, "GET", "/version", timeout=timeout).get("gitVersion"))


def read_cluster_health(api_client: ApiClient) -> ClusterHealth:
    """Node readiness and the kube-system ``coredns`` Deployment, read once (no waiting here)."""
    nodes: list[tuple[str, bool, str]] = []
    for node in list_objects(api_client, "Node", None, timeout=10).items:
        conditions = (node.get("status") or {}).get("conditions") or ()
        ready = next((c for c in conditions if c.get("type") == "Ready"), None)
        ok = ready is not None and ready.get("status") == "True"
        reason = "" if ok else (ready.get("reason") or ready.get("status")) if ready else "no Ready condition"
        nodes.append((str((node.get("metadata") or {}).get("name") or "?"), ok, str(reason or "unknown")))
    try:
        dns = get_object(api_client, "Deployment", "kube-system", "coredns", timeout=10)
    except KubeApiError as exc:
        if exc.status != HTTPStatus.NOT_FOUND:
            raise
        return ClusterHealth(tuple(nodes), "missing")
    available = (dns.get("status") or {}).get("availableReplicas") or 0
    replicas = (dns.get("spec") or {}).get("replicas")
    wanted = 1 if replicas is None else replicas
    state = "available" if available >= max(1, wanted) else f"{available}/{wanted} available"
    return ClusterHealth(tuple(nodes), state)


def get_json(api: ApiClient, path: str, query: Mapping[str, str], *, timeout: Timeout = 10.0) -> JsonObject | None:
    """GET ``path`` (an API path, e.g. ``/api/v1/namespaces/ci/secrets``) → its JSON object, or None
    for 404 Not Found; any other error status raises ``KubeApiError``. For readers that name a path
    rather than a kind (helm's release Secrets, helm_storage.py)."""
    try:
        return request_json(api, "GET", path, query=list(query.items()), timeout=timeout)
    except KubeApiError as exc:
        if exc.status == HTTPStatus.NOT_FOUND:
            return None
        raise
