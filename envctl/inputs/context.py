"""The build context: which files a COPY source reaches, after ``.dockerignore``.

``.dockerignore`` semantics (moby's patternmatcher): patterns are relative to the context root
(a leading ``/`` is dropped, the path is cleaned, so ``dir/`` equals ``dir``), ``*``/``?`` never
cross ``/``, ``**`` spans any number of folders, a pattern matching a folder excludes everything
under it, and ``!pattern`` re-includes; the last matching pattern wins. pathspec's gitignore
patterns implement the same matching once each pattern is anchored with a leading ``/``. BuildKit reads
``<Dockerfile>.dockerignore`` next to the Dockerfile in preference to ``<context>/.dockerignore``.
"""

from __future__ import annotations

import bisect
import posixpath
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

__all__ = ["IgnoreRules", "PathIndex", "ignore_file_for", "join"]


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
    """Compiled ``.dockerignore`` patterns; ``excluded`` is memoised (services share ignore files)."""

    patterns: tuple[str, ...]
    _spec: object = field(default=None, repr=False)
    _seen: dict[str, bool] = field(default_factory=dict, repr=False)

    @classmethod
    def parse(cls, text: str) -> IgnoreRules:
        patterns = []
        for raw in text.splitlines():
            entry = raw.strip()
            if not entry or entry.startswith("#"):
                continue
            negate = entry.startswith("!")
            body = entry[1:].strip() if negate else entry
            body = posixpath.normpath("/" + body).lstrip("/")
            if not body:
                continue
            patterns.append(("!/" if negate else "/") + body)
        return cls(tuple(patterns))

    def excluded(self, path: str) -> bool:
        """Is ``path`` (relative to the context root) left out of the build context?"""
        if not self.patterns:
            return False
        hit = self._seen.get(path)
        if hit is None:
            if self._spec is None:
                self._spec = _compile(self.patterns)
            hit = False
            for regex, include in self._spec:  # type: ignore[attr-defined]
                if regex.match(path) is not None:  # the last matching pattern decides
                    hit = include
            self._seen[path] = hit
        return hit


def _compile(patterns: tuple[str, ...]) -> list[tuple[re.Pattern[str], bool]]:
    """pathspec's regexes for each pattern, with whether a match excludes (True) or re-includes."""
    import pathspec

    spec = pathspec.PathSpec.from_lines("gitignore", patterns)
    return [(re.compile(p.regex.pattern), bool(p.include)) for p in spec.patterns if p.include is not None]


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
        or every file and folder a glob matches (a matched folder brings all its files)."""
        if not _is_glob(source):
            path = join(context, source)
            if path in self._set:
                return [path]
            return self.under(path)
        parts = source.split("/")
        fixed = []
        for part in parts:
            if _is_glob(part):
                break
            fixed.append(part)
        root = join(context, "/".join(fixed))
        # one regex per glob; a trailing (/...) lets a matched folder bring all its files
        pattern = re.compile("/".join(_segment_regex(part) for part in parts) + "(?:/.*)?")
        start = len(context) + 1 if join(context, ".") else 0
        return [path for path in self.under(root) if pattern.fullmatch(path, start)]


def _segment_regex(part: str) -> str:
    """One path segment of a Go ``filepath.Match`` pattern: ``*``/``?`` never cross ``/``."""
    out, i = [], 0
    while i < len(part):
        ch = part[i]
        if ch == "*":
            out.append("[^/]*")
        elif ch == "?":
            out.append("[^/]")
        elif ch == "[":
            end = part.find("]", i + 2 if part[i + 1 : i + 2] in ("!", "^") else i + 1)
            if end == -1:
                out.append(re.escape(ch))
            else:
                body = part[i + 1 : end]
                if body[:1] in ("!", "^"):
                    body = "^" + body[1:]
                out.append(f"[{body.replace(chr(92), chr(92) * 2)}]")
                i = end
        elif ch == "\\" and i + 1 < len(part):
            i += 1
            out.append(re.escape(part[i]))
        else:
            out.append(re.escape(ch))
        i += 1
    return "".join(out)


def _is_glob(text: str) -> bool:
    return any(ch in text for ch in "*?[")
