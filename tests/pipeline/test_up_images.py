"""`envctl up` proves the images it built: before the upgrade (the rendered chart runs them, exit 2
when not), after the wait (the pods run them, exit 7 when not), and for charts that take no
per-service image value (``inject: rewrite`` through Helm's post-renderer). Real Docker builds and
containerd nodes, the rendering helm stand-in, KMock and a kubelet that runs only present images."""

from __future__ import annotations

import json
from typing import Any

import pytest
import yaml

from tests.pipeline.conftest import UpWorld

pytestmark = pytest.mark.docker

NS = "envctl-demo"


def _config(world: UpWorld) -> dict[str, Any]:
    return yaml.safe_load((world.workspace / "envctl.yaml").read_text())


def _write_config(world: UpWorld, config: dict[str, Any]) -> None:
    (world.workspace / "envctl.yaml").write_text(yaml.safe_dump(config, sort_keys=False))


def _helm_commands(world: UpWorld) -> list[list[str]]:
    if not world.helm_log.exists():
        return []
    return [json.loads(line)["argv"] for line in world.helm_log.read_text().splitlines() if line.strip()]


def _deployment_images(world: UpWorld) -> dict[str, list[str]]:
    listed = world.api._request("GET", f"/apis/apps/v1/namespaces/{NS}/deployments")
    return {
        item["metadata"]["name"]: [c["image"] for c in item["spec"]["template"]["spec"]["containers"]]
        for item in listed["items"]
    }


def test_a_wrong_values_path_stops_the_run_before_any_deploy(up_world: UpWorld) -> None:
    config = _config(up_world)
    config["services"]["worker"]["values_path"] = "workers.image"  # the chart reads worker.image
    _write_config(up_world, config)
    with up_world.kubelet():
        done = up_world.envctl("up")
    assert done.returncode == 2, done.stderr
    assert "error: service worker: no rendered workload runs " in done.stderr
    assert "(values_path workers.image)" in done.stderr
    assert "hint: did you mean worker.image?" in done.stderr
    assert "Traceback" not in done.stderr
    commands = [argv[0] for argv in _helm_commands(up_world)]
    assert "template" in commands and "upgrade" not in commands  # rendered and checked, never deployed
    [run] = up_world.runs()
    assert run["run"]["exit_code"] == 2


def test_up_dry_run_shows_the_verify_step(up_world: UpWorld) -> None:
    done = up_world.envctl("up", "--dry-run", check=True)
    assert "verify" in done.stdout
    assert not _helm_commands(up_world)
