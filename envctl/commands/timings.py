"""`envctl timings`: the last run as a waterfall, comparisons over runs, advice, and exports."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from envctl import output
from envctl.commands import require_choice
from envctl.errors import InputError

if TYPE_CHECKING:
    from envctl.toolbox import AppState  # a command module must not import config (start-up time)

NAME = "timings"
HELP = "Show where the time of the last `envctl up` went: waterfall, critical path, totals by tool, advice."

_FORMATS = ("table", "json", "markdown", "chrome-trace")
# A run id (``20261129T065724Z-3fa1``) or a prefix of one: never a path.
_RUN_ID = re.compile(r"[0-9]{1,8}(T[0-9]{0,6}(Z(-[0-9a-f]{0,4})?)?)?")


def command(
    ctx: typer.Context,
    last: Annotated[
        int | None, typer.Option("--last", metavar="N", min=1, help="Compare the last N runs (implies --compare).")
    ] = None,
    compare: Annotated[
        bool,
        typer.Option("--compare", help="Median and p95 per phase and service over the last runs; flag regressions."),
    ] = False,
    run_id: Annotated[
        str | None, typer.Option("--run", metavar="ID", help="Show this run instead of the latest.")
    ] = None,
    output_format: Annotated[
        str, typer.Option("--output", "-o", metavar="FORMAT", help="table, json, markdown or chrome-trace.")
    ] = "table",
    svg: Annotated[
        Path | None, typer.Option("--svg", metavar="FILE", help="Also write the waterfall as an SVG picture.")
    ] = None,
) -> None:
    require_choice("--output", output_format, _FORMATS, "a timings format")
    if run_id is not None and not _RUN_ID.fullmatch(run_id):
        msg = f"--run {run_id!r} is not a run id"
        hint = "pass an id like 20261129T065724Z-3fa1 (or its start); `envctl timings -o json` shows them"
        raise InputError(msg, hint=hint)
    state: AppState = ctx.obj
    from envctl.timing import analysis as an
    from envctl.timing.advice import advise
    from envctl.timing.history import RunHistory
    from envctl.views import timings_formats as formats

    history = RunHistory(state.workspace.runs_dir)
    window = last or 10
    scan = history.scan(last=max(window, 10))
    if scan.corrupt:
        names = ", ".join(p.name for p in scan.corrupt)
        output.warn(f"skipped {len(scan.corrupt)} unreadable run file(s) in {history.runs_dir}: {names}")
    if run_id is not None:
        run = history.read(run_id)
    elif scan.records:
        run = scan.records[-1]
    else:
        msg = f"no runs recorded yet in {history.runs_dir}; run `envctl up`"
        raise InputError(msg, hint="every `envctl up` records its timings there")

    analysis = an.analyze(run)
    recent = list(scan.records[-window:])
    advice = advise(run, analysis, recent)
    stats = None
    if compare or last is not None:
        if run_id is not None:  # compare the chosen run against the runs before it
            recent = [*[r for r in recent if r.meta.run_id < run.meta.run_id][-(window - 1):], run]
        stats = an.compare_runs(recent)

    if svg is not None:
        from envctl.views.timings_svg import waterfall_svg

        svg.write_text(waterfall_svg(run, analysis), encoding="utf-8")
        output.info(f"wrote {svg}")
    if output_format == "json":
        output.json_out(
            formats.timings_json(run, analysis, advice, (recent, stats) if stats is not None else None, scan.corrupt)
        )
    elif output_format == "markdown":
        output.line(formats.markdown(run, analysis, advice, stats))
    elif output_format == "chrome-trace":
        output.line(json.dumps(formats.chrome_trace(run, analysis)))
    else:
        from envctl.views.timings import timings_view

        output.render(timings_view(run, analysis, advice, stats, len(recent)))
