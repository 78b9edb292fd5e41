"""``.dockerignore`` exactly as BuildKit reads and matches it: a port of moby/patternmatcher.

Reading (``ignorefile.ReadAll``): a UTF-8 BOM is dropped; lines starting with ``#`` are comments;
each line is trimmed, a leading ``!`` marks an exception, the rest is ``filepath.Clean``-ed and a
leading ``/`` dropped. Matching (``PatternMatcher.MatchesOrParentMatches``, what BuildKit's context
walk applies): the patterns are evaluated in order and the last one that matches decides; a pattern
also matches a path when it matches one of the path's parent folders, so ``dir/*`` excludes
``dir/sub/x``. Each pattern becomes a regular expression the way moby builds it (``*`` → ``[^/]*``,
``?`` → ``[^/]``, ``**`` → ``(.*/)?``, ``\\x`` → ``\\x``, and ``[``/``]`` are copied as they are),
which Go's RE2 then interprets: so a class is an RE2 class (``[!a]`` is the set ``!``, ``a``;
``[\\-x]`` is ``-`` or ``x``). ``translate_re2`` gives Python the same meaning.

Invalid patterns are errors, as in BuildKit: a bare ``!``, anything ``filepath.Match`` rejects
(``[``, ``[-x]``, ``[a-b-c]``, a trailing ``\\``), and anything RE2 rejects (``[z-a]``,
``[Local-Only]``). Source: github.com/moby/patternmatcher (patternmatcher.go, ignorefile/ignorefile.go).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from envctl.inputs import goglob
from envctl.inputs.goglob import BadPattern

__all__ = ["BadPattern", "PatternMatcher", "read_ignore_file", "translate_re2"]

_BOM = "\ufeff"
_MOBY_ESCAPED = frozenset(".+()|{}$")  # regexp metacharacters with no meaning in filepath.Match


def read_ignore_file(text: str) -> list[str]:
    """``ignorefile.ReadAll``: the patterns of an ignore file, in order."""
    patterns = []
    for number, raw in enumerate(text.split("\n")):
        line = raw.removesuffix("\r")
        if number == 0:
            line = line.removeprefix(_BOM)
        if line.startswith("#"):
            continue
        pattern = line.strip()
        if not pattern:
            continue
        invert = pattern[0] == "!"
        if invert:
            pattern = pattern[1:].strip()
        if pattern:
            pattern = goglob.clean(pattern)
            if len(pattern) > 1 and pattern[0] == "/":
                pattern = pattern[1:]
        patterns.append("!" + pattern if invert else pattern)
    return patterns


@dataclass(frozen=True)
class _Pattern:
    text: str  # cleaned, without the leading "!"
    exclusion: bool
    kind: str  # "exact" | "prefix" | "suffix" | "regexp" (moby's matchType)
    regexp: re.Pattern[str] | None

    def match(self, path: str) -> bool:
        if self.kind == "exact":
            return path == self.text
        if self.kind == "prefix":
            return path.startswith(self.text[:-2])
        if self.kind == "suffix":
            suffix = self.text[2:]
            return path.endswith(suffix) or (suffix[:1] == "/" and path == suffix[1:])
        assert self.regexp is not None  # noqa: S101 - every other kind returned above: for the type checker
        return self.regexp.match(path) is not None


def _compile(text: str, *, exclusion: bool) -> _Pattern:
    """moby's ``Pattern.compile``: the match type, and the Go regexp for the "regexp" type."""
    regex = "^"
    kind = "exact"
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        first = i == 0
        i += 1
        if ch == "*":
            if i < n and text[i] == "*":
                i += 1
                if i < n and text[i] == "/":
                    i += 1
                if i == n:
                    if kind == "exact":
                        kind = "prefix"
                    else:
                        regex += ".*"
                        kind = "regexp"
                else:
                    regex += "(.*/)?"
                    kind = "regexp"
                if first:
                    kind = "suffix"
            else:
                regex += "[^/]*"
                kind = "regexp"
        elif ch == "?":
            regex += "[^/]"
            kind = "regexp"
        elif ch in _MOBY_ESCAPED:
            regex += "\\" + ch
        elif ch == "\\":
            if i < n:
                regex += "\\" + text[i]
                i += 1
                kind = "regexp"
            else:
                regex += "\\"
        elif ch in "[]":
            regex += ch
            kind = "regexp"
        else:
            regex += ch
    if kind != "regexp":
        return _Pattern(text, exclusion, kind, None)
    return _Pattern(text, exclusion, kind, re.compile(translate_re2(regex + "$", text), re.DOTALL))


