"""Requests to the Kubernetes API on its wire format: JSON objects with camelCase keys, as sent.

The client's ``ApiClient`` still makes every request: it holds the connection pool, TLS and the
kubeconfig's credentials (refreshing an expiring token). Its generated API classes and models are
not used: touching one API class imports every model it names, and a list read into models is
parsed twice (docs/tools-behaviour.md, "Kubernetes client"), which was the largest cost of a no-op
`envctl up` and of `envctl status`. So a read is a GET whose JSON body is handed on as a dict, a
write sends a JSON body the same way, and a watch is a stream of JSON lines read here.

An error status becomes ``KubeApiError`` (its ``status`` is the HTTP code, as
``ApiException.status`` was); a connection that fails raises urllib3's errors or ``OSError``
unchanged (``unreachable`` tells them). ``kubernetes`` and urllib3 are imported lazily.
"""

from __future__ import annotations

import contextlib
import json
import socket
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

if TYPE_CHECKING:
    from kubernetes.client import ApiClient

__all__ = [
    "JsonObject",
    "KubeApiError",
    "Timeout",
    "WatchStream",
    "api_path",
    "open_watch",
    "request_json",
    "request_text",
    "unreachable",
]

JsonObject = dict[str, Any]  # one object (or list, or Status) of the API, as the JSON it was sent as
Timeout = float | tuple[float, float]  # total, or (connect, read) seconds
_QueryValue = str | int | bool
STRATEGIC_MERGE = "application/strategic-merge-patch+json"  # what the generated client sends for a dict


class KubeApiError(Exception):
    """The API answered with an error status; ``status`` 0 when the client could not send the
    request at all (a TLS failure), as the client reports it."""

    def __init__(self, status: int, reason: str, body: str = "") -> None:
        super().__init__(status, reason)
        self.status, self.reason, self.body = status, reason, body

    @property
    def message(self) -> str:
        """The ``message`` of the ``Status`` object the API sends with an error; empty if none."""
        try:
            parsed = json.loads(self.body or "{}")
        except ValueError:
            return ""
        return str(parsed.get("message") or "") if isinstance(parsed, dict) else ""

    def __str__(self) -> str:
        # The layout of the client's ApiException: error reports quote its first line, "(403)".
        text = f"({self.status})\nReason: {self.reason}\n"
        return text + (f"HTTP response body: {self.body}\n" if self.body else "")


def api_path(group_version: str, plural: str, namespace: str | None = None, name: str | None = None) -> str:
    """``/api/v1/namespaces/ns/pods`` or ``/apis/apps/v1/...``: the core group is ``v1``."""
    parts = ["/api/v1" if group_version == "v1" else f"/apis/{group_version}"]
    if namespace is not None:
        parts.append(f"namespaces/{quote(namespace, safe='')}")
    parts.append(plural)
    if name is not None:
        parts.append(quote(name, safe=""))
    return "/".join(parts)


def unreachable(exc: BaseException) -> bool:
    """Whether ``exc`` is a connection that failed (refused, reset, timed out), not an API answer."""
    import urllib3

    return isinstance(exc, urllib3.exceptions.HTTPError | OSError)


def _send(
    api: ApiClient, method: str, path: str, *, query: Sequence[tuple[str, _QueryValue]], body: object,
    timeout: Timeout, content_type: str | None, accept: str,
) -> Any:  # fmt: skip
    """The raw urllib3 response of one request, its body not read yet; raises ``KubeApiError`` for
    a status outside 2xx (the body read for the message)."""
    from kubernetes.client.exceptions import ApiException

    headers = {"Accept": accept}
    if body is not None:
        headers["Content-Type"] = content_type or "application/json"
    method, url, headers, body, _ = api.param_serialize(
        method, path, query_params=list(query), header_params=headers, body=body, auth_settings=["BearerToken"]
    )
    try:
        response = api.call_api(method, url, header_params=headers, body=body, _request_timeout=timeout).response
    except ApiException as exc:  # the rest client's own: TLS failures (status 0), a Retry-After answer
        raise KubeApiError(int(exc.status or 0), str(exc.reason or ""), str(exc.body or "")) from None
    if not 200 <= response.status <= 299:  # noqa: PLR2004 - the 2xx range
        try:
            text = response.data.decode("utf-8", errors="replace")
        finally:
            response.release_conn()
        raise KubeApiError(response.status, str(response.reason or ""), text)
    return response


