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
import stat
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Generic, TypeVar

from envctl.adapters.git import Git, parse_index
from envctl.adapters.process import SubprocessRunner
from envctl.errors import InputError

T = TypeVar("T")

__all__ = [
    "Snapshot", "WorktreeListing", "blob_hash", "disk_identity", "git_prefix", "list_worktree", "snapshot_at_ref",
    "snapshot_filesystem", "snapshot_worktree",
]  # fmt: skip

# Folders never walked in a non-git workspace: VCS data, virtualenvs, dependency caches, our state.
_SKIP_DIRS = frozenset({".git", ".hg", ".svn", ".venv", "venv", "node_modules", ".envctl", "__pycache__",
                        ".tox", ".nox", ".mypy_cache", ".pytest_cache", ".ruff_cache"})


def blob_hash(data: bytes) -> str:
    """git's object id of a blob with this content."""
    digest = hashlib.sha1(b"blob %d\0" % len(data), usedforsecurity=False)
    digest.update(data)
    return digest.hexdigest()


MODE_FILE, MODE_EXECUTABLE, MODE_SYMLINK = "100644", "100755", "120000"


def git_mode(path: Path) -> str:
    """git's mode for a file on disk: a symlink, or a regular file with or without the owner's
    executable bit (git's rule; the other permission bits are not recorded)."""
    st = path.lstat()
    if stat.S_ISLNK(st.st_mode):
        return MODE_SYMLINK
    return MODE_EXECUTABLE if st.st_mode & stat.S_IXUSR else MODE_FILE


class Snapshot:
    """The files of a workspace at one point: ``paths``, ``blob(path)``, ``mode(path)``, ``read(path)``.

    ``empty_folders`` are folders holding no file at all ("/"-terminated): BuildKit copies them, git
    cannot record them, so only a working tree has any.
    """

    def __init__(
        self,
        label: str,
        blobs: dict[str, str | None],
        reader: Callable[[str], bytes],
        *,
        disk_root: Path | None = None,
        modes: dict[str, str | None] | None = None,
        empty_folders: tuple[str, ...] = (),
        repo_root: Path | None = None,
    ) -> None:
        self.label = label  # "working tree", "origin/main", ...
        # the workspace on disk, where git's own `.git` is found (a COPY of the context root carries
        # it); for a snapshot at a ref too, whose files are not on disk
        self.repo_root = repo_root if repo_root is not None else disk_root
        self._blobs = blobs  # None = hash on first use (dirty/untracked or non-git files)
        self._modes = modes if modes is not None else {}  # missing/None = lstat on first use
        self._reader = reader
        self.disk_root = disk_root  # set when the files are on disk (for ignored-by-git fallbacks)
        self.empty_folders = empty_folders

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

    def mode(self, path: str) -> str:
        """git's mode of a listed file: 100644, 100755 or 120000 (a symlink)."""
        known = self._modes.get(path)
        if known is None:
            known = self._modes[path] = git_mode(self.disk_root / path) if self.disk_root else MODE_FILE
        return known

    def identity(self, path: str) -> str:
        """What BuildKit's copy of this file depends on, as git records it: mode and content (a
        symlink's content is its target text). Equal for the same file dirty or committed."""
        return f"{self.mode(path)} {self.blob(path)}"

    def learn(self, path: str) -> None:
        """Add a file found on disk that git does not list (an ignored file a COPY still reads)."""
        self._blobs.setdefault(path, None)

    def link_target(self, path: str) -> str | None:
        """The target text of a symlink, None for anything else."""
        if path not in self._blobs or self.mode(path) != MODE_SYMLINK:
            return None
        return self._reader(path).decode("utf-8", errors="replace")

def git_prefix(runner: SubprocessRunner, root: Path) -> str | None:
    """The workspace's path inside its git repository ("" at the top), or None if not in a repo."""
    return Git(runner, root).prefix()


@dataclass(frozen=True)
class WorktreeListing:
    """What git says about a working tree before any file is read: the index listing as printed
    (``git ls-files --stage -z``), the files ``git status`` names (workspace-relative: untracked,
    modified, deleted, in conflict) with their codes, and the folders holding no file at all."""

    index: str
    changed: tuple[tuple[str, str], ...]  # (XY code, path)
    empty_folders: tuple[str, ...]


def list_worktree(runner: SubprocessRunner, root: Path, prefix: str | None = None) -> WorktreeListing:
    """The three git listings of a working tree (concurrent git processes). ``prefix`` is
    ``git_prefix(root)`` when the caller already knows it."""
    git = Git(runner, root)
    status = _Background(git.status)
    folders = _Background(git.untracked_folders)
    index = git.index_listing()
    if prefix is None:
        prefix = git.prefix() or ""
    changed: list[tuple[str, str]] = []
    for item in status.result():
        code, path = item.code, item.path
        if prefix:  # status prints repo-relative paths; ls-files printed cwd-relative ones
            if not path.startswith(prefix + "/"):
                continue
            path = path[len(prefix) + 1 :]
        changed.append((code, path))
    listed = {path for code, path in changed if code == "??"}
    # git names only the top of an untracked folder tree, so its empty innermost folders are listed
    # from disk: those holding no untracked file (a folder added inside it changes the image, and an
    # empty folder next to new files is still copied)
    empty: list[str] = []
    for folder in folders.result():
        for current, dirs, files in os.walk(root / folder):
            if dirs:
                continue
            rel = Path(current).relative_to(root).as_posix()
            if not any(f"{rel}/{name}" in listed for name in files):
                empty.append(rel + "/")
    deleted = [path for code, path in changed if code[1] == "D" and code != "??"]
    if deleted:
        listed.update(entry.path for entry in parse_index(index))
        listed.difference_update(deleted)
        empty += _emptied_folders(root, deleted, listed, empty)
    return WorktreeListing(index, tuple(changed), tuple(empty))


