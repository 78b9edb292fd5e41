"""`envctl up`: not built yet."""

from __future__ import annotations

import typer

from envctl.errors import NotBuiltYetError

NAME = "up"
HELP = "Not built yet."


def command(ctx: typer.Context) -> None:
    msg = "`envctl up` is not built yet"
    raise NotBuiltYetError(msg, hint="see the open issues for its status")
