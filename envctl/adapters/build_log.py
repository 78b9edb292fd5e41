"""A build's output kept bounded: what envctl reads from a log that may run to hundreds of MB.

Build output is streamed line by line to the progress display; what is *kept* is only what is read
afterwards: the last lines (the error and the tail a failed build shows) and the few lines that say
which steps ran and which were cached (BuildKit's ``#N [stage k/n] STEP``, ``#N CACHED``,
``#N ERROR: …``; the legacy builder's ``Step k/n : …`` and ``---> Using cache``). So a step that
prints 150 MB costs the same memory as one that prints nothing.
"""

from __future__ import annotations

import re
from collections import deque

__all__ = ["BuildLog"]

TAIL_LINES = 200
_MARKS_MAX = 20_000  # step lines kept at most (a log that forges them cannot grow memory either)
_MARK = re.compile(r"^(#\d+ (\[|CACHED$|ERROR: )|Step \d+/\d+ : )|Using cache")


class BuildLog:
    """The last ``TAIL_LINES`` lines, and every step line before them, in the order printed."""

    def __init__(self, tail: int = TAIL_LINES) -> None:
        self._count = 0
        self._tail: deque[tuple[int, str]] = deque(maxlen=tail)
        self._marks: list[tuple[int, str]] = []

    def add(self, line: str) -> None:
        self._count += 1
        self._tail.append((self._count, line))
        if len(self._marks) < _MARKS_MAX and _MARK.search(line):
            self._marks.append((self._count, line))

    def lines(self) -> list[str]:
        """The kept lines in order: the step lines older than the tail, then the tail."""
        first = self._tail[0][0] if self._tail else self._count + 1
        return [line for at, line in self._marks if at < first] + [line for _at, line in self._tail]
