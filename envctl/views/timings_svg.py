"""The waterfall as a standalone SVG picture (`envctl timings --svg FILE`).

One bar per span on a shared time axis, rows grouped by phase under a phase heading, bars coloured
by phase, the critical path outlined in red, failed/cancelled bars hatched, a label and duration
on each row, and the totals by tool in the footer. Plain SVG 1.1: no scripts, no external fonts.
"""

from __future__ import annotations

import math
from xml.sax.saxutils import escape

from envctl.timing.analysis import PHASE_LABEL, PHASE_ORDER, RunAnalysis
from envctl.timing.history import RunRecord
from envctl.views.palette import CRITICAL_COLOUR, phase_colour

__all__ = ["waterfall_svg"]
_WIDTH, _LABEL_W, _ROW_H, _TOP, _RIGHT = 1000, 250, 22, 70, 90


def _nice_step(span: float) -> float:
    raw = span / 8 if span > 0 else 1.0
    power = 10.0 ** math.floor(math.log10(raw))
    return next(m * power for m in (1, 2, 5, 10) if m * power >= raw)


def waterfall_svg(run: RunRecord, analysis: RunAnalysis) -> str:
    wall = max(analysis.wall_seconds, 1e-3)
    chart_w = _WIDTH - _LABEL_W - _RIGHT

    def x(t: float) -> float:
        return _LABEL_W + chart_w * t / wall

    rows: list[str] = []
    y = _TOP
    kinds = sorted({s.kind for s in run.spans}, key=lambda k: PHASE_ORDER.index(k) if k in PHASE_ORDER else 99)
    for kind in kinds:
        colour = phase_colour(kind)
        rows.append(
            f'<text x="8" y="{y + 15}" class="phase" fill="{colour}">{escape(PHASE_LABEL.get(kind, kind))}</text>'
        )
        y += _ROW_H
        for span in (s for s in run.spans if s.kind == kind):
            critical = analysis.is_critical(span)
            left, right = x(span.start), max(x(span.end), x(span.start) + 2)
            label = escape(span.service or span.name)
            fill = "url(#hatch)" if span.outcome in ("failed", "cancelled") else colour
            opacity = "0.45" if span.outcome == "skipped" else "1"
            stroke = f' stroke="{CRITICAL_COLOUR}" stroke-width="3"' if critical else ""
            rows.append(f'<text x="24" y="{y + 15}" class="label">{label}</text>')
            rows.append(
                f'<rect x="{left:.1f}" y="{y + 3}" width="{right - left:.1f}" height="{_ROW_H - 6}" '
                f'fill="{fill}" fill-opacity="{opacity}" rx="2"{stroke}>'
                f"<title>{escape(span.name)}: {span.seconds:.2f} s, {span.outcome}</title></rect>"
            )
            note = f"{span.seconds:.1f} s" + ("" if span.outcome == "ok" else f" {span.outcome}")
            rows.append(f'<text x="{right + 4:.1f}" y="{y + 15}" class="dur">{escape(note)}</text>')
            y += _ROW_H
    chart_bottom = y + 4

    axis: list[str] = []
    step = _nice_step(wall)
    tick = 0.0
    while tick <= wall + 1e-9:
        tx = x(tick)
        axis.append(f'<line x1="{tx:.1f}" y1="{_TOP - 6}" x2="{tx:.1f}" y2="{chart_bottom}" class="grid"/>')
        axis.append(f'<text x="{tx:.1f}" y="{_TOP - 10}" class="tick" text-anchor="middle">{tick:g} s</text>')
        tick += step

    totals = "time by tool:  " + "  ·  ".join(f"{tool} {secs:.1f} s" for tool, secs in analysis.tools)
    height = chart_bottom + 50
    meta = run.meta
    title = f"envctl {meta.command} — run {meta.run_id} — {meta.outcome}, {analysis.wall_seconds:.1f} s"
    return "\n".join(
        [
            (
                f'<svg xmlns="http://www.w3.org/2000/svg" width="{_WIDTH}" height="{height}" '
                f'viewBox="0 0 {_WIDTH} {height}">'
            ),
            (
                '<defs><pattern id="hatch" width="6" height="6" patternUnits="userSpaceOnUse" '
                'patternTransform="rotate(45)"><rect width="6" height="6" fill="#f2b8b8"/>'
                '<line x1="0" y1="0" x2="0" y2="6" stroke="#b22222" stroke-width="3"/></pattern></defs>'
            ),
            (
                "<style>text{font-family:DejaVu Sans,Arial,sans-serif}.title{font-size:16px;font-weight:bold}"
                ".phase{font-size:13px;font-weight:bold}.label{font-size:12px;fill:#222}.dur{font-size:11px;fill:#444}"
                ".tick{font-size:11px;fill:#555}.grid{stroke:#e3e3e3;stroke-width:1}.foot{font-size:12px;fill:#222}</style>"
            ),
            f'<rect width="{_WIDTH}" height="{height}" fill="#ffffff"/>',
            f'<text x="8" y="24" class="title">{escape(title)}</text>',
            *axis,
            *rows,
            (
                f'<rect x="8" y="{chart_bottom + 14}" width="14" height="10" fill="none" '
                f'stroke="{CRITICAL_COLOUR}" stroke-width="3"/>'
            ),
            f'<text x="28" y="{chart_bottom + 24}" class="foot">critical path</text>',
            f'<text x="130" y="{chart_bottom + 24}" class="foot">{escape(totals)}</text>',
            "</svg>",
            "",
        ]
    )
