"""COPY/ADD sources → the files and folders BuildKit copies, with the identity of each.

What BuildKit does (tonistiigi/fsutil ``copy/copy.go``, used by the Dockerfile frontend with
``FollowLinks`` and ``AllowWildcards``), and what is mirrored here:

* a source path is resolved through symlinks, component by component, inside the build context;
  so is each path a wildcard matches. A symlink met *inside* a copied folder is copied as a link.
  A symlink that leads out of the context (or out of the workspace) is refused, naming the link:
  BuildKit would resolve it inside the context instead, the legacy builder would follow it out.
* a wildcard that matches nothing copies nothing (accepted); a plain source that does not exist,
  or that ``.dockerignore`` excludes, is BuildKit's ``"/<source>" not found`` error;
* a copied folder brings every file and every folder under it that ``.dockerignore`` keeps, empty
  folders included (a folder is sent unless excluded, even when all its files are).

Each copied entry has an identity: ``<git mode> <blob>`` for a file (the executable bit and
symlink-ness are part of the layer; git records both), ``dir`` for a folder.

git's own ``.git`` is part of the build context too (BuildKit sends it unless ``.dockerignore``
excludes it), so a COPY of a context that holds it (``COPY . /app``, ``COPY * /app``) puts it in
the image, and every commit changes the image. git lists none of it, so it gets one entry,
``<context>/.git/``, whose identity is a digest of the path, mode, size and modification time of
every file under it that the ignore file keeps (folders: path and mode), not of their content
(reading every object would cost more than the plan): any change to it rebuilds the image, and so
may a rewrite with equal content (never the reverse). At a ref, whose ``.git`` cannot be seen, the
identity names the ref. A scan holding such an entry is never cached.
"""

from __future__ import annotations

import hashlib
import os
import posixpath
import stat
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from envctl.errors import InputError
from envctl.inputs import goglob
from envctl.inputs.context import IgnoreRules, PathIndex, ignore_file_for, join, split_wildcards
from envctl.inputs.gitstate import MODE_SYMLINK, Snapshot
from envctl.inputs.goglob import has_wildcards

__all__ = [
    "FOLDER", "GIT_DIR", "Dangling", "Resolved", "SourceResolver", "check_nested_link", "files_digest", "follow_links",
]  # fmt: skip

FOLDER = "dir"  # the identity of a folder entry (paths of folder entries end with "/")
GIT_DIR = "git-dir"  # how the identity of the `.git` entry starts (module docstring)
_MAX_LINKS = 40  # as Linux (and Go's filepath.EvalSymlinks) allow in one path



@dataclass(frozen=True)
class Dangling:
    """The status of a wildcard source that matched the symlink ``link`` (context-relative), whose
    ``target`` is not in the context. Kept apart, not packed into a string: either may hold ':'."""

    link: str
    target: str


Resolved = tuple[dict[str, str], str | Dangling, str]  # ({path: identity}, status, digest)


def _outside(link: str, target: str, scope: str) -> InputError:
    where = "the workspace" if not scope else f"the build context {scope}"
    msg = f"symlink {link} points to {target!r}, outside {where}"
    return InputError(
        msg,
        hint="keep inputs inside the workspace: replace the link by the file it points to, or create the link "
        "in the image with `RUN ln -s` (a link leading out would put a host file into the image)",
    )


def follow_links(snapshot: Snapshot, path: str, scope: str = "") -> str:
    """``path`` with every symlink in it resolved through the snapshot, component by component (as
    ``filepath.EvalSymlinks``); InputError naming the link when the result leaves ``scope``."""
    resolved: list[str] = []
    todo = [part for part in reversed(path.split("/")) if part]
    hops, last_link = 0, ""
    while todo:
        part = todo.pop()
        if part == ".":
            continue
        if part == "..":
            if not resolved:
                raise _outside(last_link or path, path, "")
            resolved.pop()
            continue
        candidate = "/".join([*resolved, part])
        target = snapshot.link_target(candidate)
        if target is None:
            resolved.append(part)
            continue
        hops += 1
        if hops > _MAX_LINKS:
            msg = f"symlink {candidate}: too many levels of symbolic links"
            raise InputError(msg, hint="break the symlink loop")
        if target.startswith("/"):
            raise _outside(candidate, target, "")
        last_link = candidate
        todo.extend(part for part in reversed(target.split("/")) if part)
    result = "/".join(resolved)
    if scope and result != scope and not result.startswith(scope + "/"):
        raise _outside(last_link or path, result, scope)
    return result


def check_nested_link(snapshot: Snapshot, link: str) -> None:
    """A link copied as a link may point anywhere inside the workspace, never out of it."""
    target = snapshot.link_target(link) or ""
    landing = posixpath.normpath(posixpath.join(posixpath.dirname(link), target))
    if target.startswith("/") or landing == ".." or landing.startswith("../"):
        raise _outside(link, target, "")


