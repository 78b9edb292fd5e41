"""`envctl init`'s discovery: find Dockerfiles, name services, infer each build context, and keep
only the services that plan.

Naming rule: a service is named after the nearest folder above its Dockerfile that is not a
generic one (``src``, ``app``, ``docker``, ``build``, ``deploy``, ...), plus the Dockerfile's
variant (``Dockerfile.debug`` → ``-debug``): ``src/cartservice/src/Dockerfile`` → ``cartservice``.
Two services with the same name are told apart by the next meaningful folder up
(``legacy-api``), then by a number.

Context rule: the workspace root when every COPY/ADD source of the Dockerfile exists relative
to the root (monorepos build with ``-f services/X/Dockerfile .``); else the Dockerfile's own
folder when they exist from there; else whichever reaches more of them, saying so.

A Dockerfile whose inputs do not resolve with that context (a template with placeholders, a stale
copy) would make every ``envctl plan`` fail: it is left out, with the reason.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path, PurePosixPath

import yaml

from envctl.adapters.process import SubprocessRunner
from envctl.chart_values import FieldMatch, ImageField, image_fields, match_fields
from envctl.config import ServiceSpec
from envctl.containment import resolve_inside
from envctl.errors import InputError
from envctl.inputs.context import PathIndex
from envctl.inputs.dockerfile import parse_dockerfile
from envctl.inputs.fingerprint import collect_inputs
from envctl.inputs.gitstate import git_prefix, snapshot_filesystem, snapshot_worktree
from envctl.inputs.sources import SourceResolver
from envctl.release import load_values_file

__all__ = ["ChartScan", "DiscoveredService", "config_yaml", "discover_services", "find_chart", "scan_chart"]

# Folder names that say how something is built or laid out, not which service it is.
GENERIC_FOLDERS = frozenset({
    "src", "source", "sources", "app", "apps", "application", "docker", "dockerfiles", ".docker", "build", "builds",
    "deploy", "deploys", "deployment", "deployments", "ci", ".ci", "cmd", "container", "containers", "image", "images",
    "dist", "infra", "ops", "packaging", "main", "server", "service", "services", "svc", "code", "project",
})
# Trees that hold other people's Dockerfiles, not this workspace's services.
_SHOWN = 3  # COPY sources named in a reason; the rest are counted
_VENDORED = frozenset({"vendor", "third_party", "third-party", "node_modules", ".venv", "venv", "site-packages"})
_DOCKERFILE = re.compile(r"^(?:Dockerfile(?:\.[A-Za-z0-9_-]+)?|[A-Za-z0-9_-]+\.Dockerfile)$")


@dataclass(frozen=True)
class DiscoveredService:
    name: str
    dockerfile: str
    context: str
    image: str
    why: str  # why this context, in words
    left_out: str = ""  # why it is left out of envctl.yaml (its inputs do not resolve), if it is


def _label(text: str) -> str:
    label = re.sub(r"[^a-z0-9-]+", "-", text.lower()).strip("-")
    return label[:63].strip("-") or "service"


def _meaningful_folders(dockerfile: str) -> list[str]:
    """The Dockerfile's folders from the nearest up, generic ones left out."""
    return [part for part in reversed(PurePosixPath(dockerfile).parent.parts) if part.lower() not in GENERIC_FOLDERS]


def _variant(dockerfile: str) -> str:
    """``Dockerfile.debug`` → ``debug``, ``lint.Dockerfile`` → ``lint``, ``Dockerfile`` → ``""``."""
    name = PurePosixPath(dockerfile).name
    if name.startswith("Dockerfile"):
        return name.removeprefix("Dockerfile").lstrip(".")
    return name.removesuffix(".Dockerfile")


def _service_name(dockerfile: str, root_name: str, depth: int = 1) -> str:
    """``depth`` meaningful folders (nearest last), then the variant; the root's name when none."""
    folders = _meaningful_folders(dockerfile)[:depth][::-1] or [root_name]
    variant = _variant(dockerfile)
    variant = "" if variant.lower() == folders[-1].lower() else variant
    return _label("-".join([*folders, variant] if variant else folders))


def _unique_names(dockerfiles: list[str], root_name: str) -> dict[str, str]:
    """Names for every Dockerfile; duplicates get more folders, then a number."""
    names = {path: _service_name(path, root_name) for path in dockerfiles}
    for depth in (2, 3):
        counts = Counter(names.values())
        names = {p: _service_name(p, root_name, depth) if counts[n] > 1 else n for p, n in names.items()}
    taken: set[str] = set()
    for path in dockerfiles:
        name, number = names[path], 2
        while name in taken:
            name = _label(f"{names[path]}-{number}")
            number += 1
        taken.add(name)
        names[path] = name
    return names


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
    names = _unique_names(dockerfiles, prefix)
    resolver = SourceResolver(snapshot)
    found: list[DiscoveredService] = []
    for dockerfile in dockerfiles:
        name = names[dockerfile]
        context, why = _infer_context(dockerfile, snapshot.read(dockerfile).decode(errors="replace"), index)
        item = DiscoveredService(name, dockerfile, context, f"{prefix}/{name}", why)
        found.append(_checked(item, resolver))
    return found


