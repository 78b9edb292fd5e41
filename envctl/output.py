"""The one module that prints. Everything else returns data or rich renderables.

stdout carries results (tables, JSON); stderr carries progress, warnings and errors, so
``envctl plan --output json | jq`` always gets clean JSON.
"""

from __future__ import annotations

import json
import sys
from typing import Any

from rich.console import Console, RenderableType

__all__ = ["ConsoleProgress", "configure", "debug", "error", "info", "json_out", "line", "render", "stderr", "stdout", "warn"]

stdout = Console(soft_wrap=True, highlight=False)
stderr = Console(stderr=True, soft_wrap=True, highlight=False)
_verbose = False


def configure(*, verbose: bool) -> None:
    global _verbose  # noqa: PLW0603 - set once per invocation by the CLI callback
    _verbose = verbose


def is_verbose() -> bool:
    return _verbose


def line(text: str) -> None:
    """A plain result line on stdout (no markup interpretation)."""
    stdout.print(text, markup=False)


def render(renderable: RenderableType) -> None:
    stdout.print(renderable)


def json_out(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, sort_keys=False) + "\n")
    sys.stdout.flush()


def info(text: str) -> None:
    stderr.print(text, markup=False)


def warn(text: str) -> None:
    stderr.print(f"warning: {text}", style="yellow", markup=False)


def debug(text: str) -> None:
    if _verbose:
        stderr.print(text, style="dim", markup=False)


def error(message: str, hint: str | None) -> None:
    stderr.print(f"error: {message}", style="bold red", markup=False)
    if hint:
        stderr.print(f"hint: {hint}", markup=False)


def problem(renderable: RenderableType) -> None:
    """Details of a failure (pod logs, events) on stderr, before the one-line error."""
    stderr.print(renderable)


def traceback() -> None:
    stderr.print_exception()


class ConsoleProgress:
    """Progress on stderr: one line per step; tool output only with --verbose."""

    def step(self, subject: str, message: str) -> None:
        stderr.print(f"[bold]{subject}[/bold] {message}", highlight=False)

    def detail(self, subject: str, line: str) -> None:
        if _verbose:
            stderr.print(f"  {subject} | {line}", style="dim", markup=False)
