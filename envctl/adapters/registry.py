"""A small registry v2 HTTP client (urllib): does a tag exist, which layers does a repository hold.

Enough to decide "pull or build" against a cache registry and to predict what a push would move
(only layers the registry lacks travel). Plain HTTP for loopback registries, HTTPS otherwise;
anonymous access only.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any

from envctl.errors import DaemonUnavailableError

__all__ = ["Manifest", "RegistryClient", "repository_of"]

_ACCEPT = "application/vnd.docker.distribution.manifest.v2+json, application/vnd.oci.image.manifest.v1+json"


def repository_of(ref: str, registry: str) -> tuple[str, str]:
    """``("127.0.0.1:5000/a/b:t", "127.0.0.1:5000")`` → ``("a/b", "t")``."""
    rest = ref.removeprefix(registry.rstrip("/") + "/")
    repo, _, tag = rest.rpartition(":")
    return (repo, tag) if repo and "/" not in tag else (rest, "latest")


@dataclass(frozen=True)
class Manifest:
    digest: str
    config_digest: str
    config_size: int
    layers: tuple[tuple[str, int], ...]  # (compressed blob digest, size), bottom first

    @property
    def size(self) -> int:
        return sum(size for _, size in self.layers)


class RegistryClient:
    def __init__(self, address: str, *, timeout: float = 10.0) -> None:
        self.address = address.rstrip("/")
        host = self.address.split(":")[0]
        scheme = (
            "http" if host in ("127.0.0.1", "localhost", "::1") or host.endswith(".localhost") else "https"
        )
        self._base = f"{scheme}://{self.address}/v2"
        self._timeout = timeout

    def available(self) -> bool:
        try:
            self._request("GET", "/")
        except DaemonUnavailableError:
            return False
        return True

    def manifest(self, repo: str, tag: str) -> Manifest | None:
        found = self._request("GET", f"/{repo}/manifests/{tag}", accept=_ACCEPT)
        if found is None:
            return None
        body, headers = found
        data = json.loads(body)
        if "layers" not in data:  # a manifest list or schema 1: not something envctl pushes
            return None
        return Manifest(
            digest=headers.get("Docker-Content-Digest", ""),
            config_digest=data["config"]["digest"],
            config_size=int(data["config"].get("size") or 0),
            layers=tuple((layer["digest"], int(layer["size"])) for layer in data["layers"]),
        )

    def has_blob(self, repo: str, digest: str) -> bool:
        return self._request("HEAD", f"/{repo}/blobs/{digest}") is not None

    def tags(self, repo: str) -> list[str]:
        found = self._request("GET", f"/{repo}/tags/list")
        if found is None:
            return []
        return list(json.loads(found[0]).get("tags") or [])

    def known_layers(self, repo: str, *, limit: int = 20) -> dict[str, int]:
        """Uncompressed layer digest (diff ID) → compressed size, for layers the repository holds.

        Read from up to ``limit`` tags' manifests and image configs (a config lists the diff IDs
        in the same order as the manifest lists the blobs).
        """
        known: dict[str, int] = {}
        for tag in sorted(self.tags(repo))[-limit:]:
            manifest = self.manifest(repo, tag)
            if manifest is None:
                continue
            config = self._request("GET", f"/{repo}/blobs/{manifest.config_digest}")
            if config is None:
                continue
            diff_ids = json.loads(config[0]).get("rootfs", {}).get("diff_ids") or []
            for diff_id, (_, size) in zip(diff_ids, manifest.layers, strict=False):
                known[diff_id] = size
        return known

    def _request(self, method: str, path: str, *, accept: str | None = None) -> tuple[bytes, Any] | None:
        """Body and headers, ``None`` on 404; a registry that does not answer raises."""
        # The URL is http(s), built in __init__ from the registry's address.
        req = urllib.request.Request(self._base + path, method=method)  # noqa: S310
        if accept:
            req.add_header("Accept", accept)
        try:
            with urllib.request.urlopen(req, timeout=self._timeout) as resp:  # noqa: S310
                return resp.read(), resp.headers
        except urllib.error.HTTPError as exc:
            if exc.code == HTTPStatus.NOT_FOUND:
                return None
            msg = f"registry {self.address} answered {exc.code} to {method} {path}"
            raise DaemonUnavailableError(msg, hint="check the registry's logs and access rules") from exc
        except (urllib.error.URLError, OSError) as exc:
            msg = f"registry {self.address} does not answer ({exc})"
            raise DaemonUnavailableError(
                msg, hint="start the registry or fix its address in envctl.yaml"
            ) from exc
