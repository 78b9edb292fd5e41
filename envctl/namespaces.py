"""The release namespace on a shared cluster: created marked, refreshed on every `up`, never taken.

The decisions are ``ownership.py``'s; this module applies them through ``adapters/kube_namespaces``.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Protocol

from envctl.adapters.kube_namespaces import NamespaceExists
from envctl.errors import ClusterError
from envctl.ownership import ANNOTATIONS, EntryAction, NamespaceInfo, Owner, entry_action, owner_labels, stamp
from envctl.rbac import RELEASE_ROLE

__all__ = ["RELEASE_BINDING", "NamespaceEntry", "NamespaceStore", "ensure_release_namespace"]

RELEASE_BINDING = "envctl"


class NamespaceStore(Protocol):
    """What entering a namespace needs from the API (``adapters.kube_namespaces.NamespaceApi``)."""

    def read(self, name: str) -> NamespaceInfo | None: ...
    def create(self, name: str, labels: dict[str, str], annotations: dict[str, str]) -> NamespaceInfo: ...
    def mark(self, name: str, labels: dict[str, str], annotations: dict[str, str]) -> NamespaceInfo: ...
    def whoami(self) -> str | None: ...
    def bind_role(self, namespace: str, binding: str, cluster_role: str, username: str) -> bool: ...


@dataclass(frozen=True)
class NamespaceEntry:
    """What ``up`` did to its namespace: ``create``, ``refresh`` or ``adopt``, and the result."""

    action: EntryAction
    namespace: NamespaceInfo

    @property
    def expires_at(self) -> str | None:
        return self.namespace.annotations.get(ANNOTATIONS["expires_at"])


def ensure_release_namespace(
    store: NamespaceStore,
    name: str,
    owner: Owner,
    *,
    ttl_seconds: float,
    adopt: bool = False,
    now: dt.datetime | None = None,
) -> NamespaceEntry:
    """Create, refresh or (with ``adopt``) take over ``name``; ``ClusterError`` (exit 8) when refused."""
    when = now or dt.datetime.now(dt.UTC)
    for _attempt in range(2):  # a create lost to a racing run is read again once
        existing = store.read(name)
        try:
            action = entry_action(existing, owner, adopt=adopt)
        except PermissionError as exc:
            hint = (
                "wait for the deletion to finish and rerun"
                if existing is not None and existing.terminating
                else "pass --adopt to make it this workspace's, or choose another namespace (--namespace)"
            )
            raise ClusterError(str(exc), hint=hint) from None
        labels = owner_labels(owner)
        if action == "create":
            try:
                made = store.create(name, labels, stamp(owner, when, ttl_seconds, created=True))
            except NamespaceExists:
                continue
            _bind_release_role(store, name)
            return NamespaceEntry("create", made)
        created = existing is not None and ANNOTATIONS["created_at"] in existing.annotations
        notes = stamp(owner, when, ttl_seconds, created=not created)
        if action == "adopt":
            notes[ANNOTATIONS["adopted_at"]] = notes[ANNOTATIONS["last_up"]]
        marked = store.mark(name, labels, notes)
        if action == "adopt":
            _bind_release_role(store, name)
        return NamespaceEntry(action, marked)
    msg = f"namespace {name} appeared and vanished while envctl was creating it"
    raise ClusterError(msg, hint="another run is creating and deleting it; rerun when it has finished")


def _bind_release_role(store: NamespaceStore, namespace: str) -> None:
    """Grant ourselves ``envctl-release`` in the namespace we just made ours (see ``envctl rbac``).

    A CI service account set up with ``envctl rbac`` holds no rights inside namespaces until this
    RoleBinding exists; for anyone with wider rights it is harmless. The RoleBinding lives and dies
    with the namespace.
    """
    username = store.whoami()
    if username is not None:
        store.bind_role(namespace, RELEASE_BINDING, RELEASE_ROLE, username)
