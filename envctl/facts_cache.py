"""Facts that stay true across runs, kept under ``.envctl/cache/`` so a run with nothing changed
does not ask slow tools again.

Each entry is one JSON file holding the key it was stored under and its value. The key names
everything the value depends on (the caller builds it from facts it must read anyway: the git
index, the cluster's containers); a value is returned only when the stored key equals the key of
now. A missing, unreadable, corrupt or foreign file is a miss, never an error, and a write that
fails leaves the run as it was: a cache only ever saves time. Writes are atomic (a temp file, then
a rename), so two runs sharing a workspace read either the old entry or the new one. Nothing is
written where the workspace has no ``.envctl/`` yet.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from envctl import __version__

__all__ = ["FactsCache", "digest"]

# Part of every key: an entry written by another envctl version (its fingerprints or facts may be
# computed differently) is never read.
_FORMAT = f"envctl-facts/1 {__version__}"


def digest(*parts: object) -> str:
    """A stable sha256 of JSON-encodable parts (the key material of one entry)."""
    text = json.dumps([_FORMAT, *parts], sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()


class FactsCache:
    """Entries by name under ``folder`` (the workspace's ``.envctl/cache``)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def _path(self, name: str) -> Path:
        return self.folder / f"{name}.json"

    def get(self, name: str, key: str) -> Mapping[str, Any] | None:
        """The value stored under ``key``; None when there is none, it is stale, or it cannot be read."""
        try:
            data = json.loads(self._path(name).read_bytes())
        except (OSError, ValueError):
            return None
        if not isinstance(data, dict) or data.get("key") != key or not isinstance(data.get("value"), dict):
            return None
        value: Mapping[str, Any] = data["value"]
        return value

    def put(self, name: str, key: str, value: Mapping[str, Any]) -> None:
        """Store ``value`` under ``key`` (replacing the entry); a failure to write is ignored."""
        path = self._path(name)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        try:
            # Only inside a state folder that exists (`up` makes it): `plan`, `status` and
            # `up --dry-run` in a workspace never brought up leave no trace.
            self.folder.mkdir(exist_ok=True)
            tmp.write_text(json.dumps({"key": key, "value": value}, separators=(",", ":")), encoding="utf-8")
            tmp.replace(path)
        except OSError:
            with contextlib.suppress(OSError):
                tmp.unlink()

    def drop(self, name: str) -> None:
        """Forget an entry (e.g. the cluster was deleted)."""
        with contextlib.suppress(OSError):
            self._path(name).unlink()
