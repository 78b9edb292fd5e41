"""Fixtures for the deploy tests: the stand-in helm on PATH with its own state, log and switches."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from envctl.adapters.helm import Helm
from envctl.adapters.process import SubprocessRunner
from envctl.progress import CollectingProgress

STANDIN = Path(__file__).resolve().parents[1] / "standins" / "helm"
DEMO_CHART = Path(__file__).resolve().parents[2] / "charts" / "demo"


@dataclass
class FakeHelm:
    """The stand-in's files, and what the tests read back from them."""

    bin_dir: Path
    log_path: Path
    state_path: Path
    kubeconfig: Path
    monkeypatch: pytest.MonkeyPatch

    def calls(self) -> list[dict[str, Any]]:
        """Every helm invocation so far: {"argv": [...], "stdin": str|None}."""
        if not self.log_path.exists():
            return []
        return [json.loads(line) for line in self.log_path.read_text().splitlines()]

    def argvs(self) -> list[list[str]]:
        return [call["argv"] for call in self.calls()]

    def clear_log(self) -> None:
        self.log_path.unlink(missing_ok=True)

    def state(self) -> dict[str, Any]:
        return json.loads(self.state_path.read_text()) if self.state_path.exists() else {"releases": {}}

    def switch(self, name: str, value: str | None) -> None:
        """Set or clear one of the stand-in's FAKE_HELM_* switches."""
        if value is None:
            self.monkeypatch.delenv(name, raising=False)
        else:
            self.monkeypatch.setenv(name, value)

    def helm(self, progress: CollectingProgress, *, attempts: int = 4) -> Helm:
        runner = SubprocessRunner(dict(os.environ))
        return Helm.open(
            runner, self.kubeconfig, timeout="300s", progress=progress, attempts=attempts, backoff=0.01
        )


@pytest.fixture
def fake_helm(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> FakeHelm:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "helm").symlink_to(STANDIN)  # it finds the test interpreter itself (ENVCTL_TEST_PYTHON)
    # pyhelm3 starts helm through a shell with this process's environment, so PATH and the
    # stand-in's switches are set on the environment (not on envctl's objects).
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("FAKE_HELM_LOG", str(tmp_path / "helm.log"))
    monkeypatch.setenv("FAKE_HELM_STATE", str(tmp_path / "helm-state.json"))
    for switch in (
        "FAKE_HELM_VERSION",
        "FAKE_HELM_UPGRADE_ERROR",
        "FAKE_HELM_TRANSIENT_FAILURES",
        "FAKE_HELM_LEAVE_PENDING",
        "FAKE_HELM_KUBE_URL",
    ):
        monkeypatch.delenv(switch, raising=False)
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text("apiVersion: v1\nkind: Config\n")  # helm is a stand-in: never connects
    return FakeHelm(bin_dir, tmp_path / "helm.log", tmp_path / "helm-state.json", kubeconfig, monkeypatch)
