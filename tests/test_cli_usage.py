"""First contact with the CLI: usage errors read like every other error, help says what flags are,
and shell completion installs."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.cli import quiet_env, run_envctl

VERBS = ("init", "plan", "up", "down", "status", "timings", "doctor", "gc", "rbac")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        pytest.param(("up", "--jobs", "0"), "invalid value for '--jobs' / '-j'", id="up-jobs-0"),
        pytest.param(("timings", "--last", "0"), "invalid value for '--last'", id="timings-last-0"),
        pytest.param(("plan", "--bogus"), "no such option: --bogus", id="plan-unknown-flag"),
        pytest.param(("up", "--jobs", "many"), "invalid value for '--jobs' / '-j'", id="up-jobs-word"),
        pytest.param(("status", "extra"), "got unexpected extra argument(s) (extra)", id="extra-argument"),
        pytest.param(("init", "--force", "true"), "--force is a switch and takes no value", id="switch-given-true"),
        pytest.param(("down", "--yes", "no"), "--yes is a switch and takes no value", id="switch-given-no"),
        pytest.param(("plan", "--changed-only", "yes"), "--changed-only is a switch and takes no value", id="plan-switch"),
        pytest.param(("deploy",), "no such command 'deploy'", id="unknown-verb"),
    ],
)
def test_a_usage_error_is_one_error_line_and_one_hint_exit_2(tmp_path: Path, args: tuple[str, ...], message: str) -> None:
    done = run_envctl(*args, cwd=tmp_path)

    assert done.returncode == 2, done.stderr
    assert done.stdout == ""
    lines = done.stderr.splitlines()
    assert len(lines) == 2, done.stderr
    assert lines[0].startswith("error: ") and message in lines[0], lines[0]
    assert lines[1].startswith("hint: "), lines[1]
    assert list(tmp_path.iterdir()) == []  # nothing was written (init did not take `true` as its folder)


@pytest.mark.parametrize("verb", VERBS)
def test_help_shows_switches_without_a_value(tmp_path: Path, verb: str) -> None:
    done = run_envctl(verb, "--help", cwd=tmp_path)

    assert done.returncode == 0, done.stderr
    assert "<bool>" not in done.stdout
    assert "--help  " in done.stdout or "--help " in done.stdout


def test_shell_completion_installs_and_completes_verbs_and_flags(tmp_path: Path) -> None:
    env = quiet_env(HOME=str(tmp_path), SHELL="/bin/bash")

    installed = run_envctl("--install-completion", cwd=tmp_path, env=env)

    assert installed.returncode == 0, installed.stderr
    script = tmp_path / ".bash_completions" / "envctl.sh"
    assert "_ENVCTL_COMPLETE=complete_bash" in script.read_text()
    assert f"source '{script}'" in (tmp_path / ".bashrc").read_text()
    verbs = run_envctl(cwd=tmp_path, env={**env, "_ENVCTL_COMPLETE": "complete_bash", "COMP_WORDS": "envctl pl",
                                          "COMP_CWORD": "1"})  # fmt: skip
    assert verbs.stdout.split() == ["plan"]
    flags = run_envctl(cwd=tmp_path, env={**env, "_ENVCTL_COMPLETE": "complete_bash", "COMP_WORDS": "envctl up --lo",
                                          "COMP_CWORD": "2"})  # fmt: skip
    assert flags.stdout.split() == ["--load-mode"]
