"""`envctl timings` as a user runs it, in a workspace with recorded runs."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from envctl.timing.history import RunHistory
from tests.support.cli import run_envctl
from tests.timing.sample import sample_run
from tests.timing.test_formats import _slower


def envctl(workspace: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {"PATH": "/usr/bin:/bin", "COLUMNS": "140", "HOME": str(workspace)}
    return run_envctl(*args, cwd=workspace, env=env)


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    (tmp_path / "envctl.yaml").write_text("version: 1\n")
    return tmp_path


def test_no_history_is_a_clear_input_error(workspace: Path):
    done = envctl(workspace, "timings")
    assert done.returncode == 2
    assert f"error: no runs recorded yet in {workspace / '.envctl' / 'runs'}; run `envctl up`" in done.stderr
    bad = envctl(workspace, "timings", "--output", "yaml")
    assert bad.returncode == 2 and "--output 'yaml' is not a timings format" in bad.stderr


def test_every_format_from_recorded_runs(workspace: Path):
    history = RunHistory(workspace / ".envctl" / "runs")
    for index in range(3):
        history.write(sample_run(f"20261129T06000{index}Z-abcd"))
    history.write(_slower("20261129T070000Z-abcd"))
    (history.runs_dir / "20261129T065959Z-zzzz.json").write_text("{not json")  # a damaged record is skipped

    table = envctl(workspace, "timings", "--compare", "--svg", str(workspace / "w.svg"))
    assert table.returncode == 0, table.stderr
    assert "skipped 1 unreadable run file(s)" in table.stderr and "20261129T065959Z-zzzz.json" in table.stderr
    assert "★ critical path: cluster 10.0 s → load:api 3.0 s → deploy 2.0 s → wait 9.0 s" in table.stdout
    assert "k3d 10.0 s  ·  docker 8.5 s  ·  helm 2.0 s  ·  pod readiness 9.0 s  ·  envctl overhead 1.0 s" in table.stdout
    assert "regression" in table.stdout and "registry load mode would move 93% fewer bytes" in table.stdout
    assert (workspace / "w.svg").read_text().startswith("<svg")

    data = json.loads(envctl(workspace, "timings", "--last", "4", "--output", "json").stdout)
    assert data["version"] == 1 and data["run"]["run_id"] == "20261129T070000Z-abcd"
    assert data["compare"]["runs"][-1] == "20261129T070000Z-abcd" and len(data["compare"]["runs"]) == 4
    wait = next(s for s in data["compare"]["stats"] if s["kind"] == "wait" and s["service"] is None)
    assert (wait["median"], wait["latest"], wait["regression"]) == (5.0, 9.0, True)

    earlier = json.loads(envctl(workspace, "timings", "--run", "20261129T060001Z", "--output", "json").stdout)
    assert earlier["run"]["run_id"] == "20261129T060001Z-abcd" and earlier["compare"] is None

    md = envctl(workspace, "timings", "--output", "markdown").stdout
    assert md.startswith("### envctl `up --changed-only` — ok, 24.5 s")
    trace = json.loads(envctl(workspace, "timings", "--output", "chrome-trace").stdout)
    assert sum(1 for e in trace["traceEvents"] if e["ph"] == "X") == 8
