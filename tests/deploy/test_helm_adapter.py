"""The helm adapter's own contract: error classes, a missing helm, and the stand-in's strictness."""

from __future__ import annotations

import base64
import gzip
import json
import os
import subprocess
from pathlib import Path

import pytest
from pyhelm3 import errors

from envctl.adapters.helm import Helm, classify, helm_reason, run_sync
from envctl.adapters.process import SubprocessRunner
from envctl.errors import ClusterError, DeployError, ToolFailedError, ToolMissingError
from envctl.phases.deploy import merge_values
from envctl.progress import CollectingProgress
from tests.deploy.conftest import DEMO_CHART, FakeHelm


@pytest.mark.parametrize(
    ("error_class", "stderr", "kind"),
    [
        pytest.param(
            errors.Error,
            "Error: UPGRADE FAILED: another operation (install/upgrade/rollback) is in progress",
            "transient",
            id="another-operation",
        ),
        pytest.param(
            errors.Error,
            'Error: Kubernetes cluster unreachable: Get "https://0.0.0.0:6550/version": '
            "dial tcp 0.0.0.0:6550: connect: connection refused",
            "transient",
            id="connection-refused",
        ),
        pytest.param(
            errors.Error,
            "Error: UPGRADE FAILED: read tcp 127.0.0.1:5->127.0.0.1:6: read: connection reset by peer",
            "transient",
            id="connection-reset",
        ),
        pytest.param(
            errors.Error,
            "Error: UPGRADE FAILED: the server is currently unable to handle the request "
            "(get deployments.apps demo-api)",
            "transient",
            id="api-503",
        ),
        pytest.param(
            errors.Error,
            'Error: an error on the server ("") has prevented the request from succeeding',
            "transient",
            id="api-500",
        ),
        pytest.param(errors.ConnectionError, "Error: etcdserver: request timed out", "transient", id="etcd"),
        pytest.param(errors.ReleaseNotFoundError, "Error: release: not found", "not-found", id="not-found"),
        pytest.param(
            errors.CommandCancelledError,
            "Error: UPGRADE FAILED: context canceled",
            "cancelled",
            id="cancelled",
        ),
        pytest.param(
            errors.FailedToRenderChartError,
            "Error: UPGRADE FAILED: execution error at (demo/templates/api.yaml:9:20): api.port is required",
            "genuine",
            id="render",
        ),
        pytest.param(
            errors.InvalidResourceError,
            'Error: UPGRADE FAILED: Deployment.apps "demo-api" is invalid: '
            "spec.template.spec.containers[0].image: Required value",
            "genuine",
            id="invalid",
        ),
        pytest.param(
            errors.Error, "Error: UPGRADE FAILED: context deadline exceeded", "genuine", id="timeout"
        ),
    ],
)
def test_classify(error_class: type[errors.Error], stderr: str, kind: str) -> None:
    assert classify(error_class(1, b"", stderr.encode())) == kind


def test_helm_reason_is_the_first_line_without_the_prefix() -> None:
    exc = errors.Error(1, b"", b"\nError: UPGRADE FAILED: boom\nmore detail\n")
    assert helm_reason(exc) == "UPGRADE FAILED: boom"


def test_missing_helm_is_tool_missing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text("{}")
    with pytest.raises(ToolMissingError) as caught:
        Helm.open(
            SubprocessRunner(dict(os.environ)), kubeconfig, timeout="300s", progress=CollectingProgress()
        )
    assert caught.value.message == "`helm` is not installed or not on PATH"
    assert caught.value.hint and "https://helm.sh/docs/intro/install/" in caught.value.hint


def test_missing_kubeconfig_is_a_cluster_error(fake_helm: FakeHelm, tmp_path: Path) -> None:
    with pytest.raises(ClusterError, match="no kubeconfig at"):
        Helm.open(
            SubprocessRunner(dict(os.environ)),
            tmp_path / "nope",
            timeout="300s",
            progress=CollectingProgress(),
        )
    assert fake_helm.argvs() == []


def test_uninstall_of_an_absent_release_returns_none(fake_helm: FakeHelm) -> None:
    helm = fake_helm.helm(CollectingProgress())
    assert run_sync(helm.uninstall("demo", "ci")) is None
    assert [argv[0] for argv in fake_helm.argvs()] == ["status"]  # no client needed: no `helm version`


def test_merge_replaces_lists_and_keeps_inputs_untouched() -> None:
    base = {"api": {"args": ["a", "b"], "env": {"A": "1"}}, "tolerations": [{"key": "x"}]}
    ci = {"api": {"args": ["c"], "env": {"B": "2"}}, "tolerations": []}
    merged = merge_values(base, ci)
    assert merged == {"api": {"args": ["c"], "env": {"A": "1", "B": "2"}}, "tolerations": []}
    merged["api"]["env"]["A"] = "changed"
    assert base["api"]["env"]["A"] == "1"


