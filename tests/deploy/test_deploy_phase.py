"""The deploy phase against the stand-in helm: exact command lines, values on stdin, skip, recovery, retries."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from envctl.config import ReleaseSpec
from envctl.errors import ConfigError, DeployError
from envctl.image_check import Injection
from envctl.phases.deploy import HASH_PREFIX, DeployResult, ImagePolicy, compute_input_hash, deploy_release, make_values
from envctl.progress import CollectingProgress
from envctl.timing.spans import Recorder
from tests.deploy.conftest import DEMO_CHART, FakeHelm

SPEC = ReleaseSpec(name="demo", namespace="ci", set={"worker.interval": 1}, timeout="300s")
# The demo chart's services, each injected at <svc>.image (envctl.yaml's values_path).
POLICY = ImagePolicy(
    {s: Injection(s, f"envctl-demo/{s}", "values", f"{s}.image", "", required=True) for s in ("api", "worker", "web", "migrate")}
)


@pytest.fixture
def workspace(tmp_path: Path) -> dict[str, Any]:
    chart = tmp_path / "charts" / "demo"
    shutil.copytree(DEMO_CHART, chart)
    base = tmp_path / "base.yaml"
    base.write_text("api:\n  args: [--verbose, --port=1]\n  replicas: 1\nweb:\n  enabled: true\n")
    ci = tmp_path / "ci.yaml"
    ci.write_text("api:\n  args: [--quiet]\nweb:\n  enabled: false\n")
    return {"chart": chart, "values": [base, ci]}


def deploy(
    fake: FakeHelm, ws: dict[str, Any], refs: dict[str, str], **kw: Any
) -> tuple[DeployResult, CollectingProgress, Recorder]:
    progress, recorder = CollectingProgress(), Recorder()
    result = deploy_release(
        SPEC,
        ws["chart"],
        ws["values"],
        refs,
        policy=POLICY,
        helm=fake.helm(progress, **kw),
        progress=progress,
        recorder=recorder,
    )
    return result, progress, recorder


def template_argv(chart: Path, kubeconfig: Path) -> list[str]:
    """The pre-deploy render: the same values on stdin, no cluster touched."""
    return ["template", "demo", str(chart), "--namespace", "ci", "--values", "-", "--kubeconfig", str(kubeconfig)]


def upgrade_argv(chart: Path, kubeconfig: Path, input_hash: str) -> list[str]:
    return [
        "upgrade",
        "demo",
        str(chart),
        "--history-max",
        "10",
        "--install",
        "--output",
        "json",
        "--timeout",
        "300s",
        "--values",
        "-",
        "--create-namespace",
        "--description",
        f"{HASH_PREFIX}{input_hash}",
        "--namespace",
        "ci",
        "--version",
        "0.1.0",
        "--kubeconfig",
        str(kubeconfig),
    ]


def test_first_deploy_installs_with_exact_argv_and_merged_values(
    fake_helm: FakeHelm, workspace: dict
) -> None:
    refs = {"api": "envctl-demo/api:aaa111", "worker": "envctl-demo/worker:bbb222"}
    result, progress, recorder = deploy(fake_helm, workspace, refs)

    kc, chart = str(fake_helm.kubeconfig), str(workspace["chart"])
    assert fake_helm.argvs() == [
        template_argv(workspace["chart"], fake_helm.kubeconfig),
        ["status", "demo", "--output", "json", "--namespace", "ci", "--kubeconfig", kc],
        ["version", "--template", "{{ .Version }}"],
        ["show", "chart", chart, "--kubeconfig", kc],
        upgrade_argv(workspace["chart"], fake_helm.kubeconfig, result.input_hash),
    ]
    assert fake_helm.calls()[0]["stdin"] == fake_helm.calls()[-1]["stdin"]  # rendered with what is sent
    # One merged dict on stdin: the CI list *replaces* the base list (pyhelm3 would concatenate),
    # `set` applies after the files, the image refs last.
    assert json.loads(fake_helm.calls()[-1]["stdin"]) == {
        "api": {
            "args": ["--quiet"],
            "replicas": 1,
            "image": {"repository": "envctl-demo/api", "tag": "aaa111"},
        },
        "web": {"enabled": False},
        "worker": {"interval": 1, "image": {"repository": "envctl-demo/worker", "tag": "bbb222"}},
    }
    assert (result.release, result.namespace, result.revision, result.action) == (
        "demo",
        "ci",
        1,
        "installed",
    )
    assert result.reason == "release not installed"
    assert ("demo", "installing: release not installed") in progress.steps
    # The chart's default migrate image is neither built nor listed under images: a warning.
    [warning] = [message for _, message in progress.steps if message.startswith("warning:")]
    assert warning.startswith("warning: image envctl-demo/migrate:dev (Job demo-migrate")
    assert warning.endswith("is neither built by envctl nor listed under images:")
    assert [(i.service, i.ref) for i in result.images] == [("api", "envctl-demo/api:aaa111"), ("worker", "envctl-demo/worker:bbb222")]
    span, render_span = recorder.spans()
    assert (render_span.name, render_span.outcome, render_span.attrs["rewrite_rules"]) == ("render demo", "ok", 0)
    assert (span.kind, span.outcome, span.attrs["action"], span.attrs["revision"]) == (
        "deploy",
        "ok",
        "installed",
        1,
    )
    assert fake_helm.state()["releases"]["ci/demo"][0]["description"] == HASH_PREFIX + result.input_hash


def test_identical_second_deploy_is_skipped_without_upgrade(fake_helm: FakeHelm, workspace: dict) -> None:
    refs = {"api": "envctl-demo/api:aaa111"}
    first, _, _ = deploy(fake_helm, workspace, refs)
    fake_helm.clear_log()

    second, progress, recorder = deploy(fake_helm, workspace, refs)

    assert fake_helm.argvs() == [
        template_argv(workspace["chart"], fake_helm.kubeconfig),
        [
            "status",
            "demo",
            "--output",
            "json",
            "--namespace",
            "ci",
            "--kubeconfig",
            str(fake_helm.kubeconfig),
        ],
    ]
    assert (second.action, second.revision, second.input_hash) == ("skipped", 1, first.input_hash)
    expected = f"release demo rev 1 already has these inputs (hash {first.input_hash[:12]})"
    assert second.reason == expected
    assert [step for step in progress.steps if "warning" not in step[1]] == [("demo", f"skipped: {expected}")]
    span, _ = recorder.spans()
    assert (span.outcome, span.attrs["reason"]) == ("skipped", expected)


def test_changed_tag_upgrades_with_exactly_the_new_tag(fake_helm: FakeHelm, workspace: dict) -> None:
    first, _, _ = deploy(fake_helm, workspace, {"api": "envctl-demo/api:aaa111"})
    before = json.loads(fake_helm.calls()[-1]["stdin"])
    fake_helm.clear_log()

    result, progress, _ = deploy(fake_helm, workspace, {"api": "envctl-demo/api:ccc333"})

    kc = str(fake_helm.kubeconfig)
    assert fake_helm.argvs() == [
        template_argv(workspace["chart"], fake_helm.kubeconfig),
        ["status", "demo", "--output", "json", "--namespace", "ci", "--kubeconfig", kc],
        [
            "get",
            "values",
            "demo",
            "--output",
            "json",
            "--revision",
            "1",
            "--namespace",
            "ci",
            "--kubeconfig",
            kc,
        ],
        ["version", "--template", "{{ .Version }}"],
        ["show", "chart", str(workspace["chart"]), "--kubeconfig", kc],
        upgrade_argv(workspace["chart"], fake_helm.kubeconfig, result.input_hash),
    ]
    after = json.loads(fake_helm.calls()[-1]["stdin"])
    before["api"]["image"]["tag"] = "ccc333"
    assert after == before  # the tag and nothing else
    assert (result.action, result.revision) == ("upgraded", 2)
    assert (
        result.reason
        == f"api.image tag aaa111 -> ccc333 (hash {first.input_hash[:12]} -> {result.input_hash[:12]})"
    )
    assert progress.steps[-1][0] == "demo" and progress.steps[-1][1].startswith("upgraded rev 2 in ")


def test_chart_change_changes_the_hash_and_upgrades(fake_helm: FakeHelm, workspace: dict) -> None:
    refs = {"api": "envctl-demo/api:aaa111"}
    first, _, _ = deploy(fake_helm, workspace, refs)
    (workspace["chart"] / "templates" / "web.yaml").write_text("# edited\n")

    result, _, _ = deploy(fake_helm, workspace, refs)

    assert (result.action, result.revision) == ("upgraded", 2)
    assert result.reason == (
        f"chart, values or rewritten images changed (hash {first.input_hash[:12]} -> {result.input_hash[:12]})"
    )
    # Files .helmignore leaves out of the chart do not count.
    values_refs = {"api.image": ("envctl-demo/api", "aaa111")}
    before = compute_input_hash(workspace["chart"], {}, values_refs)
    (workspace["chart"] / "notes.swp").write_text("editor swap file: ignored by .helmignore")
    assert compute_input_hash(workspace["chart"], {}, values_refs) == before
    assert deploy(fake_helm, workspace, refs)[0].action == "skipped"
    (workspace["chart"] / "templates" / "notes.txt").write_text("a new template file")
    assert compute_input_hash(workspace["chart"], {}, values_refs) != before
    # The rendered manifests are part of the hash: the same inputs, another render, another hash.
    assert compute_input_hash(workspace["chart"], {}, values_refs, manifest="kind: A") != compute_input_hash(
        workspace["chart"], {}, values_refs, manifest="kind: B"
    )


def test_pending_install_is_uninstalled_then_installed(fake_helm: FakeHelm, workspace: dict) -> None:
    refs = {"api": "envctl-demo/api:aaa111"}
    fake_helm.switch("FAKE_HELM_LEAVE_PENDING", "1")
    with pytest.raises(
        DeployError, match="helm upgrade of release demo was interrupted: UPGRADE FAILED: context canceled"
    ):
        deploy(fake_helm, workspace, refs)
    assert fake_helm.state()["releases"]["ci/demo"][-1]["status"] == "pending-install"
    fake_helm.switch("FAKE_HELM_LEAVE_PENDING", None)
    fake_helm.clear_log()

    result, progress, recorder = deploy(fake_helm, workspace, refs)

    kc = str(fake_helm.kubeconfig)
    assert fake_helm.argvs() == [
        template_argv(workspace["chart"], fake_helm.kubeconfig),
        ["status", "demo", "--output", "json", "--namespace", "ci", "--kubeconfig", kc],
        ["status", "demo", "--output", "json", "--namespace", "ci", "--kubeconfig", kc],
        ["uninstall", "demo", "--timeout", "300s", "--namespace", "ci", "--wait", "--kubeconfig", kc],
        ["version", "--template", "{{ .Version }}"],
        ["show", "chart", str(workspace["chart"]), "--kubeconfig", kc],
        upgrade_argv(workspace["chart"], fake_helm.kubeconfig, result.input_hash),
    ]
    assert (result.action, result.revision) == ("installed", 1)
    assert ("demo", "release left pending-install at rev 1; recovering first") in progress.steps
    assert [s.name for s in recorder.spans()] == ["deploy demo", "render demo", "recover demo"]


def test_pending_upgrade_is_rolled_back_before_the_upgrade(fake_helm: FakeHelm, workspace: dict) -> None:
    deploy(fake_helm, workspace, {"api": "envctl-demo/api:aaa111"})
    fake_helm.switch("FAKE_HELM_LEAVE_PENDING", "1")
    with pytest.raises(DeployError, match="interrupted"):
        deploy(fake_helm, workspace, {"api": "envctl-demo/api:ddd444"})
    assert [r["status"] for r in fake_helm.state()["releases"]["ci/demo"]] == ["deployed", "pending-upgrade"]
    fake_helm.switch("FAKE_HELM_LEAVE_PENDING", None)
    fake_helm.clear_log()

    result, _, _ = deploy(fake_helm, workspace, {"api": "envctl-demo/api:ddd444"})

    kc = str(fake_helm.kubeconfig)
    assert fake_helm.argvs()[2:5] == [
        ["status", "demo", "--output", "json", "--namespace", "ci", "--kubeconfig", kc],
        [
            "rollback",
            "demo",
            "--history-max",
            "10",
            "--timeout",
            "300s",
            "--cleanup-on-fail",
            "--namespace",
            "ci",
            "--wait",
            "--wait-for-jobs",
            "--kubeconfig",
            kc,
        ],
        ["status", "demo", "--output", "json", "--namespace", "ci", "--kubeconfig", kc],
    ]
    assert fake_helm.argvs()[-1][0] == "upgrade"
    assert (result.action, result.revision) == ("upgraded", 4)  # 3 is the rollback to 1
    assert [r["status"] for r in fake_helm.state()["releases"]["ci/demo"]] == [
        "superseded",
        "superseded",
        "superseded",
        "deployed",
    ]


def test_transient_failures_are_retried_and_reported(fake_helm: FakeHelm, workspace: dict) -> None:
    fake_helm.switch("FAKE_HELM_TRANSIENT_FAILURES", "2")

    result, progress, _ = deploy(fake_helm, workspace, {"api": "envctl-demo/api:aaa111"})

    assert [argv[0] for argv in fake_helm.argvs()].count("upgrade") == 3
    assert (result.action, result.revision) == ("installed", 1)
    retries = [msg for _, msg in progress.steps if "attempt" in msg]
    assert [msg.split(" retrying")[0] for msg in retries] == [
        (
            "helm upgrade attempt 1/4 failed (UPGRADE FAILED: another operation (install/upgrade/rollback) "
            "is in progress);"
        ),
        (
            "helm upgrade attempt 2/4 failed (UPGRADE FAILED: another operation (install/upgrade/rollback) "
            "is in progress);"
        ),
    ]


def test_transient_failures_stop_after_the_bound(fake_helm: FakeHelm, workspace: dict) -> None:
    fake_helm.switch("FAKE_HELM_TRANSIENT_FAILURES", "9")
    with pytest.raises(
        DeployError,
        match="helm upgrade of release demo still failing after 2 attempts: "
        r"UPGRADE FAILED: another operation \(install/upgrade/rollback\)",
    ):
        deploy(fake_helm, workspace, {"api": "envctl-demo/api:aaa111"}, attempts=2)
    assert [argv[0] for argv in fake_helm.argvs()].count("upgrade") == 2


def test_chart_error_is_not_retried(fake_helm: FakeHelm, workspace: dict) -> None:
    message = "execution error at (demo/templates/api.yaml:9:20): api.port is required"
    fake_helm.switch("FAKE_HELM_UPGRADE_ERROR", message)
    progress = CollectingProgress()
    with pytest.raises(DeployError) as caught:
        deploy_release(
            SPEC,
            workspace["chart"],
            workspace["values"],
            {},
            policy=POLICY,
            helm=fake_helm.helm(progress),
            progress=progress,
            recorder=Recorder(),
        )
    assert caught.value.message == f"helm upgrade of release demo failed: UPGRADE FAILED: {message}"
    assert caught.value.hint and "fix the chart or values" in caught.value.hint
    assert [argv[0] for argv in fake_helm.argvs()].count("upgrade") == 1
    assert not [msg for _, msg in progress.steps if "attempt" in msg]


def test_helm_4_gets_the_same_command_line(fake_helm: FakeHelm, workspace: dict) -> None:
    fake_helm.switch("FAKE_HELM_VERSION", "v4.0.0")
    result, _, _ = deploy(fake_helm, workspace, {"api": "envctl-demo/api:aaa111"})
    assert fake_helm.argvs()[-1] == upgrade_argv(workspace["chart"], fake_helm.kubeconfig, result.input_hash)


def test_set_into_a_non_mapping_and_missing_values_file_are_config_errors(tmp_path: Path) -> None:
    values = tmp_path / "v.yaml"
    values.write_text("api: [not, a, mapping]\n")
    with pytest.raises(
        ConfigError, match=r"release.set 'api.replicas': 'api' is list \['not', 'a', 'mapping'\]"
    ):
        make_values([values], {"api.replicas": 2}, {})
    with pytest.raises(ConfigError, match=r"values file .*missing.yaml does not exist"):
        make_values([tmp_path / "missing.yaml"], {}, {})
    values.write_text("- a list\n")
    with pytest.raises(ConfigError, match="expected a mapping at the top level, got list"):
        make_values([values], {}, {})


def test_deployed_workloads_carry_the_injected_images(fake_helm: FakeHelm, workspace: dict) -> None:
    """The hand-off to the waiter: after deploy, the release's workloads exist with the new tags."""
    from tests.support.kube_api import KubeApi
    from tests.support.node_kubelet import EveryImageKubelet

    refs = {"api": "envctl-demo/api:aaa111", "worker": "envctl-demo/worker:bbb222"}
    with KubeApi() as api, EveryImageKubelet(api, "ci"):  # the chart's hook Job must finish
        fake_helm.switch("FAKE_HELM_KUBE_URL", api.url)
        progress, recorder = CollectingProgress(), Recorder()
        with recorder.bind(task="deploy", after=["x"]):  # as the scheduler does around the deploy task
            result = deploy_release(
                SPEC,
                workspace["chart"],
                workspace["values"],
                refs,
                policy=POLICY,
                helm=fake_helm.helm(progress),
                progress=progress,
                recorder=recorder,
            )
        api_image = api.get("apps/v1/deployments", "ci", "demo-api")["spec"]["template"]["spec"][
            "containers"
        ][0]
        worker = api.get("apps/v1/deployments", "ci", "demo-worker")["spec"]["template"]["spec"][
            "containers"
        ][0]
    assert (api_image["image"], worker["image"]) == ("envctl-demo/api:aaa111", "envctl-demo/worker:bbb222")
    assert result.action == "installed"
    span, _ = recorder.spans()
    assert (span.attrs["task"], span.attrs["after"], span.attrs["release"]) == ("deploy", ["x"], "demo")


def test_missing_chart_is_a_config_error_before_any_helm_release_command(
    fake_helm: FakeHelm, workspace: dict, tmp_path: Path
) -> None:
    workspace["chart"] = tmp_path / "no-chart"
    with pytest.raises(ConfigError, match=r"no Helm chart at .*no-chart \(no Chart.yaml\)"):
        deploy(fake_helm, workspace, {})
    assert fake_helm.argvs() == []
