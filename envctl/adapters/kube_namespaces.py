"""Namespaces through the Kubernetes API, as ``ownership.NamespaceInfo`` records.

Reads list envctl's namespaces with a label selector (and filter again client-side, so a server
that ignores selectors cannot widen what envctl touches). Writes are merge patches of labels and
annotations only. Namespaces travel as the API's JSON (adapters/kube_http.py); ``kubernetes`` is
imported lazily.
"""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

from envctl.adapters.kube_http import STRATEGIC_MERGE, JsonObject, KubeApiError, api_path, request_json
from envctl.ownership import MANAGED_BY, NamespaceInfo

__all__ = ["NamespaceApi", "NamespaceExists"]


class NamespaceExists(Exception):
    """Another process created the namespace between our read and our create."""


def _info(ns: JsonObject) -> NamespaceInfo:
    meta = ns.get("metadata") or {}
    phase = (ns.get("status") or {}).get("phase")
    return NamespaceInfo(
        name=str(meta.get("name") or ""),
        labels=dict(meta.get("labels") or {}),
        annotations=dict(meta.get("annotations") or {}),
        terminating=meta.get("deletionTimestamp") is not None or phase == "Terminating",
    )


_NAMESPACES = api_path("v1", "namespaces")


class NamespaceApi:
    """Namespace reads and writes through one ``ApiClient``, as the API's JSON (adapters/kube_http.py)."""

    def __init__(self, api_client: Any, *, request_timeout: float = 10.0) -> None:
        self._api = api_client
        self._timeout = request_timeout

    def _call(
        self, method: str, path: str, *, body: JsonObject | None = None, query: list[tuple[str, str]] | None = None,
        content_type: str | None = None,
    ) -> JsonObject:  # fmt: skip
        return request_json(
            self._api, method, path, body=body, query=query or [], timeout=self._timeout, content_type=content_type
        )

    def read(self, name: str) -> NamespaceInfo | None:
        try:
            return _info(self._call("GET", api_path("v1", "namespaces", name=name)))
        except KubeApiError as exc:
            if exc.status == HTTPStatus.NOT_FOUND:
                return None
            raise

    def create(self, name: str, labels: dict[str, str], annotations: dict[str, str]) -> NamespaceInfo:
        body = {"apiVersion": "v1", "kind": "Namespace",
                "metadata": {"name": name, "labels": labels, "annotations": annotations}}  # fmt: skip
        try:
            return _info(self._call("POST", _NAMESPACES, body=body))
        except KubeApiError as exc:
            if exc.status == HTTPStatus.CONFLICT:
                raise NamespaceExists(name) from exc
            raise

    def mark(self, name: str, labels: dict[str, str], annotations: dict[str, str]) -> NamespaceInfo:
        """Merge ``labels`` and ``annotations`` into the namespace (others are left as they are)."""
        body = {"metadata": {"labels": labels, "annotations": annotations}}
        path = api_path("v1", "namespaces", name=name)
        return _info(self._call("PATCH", path, body=body, content_type=STRATEGIC_MERGE))

    def list_managed(self) -> list[NamespaceInfo]:
        """Every namespace labelled managed-by envctl (any workspace)."""
        selector = f"{MANAGED_BY[0]}={MANAGED_BY[1]}"
        found = self._call("GET", _NAMESPACES, query=[("labelSelector", selector)]).get("items") or []
        infos = [_info(ns) for ns in found if isinstance(ns, dict)]
        return [ns for ns in infos if ns.labels.get(MANAGED_BY[0]) == MANAGED_BY[1]]

    def whoami(self) -> str | None:
        """The username the API knows us by (SelfSubjectReview); None where the API cannot say (< 1.28)."""
        body = {"apiVersion": "authentication.k8s.io/v1", "kind": "SelfSubjectReview"}
        try:
            review = self._call("POST", api_path("authentication.k8s.io/v1", "selfsubjectreviews"), body=body)
        except KubeApiError as exc:
            if exc.status in (HTTPStatus.FORBIDDEN, HTTPStatus.NOT_FOUND):
                return None
            raise
        username = ((review.get("status") or {}).get("userInfo") or {}).get("username")
        return str(username) if username is not None else None

    def bind_role(self, namespace: str, binding: str, cluster_role: str, username: str) -> bool:
        """A RoleBinding of ``cluster_role`` to ``username`` in ``namespace``; False when it already exists."""
        match username.split(":"):
            case ["system", "serviceaccount", account_namespace, account]:
                subject = {"kind": "ServiceAccount", "name": account, "namespace": account_namespace}
            case _:
                subject = {"kind": "User", "name": username, "apiGroup": "rbac.authorization.k8s.io"}
        body = {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "RoleBinding",
            "metadata": {"name": binding, "namespace": namespace, "labels": {MANAGED_BY[0]: MANAGED_BY[1]}},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": cluster_role},
            "subjects": [subject],
        }
        try:
            self._call("POST", api_path("rbac.authorization.k8s.io/v1", "rolebindings", namespace), body=body)
        except KubeApiError as exc:
            if exc.status == HTTPStatus.CONFLICT:
                return False
            raise
        return True

    def delete(self, name: str) -> bool:
        """Delete the namespace (and so everything in it); False when it was already gone."""
        try:
            self._call("DELETE", api_path("v1", "namespaces", name=name))
        except KubeApiError as exc:
            if exc.status == HTTPStatus.NOT_FOUND:
                return False
            raise
        return True