def standin(fake: FakeHelm, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: PLW1510 - callers assert the exit code
        [str(fake.bin_dir / "helm"), *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=30,
        env=dict(os.environ),
    )


@pytest.mark.parametrize(
    ("args", "error"),
    [
        pytest.param(
            ["upgrade", "demo", str(DEMO_CHART), "--values", "-", "--disable-validation"],
            "Error: unknown flag: --disable-validation",  # helm 4's name; helm 3 has --disable-openapi-validation
            id="unknown-flag",
        ),
        pytest.param(
            ["upgrade", "demo", str(DEMO_CHART), "--values", "-", "--timeout", "300"],
            'Error: invalid argument "300" for "--timeout" flag: time: missing unit in duration "300"',
            id="timeout-without-unit",
        ),
        pytest.param(
            ["diff", "upgrade", "demo"],
            'Error: unknown command "diff" for "helm"',
            id="unknown-command",
        ),
        pytest.param(
            ["status", "demo", "--output", "json"], "Error: release: not found", id="unknown-release"
        ),
    ],
)
def test_standin_rejects_what_helm_rejects(fake_helm: FakeHelm, args: list[str], error: str) -> None:
    done = standin(fake_helm, *args, stdin="{}")
    assert (done.returncode, done.stderr.strip()) == (1, error)


def test_standin_keeps_releases_in_the_test_api_as_helm_does(fake_helm: FakeHelm) -> None:
    from tests.support.kube_api import KubeApi
    from tests.support.node_kubelet import EveryImageKubelet

    values = {"api": {"image": {"repository": "envctl-demo/api", "tag": "t1"}}, "web": {"enabled": False}}
    upgrade = ["upgrade", "demo", str(DEMO_CHART), "--install", "--output", "json", "--values", "-", "--namespace", "ci"]
    with KubeApi() as api, EveryImageKubelet(api, "ci"):
        fake_helm.switch("FAKE_HELM_KUBE_URL", api.url)
        assert standin(fake_helm, *upgrade, stdin=json.dumps(values)).returncode == 0
        values["api"]["image"]["tag"] = "t2"
        assert standin(fake_helm, *upgrade, stdin=json.dumps(values)).returncode == 0
        secrets = {
            s["metadata"]["name"]: s for s in api._request("GET", "/api/v1/namespaces/ci/secrets")["items"]
        }
        assert {name: s["metadata"]["labels"]["status"] for name, s in secrets.items()} == {
            "sh.helm.release.v1.demo.v1": "superseded",
            "sh.helm.release.v1.demo.v2": "deployed",
        }
        stored = secrets["sh.helm.release.v1.demo.v2"]["data"]["release"]
        release = json.loads(gzip.decompress(base64.b64decode(base64.b64decode(stored))))
        assert (release["name"], release["version"], release["config"]) == ("demo", 2, values)
        assert "demo-api" in release["manifest"] and "demo-web" not in release["manifest"]
        assert standin(fake_helm, "uninstall", "demo", "--namespace", "ci").returncode == 0
        assert api._request("GET", "/api/v1/namespaces/ci/secrets")["items"] == []


def test_unreadable_helm_version_is_a_tool_failure(fake_helm: FakeHelm) -> None:
    fake_helm.switch("FAKE_HELM_VERSION", "v3.15.4\n")  # pyhelm3 cannot parse a trailing newline
    helm = fake_helm.helm(CollectingProgress())  # `helm version` runs when the version is first needed
    with pytest.raises(ToolFailedError, match="`helm version` printed an unreadable version"):
        _ = helm.version


def test_a_release_that_renders_nothing_is_read_without_a_manifest(fake_helm: FakeHelm) -> None:
    """Issue 15 point 8: helm omits ``manifest`` when it is empty (``json:"manifest,omitempty"``), and
    pyhelm3's models index it; the adapter reads helm's JSON itself (docs/tools-behaviour.md)."""
    helm = fake_helm.helm(CollectingProgress())
    off = {svc: {"enabled": False} for svc in ("api", "web", "worker", "migrate", "schemaCheck")}

    installed = run_sync(helm.install_or_upgrade("demo", DEMO_CHART, off, namespace="ci", description="empty"))
    current = run_sync(helm.current("demo", "ci"))
    recovered = run_sync(helm.recover("demo", "ci"))

    status = json.loads(standin(fake_helm, "status", "demo", "--namespace", "ci", "--output", "json").stdout)
    assert "manifest" not in status  # exactly what helm prints for it
    assert installed == current == recovered
    assert (installed.name, installed.revision, installed.status, installed.description) == (
        "demo", 1, "deployed", "empty",
    )  # fmt: skip


def test_a_release_left_pending_upgrade_is_rolled_back_through_helms_json(fake_helm: FakeHelm) -> None:
    helm = fake_helm.helm(CollectingProgress())
    values = {"api": {"image": {"repository": "envctl-demo/api", "tag": "t1"}}}
    run_sync(helm.install_or_upgrade("demo", DEMO_CHART, values, namespace="ci", description="one"))
    fake_helm.switch("FAKE_HELM_LEAVE_PENDING", "1")
    with pytest.raises(DeployError):
        run_sync(helm.install_or_upgrade("demo", DEMO_CHART, values, namespace="ci", description="two"))
    fake_helm.switch("FAKE_HELM_LEAVE_PENDING", None)
    fake_helm.clear_log()

    recovered = run_sync(helm.recover("demo", "ci"))

    assert recovered is not None
    assert (recovered.revision, recovered.status, recovered.description) == (3, "deployed", "Rollback to 1")
    assert [argv[:2] for argv in fake_helm.argvs()] == [["status", "demo"], ["rollback", "demo"], ["status", "demo"]]
    assert "--cleanup-on-fail" in fake_helm.argvs()[1] and "--wait" in fake_helm.argvs()[1]
