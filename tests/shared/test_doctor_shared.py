"""`envctl doctor` with provider existing: the context, the registry and the RBAC verbs (SSAR)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from tests.support.kube_api import KubeApi
from tests.support.registry import start_registry, stop_registry

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def registry(tmp_path: Path) -> Iterator[str]:
    handle = start_registry(tmp_path / "registry")
    try:
        yield handle.address
    finally:
        stop_registry(handle)


def doctor(tmp_path: Path, api: KubeApi, registry: str) -> dict[str, dict]:
    shutil.copytree(ROOT / "charts" / "demo", tmp_path / "ws" / "charts" / "demo")
    kubeconfig = api.write_kubeconfig(tmp_path / "kubeconfig")
    config = {"version": 1, "cluster": {"provider": "existing", "kubeconfig": str(kubeconfig), "context": "kmock",
              "registry": {"use": registry, "create": False}}, "release": {"namespace": "pr-{pr}"}}  # fmt: skip
    (tmp_path / "ws" / "envctl.yaml").write_text(yaml.safe_dump(config))
    env = {**os.environ, "GITHUB_REF": "refs/pull/42/merge"}
    done = subprocess.run([sys.executable, "-m", "envctl", "doctor", "--output", "json"], cwd=tmp_path / "ws",
                          env=env, capture_output=True, text=True, timeout=120, check=False)  # fmt: skip
    return {check["name"]: check for check in json.loads(done.stdout)["checks"]}


def test_everything_answers_and_every_verb_is_allowed(tmp_path: Path, shared_api: KubeApi, registry: str):
    checks = doctor(tmp_path, shared_api, registry)
    assert checks["cluster"]["status"] == "ok" and "(context kmock) answers (v1.31.5+k3s1)" in checks["cluster"]["detail"]
    assert checks["registry"]["status"] == "ok"
    assert checks["access"]["status"] == "ok" and "allowed in pr-42" in checks["access"]["detail"]
    assert checks["k3d"]["required"] is False  # a shared cluster is never created: k3d is optional


def test_a_missing_verb_and_a_silent_registry_are_named(tmp_path: Path, shared_api: KubeApi):
    shared_api.emulator.denied = {("delete", "namespaces"), ("patch", "leases")}
    checks = doctor(tmp_path, shared_api, "127.0.0.1:9")
    assert checks["registry"]["status"] == "fail" and "127.0.0.1:9 does not answer" in checks["registry"]["detail"]
    access = checks["access"]
    assert access["status"] == "fail" and access["required"] is True
    assert "may not: delete namespaces, patch leases.coordination.k8s.io (namespace pr-42)" in access["detail"]
    assert "envctl rbac" in access["fix"]
