"""The demo chart's structure (helm is absent here, so templates are scanned rather than rendered)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from envctl.config import load_config
from tests.deploy.conftest import DEMO_CHART

ROOT = DEMO_CHART.parents[1]
VALUES_REF = re.compile(r"\.Values((?:\.[A-Za-z_][A-Za-z0-9_]*)+)")
SERVICES = {"api": "Deployment", "web": "Deployment", "worker": "Deployment", "migrate": "Job"}


def _has(values: dict[str, Any], dotted: str) -> bool:
    node: Any = values
    for part in dotted.strip(".").split("."):
        if not isinstance(node, dict) or part not in node:
            return False
        node = node[part]
    return True


def test_chart_metadata() -> None:
    chart = yaml.safe_load((DEMO_CHART / "Chart.yaml").read_text())
    assert (chart["apiVersion"], chart["name"], chart["version"]) == ("v2", "demo", "0.1.0")


def test_every_template_value_exists_in_values_yaml() -> None:
    values = yaml.safe_load((DEMO_CHART / "values.yaml").read_text())
    refs = {
        ref for tpl in (DEMO_CHART / "templates").iterdir() for ref in VALUES_REF.findall(tpl.read_text())
    }
    assert refs, "the scan found no .Values references at all"
    assert sorted(ref for ref in refs if not _has(values, ref)) == []
    for svc in SERVICES:
        assert {f".{svc}.enabled", f".{svc}.image.repository", f".{svc}.image.tag"} <= refs
        assert values[svc]["image"].keys() == {"repository", "tag"}
    assert values["imagePullPolicy"] == "IfNotPresent"


def test_every_workload_is_labelled_and_probed() -> None:
    for svc, kind in SERVICES.items():
        text = (DEMO_CHART / "templates" / f"{svc}.yaml").read_text()
        assert f"kind: {kind}" in text
        assert (
            text.count(f'include "demo.labels" (dict "root" $ "name" "{svc}")') == 2
        )  # object and pod template
        assert "imagePullPolicy: {{ .Values.imagePullPolicy }}" in text
        if kind == "Deployment":
            assert "readinessProbe:" in text and "periodSeconds: 1" in text
    helpers = (DEMO_CHART / "templates" / "_helpers.tpl").read_text()
    for label in (
        "app.kubernetes.io/instance: {{ .root.Release.Name }}",
        "app.kubernetes.io/name: {{ .name }}",
        "app.kubernetes.io/managed-by: {{ .root.Release.Service }}",
    ):
        assert label in helpers


def test_workspace_values_files_fit_the_chart() -> None:
    """values/ci.yaml and values/local.yaml (the plan's demo workspace) set only keys the chart reads."""
    chart_values = yaml.safe_load((DEMO_CHART / "values.yaml").read_text())
    config = load_config(ROOT / "envctl.yaml")
    for name in ("values/ci.yaml", "values/local.yaml"):
        data = yaml.safe_load((ROOT / name).read_text()) or {}
        for svc, settings in data.items():
            for key in settings:
                assert _has(chart_values, f"{svc}.{key}"), (
                    f"{name}: {svc}.{key} is not in charts/demo/values.yaml"
                )
    for name, service in config.services.items():
        if service.values_path:
            assert _has(chart_values, service.values_path), (
                f"service {name}: {service.values_path} not in the chart"
            )
    assert Path(config.release.chart) == Path("charts/demo")
