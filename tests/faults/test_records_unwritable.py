"""Records never hide outcomes: a real `envctl up` whose run record cannot be written.

`.envctl/runs` is made a full disk (a 16 KiB tmpfs filled to the last byte) or a read-only folder,
for that one process only (a private mount namespace, tests/faults/conftest.py ``under_mounts``).
Whatever the run did stands: a failed build is still `error:`/`hint:` and exit 4, a success still
exits 0; the lost record is one `warning:` line on stderr; the CI outputs are still written.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.faults.conftest import assert_contract
from tests.pipeline.conftest import UpWorld, make_world

pytestmark = pytest.mark.docker

# A 16 KiB tmpfs, then a file that takes every byte of it: the next write fails with ENOSPC.
FULL = (16 * 1024, "full")
READ_ONLY = (0, "ro")


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory, docker_engine: str, base_image: str) -> Iterator[UpWorld]:
    with make_world(tmp_path_factory.mktemp("records"), docker_engine, base_image) as made, made.kubelet():
        yield made


def up_with_runs(world: UpWorld, mount: tuple[int, str], ci: Path) -> subprocess.CompletedProcess[str]:
    """`envctl up` with ``.envctl/runs`` on a tmpfs that is full or read-only (for this process only)."""
    runs = world.workspace / ".envctl" / "runs"
    runs.mkdir(parents=True, exist_ok=True)
    size, how = mount
    if how == "full":
        prepare = f'mount -t tmpfs -o size={size} tmpfs "$1" && {{ cat /dev/zero >"$1/.fill" 2>/dev/null; true; }}'
    else:
        prepare = 'mount -t tmpfs -o ro,size=64k tmpfs "$1"'
    argv = ["unshare", "--mount", "--map-root-user", "sh", "-c", f'{prepare} && shift && exec "$@"', "sh",
            str(runs), sys.executable, "-m", "envctl", "up"]  # fmt: skip
    env = {**world.env, "GITHUB_OUTPUT": str(ci / "output"), "GITHUB_STEP_SUMMARY": str(ci / "summary.md")}
    return subprocess.run(argv, cwd=world.workspace, env=env, capture_output=True, text=True, timeout=300,
                          check=False)  # fmt: skip


def outputs(ci: Path) -> dict[str, str]:
    return dict(line.split("=", 1) for line in (ci / "output").read_text().splitlines())


def warning_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("warning: ")]


@pytest.mark.parametrize("mount", [FULL, READ_ONLY], ids=["disk-full", "read-only"])
def test_a_failed_build_still_fails_with_its_own_error_when_the_record_cannot_be_written(
    world: UpWorld, mount: tuple[int, str], tmp_path: Path
) -> None:
    dockerfile = world.workspace / "examples" / "services" / "web" / "Dockerfile"
    original = dockerfile.read_text()
    dockerfile.write_text(original + f"RUN echo {tmp_path.name} && false\n")
    world.git("commit", "-qam", "a failing web build")
    try:
        done = up_with_runs(world, mount, tmp_path)
    finally:
        dockerfile.write_text(original)
        world.git("commit", "-qam", "web builds again")
    assert done.returncode == 4, done.stderr
    assert "Traceback" not in done.stderr, done.stderr
    lines = done.stderr.splitlines()
    [error] = [line for line in lines if line.startswith("error: ")]  # followed by the build log's tail
    assert error.startswith("error: build of web failed at step"), done.stderr
    assert any(line.startswith("hint: ") for line in lines[lines.index(error):]), done.stderr
    [warning] = warning_lines(done.stderr)
    reason = "No space left on device" if mount[1] == "full" else "Read-only file system"
    assert warning.startswith("warning: run ") and f"not recorded: {reason} (the run itself failed)" in warning
    assert "recorded; `envctl timings`" not in done.stderr
    assert outputs(tmp_path)["run_id"] in warning  # the CI outputs name the run all the same
    assert "— failed" in (tmp_path / "summary.md").read_text()
    assert [p.name for p in (world.workspace / ".envctl" / "runs").iterdir()] == []  # the mount left with it


def test_a_success_exits_0_when_the_disk_is_full_and_the_next_run_records_again(
    world: UpWorld, tmp_path: Path
) -> None:
    done = up_with_runs(world, FULL, tmp_path)
    assert_contract(done, (0,))
    [warning] = warning_lines(done.stderr)
    assert "not recorded: No space left on device (the run itself ok)" in warning
    ci = outputs(tmp_path)
    assert ci["run_id"] in warning and float(ci["duration_seconds"]) >= 0
    assert "web" in json.loads(ci["changed_services"])  # rebuilt after the failed builds above
    assert "— ok" in (tmp_path / "summary.md").read_text()

    again = world.envctl("up")  # a disk with room again: recorded as usual
    assert again.returncode == 0, again.stderr
    assert warning_lines(again.stderr) == []
    [run] = world.runs()
    assert run["run"]["outcome"] == "ok"
