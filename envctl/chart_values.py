"""Where a chart's values hold images, and which service each belongs to (pure).

Charts take images in two shapes: a block ``{repository, tag}`` (often with ``registry`` or
``pullPolicy`` beside them; ``values_path`` points at the block) and a whole reference in one
string (``image: "repo/app:1.2"``), which envctl can only change by rewriting the rendered
manifests (``inject: rewrite``). ``image_fields`` finds both in a values tree; ``match_fields``
pairs them with services, first by key name (``celery-worker`` / ``celery_worker`` ↔
``celeryWorker``: compared lower-cased without ``-`` and ``_``), then by the repository's last
path segment (a top-level ``image: {repository: .../orchestrator}`` belongs to ``orchestrator``).
Used by ``envctl init --chart``, ``envctl doctor`` and the deploy's "did you mean" suggestions.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Literal

from envctl.rendered import image_repository

__all__ = ["FieldMatch", "ImageField", "field_key", "image_fields", "match_fields", "name_key"]

_GENERIC_KEYS = frozenset({"image", "images", "container", "containers", "values", "global"})
MAX_DEPTH = 32  # values trees nest a few levels; a deeper one is not searched further


@dataclass(frozen=True)
class ImageField:
    """One image a values tree holds: ``path`` is the block (map form) or the string's key."""

    path: str
    repository: str
    tag: str
    form: Literal["map", "string"]

    @property
    def reference(self) -> str:
        return f"{self.repository}:{self.tag}" if self.tag else self.repository


@dataclass(frozen=True)
class FieldMatch:
    service: str
    field: ImageField
    by: Literal["key name", "repository"]


def name_key(name: str) -> str:
    """A name as compared across naming styles: ``celery_worker``, ``celery-worker``, ``celeryWorker``."""
    return name.lower().replace("-", "").replace("_", "")


def image_fields(values: Mapping[str, object]) -> list[ImageField]:
    """Every image block and image string in ``values``, in document order."""
    return list(_walk(values, ()))


def _walk(node: Mapping[str, object], path: tuple[str, ...]) -> Iterator[ImageField]:
    if len(path) > MAX_DEPTH:
        return
    for key, value in node.items():
        here = (*path, str(key))
        if isinstance(value, Mapping):
            block = _block(value)
            if block is not None:
                yield ImageField(".".join(here), *block, form="map")
            else:
                yield from _walk(value, here)
        elif isinstance(value, str) and str(key).lower().endswith("image") and value and " " not in value:
            yield ImageField(".".join(here), image_repository(value), _tag_of(value), form="string")


def _block(value: Mapping[str, object]) -> tuple[str, str] | None:
    repository = value.get("repository")
    if not isinstance(repository, str) or ("tag" not in value and "digest" not in value):
        return None
    registry = value.get("registry")
    full = f"{registry}/{repository}" if isinstance(registry, str) and registry else repository
    tag = value.get("tag")
    return full, "" if tag is None else str(tag)


def _tag_of(reference: str) -> str:
    repository = image_repository(reference)
    rest = reference[len(repository) :]
    return rest.removeprefix(":").partition("@")[0]


def field_key(field: ImageField) -> str:
    """The key that names the field's owner: ``celeryWorker.image`` → ``celeryWorker``,
    ``apiImage`` → ``api``; empty for a top-level ``image``."""
    for part in reversed(field.path.split(".")):
        if part.lower() in _GENERIC_KEYS:
            continue
        stem = part[: -len("image")] if part.lower().endswith("image") else part
        return stem.rstrip("_-")
    return ""


def match_fields(
    fields: list[ImageField], services: Mapping[str, str]
) -> tuple[list[FieldMatch], list[ImageField], list[str]]:
    """Pair ``fields`` with ``services`` (name → image repository).

    Returns the matches, the fields no service took and the services no field matched. A service
    takes at most one field: a key-name match wins over a repository match; a service two fields
    match equally well is left unmatched (both fields stay listed) rather than guessed.
    """
    by_key: dict[str, list[ImageField]] = {}
    by_repo: dict[str, list[ImageField]] = {}
    for field in fields:
        by_key.setdefault(name_key(field_key(field)), []).append(field)
        by_repo.setdefault(name_key(field.repository.rsplit("/", 1)[-1]), []).append(field)
    matches: dict[str, FieldMatch] = {}
    taken: set[str] = set()
    # Key names first, for every service, so a repository match never takes a field another
    # service names outright.
    for service in services:
        keyed = [f for f in by_key.get(name_key(service), []) if f.path not in taken]
        if len(keyed) == 1:
            matches[service] = FieldMatch(service, keyed[0], "key name")
            taken.add(keyed[0].path)
    for service, image in services.items():
        if service in matches or by_key.get(name_key(service)):
            continue
        names = dict.fromkeys((name_key(service), name_key(image.rsplit("/", 1)[-1])))
        found = list(dict.fromkeys(f for n in names for f in by_repo.get(n, []) if f.path not in taken))
        if len(found) == 1:
            matches[service] = FieldMatch(service, found[0], "repository")
            taken.add(found[0].path)
    return (
        [matches[s] for s in services if s in matches],
        [f for f in fields if f.path not in taken],
        [s for s in services if s not in matches],
    )
