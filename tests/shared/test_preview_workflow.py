"""The shipped preview workflow: actionlint-clean, and wired the way the README's "Shared clusters" says."""

from __future__ import annotations

import sys
from pathlib import Path

import yaml

from envctl.config import load_config
from envctl.naming import NameFacts, render_name

ROOT = Path(__file__).resolve().parents[2]
WORKFLOW = ROOT / ".github" / "workflows" / "preview.yml"
ACTIONLINT = Path(sys.executable).with_name("actionlint")


def lint(path: Path) -> tuple[int, str]:
    import subprocess

    done = subprocess.run([str(ACTIONLINT), "-no-color", str(path)], capture_output=True, text=True, timeout=60,
                          check=False)  # fmt: skip
    return done.returncode, done.stdout + done.stderr


def test_actionlint_reports_nothing():
    assert lint(WORKFLOW) == (0, "")


def test_actionlint_would_catch_a_broken_preview(tmp_path: Path):
    broken = tmp_path / ".github" / "workflows" / "preview.yml"
    broken.parent.mkdir(parents=True)
    broken.write_text(WORKFLOW.read_text().replace("steps.urls.outputs.url }}", "steps.url.outputs.url }}", 1))
    code, report = lint(broken)
    assert code != 0 and "steps.url" in report


def test_pr_events_bring_up_and_tear_down_and_nightly_gc():
    flow = yaml.safe_load(WORKFLOW.read_text())
    on = flow[True] if True in flow else flow["on"]  # YAML 1.1 reads the key `on` as a boolean
    assert on["pull_request"]["types"] == ["opened", "synchronize", "reopened", "closed"]
    assert on["schedule"][0]["cron"]
    up, down, gc = flow["jobs"]["up"], flow["jobs"]["down"], flow["jobs"]["gc"]
    assert up["if"] == "github.event_name == 'pull_request' && github.event.action != 'closed'"
    assert down["if"] == "github.event_name == 'pull_request' && github.event.action == 'closed'"
    assert "schedule" in gc["if"]
    runs = [s.get("run", "") for s in up["steps"]]
    uses = [s.get("uses", "") for s in up["steps"]]
    order = [next(i for i, r in enumerate(runs) if needle in r) for needle in (
        "KUBECONFIG=$RUNNER_TEMP/kubeconfig", 'up --changed-only --base "$BASE_SHA"', '>> "$GITHUB_STEP_SUMMARY"')]  # fmt: skip
    assert order == sorted(order)
    assert uses.index("docker/login-action@v3") < order[1]
    assert up["outputs"]["namespace"] == "${{ steps.urls.outputs.namespace }}"
    assert up["outputs"]["url"] == "${{ steps.urls.outputs.url }}"
    assert any('--config "$ENVCTL_CONFIG" down' in s.get("run", "") for s in down["steps"])
    assert any('--config "$ENVCTL_CONFIG" gc' in s.get("run", "") for s in gc["steps"])
    # The kubeconfig secret reaches no command line: only an environment variable of one step.
    for job in (up, down, gc):
        for step in job["steps"]:
            assert "secrets.PREVIEW_KUBECONFIG" not in step.get("run", "")


def test_the_preview_config_is_valid_and_names_the_pr_namespace():
    config = load_config(ROOT / flow_config())
    assert config.cluster.provider == "existing" and config.cluster.registry is not None
    assert render_name(config.release.namespace, NameFacts(pr="123"), what="release.namespace") == "pr-123"


def flow_config() -> str:
    flow = yaml.safe_load(WORKFLOW.read_text())
    return flow["env"]["ENVCTL_CONFIG"]
