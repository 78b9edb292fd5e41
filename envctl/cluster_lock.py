"""One `envctl up`/`down` at a time per release on a shared cluster: a Kubernetes ``Lease`` as the lock.

The workspace file lock (``lock.py``) only sees one machine. On a shared cluster two CI runners
(or a laptop and a runner) can target the same namespace, so the lock lives in the cluster: a
``coordination.k8s.io/v1`` Lease named after the release, in the release's namespace.

How it behaves (the rules client-go's leader election follows):

* Free (absent, or released with no holder): taken by a create, or a write conditioned on the
  resourceVersion just read; a racing writer gets 409 and reads again, so exactly one wins.
* Held: ``wait=False`` raises ``LockedError`` (exit 9) naming the holder; otherwise the holder is
  named once through ``on_wait`` and we poll.
* Abandoned: a holder renews every third of the lease duration. When the record has not changed
  for a whole duration **as measured by this process's monotonic clock** the holder is taken to
  be gone and the lease is taken over (``leaseTransitions`` + 1). Measuring locally instead of
  comparing ``renewTime`` with our wall clock keeps clock skew between machines from stealing a
  live lock; the price is that an abandoned lease costs a newcomer one full duration.
* While held, one daemon thread renews it. It is the only thread envctl starts outside the
  scheduler: renewal must go on whatever the run is doing, and it does nothing else. If a renewal
  finds the lease taken by someone else, ``lost`` is set and ``on_lost`` is told; ``check()``
  then raises, so the run stops at its next step instead of racing the new holder.
"""

from __future__ import annotations

import datetime as dt
import os
import secrets
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from typing import Protocol

from envctl.adapters.kube_lease import LeaseConflict, LeaseRecord
from envctl.errors import ClusterError, LockedError

__all__ = ["DEFAULT_LEASE_SECONDS", "ClusterLock", "Holder", "LeaseStore", "cluster_lock"]

DEFAULT_LEASE_SECONDS = 30


class LeaseStore(Protocol):
    """What the lock needs from the API (``adapters.kube_lease.LeaseApi``)."""

    def read(self, namespace: str, name: str) -> LeaseRecord | None: ...
    def create(self, namespace: str, name: str, record: LeaseRecord) -> LeaseRecord: ...
    def replace(self, namespace: str, name: str, record: LeaseRecord) -> LeaseRecord: ...


