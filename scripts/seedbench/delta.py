"""``docker save`` output → an OCI image layout holding only the blobs a containerd node lacks.

containerd's importer (1.6 and 1.7, ``images/archive/importer.go``) rejects a docker-archive whose
``manifest.json`` names a layer file the tar lacks ("layer not found"). For an OCI layout
(``oci-layout`` + ``index.json``) it ingests whatever blobs the tar holds, and the manifest's layers
are only resolved by digest when the image is unpacked — which skips every layer whose snapshot
exists. So a layout that leaves out the layers the node holds imports the same image, with the
same manifest digest as a full import (the manifest JSON is written byte for byte as the importer
writes it for a docker-archive).

Which layers the node holds is decided by digest, without reading them: a layer tar in a
``docker save`` archive is the uncompressed layer, so its digest is the layer's diff ID, and the
image config lists the diff IDs in the order of ``manifest.json``'s ``Layers``. Engine 20.10 names
layer files by legacy v1 IDs and writes ``manifest.json`` last, so the archive is read from a file
(``docker save -o``), where the tar index can be read before any layer; Engine 25+ names them
``blobs/sha256/<digest>``, which a streaming filter could skip by name.
"""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
from collections.abc import Collection
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

__all__ = ["DeltaStats", "write_delta_layout"]

DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
DOCKER_LAYER = "application/vnd.docker.image.rootfs.diff.tar"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"


@dataclass
class DeltaStats:
    layers_sent: int = 0
    layers_skipped: int = 0
    bytes_out: int = 0  # written towards the node
    manifest_digest: str = ""
    sent: list[str] = field(default_factory=list)  # diff IDs of the layers in the layout


def write_delta_layout(archive: Path, out: IO[bytes], held: Collection[str]) -> DeltaStats:
    """Write to ``out`` an OCI layout of the image(s) in the docker-archive ``archive`` without the
    layer blobs whose digests are in ``held`` (what the node's content store holds)."""
    stats = DeltaStats()
    counter = _Counter(out)
    with tarfile.open(archive) as source, tarfile.open(fileobj=counter, mode="w|") as layout:
        members = {m.name.removeprefix("./"): m for m in source.getmembers()}
        manifest = json.loads(_read(source, members["manifest.json"]))
        _add(layout, "oci-layout", json.dumps({"imageLayoutVersion": "1.0.0"}).encode())
        index: dict[str, Any] = {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": []}
        for image in manifest:
            config = _read(source, members[image["Config"]])
            diff_ids = json.loads(config)["rootfs"]["diff_ids"]
            if len(diff_ids) != len(image["Layers"]):
                msg = f"{archive}: {len(image['Layers'])} layer files for {len(diff_ids)} diff IDs"
                raise ValueError(msg)
            layers = []
            for path, diff_id in zip(image["Layers"], diff_ids, strict=False):
                member = _resolve(members, path)
                layers.append({"mediaType": DOCKER_LAYER, "digest": diff_id, "size": member.size})
                if diff_id in held or diff_id in stats.sent:
                    stats.layers_skipped += diff_id in held
                    continue
                layout.addfile(_named(f"blobs/sha256/{diff_id[7:]}", member.size), source.extractfile(member))
                stats.layers_sent += 1
                stats.sent.append(diff_id)
            config_digest = "sha256:" + hashlib.sha256(config).hexdigest()
            _add(layout, f"blobs/sha256/{config_digest[7:]}", config)
            body = {
                "schemaVersion": 2,
                "mediaType": DOCKER_MANIFEST,
                "config": {"mediaType": DOCKER_CONFIG, "digest": config_digest, "size": len(config)},
                "layers": layers,
            }
            data = json.dumps(body, separators=(",", ":")).encode()
            digest = "sha256:" + hashlib.sha256(data).hexdigest()
            _add(layout, f"blobs/sha256/{digest[7:]}", data)
            platform = {k: v for k, v in json.loads(config).items() if k in ("architecture", "os") and v}
            for tag in image.get("RepoTags") or [None]:
                entry: dict[str, Any] = {"mediaType": DOCKER_MANIFEST, "digest": digest, "size": len(data)}
                if tag:
                    entry["annotations"] = {
                        "io.containerd.image.name": _normalise(tag),
                        "org.opencontainers.image.ref.name": tag.rsplit(":", 1)[-1],
                    }
                if platform:
                    entry["platform"] = platform
                index["manifests"].append(entry)
            stats.manifest_digest = digest
        _add(layout, "index.json", json.dumps(index).encode())
    stats.bytes_out = counter.count
    return stats


def _resolve(members: dict[str, tarfile.TarInfo], path: str) -> tarfile.TarInfo:
    """The regular file behind ``path`` (Engine 20.10 links a repeated layer to its first copy)."""
    member = members[path]
    for _ in range(8):
        if not member.issym():
            return member
        target = "/".join([*path.split("/")[:-1], member.linkname])
        parts: list[str] = []
        for part in target.split("/"):
            if part == "..":
                parts.pop()
            elif part not in ("", "."):
                parts.append(part)
        path = "/".join(parts)
        member = members[path]
    msg = f"{path}: too many links"
    raise ValueError(msg)


def _normalise(ref: str) -> str:
    first, _, rest = ref.partition("/")
    if rest and ("." in first or ":" in first or first == "localhost"):
        return ref
    return f"docker.io/library/{ref}" if not rest else f"docker.io/{ref}"


def _read(source: tarfile.TarFile, member: tarfile.TarInfo) -> bytes:
    handle = source.extractfile(member)
    assert handle is not None
    return handle.read()


def _named(name: str, size: int) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.size = size
    return info


def _add(layout: tarfile.TarFile, name: str, data: bytes) -> None:
    layout.addfile(_named(name, len(data)), io.BytesIO(data))


class _Counter(io.RawIOBase):
    """A write-only stream that counts what passes through to ``target``."""

    def __init__(self, target: IO[bytes]) -> None:
        self.target, self.count = target, 0

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        self.target.write(data)
        self.count += len(data)
        return len(data)
