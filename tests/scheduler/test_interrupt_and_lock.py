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
        # The test sends Ctrl-C, then creates "go": the child below starts after the cancel began,
        # so a later on_cancel call must stop it (it would otherwise run for ten minutes).
        while not (out / "go").exists():
            time.sleep(0.01)
        runner.run(["sleep", "600"])

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


def _wait_for(path: Path, seconds: float = 120) -> None:
    """Wait for a file another process writes (the bound only ends a hang; it is no margin)."""
    deadline = time.monotonic() + seconds
    while not path.exists():
        assert time.monotonic() < deadline, f"{path} never appeared"
        time.sleep(0.02)


def test_ctrl_c_stops_children_and_leaves_a_readable_cancelled_run(tmp_path: Path):
    proc = subprocess.Popen([sys.executable, "-c", INTERRUPTED_RUN, str(tmp_path)])
    _wait_for(tmp_path / "started")
    proc.send_signal(signal.SIGINT)
    (tmp_path / "go").touch()
    try:
        assert proc.wait(timeout=120) == 130  # the child `sleep 600` was terminated, not awaited
    finally:
        if proc.poll() is None:
            proc.kill()
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

    state, marker, release, wait = Path(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3]), sys.argv[4] == "wait"
    try:
        with workspace_lock(state, wait=wait, on_wait=lambda m: print(m, flush=True), poll_seconds=0.05):
            marker.write_text(str(time.time_ns()))
            while not release.exists():  # held until the test releases it
                time.sleep(0.01)
            marker.with_suffix(".left").write_text(str(time.time_ns()))
    except EnvctlError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        sys.exit(exc.exit_code)
    """
)


def _holder(state: Path, marker: Path, release: Path, mode: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(state), str(marker), str(release), mode],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_a_second_run_waits_for_the_lock_and_no_wait_refuses_with_exit_9(tmp_path: Path):
    state, release = tmp_path / ".envctl", tmp_path / "release"
    released = tmp_path / "released"  # the second holder leaves at once
    released.touch()
    first = _holder(state, tmp_path / "first", release, "wait")
    _wait_for(tmp_path / "first")

    refused = _holder(state, tmp_path / "refused", released, "no-wait")
    _, err = refused.communicate(timeout=120)
    assert refused.returncode == 9
    assert "the workspace is locked by envctl up (pid" in err and str(state / "up.lock") in err
    assert not (tmp_path / "refused").exists()

    second = _holder(state, tmp_path / "second", released, "wait")
    assert second.stdout is not None
    waiting = second.stdout.readline()  # it says it waits, while the first still holds the lock
    assert waiting.startswith(f"waiting for envctl up (pid {first.pid}) to finish"), waiting
    assert not (tmp_path / "second").exists()
    release.touch()
    second.communicate(timeout=120)
    assert first.wait(timeout=120) == 0 and second.returncode == 0
    # it got the lock only after the first had left it
    assert int((tmp_path / "second").read_text()) >= int((tmp_path / "first.left").read_text())
