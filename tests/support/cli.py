"""Run envctl as a test: the one helper every test uses to call the CLI.

By default the CLI runs **in this process**: ``envctl.cli.main()`` with ``sys.argv``, the
environment, the working folder and stdin/stdout/stderr swapped for the call and restored after it,
so a test pays for envctl's imports once per session instead of once per call (~0.3–2 s each on a
busy 2-core machine). What a test observes is what a process would give it: the exit code
(``SystemExit``), stdout and stderr apart, and an unexpected exception as a traceback on stderr with
exit 1, as Python prints it.

``process=True`` runs ``python -m envctl`` instead. Use it where the process itself is the subject:
signals, locks held by another process, children left behind, and the one contract test per verb
(tests/test_cli_contract.py) that keeps the in-process runs honest.
"""

from __future__ import annotations

import contextlib
import io
import os
import subprocess
import sys
import threading
import traceback
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

__all__ = ["committed_workspace", "quiet_env", "run_envctl"]

_one_at_a_time = threading.Lock()  # the process-wide state swapped below is shared by every thread


def quiet_env(**extra: str) -> dict[str, str]:
    """The child's environment: no CI variables, no Docker (plan facts stay deterministic)."""
    # ENVCTL_TEST_PYTHON stays: it is the test session's interpreter, not an envctl setting, and the
    # stand-ins re-run under it when a bare PATH starts them with a python3 that lacks their
    # dependencies (in a clone with no .venv of its own, as CI's newcomer run is, there is no other).
    env = {
        k: v for k, v in os.environ.items()
        if k == "ENVCTL_TEST_PYTHON" or not k.startswith(("GITHUB_", "ENVCTL_", "CI"))
    }  # fmt: skip
    env["ENVCTL_DOCKER"] = "/nonexistent/docker"
    env.update(extra)
    return env


def committed_workspace(root: Path, files: Mapping[str, str]) -> Path:
    """``files`` (path relative to ``root`` -> text) written under ``root``, committed on branch main."""
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@example.invalid"]
    for argv in ([*git, "init", "-q", "-b", "main"], [*git, "add", "-A"], [*git, "commit", "-qm", "ws"]):
        subprocess.run(argv, cwd=root, check=True, capture_output=True)
    return root


def run_envctl(
    *args: str,
    cwd: Path | str,
    env: Mapping[str, str] | None = None,
    stdin: str = "",
    timeout: float = 120,
    process: bool = False,
) -> subprocess.CompletedProcess[str]:
    """``envctl ARGS`` in ``cwd`` with ``env`` (default: ``quiet_env()``); never raises on a non-zero exit.
    ``timeout`` bounds a process run (a hang); an in-process run is bounded by pytest's timeout."""
    environ = dict(env if env is not None else quiet_env())
    argv = ["envctl", *args]
    if process:
        return subprocess.run(
            [sys.executable, "-m", "envctl", *args], cwd=cwd, env=environ, input=stdin, capture_output=True,
            text=True, timeout=timeout, check=False,
        )  # fmt: skip
    with _one_at_a_time, _swapped(argv, Path(cwd), environ, stdin) as (out, err):
        code = _main(err)
    return subprocess.CompletedProcess(argv, code, out.getvalue(), err.getvalue())


def _main(err: io.StringIO) -> int:
    from envctl.cli import main

    try:
        main()
    except SystemExit as exc:
        if exc.code is None:
            return 0
        if isinstance(exc.code, int):
            return exc.code
        err.write(f"{exc.code}\n")
        return 1
    except BaseException:  # noqa: BLE001 - what the interpreter would print for an uncaught exception
        err.write(traceback.format_exc())
        return 1
    return 0


@contextlib.contextmanager
def _swapped(
    argv: Sequence[str], cwd: Path, environ: dict[str, str], stdin: str
) -> Iterator[tuple[io.StringIO, io.StringIO]]:
    from envctl import output

    saved_env, saved_cwd = dict(os.environ), Path.cwd()
    saved_streams = (sys.argv, sys.stdin, sys.stdout, sys.stderr)
    out, err = io.StringIO(), io.StringIO()
    os.environ.clear()
    os.environ.update(environ)
    os.chdir(cwd)
    sys.argv, sys.stdin, sys.stdout, sys.stderr = list(argv), io.StringIO(stdin), out, err
    output.reset()  # consoles are made on first use, against the streams and COLUMNS of this run
    try:
        yield out, err
    finally:
        sys.argv, sys.stdin, sys.stdout, sys.stderr = saved_streams
        os.chdir(saved_cwd)
        os.environ.clear()
        os.environ.update(saved_env)
        output.reset()