def files_digest(entries: Mapping[str, str], strip: int) -> str:
    """sha256 over sorted (context-relative path, identity) pairs: moving a whole workspace or
    context does not change it."""
    lines = sorted(f"{path[strip:]}\0{identity}" for path, identity in entries.items())
    return hashlib.sha256("\n".join(lines).encode()).hexdigest()


class SourceResolver:
    """Resolves COPY sources against one snapshot, memoised: services that copy the same shared
    library with the same ignore file pay for it once."""

    def __init__(self, snapshot: Snapshot) -> None:
        self.snapshot = snapshot
        self.index = PathIndex([*snapshot.paths, *snapshot.empty_folders])
        self._ignores: dict[str, IgnoreRules] = {}
        self._resolved: dict[tuple[str, str, str | None], Resolved] = {}
        self._git_dirs: dict[tuple[str, tuple[str, ...]], str] = {}  # by (.git path, ignore patterns)

    def ignore_rules(self, dockerfile: str, context: str) -> tuple[str | None, IgnoreRules]:
        path = ignore_file_for(dockerfile, context, self.snapshot.__contains__)
        if path is None:
            return None, IgnoreRules(())
        if path not in self._ignores:
            self._ignores[path] = IgnoreRules.parse(self.snapshot.text(path) or "", path)
        return path, self._ignores[path]

    def resolve(self, context: str, source: str, ignore_path: str | None, rules: IgnoreRules) -> Resolved:
        """What one COPY ``source`` (context-relative, cleaned) copies, after the ignore file, and
        its status: "ok", "missing" or "excluded" for a source without wildcards, "no-folder" when
        the folders before a wildcard do not exist, "not-a-folder" when the path before it is a
        file, a ``Dangling`` when a wildcard matches a symlink whose target is not in the context
        (a wildcard that matches nothing is "ok" and copies nothing, as in BuildKit)."""
        key = (context, source, ignore_path)
        if key not in self._resolved:
            strip = len(context) + 1 if context else 0
            entries: dict[str, str] = {}
            status: str | Dangling = "ok"
            if has_wildcards(source):
                # the folders before the wildcard must exist (BuildKit walks them: `lstat ...: no such
                # file or directory` otherwise); what they hold may match nothing
                fixed, rest = split_wildcards(source)
                root = follow_links(self.snapshot, join(context, fixed), context)
                if root != context and (
                    rules.excluded(root[strip:]) or self._link_excluded(join(context, fixed), strip, rules)
                    or not self._exists(root)
                ):
                    status = "no-folder"
                elif root in self.index and not root.endswith("/"):  # a file (BuildKit reads it as a folder)
                    status = "not-a-folder"
                if root == context and _first_matches(rest, ".git"):
                    entries.update(self._git_dir(context, strip, rules))
                for head in self.index.heads(root, rest) if status == "ok" else []:
                    if rules.excluded(head[strip:].rstrip("/")):
                        continue
                    target = follow_links(self.snapshot, head, context)
                    # a matched symlink is followed, and its target must be in the context (BuildKit:
                    # `"/<target>" not found`, the build fails)
                    if not self._copy(target, strip, rules, entries) and status == "ok":
                        status = Dangling(head[strip:], target[strip:])
            else:
                target = follow_links(self.snapshot, join(context, source), context)
                git_dir = join(context, ".git")
                if target in (context, git_dir) or target.startswith(git_dir + "/"):
                    entries.update(self._git_dir(context, strip, rules))
                if self._link_excluded(join(context, source), strip, rules):
                    entries.clear()  # the link is not sent: nothing is reached through it
                    status = "excluded"
                elif not self._copy(target, strip, rules, entries) and not (target != context and entries):
                    status = "excluded" if self._exists(target) else "missing"
            self._resolved[key] = (entries, status, files_digest(entries, strip))
        return self._resolved[key]

    def _link_excluded(self, path: str, strip: int, rules: IgnoreRules) -> bool:
        """Does the ignore file leave out the first symlink on ``path`` (as written)? BuildKit sends
        the context without following links and resolves them on its side, so a link the ignore
        file excludes is missing there, whatever its target (``a/l`` with ``a`` excluded)."""
        parts = path.split("/")
        for i in range(strip and len(path[:strip].rstrip("/").split("/")), len(parts)):
            prefix = "/".join(parts[: i + 1])
            if self.snapshot.link_target(prefix) is not None:
                return rules.excluded(prefix[strip:])
        return False

    def _git_dir(self, context: str, strip: int, rules: IgnoreRules) -> dict[str, str]:
        """The ``.git`` entry of the context (module docstring); none when the context holds no
        ``.git`` or the ignore file leaves nothing of it."""
        rel = join(context, ".git")
        repo = self.snapshot.repo_root
        if repo is None or not os.path.lexists(repo / rel) or (rules.excluded(".git") and not rules.sent(".git")):
            return {}
        if self.snapshot.disk_root is None:
            return {rel + "/": f"{GIT_DIR} at {self.snapshot.label}"}
        key = (rel, rules.patterns)  # services of one context may have different ignore files
        if key not in self._git_dirs:
            self._git_dirs[key] = _stat_digest(repo, rel, strip, rules)
        kept = self._git_dirs[key]
        return {rel + "/": f"{GIT_DIR} {kept}"} if kept else {}

    def _exists(self, path: str) -> bool:
        return path in self.index or bool(self.index.under(path)) or bool(_ignored_by_git(self.snapshot, path))

    def _copy(self, top: str, strip: int, rules: IgnoreRules, entries: dict[str, str]) -> bool:
        """Add what copying ``top`` brings; False when it does not exist or is excluded."""
        if top[strip:] and rules.excluded(top[strip:]) and not (top not in self.index and rules.sent(top[strip:])):
            return False  # the context itself is never excluded; a folder with exceptions under it is sent
        snapshot = self.snapshot
        if top in self.index:
            if snapshot.mode(top) == MODE_SYMLINK:  # a dangling or looping link: BuildKit fails on it too
                return False
            entries[top] = snapshot.identity(top)
            return True
        below = self.index.under(top) or _ignored_by_git(snapshot, top)
        if not below:
            return False
        start = len(top) + 1 if top else 0
        every: set[str] = set()  # folders between `top` and any file
        holding: set[str] = set()  # folders between `top` and a kept file (always sent)
        for path in below:
            kept = not rules.excluded(path[strip:].rstrip("/"))
            if path.endswith("/"):  # an empty folder (git cannot track it)
                # `top` itself, when empty, adds nothing: a folder's contents are what is copied
                if kept and len(path) > start:
                    entries[path] = FOLDER
                continue
            if kept:
                if snapshot.mode(path) == MODE_SYMLINK:
                    check_nested_link(snapshot, path)
                entries[path] = snapshot.identity(path)
            cut = path.rfind("/")
            if cut < start or (path[: cut + 1] in holding if kept else path[: cut + 1] in every):
                continue  # its folders are known already (the paths are sorted: siblings come together)
            for seen in (every, holding) if kept else (every,):
                while cut >= start and path[: cut + 1] not in seen:
                    seen.add(path[: cut + 1])
                    cut = path.rfind("/", 0, cut)
                cut = path.rfind("/")
        for folder in every:
            if folder in holding or rules.sent(folder[strip:-1]):
                entries[folder] = FOLDER
        return True


