"""The images a rendered chart runs, read from the manifests Helm renders (pure: text in, data out).

``helm template`` (and a post-renderer's stdin) is a stream of YAML documents separated by ``---``
lines, each preceded by a ``# Source: <chart>/templates/<file>`` comment. The workloads among them
carry pod templates at known places (``spec.template.spec`` for Deployments, StatefulSets,
DaemonSets, ReplicaSets and Jobs, ``spec.jobTemplate.spec.template.spec`` for CronJobs, ``spec``
for a bare Pod); every ``containers`` and ``initContainers`` entry there names an image.

``rewrite_images`` changes the image of matching containers and leaves every other byte of the
stream alone: a document with nothing to change is passed through as it came (no YAML round trip
that could re-type a value), so the post-renderer changes only what it means to.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass

import yaml

__all__ = [
    "RenderedImage",
    "image_repository",
    "manifest_digest",
    "normalize_reference",
    "rendered_images",
    "rewrite_images",
]

# The pod spec of each workload kind, as a path of keys from the document's root.
POD_SPEC_PATHS: dict[str, tuple[str, ...]] = {
    "Pod": ("spec",),
    "Deployment": ("spec", "template", "spec"),
    "StatefulSet": ("spec", "template", "spec"),
    "DaemonSet": ("spec", "template", "spec"),
    "ReplicaSet": ("spec", "template", "spec"),
    "ReplicationController": ("spec", "template", "spec"),
    "Job": ("spec", "template", "spec"),
    "CronJob": ("spec", "jobTemplate", "spec", "template", "spec"),
}
_CONTAINER_LISTS = ("initContainers", "containers")
_SEPARATOR = re.compile(r"^---[ \t]*$", re.MULTILINE)


@dataclass(frozen=True)
class RenderedImage:
    """One container's image in one rendered workload."""

    kind: str
    name: str  # the workload's metadata.name
    container: str
    image: str
    init: bool  # an init container


def _documents(manifest: str) -> list[str]:
    """The stream split at its ``---`` lines (each part keeps its own text, comments included)."""
    return _SEPARATOR.split(manifest)


def _load(document: str) -> dict[str, object] | None:
    try:
        data = yaml.safe_load(document)
    except yaml.YAMLError:
        return None
    return data if isinstance(data, dict) else None


def _pod_spec(data: Mapping[str, object]) -> dict[str, object] | None:
    path = POD_SPEC_PATHS.get(str(data.get("kind", "")))
    node: object = data
    for key in path or ():
        node = node.get(key) if isinstance(node, dict) else None
    return node if path and isinstance(node, dict) else None


def _containers(spec: Mapping[str, object]) -> Iterator[tuple[dict[str, object], bool]]:
    for key in _CONTAINER_LISTS:
        entries = spec.get(key)
        for entry in entries if isinstance(entries, list) else ():
            if isinstance(entry, dict) and isinstance(entry.get("image"), str):
                yield entry, key == "initContainers"


def _images_of(data: Mapping[str, object]) -> list[RenderedImage]:
    spec = _pod_spec(data)
    if spec is None:
        return []
    metadata = data.get("metadata")
    name = str(metadata.get("name", "")) if isinstance(metadata, dict) else ""
    kind = str(data.get("kind"))
    return [
        RenderedImage(kind, name, str(entry.get("name", "")), str(entry["image"]), init)
        for entry, init in _containers(spec)
    ]


def rendered_images(manifest: str) -> list[RenderedImage]:
    """Every container and init-container image of every workload in ``manifest``, in order."""
    found: list[RenderedImage] = []
    for document in _documents(manifest):
        data = _load(document)
        if data is not None:
            found.extend(_images_of(data))
    return found


def rewrite_images(manifest: str, replace: Callable[[str], str | None]) -> str:
    """``manifest`` with each workload container image ``replace`` maps to a new one changed;
    ``replace`` returns None to leave an image alone. Untouched documents keep their exact text."""
    out: list[str] = []
    for document in _documents(manifest):
        data = _load(document)
        spec = _pod_spec(data) if data is not None else None
        changed = False
        for entry, _ in _containers(spec) if spec is not None else ():
            new = replace(str(entry["image"]))
            if new is not None and new != entry["image"]:
                entry["image"], changed = new, True
        if not changed:
            out.append(document)
            continue
        comments = "".join(line + "\n" for line in document.strip("\n").splitlines() if line.startswith("#"))
        out.append("\n" + comments + yaml.safe_dump(data, sort_keys=False, default_flow_style=False, width=1000))
    return "---".join(out)


def manifest_digest(manifest: str) -> str:
    """SHA-256 of the rendered manifests (part of the deploy's input hash)."""
    return hashlib.sha256(manifest.encode()).hexdigest()


def image_repository(reference: str) -> str:
    """The repository of an image reference: without ``@digest`` and without ``:tag``."""
    name = reference.partition("@")[0]
    colon = name.rfind(":")
    return name[:colon] if colon > name.rfind("/") else name


def normalize_reference(reference: str) -> str:
    """The reference as Docker resolves it (``api:1`` → ``docker.io/library/api:1``), for comparing."""
    first, slash, rest = reference.partition("/")
    if slash and ("." in first or ":" in first or first == "localhost"):
        if first not in ("docker.io", "index.docker.io"):
            return reference
        reference = rest
    return f"docker.io/{reference}" if "/" in reference else f"docker.io/library/{reference}"
