"""Fixtures for plan tests: real git monorepos in tmp_path and the envctl CLI (tests/support/cli.py)."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.support.cli import run_envctl as run_cli

# A monorepo laid out like the issue's: services/X/Dockerfile with repo-root contexts, a shared
# library, and web copying a sibling service's folder (api/static).
MONOREPO: dict[str, str] = {
    "envctl.yaml": """\
version: 1
services:
  api:
    dockerfile: services/api/Dockerfile
    image: mono/api
  web:
    dockerfile: services/web/Dockerfile
    image: mono/web
  worker:
    dockerfile: services/worker/Dockerfile
    image: mono/worker
    build_args: {MODE: fast}
""",
    ".dockerignore": "**/*.md\n**/tmp\n!services/web/pages/*.md\n",
    "libs/common/db.py": "DB = 'postgres'\n",
    "libs/common/util.py": "def util():\n    return 1\n",
    "libs/common/README.md": "# common\n",
    "services/api/Dockerfile": (
        "ARG BASE_IMAGE=busybox:1.36\nFROM ${BASE_IMAGE}\nCOPY libs/common /app/common\n"
        "COPY services/api/app.py /app/\nCOPY services/api/static /srv\n"
    ),
    "services/api/app.py": "print('api')\n",
    "services/api/static/index.html": "<p>api</p>\n",
    "services/api/NOTES.txt": "not copied\n",
    "services/web/Dockerfile": (
        "FROM busybox:1.36\nCOPY services/web/pages /srv\nCOPY services/api/static /srv/api\n"
    ),
    "services/web/pages/index.html": "<p>web</p>\n",
    "services/web/pages/about.md": "about\n",
    "services/worker/Dockerfile": (
        "FROM busybox:1.36 AS build\nARG MODE=slow\nCOPY services/worker/${MODE}.sh /w.sh\n"
        "FROM busybox:1.36\nCOPY libs/common /app/common\nCOPY --from=build /w.sh /w.sh\n"
    ),
    "services/worker/fast.sh": "echo fast\n",
    "services/worker/slow.sh": "echo slow\n",
}


def write_files(root: Path, files: dict[str, str]) -> None:
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")


def git(root: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=root, check=True, capture_output=True, text=True).stdout


def commit_all(root: Path, message: str) -> str:
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", message)
    return git(root, "rev-parse", "HEAD").strip()


def init_repo(root: Path) -> Path:
    """A new, empty git repository (branch main) at ``root``, with a committer identity."""
    root.mkdir(parents=True, exist_ok=True)
    git(root, "init", "-q", "-b", "main")
    git(root, "config", "user.email", "t@example.invalid")
    git(root, "config", "user.name", "t")
    return root


@pytest.fixture
def monorepo(tmp_path: Path) -> Path:
    """A committed git monorepo (tag `v1` = first commit)."""
    root = init_repo(tmp_path / "mono")
    write_files(root, MONOREPO)
    commit_all(root, "initial")
    git(root, "tag", "v1")
    return root


def envctl_env(**extra: str) -> dict[str, str]:
    """The environment for the envctl child: no Docker (deterministic facts), no CI variables."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GITHUB_", "ENVCTL_"))}
    env["ENVCTL_DOCKER"] = "/nonexistent/docker"
    env.update(extra)
    return env


@pytest.fixture
def run_envctl() -> Callable[..., subprocess.CompletedProcess[str]]:
    def run(cwd: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        return run_cli(*args, cwd=cwd, env=env or envctl_env())

    return run


@pytest.fixture
def plan_json(run_envctl: Callable[..., subprocess.CompletedProcess[str]]) -> Callable[..., dict]:
    def run(cwd: Path, *args: str, env: dict[str, str] | None = None) -> dict:
        done = run_envctl(cwd, "plan", "--output", "json", *args, env=env)
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout)

    return run
