"""The fault suite: envctl against hostile input, signals and broken disks.

Every test here asserts the same contract from the outside (``run_envctl`` runs the CLI in this
process as tests/support/cli.py does, with exit code, stdout and stderr as a process gives them;
signals, locks and mounts use a real process, ``ENVCTL``): a documented exit code, one
``error:`` line and one ``hint:`` line on failure, never a traceback, and nothing left behind.

Property-based tests take their seed from ``ENVCTL_FAULT_SEED`` (random when unset); it is shown
under every failing test, so a failure is replayed with
``ENVCTL_FAULT_SEED=<seed> pytest tests/faults``.
"""

from __future__ import annotations

import os
import random
import subprocess
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path

import pytest

from tests.support.cli import quiet_env
from tests.support.cli import run_envctl as run_cli

ENVCTL = [sys.executable, "-m", "envctl"]
SEED = int(os.environ.get("ENVCTL_FAULT_SEED") or random.SystemRandom().randrange(2**32))


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    report = yield
    if report.failed and call.when == "call":
        report.sections.append(("fault suite seed", f"rerun with ENVCTL_FAULT_SEED={SEED}"))
    return report


def run_envctl(
    cwd: Path, *args: str, env: Mapping[str, str] | None = None, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    return run_cli(*args, cwd=cwd, env=env or quiet_env(), timeout=timeout)


def assert_contract(done: subprocess.CompletedProcess[str], allowed: tuple[int, ...]) -> None:
    """Exit code among ``allowed``; no traceback; a failure is exactly `error:` then `hint:`."""
    context = f"exit {done.returncode}\n--- stdout\n{done.stdout[-3000:]}\n--- stderr\n{done.stderr[-3000:]}"
    assert "Traceback" not in done.stderr, context
    assert done.returncode in allowed, context
    if done.returncode != 0:
        errors = [line for line in done.stderr.splitlines() if line.startswith("error: ")]
        assert len(errors) == 1, context
        lines = done.stderr.splitlines()
        at = lines.index(errors[0])
        assert at + 1 < len(lines) and lines[at + 1].startswith("hint: "), context


def under_mounts(mounts: list[tuple[Path, str]], argv: list[str]) -> list[str]:
    """``argv`` run in a private mount namespace where each (folder, options) is a fresh tmpfs.

    ``options`` such as ``ro`` (a read-only folder) or ``size=16k`` (a disk that fills up). The
    mounts exist only for that process and vanish with it: nothing to clean up, even on a crash.
    """
    script = " && ".join(f'mount -t tmpfs -o {options} tmpfs "${{{i + 1}}}"' for i, (_, options) in enumerate(mounts))
    script += f' && shift {len(mounts)} && exec "$@"' if mounts else 'exec "$@"'
    return ["unshare", "--mount", "--map-root-user", "sh", "-c", script, "sh", *(str(f) for f, _ in mounts), *argv]
