"""A Kubernetes API for tests: KMock's emulator served on 127.0.0.1 from a daemon thread.

The official client talks real HTTP and real watch streams to it. KMock keeps objects exactly as
POSTed (no uid/resourceVersion/status defaults). It ignores label and field selectors, which a
real API server applies: ``SelectingEmulator`` applies them (tests/support/selectors.py), so the
product is tested against an API that selects as the real one does. Tests drive state over HTTP
(``create``/``patch_status``), which is what notifies watchers; direct edits of kmock's store
would not. Every write it handles also counts in ``KubeApi.changes``: the controller and kubelet
stand-ins make a pass after each change instead of polling (an idle poll every 0.1 s cost a third
of a core for as long as a test ran).
"""

from __future__ import annotations

import asyncio
import copy
import datetime as dt
import json
import threading
import urllib.request
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, Self

import attrs
import kmock
from kmock._internal import dicts as kmock_dicts  # the emulator's own merge-patch
from kmock._internal import filtering as kmock_filtering  # the base of its request criteria

from tests.support.selectors import Selection

# Resources envctl reads; KMock answers 404 for undeclared ones.
RESOURCES: dict[str, tuple[str, bool]] = {
    "v1/pods": ("Pod", True),
    "v1/events": ("Event", True),
    "v1/nodes": ("Node", False),
    "v1/namespaces": ("Namespace", False),
    "v1/secrets": ("Secret", True),
    "v1/configmaps": ("ConfigMap", True),
    "v1/services": ("Service", True),
    "apps/v1/deployments": ("Deployment", True),
    "apps/v1/statefulsets": ("StatefulSet", True),
    "apps/v1/daemonsets": ("DaemonSet", True),
    "apps/v1/replicasets": ("ReplicaSet", True),
    "apps/v1/controllerrevisions": ("ControllerRevision", True),
    "v1/serviceaccounts": ("ServiceAccount", True),
    "batch/v1/jobs": ("Job", True),
    "coordination.k8s.io/v1/leases": ("Lease", True),
}

_WRITES = (kmock.action.CREATE, kmock.action.UPDATE, kmock.action.DELETE)

VERSION_INFO = {
    "major": "1", "minor": "31", "gitVersion": "v1.31.5+k3s1", "gitCommit": "0" * 40,
    "gitTreeState": "clean", "buildDate": "2025-01-01T00:00:00Z", "goVersion": "go1.22",
    "compiler": "gc", "platform": "linux/amd64",
}


