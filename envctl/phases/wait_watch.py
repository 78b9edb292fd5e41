"""One watch per resource kind in a namespace, each in a thread, feeding a single queue.

Each watcher lists first and watches from the list's resourceVersion, both with the release's
label selector (the API server sends only the release's objects); on 410 Gone it re-lists (the
client raises at once because ``timeout_seconds`` is given: docs/tools-behaviour.md, "Watches");
an idle stream ends with urllib3's ReadTimeoutError, which only means "reconnect".
"""

from __future__ import annotations

import contextlib
import functools
import queue
import socket
import threading
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any

from envctl.adapters.kube import lister
from envctl.workloads.view import Changed, Listed

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
        self._list = lister(api_client, kind)
        self._namespace = namespace
        self._selector = selector
        self._out = out
        self._stopped = threading.Event()
        self._lock = threading.Lock()
        self._watch: Any = None
        self._response: Any = None
        self._thread = threading.Thread(target=self._run, daemon=True, name=f"envctl-watch-{kind.lower()}")

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        with self._lock:
            self._stopped.set()
            if self._watch is not None:
                self._watch.stop()
            if self._response is not None:
                _shut(self._response)  # ends a blocked read at once

    def _opened(self, *args: Any, **kwargs: Any) -> Any:
        """The watch request, remembered so stop() can end it even while it is still being opened.

        (``Watch.stop()`` alone misses a stream whose response has not arrived yet: it would then
        block until the read timeout.)
        """
        response = self._list(*args, **kwargs)
        with self._lock:
            self._response = response
            if self._stopped.is_set():
                _shut(response)
        return response

    def join(self, timeout: float) -> None:
        self._thread.join(timeout)

    def _run(self) -> None:
        import kubernetes
        import urllib3

        while not self._stopped.is_set():
            try:
                resource_version = self._relist()
                while not self._stopped.is_set():
                    resource_version = self._watch_from(resource_version)
            except kubernetes.client.ApiException as exc:
                if exc.status == HTTPStatus.GONE:
                    continue  # our resourceVersion expired: list again
                if exc.status is not None and HTTPStatus.BAD_REQUEST <= exc.status < HTTPStatus.INTERNAL_SERVER_ERROR:
                    self._out.put(WatchBroken(self.kind, exc))
                    return
                self._stopped.wait(RETRY_PAUSE)
            except (urllib3.exceptions.HTTPError, OSError):
                # A dropped or refused connection: list again after a pause (none once stopped);
                # the waiter's deadline bounds how long that goes on.
                self._stopped.wait(RETRY_PAUSE)
            except Exception as exc:  # noqa: BLE001 - e.g. an object the client cannot parse: the waiter raises it
                self._out.put(WatchBroken(self.kind, exc))
                return

    def _relist(self) -> str | None:
        listing = self._list(
            self._namespace, label_selector=self._selector, _request_timeout=(CONNECT_TIMEOUT, READ_TIMEOUT)
        )
        self._out.put(Listed(self.kind, tuple(listing.items)))
        return listing.metadata.resource_version if listing.metadata else None

    def _watch_from(self, resource_version: str | None) -> str | None:
        """Stream events until the stream ends; returns the resourceVersion to resume from."""
        import kubernetes
        import urllib3

        watch = kubernetes.watch.Watch()

        def opened(*args: Any, **kw: Any) -> Any:
            return self._opened(*args, **kw)

        functools.update_wrapper(opened, self._list)  # Watch reads the item type from the docstring
        with self._lock:
            if self._stopped.is_set():
                return resource_version
            self._watch = watch
        kwargs: dict[str, Any] = {
            "label_selector": self._selector,
            "allow_watch_bookmarks": True,
            "timeout_seconds": WATCH_SECONDS,
            "_request_timeout": (CONNECT_TIMEOUT, READ_TIMEOUT),
        }
        if resource_version:
            kwargs["resource_version"] = resource_version
        try:
            for event in watch.stream(opened, self._namespace, **kwargs):
                if self._stopped.is_set():
                    break
                if event["type"] == "BOOKMARK":
                    resource_version = event["raw_object"]["metadata"].get(
                        "resourceVersion", resource_version
                    )
                    continue
                obj = event["object"]
                resource_version = (
                    obj.metadata.resource_version if obj.metadata else None
                ) or resource_version
                self._out.put(Changed(self.kind, event["type"], obj))
        except urllib3.exceptions.ReadTimeoutError:
            pass  # an idle stream: watch again from where we were
        except urllib3.exceptions.ProtocolError:
            if not self._stopped.is_set():
                raise
        finally:
            with self._lock:
                self._watch = self._response = None
        return resource_version


def _shut(response: Any) -> None:
    sock = getattr(getattr(response, "connection", None), "sock", None)
    if sock is not None:
        with contextlib.suppress(OSError):  # already closed
            sock.shutdown(socket.SHUT_RDWR)
