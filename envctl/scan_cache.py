"""The working tree's scan kept across runs: with nothing changed, `envctl plan`, `status` and `up`
skip parsing the index, reading Dockerfiles and matching every service's COPY sources.

The key holds everything the scan reads: envctl's version (facts_cache), the services' config,
the index listing as git prints it (each tracked file's mode and blob), the files ``git status``
names with their codes, the empty folders, and the mode and content hash of every file status
names — dirty and untracked files are hashed again on every run, never trusted from the last. A
tracked file changed on disk is one git status names, so any edit, ``chmod +x``, new untracked
file, changed Dockerfile or ignore file, or changed config is a miss. A scan that read a file git
ignores (a COPY of a generated artefact, found on disk) is not kept: no git listing covers it; nor
is one that copies envctl's own state (``.envctl/``, which the key leaves out).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

from envctl.config import ServiceSpec
from envctl.errors import InputError
from envctl.facts_cache import FactsCache, digest
from envctl.inputs.dockerfile import BaseRef, CopySource
from envctl.inputs.fingerprint import ServiceInputs
from envctl.inputs.gitstate import WorktreeListing, disk_identity
from envctl.inputs.scan import Scan
from envctl.inputs.sources import GIT_DIR

__all__ = ["changed_identities", "keepable", "load_scan", "scan_key", "store_scan"]

_ENTRY = "scan"


def changed_identities(listing: WorktreeListing, root: Path, state: str) -> dict[str, str | None]:
    """``disk_identity`` of every file git status names outside ``state``, read now. Read once and
    handed to both ``scan_key`` and ``snapshot_worktree``: a file edited between two reads would
    otherwise get the scan of its new content kept under the key of its old one."""
    return {path: disk_identity(root, path) for _code, path in listing.changed if not path.startswith(state)}


def scan_key(
    services: Mapping[str, ServiceSpec], listing: WorktreeListing, identities: Mapping[str, str | None], state: str,
    secret_ids: tuple[str, ...] = (),
) -> str:
    """The key of the working tree's scan now, from ``identities`` (``changed_identities``). Files
    under ``state`` (the workspace's ``.envctl/``: run records, this cache) are left out: envctl
    writes them on every run, and a scan that copies any is not kept (``keepable``)."""
    config = {name: spec.model_dump(mode="json") for name, spec in services.items()}
    changed = [(code, path, identities[path]) for code, path in listing.changed if not path.startswith(state)]
    index = hashlib.sha256(listing.index.encode("utf-8", "surrogateescape")).hexdigest()
    empty = [folder for folder in listing.empty_folders if not folder.startswith(state)]
    return digest("scan", config, list(secret_ids), index, changed, empty)


def load_scan(
    cache: FactsCache, key: str, services: Mapping[str, ServiceSpec], secret_ids: tuple[str, ...] = ()
) -> Scan | None:
    """The scan kept under ``key``; None when there is none (or it cannot be read back). Build arg
    values are never written to the cache (they may be secrets): they come back from ``services``,
    the config the key was made of."""
    value = cache.get(_ENTRY, key)
    if value is None:
        return None
    try:
        return _decode(value, services, secret_ids)
    except (KeyError, IndexError, TypeError, ValueError, AttributeError):
        return None


def keepable(scan: Scan, state: str) -> bool:
    """False when an image copies envctl's own state or git's ``.git`` (files the key leaves out)."""
    return not any(
        path.startswith(state) or identity.startswith(GIT_DIR)
        for inputs in scan.inputs.values() for path, identity in inputs.files.items()
    )  # fmt: skip


def store_scan(cache: FactsCache, key: str, scan: Scan) -> None:
    cache.put(_ENTRY, key, _encode(scan))


def _encode(scan: Scan) -> dict[str, Any]:
    # A monorepo's services copy the same shared files: each (path, identity) is written once and
    # services name them by number (a third of the size, and faster to read back).
    table: dict[tuple[str, str], int] = {}

    def numbers(files: Mapping[str, str]) -> list[int]:
        return [table.setdefault(item, len(table)) for item in files.items()]

    inputs = {name: _encode_inputs(item, numbers) for name, item in scan.inputs.items()}
    return {
        "label": scan.label,
        "fingerprints": dict(scan.fingerprints),
        "unbuildable": dict(scan.unbuildable),
        "files": [list(item) for item in table],
        "inputs": inputs,
    }


def _encode_inputs(inputs: ServiceInputs, numbers: Callable[[Mapping[str, str]], list[int]]) -> dict[str, Any]:
    return {
        "name": inputs.name,
        "dockerfile": inputs.dockerfile,
        "context": inputs.context,
        "dockerfile_blob": inputs.dockerfile_blob,
        "files": numbers(inputs.files),
        "groups": [
            [None if copy is None else [copy.source, copy.instruction, copy.line], group_digest, numbers(files)]
            for copy, group_digest, files in inputs.groups
        ],
        "base_refs": [[ref.ref, ref.arg, ref.line] for ref in inputs.base_refs],
        "depends_on": list(inputs.depends_on),
        "dependency_args": dict(inputs.dependency_args),
        "build_args": sorted(inputs.build_args),  # names only: values may be secrets
        "target": inputs.target,
    }


def _decode(value: Mapping[str, Any], services: Mapping[str, ServiceSpec], secret_ids: tuple[str, ...]) -> Scan:
    table: list[list[str]] = value["files"]
    # checked now, so that a damaged file is a miss here and never an error when a map is built
    if not all(isinstance(row, list) and len(row) == _ROW and isinstance(row[0], str) for row in table):
        raise _Damaged
    inputs = {
        str(name): _decode_inputs(item, table, services[str(name)].build_args, secret_ids)
        for name, item in value["inputs"].items()
    }
    return Scan(
        label=str(value["label"]),
        inputs=inputs,
        fingerprints={str(k): str(v) for k, v in value["fingerprints"].items()},
        unbuildable={str(k): str(v) for k, v in value["unbuildable"].items()},
    )


_ROW = 2  # (path, identity)


class _Damaged(ValueError):
    """The kept scan does not have the shape this module writes: treated as no kept scan."""


class _Files(Mapping[str, str]):
    """A service's ``{path: identity}`` from the kept table, built on first use: a plan without
    ``--base`` reads only fingerprints, and building every service's map is most of a warm plan's
    reading time on a large monorepo."""

    def __init__(self, table: list[list[str]], numbers: list[int]) -> None:
        # min/max run in C; a number of another type fails them (TypeError, also a miss) or, as a
        # float in range, the lookup below
        if numbers and (min(numbers) < 0 or max(numbers) >= len(table)):
            raise _Damaged
        self._table, self._numbers = table, numbers
        self._built: dict[str, str] | None = None

    def _map(self) -> dict[str, str]:
        if self._built is None:
            try:
                self._built = {str(row[0]): str(row[1]) for row in map(self._table.__getitem__, self._numbers)}
            except TypeError:
                msg = "the kept scan in .envctl/cache/scan.json is damaged"
                raise InputError(msg, hint="delete .envctl/cache/ (it only costs time) and run again") from None
        return self._built

    def __getitem__(self, path: str) -> str:
        return self._map()[path]

    def __iter__(self) -> Iterator[str]:
        return iter(self._map())

    def __len__(self) -> int:
        return len(self._map())


def _decode_inputs(
    item: Mapping[str, Any], table: list[list[str]], args: Mapping[str, str], secret_ids: tuple[str, ...]
) -> ServiceInputs:
    groups = tuple(
        (
            None if copy is None else CopySource(str(copy[0]), str(copy[1]), int(copy[2])),
            str(group_digest),
            _Files(table, numbers),
        )
        for copy, group_digest, numbers in item["groups"]
    )
    return ServiceInputs(
        name=str(item["name"]),
        dockerfile=str(item["dockerfile"]),
        context=str(item["context"]),
        dockerfile_blob=str(item["dockerfile_blob"]),
        files=_Files(table, item["files"]),
        groups=groups,
        base_refs=tuple(BaseRef(str(r[0]), None if r[1] is None else str(r[1]), int(r[2])) for r in item["base_refs"]),
        depends_on=tuple(str(d) for d in item["depends_on"]),
        dependency_args={str(k): str(v) for k, v in item["dependency_args"].items()},
        build_args={str(name): args[str(name)] for name in item["build_args"]},
        target=None if item["target"] is None else str(item["target"]),
        secret_ids=secret_ids,
    )