def _first_matches(pattern: str, name: str) -> bool:
    """Does the first component of a COPY wildcard match ``name`` (Go's ``filepath.Match``)?"""
    try:
        return goglob.compile_glob(pattern.split("/", 1)[0]).fullmatch(name) is not None
    except goglob.BadPattern:
        return False


def _stat_digest(repo: Path, rel: str, strip: int, rules: IgnoreRules) -> str:
    """sha256 over (path, mode, size, mtime) of ``rel`` and everything under it that ``rules``
    keep (paths context-relative; folders by path and mode); empty when nothing is kept."""
    lines: list[str] = []

    def add(path: Path) -> None:
        name = path.relative_to(repo).as_posix()
        if not rules.excluded(name[strip:]):
            st = path.lstat()
            # a folder's own size and time change with its entries, which are listed anyway
            shape = "" if stat.S_ISDIR(st.st_mode) else f"\0{st.st_size}\0{st.st_mtime_ns}"
            lines.append(f"{name[strip:]}\0{st.st_mode:o}{shape}")

    top = repo / rel
    add(top)
    if top.is_dir() and not top.is_symlink():
        for folder, dirs, files in os.walk(top):
            dirs.sort()
            for name in sorted([*dirs, *files]):
                add(Path(folder, name))
    return hashlib.sha256("\n".join(lines).encode()).hexdigest() if lines else ""


def _ignored_by_git(snapshot: Snapshot, path: str) -> list[str]:
    """Files git ignores (generated artefacts) that a COPY still reads: listed from disk, only when
    their real path stays inside the workspace."""
    root = snapshot.disk_root
    if root is None:
        return []
    full = root / path
    real_root = os.path.realpath(root)
    real = os.path.realpath(full)
    if real != real_root and not real.startswith(real_root + os.sep):
        if full.is_symlink() or os.path.lexists(full):
            raise _outside(path, real, "")
        return []
    if full.is_file():
        found = [path]
    elif full.is_dir():
        found = []
        for folder, dirs, names in os.walk(full):
            dirs.sort()
            found += [Path(folder, f).relative_to(root).as_posix() for f in names]
            found += [Path(folder, d).relative_to(root).as_posix() for d in dirs if Path(folder, d).is_symlink()]
    else:
        return []
    for item in found:
        snapshot.learn(item)
    return sorted(found)
