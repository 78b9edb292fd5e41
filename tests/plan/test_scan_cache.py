"""The working tree's scan kept across runs (scan_cache.py): used while nothing it reads changed,
bypassed by every change that could change an image. Real git, real files.

To see whether a plan came from the cache without counting calls, the kept entry is *poisoned*:
its fingerprints are overwritten (its key left alone). A plan served from the cache then shows the
poison; a plan that bypasses it shows the fingerprint a cache-less plan computes.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from envctl.adapters.process import SubprocessRunner
from envctl.config import load_config
from envctl.facts_cache import FactsCache
from envctl.plan import ImageFacts
from envctl.planning import plan_workspace

POISON = "0" * 64
NOTHING = ImageFacts(local=frozenset(), registry=frozenset())


def _git(root: Path, *args: str) -> None:
    subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@localhost", *args], cwd=root, check=True,
                   capture_output=True)  # fmt: skip


@pytest.fixture
def ws(tmp_path: Path) -> Path:
    root = tmp_path / "ws"
    (root / "api" / "src").mkdir(parents=True)
    (root / "web").mkdir()
    (root / "envctl.yaml").write_text(
        "version: 1\n"
        "cluster: {name: envctl-test-scan}\n"
        "services:\n"
        "  api: {image: envctl-test/api, context: ., dockerfile: api/Dockerfile}\n"
        "  web: {image: envctl-test/web, context: ., dockerfile: web/Dockerfile}\n"
    )
    (root / "api" / "Dockerfile").write_text("FROM busybox\nCOPY api/src /app\n")
    (root / "api" / "src" / "main.py").write_text("print('api')\n")
    (root / "api" / "src" / "util.py").write_text("X = 1\n")
    (root / "web" / "Dockerfile").write_text("FROM busybox\nCOPY web/index.html /srv/\n")
    (root / "web" / "index.html").write_text("<p>web</p>\n")
    (root / ".gitignore").write_text(".envctl/\nbuild/\n")
    (root / ".envctl").mkdir()  # as after any `envctl up`
    _git(root, "init", "-q", "-b", "main")
    _git(root, "add", "-A")
    _git(root, "commit", "-qm", "ws")
    return root


def _fingerprints(root: Path, *, cached: bool = True) -> dict[str, str]:
    config_path = root / "envctl.yaml"
    plan = plan_workspace(load_config(config_path), root, config_path, SubprocessRunner(), facts=NOTHING,
                          scan_cache=FactsCache(root / ".envctl" / "cache") if cached else None)  # fmt: skip
    return {service.name: service.fingerprint for service in plan.services}


def _poison(root: Path) -> None:
    entry = root / ".envctl" / "cache" / "scan.json"
    data = json.loads(entry.read_text())
    data["value"]["fingerprints"] = dict.fromkeys(data["value"]["fingerprints"], POISON)
    entry.write_text(json.dumps(data))


def _kept_then_poisoned(root: Path) -> dict[str, str]:
    first = _fingerprints(root)
    assert first == _fingerprints(root, cached=False)
    _poison(root)
    return first


def test_nothing_changed_is_served_from_the_cache(ws: Path) -> None:
    _kept_then_poisoned(ws)
    assert _fingerprints(ws) == {"api": POISON, "web": POISON}


@pytest.mark.parametrize(
    "change",
    [
        pytest.param(lambda ws: (ws / "api/src/main.py").write_text("print('API')\n"), id="edited-same-size"),
        pytest.param(lambda ws: (ws / "api/src/main.py").chmod(0o755), id="chmod"),
        pytest.param(lambda ws: (ws / "api/src/new.py").write_text("x = 1\n"), id="new-untracked-file"),
        pytest.param(lambda ws: (ws / "web/Dockerfile").write_text("FROM busybox\nCOPY web /srv/\n"), id="dockerfile"),
        pytest.param(lambda ws: (ws / "envctl.yaml").write_text((ws / "envctl.yaml").read_text().replace(
            "dockerfile: api/Dockerfile}", "dockerfile: api/Dockerfile, build_args: {V: '2'}}")), id="config"),
        pytest.param(lambda ws: (ws / "api/src/main.py").unlink(), id="deleted"),
        pytest.param(lambda ws: (ws / "api/src/empty").mkdir(), id="new-empty-folder"),
    ],
)
def test_a_change_an_image_could_see_bypasses_the_cache(ws: Path, change: object) -> None:
    _kept_then_poisoned(ws)
    change(ws)  # type: ignore[operator]

    now = _fingerprints(ws)

    assert POISON not in now.values()
    assert now == _fingerprints(ws, cached=False)


def test_a_dirty_file_is_hashed_again_on_every_run(ws: Path) -> None:
    (ws / "api/src/main.py").write_text("print('one')\n")
    _kept_then_poisoned(ws)
    assert _fingerprints(ws)["api"] == POISON  # the same dirty content: a hit
    # dirty before and after, same size, same status line: only its content tells
    (ws / "api/src/main.py").write_text("print('two')\n")

    now = _fingerprints(ws)

    assert POISON not in now.values()
    assert now == _fingerprints(ws, cached=False)


def test_a_commit_changes_the_index_and_bypasses_the_cache(ws: Path) -> None:
    (ws / "web/index.html").write_text("<p>new</p>\n")
    before = _fingerprints(ws)
    _git(ws, "commit", "-qam", "web")
    _poison(ws)

    assert _fingerprints(ws) == before  # the same content, now from the index: not the poison


def test_a_workspace_never_brought_up_is_left_untouched(ws: Path) -> None:
    (ws / ".envctl").rmdir()
    first = _fingerprints(ws)
    assert not (ws / ".envctl").exists()
    assert _fingerprints(ws) == first


def test_a_corrupt_or_foreign_cache_file_is_ignored_and_replaced(ws: Path) -> None:
    first = _fingerprints(ws)
    entry = ws / ".envctl" / "cache" / "scan.json"
    for junk in ("{", "[]", '{"key": 1, "value": []}', "\x00\xff"):
        entry.write_text(junk)
        assert _fingerprints(ws) == first
    _poison(ws)
    assert _fingerprints(ws) == {"api": POISON, "web": POISON}  # rewritten whole by the last plan


def test_a_scan_that_read_a_file_git_ignores_is_not_kept(ws: Path) -> None:
    (ws / "build").mkdir()
    (ws / "build" / "app.whl").write_text("wheel 1\n")
    (ws / "api/Dockerfile").write_text("FROM busybox\nCOPY api/src /app\nCOPY build /wheels\n")
    first = _fingerprints(ws)
    assert not (ws / ".envctl" / "cache" / "scan.json").exists()
    (ws / "build" / "app.whl").write_text("wheel 2\n")  # git status does not see it

    assert _fingerprints(ws)["api"] != first["api"]


def test_a_scan_whose_image_copies_git_itself_is_not_kept(ws: Path) -> None:
    # `COPY .` at the repository root carries .git: a commit that leaves every file and the index as
    # they were still changes the image, and no key made of git's listing would see it
    (ws / "api/Dockerfile").write_text("FROM busybox\nCOPY . /app\n")
    first = _fingerprints(ws)
    assert not (ws / ".envctl" / "cache" / "scan.json").exists()
    _git(ws, "commit", "-q", "--allow-empty", "-m", "nothing but a commit")

    now = _fingerprints(ws)
    assert now["api"] != first["api"]
    assert now["web"] == first["web"]


def test_envctl_state_files_do_not_change_the_key(ws: Path) -> None:
    (ws / ".gitignore").write_text("build/\n")  # .envctl/ no longer ignored: status lists its files
    _git(ws, "commit", "-qam", "state visible")
    _kept_then_poisoned(ws)
    runs = ws / ".envctl" / "runs"
    runs.mkdir(parents=True)
    (runs / "run-1.json").write_text("{}")

    assert _fingerprints(ws) == {"api": POISON, "web": POISON}


def test_a_workspace_outside_git_is_scanned_every_time(tmp_path: Path, ws: Path) -> None:
    plain = tmp_path / "plain"
    subprocess.run(["cp", "-r", str(ws), str(plain)], check=True)
    subprocess.run(["rm", "-rf", str(plain / ".git")], check=True)
    first = _fingerprints(plain)
    assert not (plain / ".envctl" / "cache" / "scan.json").exists()
    (plain / "api/src/main.py").write_text("print('changed')\n")
    assert _fingerprints(plain)["api"] != first["api"]
