"""File snapshots of a workspace: paths plus git blob hashes, read without walking ignored trees.

Three sources, one shape (``Snapshot``):
* the git working tree: tracked files' blob hashes come from the index (``git ls-files --stage``, no file
  is read); files that ``git status`` reports modified or untracked are hashed here the way git
  does (``sha1("blob <len>\\0" + content)``), so a clean file hashes the same either way;
* a git ref (``--base REF``): ``git ls-tree -r`` gives every blob hash; file texts (Dockerfiles,
  ignore files) are read with ``git cat-file``;
* a folder that is not a git repository: walked (skipping VCS, virtualenv, dependency and envctl
  state folders) and hashed on demand.
Paths are POSIX and relative to the workspace root; files outside it are not listed.
"""

from __future__ import annotations

import hashlib
import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Generic, TypeVar

from envctl.adapters.git import Git
from envctl.adapters.process import SubprocessRunner
from envctl.errors import InputError

T = TypeVar("T")

__all__ = ["Snapshot", "blob_hash", "git_prefix", "snapshot_at_ref", "snapshot_filesystem", "snapshot_worktree"]

# Folders never walked in a non-git workspace: VCS data, virtualenvs, dependency caches, our state.
_SKIP_DIRS = frozenset({".git", ".hg", ".svn", ".venv", "venv", "node_modules", ".envctl", "__pycache__",
                        ".tox", ".nox", ".mypy_cache", ".pytest_cache", ".ruff_cache"})


def blob_hash(data: bytes) -> str:
    """git's object id of a blob with this content."""
    digest = hashlib.sha1(b"blob %d\0" % len(data), usedforsecurity=False)
    digest.update(data)
    return digest.hexdigest()


def _hash_file(path: Path) -> str:
    if path.is_symlink():  # git stores a symlink as a blob holding its target
        return blob_hash(os.readlink(path).encode())
    return blob_hash(path.read_bytes())


class Snapshot:
    """The files of a workspace at one point: ``paths``, ``blob(path)``, ``read(path)``."""

    def __init__(
        self,
        label: str,
        blobs: dict[str, str | None],
        reader: Callable[[str], bytes],
        disk_root: Path | None = None,
    ) -> None:
        self.label = label  # "working tree", "origin/main", ...
        self._blobs = blobs  # None = hash on first use (dirty/untracked or non-git files)
        self._reader = reader
        self.disk_root = disk_root  # set when the files are on disk (for ignored-by-git fallbacks)

    @property
    def paths(self) -> list[str]:
        return list(self._blobs)

    def __contains__(self, path: str) -> bool:
        return path in self._blobs

    def blob(self, path: str) -> str:
        known = self._blobs[path]
        if known is None:
            known = self._blobs[path] = blob_hash(self._reader(path))
        return known

    def read(self, path: str) -> bytes:
        return self._reader(path)

    def text(self, path: str) -> str | None:
        return self.read(path).decode("utf-8", errors="replace") if path in self._blobs else None


def git_prefix(runner: SubprocessRunner, root: Path) -> str | None:
    """The workspace's path inside its git repository ("" at the top), or None if not in a repo."""
    return Git(runner, root).prefix()


def snapshot_worktree(runner: SubprocessRunner, root: Path, prefix: str | None = None) -> Snapshot:
    """The working tree of a git workspace (tracked + untracked-not-ignored files).

    ``prefix`` is ``git_prefix(root)`` when the caller already knows it. The index listing and
    the status run concurrently (each is a separate git process).
    """
    git = Git(runner, root)
    status = _Background(git.status)
    blobs: dict[str, str | None] = {}
    for entry in git.index():
        if entry.mode == "160000":  # a submodule: not a file of this repository
            continue
        # stage != 0 is a merge conflict: the worktree file is what a build would read
        blobs[entry.path] = entry.sha if entry.stage == 0 else None
    if prefix is None:
        prefix = git.prefix() or ""
    for item in status.result():
        code, path = item.code, item.path
        if prefix:  # status prints repo-relative paths; ls-files printed cwd-relative ones
            if not path.startswith(prefix + "/"):
                continue
            path = path[len(prefix) + 1 :]
        if code == "??" or code[1] == "M" or code[1] == "T":
            blobs[path] = None
        elif code[1] == "D":
            blobs.pop(path, None)
    return Snapshot("working tree", blobs, lambda p: _read_disk(root, p), disk_root=root)


class _Background(Generic[T]):
    """Run a function on a thread now; ``result()`` joins and returns (or re-raises) its outcome."""

    def __init__(self, work: Callable[[], T]) -> None:
        self._value: T | None = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, args=(work,), daemon=True)
        self._thread.start()

    def _run(self, work: Callable[[], T]) -> None:
        try:
            self._value = work()
        except BaseException as exc:  # noqa: BLE001 - handed to the caller in result()
            self._error = exc

    def result(self) -> T:
        self._thread.join()
        if self._error is not None:
            raise self._error
        assert self._value is not None
        return self._value


def _read_disk(root: Path, path: str) -> bytes:
    full = root / path
    if full.is_symlink():
        return os.readlink(full).encode()
    return full.read_bytes()


def snapshot_at_ref(runner: SubprocessRunner, root: Path, ref: str) -> Snapshot:
    """The workspace's files as committed at ``ref``; InputError when ``ref`` is not a git ref."""
    git = Git(runner, root)
    commit = git.resolve_commit(ref)
    if commit is None:
        msg = f"--base {ref!r} is not a git ref in {root}"
        raise InputError(msg, hint="pass a branch, tag or commit that exists (e.g. `git fetch origin main` first)")
    blobs: dict[str, str | None] = {entry.path: entry.sha for entry in git.tree(commit) if entry.kind == "blob"}
    # Dockerfiles, ignore files and configs in ONE process (one per file costs more than all of them)
    wanted = [(path, sha) for path, sha in blobs.items() if sha is not None and _is_build_text(path)]
    batch = git.read_blobs([sha for _path, sha in wanted]) or []
    texts = {path: data for (path, _sha), data in zip(wanted, batch, strict=False)}

    def read(path: str) -> bytes:
        if path in texts:
            return texts[path]
        sha = blobs.get(path)
        if sha is None:
            raise FileNotFoundError(path)
        return git.read_blob(sha)

    return Snapshot(ref, blobs, read)


def _is_build_text(path: str) -> bool:
    name = path.rsplit("/", 1)[-1]
    return "Dockerfile" in name or name.endswith((".dockerignore", "envctl.yaml"))


def snapshot_filesystem(root: Path) -> Snapshot:
    """A folder that is not a git repository: walk it (pruning _SKIP_DIRS), hash files on demand."""
    blobs: dict[str, str | None] = {}
    for folder, dirs, files in os.walk(root):
        dirs[:] = sorted(d for d in dirs if d not in _SKIP_DIRS)
        rel = Path(folder).relative_to(root).as_posix()
        for name in files:
            blobs[name if rel == "." else f"{rel}/{name}"] = None
    return Snapshot("working tree", blobs, lambda p: _read_disk(root, p), disk_root=root)
