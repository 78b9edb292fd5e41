"""A service's inputs and fingerprint: what its image is made of, as one sha256.

The fingerprint covers, in a fixed order: the config that shapes the image (dockerfile path,
context, build args, target), the Dockerfile's content, every input file as (path relative to
the context, git blob hash) sorted by path, the base image references, and the fingerprints of
the services whose images it starts FROM. Input files are the COPY/ADD sources of the stages the
target needs, filtered by the ignore file, plus the service's ``extra_inputs`` globs. A change
that reaches none of those (an uncopied or ignored file) leaves the fingerprint, and so the image
tag, unchanged.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from envctl.config import ServiceSpec
from envctl.errors import InputError
from envctl.inputs.context import IgnoreRules, PathIndex, ignore_file_for, join
from envctl.inputs.dockerfile import BaseRef, CopySource, clean_source, parse_dockerfile
from envctl.inputs.gitstate import Snapshot

__all__ = ["ServiceInputs", "collect_inputs", "compute_fingerprints", "image_repository"]

FINGERPRINT_VERSION = "envctl-fingerprint/1"


@dataclass(frozen=True)
class ServiceInputs:
    """Everything a service's image is made of, at one snapshot."""

    name: str
    dockerfile: str
    context: str
    dockerfile_blob: str
    files: Mapping[str, str]  # workspace-relative path -> git blob hash
    via: Mapping[str, CopySource | None]  # which instruction brought each file in (None: extra_inputs)
    base_refs: tuple[BaseRef, ...]  # external images (dependencies on other services excluded)
    depends_on: tuple[str, ...]
    dependency_args: Mapping[str, str]  # FROM's ARG name -> service whose ref it must receive
    build_args: Mapping[str, str]
    target: str | None


def image_repository(ref: str) -> str:
    """``registry:5000/a/b:tag`` → ``registry:5000/a/b`` (digest and tag removed)."""
    ref = ref.split("@", 1)[0]
    last = ref.rsplit("/", 1)[-1]
    return ref[: len(ref) - len(last)] + last.split(":", 1)[0]


def _located(spec_path: str, what: str, name: str) -> str:
    cleaned = os.path.normpath(spec_path).replace(os.sep, "/")
    if cleaned.startswith("../") or cleaned == ".." or os.path.isabs(cleaned):
        msg = f"service {name!r}: {what} {spec_path!r} is outside the workspace"
        raise InputError(msg, hint="keep Dockerfiles and contexts inside the folder that holds envctl.yaml")
    return "" if cleaned == "." else cleaned


