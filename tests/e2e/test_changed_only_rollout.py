"""On a real k3d cluster: bring the demo up, change one service's file, and only that service rolls."""

from __future__ import annotations

from typing import Any

import pytest

from tests.e2e.conftest import DemoWorkspace

pytestmark = pytest.mark.e2e

CHANGED_SERVICE = "worker"
CHANGED_FILE = "examples/services/worker/worker.sh"  # copied only by the worker's Dockerfile


def _deployments(demo: DemoWorkspace) -> dict[str, dict[str, Any]]:
    """Deployment name → its pod template images and generation, read with kubectl."""
    listed = demo.kube.kubectl(["get", "deployments", "-n", demo.namespace])
    return {
        item["metadata"]["name"]: {
            "images": sorted(c["image"] for c in item["spec"]["template"]["spec"]["containers"]),
            "generation": item["metadata"]["generation"],
        }
        for item in listed["items"]
    }


def test_changed_only_rolls_just_the_changed_service(demo_workspace: DemoWorkspace) -> None:
    demo = demo_workspace
    first = demo.envctl("up")
    assert first.returncode == 0, f"envctl up failed:\n{first.stdout}\n{first.stderr}"
    before = _deployments(demo)
    assert before, "the demo release created no Deployments"
    worker_image = "envctl-demo/worker:"
    (rolled_name,) = [name for name, d in before.items() if any(i.startswith(worker_image) for i in d["images"])]

    script = demo.root / CHANGED_FILE
    script.write_text(script.read_text() + "\n# e2e: a change only the worker image sees\n")
    second = demo.envctl("up", "--changed-only")
    assert second.returncode == 0, f"envctl up --changed-only failed:\n{second.stdout}\n{second.stderr}"
    after = _deployments(demo)

    assert after.keys() == before.keys()
    assert after[rolled_name]["images"] != before[rolled_name]["images"]
    assert all(i.startswith(worker_image) for i in after[rolled_name]["images"])
    unchanged = {name: d for name, d in before.items() if name != rolled_name}
    assert {name: after[name] for name in unchanged} == unchanged, "a service that did not change rolled"


def test_a_second_up_with_nothing_changed_reuses_the_cluster(demo_workspace: DemoWorkspace) -> None:
    demo = demo_workspace
    before = _deployments(demo)

    again = demo.envctl("up", "--changed-only")

    assert again.returncode == 0, f"envctl up failed:\n{again.stdout}\n{again.stderr}"
    assert "reusing running cluster" in again.stderr
    assert _deployments(demo) == before
