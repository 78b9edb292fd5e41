"""The helm stand-in's rendering: the values helm computes from its command line, the chart rendered by
Helm's own engine (``helm_python``), manifests split and ordered as helm orders them, hooks set apart,
and the post-renderer run as helm 3 runs it.

Sources (helm/helm at v3.17.3): pkg/cli/values/options.go MergeValues (values files in order, merged
map by map; then --set-json, --set, --set-string, --set-file, --set-literal); pkg/action/action.go
renderResources (NOTES.txt dropped, partials skipped, hooks apart, ``---\\n# Source: <path>\\n<doc>\\n``
per document, the post-renderer fed the non-hook manifests only); pkg/releaseutil/manifest_sorter.go
and kind_sorter.go (files by path, documents by InstallOrder, hooks by the ``helm.sh/hook``
annotation); pkg/postrender/exec.go (the executable found through PATH or as a path, stdin = the
manifests, stdout = the result, a non-zero exit fails the command with its stderr).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.standins.helm_table import ERRORS, Parsed

INSTALL_ORDER = [
    "PriorityClass", "Namespace", "NetworkPolicy", "ResourceQuota", "LimitRange", "PodSecurityPolicy",
    "PodDisruptionBudget", "ServiceAccount", "Secret", "SecretList", "ConfigMap", "StorageClass", "PersistentVolume",
    "PersistentVolumeClaim", "CustomResourceDefinition", "ClusterRole", "ClusterRoleList", "ClusterRoleBinding",
    "ClusterRoleBindingList", "Role", "RoleList", "RoleBinding", "RoleBindingList", "Service", "DaemonSet", "Pod",
    "ReplicationController", "ReplicaSet", "Deployment", "HorizontalPodAutoscaler", "StatefulSet", "Job", "CronJob",
    "IngressClass", "Ingress", "APIService",
]  # fmt: skip  (pkg/releaseutil/kind_sorter.go InstallOrder)
HOOK_EVENTS = ("pre-install", "post-install", "pre-delete", "post-delete", "pre-upgrade", "post-upgrade",
               "pre-rollback", "post-rollback", "test")  # fmt: skip  (pkg/release/hook.go)
_SEPARATOR = re.compile(r"(?:^|\s*\n)---\s*")  # pkg/releaseutil/manifest.go sep


class RenderError(Exception):
    """A failure helm reports as ``Error: <text>`` (exit 1)."""


@dataclass
class Hook:
    name: str
    kind: str
    path: str
    manifest: str
    events: list[str]
    weight: int
    delete_policies: list[str]
    last_run: dict[str, str] = field(default_factory=lambda: {"started_at": "", "completed_at": "", "phase": ""})


@dataclass
class Rendered:
    manifest: str  # what the release stores and `helm get manifest` prints (post-rendered)
    hooks: list[Hook]
    notes: str


# --- values ----------------------------------------------------------------------------------------
def merge_maps(a: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
    """pkg/cli/values/options.go mergeMaps: b over a, recursing where both sides are maps."""
    out = dict(a)
    for key, value in b.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge_maps(out[key], value)
        else:
            out[key] = value
    return out


def user_values(parsed: Parsed, stdin: str | None) -> dict[str, Any]:
    """The values helm computes from the command line (the release's ``config``)."""
    import helm_python
    import yaml  # in each function that parses: `helm version`/`status` start without it

    base: dict[str, Any] = {}
    for given in parsed.values.get("values", []):
        for path in given.split(","):  # a stringSlice flag: comma-separated values, csv-style
            text = stdin if path.strip() == "-" else _read(path)
            try:
                current = yaml.safe_load(text or "") or {}
            except yaml.YAMLError as exc:
                msg = f"failed to parse {path}: {exc}"
                raise RenderError(msg) from exc
            if not isinstance(current, dict):
                msg = f"failed to parse {path}: error unmarshaling JSON: cannot unmarshal into map"
                raise RenderError(msg)
            base = merge_maps(base, current)
    parsers = (("set-json", helm_python.parse_set_json), ("set", helm_python.parse_set_string),
               ("set-string", helm_python.parse_set_string_values), ("set-file", helm_python.parse_set_file),
               ("set-literal", helm_python.parse_set_literal))  # fmt: skip
    for flag, parse in parsers:
        for expression in parsed.values.get(flag, []):
            try:
                base = merge_maps(base, parse(expression))
            except helm_python.HelmError as exc:
                msg = f"failed parsing --{flag} data: {exc}"
                raise RenderError(msg) from exc
    return base


def _read(path: str) -> str:
    try:
        return Path(path).read_text()
    except OSError as exc:
        msg = f"open {path}: no such file or directory"
        raise RenderError(msg) from exc


# --- rendering -------------------------------------------------------------------------------------
def chart_metadata(chart_dir: str) -> dict[str, Any]:
    import helm_python

    if not (Path(chart_dir) / "Chart.yaml").is_file():
        msg = f'path "{chart_dir}" not found'
        raise RenderError(msg)
    with helm_python.Chart.load(chart_dir) as chart:
        return dict(chart.metadata)


def chart_defaults(chart_dir: str) -> dict[str, Any]:
    import helm_python

    with helm_python.Chart.load(chart_dir) as chart:
        return dict(chart.values)


def render(chart_dir: str, values: dict[str, Any], *, name: str, namespace: str, revision: int, upgrade: bool,
           post_renderer: list[str] | None) -> Rendered:  # fmt: skip
    import helm_python

    try:
        with helm_python.Chart.load(chart_dir) as chart:
            files = chart.render(values, name=name, namespace=namespace, revision=revision,
                                 is_install=not upgrade, is_upgrade=upgrade)  # fmt: skip
    except helm_python.HelmError as exc:
        raise RenderError(str(exc)) from exc
    notes = "".join(text for path, text in files.items() if path.endswith("/templates/NOTES.txt"))
    hooks, manifests = sort_manifests({p: t for p, t in files.items() if not p.endswith("NOTES.txt")})
    text = "".join(f"---\n# Source: {path}\n{doc}\n" for path, doc, _ in manifests)
    if post_renderer:
        text = run_post_renderer(post_renderer, text)
    return Rendered(text, hooks, notes)


def sort_manifests(files: dict[str, str]) -> tuple[list[Hook], list[tuple[str, str, str]]]:
    """Hooks (by kind order) and the other documents as (path, text, kind), in helm's install order."""
    import yaml

    hooks: list[Hook] = []
    generic: list[tuple[str, str, str]] = []
    for path in sorted(files):
        content = files[path]
        if Path(path).name.startswith("_") or not content.strip():
            continue
        for doc in _split(content):
            head = yaml.safe_load(doc) or {}
            if not isinstance(head, dict):
                continue
            kind = str(head.get("kind", ""))
            meta = head.get("metadata") or {}
            annotations = meta.get("annotations") or {}
            events = annotations.get("helm.sh/hook")
            if events is None:
                generic.append((path, doc, kind))
                continue
            wanted = [e.strip().lower() for e in str(events).split(",")]
            if any(e not in HOOK_EVENTS for e in wanted):
                continue  # "info: skipping unknown hook"
            weight = annotations.get("helm.sh/hook-weight", "0")
            policies = [p.strip().lower() for p in str(annotations.get("helm.sh/hook-delete-policy", "")).split(",")]
            hooks.append(Hook(str(meta.get("name", "")), kind, path, doc, wanted,
                              int(weight) if re.fullmatch(r"-?\d+", str(weight)) else 0, [p for p in policies if p]))  # fmt: skip
    order = {kind: i for i, kind in enumerate(INSTALL_ORDER)}

    def rank(kind: str) -> tuple[int, str]:
        return (order[kind], "") if kind in order else (len(order), kind)

    generic.sort(key=lambda m: rank(m[2]))
    hooks.sort(key=lambda h: rank(h.kind))
    return hooks, generic


def _split(content: str) -> list[str]:
    """pkg/releaseutil/manifest.go SplitManifests: documents between ``---`` lines, trimmed, empty ones dropped."""
    docs = []
    for part in _SEPARATOR.split(content):
        text = part.strip()
        if text:
            docs.append(text)
    return docs


def run_post_renderer(argv: list[str], manifests: str) -> str:
    executable, *args = argv
    found = shutil.which(executable) if os.sep not in executable else executable
    if not found or not os.access(found, os.X_OK):
        raise RenderError(ERRORS["post_render_missing"].format(executable, executable))
    full = str(Path(found).absolute())
    done = subprocess.run([full, *args], input=manifests, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RenderError(ERRORS["post_render"].format(full, done.stderr))
    return done.stdout


def post_renderer(parsed: Parsed) -> list[str] | None:
    """--post-renderer EXE and every --post-renderer-args, or None (cmd/helm/flags.go bindPostRenderFlag)."""
    executable = parsed.one("post-renderer")
    return [executable, *parsed.values.get("post-renderer-args", [])] if executable else None


def template_output(rendered: Rendered, *, skip_hooks: bool) -> str:
    """cmd/helm/template.go: the manifest (trimmed) and a newline, then every hook as a document."""
    out = rendered.manifest.strip() + "\n"
    if not skip_hooks:
        out += "".join(f"---\n# Source: {h.path}\n{h.manifest}\n" for h in rendered.hooks)
    return out


def documents(manifest: str) -> list[dict[str, Any]]:
    """The objects of a manifest stream (what helm builds and applies)."""
    import yaml

    return [doc for doc in yaml.safe_load_all(manifest) if isinstance(doc, dict)]


def main_error(message: str) -> None:
    sys.stderr.write(f"Error: {message}\n")
    sys.exit(1)
