"""Signals and the workspace lock, in real processes (SIGINT, SIGTERM, a second signal; two holders)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from envctl.timing.history import RunHistory

INTERRUPTED_RUN = textwrap.dedent(
    """
    import os, sys, time
    from pathlib import Path
    from envctl import interrupts
    from envctl.adapters.process import SubprocessRunner
    from envctl.scheduler import Scheduler, SchedulerInterrupted, Task
    from envctl.timing.history import RunHistory, RunMeta, RunRecord
    from envctl.timing.spans import Recorder

    out, child = Path(sys.argv[1]), sys.argv[2]
    # An hour of grace: only a second signal (hurry) can end a child that ignores SIGTERM in time.
    runner = SubprocessRunner(grace_seconds=3600)
    recorder = Recorder()
    meta = RunMeta.start("up", environ={})

    def slow_load(ctx):
        (out / "started").write_text(str(os.getpid()))
        # The test signals, then creates "go": the child below starts after the cancel began,
        # so a later on_cancel call must stop it (it would otherwise run for ten minutes).
        while not (out / "go").exists():
            time.sleep(0.01)
        runner.run([sys.executable, "-c", child, str(out)])

    tasks = [
        Task("build:a", "build", lambda ctx: "a:1", service="a"),
        Task("load:a", "load", slow_load, after=("build:a",), service="a"),
        Task("deploy", "deploy", lambda ctx: None, after=("load:a",)),
    ]
    with interrupts.handling(), interrupts.on_hurry(runner.hurry):
        try:
            Scheduler(tasks, recorder=recorder, jobs=2, on_cancel=runner.terminate_all).run()
        except SchedulerInterrupted as exc:
            outcomes = {k: v.outcome for k, v in exc.result.outcomes.items()}
            meta = meta.finish("cancelled", interrupts.exit_code(), recorder.now())
            RunHistory(out / "runs").write(RunRecord(meta, tuple(recorder.spans())))
            (out / "outcomes.json").write_text(__import__("json").dumps(outcomes))
            sys.exit(interrupts.exit_code())
    sys.exit(0)
    """
)

# The child the load task runs: writes its pid, then sleeps ten minutes.
OBEYS_SIGTERM = "import os, sys, time; open(sys.argv[1] + '/child', 'w').write(str(os.getpid())); time.sleep(600)"
# ... or, like a tool busy cleaning up, notes SIGTERM ("term") and carries on.
IGNORES_SIGTERM = textwrap.dedent(
    """
    import os, signal, sys, time
    out = sys.argv[1]
    signal.signal(signal.SIGTERM, lambda *_: open(out + "/term", "w").close())
    open(out + "/child", "w").write(str(os.getpid()))
    while True:
        time.sleep(600)
    """
)


def _wait_for(path: Path, seconds: float = 120) -> None:
    """Wait for a file another process writes (the bound only ends a hang; it is no margin)."""
    deadline = time.monotonic() + seconds
    while not path.exists():
        assert time.monotonic() < deadline, f"{path} never appeared"
        time.sleep(0.02)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


@pytest.mark.parametrize(
    ("signals", "child", "code"),
    [
        pytest.param((signal.SIGINT,), OBEYS_SIGTERM, 130, id="sigint"),
        pytest.param((signal.SIGTERM,), OBEYS_SIGTERM, 143, id="sigterm"),
        pytest.param((signal.SIGINT, signal.SIGINT), IGNORES_SIGTERM, 130, id="double-sigint"),
        pytest.param((signal.SIGTERM, signal.SIGINT), IGNORES_SIGTERM, 143, id="sigterm-then-sigint"),
    ],
)
def test_a_signal_stops_children_and_leaves_a_readable_cancelled_run(
    tmp_path: Path, signals: tuple[int, ...], child: str, code: int
):
    proc = subprocess.Popen([sys.executable, "-c", INTERRUPTED_RUN, str(tmp_path), child])
    try:
        _wait_for(tmp_path / "started")
        proc.send_signal(signals[0])
        (tmp_path / "go").touch()
        if len(signals) > 1:
            _wait_for(tmp_path / "term")  # the stop is under way and the child shrugged SIGTERM off
            proc.send_signal(signals[1])  # hurry: without it the child had an hour of grace
        assert proc.wait(timeout=120) == code  # the child was stopped, not awaited
    finally:
        if proc.poll() is None:
            proc.kill()
    assert not _alive(int((tmp_path / "child").read_text()))
    assert json.loads((tmp_path / "outcomes.json").read_text()) == {
        "build:a": "ok",
        "load:a": "cancelled",
        "deploy": "cancelled",
    }
    scan = RunHistory(tmp_path / "runs").scan()
    assert scan.corrupt == ()
    (run,) = scan.records
    assert (run.meta.outcome, run.meta.exit_code) == ("cancelled", code)
    spans = {s.name: s for s in run.spans}
    assert spans["build:a"].outcome == "ok"
    assert spans["load:a"].outcome == "cancelled"
    name = signal.Signals(signals[0]).name
    assert spans["load:a"].attrs["reason"] == f"interrupted ({name})"
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