class PatternMatcher:
    """moby's ``PatternMatcher``: ``New`` then ``MatchesOrParentMatches``; BadPattern when invalid.

    Unlike moby, every pattern is compiled up front, so an invalid one is reported when the ignore
    file is read rather than when the first path reaches it.
    """

    def __init__(self, patterns: list[str]) -> None:
        self.patterns: list[_Pattern] = []
        self._folders: dict[tuple[int, str], bool] = {}
        for raw in patterns:
            text = raw.strip()
            if not text:
                continue
            text = goglob.clean(text)
            exclusion = text[0] == "!"
            if exclusion:
                if len(text) == 1:
                    raise BadPattern(raw, 'illegal exclusion pattern: "!"')
                text = text[1:]
            goglob.match(text, ".")  # moby's syntax check
            self.patterns.append(_compile(text, exclusion=exclusion))

    def matches(self, path: str) -> bool:
        """``MatchesOrParentMatches(path)``: is ``path`` (slash-separated, relative) excluded?"""
        matched = False
        parent = goglob.clean(path.rsplit("/", 1)[0]) if "/" in path else "."
        parent = "" if parent == "." else parent  # Go: filepath.Dir(path) == "." means no parent
        for index, pattern in enumerate(self.patterns):
            if pattern.exclusion != matched:
                continue
            if pattern.match(path) or (parent and self._covers(index, parent)):
                matched = not pattern.exclusion
        return matched

    def exceptions_under(self, folder: str) -> bool:
        """Could an exception (``!pattern``) re-include something under ``folder``? BuildKit's context
        walk then still enters the excluded folder and sends it (fsutil's walker: an exception whose
        text starts with ``folder/``)."""
        prefix = folder + "/"
        return any(p.exclusion and (p.text + "/").startswith(prefix) for p in self.patterns)

    def _covers(self, index: int, folder: str) -> bool:
        """Does pattern ``index`` match ``folder`` or one of its parents? (memoised: many files share
        a folder, and this is what makes matching a large context cheap)"""
        key = (index, folder)
        hit = self._folders.get(key)
        if hit is None:
            parent = folder.rsplit("/", 1)[0] if "/" in folder else ""
            hit = self.patterns[index].match(folder) or bool(parent and self._covers(index, parent))
            self._folders[key] = hit
        return hit


# --- Go RE2 syntax → Python ``re`` (only what moby's regexps can contain) -----------------------

_PERL = {"d": "0-9", "s": "\\t\\n\\f\\r ", "w": "0-9A-Za-z_"}
_POSIX = {
    "alnum": "0-9A-Za-z", "alpha": "A-Za-z", "ascii": "\\x00-\\x7f", "blank": "\\t ", "cntrl": "\\x00-\\x1f\\x7f",
    "digit": "0-9", "graph": "!-~", "lower": "a-z", "print": " -~", "punct": "!-/:-@\\[-`{-~",
    "space": "\\t\\n\\v\\f\\r ", "upper": "A-Z", "word": "0-9A-Za-z_", "xdigit": "0-9A-Fa-f",
}
_OCTAL_DIGITS = 3  # RE2's \123: at most three octal digits
_CONTROL = {"a": "\a", "f": "\f", "t": "\t", "n": "\n", "r": "\r", "v": "\v"}


def _escape_char(regex: str, i: int, whole: str) -> tuple[str, int]:
    """One RE2 escape (``regex[i]`` is the character after ``\\``) as a literal character."""
    if i >= len(regex):
        raise BadPattern(whole, "trailing backslash at end of expression")
    c = regex[i]
    if c in _CONTROL:
        return _CONTROL[c], i + 1
    if "0" <= c <= "7" and (c == "0" or (regex[i + 1 : i + 2].isdigit() and regex[i + 1] <= "7")):
        digits = c
        while len(digits) < _OCTAL_DIGITS and regex[i + len(digits) : i + len(digits) + 1] in tuple("01234567"):
            digits += regex[i + len(digits)]
        return chr(int(digits, 8)), i + len(digits)
    if c == "x":
        if regex[i + 1 : i + 2] == "{":
            end = regex.find("}", i + 2)
            if end < 0 or not re.fullmatch(r"[0-9A-Fa-f]+", regex[i + 2 : end]):
                raise BadPattern(whole, "invalid escape sequence")
            return chr(int(regex[i + 2 : end], 16)), end + 1
        digits = regex[i + 1 : i + 3]
        if not re.fullmatch(r"[0-9A-Fa-f]{2}", digits):
            raise BadPattern(whole, "invalid escape sequence")
        return chr(int(digits, 16)), i + 3
    if c.isascii() and not c.isalnum():
        return c, i + 1
    raise BadPattern(whole, "invalid escape sequence")


