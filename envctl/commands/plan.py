"""`envctl plan`: which images to build, pull or skip, and why (no side effects)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from envctl import output
from envctl.commands import require_choice, split_names

if TYPE_CHECKING:
    from envctl.toolbox import AppState  # a command module must not import config (start-up time)

NAME = "plan"
HELP = "Show, per service, whether its image must be built, pulled or skipped, and why."

_FORMATS = ("table", "json", "github")


def command(
    ctx: typer.Context,
    changed_only: Annotated[
        bool, typer.Option("--changed-only", help="Skip services whose inputs did not change since --base.")
    ] = False,
    base: Annotated[
        str | None, typer.Option("--base", metavar="REF", help="Compare image inputs with this git ref.")
    ] = None,
    services: Annotated[
        str | None, typer.Option("--services", metavar="A,B", help="Only these services (and what they build FROM).")
    ] = None,
    output_format: Annotated[
        str, typer.Option("--output", "-o", metavar="FORMAT", help="table, json or github ($GITHUB_OUTPUT lines).")
    ] = "table",
) -> None:
    require_choice("--output", output_format, _FORMATS, "a plan format")
    selected = split_names(services)
    state: AppState = ctx.obj
    plan = state.plan(base=base, changed_only=changed_only, selected=selected)
    if output_format == "json":
        output.json_out(plan.to_dict())
        return
    from envctl.views.plan import github_lines, plan_summary, plan_table

    if output_format == "github":
        lines = github_lines(plan)
        target = state.environ.get("GITHUB_OUTPUT")
        if target:
            with Path(target).open("a", encoding="utf-8") as handle:
                handle.write("".join(f"{line}\n" for line in lines))
        for line in lines:
            output.line(line)
        return
    output.render(plan_table(plan))
    output.line(plan_summary(plan))
    if not plan.local_images_checked:
        output.warn("local images could not be checked; every service is planned as a build")