def collect_inputs(
    name: str,
    spec: ServiceSpec,
    snapshot: Snapshot,
    index: PathIndex,
    services_by_repo: Mapping[str, str],
    ignores: dict[str, IgnoreRules],
) -> ServiceInputs:
    """Inputs of one service at ``snapshot``; InputError names the Dockerfile, line and source."""
    dockerfile = _located(spec.dockerfile, "dockerfile", name)
    context = _located(spec.context, "context", name)
    text = snapshot.text(dockerfile)
    if text is None:
        msg = f"service {name!r}: Dockerfile {dockerfile} not found ({snapshot.label})"
        raise InputError(msg, hint="fix `dockerfile` in envctl.yaml (paths are relative to the workspace root)")
    parsed = parse_dockerfile(text, path=dockerfile, build_args=spec.build_args, target=spec.target)
    ignore_path = ignore_file_for(dockerfile, context, snapshot.__contains__)
    rules = IgnoreRules(())
    if ignore_path is not None:
        if ignore_path not in ignores:
            ignores[ignore_path] = IgnoreRules.parse(snapshot.text(ignore_path) or "")
        rules = ignores[ignore_path]
    strip = len(context) + 1 if context else 0
    files: dict[str, str] = {}
    via: dict[str, CopySource | None] = {}
    for copy in parsed.sources:
        matched = index.match(context, copy.source)
        if not matched:
            matched = _ignored_by_git(snapshot, index, context, copy.source)
        kept = [path for path in matched if not rules.excluded(path[strip:])]
        if not kept:
            why = f"everything it matches is excluded by {ignore_path}" if matched else "it matches no file"
            msg = f"{dockerfile} line {copy.line}: COPY source {copy.source!r} (context {context or '.'}): {why}"
            raise InputError(msg, hint="fix the source path in the Dockerfile or the service's `context` in envctl.yaml")
        for path in kept:
            files[path] = snapshot.blob(path)
            via.setdefault(path, copy)
    for pattern in spec.extra_inputs:
        for path in index.match("", clean_source(pattern)):
            files[path] = snapshot.blob(path)
            via.setdefault(path, None)
    deps: dict[str, str] = {}
    dependency_args: dict[str, str] = {}
    external: list[BaseRef] = []
    for ref in parsed.base_refs:
        owner = services_by_repo.get(image_repository(ref.ref))
        if owner is not None and owner != name:
            deps[owner] = ref.ref
            if ref.arg:
                dependency_args[ref.arg] = owner
        else:
            external.append(ref)
    return ServiceInputs(
        name=name,
        dockerfile=dockerfile,
        context=context,
        dockerfile_blob=snapshot.blob(dockerfile),
        files=dict(sorted(files.items())),
        via=via,
        base_refs=tuple(external),
        depends_on=tuple(sorted(deps)),
        dependency_args=dependency_args,
        build_args=dict(sorted(spec.build_args.items())),
        target=spec.target,
    )


def _ignored_by_git(snapshot: Snapshot, index: PathIndex, context: str, source: str) -> list[str]:
    """Files git ignores (generated artefacts) that a COPY still reads: hash them from disk."""
    if snapshot.disk_root is None or any(ch in source for ch in "*?["):
        return []
    path = join(context, source)
    full = snapshot.disk_root / path
    if full.is_file():
        found = [path]
    elif full.is_dir():
        found = [Path(folder, f).relative_to(snapshot.disk_root).as_posix()
                 for folder, _dirs, names in os.walk(full) for f in names]
    else:
        return []
    for item in found:
        snapshot._blobs.setdefault(item, None)  # noqa: SLF001 - the snapshot learns of files git hides
    return sorted(found)


def compute_fingerprints(inputs: Mapping[str, ServiceInputs]) -> dict[str, str]:
    """sha256 hex per service, dependencies first; InputError on a FROM cycle."""
    done: dict[str, str] = {}
    visiting: list[str] = []

    def visit(name: str) -> str:
        if name in done:
            return done[name]
        if name in visiting:
            cycle = " -> ".join([*visiting[visiting.index(name):], name])
            msg = f"services build FROM each other in a cycle: {cycle}"
            raise InputError(msg, hint="break the cycle; a service cannot start FROM its own dependents")
        visiting.append(name)
        item = inputs[name]
        deps = {dep: visit(dep) for dep in item.depends_on if dep in inputs}
        visiting.pop()
        done[name] = _digest(item, deps)
        return done[name]

    for name in sorted(inputs):
        visit(name)
    return done


def _digest(item: ServiceInputs, deps: Mapping[str, str]) -> str:
    strip = len(item.context) + 1 if item.context else 0
    digest = hashlib.sha256()
    header = {
        "v": FINGERPRINT_VERSION,
        "dockerfile": item.dockerfile,
        "context": item.context or ".",
        "build_args": dict(item.build_args),
        "target": item.target,
        "dockerfile_blob": item.dockerfile_blob,
        "base_refs": sorted(ref.ref for ref in item.base_refs),
        "depends_on": dict(sorted(deps.items())),
    }
    digest.update(json.dumps(header, sort_keys=True).encode())
    for path, sha in item.files.items():
        # context-relative: moving a whole workspace does not change its fingerprints
        rel = path[strip:] if strip and path.startswith(item.context + "/") else path
        digest.update(f"\n{rel}\0{sha}".encode())
    return digest.hexdigest()

