"""The git adapter: every `git` command line envctl runs is built here and only here.

Each method is one git verb, run in the workspace folder through ``SubprocessRunner`` (argv list,
never a shell), and returns parsed, typed data; NUL-separated output (``-z``) is used wherever git
prints paths, so paths with spaces, quotes or newlines come back unchanged.
"""

from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

from envctl.adapters.process import SubprocessRunner
from envctl.errors import ToolFailedError

__all__ = ["GIT_TIMEOUT", "Git", "IndexEntry", "StatusEntry", "TreeEntry", "parse_index"]

GIT_TIMEOUT = 60.0  # seconds; a listing of a large monorepo takes well under one


# NamedTuples, not dataclasses: a monorepo's index has tens of thousands of entries.
class IndexEntry(NamedTuple):
    """One ``git ls-files --stage`` line: ``mode`` is git's (100644, 100755, 120000, 160000)."""

    mode: str
    sha: str
    stage: int  # 0 = merged; 1-3 = a side of a merge conflict
    path: str  # relative to the workspace folder


class TreeEntry(NamedTuple):
    """One ``git ls-tree -r`` line (blobs and submodule commits)."""

    mode: str
    kind: str  # "blob" or "commit" (a submodule)
    sha: str
    path: str  # relative to the workspace folder


class StatusEntry(NamedTuple):
    """One ``git status --porcelain=v1`` entry: ``code`` is the two-letter XY status."""

    code: str
    path: str  # relative to the repository's top level (porcelain v1 prints it so)


def _fields(text: str) -> list[str]:
    return [entry for entry in text.split("\0") if entry]


def parse_index(listing: str) -> list[IndexEntry]:
    """The entries of an ``index_listing``."""
    # "<6-digit mode> <object id> <stage digit>\t<path>": sliced, not split (a monorepo's index
    # has tens of thousands of lines, and this runs on every plan)
    new = tuple.__new__
    entries = []
    for item in _fields(listing):
        tab = item.index("\t")
        entries.append(new(IndexEntry, (item[:6], item[7 : tab - 2], ord(item[tab - 1]) - 48, item[tab + 1 :])))
    return entries


class Git:
    """git commands for one workspace folder (which may be a subfolder of its repository)."""

    def __init__(self, runner: SubprocessRunner, root: Path, timeout: float = GIT_TIMEOUT) -> None:
        self._runner = runner
        self.root = root
        self._timeout = timeout

    def available(self) -> bool:
        return self._runner.which("git") is not None

    def _run(self, *args: str, check: bool = True, stdin: bytes | None = None) -> tuple[int, str]:
        done = self._runner.run(["git", *args], cwd=self.root, check=check, stdin=stdin, timeout=self._timeout)
        return done.returncode, done.stdout

    def prefix(self) -> str | None:
        """The workspace's path inside its repository ("" at the top); None outside a repository."""
        if not self.available():
            return None
        code, out = self._run("rev-parse", "--show-prefix", check=False)
        return out.strip().rstrip("/") if code == 0 else None

    def index(self) -> list[IndexEntry]:
        """Every tracked file under the workspace folder, with its mode and blob hash (no file is read)."""
        return parse_index(self.index_listing())

    def index_listing(self) -> str:
        """``git ls-files --stage -z`` as printed (``parse_index`` reads it): cheap to digest whole."""
        return self._run("ls-files", "--stage", "-z")[1]

    def status(self) -> list[StatusEntry]:
        """Modified, deleted and untracked (not ignored) files under the workspace folder."""
        _code, out = self._run(
            "--no-optional-locks", "status", "--porcelain=v1", "-z", "--untracked-files=all",
            "--no-renames", "--ignore-submodules", ".",
        )
        return [StatusEntry(item[:2], item[3:]) for item in _fields(out)]

    def untracked_folders(self) -> list[str]:
        """Untracked (not ignored) folders under the workspace folder, "/"-terminated: folders holding
        only untracked files, and empty folders, which git never tracks (``ls-files --directory``)."""
        _code, out = self._run("ls-files", "--others", "--directory", "--exclude-standard", "-z")
        return [item for item in _fields(out) if item.endswith("/")]

    def resolve_commit(self, ref: str) -> str | None:
        """The commit ``ref`` names, or None when it names none (``--end-of-options``: never an option)."""
        code, out = self._run("rev-parse", "--verify", "--quiet", "--end-of-options", f"{ref}^{{commit}}", check=False)
        return out.strip() if code == 0 else None

    def tree(self, commit: str) -> list[TreeEntry]:
        """Every file of ``commit`` under the workspace folder (paths relative to it)."""
        _code, out = self._run("ls-tree", "-r", "-z", commit)
        entries = []
        for item in _fields(out):
            meta, _, path = item.partition("\t")
            mode, kind, sha = meta.split()
            entries.append(TreeEntry(mode, kind, sha, path))
        return entries

    def read_blob(self, sha: str) -> bytes:
        """A blob's content; FileNotFoundError when the object is missing (a corrupt repository)."""
        try:
            _code, out = self._run("cat-file", "blob", sha)
        except ToolFailedError as exc:  # pragma: no cover - a corrupt repository
            raise FileNotFoundError(sha) from exc
        return out.encode()

    def read_blobs(self, shas: list[str]) -> list[bytes] | None:
        """Several text blobs in ONE ``git cat-file --batch`` process, in order; None when the
        output is not what was asked for (the caller then reads them one by one)."""
        if not shas:
            return []
        _code, out = self._run("cat-file", "--batch", check=False, stdin="".join(f"{sha}\n" for sha in shas).encode())
        data = out.encode()  # texts are UTF-8: the runner's decoding round-trips them
        found: list[bytes] = []
        pos = 0
        for sha in shas:
            end = data.find(b"\n", pos)
            match data[pos:end].split():  # "<sha> <type> <size>"
                case [name, _kind, size_field] if end >= 0 and name.decode() == sha:
                    size = int(size_field)
                case _:
                    return None
            found.append(data[end + 1 : end + 1 + size])
            pos = end + 1 + size + 1
        return found

    def remote_url(self, remote: str = "origin") -> str | None:
        """The URL of ``remote`` (what names the repository for every clone); None when there is none."""
        if not self.available():
            return None
        code, out = self._run("config", "--get", f"remote.{remote}.url", check=False)
        return out.strip() or None if code == 0 else None

    def head(self) -> tuple[str | None, str | None]:
        """(commit, branch) checked out; Nones outside git, on an unborn branch or a detached HEAD's branch."""
        values: list[str | None] = []
        if not self.available():
            return None, None
        for args in (("rev-parse", "HEAD"), ("rev-parse", "--abbrev-ref", "HEAD")):
            code, out = self._run(*args, check=False)
            text = out.strip()
            values.append(text if code == 0 and text and text != "HEAD" else None)
        return values[0], values[1]
