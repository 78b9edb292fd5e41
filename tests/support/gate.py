"""Barriers for tests that show overlap and ordering between processes, without sleeps.

A ``Gate`` is an HTTP server on 127.0.0.1. A step that must wait (a Dockerfile ``RUN`` built with
``--network host``, a stand-in's create) requests ``/<name>``: the test sees that it *arrived*,
and the request is answered only when the test *releases* it. So "the cluster is being created
while the web build runs" is a fact the test made happen, not a guess about how long each takes.

Usage::

    with Gate() as gate:
        dockerfile.write_text(... + f"RUN {gate.shell_wait('web')}\\n")
        proc = start_envctl_up()
        gate.wait_arrived("web")      # the build reached that step
        ...
        gate.release("web")           # now it may finish
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self

__all__ = ["Gate", "wait_until"]

# Long enough for any step the tests hold; a gate never released still ends its request.
_HOLD_SECONDS = 600.0


class Gate:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._arrived: dict[str, threading.Event] = {}
        self._released: dict[str, threading.Event] = {}
        gate = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # the http.server API
                name = self.path.strip("/")
                gate._event(gate._arrived, name).set()
                gate._event(gate._released, name).wait(_HOLD_SECONDS)
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base class's name; keeps test output quiet
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def url(self, name: str) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}/{name}"

    def shell_wait(self, name: str) -> str:
        """A shell command (busybox wget) that blocks until the test releases ``name``.
        (No ``-T``: busybox 1.35's static wget crashes with it; its default read timeout is 900 s.)"""
        return f"wget -q -O /dev/null {self.url(name)}"

    def arrived(self, name: str) -> bool:
        return self._event(self._arrived, name).is_set()

    def wait_arrived(self, name: str, *, timeout: float = 240, alive: Callable[[], bool] | None = None) -> None:
        """Block until a step requested ``name``; fail early when ``alive()`` says the process died."""
        wait_until(lambda: self.arrived(name), f"gate {name!r} reached", timeout=timeout, alive=alive)

    def release(self, name: str) -> None:
        self._event(self._released, name).set()

    def close(self) -> None:
        with self._lock:
            for event in self._released.values():
                event.set()
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _event(self, table: dict[str, threading.Event], name: str) -> threading.Event:
        with self._lock:
            return table.setdefault(name, threading.Event())


def wait_until(
    condition: Callable[[], bool], what: str, *, timeout: float = 300, alive: Callable[[], bool] | None = None
) -> None:
    """Poll ``condition`` until it holds. ``timeout`` only bounds a hang (a bug), it is no margin:
    the test's outcome never depends on how soon the condition comes true."""
    deadline = time.monotonic() + timeout
    while not condition():
        if alive is not None and not alive():
            msg = f"the process ended before {what}"
            raise AssertionError(msg)
        if time.monotonic() > deadline:
            msg = f"never {what} (waited {timeout:.0f} s)"
            raise AssertionError(msg)
        time.sleep(0.05)
