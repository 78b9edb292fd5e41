"""Bounded disk: check the space first, watch it during the run, remove exactly what the run made.

Everything the benchmark makes carries its prefix (``envctl-bench-<hex>``): images
``<prefix>[-e|-d]/...``, cluster containers labelled ``k3d.cluster=<prefix>-...``, and BuildKit
cache records whose ``RUN`` step echoes the prefix (the salt of each workspace). Removing the
images alone would leave the layers in BuildKit's cache, so the records made by the salted steps,
and every record built on top of them, are pruned by ID.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

from seedbench.monorepo import SERVICES, Shape
from tests.support.demo_world import remove_cluster_containers, remove_images

GB = 1 << 30


class NotEnoughDisk(RuntimeError):
    pass


def buildkit_env() -> dict[str, str]:
    return {**os.environ, "DOCKER_BUILDKIT": "1"}


def needed_bytes(shape: Shape, merges: int) -> int:
    """A bound on the peak: each image set lives in the engine and in up to two node stores (content
    and unpacked), for both pipelines, plus the dependency layers re-made by merges."""
    image_set = (shape.base_mb + sum(shape.deps_mb(s) for s in SERVICES)) * (1 << 20)
    return int(image_set * 6 + merges * max(shape.deps_mb(s) for s in SERVICES) * (1 << 20) / 2 + GB)


def check_disk(where: Path, shape: Shape, merges: int) -> None:
    free = shutil.disk_usage(where).free
    need = needed_bytes(shape, merges)
    if free < need:
        msg = f"{free / GB:.1f} GB free at {where}, the run may need {need / GB:.1f} GB (use --quick or --deps-scale)"
        raise NotEnoughDisk(msg)


class DiskWatch:
    """The least free space seen during the run (sampled after each measured step)."""

    def __init__(self, where: Path) -> None:
        self.where = where
        self.start = shutil.disk_usage(where).free
        self.least = self.start

    def sample(self) -> None:
        self.least = min(self.least, shutil.disk_usage(self.where).free)

    def report(self) -> dict[str, float]:
        return {"free_at_start_gb": self.start / GB, "peak_used_gb": (self.start - self.least) / GB}


def untag(docker: str, refs: list[str]) -> None:
    if refs:
        subprocess.run([docker, "rmi", *refs], check=False, capture_output=True, timeout=300)


def remove_everything(docker: str, prefix: str, clusters: list[str]) -> None:
    for cluster in clusters:
        remove_cluster_containers(docker, cluster)
    for repo in (f"{prefix}-e", f"{prefix}-d", prefix):
        remove_images(docker, repo)
    prune_build_cache(prefix)


def prune_build_cache(prefix: str) -> int:
    """Prune the BuildKit records of the salted steps (their description names ``prefix``) and all
    records built on them; returns how many were pruned."""
    import docker as docker_sdk  # the benchmark's only use of the SDK; the engine's /system/df lists records

    client = docker_sdk.from_env(timeout=300)
    try:
        records = client.api.df().get("BuildCache") or []
        mine = {r["ID"] for r in records if prefix in (r.get("Description") or "")}
        children: dict[str, list[str]] = {}
        for record in records:
            for parent in _parents(record):
                children.setdefault(parent, []).append(record["ID"])
        todo = list(mine)
        while todo:
            for child in children.get(todo.pop(), []):
                if child not in mine:
                    mine.add(child)
                    todo.append(child)
        # Children first: BuildKit refuses to prune a record another still needs.
        for record_id in sorted(mine, key=lambda i: -_depth(i, records)):
            client.api.prune_builds(filters={"id": record_id}, all=True)
        return len(mine)
    finally:
        client.close()


def prune_context_copies(created_after: str, min_bytes: int) -> int:
    """Prune BuildKit's copies of build contexts ("local source for context") made after
    ``created_after`` (RFC 3339, UTC) and at least ``min_bytes`` big: they carry no salt, so only a
    size no other context here has tells them apart. Returns how many were pruned."""
    import docker as docker_sdk

    client = docker_sdk.from_env(timeout=300)
    try:
        records = client.api.df().get("BuildCache") or []
        mine = [
            r["ID"]
            for r in records
            if (r.get("Description") or "").startswith("local source for context")
            and r.get("CreatedAt", "") > created_after
            and int(r.get("Size") or 0) >= min_bytes
        ]
        for record_id in mine:
            client.api.prune_builds(filters={"id": record_id}, all=True)
        return len(mine)
    finally:
        client.close()


def _parents(record: dict[str, Any]) -> list[str]:
    parents = record.get("Parents") or []
    if record.get("Parent"):
        parents = [*parents, record["Parent"]]
    return list(parents)


def _depth(record_id: str, records: list[dict[str, Any]]) -> int:
    by_id = {r["ID"]: r for r in records}
    depth, seen, current = 0, set(), by_id.get(record_id)
    while current is not None and current["ID"] not in seen:
        seen.add(current["ID"])
        parents = _parents(current)
        current = by_id.get(parents[0]) if parents else None
        depth += 1
    return depth
