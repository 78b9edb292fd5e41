"""The one module that prints. Everything else returns data or rich renderables.

stdout carries results (tables, JSON); stderr carries progress, warnings and errors, so
``envctl plan --output json | jq`` always gets clean JSON.

With ``--output json`` (``begin(json_document=True)``) stdout carries exactly one JSON document: the
verb hands it to ``json_out`` and the CLI writes it once the verb is over (``finish``), with an
``error`` object added when the verb failed, or a bare ``{version, error}`` when it failed before it
had one. Result lines and tables meant for a reader go to stderr in that mode.
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
    "begin",
    "configure",
    "debug",
    "error",
    "finish",
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
# One invocation's JSON mode: whether stdout is reserved for one document, and that document.
_json: dict[str, Any] = {"on": False, "document": None}
JSON_VERSION = 1


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
    _json.update(on=False, document=None)


def begin(*, json_document: bool) -> None:
    """Start an invocation; ``json_document``: stdout is reserved for one JSON document."""
    _json.update(on=json_document, document=None)


def configure(*, verbose: bool) -> None:
    global _verbose  # noqa: PLW0603 - set once per invocation by the CLI callback
    _verbose = verbose


def _results() -> str:
    """Where result lines and tables go: stdout, unless stdout is reserved for a JSON document."""
    return "stderr" if _json["on"] else "stdout"


def line(text: str) -> None:
    """A plain result line on stdout (no markup interpretation)."""
    _console(_results()).print(text, markup=False)


def render(renderable: RenderableType) -> None:
    _console(_results()).print(renderable)


def json_out(data: dict[str, Any]) -> None:
    """The verb's JSON document. In JSON mode it is held until ``finish`` (a failure after it adds an
    ``error`` object to it); otherwise written now."""
    if _json["on"]:
        _json["document"] = data
        return
    _write_json(data)


def finish(exit_code: int | None = None, message: str = "", hint: str | None = None) -> None:
    """End of an invocation in JSON mode: write its one document, with ``error: {exit_code, message,
    hint}`` when it failed (``exit_code`` given). A verb that failed before it had a document gets
    ``{version, error}``; a success without one (``--help``) writes nothing more."""
    if not _json["on"]:
        return
    document: dict[str, Any] | None = _json["document"]
    _json["document"] = None
    if exit_code is not None:
        error = {"exit_code": exit_code, "message": message, "hint": hint}
        document = {**(document or {"version": JSON_VERSION}), "error": error}
    if document is not None:
        _write_json(document)


def _write_json(data: dict[str, Any]) -> None:
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
