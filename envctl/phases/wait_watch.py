"""One watch per resource kind in a namespace, each in a thread, feeding a single queue.

Each watcher lists first and watches from the list's resourceVersion, both with the release's
label selector (the API server sends only the release's objects); on 410 Gone it re-lists (an
``ERROR`` event with code 410, or a 410 answer: docs/tools-behaviour.md, "Watches"). A stream the
server ends (``timeoutSeconds``) or that stays idle until the read timeout is watched again from
the last resourceVersion seen, bookmarks included. Objects travel as the API's JSON.
"""

from __future__ import annotations

import queue
import threading
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any

from envctl.adapters.kube import KubeApiError, WatchStream, list_objects, unreachable, watch_objects
from envctl.workloads.view import Changed, Listed
from envctl.workloads.wire import text

__all__ = ["ResourceWatcher", "WatchBroken"]

# Server-side watch length (the API server closes the stream after it) and the idle read timeout
# that bounds a silent stream. Either way the watcher just watches again.
WATCH_SECONDS = 30
READ_TIMEOUT = WATCH_SECONDS + 5
CONNECT_TIMEOUT = 5
RETRY_PAUSE = 0.5  # after a dropped connection or a 5xx, before trying again


@dataclass(frozen=True)
class WatchBroken:
    """A watcher hit an error that retrying will not fix (e.g. 403 Forbidden)."""

    kind: str
    error: Exception


class ResourceWatcher:
    """Lists and watches one kind of object (those ``selector`` selects) until ``stop()``."""

    def __init__(
        self, api_client: Any, kind: str, namespace: str, selector: str, out: queue.Queue[Any]
    ) -> None:
        self.kind = kind
        self._api = api_client
        self._namespace = namespace
        self._selector = selector
        self._out = out
        self._stopped = threading.Event()
        self._lock = threading.Lock()
        self._stream: WatchStream | None = None
        self._thread = threading.Thread(target=self._run, daemon=True, name=f"envctl-watch-{kind.lower()}")

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        with self._lock:
            self._stopped.set()
            if self._stream is not None:
                self._stream.shut()  # ends a blocked read at once

    def join(self, timeout: float) -> None:
        self._thread.join(timeout)

    def _run(self) -> None:
        while not self._stopped.is_set():
            try:
                resource_version = self._relist()
                while not self._stopped.is_set():
                    resource_version = self._watch_from(resource_version)
            except KubeApiError as exc:
                if exc.status == HTTPStatus.GONE:
                    continue  # our resourceVersion expired: list again
                if HTTPStatus.BAD_REQUEST <= exc.status < HTTPStatus.INTERNAL_SERVER_ERROR:
                    self._out.put(WatchBroken(self.kind, exc))
                    return
                self._stopped.wait(RETRY_PAUSE)
            except Exception as exc:  # noqa: BLE001 - sorted below: retried, or handed to the waiter
                if not unreachable(exc):  # e.g. an answer that is not JSON: the waiter raises it
                    self._out.put(WatchBroken(self.kind, exc))
                    return
                # A dropped or refused connection: list again after a pause (none once stopped);
                # the waiter's deadline bounds how long that goes on.
                self._stopped.wait(RETRY_PAUSE)

    def _relist(self) -> str | None:
        listing = list_objects(
            self._api, self.kind, self._namespace, label_selector=self._selector,
            timeout=(CONNECT_TIMEOUT, READ_TIMEOUT),
        )  # fmt: skip
        self._out.put(Listed(self.kind, listing.items))
        return listing.resource_version

    def _watch_from(self, resource_version: str | None) -> str | None:
        """Stream events until the stream ends; returns the resourceVersion to resume from."""
        if self._stopped.is_set():
            return resource_version
        stream = watch_objects(
            self._api, self.kind, self._namespace, label_selector=self._selector,
            resource_version=resource_version, server_timeout=WATCH_SECONDS, timeout=(CONNECT_TIMEOUT, READ_TIMEOUT),
        )  # fmt: skip
        with self._lock:
            self._stream = stream
            if self._stopped.is_set():  # stop() came while the watch was being opened
                stream.shut()
        try:
            for event in stream.events():
                if self._stopped.is_set():
                    break
                obj = event.get("object") or {}
                # A bookmark carries only its resourceVersion: it moves where to resume, nothing else.
                resource_version = text(obj, "metadata", "resourceVersion") or resource_version
                if event.get("type") != "BOOKMARK":
                    self._out.put(Changed(self.kind, str(event.get("type")), obj))
        finally:
            with self._lock:
                self._stream = None
            stream.close()
        return resource_version
