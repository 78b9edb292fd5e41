"""Terminal views of the timing record: the waterfall, the comparison table, the advice.

Pure: each function returns a rich renderable; ``output.render`` prints it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from envctl.timing.advice import Advice
from envctl.timing.analysis import PHASE_LABEL, PHASE_ORDER, RunAnalysis, Stat
from envctl.timing.history import RunRecord
from envctl.views.palette import CRITICAL_COLOUR, phase_colour

__all__ = ["compare_table", "timings_view", "waterfall"]

CRITICAL_STYLE = f"bold {CRITICAL_COLOUR}"
_OUTCOME_STYLES = {"ok": "green", "skipped": "grey50", "failed": "bold red", "cancelled": "yellow"}


def _position(seconds: float, wall: float, width: int) -> float:
    """Where ``seconds`` falls on the axis (a time no axis can hold, e.g. from a damaged record, ends it)."""
    position = seconds / wall * width
    return max(0.0, position) if math.isfinite(position) else float(width)


def _bar(start: float, end: float, wall: float, width: int, *, style: str, glyph: str) -> Text:
    first = min(width - 1, int(_position(start, wall, width)))
    last = max(first + 1, min(width, round(_position(end, wall, width))))
    text = Text(" " * first)
    text.append(glyph * (last - first), style=style)
    text.append(" " * (width - last))
    return text


def waterfall(run: RunRecord, analysis: RunAnalysis, width: int = 48) -> Table:
    """One row per span on a shared time axis, grouped by phase; critical-path bars in red."""
    wall = max(analysis.wall_seconds, 1e-3)
    meta = run.meta
    table = Table(
        title=f"envctl {meta.command} · run {meta.run_id} · {meta.outcome} · {analysis.wall_seconds:.1f} s",
        title_justify="left",
        show_edge=False,
        box=None,
        pad_edge=False,
    )
    table.add_column("step", no_wrap=True)
    end_label = f"{wall:.1f} s"
    table.add_column(f"0 s {'─' * (width - 5 - len(end_label))} {end_label}", no_wrap=True, width=width)
    table.add_column("seconds", justify="right")
    table.add_column("outcome")
    kinds = sorted({s.kind for s in run.spans}, key=lambda k: PHASE_ORDER.index(k) if k in PHASE_ORDER else 99)
    for kind in kinds:
        style = phase_colour(kind)
        table.add_row(Text(PHASE_LABEL.get(kind, kind), style=f"bold {style}"), "", "", "")
        for span in (s for s in run.spans if s.kind == kind):
            critical = analysis.is_critical(span)
            label = Text(("★ " if critical else "  ") + (span.service or span.name))
            glyph = "░" if span.outcome in ("skipped", "cancelled") else "█"
            bar = _bar(span.start, span.end, wall, width, style=CRITICAL_STYLE if critical else style, glyph=glyph)
            note = span.outcome
            if span.outcome != "ok" and span.attrs.get("reason"):
                note += f" ({span.attrs['reason']})"
            table.add_row(label, bar, f"{span.seconds:.1f}", Text(note, style=_OUTCOME_STYLES.get(span.outcome, "")))
    return table


def _totals(analysis: RunAnalysis) -> Text:
    text = Text("time by tool: ", style="bold")
    text.append("  ·  ".join(f"{tool} {secs:.1f} s" for tool, secs in analysis.tools))
    return text


def _critical(analysis: RunAnalysis) -> Text:
    text = Text("★ critical path: ", style=CRITICAL_STYLE)
    text.append(" → ".join(f"{s.name} {s.seconds:.1f} s" for s in analysis.critical) or "no spans")
    return text


def compare_table(stats: Sequence[Stat], runs: int) -> Table:
    table = Table(title=f"last {runs} runs: median and p95, latest against the runs before it", title_justify="left")
    for name, justify in (
        ("step", "left"),
        ("runs", "right"),
        ("median s", "right"),
        ("p95 s", "right"),
        ("latest s", "right"),
        ("vs before", "right"),
        ("", "left"),
    ):
        table.add_column(name, justify=justify)  # type: ignore[arg-type]
    for stat in stats:
        ratio = f"{stat.latest / stat.baseline:.2f}×" if stat.baseline else "—"
        flag = Text("regression", style="bold red") if stat.regression else Text("")
        table.add_row(
            stat.label, str(stat.runs), f"{stat.median:.1f}", f"{stat.p95:.1f}", f"{stat.latest:.1f}", ratio, flag
        )
    return table


def timings_view(
    run: RunRecord,
    analysis: RunAnalysis,
    advice: Sequence[Advice] = (),
    stats: Sequence[Stat] | None = None,
    compared_runs: int = 0,
) -> RenderableType:
    parts: list[RenderableType] = [waterfall(run, analysis), Text(""), _critical(analysis), _totals(analysis)]
    if stats is not None:
        parts += [Text(""), compare_table(stats, compared_runs)]
    if advice:
        parts += [Text(""), Text("advice", style="bold")]
        parts += [Text(f"• {a.text}") for a in advice]
    return Group(*parts)
