"""`envctl init`'s discovery: find Dockerfiles, name services, infer each build context.

Context rule: the workspace root when every COPY/ADD source of the Dockerfile exists relative
to the root (monorepos build with ``-f services/X/Dockerfile .``); else the Dockerfile's own
folder when they exist from there; else whichever reaches more of them, saying so.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import yaml

from envctl.adapters.process import SubprocessRunner
from envctl.errors import InputError
from envctl.inputs.context import PathIndex
from envctl.inputs.dockerfile import parse_dockerfile
from envctl.inputs.gitstate import git_prefix, snapshot_filesystem, snapshot_worktree

__all__ = ["DiscoveredService", "config_yaml", "discover_services"]

# Trees that hold other people's Dockerfiles, not this workspace's services.
_VENDORED = frozenset({"vendor", "third_party", "third-party", "node_modules", ".venv", "venv", "site-packages"})
_DOCKERFILE = re.compile(r"^(?:Dockerfile(?:\.[A-Za-z0-9_-]+)?|[A-Za-z0-9_-]+\.Dockerfile)$")


@dataclass(frozen=True)
class DiscoveredService:
    name: str
    dockerfile: str
    context: str
    image: str
    why: str  # why this context, in words


def _label(text: str) -> str:
    label = re.sub(r"[^a-z0-9-]+", "-", text.lower()).strip("-")
    return label[:63].strip("-") or "service"


def _service_name(dockerfile: str, root_name: str) -> str:
    path = PurePosixPath(dockerfile)
    folder = path.parent.name or root_name
    variant = path.name.removeprefix("Dockerfile").lstrip(".") or path.name.removesuffix(".Dockerfile")
    if path.name == "Dockerfile":
        variant = ""
    return _label(f"{folder}-{variant}" if variant else folder)


def discover_services(root: Path, runner: SubprocessRunner) -> list[DiscoveredService]:
    """Every Dockerfile under ``root`` (outside ignored and vendored trees), as a service."""
    snapshot = snapshot_worktree(runner, root) if git_prefix(runner, root) is not None else snapshot_filesystem(root)
    index = PathIndex(snapshot.paths)
    dockerfiles = [
        path for path in index.paths
        if _DOCKERFILE.match(PurePosixPath(path).name)
        and not path.endswith(".dockerignore")
        and not _VENDORED.intersection(PurePosixPath(path).parts)
    ]
    prefix = _label(root.resolve().name)
    found: list[DiscoveredService] = []
    taken: set[str] = set()
    for dockerfile in dockerfiles:
        name = _service_name(dockerfile, prefix)
        while name in taken:
            name = _label(name + "-2") if not name[-1].isdigit() else _label(name[:-1] + str(int(name[-1]) + 1))
        taken.add(name)
        context, why = _infer_context(dockerfile, snapshot.read(dockerfile).decode(errors="replace"), index)
        found.append(DiscoveredService(name, dockerfile, context, f"{prefix}/{name}", why))
    return found


def _infer_context(dockerfile: str, text: str, index: PathIndex) -> tuple[str, str]:
    own = str(PurePosixPath(dockerfile).parent)
    own = "" if own == "." else own
    try:
        sources = [copy.source for copy in parse_dockerfile(text, path=dockerfile, build_args={}, target=None).sources]
    except InputError as exc:
        return own or ".", f"its own folder (could not read the Dockerfile: {exc.message})"
    if not sources:
        return own or ".", "its own folder (it copies nothing from a context)"
    from_root = [s for s in sources if index.match("", s)]
    from_own = [s for s in sources if index.match(own, s)]
    shown = ", ".join(sources[:3]) + (f" (+{len(sources) - 3} more)" if len(sources) > 3 else "")
    if len(from_root) == len(sources) and (own == "" or len(from_own) < len(sources)):
        return ".", f"the workspace root: every COPY source exists from there ({shown})"
    if len(from_own) == len(sources):
        return own or ".", f"its own folder: every COPY source exists there ({shown})"
    if len(from_root) >= len(from_own):
        missing = ", ".join(s for s in sources if s not in from_root)
        return ".", f"the workspace root (most sources exist from there; not found: {missing})"
    missing = ", ".join(s for s in sources if s not in from_own)
    return own or ".", f"its own folder (most sources exist there; not found: {missing})"


def config_yaml(services: Sequence[DiscoveredService], cluster_name: str) -> str:
    """A starting envctl.yaml (valid against ``EnvConfig``), with comments for the next steps."""
    body = {
        "version": 1,
        "cluster": {"name": cluster_name},
        "release": {"name": cluster_name[:53], "chart": "charts/" + cluster_name, "values": []},
        "services": {
            item.name: {"dockerfile": item.dockerfile, "context": item.context, "image": item.image}
            for item in services
        },
        "images": [],
    }
    header = (
        "# Written by `envctl init`. Paths are relative to this file.\n"
        "# Next: point release.chart at your chart, add values files, and give each deployed service a\n"
        "# values_path (where the chart reads <values_path>.repository and <values_path>.tag).\n"
        "# Third-party images the chart needs (e.g. postgres:16-alpine) go under `images:`.\n"
    )
    return header + yaml.safe_dump(body, sort_keys=False, default_flow_style=False)
