"""Server-side behaviour KMock's emulator lacks, as a thin layer over it: concurrency and namespaces.

A real API server gives every object ``metadata.resourceVersion`` (bumped on each write), ``uid``
and ``creationTimestamp``, gives a workload (``apps``, ``batch``) ``metadata.generation`` 1 and
bumps it when a write changes its ``spec`` (the controllers' ``status.observedGeneration`` is
measured against it), and refuses a write whose body names a resourceVersion that is no longer
current (HTTP 409 ``Conflict``: "the object has been modified; please apply your changes to the
latest version and try again"), also for a DELETE with ``preconditions.resourceVersion``. Two
envctl processes racing for a ``Lease`` rely on exactly that, so the test API must do it too.

Namespaces: KMock 0.8 cannot parse ``/api/v1/namespaces[/NAME]`` (it reads the name as a
namespace and fails), so those two paths are parsed here and served by the same emulator store.
As a real API server does, deleting a namespace deletes what is in it, and a namespaced object
cannot be created in a namespace that does not exist (404 ``namespaces "x" not found``);
``default`` exists from the start. ``POST .../selfsubjectreviews`` answers ``username``;
``.../selfsubjectaccessreviews`` allows everything but the ``denied`` (verb, resource) pairs.

Use ``KubeApi(emulator=ServerSideEmulator)``. The check and the write happen under one lock, so
two concurrent writers with the same resourceVersion get one success and one 409, as in etcd.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import itertools
import uuid
from typing import Any

import aiohttp.web
import attrs
import kmock
from kmock._internal import enums, k8s, parsing, references, rendering  # the emulator's own types

from tests.support.kube_api import SelectingEmulator

__all__ = ["NAMESPACES", "ServerSideEmulator"]

NAMESPACES = references.resource(group="", version="v1", plural="namespaces")


def _plural(request: rendering.Request) -> str:
    resource = request.resource
    group = getattr(resource, "group", "") or ""
    plural = getattr(resource, "plural", "") or "objects"
    return f"{plural}.{group}" if group else plural


@attrs.define(kw_only=True)
class ServerSideEmulator(SelectingEmulator):
    """KMock's emulator plus resourceVersion/uid/creationTimestamp and 409 on stale writes."""

    _versions: itertools.count[int] = attrs.field(factory=lambda: itertools.count(1000), init=False)
    _write_lock: asyncio.Lock = attrs.field(factory=asyncio.Lock, init=False)

    # Who SelfSubjectReview says we are (a test may set a service account's name).
    username: str = "kubernetes-admin"
    # What SelfSubjectAccessReview denies: (verb, resource) pairs; everything else is allowed.
    denied: set[tuple[str, str]] = attrs.field(factory=set)

    def __attrs_post_init__(self) -> None:
        super().__attrs_post_init__()
        self.resources["rbac.authorization.k8s.io/v1/rolebindings"] = kmock.ResourceInfo(kind="RoleBinding", namespaced=True)
        self.objects[NAMESPACES, None, "default"] = {"apiVersion": "v1", "kind": "Namespace",
                                                      "metadata": {"name": "default", "resourceVersion": "1"}}  # fmt: skip

    async def __call__(self, raw_request: aiohttp.web.BaseRequest) -> aiohttp.web.StreamResponse:
        parts = raw_request.path.strip("/").split("/")
        if parts == ["apis", "authentication.k8s.io", "v1", "selfsubjectreviews"] and raw_request.method == "POST":
            await raw_request.read()
            review = {"apiVersion": "authentication.k8s.io/v1", "kind": "SelfSubjectReview", "metadata": {},
                      "status": {"userInfo": {"username": self.username, "groups": ["system:authenticated"]}}}  # fmt: skip
            return aiohttp.web.json_response(review, status=201)
        if parts == ["apis", "authorization.k8s.io", "v1", "selfsubjectaccessreviews"] and raw_request.method == "POST":
            spec = (await raw_request.json()).get("spec", {})
            asked = spec.get("resourceAttributes", {})
            allowed = (asked.get("verb"), asked.get("resource")) not in self.denied
            status = {"allowed": allowed, "reason": "" if allowed else "denied by the test cluster's RBAC"}
            return aiohttp.web.json_response({"apiVersion": "authorization.k8s.io/v1", "kind": "SelfSubjectAccessReview",
                                              "spec": spec, "status": status}, status=201)  # fmt: skip
        if parts[:3] != ["api", "v1", "namespaces"] or len(parts) > 4:
            return await super().__call__(raw_request)
        request = await self._parse_namespace_request(raw_request, parts[3] if len(parts) == 4 else None)
        self._requests.append(request)
        try:
            return await self._handle(request)
        except k8s.KubernetesError as exc:
            return await self._render_error(exc)

    async def _parse_namespace_request(self, raw: aiohttp.web.BaseRequest, name: str | None) -> rendering.Request:
        body = await raw.read()
        data = await raw.json() if body else None
        path = parsing.ParsedPath("", "v1", "namespaces", None, name, None)
        action = parsing.guess_k8s(path, enums.method(raw.method), dict(raw.query))
        return rendering.Request(
            id=len(self._requests), raw_request=raw, url=raw.url, method=raw.method, params=dict(raw.query),
            headers=dict(raw.headers), cookies=dict(raw.cookies), data=data, body=body, text=body.decode(),
            action=action, resource=NAMESPACES, namespace=None, name=name, subresource=None,
        )  # fmt: skip

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
            response = await super()._handle(request)
            if request.resource == NAMESPACES and action == enums.action.DELETE and response.status < 300:
                await self._delete_contents(str(request.name))
            return response

    async def _delete_contents(self, namespace: str) -> None:
        """What the namespace controller does: everything in a deleted namespace goes with it."""
        for resource, ns, name in list(self.objects):
            obj = self.objects[resource, ns, name]
            if ns == namespace and not obj.deleted:
                raw = obj.raw
                obj.delete()
                await self._buses[resource].put({"type": "DELETED", "object": raw})
        self.changes.bump()

    def _precondition(self, request: rendering.Request) -> None:
        data = request.data if isinstance(request.data, dict) else {}
        if request.action == enums.action.CREATE:
            namespace = request.namespace or data.get("metadata", {}).get("namespace")
            if request.resource != NAMESPACES and namespace and self._current_at(NAMESPACES, None, namespace) is None:
                raise k8s.KubernetesError(status=404, reason="NotFound", message=f'namespaces "{namespace}" not found')
            meta = data.setdefault("metadata", {})
            meta["resourceVersion"] = str(next(self._versions))
            meta.setdefault("uid", str(uuid.uuid4()))
            now = dt.datetime.now(dt.UTC).replace(microsecond=0)
            meta.setdefault("creationTimestamp", now.isoformat().replace("+00:00", "Z"))
            if _generated(request):
                meta["generation"] = 1
            return
        current = self._current(request)
        if current is None:
            return  # KMock answers 404 itself
        have = str(current.get("metadata", {}).get("resourceVersion", ""))
        if request.action == enums.action.UPDATE:
            wanted = data.get("metadata", {}).get("resourceVersion")
            self._check(request, wanted, have)
            data.setdefault("metadata", {})["resourceVersion"] = str(next(self._versions))
            self._bump_generation(request, current, data)
        else:
            preconditions = data.get("preconditions") or {}
            self._check(request, preconditions.get("resourceVersion"), have)

    @staticmethod
    def _bump_generation(request: rendering.Request, current: Any, data: dict[str, Any]) -> None:
        """A write of a workload's main resource that changes its spec is a new generation (KMock
        merges the body into the object, so the spec it will hold is the merge)."""
        if not _generated(request) or request.subresource is not None or not isinstance(data.get("spec"), dict):
            return
        raw = current.raw
        spec = raw.get("spec") or {}
        if _merged(spec, data["spec"]) != spec:
            meta = data.setdefault("metadata", {})
            meta["generation"] = int((raw.get("metadata") or {}).get("generation") or 0) + 1

    def _check(self, request: rendering.Request, wanted: object, have: str) -> None:
        if wanted is not None and str(wanted) != have:
            msg = (
                f'Operation cannot be fulfilled on {_plural(request)} "{request.name}": the object has been '
                "modified; please apply your changes to the latest version and try again"
            )
            raise k8s.KubernetesError(status=409, reason="Conflict", message=msg, details={"name": request.name})

    def _current(self, request: rendering.Request) -> Any:
        return self._current_at(request.resource, request.namespace, request.name)

    def _current_at(self, resource: Any, namespace: str | None, name: str | None) -> Any:
        key = (resource, namespace, name)
        if key not in self.objects:
            return None
        obj = self.objects[key]
        return None if obj.deleted else obj


def _generated(request: rendering.Request) -> bool:
    """Whether the API server keeps ``metadata.generation`` for this resource (the workload groups)."""
    return getattr(request.resource, "group", "") in {"apps", "batch"}


def _merged(base: Any, patch: Any) -> Any:
    """``patch`` merged into ``base`` as KMock merges a write: mappings key by key, the rest replaced."""
    if not isinstance(base, dict) or not isinstance(patch, dict):
        return patch
    return {**base, **{key: _merged(base.get(key), value) for key, value in patch.items()}}
