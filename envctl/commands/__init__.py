"""One module per CLI verb. Each exposes NAME, HELP and a typer ``command`` function.

The helpers below are the flag checks several verbs share, so every verb words them alike.
"""

from __future__ import annotations

from collections.abc import Sequence

from envctl.errors import InputError


def require_choice(flag: str, value: str, choices: Sequence[str], what: str) -> None:
    """``--output yaml`` on a verb without yaml → ``--output 'yaml' is not a plan format`` (exit 2)."""
    if value not in choices:
        msg = f"{flag} {value!r} is not {what}"
        raise InputError(msg, hint=f"use one of: {', '.join(choices)}")


def split_names(text: str | None) -> tuple[str, ...] | None:
    """``--services "a, b"`` → ``("a", "b")``; None when the flag was not given."""
    return tuple(name.strip() for name in text.split(",") if name.strip()) if text else None
