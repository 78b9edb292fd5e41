"""Server-side behaviour KMock's emulator lacks, as a thin layer over it: optimistic concurrency.

A real API server gives every object ``metadata.resourceVersion`` (bumped on each write), ``uid``
and ``creationTimestamp``, and refuses a write whose body names a resourceVersion that is no longer
current (HTTP 409 ``Conflict``: "the object has been modified; please apply your changes to the
latest version and try again"), also for a DELETE with ``preconditions.resourceVersion``. Two
envctl processes racing for a ``Lease`` rely on exactly that, so the test API must do it too.

Use ``KubeApi(emulator=ServerSideEmulator)``. The check and the write happen under one lock, so
two concurrent writers with the same resourceVersion get one success and one 409, as in etcd.
"""

from __future__ import annotations

import asyncio
import datetime
import itertools
import uuid
from typing import Any

import attrs
import kmock
from kmock._internal import enums, k8s, rendering  # the emulator's own request/error types

__all__ = ["ServerSideEmulator"]


def _plural(request: rendering.Request) -> str:
    resource = request.resource
    group = getattr(resource, "group", "") or ""
    plural = getattr(resource, "plural", "") or "objects"
    return f"{plural}.{group}" if group else plural


@attrs.define(kw_only=True)
class ServerSideEmulator(kmock.KubernetesEmulator):
    """KMock's emulator plus resourceVersion/uid/creationTimestamp and 409 on stale writes."""

    _versions: itertools.count[int] = attrs.field(factory=lambda: itertools.count(1000), init=False)
    _write_lock: asyncio.Lock = attrs.field(factory=asyncio.Lock, init=False)

    async def _handle(self, request: rendering.Request) -> Any:
        action = request.action
        if request.resource is None or action not in (
            enums.action.CREATE,
            enums.action.UPDATE,
            enums.action.DELETE,
        ):
            return await super()._handle(request)
        async with self._write_lock:
            try:
                self._precondition(request)
            except k8s.KubernetesError as exc:
                return await self._render_error(exc)
            return await super()._handle(request)

    def _precondition(self, request: rendering.Request) -> None:
        data = request.data if isinstance(request.data, dict) else {}
        if request.action == enums.action.CREATE:
            meta = data.setdefault("metadata", {})
            meta["resourceVersion"] = str(next(self._versions))
            meta.setdefault("uid", str(uuid.uuid4()))
            now = datetime.datetime.now(datetime.UTC).replace(microsecond=0)
            meta.setdefault("creationTimestamp", now.isoformat().replace("+00:00", "Z"))
            return
        current = self._current(request)
        if current is None:
            return  # KMock answers 404 itself
        have = str(current.get("metadata", {}).get("resourceVersion", ""))
        if request.action == enums.action.UPDATE:
            wanted = data.get("metadata", {}).get("resourceVersion")
            self._check(request, wanted, have)
            data.setdefault("metadata", {})["resourceVersion"] = str(next(self._versions))
        else:
            preconditions = data.get("preconditions") or {}
            self._check(request, preconditions.get("resourceVersion"), have)

    def _check(self, request: rendering.Request, wanted: object, have: str) -> None:
        if wanted is not None and str(wanted) != have:
            msg = (
                f'Operation cannot be fulfilled on {_plural(request)} "{request.name}": the object has been '
                "modified; please apply your changes to the latest version and try again"
            )
            raise k8s.KubernetesError(status=409, reason="Conflict", message=msg, details={"name": request.name})

    def _current(self, request: rendering.Request) -> Any:
        key = (request.resource, request.namespace, request.name)
        if key not in self.objects:
            return None
        obj = self.objects[key]
        return None if obj.deleted else obj
