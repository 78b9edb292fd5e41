"""Charts of the shapes real workspaces have, written into a test's folder.

* ``write_shop_chart``: the microservices reference app's shape - one global ``images.repository``
  and ``images.tag``, every service rendering
  ``{{ .Values.images.repository }}/{{ .Values.<svc>.name }}:{{ .Values.images.tag }}``, so no
  ``values_path`` can give one service its own tag (``inject: rewrite``).
* ``write_seed_chart``: the seed monorepo's shape - a top-level ``image: {repository, tag}`` for the
  main service, one camelCase block per other service (``celeryWorker.image``), a third-party
  image given as one string, and an init container.
"""

from __future__ import annotations

from pathlib import Path

import yaml

__all__ = ["SHOP_SERVICES", "render", "write_seed_chart", "write_shop_chart"]

SHOP_SERVICES = {"adService": "adservice", "cartService": "cartservice", "frontend": "frontend"}

_SHOP_DEPLOYMENT = """\
{{- range $key, $svc := .Values.services }}
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ index $.Values $key "name" }}
  labels:
    app.kubernetes.io/instance: {{ $.Release.Name }}
    app.kubernetes.io/name: {{ index $.Values $key "name" }}
spec:
  selector:
    matchLabels:
      app.kubernetes.io/name: {{ index $.Values $key "name" }}
  template:
    metadata:
      labels:
        app.kubernetes.io/instance: {{ $.Release.Name }}
        app.kubernetes.io/name: {{ index $.Values $key "name" }}
    spec:
      containers:
        - name: server
          image: {{ $.Values.images.repository }}/{{ index $.Values $key "name" }}:{{ $.Values.images.tag }}
          imagePullPolicy: IfNotPresent
{{- end }}
"""

_SHOP_REDIS = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: redis-cart
  labels:
    app.kubernetes.io/instance: {{ .Release.Name }}
    app.kubernetes.io/name: redis-cart
spec:
  selector:
    matchLabels:
      app.kubernetes.io/name: redis-cart
  template:
    metadata:
      labels:
        app.kubernetes.io/instance: {{ .Release.Name }}
        app.kubernetes.io/name: redis-cart
    spec:
      containers:
        - name: redis
          image: {{ .Values.cartDatabase.image }}
"""


def _chart(root: Path, name: str, values: dict[str, object], templates: dict[str, str]) -> Path:
    chart = root / name
    (chart / "templates").mkdir(parents=True)
    (chart / "Chart.yaml").write_text(f"apiVersion: v2\nname: {name}\nversion: 0.1.0\n")
    (chart / "values.yaml").write_text(yaml.safe_dump(values, sort_keys=False))
    for file, text in templates.items():
        (chart / "templates" / file).write_text(text)
    return chart


def write_shop_chart(root: Path, *, redis: str = "redis:7-alpine") -> Path:
    """The microservices reference app's shape (a Deployment per service, one shared repository and tag)."""
    values: dict[str, object] = {
        "images": {"repository": "us-docker.pkg.dev/google-samples/microservices-demo", "tag": "v0.10.0"},
        "services": dict.fromkeys(SHOP_SERVICES, True),
        **{key: {"name": name} for key, name in SHOP_SERVICES.items()},
        "cartDatabase": {"image": redis},
    }
    return _chart(root, "shop", values, {"services.yaml": _SHOP_DEPLOYMENT, "redis.yaml": _SHOP_REDIS})


_SEED_WORKLOAD = """\
{{- define "seed.workload" }}
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ .root.Release.Name }}-{{ .name }}
  labels:
    app.kubernetes.io/instance: {{ .root.Release.Name }}
    app.kubernetes.io/name: {{ .name }}
spec:
  selector:
    matchLabels:
      app.kubernetes.io/name: {{ .name }}
  template:
    metadata:
      labels:
        app.kubernetes.io/instance: {{ .root.Release.Name }}
        app.kubernetes.io/name: {{ .name }}
    spec:
      {{- if .init }}
      initContainers:
        - name: wait-for-redis
          image: {{ .root.Values.redis.image }}
      {{- end }}
      containers:
        - name: {{ .name }}
          image: "{{ .image.repository }}:{{ .image.tag }}"
{{- end }}
"""


def write_seed_chart(root: Path) -> Path:
    """The seed monorepo's chart: ``image`` (orchestrator), ``celeryWorker.image``, ``personaRuntime.image``,
    ``adminPanel.image``, and a third-party ``redis.image`` string used by an init container."""
    values: dict[str, object] = {
        "image": {"repository": "registry.example.com/seed/orchestrator", "tag": "latest", "pullPolicy": "IfNotPresent"},
        "celeryWorker": {"replicas": 2, "image": {"repository": "registry.example.com/seed/celery-worker", "tag": "latest"}},
        "personaRuntime": {"image": {"repository": "registry.example.com/seed/persona-runtime", "tag": "latest"}},
        "adminPanel": {"image": {"repository": "registry.example.com/seed/admin", "tag": "latest"}},
        "redis": {"image": "redis:7-alpine"},
    }
    templates = {
        "_helpers.tpl": _SEED_WORKLOAD,
        "orchestrator.yaml": '{{- include "seed.workload" (dict "root" $ "name" "orchestrator" "image" .Values.image "init" true) }}\n',
        "celery.yaml": '{{- include "seed.workload" (dict "root" $ "name" "celery-worker" "image" .Values.celeryWorker.image "init" false) }}\n',
        "persona.yaml": '{{- include "seed.workload" (dict "root" $ "name" "persona-runtime" "image" .Values.personaRuntime.image "init" false) }}\n',
        "admin.yaml": '{{- include "seed.workload" (dict "root" $ "name" "admin-panel" "image" .Values.adminPanel.image "init" false) }}\n',
    }
    return _chart(root, "seed", values, templates)


def render(chart: Path, values: dict[str, object], *, name: str = "rel", namespace: str = "ns") -> str:
    """The chart rendered by Helm's own engine, as one stream the way `helm template` prints it."""
    import helm_python

    with helm_python.Chart.load(str(chart)) as loaded:
        files = loaded.render(values, name=name, namespace=namespace)
    return "".join(f"---\n# Source: {path}\n{text.strip(chr(10))}\n" for path, text in sorted(files.items()) if text.strip())