def _checked(item: DiscoveredService, resolver: SourceResolver) -> DiscoveredService:
    """The service as ``envctl plan`` will read it; ``left_out`` says why it would not plan."""
    spec = ServiceSpec.model_validate({"dockerfile": item.dockerfile, "context": item.context, "image": item.image})
    try:
        collect_inputs(item.name, spec, resolver, {})
    except InputError as exc:
        return replace(item, left_out=exc.message)
    return item


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
    shown = ", ".join(sources[:_SHOWN]) + (f" (+{len(sources) - _SHOWN} more)" if len(sources) > _SHOWN else "")
    if len(from_root) == len(sources) and (own == "" or len(from_own) < len(sources)):
        return ".", f"the workspace root: every COPY source exists from there ({shown})"
    if len(from_own) == len(sources):
        return own or ".", f"its own folder: every COPY source exists there ({shown})"
    if len(from_root) >= len(from_own):
        missing = ", ".join(s for s in sources if s not in from_root)
        return ".", f"the workspace root (most sources exist from there; not found: {missing})"
    missing = ", ".join(s for s in sources if s not in from_own)
    return own or ".", f"its own folder (most sources exist there; not found: {missing})"


@dataclass(frozen=True)
class ChartScan:
    """What ``init --chart`` found in the chart's values.yaml: which image field each service reads."""

    chart: str  # relative to the workspace root
    matches: tuple[FieldMatch, ...]
    unmatched_fields: tuple[ImageField, ...]
    unmatched_services: tuple[str, ...]

    def injection(self, service: str) -> dict[str, str]:
        """The envctl.yaml keys for ``service``: values_path for a {repository, tag} block; for an
        image string (no block to inject into) inject: rewrite, matching that repository."""
        match = next((m for m in self.matches if m.service == service), None)
        if match is None:
            return {}
        if match.field.form == "map":
            return {"values_path": match.field.path}
        return {"inject": "rewrite", "image_match": match.field.repository}


def find_chart(root: Path) -> str | None:
    """The only chart under ``charts/`` (a folder with a Chart.yaml), or None when there is not exactly one."""
    found = sorted(p.parent for p in (root / "charts").glob("*/Chart.yaml")) if (root / "charts").is_dir() else []
    return found[0].relative_to(root).as_posix() if len(found) == 1 else None


def scan_chart(root: Path, chart: str, services: Sequence[DiscoveredService]) -> ChartScan:
    """Pair the chart's image fields (values.yaml) with ``services`` by key name, then by repository."""
    folder = resolve_inside(root, chart, "--chart")
    if not (folder / "Chart.yaml").is_file():
        msg = f"no Helm chart at {folder} (no Chart.yaml)"
        raise InputError(msg, hint="pass --chart the chart's folder, relative to the workspace")
    values = load_values_file(folder / "values.yaml") if (folder / "values.yaml").is_file() else {}
    kept = {item.name: item.image for item in services if not item.left_out}
    matches, fields, names = match_fields(image_fields(values), kept)
    return ChartScan(chart, tuple(matches), tuple(fields), tuple(names))


def config_yaml(services: Sequence[DiscoveredService], cluster_name: str, chart: ChartScan | None = None) -> str:
    """A starting envctl.yaml (valid against ``EnvConfig``), with comments for the next steps; the
    services left out are written commented out under ``services:``, each with its reason."""
    kept = [item for item in services if not item.left_out]
    body = {
        "version": 1,
        "cluster": {"name": cluster_name},
        "release": {"name": cluster_name[:53], "chart": chart.chart if chart else "charts/" + cluster_name,
                    "values": []},
        "images": [],
        "services": {
            item.name: {"dockerfile": item.dockerfile, "context": item.context, "image": item.image,
                        **(chart.injection(item.name) if chart else {})}
            for item in kept
        },
    }  # fmt: skip
    header = (
        "# Written by `envctl init`. Paths are relative to this file.\n"
        "# Next: point release.chart at your chart, add values files, and give each deployed service a\n"
        "# values_path (where the chart reads <values_path>.repository and <values_path>.tag).\n"
        "# Third-party images the chart needs (e.g. postgres:16-alpine) go under `images:`.\n"
    )
    text = header + str(yaml.safe_dump(body, sort_keys=False, default_flow_style=False, width=1000))
    left_out = [item for item in services if item.left_out]
    if left_out:
        text += "  # Left out: their inputs do not resolve, so every `envctl plan` would fail. Fix, then uncomment.\n"
        for item in left_out:
            entry = {item.name: {"dockerfile": item.dockerfile, "context": item.context, "image": item.image}}
            lines = str(yaml.safe_dump(entry, sort_keys=False, default_flow_style=False, width=1000)).splitlines()
            reason = " ".join(item.left_out.split())
            text += f"  # {lines[0]}  # {reason}\n" + "".join(f"  # {line}\n" for line in lines[1:])
    return text
