"""The status report without any tool: image classification, exit codes, and the JSON contract."""

from __future__ import annotations

import json
import os
from dataclasses import replace
from pathlib import Path

import pytest
from rich.console import Console

from envctl.status import (
    ClusterStatus,
    ImageStatus,
    NodeStatus,
    ReleaseStatus,
    StatusReport,
    WorkloadsStatus,
    WorkloadState,
    compare_image,
)
from envctl.views.status import status_dict, status_renderable
from tests.support.cli import run_envctl

REF = "envctl-demo/api:fp-1111111111111111"


@pytest.mark.parametrize(
    ("deployed", "state", "detail"),
    [
        pytest.param(("envctl-demo/api", "fp-1111111111111111"), "current", "", id="same-ref"),
        # A registry-mode load deploys <registry>/<repository>: same image, same tag.
        pytest.param(
            ("k3d-reg:5000/envctl-demo/api", "fp-1111111111111111"), "current", "", id="registry-ref"
        ),
        pytest.param(
            ("envctl-demo/api", "fp-2222222222222222"),
            "stale",
            "deployed fp-2222222222222222, inputs now fp-1111111111111111",
            id="other-tag",
        ),
        pytest.param(
            ("someone/api", "fp-1111111111111111"),
            "stale",
            "deployed someone/api:fp-1111111111111111, inputs now envctl-demo/api:fp-1111111111111111",
            id="other-repository",
        ),
        # "my-envctl-demo/api" is not "<registry>/envctl-demo/api".
        pytest.param(
            ("my-envctl-demo/api", "fp-1111111111111111"),
            "stale",
            "deployed my-envctl-demo/api:fp-1111111111111111, inputs now envctl-demo/api:fp-1111111111111111",
            id="repository-suffix-is-not-enough",
        ),
        pytest.param(None, "not-deployed", "the release sets no image here", id="not-in-values"),
    ],
)
def test_compare_image(deployed: tuple[str, str] | None, state: str, detail: str) -> None:
    result = compare_image("api", REF, deployed, local=True)
    assert (result.state, result.detail, result.local) == (state, detail, True)
    assert result.deployed == (None if deployed is None else f"{deployed[0]}:{deployed[1]}")


def _good() -> StatusReport:
    return StatusReport(
        cluster=ClusterStatus(
            "demo",
            "running",
            (NodeStatus("k3d-demo-server-0", "server", True),),
            "matches",
            (),
            "/ws/.envctl/kubeconfig",
        ),
        release=ReleaseStatus(
            "demo", "envctl-demo", "installed", 3, "deployed", "2026-01-01T00:00:00Z", "current", "ab", "ab"
        ),
        workloads=WorkloadsStatus(
            "known", (WorkloadState("Deployment", "demo-api", True, False, "1/1 available, 1 updated"),)
        ),
        images=(
            ImageStatus("base", "envctl-demo/base:fp-0", "build-only", None, True, "no values_path"),
            ImageStatus("api", REF, "current", REF, True, ""),
        ),
    )


def _not_ready(report: StatusReport) -> StatusReport:
    item = WorkloadState(
        "Deployment", "demo-api", False, False, "0/1 available, 1 updated", "p: CrashLoopBackOff"
    )
    return replace(report, workloads=WorkloadsStatus("known", (item,)))


def _stale(report: StatusReport) -> StatusReport:
    stale = ImageStatus("api", REF, "stale", "envctl-demo/api:fp-2", True, "deployed fp-2, inputs now fp-1")
    return replace(report, images=(stale,))


@pytest.mark.parametrize(
    ("change", "code", "problems"),
    [
        pytest.param(lambda r: r, 0, [], id="all-current"),
        pytest.param(_not_ready, 7, ["not ready: Deployment/demo-api"], id="not-ready"),
        pytest.param(_stale, 7, ["stale: api"], id="stale-image"),
        pytest.param(
            lambda r: replace(r, release=replace(r.release, inputs="changed")),
            7,
            ["release demo inputs changed since rev 3"],
            id="inputs-changed",
        ),
        pytest.param(
            lambda r: replace(r, release=replace(r.release, status="pending-upgrade")),
            7,
            ["release demo is pending-upgrade"],
            id="pending-release",
        ),
        pytest.param(
            lambda r: replace(r, release=ReleaseStatus("demo", "envctl-demo", "not-installed")),
            7,
            ["release demo not installed"],
            id="not-installed",
        ),
        pytest.param(
            lambda r: replace(r, cluster=replace(r.cluster, state="stopped")),
            8,
            ["cluster demo stopped"],
            id="stopped",
        ),
        pytest.param(
            lambda r: replace(r, cluster=ClusterStatus("demo", "absent")),
            8,
            ["cluster demo absent"],
            id="absent",
        ),
        pytest.param(
            lambda r: replace(r, cluster=replace(r.cluster, spec="differs", differences=("agents: 0 -> 2",))),
            8,
            ["cluster demo differs from envctl.yaml"],
            id="spec-differs",
        ),
        # helm missing: the release section keeps ToolMissingError's code, even with other problems.
        pytest.param(
            lambda r: _stale(
                replace(r, release=ReleaseStatus("demo", "envctl-demo", "unknown", error_code=3))
            ),
            3,
            ["stale: api"],
            id="helm-missing",
        ),
        pytest.param(
            lambda r: replace(r, workloads=WorkloadsStatus("unknown", error_code=8)),
            8,
            [],
            id="api-unreachable",
        ),
        # A broken Dockerfile: no image list, the plan's InputError code (2), the cluster still shown.
        pytest.param(
            lambda r: replace(r, images=(), images_note="unknown: the plan failed: x", images_error_code=2),
            2,
            [],
            id="plan-failed",
        ),
    ],
)
def test_exit_code_and_problems(change, code: int, problems: list[str]) -> None:
    report = change(_good())
    assert report.exit_code == code
    assert report.problems() == problems


