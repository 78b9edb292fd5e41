"""The benchmark's world and edits (scripts/bench_pipeline.py, tests/support/demo_world.py), checked
through envctl's own plan: renamed images keep the base dependency, the edit changes one service."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import yaml

from tests.support.cli import run_envctl
from tests.support.demo_world import ROOT, copy_demo

_spec = importlib.util.spec_from_file_location("bench_pipeline", ROOT / "scripts" / "bench_pipeline.py")
assert _spec is not None and _spec.loader is not None
bench = importlib.util.module_from_spec(_spec)
sys.modules["bench_pipeline"] = bench  # dataclasses look their module up there
_spec.loader.exec_module(bench)


def _plan(workspace: Path) -> dict[str, dict]:
    done = run_envctl("plan", "--output", "json", cwd=workspace, env=dict(os.environ))
    assert done.returncode == 0, done.stderr
    return {s["name"]: s for s in json.loads(done.stdout)["services"]}


def test_copy_renames_every_image_and_keeps_the_base_dependency(tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    copy_demo(ws, cluster="envctl-bench-t-e", prefix="envctl-bench-t", base_image="envctl-bench-t/busybox:1",
              docker="/usr/bin/docker")  # fmt: skip
    config = yaml.safe_load((ws / "envctl.yaml").read_text())
    assert config["cluster"]["name"] == "envctl-bench-t-e"
    assert config["load"] == {"mode": "import"}
    plan = _plan(ws)
    assert {name: s["image"] for name, s in plan.items()} == {
        name: f"envctl-bench-t/{name}" for name in ("base", "api", "worker", "web", "migrate")
    }
    # The Dockerfiles' BASE_REF default followed the rename, so envctl still injects base's image.
    assert plan["api"]["dependency_args"] == {"BASE_REF": "base"}
    assert plan["worker"]["depends_on"] == ["base"]
    # The base image reaches web's build as a build arg, shown redacted as every arg not declared public.
    assert config["services"]["web"]["build_args"]["BASE_IMAGE"] == "envctl-bench-t/busybox:1"
    assert plan["web"]["build_args"] == {"BASE_IMAGE": "***"}
    status = subprocess.run(
        ["git", "status", "--porcelain"], cwd=ws, capture_output=True, text=True, check=True
    )
    assert status.stdout == ""


def test_the_slow_step_and_the_one_service_edit_touch_only_web(tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    copy_demo(ws, cluster="envctl-bench-t-e", prefix="envctl-bench-t", base_image="envctl-bench-t/busybox:1",
              docker="/usr/bin/docker")  # fmt: skip
    before = _plan(ws)
    bench.make_build_slow(ws, 2, 1)
    slow = _plan(ws)
    bench.change_one_service(ws)
    after = _plan(ws)
    dockerfile = (ws / "examples/services/web/Dockerfile").read_text()
    assert dockerfile.splitlines()[-1].startswith("RUN echo ") and dockerfile.endswith("&& sleep 2\n")
    for earlier, later in ((before, slow), (slow, after)):
        moved = {name for name in later if later[name]["fingerprint"] != earlier[name]["fingerprint"]}
        assert moved == {"web"}
