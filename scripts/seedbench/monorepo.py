"""A generated monorepo shaped like the one envctl was made for, and a seeded replay of its merges.

Shape: 12 Python-like services built from the repository root, 7 of them deployed by the CI values
of one chart (a values block per service); a shared library 10 of them copy; ``gateway`` also
copies a sibling service's folder (``services/catalog/schemas``). Each image is a shared base
(as if pulled: a runtime layer), a dependency layer made by a ``RUN`` step from the service's
``requirements.txt`` (incompressible data, 50-400 MB in full size: what ``pip install`` leaves),
the shared library, and a code layer of a few MB.

Merges follow the seed's change distribution: on average 2.4 services rebuilt per merge, 41 % of
merges touching no image input. ``draw_merges`` samples kinds from fixed weights with a seeded RNG
and keeps the first draw whose realised figures match those two numbers (the no-image share
exactly, the mean within a tolerance), so every run replays the same merges for a given seed.
"""

from __future__ import annotations

import random
import shutil
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

__all__ = [
    "DEPLOYED",
    "LIB_USERS",
    "SERVICES",
    "Merge",
    "Shape",
    "apply_merge",
    "draw_merges",
    "expected_rebuilt",
    "write_monorepo",
]

# name → dependency layer MB at full size (the seed's services span 50-400 MB of site-packages).
SERVICES: dict[str, int] = {
    "gateway": 120, "accounts": 180, "billing": 260, "catalog": 220, "orders": 400, "search": 350,
    "notifications": 90, "reports": 300, "scheduler": 70, "ingest": 240, "exporter": 150, "admin": 50,
}  # fmt: skip
DEPLOYED = ("gateway", "accounts", "billing", "catalog", "orders", "search", "notifications")
LIB_USERS = tuple(s for s in SERVICES if s not in ("exporter", "admin"))
SIBLING_COPY = ("gateway", "catalog")  # gateway copies services/catalog/schemas

# Merge kinds: (weight, services rebuilt). Kinds that touch no image input rebuild nothing.
IMAGE_KINDS = {"code": 0.36, "code2": 0.14, "lib": 0.30, "schemas": 0.10, "deps": 0.10}
NO_IMAGE_KINDS = {"docs": 0.4, "tests": 0.3, "chart": 0.3}


@dataclass(frozen=True)
class Shape:
    """Sizes of the generated images; ``scale`` 1 is the seed's, the quick mode shrinks it."""

    base_mb: float = 120.0  # the shared runtime layer every image starts from
    deps_scale: float = 1.0  # multiplies SERVICES' dependency sizes
    code_kb: int = 3072  # per service's code layer
    lib_kb: int = 1024  # the shared library

    def deps_mb(self, service: str) -> float:
        return SERVICES[service] * self.deps_scale


@dataclass(frozen=True)
class Merge:
    index: int
    kind: str
    services: tuple[str, ...]  # the services the edit touches (before following copies)

    @property
    def touches_images(self) -> bool:
        return self.kind in IMAGE_KINDS


def expected_rebuilt(merge: Merge) -> frozenset[str]:
    """Which images a merge changes, from the repository's COPY graph (not from envctl)."""
    if merge.kind == "lib":
        return frozenset(LIB_USERS)
    if merge.kind == "schemas":
        return frozenset(SIBLING_COPY)
    if merge.touches_images:
        return frozenset(merge.services)
    return frozenset()


def draw_merges(
    count: int, seed: int, *, p_none: float = 0.41, mean_rebuilt: float = 2.4, tolerance: float | None = None
) -> list[Merge]:
    """``count`` merges whose no-image share is ``round(p_none·count)`` and whose mean of rebuilt
    services is within ``tolerance`` (default: 0.1, or 2.4/count for short replays) of the target."""
    rng = random.Random(seed)
    none_count = round(p_none * count)
    tol = tolerance if tolerance is not None else max(0.1, mean_rebuilt / max(count, 1))
    for _ in range(100_000):
        kinds = [_pick(rng, NO_IMAGE_KINDS) for _ in range(none_count)]
        kinds += [_pick(rng, IMAGE_KINDS) for _ in range(count - none_count)]
        rng.shuffle(kinds)
        merges = [Merge(i + 1, kind, _services_for(rng, kind)) for i, kind in enumerate(kinds)]
        mean = sum(len(expected_rebuilt(m)) for m in merges) / max(count, 1)
        if abs(mean - mean_rebuilt) <= tol:
            return merges
    msg = f"no draw of {count} merges matched mean {mean_rebuilt}±{tol} (seed {seed})"
    raise ValueError(msg)


def _pick(rng: random.Random, weights: dict[str, float]) -> str:
    return rng.choices(list(weights), weights=list(weights.values()))[0]


