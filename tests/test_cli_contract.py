"""One real process per verb, against the same call run in-process.

The rest of the suite runs the CLI in the test process (tests/support/cli.py) because starting
Python costs more than most tests. These keep that honest: for every verb, ``python -m envctl``
gives the same exit code, the same stdout and the same stderr as the in-process run.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from tests.support.cli import committed_workspace, quiet_env, run_envctl

WORKSPACE = {
    "envctl.yaml": "version: 1\nservices:\n  api:\n    dockerfile: svc/api/Dockerfile\n    image: demo/api\n",
    "svc/api/Dockerfile": "FROM busybox:1.36\nCOPY svc/api/app.sh /app.sh\n",
    "svc/api/app.sh": "echo api\n",
}


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    return committed_workspace(tmp_path / "ws", WORKSPACE)


@pytest.mark.parametrize(
    ("args", "code"),
    [
        pytest.param(("init", "fresh"), 0, id="init"),
        pytest.param(("plan", "--output", "json"), 0, id="plan"),
        pytest.param(("up", "--services", "nope"), 3, id="up"),  # tools are checked first
        pytest.param(("down", "--delete-cluster"), 2, id="down"),
        pytest.param(("status", "--output", "yaml"), 2, id="status"),
        pytest.param(("timings",), 2, id="timings"),
        pytest.param(("gc",), 8, id="gc"),  # no cluster kubeconfig
        pytest.param(("rbac", "--namespace-prefix", "ci-"), 0, id="rbac"),
    ],
)
def test_a_process_and_an_in_process_run_agree(workspace: Path, args: tuple[str, ...], code: int) -> None:
    if args[0] == "init":
        (workspace / "fresh" / "svc").mkdir(parents=True)
        (workspace / "fresh" / "svc" / "Dockerfile").write_text("FROM busybox:1.36\n")
    env = {**quiet_env(), "PATH": f"{workspace / 'no-tools'}{os.pathsep}/usr/bin:/bin", "COLUMNS": "120"}
    in_process = run_envctl(*args, cwd=workspace, env=env)
    if args[0] == "init":
        (workspace / "fresh" / "envctl.yaml").unlink()
    process = run_envctl(*args, cwd=workspace, env=env, process=True)
    assert (process.returncode, process.stdout, process.stderr) == (
        in_process.returncode,
        in_process.stdout,
        in_process.stderr,
    )
    assert process.returncode == code, process.stderr
    if code != 0:
        assert process.stderr.splitlines()[-2].startswith("error: "), process.stderr
        assert process.stderr.splitlines()[-1].startswith("hint: "), process.stderr
    if "json" in args:
        json.loads(process.stdout)


def test_doctor_as_a_process_prints_its_json_and_exits_3_without_tools(workspace: Path) -> None:
    env = {**quiet_env(), "PATH": str(workspace / "no-tools"), "COLUMNS": "120"}
    in_process = run_envctl("doctor", "--output", "json", cwd=workspace, env=env)
    process = run_envctl("doctor", "--output", "json", cwd=workspace, env=env, process=True)
    assert process.returncode == in_process.returncode == 3, process.stderr
    assert process.stderr == in_process.stderr
    checks = [[(c["name"], c["status"]) for c in json.loads(done.stdout)["checks"]] for done in (process, in_process)]
    assert checks[0] == checks[1]  # the details may differ: free disk space moves between the runs
