"""Helm 3's release records, read from the cluster instead of asked of a helm process.

Helm's default storage driver (``secret``) keeps every revision of a release as one Secret in the
release's namespace: named ``sh.helm.release.v1.<release>.v<revision>``, of type
``helm.sh/release.v1``, labelled ``owner=helm``, ``name=<release>``, ``status=<status>`` and
``version=<revision>``, its ``data.release`` the release JSON gzipped and base64-encoded (then
base64-encoded again by the API, as every Secret value is). ``helm status`` answers the highest
revision; ``helm get values`` prints the record's ``config`` and ``helm get manifest`` its
``manifest`` (docs/tools-behaviour.md, "Helm release records").

A no-op ``envctl up`` and ``envctl status`` read the release through the API client they open
anyway: one list request instead of a helm process. Anything this reader cannot answer (no access
to Secrets, another storage driver, a record it cannot decode) raises, and the helm adapter asks
helm itself.
"""

from __future__ import annotations

import base64
import gzip
import json
from collections.abc import Callable, Mapping
from typing import Any

from envctl.results import ReleaseRecord

__all__ = ["GetJson", "SecretRecords", "decode_record"]

# GET of an API path with query parameters → the parsed JSON body, None for 404 Not Found; other
# failures raise. Bound by the composition root to the workspace's kubeconfig.
GetJson = Callable[[str, Mapping[str, str]], Any]

_GZIP_MAGIC = b"\x1f\x8b"


class UnreadableRecordError(ValueError):
    """A release Secret whose contents are not a release record helm would read."""


def decode_record(secret: Mapping[str, Any]) -> ReleaseRecord:
    """The release a ``helm.sh/release.v1`` Secret holds (as helm's ``decodeRelease`` reads it)."""
    try:
        raw = base64.b64decode(base64.b64decode(secret["data"]["release"], validate=True), validate=True)
        release = json.loads(gzip.decompress(raw) if raw[:2] == _GZIP_MAGIC else raw)
        if not isinstance(release, dict):
            msg = "the release is not a JSON object"
            raise UnreadableRecordError(msg)
        info = release.get("info") or {}
        config = release.get("config") or {}
        if not isinstance(info, dict) or not isinstance(config, dict):
            msg = "info or config is not a JSON object"
            raise UnreadableRecordError(msg)
        return ReleaseRecord(
            name=str(release["name"]),
            namespace=str(release.get("namespace") or ""),
            revision=int(release.get("version") or 0),
            status=str(info.get("status") or "unknown"),
            description=str(info.get("description") or ""),
            config=config,
            manifest=str(release.get("manifest") or ""),
            last_deployed=str(info["last_deployed"]) if info.get("last_deployed") else None,
        )
    except (KeyError, TypeError, AttributeError, ValueError, OSError, EOFError) as exc:
        metadata = secret.get("metadata")
        name = metadata.get("name", "?") if isinstance(metadata, dict) else "?"
        msg = f"Secret {name} does not hold a readable helm release: {exc}"
        raise UnreadableRecordError(msg) from exc


class SecretRecords:
    """Release records through the API (``get_json``), as helm's ``secret`` driver stores them."""

    def __init__(self, get_json: GetJson) -> None:
        self._get = get_json

    def latest(self, name: str, namespace: str) -> ReleaseRecord | None:
        """The highest revision of release ``name`` (what ``helm status`` shows); None: not installed."""
        listing = self._get(f"/api/v1/namespaces/{namespace}/secrets", {"labelSelector": f"owner=helm,name={name}"})
        items = [item for item in (listing or {}).get("items") or [] if _is_record_of(item, name)]
        if not items:
            return None
        return decode_record(max(items, key=_revision_label))

    def revision(self, name: str, namespace: str, revision: int) -> ReleaseRecord | None:
        """One revision of release ``name``; None when helm keeps no such revision."""
        secret = self._get(f"/api/v1/namespaces/{namespace}/secrets/sh.helm.release.v1.{name}.v{revision}", {})
        return None if secret is None else decode_record(secret)


def _is_record_of(item: Mapping[str, Any], name: str) -> bool:
    labels = (item.get("metadata") or {}).get("labels") or {}
    return item.get("type") == "helm.sh/release.v1" and labels.get("name") == name and labels.get("owner") == "helm"


def _revision_label(item: Mapping[str, Any]) -> int:
    version = ((item.get("metadata") or {}).get("labels") or {}).get("version", "")
    if not str(version).isdigit():
        msg = f"release Secret {(item.get('metadata') or {}).get('name', '?')} has no revision label"
        raise UnreadableRecordError(msg)
    return int(version)
