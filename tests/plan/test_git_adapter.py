"""The git adapter against real repositories: parsed results and the exact command lines it runs."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from envctl.adapters.git import Git, IndexEntry, StatusEntry
from envctl.adapters.process import CompletedCommand, SubprocessRunner
from tests.plan.conftest import commit_all, git, init_repo


class RecordingRunner(SubprocessRunner):
    """The real runner, remembering each argv it ran."""

    def __init__(self) -> None:
        super().__init__()
        self.argvs: list[list[str]] = []

    def run(self, argv: Sequence[str], **kwargs: Any) -> CompletedCommand:
        self.argvs.append(list(argv))
        return super().run(argv, **kwargs)


def _repo(tmp_path: Path) -> Path:
    root = init_repo(tmp_path / "repo")
    (root / "sub/dir").mkdir(parents=True)
    (root / "sub/dir/a b.txt").write_text("a\n")
    (root / "sub/run.sh").write_text("echo\n")
    (root / "sub/run.sh").chmod(0o755)
    os.symlink("dir/a b.txt", root / "sub/link")
    (root / "top.txt").write_text("top\n")
    commit_all(root, "one")
    return root


def test_index_tree_and_status_of_a_subfolder(tmp_path: Path) -> None:
    root = _repo(tmp_path)
    runner = RecordingRunner()
    sub = Git(runner, root / "sub")
    assert sub.prefix() == "sub"
    assert Git(runner, root).prefix() == ""
    index = {entry.path: entry for entry in sub.index()}
    assert {path: entry.mode for path, entry in index.items()} == {
        "dir/a b.txt": "100644", "link": "120000", "run.sh": "100755",
    }
    assert index["link"] == IndexEntry("120000", git(root, "rev-parse", "HEAD:sub/link").strip(), 0, "link")
    commit = sub.resolve_commit("main")
    assert commit == git(root, "rev-parse", "HEAD").strip()
    assert {(e.path, e.mode, e.kind) for e in sub.tree(commit)} == {
        ("dir/a b.txt", "100644", "blob"), ("link", "120000", "blob"), ("run.sh", "100755", "blob"),
    }
    (root / "sub/run.sh").chmod(0o644)
    (root / "sub/new file").write_text("n\n")
    (root / "top.txt").write_text("changed\n")
    assert sorted(sub.status(), key=lambda e: e.path) == [
        StatusEntry("??", "sub/new file"), StatusEntry(" M", "sub/run.sh"),
    ]
    blob = index["dir/a b.txt"].sha
    assert sub.read_blob(blob) == b"a\n"
    assert sub.read_blobs([blob, index["link"].sha]) == [b"a\n", b"dir/a b.txt"]
    assert sub.resolve_commit("--help") is None
    assert sub.head() == (commit, "main")
    assert runner.argvs == [
        ["git", "rev-parse", "--show-prefix"],
        ["git", "rev-parse", "--show-prefix"],
        ["git", "ls-files", "--stage", "-z"],
        ["git", "rev-parse", "--verify", "--quiet", "--end-of-options", "main^{commit}"],
        ["git", "ls-tree", "-r", "-z", commit],
        ["git", "--no-optional-locks", "status", "--porcelain=v1", "-z", "--untracked-files=all", "--no-renames",
         "--ignore-submodules", "."],
        ["git", "cat-file", "blob", blob],
        ["git", "cat-file", "--batch"],
        ["git", "rev-parse", "--verify", "--quiet", "--end-of-options", "--help^{commit}"],
        ["git", "rev-parse", "HEAD"],
        ["git", "rev-parse", "--abbrev-ref", "HEAD"],
    ]


def test_outside_a_repository(tmp_path: Path) -> None:
    outside = Git(SubprocessRunner(), tmp_path)
    assert outside.prefix() is None
    assert outside.head() == (None, None)
    no_git = Git(SubprocessRunner({"PATH": str(tmp_path)}), tmp_path)
    assert no_git.prefix() is None
    assert no_git.head() == (None, None)