def _read(response: Any) -> bytes:
    try:
        return bytes(response.data)
    finally:
        response.release_conn()


def request_json(
    api: ApiClient, method: str, path: str, *, query: Sequence[tuple[str, _QueryValue]] = (),
    body: object = None, timeout: Timeout, content_type: str | None = None,
) -> JsonObject:  # fmt: skip
    """One request; the JSON object the API answered (``body``, if any, is sent as JSON)."""
    response = _send(
        api, method, path, query=query, body=body, timeout=timeout, content_type=content_type, accept="application/json"
    )
    parsed = json.loads(_read(response) or b"{}")
    if not isinstance(parsed, dict):
        msg = f"{method} {path}: the API answered with a JSON {type(parsed).__name__}, not an object"
        raise TypeError(msg)
    return parsed


def request_text(
    api: ApiClient, path: str, *, query: Sequence[tuple[str, _QueryValue]] = (), timeout: Timeout
) -> str:
    """A GET whose answer is text (a pod's log)."""
    response = _send(api, "GET", path, query=query, body=None, timeout=timeout, content_type=None, accept="*/*")
    return _read(response).decode("utf-8", errors="replace")


class WatchStream:
    """One open watch: its events as JSON objects, until the server ends the stream or ``shut()``.

    An ``ERROR`` event raises ``KubeApiError`` with the code it carries (410 Gone: the
    resourceVersion expired). An idle stream that reaches the read timeout just ends (it only means
    "watch again", docs/tools-behaviour.md, "Watches"), and so does a stream ``shut()`` from another
    thread, which ends a blocked read at once.
    """

    def __init__(self, response: Any) -> None:
        self._response = response
        self._shut = False

    def events(self) -> Iterator[JsonObject]:
        import urllib3

        try:
            for line in self._lines():
                if not line.strip():
                    continue
                event = json.loads(line)
                if event.get("type") == "ERROR":
                    status = event.get("object") or {}
                    reason = f"{status.get('reason', '')}: {status.get('message', '')}"
                    raise KubeApiError(int(status.get("code") or 0), reason, json.dumps(status))
                yield event
        except urllib3.exceptions.ReadTimeoutError:
            return
        except (urllib3.exceptions.ProtocolError, OSError):
            if not self._shut:
                raise
        finally:
            self.close()

    def _lines(self) -> Iterator[bytes]:
        # Events are newline-delimited; a chunk may hold several or part of one.
        pending = b""
        for chunk in self._response.stream(amt=None, decode_content=False):
            pending += chunk
            *lines, pending = pending.split(b"\n")
            yield from lines
            if self._shut:
                return
        if pending:
            yield pending

    def shut(self) -> None:
        """End the stream now, even a read blocked in another thread."""
        self._shut = True
        sock = getattr(getattr(self._response, "connection", None), "sock", None)
        if sock is not None:
            with contextlib.suppress(OSError):  # already closed
                sock.shutdown(socket.SHUT_RDWR)

    def close(self) -> None:
        # Closed, not returned to the pool as it is: the rest of an unread stream must not reach
        # the next request that uses the connection (the pool connects again).
        with contextlib.suppress(Exception):  # a connection shut or broken has nothing left to release
            self._response.close()
            self._response.release_conn()


def open_watch(
    api: ApiClient, path: str, *, query: Sequence[tuple[str, _QueryValue]], timeout: Timeout
) -> WatchStream:
    """Open ``GET path?watch=true&...``; raises ``KubeApiError`` when the API refuses it."""
    response = _send(
        api, "GET", path, query=[*query, ("watch", "true")], body=None, timeout=timeout, content_type=None,
        accept="application/json",
    )  # fmt: skip
    return WatchStream(response)