@dataclass(frozen=True)
class Holder:
    """Who holds the lock: a unique identity plus what a waiting user needs to find the holder."""

    identity: str
    host: str
    pid: int
    command: str
    run_url: str | None = None

    @classmethod
    def this_process(cls, command: str, environ: dict[str, str]) -> Holder:
        """This process, with the GitHub Actions run URL when it runs in one."""
        host, pid = socket.gethostname(), os.getpid()
        server, repo, run = (environ.get(k) for k in ("GITHUB_SERVER_URL", "GITHUB_REPOSITORY", "GITHUB_RUN_ID"))
        run_url = f"{server}/{repo}/actions/runs/{run}" if server and repo and run else None
        return cls(f"{host}/{pid}/{secrets.token_hex(4)}", host, pid, command, run_url)

    def info(self) -> dict[str, str]:
        found = {"host": self.host, "pid": str(self.pid), "command": self.command, "run_url": self.run_url}
        return {key: value for key, value in found.items() if value}


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class ClusterLock:
    """A Lease-backed lock for one release; use ``cluster_lock(...)`` to hold it for a block."""

    def __init__(
        self,
        store: LeaseStore,
        namespace: str,
        name: str,
        holder: Holder,
        *,
        duration_seconds: int = DEFAULT_LEASE_SECONDS,
        poll_seconds: float | None = None,
        on_lost: Callable[[str], None] | None = None,
    ) -> None:
        self.namespace, self.name, self.holder = namespace, name, holder
        self._store = store
        self._duration = duration_seconds
        self._poll = poll_seconds if poll_seconds is not None else min(2.0, duration_seconds / 4)
        self._on_lost = on_lost
        self._held: LeaseRecord | None = None
        self._state_lock = threading.Lock()  # guards _held between the renewer and release()
        self._stop = threading.Event()
        self._renewer: threading.Thread | None = None
        self.lost = threading.Event()
        self.took_over_from: str | None = None

    @property
    def where(self) -> str:
        return f"lease {self.name} in namespace {self.namespace}"

    def acquire(self, *, wait: bool, on_wait: Callable[[str], None] | None = None) -> LeaseRecord:
        """Take the lease (waiting for it when ``wait``) and start renewing it."""
        observed: tuple[object, ...] | None = None
        observed_at = time.monotonic()
        announced: str | None = None
        while True:
            current = self._store.read(self.namespace, self.name)
            try:
                if current is None:
                    return self._took(self._store.create(self.namespace, self.name, self._mine(None)))
                if current.holder is None or current.holder == self.holder.identity:
                    return self._took(self._store.replace(self.namespace, self.name, self._mine(current)))
                key = (current.holder, current.renewed_at, current.resource_version)
                if key != observed:
                    observed, observed_at = key, time.monotonic()
                if time.monotonic() - observed_at >= max(current.duration_seconds, 1):
                    taken = self._store.replace(self.namespace, self.name, self._mine(current))
                    self.took_over_from = current.describe_holder()
                    return self._took(taken)
            except LeaseConflict:
                continue  # someone wrote between our read and our write: read again
            holder = current.describe_holder()
            if not wait:
                msg = f"{self.where} is held by {holder}"
                raise LockedError(msg, hint="wait for that run to finish, or run again without --no-wait-lock")
            if on_wait is not None and holder != announced:
                on_wait(f"waiting for {holder}, which holds {self.where}…")
                announced = holder
            time.sleep(self._poll)

    def _mine(self, current: LeaseRecord | None) -> LeaseRecord:
        now = _now()
        # As client-go counts them: each new holder is one transition (a release itself is none).
        transitions = 0 if current is None else current.transitions + (current.holder != self.holder.identity)
        return LeaseRecord(
            holder=self.holder.identity,
            duration_seconds=self._duration,
            acquired_at=now,
            renewed_at=now,
            transitions=transitions,
            holder_info=self.holder.info(),
            resource_version=None if current is None else current.resource_version,
        )

    def _took(self, record: LeaseRecord) -> LeaseRecord:
        with self._state_lock:
            self._held = record
        self._stop.clear()
        self._renewer = threading.Thread(target=self._renew_loop, name=f"lease-{self.name}", daemon=True)
        self._renewer.start()
        return record

    def _renew_loop(self) -> None:
        interval = self._duration / 3
        while not self._stop.wait(interval):
            if not self.renew():
                return

    def renew(self) -> bool:
        """Renew once; False (and ``lost`` set) when someone else holds the lease now."""
        with self._state_lock:
            held = self._held
            if held is None:
                return False
            try:
                self._held = self._store.replace(self.namespace, self.name, replace(held, renewed_at=_now()))
            except LeaseConflict:
                current = self._store.read(self.namespace, self.name)
                if current is not None and current.holder == self.holder.identity:
                    self._held = current  # our own earlier write raced this one: keep holding
                    return True
                self._held = None
                self.lost.set()
                who = current.describe_holder() if current is not None else "nobody (it was deleted)"
                if self._on_lost is not None:
                    self._on_lost(f"{self.where} was taken over by {who}")
                return False
            except Exception:  # noqa: BLE001 - a failed renewal is retried; the lease outlives a blip
                return True
            return True

    def check(self) -> None:
        """Raise ``LockedError`` if the lease was lost while we thought we held it."""
        if self.lost.is_set():
            msg = f"{self.where} was taken over by another run while this one held it"
            raise LockedError(msg, hint="the other run now owns the namespace; rerun when it has finished")

    def release(self) -> None:
        """Stop renewing and clear the holder (a conditioned write: a lease lost meanwhile is left alone)."""
        self._stop.set()
        if self._renewer is not None and self._renewer is not threading.current_thread():
            self._renewer.join(timeout=self._duration)
        with self._state_lock:
            held, self._held = self._held, None
        if held is None:
            return
        released = replace(held, holder=None, holder_info={}, renewed_at=_now())
        try:
            self._store.replace(self.namespace, self.name, released)
        except LeaseConflict:
            pass  # taken over meanwhile: it is not ours to clear
        except ClusterError:
            pass  # the namespace went (down/gc deleted it, and the lease with it)


@contextmanager
def cluster_lock(
    lock: ClusterLock, *, wait: bool, on_wait: Callable[[str], None] | None = None
) -> Iterator[ClusterLock]:
    """Hold ``lock`` for the ``with`` body (released on any exit, including Ctrl-C)."""
    lock.acquire(wait=wait, on_wait=on_wait)
    try:
        yield lock
    finally:
        lock.release()
