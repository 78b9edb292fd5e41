"""The environment overrides (README "Environment") hold for every verb: one composition root reads them.

``ENVCTL_K3D`` names a k3d that is not on PATH; each verb that talks to k3d must run that one (the
stand-in logs every argv it gets). Before the composition root owned this, `down` and `doctor`
ran plain ``k3d`` and failed.
"""

from __future__ import annotations

import json
import os
import uuid
from pathlib import Path

import pytest

from envctl.toolbox import AppState, Overrides
from tests.support.cli import run_envctl

STANDIN = Path(__file__).resolve().parent / "standins" / "k3d"


def test_overrides_are_read_once_from_the_environment() -> None:
    state = AppState(environ={"ENVCTL_K3D": "/opt/k3d-5.8", "ENVCTL_DOCKER": "/usr/bin/docker", "CI": "true"})
    assert state.overrides == Overrides(k3d="/opt/k3d-5.8", docker="/usr/bin/docker", ci=True)
    assert state.overrides.ci and state.docker_cli == "/usr/bin/docker"  # outside a workspace: no build.docker_cli
    assert AppState(environ={}).overrides == Overrides(k3d="k3d", docker=None, ci=False)


@pytest.fixture
def elsewhere(tmp_path: Path, docker_engine: str) -> dict[str, str]:
    """A k3d reachable only through ENVCTL_K3D (PATH holds no `k3d`), logging what it is asked."""
    hidden = tmp_path / "tools"
    hidden.mkdir()
    (hidden / "k3d-pinned").symlink_to(STANDIN)
    workspace = tmp_path / "ws"
    workspace.mkdir()
    (workspace / "envctl.yaml").write_text(f"version: 1\ncluster:\n  name: envctl-test-{uuid.uuid4().hex[:6]}\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ENVCTL_", "K3D_", "GITHUB_", "CI"))}
    path = [p for p in env.get("PATH", "").split(os.pathsep) if p and not (Path(p) / "k3d").exists()]
    return {
        **env,
        "PATH": os.pathsep.join(path),
        "ENVCTL_K3D": str(hidden / "k3d-pinned"),
        "K3D_STANDIN_LOG": str(tmp_path / "k3d-argv.jsonl"),
        "K3D_STANDIN_DOCKER": docker_engine,
        "ENVCTL_DOCKER": docker_engine,
        "WS": str(workspace),
        "LOG": str(tmp_path / "k3d-argv.jsonl"),
    }


def _asked(env: dict[str, str]) -> list[list[str]]:
    log = Path(env["LOG"])
    return [json.loads(line)["argv"][1:] for line in log.read_text().splitlines()] if log.exists() else []


@pytest.mark.parametrize(
    ("argv", "code"),
    [
        pytest.param(("doctor", "--output", "json"), None, id="doctor"),
        pytest.param(("status", "--output", "json"), 8, id="status"),  # no such cluster: exit 8
        pytest.param(("down", "--delete-cluster", "--yes"), 0, id="down"),
    ],
)
def test_every_verb_runs_the_k3d_that_ENVCTL_K3D_names(elsewhere: dict[str, str], argv: tuple[str, ...], code: int | None) -> None:  # noqa: N802 - the variable's name
    done = run_envctl(*argv, cwd=elsewhere["WS"], env=elsewhere)
    if code is not None:
        assert done.returncode == code, done.stderr
    assert "`k3d` is not installed" not in done.stderr
    asked = _asked(elsewhere)
    assert asked, f"{argv[0]} never ran the k3d named by ENVCTL_K3D:\n{done.stderr}"
    assert any(call[:2] in (["version"], ["cluster", "list"]) for call in asked), asked
    if argv[0] == "doctor":
        [k3d] = [check for check in json.loads(done.stdout)["checks"] if check["name"] == "k3d"]
        assert k3d["status"] in ("ok", "warn"), k3d
