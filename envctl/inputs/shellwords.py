"""Dockerfile words as BuildKit's shell lexer reads them (frontend/dockerfile/shell/lex.go), for paths.

``process_words`` splits an instruction's arguments (COPY/ADD sources, FROM, ARG/ENV values) into
words: whitespace separates words outside quotes; ``'...'`` is literal; ``"..."`` allows ``$``
expansion; the escape character (``\\`` or the ``# escape=`` directive's) takes the next character
literally. Expansions: ``$V``, ``${V}``, ``${V:-word}``, ``${V-word}``, ``${V:+word}``, ``${V+word}``,
``${V:?msg}``, ``${V?msg}``, where ``word`` is itself processed, so ``${A:-${B:-c}}`` nests as in
BuildKit. Unset variables expand to nothing. Malformed text raises ``WordError`` (exit 2 upstream).
"""

from __future__ import annotations

from collections.abc import Mapping

__all__ = ["WordError", "process_word", "process_words", "split_raw"]

_NAME_START = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz_")
_NAME = _NAME_START | frozenset("0123456789")


class WordError(ValueError):
    """BuildKit's lexer would reject this text (the message says how)."""


class _Lexer:
    def __init__(self, text: str, env: Mapping[str, str], escape: str) -> None:
        self.text, self.env, self.escape, self.pos = text, env, escape, 0

    def peek(self) -> str:
        return self.text[self.pos] if self.pos < len(self.text) else ""

    def take(self) -> str:
        ch = self.peek()
        self.pos += 1
        return ch

    def words(self, stop: str = "", *, split: bool = True) -> list[str]:
        """Words up to ``stop`` (consumed) or the end; one word when ``split`` is False."""
        words: list[str] = []
        word: list[str] = []
        started = False
        while True:
            ch = self.peek()
            if ch == "":
                if stop:
                    msg = f"missing '{stop}' in {self.text!r}"
                    raise WordError(msg)
                break
            if stop and ch == stop:
                self.pos += 1
                break
            if split and ch in " \t\r\n":
                self.pos += 1
                if started:
                    words.append("".join(word))
                    word, started = [], False
                continue
            started = True
            self.pos += 1
            if ch == self.escape:
                nxt = self.take()
                word.append(nxt or ch)
            elif ch == "'":
                end = self.text.find("'", self.pos)
                if end < 0:
                    msg = f"unexpected end of statement while looking for matching single-quote in {self.text!r}"
                    raise WordError(msg)
                word.append(self.text[self.pos : end])
                self.pos = end + 1
            elif ch == '"':
                word.append(self.double_quoted())
            elif ch == "$":
                word.append(self.dollar())
            else:
                word.append(ch)
        if started:
            words.append("".join(word))
        return words

    def double_quoted(self) -> str:
        out: list[str] = []
        while True:
            ch = self.take()
            if ch == "":
                msg = f"unexpected end of statement while looking for matching double-quote in {self.text!r}"
                raise WordError(msg)
            if ch == '"':
                return "".join(out)
            if ch == self.escape and self.peek() in ('"', "$", self.escape):
                out.append(self.take())
            elif ch == "$":
                out.append(self.dollar())
            else:
                out.append(ch)

    def dollar(self) -> str:
        if self.peek() != "{":
            name = self.name()
            return self.env.get(name, "") if name else "$"
        self.pos += 1
        name = self.name()
        if not name:
            msg = f"bad substitution in {self.text!r}"
            raise WordError(msg)
        ch = self.take()
        if ch == "}":
            return self.env.get(name, "")
        colon = ch == ":"
        op = self.take() if colon else ch
        if op not in ("-", "+", "?"):
            msg = f"unsupported modifier ({ch}{op if colon else ''}) in substitution {self.text!r}"
            raise WordError(msg)
        word = "".join(self.words(stop="}", split=False))
        value = self.env.get(name)
        is_set = value is not None and (value != "" or not colon)
        if op == "-":
            return value if is_set and value is not None else word
        if op == "+":
            return word if is_set else ""
        if not is_set:  # "?": BuildKit fails the build with the message
            msg = f"{name}: {word or 'is not allowed to be unset'}"
            raise WordError(msg)
        return value or ""

    def name(self) -> str:
        start = self.pos
        if self.peek() in _NAME_START and self.peek():
            while self.peek() and self.peek() in _NAME:
                self.pos += 1
        return self.text[start : self.pos]


def process_words(text: str, env: Mapping[str, str], escape: str = "\\") -> list[str]:
    """The words of ``text`` after quotes, escapes and expansions."""
    return _Lexer(text, env, escape).words()


def process_word(text: str, env: Mapping[str, str], escape: str = "\\") -> str:
    """``text`` as one word (whitespace kept), after quotes, escapes and expansions."""
    return "".join(_Lexer(text, env, escape).words(split=False))


def split_raw(text: str, escape: str = "\\") -> list[str]:
    """``text`` split at whitespace outside quotes and ``${...}``, each word kept as written (quotes,
    escapes and ``$`` forms untouched, for ``process_word`` later), as BuildKit's parser splits
    instruction arguments before expanding them."""
    words: list[str] = []
    start: int | None = None
    quote = ""
    braces = 0
    i = 0
    while i < len(text):
        ch = text[i]
        if quote == "'":
            quote = "" if ch == "'" else quote
        elif ch == escape and i + 1 < len(text):
            start = i if start is None else start
            i += 1
        elif ch == "$" and text[i + 1 : i + 2] == "{":
            start = i if start is None else start
            braces += 1
            i += 1
        elif ch == "}" and braces:
            braces -= 1
        elif quote == '"':
            quote = "" if ch == '"' else quote
        elif ch in " \t\r\n" and not braces:
            if start is not None:
                words.append(text[start:i])
                start = None
        else:
            start = i if start is None else start
            if ch in "'\"":
                quote = ch
        i += 1
    if braces:
        msg = f"bad substitution (missing '}}') in {text!r}"
        raise WordError(msg)
    if quote:
        kind = "single" if quote == "'" else "double"
        msg = f"unexpected end of statement while looking for matching {kind}-quote"
        raise WordError(msg)
    if start is not None:
        words.append(text[start:])
    return words
