"""What `up` and `down` hold on a shared cluster while they run: the release namespace and its Lease.

``up``: the namespace is created (or refreshed, or with ``adopt`` taken over) before anything else
— the Lease lives in it — then the Lease is taken (waiting, or exit 9 with ``--no-wait-lock``) and
held until the run ends. ``down``: nothing is created; a namespace that is not this workspace's is
refused (exit 8), an absent one means there is nothing to take down.

The decisions are ``ownership.py``'s, the lock ``cluster_lock.py``'s; this module only orders them.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from envctl.adapters.kube_lease import LeaseApi
from envctl.adapters.kube_namespaces import NamespaceApi
from envctl.cluster_lock import DEFAULT_LEASE_SECONDS, ClusterLock, Holder, cluster_lock
from envctl.config import parse_duration
from envctl.errors import ClusterError
from envctl.namespaces import NamespaceEntry, ensure_release_namespace
from envctl.naming import label_value

if TYPE_CHECKING:
    from envctl.kube_target import KubeTarget
    from envctl.toolbox import AppState
    from envctl.workspace_identity import ReleaseTarget
from envctl.ownership import LABELS, NamespaceInfo, Owner

__all__ = ["HeldNamespace", "hold_for_down", "hold_for_up", "shared_namespace"]


@dataclass(frozen=True)
class HeldNamespace:
    """The namespace a run holds: what ``up`` did to it (None for ``down``) and the lock."""

    name: str
    entry: NamespaceEntry | None
    info: NamespaceInfo | None
    lock: ClusterLock


@contextmanager
def hold_for_up(
    api_client: Any,
    namespace: str,
    owner: Owner,
    *,
    ttl_seconds: float,
    adopt: bool,
    wait: bool,
    on_wait: Callable[[str], None] | None,
    holder: Holder,
    on_lost: Callable[[str], None] | None = None,
    lease_seconds: int = DEFAULT_LEASE_SECONDS,
    now: dt.datetime | None = None,
) -> Iterator[HeldNamespace]:
    """Ensure the namespace is this workspace's, then hold the release's Lease for the block."""
    entry = ensure_release_namespace(
        NamespaceApi(api_client), namespace, owner, ttl_seconds=ttl_seconds, adopt=adopt, now=now
    )
    lock = ClusterLock(LeaseApi(api_client), namespace, owner.release, holder, duration_seconds=lease_seconds,
                       on_lost=on_lost)  # fmt: skip
    with cluster_lock(lock, wait=wait, on_wait=on_wait):
        yield HeldNamespace(namespace, entry, entry.namespace, lock)
    lock.check()


@contextmanager
def hold_for_down(
    api_client: Any,
    namespace: str,
    owner: Owner,
    *,
    wait: bool,
    on_wait: Callable[[str], None] | None,
    holder: Holder,
    lease_seconds: int = DEFAULT_LEASE_SECONDS,
) -> Iterator[HeldNamespace | None]:
    """Hold the Lease of a namespace this workspace owns; None when the namespace does not exist."""
    info = NamespaceApi(api_client).read(namespace)
    if info is None:
        yield None
        return
    standing = info.standing(label_value(owner.workspace))
    if standing != "ours":
        whose = "is not managed by envctl" if standing == "unmanaged" else (
            f"belongs to another envctl workspace ({info.labels.get(LABELS['workspace'], '?')})")  # fmt: skip
        msg = f"namespace {namespace} {whose}: envctl down leaves it alone"
        raise ClusterError(
            msg, hint="run `envctl down` from the workspace that created it, or remove the release with helm"
        )
    lock = ClusterLock(LeaseApi(api_client), namespace, owner.release, holder, duration_seconds=lease_seconds)
    with cluster_lock(lock, wait=wait, on_wait=on_wait):
        yield HeldNamespace(namespace, None, info, lock)


@contextmanager
def shared_namespace(
    state: AppState,
    release: ReleaseTarget,
    target: KubeTarget,
    *,
    adopt: bool,
    wait: bool,
    on_wait: Callable[[str], None] | None,
) -> Iterator[HeldNamespace | None]:
    """`up`'s hold on a shared cluster (namespace ensured, Lease held); nothing for a k3d cluster."""
    if state.config.cluster.provider != "existing":
        yield None
        return
    from envctl import output

    api_client = state.kube(target.kubeconfig, context=target.context)
    holder = Holder.this_process("envctl up", state.environ)
    with hold_for_up(
        api_client, release.namespace, state.owner(release), ttl_seconds=parse_duration(state.config.release.ttl),
        adopt=adopt, wait=wait, on_wait=on_wait, holder=holder, on_lost=output.warn,
    ) as held:  # fmt: skip
        if held.entry is not None:
            done = {"create": "created", "refresh": "refreshed", "adopt": "adopted"}[held.entry.action]
            output.info(f"namespace {release.namespace}: {done}, expires {held.entry.expires_at}")
        yield held


@dataclass(frozen=True)
class SharedDown:
    """What `down` did on a shared cluster."""

    namespace: str
    release: str
    uninstalled: int | None  # the revision removed, None when none was installed
    namespace_deleted: bool
    note: str


def take_down(
    state: AppState,
    release: ReleaseTarget,
    target: KubeTarget,
    *,
    keep_namespace: bool,
    wait: bool,
    on_wait: Callable[[str], None] | None,
) -> SharedDown:
    """Uninstall the release under its Lease, then delete the namespace envctl created for it.

    Kept: an absent namespace (nothing to do), one envctl adopted rather than created, and any
    namespace with ``keep_namespace``. Another workspace's or an unmanaged one is refused (exit 8).
    """
    from envctl import output
    from envctl.ownership import ANNOTATIONS
    from envctl.phases.deploy import remove_release
    from envctl.timing.spans import Recorder

    api_client = state.kube(target.kubeconfig, context=target.context)
    holder = Holder.this_process("envctl down", state.environ)
    name, namespace = release.name, release.namespace
    with hold_for_down(api_client, namespace, state.owner(release), wait=wait, on_wait=on_wait, holder=holder) as held:
        if held is None or held.info is None:
            note = f"namespace {namespace} does not exist"
            return SharedDown(namespace, name, None, namespace_deleted=False, note=note)
        progress = output.ConsoleProgress()
        helm = state.helm(target.kubeconfig, progress=progress, context=target.context, create_namespace=False)
        spec = state.config.release.model_copy(update={"name": name, "namespace": namespace})
        removed = remove_release(spec, helm=helm, progress=progress, recorder=Recorder())
        revision = removed.revision if removed.action == "uninstalled" else None
        if keep_namespace:
            return SharedDown(namespace, name, revision, namespace_deleted=False, note="kept (--keep-namespace)")
        if ANNOTATIONS["adopted_at"] in held.info.annotations:
            note = "kept (adopted, not created by envctl)"
            return SharedDown(namespace, name, revision, namespace_deleted=False, note=note)
        deleted = NamespaceApi(api_client).delete(namespace)
    return SharedDown(namespace, name, revision, deleted, "deleted" if deleted else "already gone")
