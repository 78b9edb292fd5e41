"""A service's inputs and fingerprint: what its image is made of, as one sha256.

The fingerprint covers, in a fixed order: the config that shapes the image (dockerfile path,
context, build args, target), the Dockerfile's content, every input file as (path relative to
the context, git blob hash) sorted by path (digested per COPY source), the base image references,
and the fingerprints of
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
from envctl.inputs import goglob
from envctl.inputs.dockerfile import BaseRef, CopySource, clean_source, parse_dockerfile
from envctl.inputs.gitstate import MODE_SYMLINK
from envctl.inputs.sources import Dangling, SourceResolver, check_nested_link, files_digest, follow_links

__all__ = ["ServiceInputs", "SourceResolver", "collect_inputs", "compute_fingerprints", "image_repository"]
# SourceResolver lives in inputs/sources.py; it is re-exported here for the scan

FINGERPRINT_VERSION = "envctl-fingerprint/2"  # 2: file modes, folders, links followed as BuildKit does


@dataclass(frozen=True)
class ServiceInputs:
    """Everything a service's image is made of, at one snapshot."""

    name: str
    dockerfile: str
    context: str
    dockerfile_blob: str
    files: Mapping[str, str]  # workspace-relative path -> identity ("<git mode> <blob>", or "dir")
    groups: tuple[tuple[CopySource | None, str, Mapping[str, str]], ...]  # (instruction, digest, its files)
    base_refs: tuple[BaseRef, ...]  # external images (dependencies on other services excluded)
    depends_on: tuple[str, ...]
    dependency_args: Mapping[str, str]  # FROM's ARG name -> service whose ref it must receive
    build_args: Mapping[str, str]  # hashed into the fingerprint; never written anywhere as they are
    target: str | None
    secret_ids: tuple[str, ...] = ()  # build.secrets ids: only the ids are hashed, never a value

    def via(self, path: str) -> CopySource | None:
        """The first instruction that brings ``path`` in (None: it is one of ``extra_inputs``)."""
        for copy, _digest, files in self.groups:
            if path in files:
                return copy
        return None


def image_repository(ref: str) -> str:
    """``registry:5000/a/b:tag`` → ``registry:5000/a/b`` (digest and tag removed)."""
    ref = ref.split("@", 1)[0]
    last = ref.rsplit("/", 1)[-1]
    return ref[: len(ref) - len(last)] + last.split(":", 1)[0]


def _located(spec_path: str, what: str, name: str) -> str:
    cleaned = os.path.normpath(spec_path).replace(os.sep, "/")
    if cleaned.startswith("../") or cleaned == ".." or Path(cleaned).is_absolute():
        msg = f"service {name!r}: {what} {spec_path!r} is outside the workspace"
        raise InputError(msg, hint="keep Dockerfiles and contexts inside the folder that holds envctl.yaml")
    return "" if cleaned == "." else cleaned


def _dangling(status: Dangling) -> str:
    return (
        f"it matches the symlink {status.link!r}, whose target {status.target!r} is not in the build context "
        f'(BuildKit follows it: "/{status.target}" not found)'
    )


def collect_inputs(
    name: str,
    spec: ServiceSpec,
    resolver: SourceResolver,
    services_by_repo: Mapping[str, str],
) -> ServiceInputs:
    """Inputs of one service at ``snapshot``; InputError names the Dockerfile, line and source."""
    snapshot = resolver.snapshot
    # by real paths, as the docker CLI opens them: a symlinked context or Dockerfile is followed,
    # and refused when it leads out of the workspace
    context = follow_links(snapshot, _located(spec.context, "context", name))
    dockerfile = follow_links(snapshot, _located(spec.dockerfile, "dockerfile", name))
    text = snapshot.text(dockerfile)
    if text is None:
        msg = f"service {name!r}: Dockerfile {dockerfile} not found ({snapshot.label})"
        raise InputError(msg, hint="fix `dockerfile` in envctl.yaml (paths are relative to the workspace root)")
    parsed = parse_dockerfile(text, path=dockerfile, build_args=spec.build_args, target=spec.target)
    ignore_path, rules = resolver.ignore_rules(dockerfile, context)
    files: dict[str, str] = {}
    groups: list[tuple[CopySource | None, str, Mapping[str, str]]] = []
    for copy in parsed.sources:
        kept, status, digest = resolver.resolve(context, copy.source, ignore_path, rules)
        if status != "ok":
            why = _dangling(status) if isinstance(status, Dangling) else {
                "excluded": f'it is excluded by {ignore_path} (BuildKit: "/{copy.source}" not found)',
                "missing": f'no such file or folder (BuildKit: "/{copy.source}" not found)',
                "no-folder": (
                    "the folder before the wildcard does not exist (BuildKit: lstat: no such file or directory)"
                ),
                "not-a-folder": "the path before the wildcard is a file (BuildKit: readdirent: not a directory)",
            }[status]
            msg = f"{dockerfile} line {copy.line}: COPY source {copy.source!r} (context {context or '.'}): {why}"
            raise InputError(
                msg, hint="fix the source path in the Dockerfile or the service's `context` in envctl.yaml"
            )
        files.update(kept)
        groups.append((copy, digest, kept))
    for pattern in spec.extra_inputs:
        try:
            goglob.match(clean_source(pattern), "")
        except goglob.BadPattern as exc:
            msg = f"service {name!r}: extra_inputs pattern {pattern!r}: {exc.detail}"
            raise InputError(msg, hint="extra_inputs are Go filepath.Match globs, as COPY sources: close each `[`, "
                             "escape a literal `[` as `\\[`") from None
        extra = {}
        for path in resolver.index.match("", clean_source(pattern)):
            if path.endswith("/"):
                continue
            follow_links(snapshot, path.rsplit("/", 1)[0] if "/" in path else "")  # its folder stays inside
            if snapshot.mode(path) == MODE_SYMLINK:
                check_nested_link(snapshot, path)
            extra[path] = snapshot.identity(path)
        files.update(extra)
        groups.append((None, files_digest(extra, 0), extra))
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
        files=files,
        groups=tuple(groups),
        base_refs=tuple(external),
        depends_on=tuple(sorted(deps)),
        dependency_args=dependency_args,
        build_args=dict(sorted(spec.build_args.items())),
        target=spec.target,
    )


def compute_fingerprints(inputs: Mapping[str, ServiceInputs]) -> dict[str, str]:
    """sha256 hex per service, dependencies first; InputError on a FROM cycle."""
    done: dict[str, str] = {}
    visiting: list[str] = []

    def visit(name: str) -> str:
        if name in done:
            return done[name]
        if name in visiting:
            cycle = " -> ".join([*visiting[visiting.index(name) :], name])
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
    header = {
        "v": FINGERPRINT_VERSION,
        "dockerfile": item.dockerfile,
        "context": item.context or ".",
        "build_args": dict(item.build_args),
        "target": item.target,
        "dockerfile_blob": item.dockerfile_blob,
        "base_refs": sorted(ref.ref for ref in item.base_refs),
        "depends_on": dict(sorted(deps.items())),
        # one entry per COPY/ADD source (in Dockerfile order) and one per extra_inputs set
        "inputs": [[copy.source if copy else "extra_inputs", digest] for copy, digest, _files in item.groups],
    }
    if item.secret_ids:  # absent without secrets, so fingerprints made before them stay valid
        header["secrets"] = sorted(item.secret_ids)
    return hashlib.sha256(json.dumps(header, sort_keys=True).encode()).hexdigest()
