"""`--verbose` shows every command envctl runs (argv, exit code, duration), never an environment value."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

from envctl.adapters.process import SubprocessRunner
from tests.support.cli import quiet_env, run_envctl


def test_the_choke_point_reports_argv_exit_and_duration_but_only_env_names() -> None:
    said: list[str] = []
    runner = SubprocessRunner(log=said.append)
    runner.run(["sh", "-c", "exit 3"], env={"REGISTRY_TOKEN": "s3cr3t-value"}, check=False)
    runner.run(["true"], stdin=b"stdin-secret")
    runner.pipe(["printf", "abc"], ["cat"])
    assert re.fullmatch(r"ran sh -c 'exit 3' \[env: REGISTRY_TOKEN\] -> exit 3 in \d+\.\d\d s", said[0]), said
    assert re.fullmatch(r"ran true -> exit 0 in \d+\.\d\d s", said[1]), said
    assert said[2].startswith("ran printf abc -> exit 0 (piped into cat)") and said[3].startswith("ran cat -> exit 0 (3 bytes in)")
    assert not any("s3cr3t" in line or "stdin-secret" in line for line in said)
    assert SubprocessRunner().run(["true"]).returncode == 0  # no log: nothing is said


def test_envctl_verbose_logs_the_commands_of_a_plan_to_stderr(tmp_path: Path) -> None:
    (tmp_path / "envctl.yaml").write_text("version: 1\n")
    subprocess.run(["git", "init", "-q"], cwd=tmp_path, check=True)
    quiet = run_envctl("plan", "--output", "json", cwd=tmp_path, env=quiet_env())
    loud = run_envctl("--verbose", "plan", "--output", "json", cwd=tmp_path, env=quiet_env())
    assert quiet.returncode == loud.returncode == 0, loud.stderr
    assert quiet.stdout == loud.stdout  # results unchanged; the log goes to stderr
    assert "ran git" not in quiet.stderr
    assert re.search(r"^ran git \S.* -> exit 0 in \d+\.\d\d s$", loud.stderr, re.MULTILINE), loud.stderr
