"""Ctrl-C and the workspace lock, in real processes (SIGINT, two concurrent holders)."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

from envctl.timing.history import RunHistory

INTERRUPTED_RUN = textwrap.dedent(
    """
    import os, sys, time
    from pathlib import Path
    from envctl.adapters.process import SubprocessRunner
    from envctl.scheduler import Scheduler, SchedulerInterrupted, Task
    from envctl.timing.history import RunHistory, RunMeta, RunRecord
    from envctl.timing.spans import Recorder

    out = Path(sys.argv[1])
    runner = SubprocessRunner()
    recorder = Recorder()
    meta = RunMeta.start("up", environ={})

    def slow_load(ctx):
        (out / "started").write_text(str(os.getpid()))
        time.sleep(0.3)  # Ctrl-C lands before the child exists: a later on_cancel call must stop it
        runner.run(["sleep", "60"])

    tasks = [
        Task("build:a", "build", lambda ctx: "a:1", service="a"),
        Task("load:a", "load", slow_load, after=("build:a",), service="a"),
        Task("deploy", "deploy", lambda ctx: None, after=("load:a",)),
    ]
    try:
        Scheduler(tasks, recorder=recorder, jobs=2, on_cancel=runner.terminate_all).run()
    except SchedulerInterrupted as exc:
        outcomes = {k: v.outcome for k, v in exc.result.outcomes.items()}
        meta = meta.finish("cancelled", 130, recorder.now())
        RunHistory(out / "runs").write(RunRecord(meta, tuple(recorder.spans())))
        (out / "outcomes.json").write_text(__import__("json").dumps(outcomes))
        sys.exit(130)
    sys.exit(0)
    """
)


def _wait_for(path: Path, seconds: float = 20) -> None:
    deadline = time.monotonic() + seconds
    while not path.exists():
        assert time.monotonic() < deadline, f"{path} never appeared"
        time.sleep(0.02)


def test_ctrl_c_stops_children_and_leaves_a_readable_cancelled_run(tmp_path: Path):
    proc = subprocess.Popen([sys.executable, "-c", INTERRUPTED_RUN, str(tmp_path)])
    _wait_for(tmp_path / "started")
    proc.send_signal(signal.SIGINT)
    started = time.monotonic()
    try:
        assert proc.wait(timeout=15) == 130
    finally:
        if proc.poll() is None:
            proc.kill()
    assert time.monotonic() - started < 8  # the child `sleep 60` was terminated, not awaited
    assert json.loads((tmp_path / "outcomes.json").read_text()) == {
        "build:a": "ok",
        "load:a": "cancelled",
        "deploy": "cancelled",
    }
    scan = RunHistory(tmp_path / "runs").scan()
    assert scan.corrupt == ()
    (run,) = scan.records
    assert (run.meta.outcome, run.meta.exit_code) == ("cancelled", 130)
    spans = {s.name: s for s in run.spans}
    assert spans["build:a"].outcome == "ok"
    assert spans["load:a"].outcome == "cancelled"
    assert spans["deploy"].outcome == "cancelled" and spans["deploy"].attrs["reason"] == "dependency load:a cancelled"


HOLDER = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    from envctl.errors import EnvctlError
    from envctl.lock import workspace_lock

    state, marker, hold, wait = Path(sys.argv[1]), Path(sys.argv[2]), float(sys.argv[3]), sys.argv[4] == "wait"
    try:
        with workspace_lock(state, wait=wait, on_wait=lambda m: print(m, flush=True), poll_seconds=0.05):
            marker.write_text(str(time.time()))
            time.sleep(hold)
    except EnvctlError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        sys.exit(exc.exit_code)
    """
)


def _holder(state: Path, marker: Path, hold: float, mode: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(state), str(marker), str(hold), mode],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_a_second_run_waits_for_the_lock_and_no_wait_refuses_with_exit_9(tmp_path: Path):
    state = tmp_path / ".envctl"
    first = _holder(state, tmp_path / "first", 1.5, "wait")
    _wait_for(tmp_path / "first")

    refused = _holder(state, tmp_path / "refused", 0, "no-wait")
    _, err = refused.communicate(timeout=20)
    assert refused.returncode == 9
    assert "the workspace is locked by envctl up (pid" in err and str(state / "up.lock") in err
    assert not (tmp_path / "refused").exists()

    second = _holder(state, tmp_path / "second", 0, "wait")
    out, _ = second.communicate(timeout=30)
    assert first.wait(timeout=10) == 0 and second.returncode == 0
    assert out.startswith(f"waiting for envctl up (pid {first.pid}) to finish")
    first_done = (tmp_path / "first").stat().st_mtime + 1.5
    assert float((tmp_path / "second").read_text()) >= first_done - 0.1  # it got the lock only after the first ended
