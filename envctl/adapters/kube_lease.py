"""Kubernetes ``Lease`` objects (coordination.k8s.io/v1) as typed records, with optimistic concurrency.

Every write names the resourceVersion it read; the API server refuses it with 409 when someone
else wrote in between, which this adapter reports as ``LeaseConflict`` so the lock can re-read and
decide again (the compare-and-swap client-go's leader election is built on). Holder details
(host, pid, command, CI run URL) travel as annotations, so a waiting run can name who it waits for.

Leases travel as the API's JSON (adapters/kube_http.py); ``kubernetes`` is imported lazily
(``envctl plan`` never needs it).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any

from envctl.adapters.kube_http import STRATEGIC_MERGE, JsonObject, KubeApiError, api_path, request_json
from envctl.errors import ClusterError

__all__ = ["HOLDER_ANNOTATIONS", "LeaseApi", "LeaseConflict", "LeaseRecord"]

HOLDER_ANNOTATIONS = {
    "host": "envctl.dev/holder-host",
    "pid": "envctl.dev/holder-pid",
    "command": "envctl.dev/holder-command",
    "run_url": "envctl.dev/holder-run-url",
}


class LeaseConflict(Exception):
    """Someone else wrote the Lease since we read it (HTTP 409), or created it first."""


@dataclass(frozen=True)
class LeaseRecord:
    """What a Lease says: who holds it, since when, when it was last renewed, for how long."""

    holder: str | None
    duration_seconds: int
    acquired_at: dt.datetime | None = None
    renewed_at: dt.datetime | None = None
    transitions: int = 0
    holder_info: dict[str, str] = field(default_factory=dict)  # HOLDER_ANNOTATIONS keys → values
    resource_version: str | None = None

    def describe_holder(self) -> str:
        """``envctl up on runner-7 (pid 4242, https://ci/run/5)``, from what the holder wrote."""
        info = self.holder_info
        who = f"{info.get('command') or 'envctl'} on {info.get('host') or self.holder or 'an unknown host'}"
        extra = [f"pid {info['pid']}"] if info.get("pid") else []
        if info.get("run_url"):
            extra.append(info["run_url"])
        return f"{who} ({', '.join(extra)})" if extra else who


def _micro_time(when: dt.datetime | None) -> str | None:
    if when is None:
        return None
    return when.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _body(name: str, namespace: str, record: LeaseRecord) -> dict[str, Any]:
    annotations: dict[str, str | None] = {
        key: record.holder_info.get(short) for short, key in HOLDER_ANNOTATIONS.items()
    }
    metadata: dict[str, Any] = {
        "name": name,
        "namespace": namespace,
        "labels": {"app.kubernetes.io/managed-by": "envctl"},
        "annotations": annotations,
    }
    if record.resource_version is not None:
        metadata["resourceVersion"] = record.resource_version  # the precondition of the write
    else:  # a create: no nulls (a patch's null removes a previous holder's annotation)
        metadata["annotations"] = {key: value for key, value in annotations.items() if value is not None}
    return {
        "apiVersion": "coordination.k8s.io/v1",
        "kind": "Lease",
        "metadata": metadata,
        "spec": {
            "holderIdentity": record.holder,
            "leaseDurationSeconds": record.duration_seconds,
            "acquireTime": _micro_time(record.acquired_at),
            "renewTime": _micro_time(record.renewed_at),
            "leaseTransitions": record.transitions,
        },
    }


def _parse_time(value: object) -> dt.datetime | None:
    """A MicroTime (``2026-11-29T07:00:00.123456Z``) as an aware datetime; None when absent."""
    if not value:
        return None
    when = dt.datetime.fromisoformat(str(value))
    return when if when.tzinfo is not None else when.replace(tzinfo=dt.UTC)


def _record(lease: JsonObject) -> LeaseRecord:
    spec, meta = lease.get("spec") or {}, lease.get("metadata") or {}
    annotations = meta.get("annotations") or {}
    info = {short: annotations[key] for short, key in HOLDER_ANNOTATIONS.items() if annotations.get(key)}
    version = meta.get("resourceVersion")
    return LeaseRecord(
        holder=spec.get("holderIdentity") or None,
        duration_seconds=int(spec.get("leaseDurationSeconds") or 0),
        acquired_at=_parse_time(spec.get("acquireTime")),
        renewed_at=_parse_time(spec.get("renewTime")),
        transitions=int(spec.get("leaseTransitions") or 0),
        holder_info=info,
        resource_version=str(version) if version is not None else None,
    )


def _lease_path(namespace: str, name: str | None = None) -> str:
    return api_path("coordination.k8s.io/v1", "leases", namespace, name)


class LeaseApi:
    """Read, create and compare-and-swap one namespace's Leases through an ``ApiClient``."""

    def __init__(self, api_client: Any, *, request_timeout: float = 10.0) -> None:
        self._api = api_client
        self._timeout = request_timeout

    def read(self, namespace: str, name: str) -> LeaseRecord | None:
        try:
            lease = request_json(self._api, "GET", _lease_path(namespace, name), timeout=self._timeout)
        except KubeApiError as exc:
            if exc.status == HTTPStatus.NOT_FOUND:
                return None
            raise
        return _record(lease)

    def create(self, namespace: str, name: str, record: LeaseRecord) -> LeaseRecord:
        """Create the Lease; ``LeaseConflict`` when it already exists."""
        body = _body(name, namespace, record)
        return self._write("POST", _lease_path(namespace), body, content_type=None)

    def replace(self, namespace: str, name: str, record: LeaseRecord) -> LeaseRecord:
        """Write ``record`` if the Lease is still at ``record.resource_version``; else ``LeaseConflict``."""
        if record.resource_version is None:
            msg = "a Lease update needs the resourceVersion it was read at"
            raise ValueError(msg)
        body = _body(name, namespace, record)
        return self._write("PATCH", _lease_path(namespace, name), body, content_type=STRATEGIC_MERGE)

    def _write(self, method: str, path: str, body: JsonObject, *, content_type: str | None) -> LeaseRecord:
        try:
            written = request_json(
                self._api, method, path, body=body, timeout=self._timeout, content_type=content_type
            )
        except KubeApiError as exc:
            if exc.status == HTTPStatus.CONFLICT:
                raise LeaseConflict(str(exc.reason)) from exc
            if exc.status == HTTPStatus.NOT_FOUND:
                msg = "the namespace of the lease does not exist (deleted while envctl was running?)"
                raise ClusterError(
                    msg, hint="rerun: `envctl up` creates the namespace before taking its lease"
                ) from exc
            raise
        return _record(written)
