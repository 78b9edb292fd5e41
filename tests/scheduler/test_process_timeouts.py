"""The subprocess choke point's time limits: a command or a pipe past its timeout is stopped (its
whole process group) and reported as ``TimedOutError`` (exit 11, with a hint), never as the
``subprocess.TimeoutExpired`` that used to escape as a traceback."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import pytest

from envctl.adapters.process import SubprocessRunner
from envctl.errors import ExitCode, TimedOutError

# Writes its pid and its helper's pid (same process group), then waits longer than any test runs.
STALLS = (
    "import os, subprocess, sys, time; "
    "helper = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(600)']); "
    "open(sys.argv[1], 'w').write(f'{os.getpid()} {helper.pid}'); time.sleep(600)"
)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A killed child of a killed parent is a zombie until init reaps it: gone for our purpose.
    stat = Path(f"/proc/{pid}/stat")
    return stat.exists() and stat.read_text().rsplit(")", 1)[1].split()[0] != "Z"


def _all_gone(pids: Path) -> None:
    """The group was signalled; its members exit when the kernel gets to them, which on a busy machine
    can be after the runner returns. Wait for that (bounded well below the helpers' 600 s sleep, so a
    group that was never stopped still fails) instead of assuming it already happened."""
    deadline = time.monotonic() + 60
    while any(_alive(int(pid)) for pid in pids.read_text().split()):
        assert time.monotonic() < deadline, f"still running: {pids.read_text()}"
        time.sleep(0.05)


def test_a_command_past_its_timeout_is_stopped_with_its_helpers(tmp_path: Path) -> None:
    pids = tmp_path / "pids"
    with pytest.raises(TimedOutError) as caught:
        SubprocessRunner().run([sys.executable, "-c", STALLS, str(pids)], timeout=1)
    assert caught.value.exit_code == ExitCode.TIMED_OUT == 11
    assert "did not finish within 1 s and was stopped" in caught.value.message
    assert caught.value.hint is not None and "Timeouts" in caught.value.hint
    if pids.exists():  # it may have been stopped before it wrote them
        _all_gone(pids)


def test_a_stalled_pipe_times_out_even_when_no_byte_moves(tmp_path: Path) -> None:
    pids = tmp_path / "pids"
    consumer = [sys.executable, "-c", "import sys; sys.stdin.buffer.read()"]
    with pytest.raises(TimedOutError) as caught:
        SubprocessRunner().pipe([sys.executable, "-c", STALLS, str(pids)], consumer, timeout=1)
    assert "did not finish within 1 s" in caught.value.message and "|" in caught.value.argv
    if pids.exists():
        _all_gone(pids)


def test_a_pipe_within_its_timeout_moves_every_byte() -> None:
    producer = [sys.executable, "-c", "import sys; sys.stdout.buffer.write(b'x' * 3_000_000)"]
    consumer = [sys.executable, "-c", "import sys; print(len(sys.stdin.buffer.read()))"]
    _, done, moved = SubprocessRunner().pipe(producer, consumer, timeout=300)
    assert moved == 3_000_000 and done.stdout.strip() == "3000000"