def _class(regex: str, i: int, whole: str) -> tuple[str, int]:
    """An RE2 class starting after its ``[``; returns the Python class and the index after ``]``."""
    negated = regex.startswith("^", i)
    i += 1 if negated else 0
    items: list[str] = []
    first = True
    while first or regex[i : i + 1] != "]":
        if i >= len(regex):
            raise BadPattern(whole, "missing closing ]")
        first = False
        if regex.startswith("[:", i) and (end := regex.find(":]", i + 2)) >= 0:
            name = regex[i + 2 : end]
            group = _POSIX.get(name.removeprefix("^"))
            if group is None:
                raise BadPattern(whole, "invalid character class range")
            items.append(f"[^{group}]" if name.startswith("^") else f"[{group}]")
            i = end + 2
            continue
        if regex.startswith("\\", i) and regex[i + 1 : i + 2].lower() in _PERL:
            c = regex[i + 1]
            group = _PERL[c.lower()]
            items.append(f"[^{group}]" if c.isupper() else f"[{group}]")
            i += 2
            continue
        if regex.startswith(("\\p", "\\P"), i):
            raise BadPattern(whole, "Unicode classes (\\p) are not supported by envctl")
        lo, i = (_escape_char(regex, i + 1, whole) if regex[i] == "\\" else (regex[i], i + 1))
        hi = lo
        if regex[i : i + 1] == "-" and regex[i + 1 : i + 2] not in ("]", ""):
            hi, i = (_escape_char(regex, i + 2, whole) if regex[i + 1] == "\\" else (regex[i + 1], i + 2))
            if hi < lo:
                raise BadPattern(whole, "invalid character class range")
        items.append(re.escape(lo) if lo == hi else f"[{re.escape(lo)}-{re.escape(hi)}]")
    if not any(item.startswith("[^") for item in items):
        # the usual case: one flat class ([^/] from `*`, [a-z] ...), much faster than alternatives
        body = "".join(item[1:-1] if item.startswith("[") else item for item in items)
        return f"[{'^' if negated else ''}{body}]", i + 1
    union = "|".join(items)
    return (f"(?:(?!{union})[\\s\\S])" if negated else f"(?:{union})"), i + 1


def translate_re2(regex: str, whole: str) -> str:
    """The Python equivalent of a Go regexp of the shapes moby's ``compile`` produces."""
    out: list[str] = []
    i = 0
    while i < len(regex):
        ch = regex[i]
        if ch == "[":
            text, i = _class(regex, i + 1, whole)
            out.append(text)
            continue
        if ch == "\\":
            c = regex[i + 1 : i + 2]
            if c.lower() in _PERL and c:
                group = _PERL[c.lower()]
                out.append(f"[^{group}]" if c.isupper() else f"[{group}]")
                i += 2
            elif c in ("A", "z", "b", "B"):
                out.append({"A": "\\A", "z": "\\Z", "b": "\\b", "B": "\\B"}[c])
                i += 2
            elif c in ("p", "P", "Q", "E", "C"):
                raise BadPattern(whole, f"the escape \\{c} is not supported by envctl")
            else:
                literal, i = _escape_char(regex, i + 1, whole)
                out.append(re.escape(literal))
            continue
        if ch in "*?" and (not out or out[-1] in ("(", "^") or regex[i - 1 : i] in ("*", "?")):
            raise BadPattern(whole, "missing argument to repetition operator")
        out.append({"^": "\\A", "$": "\\Z", ".": "[^\\n]"}.get(ch, re.escape(ch) if ch not in "()*?" else ch))
        i += 1
    return "".join(out)
