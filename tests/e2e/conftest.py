"""The real-cluster suite: real k3d, helm, kubectl and Docker (see README, "End-to-end tests").

Run it with ``make test-e2e`` where those tools exist. Everywhere else (this project's CI has no
k3d/helm) every test here is collected and skipped with the reason naming what is missing:
pytest-kubernetes itself would raise "Executable not found" instead of skipping
(docs/tools-behaviour.md, "Test tools"), so its factory is only called after the check below.

The cluster is envctl's own (``envctl up`` creates it from a copy of the demo workspace whose
cluster name is unique to the run). pytest-kubernetes supplies kubectl against envctl's workspace
kubeconfig and deletes the cluster afterwards, whatever happened.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
# What a copy of the demo workspace needs (the config, the services, the chart, the values).
WORKSPACE_PARTS = ("envctl.yaml", "examples", "charts", "values")
TOOLS = ("k3d", "helm", "kubectl", "docker")


def missing_tools() -> list[str]:
    missing = [tool for tool in TOOLS if shutil.which(tool) is None]
    if "docker" not in missing:
        answered = subprocess.run(["docker", "info"], capture_output=True, check=False, timeout=30).returncode == 0
        if not answered:
            missing.append("a running Docker daemon")
    return missing


@dataclass
class DemoWorkspace:
    root: Path
    config: Path
    cluster: str
    namespace: str
    kube: Any  # pytest_kubernetes AClusterManager bound to envctl's workspace kubeconfig

    def envctl(self, *args: str, timeout: float = 900) -> subprocess.CompletedProcess[str]:
        """`envctl --config <copy>/envctl.yaml ARGS` as a user runs it."""
        return subprocess.run(
            [sys.executable, "-m", "envctl", "--config", str(self.config), *args],
            cwd=self.root, capture_output=True, check=False, text=True, timeout=timeout,
        )  # fmt: skip

    def git(self, *args: str) -> None:
        subprocess.run(["git", *args], cwd=self.root, check=True, capture_output=True)


@pytest.fixture(scope="module")
def demo_workspace(tmp_path_factory: pytest.TempPathFactory, k8s_manager: Any) -> Iterator[DemoWorkspace]:
    missing = missing_tools()
    if missing:
        pytest.skip(f"e2e needs real k3d, helm, kubectl and Docker; missing: {', '.join(missing)} "
                    "(install with scripts/install-tools.sh, then `make test-e2e`)")  # fmt: skip
    root = tmp_path_factory.mktemp("demo")
    for part in WORKSPACE_PARTS:
        source = REPO / part
        if source.is_dir():
            shutil.copytree(source, root / part)
        else:
            shutil.copy2(source, root / part)
    # pytest-kubernetes prefixes names with "pytest-"; use that name so its delete() removes ours.
    cluster = f"pytest-envctl-{uuid.uuid4().hex[:6]}"
    config = yaml.safe_load((root / "envctl.yaml").read_text())
    config.setdefault("cluster", {})["name"] = cluster
    (root / "envctl.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    namespace = config.get("release", {}).get("namespace", "default")
    subprocess.run(["git", "init", "-q"], cwd=root, check=True)
    for args in (["add", "-A"], ["-c", "user.name=e2e", "-c", "user.email=e2e@localhost", "commit", "-qm", "demo"]):
        subprocess.run(["git", *args], cwd=root, check=True, capture_output=True)

    kube = k8s_manager("k3d")(cluster, None, root / ".envctl" / "kubeconfig")
    try:
        yield DemoWorkspace(root=root, config=root / "envctl.yaml", cluster=cluster, namespace=namespace, kube=kube)
    finally:
        kube.delete()  # `k3d cluster delete pytest-envctl-…`; also removes the workspace kubeconfig
