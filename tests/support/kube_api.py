"""A Kubernetes API for tests: KMock's emulator served on 127.0.0.1 from a daemon thread.

The official client talks real HTTP and real watch streams to it. KMock keeps objects exactly as
POSTed (no uid/resourceVersion/status defaults) and ignores label/field selectors; see
shared/reference/libraries.md §3. Tests drive state over HTTP (``create``/``patch_status``), which
is what notifies watchers; direct edits of kmock's store would not.
"""

from __future__ import annotations

import asyncio
import json
import threading
import urllib.request
from pathlib import Path
from typing import Any

import kmock

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
    "batch/v1/jobs": ("Job", True),
    "coordination.k8s.io/v1/leases": ("Lease", True),
}

VERSION_INFO = {
    "major": "1", "minor": "31", "gitVersion": "v1.31.5+k3s1", "gitCommit": "0" * 40,
    "gitTreeState": "clean", "buildDate": "2025-01-01T00:00:00Z", "goVersion": "go1.22",
    "compiler": "gc", "platform": "linux/amd64",
}


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


class KubeApi:
    """A running emulated API server; use as a context manager."""

    def __init__(self, emulator: type[kmock.KubernetesEmulator] = kmock.KubernetesEmulator) -> None:
        # ``emulator``: KMock's, or a layer over it (kube_server_side.ServerSideEmulator adds
        # resourceVersion conflicts).
        self._emulator_cls = emulator
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._stop: asyncio.Event | None = None
        self._thread = threading.Thread(target=self._serve, daemon=True, name="kmock")
        self.url = ""
        self.emulator: kmock.KubernetesEmulator | None = None

    def __enter__(self) -> KubeApi:
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
        async with self._emulator_cls() as emu, kmock.Server(emu) as server:
            for resource, (kind, namespaced) in RESOURCES.items():
                emu.resources[resource] = kmock.ResourceInfo(kind=kind, namespaced=namespaced)
            emu["get /version/"] << VERSION_INFO
            emu["get /version"] << VERSION_INFO
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
        with urllib.request.urlopen(req, timeout=10) as resp:  # noqa: S310 - loopback only
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
