"""`envctl status`: not built yet."""

from __future__ import annotations

import typer

from envctl.errors import NotBuiltYetError

NAME = "status"
HELP = "Not built yet."


def command(ctx: typer.Context) -> None:
    msg = "`envctl status` is not built yet"
    raise NotBuiltYetError(msg, hint="see the open issues for its status")
