"""Namespaces through the Kubernetes API, as ``ownership.NamespaceInfo`` records.

Reads list envctl's namespaces with a label selector (and filter again client-side, so a server
that ignores selectors cannot widen what envctl touches). Writes are merge patches of labels and
annotations only. ``kubernetes`` is imported lazily.
"""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

from envctl.ownership import MANAGED_BY, NamespaceInfo

__all__ = ["NamespaceApi", "NamespaceExists"]


class NamespaceExists(Exception):
    """Another process created the namespace between our read and our create."""


def _info(ns: Any) -> NamespaceInfo:
    meta = ns.metadata
    return NamespaceInfo(
        name=meta.name,
        labels=dict(meta.labels or {}),
        annotations=dict(meta.annotations or {}),
        terminating=meta.deletion_timestamp is not None or (ns.status is not None and ns.status.phase == "Terminating"),
    )


class NamespaceApi:
    """Namespace reads and writes through one ``ApiClient``."""

    def __init__(self, api_client: Any, *, request_timeout: float = 10.0) -> None:
        import kubernetes

        self._core = kubernetes.client.CoreV1Api(api_client)
        self._timeout = request_timeout

    def read(self, name: str) -> NamespaceInfo | None:
        import kubernetes

        try:
            return _info(self._core.read_namespace(name, _request_timeout=self._timeout))
        except kubernetes.client.ApiException as exc:
            if exc.status == HTTPStatus.NOT_FOUND:
                return None
            raise

    def create(self, name: str, labels: dict[str, str], annotations: dict[str, str]) -> NamespaceInfo:
        import kubernetes

        body: Any = {"apiVersion": "v1", "kind": "Namespace",
                     "metadata": {"name": name, "labels": labels, "annotations": annotations}}  # fmt: skip
        try:
            return _info(self._core.create_namespace(body, _request_timeout=self._timeout))
        except kubernetes.client.ApiException as exc:
            if exc.status == HTTPStatus.CONFLICT:
                raise NamespaceExists(name) from exc
            raise

    def mark(self, name: str, labels: dict[str, str], annotations: dict[str, str]) -> NamespaceInfo:
        """Merge ``labels`` and ``annotations`` into the namespace (others are left as they are)."""
        body: Any = {"metadata": {"labels": labels, "annotations": annotations}}
        return _info(self._core.patch_namespace(name, body, _request_timeout=self._timeout))

    def list_managed(self) -> list[NamespaceInfo]:
        """Every namespace labelled managed-by envctl (any workspace)."""
        selector = f"{MANAGED_BY[0]}={MANAGED_BY[1]}"
        found = self._core.list_namespace(label_selector=selector, _request_timeout=self._timeout).items
        infos = [_info(ns) for ns in found]
        return [ns for ns in infos if ns.labels.get(MANAGED_BY[0]) == MANAGED_BY[1]]

    def whoami(self) -> str | None:
        """The username the API knows us by (SelfSubjectReview); None where the API cannot say (< 1.28)."""
        import kubernetes

        api = kubernetes.client.AuthenticationV1Api(self._core.api_client)
        body: Any = {"apiVersion": "authentication.k8s.io/v1", "kind": "SelfSubjectReview"}
        try:
            review = api.create_self_subject_review(body, _request_timeout=self._timeout)
        except kubernetes.client.ApiException as exc:
            if exc.status in (403, 404):
                return None
            raise
        info = review.status.user_info if review.status is not None else None
        return info.username if info is not None else None

    def bind_role(self, namespace: str, binding: str, cluster_role: str, username: str) -> bool:
        """A RoleBinding of ``cluster_role`` to ``username`` in ``namespace``; False when it already exists."""
        import kubernetes

        rbac = kubernetes.client.RbacAuthorizationV1Api(self._core.api_client)
        match username.split(":"):
            case ["system", "serviceaccount", account_namespace, account]:
                subject = {"kind": "ServiceAccount", "name": account, "namespace": account_namespace}
            case _:
                subject = {"kind": "User", "name": username, "apiGroup": "rbac.authorization.k8s.io"}
        body: Any = {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "RoleBinding",
            "metadata": {"name": binding, "namespace": namespace, "labels": {MANAGED_BY[0]: MANAGED_BY[1]}},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": cluster_role},
            "subjects": [subject],
        }
        try:
            rbac.create_namespaced_role_binding(namespace, body, _request_timeout=self._timeout)
        except kubernetes.client.ApiException as exc:
            if exc.status == HTTPStatus.CONFLICT:
                return False
            raise
        return True

    def delete(self, name: str) -> bool:
        """Delete the namespace (and so everything in it); False when it was already gone."""
        import kubernetes

        try:
            self._core.delete_namespace(name, _request_timeout=self._timeout)
        except kubernetes.client.ApiException as exc:
            if exc.status == HTTPStatus.NOT_FOUND:
                return False
            raise
        return True
