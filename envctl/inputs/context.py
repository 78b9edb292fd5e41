"""The build context: which files a COPY source reaches, after ``.dockerignore``.

``.dockerignore`` is read and matched exactly as BuildKit does (``patternmatcher``, a port of
moby/patternmatcher); an invalid pattern is an ``InputError`` naming the file and line. COPY/ADD
wildcards follow BuildKit's ``resolveWildcards`` (tonistiigi/fsutil ``copy/copy.go``): the source is
split at its first component holding a wildcard, and every path below the fixed part whose
remainder matches Go's ``filepath.Match`` is a source (a matched folder brings all its files).
BuildKit reads ``<Dockerfile>.dockerignore`` next to the Dockerfile in preference to
``<context>/.dockerignore``.
"""

from __future__ import annotations

import bisect
import posixpath
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from envctl.errors import InputError
from envctl.inputs import goglob
from envctl.inputs.patternmatcher import BadPattern, PatternMatcher, read_ignore_file

__all__ = ["IgnoreRules", "PathIndex", "ignore_file_for", "join", "split_wildcards"]


def join(context: str, relative: str) -> str:
    """A context-relative path as a workspace-relative POSIX path."""
    joined = posixpath.normpath(posixpath.join(context, relative))
    return "" if joined == "." else joined


def ignore_file_for(dockerfile: str, context: str, exists: Callable[[str], bool]) -> str | None:
    """Which ignore file BuildKit applies: the Dockerfile's own one wins over the context's."""
    own = f"{dockerfile}.dockerignore"
    if exists(own):
        return own
    shared = join(context, ".dockerignore")
    return shared if exists(shared) else None


@dataclass
class IgnoreRules:
    """A parsed ``.dockerignore``; ``excluded`` is memoised (services share ignore files)."""

    patterns: tuple[str, ...]
    _matcher: PatternMatcher = field(default_factory=lambda: PatternMatcher([]), repr=False)
    _seen: dict[str, bool] = field(default_factory=dict, repr=False)

    @classmethod
    def parse(cls, text: str, path: str = ".dockerignore") -> IgnoreRules:
        """InputError (exit 2) for a pattern BuildKit rejects, naming ``path`` and the line."""
        patterns = read_ignore_file(text)
        try:
            matcher = PatternMatcher(patterns)
        except BadPattern as exc:
            line = _line_of(text, exc.pattern)
            msg = f"{path}{line}: invalid pattern {exc.pattern.strip()!r} ({exc.detail})"
            raise InputError(
                msg,
                hint="BuildKit refuses the whole build context for it: fix the pattern (Go filepath.Match syntax: "
                "`[` opens a class closed by `]`, `\\` escapes, a lone `!` is not allowed)",
            ) from None
        return cls(tuple(patterns), matcher)

    def excluded(self, path: str) -> bool:
        """Is ``path`` (relative to the context root) left out of the build context?"""
        if not self.patterns:
            return False
        hit = self._seen.get(path)
        if hit is None:
            hit = self._seen[path] = self._matcher.matches(path)
        return hit


    def sent(self, folder: str) -> bool:
        """Is the folder sent with the context: not excluded, or excluded with an exception that
        may re-include something under it (BuildKit then sends the folder itself)."""
        return not self.excluded(folder) or self._matcher.exceptions_under(folder)


def _line_of(text: str, pattern: str) -> str:
    for number, raw in enumerate(text.split("\n"), 1):
        if read_ignore_file(raw) == [pattern]:
            return f" line {number}"
    return ""


class PathIndex:
    """Sorted workspace-relative file paths with prefix and glob lookups (bisect, no walking)."""

    def __init__(self, paths: Sequence[str]) -> None:
        self.paths = sorted(paths)
        self._set = set(self.paths)

    def __contains__(self, path: str) -> bool:
        return path in self._set

    def under(self, folder: str) -> list[str]:
        """Files inside ``folder`` (``""`` = everything)."""
        if not folder:
            return self.paths
        prefix = folder + "/"
        start = bisect.bisect_left(self.paths, prefix)
        end = bisect.bisect_left(self.paths, prefix + "\U0010ffff")
        return self.paths[start:end]

    def match(self, context: str, source: str) -> list[str]:
        """Files a COPY ``source`` (context-relative, cleaned) brings in: a file, a folder's files,
        or every file under what a wildcard matches (``heads``); symlinks are not followed here."""
        if not goglob.has_wildcards(source):
            path = join(context, source)
            return [path] if path in self._set else self.under(path)
        fixed, rest = split_wildcards(source)
        found: list[str] = []
        for head in self.heads(join(context, fixed), rest):
            found += [head] if head in self._set else self.under(head)
        return found

    def heads(self, root: str, rest: str) -> list[str]:
        """What the wildcard ``rest`` matches below the folder ``root``, as BuildKit's
        ``resolveWildcards`` walks it: every file or folder whose path below ``root`` matches
        ``filepath.Match``; a matched folder is not walked further. A malformed wildcard matches
        nothing (BuildKit ignores the pattern error)."""
        try:
            pattern = goglob.compile_glob(rest)
        except goglob.BadPattern:
            return []
        start = len(root) + 1 if root else 0
        heads: dict[str, None] = {}
        if "[" not in rest:
            # `*`, `?` and literals never match "/": only the prefix with as many components as the
            # pattern can match
            depth = rest.count("/") + 1
            for path in self.under(root):
                below = path[start:].split("/", depth)
                if len(below) >= depth and below[depth - 1] and pattern.fullmatch("/".join(below[:depth])):
                    heads[path[:start] + "/".join(below[:depth])] = None
            return list(heads)
        # a class may match "/" (Go's `[^a]` does): any prefix may match, the shortest wins
        seen: dict[str, bool] = {}
        for path in self.under(root):
            below = path[start:].rstrip("/").split("/")
            for i in range(len(below)):
                rel = "/".join(below[: i + 1])
                if rel not in seen:
                    seen[rel] = pattern.fullmatch(rel) is not None
                if seen[rel]:
                    heads[path[:start] + rel] = None
                    break
        return list(heads)


def split_wildcards(source: str) -> tuple[str, str]:
    """fsutil's ``splitWildcards``: the folders before the first component holding a wildcard, and
    the rest (the pattern)."""
    parts = source.split("/")
    for i, part in enumerate(parts):
        if goglob.has_wildcards(part):
            return "/".join(parts[:i]), "/".join(parts[i:])
    return source, ""
