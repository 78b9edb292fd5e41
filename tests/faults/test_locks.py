"""The workspace lock from the outside: `down` waits for a running `up` exactly as a second `up`
does (or exits 9 with --no-wait-lock), and a read-only `.envctl` is one error line, not a traceback."""

from __future__ import annotations

import subprocess
from pathlib import Path

from envctl.lock import workspace_lock
from tests.faults.conftest import ENVCTL, assert_contract, quiet_env, run_envctl, under_mounts

CONFIG = "version: 1\nrelease: {name: demo, namespace: demo}\n"


def test_down_waits_for_the_up_that_holds_the_workspace(tmp_path: Path) -> None:
    (tmp_path / "envctl.yaml").write_text(CONFIG)
    with workspace_lock(tmp_path / ".envctl", command="envctl up"):  # this test process plays the running up
        refused = run_envctl(tmp_path, "down", "--no-wait-lock")
        assert_contract(refused, (9,))
        assert refused.stderr.startswith("error: the workspace is locked by envctl up (pid "), refused.stderr
        down = subprocess.Popen([*ENVCTL, "down"], cwd=tmp_path, env=quiet_env(), text=True,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        assert down.stderr is not None
        waiting = down.stderr.readline()  # barrier: down has seen the lock and is waiting on it
        assert waiting.startswith("waiting for envctl up (pid "), waiting
        assert down.poll() is None  # still waiting: nothing was uninstalled under the running up
    out, err = down.communicate(timeout=60)
    assert down.returncode == 0, err
    assert "release demo: not installed" in out
    assert not (tmp_path / ".envctl" / "up.lock.owner").exists()


def test_a_read_only_state_folder_is_one_error_line(tmp_path: Path) -> None:
    (tmp_path / "envctl.yaml").write_text(CONFIG)
    (tmp_path / ".envctl").mkdir()
    argv = under_mounts([(tmp_path / ".envctl", "ro,size=64k")], [*ENVCTL, "down"])
    done = subprocess.run(argv, cwd=tmp_path, env=quiet_env(), capture_output=True, text=True, timeout=60, check=False)
    assert_contract(done, (3,))
    assert done.stderr.startswith(f"error: cannot take the workspace lock {tmp_path}/.envctl/up.lock: Read-only"), done.stderr