class Changes:
    """How many writes the API has handled, and a way to wait for the next one (a thread's barrier)."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self.count = 0

    def bump(self) -> None:
        with self._cond:
            self.count += 1
            self._cond.notify_all()

    def wait(self, since: int, stop: threading.Event | None = None, timeout: float | None = None) -> bool:
        """Block until a write after ``since`` (a ``count`` read earlier), until ``stop`` is set (whoever
        sets it calls ``wake``) or for ``timeout`` seconds (bounds a hang); False after the timeout."""
        with self._cond:
            return self._cond.wait_for(lambda: self.count != since or (stop is not None and stop.is_set()), timeout)

    def wake(self) -> None:
        with self._cond:
            self._cond.notify_all()


@attrs.frozen
class _ObjectRequest(kmock_filtering.Criteria):
    """A request with this action for an object or a list of them (a discovery path such as
    /apis/apps/v1 has a resource without a plural: not one of these)."""

    action: Any

    def __call__(self, request: Any) -> bool:
        return request.action is self.action and getattr(request.resource, "plural", None) is not None


def _path(resource: str, namespace: str | None, name: str | None = None, sub: str | None = None) -> str:
    group_version, plural = resource.rsplit("/", 1)
    prefix = "/api/v1" if group_version == "v1" else f"/apis/{group_version}"
    parts = [prefix]
    if namespace is not None:
        parts.append(f"namespaces/{namespace}")
    parts.append(plural)
    if name:
        parts.append(name)
    if sub:
        parts.append(sub)
    return "/".join(parts)


@attrs.define(kw_only=True)
class SelectingEmulator(kmock.KubernetesEmulator):
    """KMock's emulator with lists and watches narrowed by ``labelSelector``/``fieldSelector``.

    A watch behaves as the API server's does for a selector: an object that stops matching is sent
    as DELETED, one that starts matching as ADDED.
    """

    async def _handle(self, request: Any) -> Any:
        """What the API server writes into every object, and KMock does not: a ``uid`` and
        ``creationTimestamp`` on create, and a workload's (``apps``, ``batch``) ``metadata.generation``
        — 1 on create, bumped by a write that changes ``spec`` (not by a status write). A value the
        body names is kept (ServerSideEmulator sets its own first)."""
        data = request.data if isinstance(request.data, dict) else None
        if data is not None and request.resource is not None and request.subresource is None:
            meta = data.setdefault("metadata", {})
            workload = getattr(request.resource, "group", "") in {"apps", "batch"}  # those keep a generation
            if request.action == kmock.action.CREATE:
                meta.setdefault("uid", str(uuid.uuid4()))
                meta.setdefault("creationTimestamp", dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"))
                if workload:
                    meta.setdefault("generation", 1)
            elif request.action == kmock.action.UPDATE and workload and "spec" in data and "generation" not in meta:
                key = (request.resource, request.namespace, request.name)
                current = self.objects[key] if key in self.objects else None  # noqa: SIM401 - KMock's store has no get
                if current is not None and not current.deleted:
                    before = current.raw
                    after = kmock_dicts.patch_dict(copy.deepcopy(before), {"spec": data["spec"]})
                    if after.get("spec") != before.get("spec"):
                        meta["generation"] = int(before.get("metadata", {}).get("generation") or 0) + 1
        response = await super()._handle(request)
        if request.resource is not None and request.action in _WRITES and response.status < 400:
            self.changes.bump()
        return response

    def __attrs_post_init__(self) -> None:
        super().__attrs_post_init__()
        # KMock tries its reactions in priority order, and trying one runs its criteria over every
        # request served so far (its own criteria cost tens of microseconds each: a request late in
        # a test cost 10-100 ms). Requests for objects are served here first, by KMock's own
        # handlers, under a criterion that costs next to nothing; the API discovery fallbacks after.
        first = self.fallback**1
        for action, serve in (
            (kmock.action.LIST, self._serve_list), (kmock.action.WATCH, self._serve_watch),
            (kmock.action.FETCH, self._serve_fetch), (kmock.action.CREATE, self._serve_create),
            (kmock.action.UPDATE, self._serve_update), (kmock.action.DELETE, self._serve_delete),
        ):  # fmt: skip
            first[_ObjectRequest(action)] << serve

    async def _serve_server_version(self, request: Any) -> Any:  # noqa: ARG002 - KMock's signature
        return VERSION_INFO

    async def _serve_list(self, request: Any) -> Any:
        listing = await kmock.KubernetesEmulator._serve_list(self, request)
        wanted = Selection.from_params(request.params)
        if not wanted:
            return listing
        return {**listing, "items": [obj for obj in listing["items"] if wanted.matches(obj)]}

    # The writes handled so far (KubeApi hands its own in): what the stand-in controllers wait on.
    changes: Changes = attrs.field(factory=Changes)

    # Watches opened so far, per resource (e.g. "pods"): a test's barrier for "the waiter is watching".
    watches: dict[str, int] = attrs.field(factory=dict)

    async def _serve_watch(self, request: Any) -> AsyncIterator[Any]:
        wanted = Selection.from_params(request.params)
        resource = getattr(getattr(request, "resource", None), "plural", None) or "?"
        self.watches[resource] = self.watches.get(resource, 0) + 1
        shown: set[tuple[str | None, str | None]] = set()
        async for event in kmock.KubernetesEmulator._serve_watch(self, request):
            if not wanted or not isinstance(event, dict):
                yield event  # no selector, or the opening empty chunk
                continue
            obj = event.get("object") or {}
            meta = obj.get("metadata") or {}
            key = (meta.get("namespace"), meta.get("name"))
            if event.get("type") == "DELETED":
                if key in shown:
                    shown.discard(key)
                    yield event
            elif wanted.matches(obj):
                kind = "MODIFIED" if key in shown else "ADDED"
                shown.add(key)
                yield {**event, "type": kind}
            elif key in shown:
                shown.discard(key)
                yield {**event, "type": "DELETED"}


class KubeApi:
    """A running emulated API server; use as a context manager."""

    def __init__(self, emulator: type[SelectingEmulator] = SelectingEmulator) -> None:
        # ``emulator``: KMock's with selectors applied, or a layer over that
        # (kube_server_side.ServerSideEmulator adds resourceVersion conflicts).
        self._emulator_cls = emulator
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._stop: asyncio.Event | None = None
        self._thread = threading.Thread(target=self._serve, daemon=True, name="kmock")
        self.url = ""
        self.emulator: SelectingEmulator | None = None
        self.changes = Changes()  # every write the API handles (a barrier for the stand-in controllers)

    def __enter__(self) -> Self:
        self._thread.start()
        if not self._ready.wait(120):  # bounds a hang only: a busy machine starts it late
            msg = "KMock did not start"
            raise RuntimeError(msg)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(10)

    def _serve(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._loop.run_until_complete(self._main())

    async def _main(self) -> None:
        self._stop = asyncio.Event()
        async with self._emulator_cls(changes=self.changes) as emu, kmock.Server(emu) as server:
            for resource, (kind, namespaced) in RESOURCES.items():
                emu.resources[resource] = kmock.ResourceInfo(kind=kind, namespaced=namespaced)
            # KMock matches a request against its reactions in priority order, and each one it tries
            # scans every request served so far: ``/version`` is served by the emulator's own
            # fallback (``_serve_server_version``) and ``/version/`` after all the others, so the
            # object requests never try them.
            (emu.fallback**-1)["get /version/"] << VERSION_INFO
            self.emulator = emu
            self.url = str(server.url).rstrip("/")
            self._ready.set()
            await self._stop.wait()

    def run(self, coro: Any) -> Any:
        """Run a coroutine on KMock's loop (to add reactions from a sync test)."""
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(10)

    # --- driving state over HTTP (this is what notifies watchers) ---------------------------
    def _request(self, method: str, path: str, body: Any = None) -> Any:
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.url + path, data=data, method=method)
        req.add_header("Content-Type", "application/merge-patch+json" if method == "PATCH" else "application/json")
        with urllib.request.urlopen(req, timeout=60) as resp:
            raw = resp.read()
        return json.loads(raw) if raw else None

    def create(self, resource: str, obj: dict[str, Any]) -> Any:
        namespace = obj.get("metadata", {}).get("namespace")
        return self._request("POST", _path(resource, namespace), obj)

    def patch(self, resource: str, namespace: str | None, name: str, body: dict[str, Any]) -> Any:
        return self._request("PATCH", _path(resource, namespace, name), body)

    def patch_status(self, resource: str, namespace: str | None, name: str, status: dict[str, Any]) -> Any:
        return self._request("PATCH", _path(resource, namespace, name, "status"), {"status": status})

    def get(self, resource: str, namespace: str | None, name: str) -> Any:
        return self._request("GET", _path(resource, namespace, name))

    def delete(self, resource: str, namespace: str | None, name: str) -> Any:
        return self._request("DELETE", _path(resource, namespace, name))

    def write_kubeconfig(self, path: Path, *, namespace: str = "default") -> Path:
        """A kubeconfig pointing at this server (plain HTTP, dummy token), like `k3d kubeconfig get`."""
        config = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": "kmock", "cluster": {"server": self.url}}],
            "users": [{"name": "kmock", "user": {"token": "test"}}],
            "contexts": [{"name": "kmock", "context": {"cluster": "kmock", "user": "kmock", "namespace": namespace}}],
            "current-context": "kmock",
        }
        path.write_text(json.dumps(config))
        return path
