"""`envctl down` as a real process: uninstall outcomes, the absent cases, and the cluster guard."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import uuid
from pathlib import Path

import pytest

from envctl.config import ReleaseSpec
from envctl.errors import ExitCode
from envctl.image_check import Injection
from envctl.phases.deploy import ImagePolicy, deploy_release
from envctl.progress import CollectingProgress
from envctl.timing.spans import Recorder
from tests.deploy.conftest import DEMO_CHART, FakeHelm
from tests.support.cli import run_envctl

K3D_STANDIN = Path(__file__).resolve().parents[1] / "standins" / "k3d"


# A cluster name no other test session uses (they share the Docker engine the stand-in lists).
CLUSTER = f"envctl-test-down-{uuid.uuid4().hex[:6]}"


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    root = tmp_path / "ws"
    (root / ".envctl").mkdir(parents=True)
    # The chart lives inside the workspace: envctl refuses chart paths that leave it.
    shutil.copytree(DEMO_CHART, root / "charts" / "demo")
    (root / "envctl.yaml").write_text(
        f"version: 1\ncluster:\n  name: {CLUSTER}\n"
        "release:\n  name: demo\n  namespace: ci\n  chart: charts/demo\n  timeout: 120s\n"
    )
    return root


def envctl(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return run_envctl("--config", str(root / "envctl.yaml"), *args, cwd=root, env=dict(os.environ))


def install(fake: FakeHelm, kubeconfig: Path) -> None:
    progress = CollectingProgress()
    fake.kubeconfig = kubeconfig
    spec = ReleaseSpec(name="demo", namespace="ci", timeout="120s")
    api = Injection("api", "envctl-demo/api", "values", "api.image", "", required=True)
    deploy_release(
        spec,
        DEMO_CHART,
        [],
        {"api": "envctl-demo/api:aaa111"},
        policy=ImagePolicy({"api": api}),
        helm=fake.helm(progress),
        progress=progress,
        recorder=Recorder(),
    )


def test_down_uninstalls_then_reports_not_installed(fake_helm: FakeHelm, workspace: Path) -> None:
    kubeconfig = workspace / ".envctl" / "kubeconfig"
    kubeconfig.write_text("apiVersion: v1\nkind: Config\n")
    install(fake_helm, kubeconfig)
    fake_helm.clear_log()

    first = envctl(workspace, "down")

    assert first.returncode == 0, first.stderr
    assert first.stdout.strip() == "release demo: uninstalled rev 1 from namespace ci"
    assert fake_helm.argvs() == [
        ["status", "demo", "--output", "json", "--namespace", "ci", "--kubeconfig", str(kubeconfig)],
        ["version", "--template", "{{ .Version }}"],  # pyhelm3's client, first needed by the uninstall
        ["uninstall", "demo", "--timeout", "120s", "--namespace", "ci", "--kubeconfig", str(kubeconfig)],
    ]
    assert fake_helm.state()["releases"] == {}
    fake_helm.clear_log()

    second = envctl(workspace, "down")

    assert second.returncode == 0, second.stderr
    assert second.stdout.strip() == "release demo: not installed in namespace ci"
    assert "command failed" not in second.stderr  # pyhelm3's own log lines stay out of envctl's output
    assert "uninstall" not in [argv[0] for argv in fake_helm.argvs()]


def test_down_without_a_cluster_kubeconfig_says_so(fake_helm: FakeHelm, workspace: Path) -> None:
    done = envctl(workspace, "down")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == (
        f"release demo: not installed (no kubeconfig at {workspace.resolve() / '.envctl' / 'kubeconfig'}: "
        "this workspace has not started a cluster)"
    )
    assert fake_helm.argvs() == []


def test_delete_cluster_needs_confirmation(fake_helm: FakeHelm, workspace: Path) -> None:
    done = envctl(workspace, "down", "--delete-cluster")
    assert done.returncode == ExitCode.BAD_INPUT
    assert f"refusing to delete cluster {CLUSTER} without confirmation" in done.stderr
    assert "hint: pass --yes" in done.stderr
    assert fake_helm.argvs() == []


@pytest.mark.docker
def test_delete_cluster_when_there_is_none(
    fake_helm: FakeHelm, workspace: Path, docker_engine: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (fake_helm.bin_dir / "k3d").symlink_to(K3D_STANDIN)
    monkeypatch.setenv("K3D_STANDIN_LOG", str(tmp_path / "k3d.log"))
    monkeypatch.setenv("K3D_STANDIN_DOCKER", docker_engine)

    done = envctl(workspace, "down", "--delete-cluster", "--yes")

    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [
        f"release demo: nothing to uninstall (cluster {CLUSTER} does not exist)",
        f"cluster {CLUSTER}: does not exist",
    ]
    assert (tmp_path / "k3d.log").read_text().splitlines() == [
        '{"argv": ["k3d", "cluster", "list", "-o", "json"]}'
    ]
    assert fake_helm.argvs() == []


@pytest.mark.docker
def test_down_delete_cluster_uninstalls_then_deletes(
    fake_helm: FakeHelm, workspace: Path, docker_engine: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    name = f"envctl-test-{uuid.uuid4().hex[:6]}"
    config = workspace / "envctl.yaml"
    config.write_text(config.read_text().replace(CLUSTER, name))
    (fake_helm.bin_dir / "k3d").symlink_to(K3D_STANDIN)
    monkeypatch.setenv("K3D_STANDIN_DOCKER", docker_engine)
    monkeypatch.delenv("K3D_STANDIN_API", raising=False)
    try:
        made = subprocess.run(  # noqa: PLW1510 - asserted below
            [str(K3D_STANDIN), "cluster", "create", name],
            capture_output=True,
            text=True,
            timeout=120,
            env=dict(os.environ),
        )
        assert made.returncode == 0, made.stderr
        kubeconfig = workspace / ".envctl" / "kubeconfig"
        kubeconfig.write_text("apiVersion: v1\nkind: Config\n")
        install(fake_helm, kubeconfig)
        fake_helm.clear_log()
        monkeypatch.setenv("K3D_STANDIN_LOG", str(tmp_path / "k3d.log"))

        done = envctl(workspace, "down", "--delete-cluster", "--yes")

        assert done.returncode == 0, done.stderr
        assert done.stdout.splitlines() == [
            "release demo: uninstalled rev 1 from namespace ci",
            f"cluster {name}: deleted",
        ]
        assert fake_helm.argvs()[-1] == [
            "uninstall",
            "demo",
            "--timeout",
            "120s",
            "--namespace",
            "ci",
            "--kubeconfig",
            str(kubeconfig),
        ]
        assert [json.loads(line)["argv"] for line in (tmp_path / "k3d.log").read_text().splitlines()] == [
            ["k3d", "cluster", "list", "-o", "json"],
            ["k3d", "cluster", "delete", name],
        ]
        assert not kubeconfig.exists()
        left = subprocess.run(
            [docker_engine, "ps", "-aq", "--filter", f"label=k3d.cluster={name}"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.split()
        assert left == []
    finally:
        ids = subprocess.run(  # noqa: PLW1510 - clean-up: best effort
            [docker_engine, "ps", "-aq", "--filter", f"label=k3d.cluster={name}"],
            capture_output=True,
            text=True,
        ).stdout.split()
        if ids:
            subprocess.run([docker_engine, "rm", "-f", "-v", *ids], capture_output=True, check=False)
