"""Go's ``path/filepath`` rules that BuildKit applies to paths, ported exactly (Unix separator).

* ``clean`` is ``filepath.Clean``.
* ``match`` is ``filepath.Match`` (Go 1.19+): ``*`` and ``?`` never match ``/``; a class is
  ``[...]`` or ``[^...]`` (only ``^`` negates: ``[!a]`` is the set ``!``, ``a``), ranges ``a-z``
  (a reversed range is valid and matches nothing), ``\\`` escapes the next character, also inside a
  class; a malformed pattern (``[``, ``[-x]``, ``[a-b-c]``, ``[]a]``, a trailing ``\\``) raises
  ``BadPattern`` even when the name does not match.
* ``compile_glob`` turns a valid pattern into an equivalent regular expression (for speed: the
  plan matches one pattern against thousands of paths).

BuildKit resolves COPY/ADD wildcards with ``filepath.Match`` (tonistiigi/fsutil ``copy/copy.go``,
``resolveWildcards``), and moby's patternmatcher validates ``.dockerignore`` lines with it.
"""

from __future__ import annotations

import posixpath
import re

__all__ = ["BadPattern", "clean", "compile_glob", "has_wildcards", "match"]


class BadPattern(ValueError):
    """Go's ``filepath.ErrBadPattern`` ("syntax error in pattern")."""

    def __init__(self, pattern: str, detail: str = "syntax error in pattern") -> None:
        super().__init__(f"{detail}: {pattern!r}")
        self.pattern = pattern
        self.detail = detail


def clean(path: str) -> str:
    """``filepath.Clean``: shortest equivalent path ("." for empty; one leading "/" at most)."""
    cleaned = posixpath.normpath(path) if path else "."
    return cleaned[1:] if cleaned.startswith("//") else cleaned


def has_wildcards(name: str) -> bool:
    """fsutil's ``containsWildcards``: ``*``, ``?`` or ``[`` not escaped by ``\\``."""
    i = 0
    while i < len(name):
        if name[i] == "\\":
            i += 1
        elif name[i] in "*?[":
            return True
        i += 1
    return False


def _scan_chunk(pattern: str) -> tuple[bool, str, str]:
    star = False
    while pattern.startswith("*"):
        pattern = pattern[1:]
        star = True
    in_range = False
    i = 0
    while i < len(pattern):
        ch = pattern[i]
        if ch == "\\" and i + 1 < len(pattern):
            i += 1  # the escaped character is part of the chunk
        elif ch == "[":
            in_range = True
        elif ch == "]":
            in_range = False
        elif ch == "*" and not in_range:
            break
        i += 1
    return star, pattern[:i], pattern[i:]


def _get_esc(chunk: str, whole: str) -> tuple[str, str]:
    if not chunk or chunk[0] in "-]":
        raise BadPattern(whole)
    if chunk[0] == "\\":
        chunk = chunk[1:]
        if not chunk:
            raise BadPattern(whole)
    rest = chunk[1:]
    if not rest:
        raise BadPattern(whole)
    return chunk[0], rest


def _match_chunk(chunk: str, s: str, whole: str) -> tuple[str, bool]:  # noqa: C901 - kept line for line with Go's
    """Go's ``matchChunk``: after a mismatch it keeps reading the chunk to validate it."""
    failed = False
    while chunk:
        if not failed and not s:
            failed = True
        head = chunk[0]
        if head == "[":
            r = ""
            if not failed:
                r, s = s[0], s[1:]
            chunk = chunk[1:]
            negated = chunk.startswith("^")
            if negated:
                chunk = chunk[1:]
            matched, ranges = False, 0
            while True:
                if chunk.startswith("]") and ranges > 0:
                    chunk = chunk[1:]
                    break
                lo, chunk = _get_esc(chunk, whole)
                hi = lo
                if chunk[0] == "-":
                    hi, chunk = _get_esc(chunk[1:], whole)
                if lo <= r <= hi:
                    matched = True
                ranges += 1
            if matched == negated:
                failed = True
        elif head == "?":
            if not failed:
                if s[0] == "/":
                    failed = True
                s = s[1:]
            chunk = chunk[1:]
        else:
            if head == "\\":
                chunk = chunk[1:]
                if not chunk:
                    raise BadPattern(whole)
            if not failed:
                if chunk[0] != s[0]:
                    failed = True
                s = s[1:]
            chunk = chunk[1:]
    return ("", False) if failed else (s, True)


def match(pattern: str, name: str) -> bool:
    """``filepath.Match(pattern, name)``; BadPattern for a malformed pattern."""
    whole = pattern
    while pattern:
        star, chunk, pattern = _scan_chunk(pattern)
        if star and not chunk:
            return "/" not in name  # a trailing * matches the rest unless it has a /
        rest, ok = _match_chunk(chunk, name, whole)
        if ok and (not rest or pattern):
            name = rest
            continue
        if star:
            found = False
            i = 0
            while i < len(name) and name[i] != "/":
                rest, ok = _match_chunk(chunk, name[i + 1 :], whole)
                if ok and not (not pattern and rest):
                    name, found = rest, True
                    break
                i += 1
            if found:
                continue
        while pattern:  # before answering "no", check the rest of the pattern is well formed
            _star, chunk, pattern = _scan_chunk(pattern)
            _match_chunk(chunk, "", whole)
        return False
    return not name


def compile_glob(pattern: str) -> re.Pattern[str]:
    """A regular expression that fully matches exactly the names ``match(pattern, name)`` accepts."""
    match(pattern, "")  # raises BadPattern for anything malformed, so the scan below may trust it
    out: list[str] = []
    i = 0
    while i < len(pattern):
        ch = pattern[i]
        if ch == "*":
            out.append("[^/]*")
        elif ch == "?":
            out.append("[^/]")
        elif ch == "\\":
            i += 1
            out.append(re.escape(pattern[i]))
        elif ch == "[":
            i += 1
            negated = pattern[i] == "^"
            i += 1 if negated else 0
            items: list[str] = []
            first = True
            while first or pattern[i] != "]":
                first = False
                lo, i = _class_char(pattern, i)
                hi = lo
                if pattern[i] == "-":
                    hi, i = _class_char(pattern, i + 1)
                if lo <= hi:  # a reversed range is valid in Go and matches nothing
                    items.append(re.escape(lo) if lo == hi else f"{re.escape(lo)}-{re.escape(hi)}")
            body = "".join(items)
            if negated:
                out.append("[^" + body + "]" if body else "[\\s\\S]")
            else:
                out.append("[" + body + "]" if body else "(?!)")
        else:
            out.append(re.escape(ch))
        i += 1
    return re.compile("".join(out), re.DOTALL)


def _class_char(pattern: str, i: int) -> tuple[str, int]:
    if pattern[i] == "\\":
        i += 1
    return pattern[i], i + 1