def _services_for(rng: random.Random, kind: str) -> tuple[str, ...]:
    if kind in ("code", "deps", "docs"):
        return (rng.choice(list(SERVICES)),)
    if kind == "code2":
        return tuple(sorted(rng.sample(list(SERVICES), 2)))
    if kind == "chart":
        return (rng.choice(DEPLOYED),)
    return ()


# --- the files ---------------------------------------------------------------------------------
def write_monorepo(root: Path, *, shape: Shape, prefix: str, base_image: str, cluster: str, salt: str) -> None:
    """The workspace (a git repository with one commit). ``salt`` makes the dependency steps of this
    workspace unique, so two workspaces on one engine never share a BuildKit cache entry."""
    root.mkdir(parents=True)
    rng = random.Random(f"{prefix}-files")
    _write_files(root / "libs" / "common", "lib", shape.lib_kb, rng, suffix=".py")
    for svc in SERVICES:
        folder = root / "services" / svc
        _write_files(folder / "app", svc, shape.code_kb, rng, suffix=".py")
        (folder / "requirements.txt").write_text(f"# {svc}\nrequests==2.32.3\npydantic==2.9.2\n")
        (folder / "README.md").write_text(f"# {svc}\n\nWhat {svc} does.\n")
        (folder / "Dockerfile").write_text(_dockerfile(svc, shape, salt))
    _write_files(root / "services" / "catalog" / "schemas", "schema", 64, rng, suffix=".json")
    _write_files(root / "tests", "test", 32, rng, suffix=".py")
    (root / "docs").mkdir()
    (root / "docs" / "index.md").write_text("# The seed monorepo\n")
    (root / ".dockerignore").write_text(".git\n.envctl\ncharts\nvalues\ndocs\ntests\n**/*.md\n")
    _write_chart(root)
    (root / "envctl.yaml").write_text(yaml.safe_dump(_config(prefix, base_image, cluster), sort_keys=False))
    git(root, "init", "-q", "-b", "main")
    commit_all(root, "seed monorepo")


def _dockerfile(svc: str, shape: Shape, salt: str) -> str:
    deps_bytes = int(shape.deps_mb(svc) * (1 << 20))
    lines = [
        "ARG BASE_IMAGE=python-base:3.11",
        "FROM ${BASE_IMAGE}",
        f"COPY services/{svc}/requirements.txt /opt/{svc}/requirements.txt",
        # Stands for `pip install -r requirements.txt`: incompressible site-packages of the
        # service's size. The salt keeps this workspace's cache entries apart from others'.
        f"RUN echo {salt} >/dev/null && mkdir -p /opt/venv && head -c {deps_bytes} /dev/urandom >/opt/venv/deps.bin",
    ]
    if svc in LIB_USERS:
        lines.append("COPY libs/common /opt/common")
    if svc in SIBLING_COPY:  # catalog's own schemas, which gateway copies from its sibling's folder
        lines.append(f"COPY services/{SIBLING_COPY[1]}/schemas /app/schemas")
    lines += [f"COPY services/{svc}/app /app", f"ENV SERVICE={svc}", 'CMD ["sleep", "2147483647"]']
    return "\n".join(lines) + "\n"


def _config(prefix: str, base_image: str, cluster: str) -> dict[str, Any]:
    services: dict[str, dict[str, Any]] = {}
    for svc in SERVICES:
        spec: dict[str, Any] = {"dockerfile": f"services/{svc}/Dockerfile", "context": ".", "image": f"{prefix}/{svc}"}
        if svc in DEPLOYED:
            spec["values_path"] = f"{svc}.image"
        else:  # built on every merge that touches it, but the release does not run it
            spec["inject"] = "none"
        spec["build_args"] = {"BASE_IMAGE": base_image}
        services[svc] = spec
    return {
        "version": 1,
        "cluster": {"name": cluster, "servers": 1, "agents": 0},
        "release": {"name": "seed", "chart": "charts/seed", "namespace": "seed", "values": ["values/ci.yaml"],
                    "timeout": "600s"},
        "services": services,
        "build": {"network": "none", "docker_cli": "/usr/bin/docker"},
        "load": {"mode": "import"},
    }  # fmt: skip


def _write_chart(root: Path) -> None:
    chart = root / "charts" / "seed"
    (chart / "templates").mkdir(parents=True)
    (chart / "Chart.yaml").write_text('apiVersion: v2\nname: seed\nversion: 0.1.0\nappVersion: "0.1.0"\n')
    defaults: dict[str, Any] = {"imagePullPolicy": "IfNotPresent"}
    for svc in SERVICES:
        defaults[svc] = {"enabled": svc in DEPLOYED, "replicas": 1, "logLevel": "info", "port": 8080,
                         "image": {"repository": f"seed/{svc}", "tag": "dev"}}  # fmt: skip
    (chart / "values.yaml").write_text(yaml.safe_dump(defaults, sort_keys=False))
    (chart / "templates" / "_helpers.tpl").write_text(_HELPERS)
    for svc in SERVICES:
        (chart / "templates" / f"{svc}.yaml").write_text(
            f'{{{{- include "seed.deployment" (dict "root" $ "name" "{svc}") }}}}\n'
        )
    ci = {svc: {"enabled": svc in DEPLOYED, "replicas": 1, "logLevel": "info"} for svc in SERVICES}
    (root / "values").mkdir()
    (root / "values" / "ci.yaml").write_text(yaml.safe_dump(ci, sort_keys=False))


