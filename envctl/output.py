"""The one module that prints. Everything else returns data or rich renderables.

stdout carries results (tables, JSON); stderr carries progress, warnings and errors, so
``envctl plan --output json | jq`` always gets clean JSON.
"""

from __future__ import annotations

import json
import sys
import threading
from typing import TYPE_CHECKING, Any, Self

if TYPE_CHECKING:
    from rich.console import Console, RenderableType

__all__ = [
    "ConsoleProgress",
    "LiveProgress",
    "configure",
    "debug",
    "error",
    "info",
    "json_out",
    "line",
    "make_progress",
    "problem",
    "render",
    "reset",
    "warn",
]

_verbose = False
_consoles: dict[str, Console] = {}


def escape(text: str) -> str:
    from rich.markup import escape as rich_escape

    return rich_escape(text)


def _console(name: str) -> Console:
    """The stdout/stderr rich console, made on first use: a command that only prints JSON
    (``envctl plan -o json`` in CI) never pays for importing rich's console."""
    if name not in _consoles:
        from rich.console import Console

        _consoles[name] = Console(stderr=name == "stderr", soft_wrap=True, highlight=False)
    return _consoles[name]


def reset() -> None:
    """Forget the consoles and settings of a previous invocation (the CLI run in-process by tests)."""
    global _verbose  # noqa: PLW0603 - module state of one invocation
    _verbose = False
    _consoles.clear()


def configure(*, verbose: bool) -> None:
    global _verbose  # noqa: PLW0603 - set once per invocation by the CLI callback
    _verbose = verbose


def line(text: str) -> None:
    """A plain result line on stdout (no markup interpretation)."""
    _console("stdout").print(text, markup=False)


def render(renderable: RenderableType) -> None:
    _console("stdout").print(renderable)


def json_out(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, sort_keys=False) + "\n")
    sys.stdout.flush()


def info(text: str) -> None:
    _console("stderr").print(text, markup=False)


def warn(text: str) -> None:
    _console("stderr").print(f"warning: {text}", style="yellow", markup=False)


def debug(text: str) -> None:
    if _verbose:
        _console("stderr").print(text, style="dim", markup=False)


def error(message: str, hint: str | None) -> None:
    _console("stderr").print(f"error: {message}", style="bold red", markup=False)
    if hint:
        _console("stderr").print(f"hint: {hint}", markup=False)


def problem(renderable: RenderableType) -> None:
    """Details of a failure (pod logs, events) on stderr, before the one-line error."""
    _console("stderr").print(renderable)


def traceback() -> None:
    _console("stderr").print_exception()


class ConsoleProgress:
    """Progress on stderr as plain lines (CI logs, pipes): one line per step; tool output with --verbose."""

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        pass

    def step(self, subject: str, message: str) -> None:
        _console("stderr").print(f"[bold]{subject}[/bold] {escape(message)}", highlight=False)

    def detail(self, subject: str, line: str) -> None:
        if _verbose:
            _console("stderr").print(f"  {subject} | {line}", style="dim", markup=False)


class LiveProgress(ConsoleProgress):
    """On a terminal: one live row per service/step with its latest state, above the step log."""

    def __init__(self) -> None:
        from rich.live import Live

        self._latest: dict[str, str] = {}
        self._lock = threading.Lock()
        self._live = Live(self._table(), console=_console("stderr"), refresh_per_second=8, transient=True)

    def __enter__(self) -> Self:
        self._live.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._live.stop()

    def _table(self) -> RenderableType:
        from rich.table import Table

        table = Table.grid(padding=(0, 2))
        for subject, message in self._latest.items():
            table.add_row(f"[bold]{escape(subject)}[/bold]", escape(message))
        return table

    def step(self, subject: str, message: str) -> None:
        with self._lock:
            self._latest[subject] = message
            self._live.console.print(f"[bold]{escape(subject)}[/bold] {escape(message)}", highlight=False)
            self._live.update(self._table())

    def detail(self, subject: str, line: str) -> None:
        if _verbose:
            super().detail(subject, line)
            return
        with self._lock:
            self._latest[subject] = line[-100:]
            self._live.update(self._table())


def make_progress() -> ConsoleProgress:
    """Live rows on a terminal, plain lines otherwise (CI logs stay readable)."""
    return LiveProgress() if _console("stderr").is_terminal else ConsoleProgress()
