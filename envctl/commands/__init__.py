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


def split_names(text: str | None, flag: str = "--services") -> tuple[str, ...] | None:
    """``--services "a, b"`` → ``("a", "b")``; None when the flag was not given.

    Given but naming nothing (``","``, or ``""`` from an empty CI variable) is an error: planning
    nothing would still say ``needs_cluster=true``, and planning everything is not what was asked.
    """
    if text is None:
        return None
    names = tuple(name.strip() for name in text.split(",") if name.strip())
    if not names:
        msg = f"{flag} {text!r} names no service"
        raise InputError(msg, hint=f"name at least one service, or leave out {flag} to plan every service")
    return names
