"""File modes, symlinks, empty folders and containment in the fingerprint (real git repositories).

Which behaviour is BuildKit's is shown by real builds in test_buildkit_parity.py; here each rule
is pinned on the fingerprint alone, in process.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from envctl.adapters.process import SubprocessRunner
from envctl.config import EnvConfig
from envctl.errors import InputError
from envctl.inputs.gitstate import snapshot_at_ref, snapshot_filesystem, snapshot_worktree
from envctl.inputs.scan import scan_services
from tests.plan.conftest import commit_all, init_repo, write_files


def _config(dockerfile: str = "svc/Dockerfile", context: str = ".") -> EnvConfig:
    return EnvConfig.model_validate(yaml.safe_load(
        f"version: 1\nservices:\n  svc:\n    dockerfile: {dockerfile}\n    context: {context}\n    image: t/svc\n"
    ))


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    root = init_repo(tmp_path / "ws")
    write_files(root, {
        "svc/Dockerfile": "FROM scratch\nCOPY app /app\nCOPY run.sh /\n",
        "app/main.py": "print(1)\n",
        "app/lib/util.py": "U = 1\n",
        "run.sh": "echo\n",
        "other.txt": "not copied\n",
    })
    commit_all(root, "one")
    return root


def fingerprint(root: Path, config: EnvConfig | None = None, ref: str | None = None) -> str:
    runner = SubprocessRunner()
    snap = snapshot_at_ref(runner, root, ref) if ref else snapshot_worktree(runner, root)
    return scan_services((config or _config()).services, snap, strict=True).fingerprints["svc"]


def test_executable_bit_changes_the_fingerprint_dirty_and_committed_alike(repo: Path) -> None:
    before = fingerprint(repo)
    (repo / "run.sh").chmod(0o755)
    dirty = fingerprint(repo)
    assert dirty != before
    commit_all(repo, "chmod")
    assert fingerprint(repo) == dirty == fingerprint(repo, ref="HEAD")
    assert fingerprint(repo, ref="HEAD~1") == before
    (repo / "run.sh").chmod(0o744)  # git (and the fingerprint) record only the owner's x bit
    assert fingerprint(repo) == dirty


def test_non_git_workspace_folds_the_executable_bit(repo: Path) -> None:
    import shutil

    shutil.rmtree(repo / ".git")
    def snap():
        return scan_services(_config().services, snapshot_filesystem(repo), strict=True).fingerprints["svc"]
    before = snap()
    (repo / "run.sh").chmod(0o755)
    assert snap() != before


def test_links_inside_a_copied_folder_are_hashed_as_links(repo: Path) -> None:
    os.symlink("../other.txt", repo / "app/link")
    commit_all(repo, "link")
    before = fingerprint(repo)
    (repo / "other.txt").write_text("edited, and copied only through the link\n")
    assert fingerprint(repo) == before  # BuildKit copies the link, not what it points to
    (repo / "app/link").unlink()
    os.symlink("../run.sh", repo / "app/link")
    assert fingerprint(repo) != before
    (repo / "app/link").unlink()
    (repo / "app/link").write_text("../run.sh")  # same text as a regular file: another layer
    assert fingerprint(repo) not in (before, fingerprint(repo, ref="HEAD"))


def test_a_symlinked_source_is_followed(repo: Path) -> None:
    (repo / "svc/Dockerfile").write_text("FROM scratch\nCOPY current /app/\n")
    os.symlink("app/main.py", repo / "current")
    before = fingerprint(repo)
    (repo / "app/main.py").write_text("print(2)\n")
    assert fingerprint(repo) != before


def test_a_symlinked_dockerfile_is_read_as_its_target(repo: Path) -> None:
    (repo / "svc/real.Dockerfile").write_text("FROM scratch\nCOPY other.txt /\n")
    config = _config(dockerfile="svc/link.Dockerfile")
    os.symlink("real.Dockerfile", repo / "svc/link.Dockerfile")
    before = fingerprint(repo, config)
    (repo / "other.txt").write_text("now an input\n")
    assert fingerprint(repo, config) != before


ESCAPES: list[tuple[str, Callable[[Path, Path], EnvConfig | None], str]] = [
    ("context", lambda r, out: (os.symlink(out, r / "ctx"), _config(context="ctx"))[1], "symlink ctx points to"),
    ("dockerfile", lambda r, out: (os.symlink(out / "Dockerfile", r / "svc/Df"), _config(dockerfile="svc/Df"))[1],
     "symlink svc/Df points to"),
    ("folder-in-a-source", lambda r, out: (os.symlink(out, r / "app/lib/ext"), None)[1], "symlink app/lib/ext points to"),
    ("relative-link-climbing-out", lambda r, _out: (os.symlink("../../../outside/secret", r / "app/s"), None)[1],
     "symlink app/s points to '../../../outside/secret', outside the workspace"),
]


@pytest.mark.parametrize(("how", "make"), [pytest.param(m, e, id=i) for i, e, m in ESCAPES])
def test_a_link_out_of_the_workspace_is_refused_naming_it(repo: Path, tmp_path: Path, how: str, make) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret").write_text("host secret\n")
    (outside / "Dockerfile").write_text("FROM scratch\nCOPY app /app\n")
    config = make(repo, outside)
    with pytest.raises(InputError) as caught:
        fingerprint(repo, config)
    assert how in caught.value.message
    assert "outside" in caught.value.message and caught.value.hint


def test_a_source_through_a_link_out_of_the_context_is_refused(repo: Path) -> None:
    (repo / "svc/Dockerfile").write_text("FROM scratch\nCOPY up/run.sh /\n")
    os.symlink("..", repo / "svc/up")
    with pytest.raises(InputError, match="outside the build context svc"):
        fingerprint(repo, _config(context="svc"))


def test_a_dangling_link_matched_by_a_wildcard_is_named_whole_even_with_colons(repo: Path) -> None:
    (repo / "svc/Dockerfile").write_text("FROM scratch\nCOPY l* /d/\n")
    os.symlink("t:2.go", repo / "l:1")  # its target does not exist
    with pytest.raises(InputError) as caught:
        fingerprint(repo)
    assert "matches the symlink 'l:1', whose target 't:2.go' is not in the build context" in caught.value.message
    assert '"/t:2.go" not found' in caught.value.message


def test_empty_folders(repo: Path) -> None:
    before = fingerprint(repo)
    (repo / "app/empty").mkdir()  # git cannot record it, BuildKit copies it
    with_empty = fingerprint(repo)
    assert with_empty != before
    (repo / "svc/Dockerfile").write_text("FROM scratch\nCOPY app/empty /x\n")
    fingerprint(repo)  # BuildKit builds `COPY emptydir`: so does the plan


def test_wildcards_that_match_nothing_are_accepted(repo: Path) -> None:
    (repo / "svc/Dockerfile").write_text("FROM scratch\nADD *.go *.none /tmp/\n")
    before = fingerprint(repo)
    (repo / "main.go").write_text("package main\n")
    assert fingerprint(repo) != before


def test_a_folder_holding_only_ignored_files_is_still_copied(repo: Path) -> None:
    (repo / ".dockerignore").write_text("**/*.md\n")
    before = fingerprint(repo)
    (repo / "app/docs").mkdir()
    (repo / "app/docs/README.md").write_text("# ignored, but its folder is sent\n")
    assert fingerprint(repo) != before
    (repo / ".dockerignore").write_text("**/*.md\napp/docs\n")
    assert fingerprint(repo) == before


def test_extra_inputs_globs(repo: Path) -> None:
    def config(pattern: str) -> EnvConfig:
        return EnvConfig.model_validate({"version": 1, "services": {"svc": {
            "dockerfile": "svc/Dockerfile", "image": "t/svc", "extra_inputs": [pattern]}}})

    before = fingerprint(repo, config("[!o]ther.txt"))  # `!` is a member of the class, not a negation
    (repo / "other.txt").write_text("edited\n")
    assert fingerprint(repo, config("[!o]ther.txt")) != before
    assert fingerprint(repo, config("[z-a]*")) == fingerprint(repo, config("nothing-matches"))
    with pytest.raises(InputError, match="extra_inputs pattern '\\[': syntax error in pattern"):
        fingerprint(repo, config("["))


def test_an_all_excluding_ignore_file_in_a_sub_context(repo: Path) -> None:
    (repo / "svc/Dockerfile").write_text("FROM scratch\nCOPY . /x\n")
    (repo / "svc/.dockerignore").write_text("*\n")
    config = _config(context="svc")
    before = fingerprint(repo, config)  # BuildKit builds it (the context itself is never excluded)
    (repo / "svc/new.txt").write_text("excluded\n")
    assert fingerprint(repo, config) == before


def test_an_excluded_folder_with_an_exception_under_it_is_still_sent(repo: Path) -> None:
    """Found by the differential test (seed 1843013397): `!app/keep.txt` then `app` in .dockerignore,
    COPY app: BuildKit sends the folder (its walker enters it for the exception) and builds."""
    (repo / ".dockerignore").write_text("!app/keep.txt\napp\n")
    before = fingerprint(repo)
    (repo / "app/main.py").write_text("excluded\n")
    assert fingerprint(repo) == before
    (repo / ".dockerignore").write_text("app\n")
    with pytest.raises(InputError, match=r"it is excluded by \.dockerignore"):
        fingerprint(repo)


def test_folders_inside_an_empty_folder_tree(repo: Path) -> None:
    """Found by the differential test (seeds 20261201, 3241158266): git reports only the top of an
    untracked tree of empty folders, BuildKit copies every folder of it."""
    (repo / "svc/Dockerfile").write_text("FROM scratch\nCOPY tree /t\n")
    (repo / "tree/empty").mkdir(parents=True)
    before = fingerprint(repo)
    (repo / "tree/new").mkdir()
    assert fingerprint(repo) != before
    (repo / "svc/Dockerfile").write_text("FROM scratch\nCOPY tree/empty /t\n")
    fingerprint(repo)  # a nested empty folder is a source BuildKit copies


def test_a_folder_emptied_by_deleting_its_tracked_files(repo: Path) -> None:
    """Found by the differential test: `rm app/lib/util.py` leaves app/lib an empty folder on disk.
    git still counts the folder as tracked (so does not list it as untracked), BuildKit copies it:
    the dirty state must fingerprint as the committed one, and `COPY app/lib` still plans."""
    (repo / "svc/Dockerfile").write_text("FROM scratch\nCOPY app /app\nCOPY app/lib /lib\n")
    commit_all(repo, "copy lib")
    before = fingerprint(repo)
    (repo / "app/lib/util.py").unlink()
    dirty = fingerprint(repo)
    assert dirty != before
    commit_all(repo, "lib emptied")
    assert fingerprint(repo) == dirty
    (repo / "app/main.py").unlink()  # app now holds only the empty app/lib
    (repo / "svc/Dockerfile").write_text("FROM scratch\nCOPY app /app\n")
    dirty = fingerprint(repo)
    commit_all(repo, "app emptied")
    assert fingerprint(repo) == dirty


def test_an_empty_folder_next_to_new_files_in_an_untracked_tree(repo: Path) -> None:
    """Found by the differential test: git names only `new/` for an untracked tree holding a file
    and an empty folder; BuildKit copies the empty folder too, dirty or committed."""
    (repo / "svc/Dockerfile").write_text("FROM scratch\nCOPY new/e /e\n")
    (repo / "new/e").mkdir(parents=True)
    (repo / "new/sub").mkdir()
    (repo / "new/sub/f.txt").write_text("f\n")
    dirty = fingerprint(repo)
    commit_all(repo, "new")
    assert fingerprint(repo) == dirty
