"""How phases report progress without printing: they call a ``Progress`` the CLI hands them.

``output.ConsoleProgress`` shows it (live on a TTY, plain lines otherwise); tests pass a
``CollectingProgress`` and assert on what was said.
"""

from __future__ import annotations

import threading
from typing import Protocol

__all__ = ["CollectingProgress", "NullProgress", "Progress"]


class Progress(Protocol):
    def step(self, subject: str, message: str) -> None:
        """A state change worth a line: ``("api", "built in 3.1 s (cache hit 5/6)")``."""

    def detail(self, subject: str, line: str) -> None:
        """A line of tool output (build log, helm output); shown with --verbose or on a live TTY."""


class NullProgress:
    def step(self, subject: str, message: str) -> None:
        pass

    def detail(self, subject: str, line: str) -> None:
        pass


class CollectingProgress:
    """Keeps every step and detail (for tests and for failure tails)."""

    def __init__(self) -> None:
        self.steps: list[tuple[str, str]] = []
        self.details: list[tuple[str, str]] = []
        self._lock = threading.Lock()

    def step(self, subject: str, message: str) -> None:
        with self._lock:
            self.steps.append((subject, message))

    def detail(self, subject: str, line: str) -> None:
        with self._lock:
            self.details.append((subject, line))