def _emptied_folders(root: Path, deleted: list[str], paths: set[str], empty: list[str]) -> list[str]:
    """Folders that deleting tracked files left empty on disk ("/"-terminated, innermost ones, as
    for untracked folders). git still counts them as tracked folders, so ``ls-files --others
    --directory`` does not name them, but BuildKit copies them (``rm a/f.txt`` leaves ``COPY a``
    valid)."""
    live = {path[:cut] for path in (*paths, *empty) for cut in _slashes(path)}
    emptied = {path[:cut] for path in deleted for cut in _slashes(path)} - live
    found: list[str] = []
    for folder in sorted(emptied):
        if any(folder[:cut] in emptied for cut in _slashes(folder)):
            continue  # inside another emptied folder: listed by that one's walk
        full = root / folder
        if full.is_symlink() or not full.is_dir():
            continue
        for current, dirs, _files in os.walk(full):
            if not dirs:
                found.append(Path(current).relative_to(root).as_posix() + "/")
    return found


def _slashes(path: str) -> list[int]:
    return [i for i, ch in enumerate(path) if ch == "/"]


def snapshot_worktree(
    runner: SubprocessRunner, root: Path, prefix: str | None = None, listing: WorktreeListing | None = None,
    *, identities: Mapping[str, str | None] | None = None,
) -> Snapshot:
    """The working tree of a git workspace (tracked + untracked-not-ignored files), from
    ``listing`` (``list_worktree``) when the caller has it already. ``identities`` (path →
    ``disk_identity``) are changed files the caller already read: used as read, not read again."""
    if listing is None:
        listing = list_worktree(runner, root, prefix)
    blobs: dict[str, str | None] = {}
    modes: dict[str, str | None] = {}
    for entry in parse_index(listing.index):
        if entry.mode == "160000":  # a submodule: not a file of this repository
            continue
        # stage != 0 is a merge conflict: the worktree file is what a build would read
        blobs[entry.path] = entry.sha if entry.stage == 0 else None
        modes[entry.path] = entry.mode if entry.stage == 0 else None
    for code, path in listing.changed:
        if code == "??" or code[1] == "M" or code[1] == "T":
            # `M` also covers a changed executable bit (core.fileMode)
            known = identities.get(path) if identities is not None else None
            if known is None:  # read on first use
                blobs[path] = modes[path] = None
            else:  # "<mode> <blob>", as Snapshot.identity joins them
                modes[path], _, blobs[path] = known.partition(" ")
        elif code[1] == "D":
            blobs.pop(path, None)
    return Snapshot(
        "working tree", blobs, lambda p: _read_disk(root, p), disk_root=root, modes=modes,
        empty_folders=listing.empty_folders,
    )  # fmt: skip


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
        assert self._value is not None  # noqa: S101 - set whenever no error was: for the type checker
        return self._value


def disk_identity(root: Path, path: str) -> str | None:
    """``Snapshot.identity`` of a file on disk, read now (None when there is no such file)."""
    full = root / path
    if not full.is_symlink() and not full.is_file():
        return None
    try:
        return f"{git_mode(full)} {blob_hash(_read_disk(root, path))}"
    except OSError:
        return None


def _read_disk(root: Path, path: str) -> bytes:
    full = root / path
    if full.is_symlink():
        return os.readlink(full).encode()  # noqa: PTH115 - Path.readlink drops "./"; git hashes the target verbatim
    return full.read_bytes()


def snapshot_at_ref(runner: SubprocessRunner, root: Path, ref: str) -> Snapshot:
    """The workspace's files as committed at ``ref``; InputError when ``ref`` is not a git ref."""
    git = Git(runner, root)
    commit = git.resolve_commit(ref)
    if commit is None:
        msg = f"--base {ref!r} is not a git ref in {root}"
        raise InputError(msg, hint="pass a branch, tag or commit that exists (e.g. `git fetch origin main` first)")
    tree = [entry for entry in git.tree(commit) if entry.kind == "blob"]
    blobs: dict[str, str | None] = {entry.path: entry.sha for entry in tree}
    modes: dict[str, str | None] = {entry.path: entry.mode for entry in tree}
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

    return Snapshot(ref, blobs, read, modes=modes, repo_root=root)


def _is_build_text(path: str) -> bool:
    name = path.rsplit("/", 1)[-1]
    return "Dockerfile" in name or name.endswith((".dockerignore", "envctl.yaml"))


def snapshot_filesystem(root: Path) -> Snapshot:
    """A folder that is not a git repository: walk it (pruning _SKIP_DIRS), hash files on demand.
    A symlink to a folder is listed as a file (its target text), as git would record it."""
    blobs: dict[str, str | None] = {}
    empty: list[str] = []
    for folder, dirs, files in os.walk(root):
        rel = Path(folder).relative_to(root).as_posix()
        prefix = "" if rel == "." else f"{rel}/"
        linked = [d for d in dirs if Path(folder, d).is_symlink()]
        dirs[:] = sorted(d for d in dirs if d not in _SKIP_DIRS and d not in linked)
        for name in [*files, *linked]:
            blobs[prefix + name] = None
        if prefix and not dirs and not files and not linked:
            empty.append(prefix)
    return Snapshot("working tree", blobs, lambda p: _read_disk(root, p), disk_root=root, empty_folders=tuple(empty))