def test_json_contract_version_1() -> None:
    """The document `--output json` prints, pinned key by key (consumers parse it)."""
    assert status_dict(_stale(_good())) == {
        "version": 1,
        "exit_code": 7,
        "ok": False,
        "problems": ["stale: api"],
        "cluster": {
            "name": "demo",
            "state": "running",
            "nodes": [{"name": "k3d-demo-server-0", "role": "server", "running": True}],
            "spec": "matches",
            "differences": [],
            "kubeconfig": "/ws/.envctl/kubeconfig",
            "note": "",
            "hint": None,
        },
        "release": {
            "name": "demo",
            "namespace": "envctl-demo",
            "state": "installed",
            "revision": 3,
            "status": "deployed",
            "last_deployed": "2026-01-01T00:00:00Z",
            "inputs": "current",
            "deployed_hash": "ab",
            "input_hash": "ab",
            "note": "",
            "hint": None,
        },
        "workloads": {
            "state": "known",
            "items": [
                {
                    "kind": "Deployment",
                    "name": "demo-api",
                    "ready": True,
                    "failed": False,
                    "summary": "1/1 available, 1 updated",
                    "problem": "",
                }
            ],
            "note": "",
            "hint": None,
        },
        "images": [
            {
                "service": "api",
                "ref": REF,
                "state": "stale",
                "deployed": "envctl-demo/api:fp-2",
                "local": True,
                "detail": "deployed fp-2, inputs now fp-1",
            }
        ],
        "images_note": "",
        "images_hint": None,
    }
    document = status_dict(_good())
    assert json.loads(json.dumps(document)) == document  # plain JSON types only


def _text(report: StatusReport) -> str:
    console = Console(width=200, record=True, color_system=None)
    console.print(status_renderable(report))
    return console.export_text()


def test_table_names_stale_images_and_the_verdict() -> None:
    text = _text(_stale(_good()))
    assert "api" in text and "stale" in text and "deployed fp-2, inputs now fp-1" in text
    assert "status: stale: api" in text
    good = _text(_good())
    assert "current: `envctl up` would skip the deploy" in good and "status: up and current" in good


def test_table_shows_why_a_section_is_unknown() -> None:
    hint = "install helm v3 (https://helm.sh/docs/intro/install/) and put it on PATH"
    report = replace(
        _good(),
        release=ReleaseStatus(
            "demo",
            "envctl-demo",
            "unknown",
            note="unknown: `helm` is not installed or not on PATH",
            hint=hint,
            error_code=3,
        ),
    )
    text = _text(report)
    assert "unknown: `helm` is not installed or not on PATH" in text
    assert f"hint: {hint}" in text


def test_an_unknown_output_format_is_bad_input(tmp_path: Path) -> None:
    done = run_envctl("status", "--output", "yaml", cwd=tmp_path, env=dict(os.environ))
    assert done.returncode == 2
    assert "error: --output 'yaml' is not a status format" in done.stderr
    assert "hint: use one of: table, json" in done.stderr


def test_one_missing_tool_is_reported_once_not_once_per_section(tmp_path: Path) -> None:
    (tmp_path / "svc").mkdir()
    (tmp_path / "svc" / "Dockerfile").write_text("FROM busybox:1.36\n")
    (tmp_path / "envctl.yaml").write_text(
        "version: 1\nservices:\n  svc:\n    dockerfile: svc/Dockerfile\n    image: demo/svc\n    values_path: svc.image\n"
    )
    env = {**os.environ, "PATH": f"{tmp_path / 'no-tools'}{os.pathsep}/usr/bin{os.pathsep}/bin",
           "ENVCTL_DOCKER": "/nonexistent/docker", "COLUMNS": "200"}  # fmt: skip

    done = run_envctl("status", cwd=tmp_path, env=env)

    assert done.returncode == 3, done.stderr
    assert done.stdout.count("`k3d` is not installed or not on PATH") == 1, done.stdout  # the cluster section
    assert done.stdout.count("hint:") == 1, done.stdout
    assert "unknown: the same cause as above" in done.stdout  # release, workloads and images point to it
    assert done.stderr.count("`k3d` is not installed or not on PATH") == 1  # the one error line