_HELPERS = """{{- define "seed.deployment" -}}
{{- $svc := index .root.Values .name -}}
{{- if $svc.enabled }}
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ .root.Release.Name }}-{{ .name }}
  labels:
    app.kubernetes.io/instance: {{ .root.Release.Name }}
    app.kubernetes.io/name: {{ .name }}
spec:
  replicas: {{ $svc.replicas }}
  selector:
    matchLabels:
      app.kubernetes.io/instance: {{ .root.Release.Name }}
      app.kubernetes.io/name: {{ .name }}
  template:
    metadata:
      labels:
        app.kubernetes.io/instance: {{ .root.Release.Name }}
        app.kubernetes.io/name: {{ .name }}
    spec:
      containers:
        - name: {{ .name }}
          image: "{{ $svc.image.repository }}:{{ $svc.image.tag }}"
          imagePullPolicy: {{ .root.Values.imagePullPolicy }}
          env:
            - name: LOG_LEVEL
              value: {{ $svc.logLevel | quote }}
          readinessProbe:
            exec:
              command: ["true"]
            periodSeconds: 1
{{- end }}
{{- end }}
"""


def _write_files(folder: Path, stem: str, total_kb: int, rng: random.Random, *, suffix: str) -> None:
    """About ``total_kb`` of text in up to 24 files: hex of random bytes, so layers do not shrink
    much when something compresses them."""
    folder.mkdir(parents=True, exist_ok=True)
    files = max(1, min(24, total_kb // 64))
    per_file = max(1, total_kb * 1024 // files)
    for i in range(files):
        body = rng.randbytes(per_file // 2).hex()
        (folder / f"{stem}_{i:02d}{suffix}").write_text(f"# {stem} {i}\n{body}\n")


# --- the edits -----------------------------------------------------------------------------------
def apply_merge(root: Path, merge: Merge) -> None:
    """Make the merge's edit in ``root`` and commit it (same edit in every workspace)."""
    note = f"merge {merge.index}"
    if merge.kind in ("code", "code2"):
        for svc in merge.services:
            _append(root / "services" / svc / "app" / f"{svc}_00.py", f"# {note}\n")
    elif merge.kind == "lib":
        _append(root / "libs" / "common" / "lib_00.py", f"# {note}\n")
    elif merge.kind == "schemas":
        _append(root / "services" / "catalog" / "schemas" / "schema_00.json", " \n")
    elif merge.kind == "deps":
        _append(
            root / "services" / merge.services[0] / "requirements.txt", f"newdep-{merge.index}==1.0.{merge.index}\n"
        )
    elif merge.kind == "docs":
        _append(root / "services" / merge.services[0] / "README.md", f"\n{note}\n")
    elif merge.kind == "tests":
        _append(root / "tests" / "test_00.py", f"# {note}\n")
    elif merge.kind == "chart":
        values = root / "values" / "ci.yaml"
        ci = yaml.safe_load(values.read_text())
        svc = merge.services[0]
        ci[svc]["logLevel"] = "debug" if ci[svc]["logLevel"] == "info" else "info"
        values.write_text(yaml.safe_dump(ci, sort_keys=False))
    else:
        msg = f"unknown merge kind {merge.kind!r}"
        raise ValueError(msg)
    commit_all(root, f"{note}: {merge.kind} {' '.join(merge.services)}".strip())


def _append(path: Path, text: str) -> None:
    with path.open("a", encoding="utf-8") as fh:
        fh.write(text)


def git(root: Path, *args: str) -> str:
    done = subprocess.run(["git", "-c", "user.name=bench", "-c", "user.email=bench@localhost", *args],
                          cwd=root, check=True, capture_output=True, text=True, timeout=120)  # fmt: skip
    return done.stdout


def commit_all(root: Path, message: str) -> None:
    git(root, "add", "-A")
    git(root, "commit", "-qm", message)


def summary(merges: Sequence[Merge]) -> dict[str, float]:
    rebuilt = [len(expected_rebuilt(m)) for m in merges]
    return {
        "merges": len(merges),
        "mean_rebuilt": sum(rebuilt) / max(len(merges), 1),
        "share_no_image": sum(1 for m in merges if not m.touches_images) / max(len(merges), 1),
    }


def remove_tree(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)
