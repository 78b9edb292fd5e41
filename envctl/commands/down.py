"""`envctl down`: not built yet."""

from __future__ import annotations

import typer

from envctl.errors import NotBuiltYetError

NAME = "down"
HELP = "Not built yet."


def command(ctx: typer.Context) -> None:
    msg = "`envctl down` is not built yet"
    raise NotBuiltYetError(msg, hint="see the open issues for its status")
