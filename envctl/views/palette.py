"""The one colour table of the timing views: the terminal waterfall (rich) and the SVG picture.

Hex colours, which rich renders on true-colour terminals and downsamples elsewhere, so a phase
has the same colour in `envctl timings` and in `envctl timings --svg`.
"""

from __future__ import annotations

__all__ = ["CRITICAL_COLOUR", "PHASE_COLOURS", "phase_colour"]

PHASE_COLOURS = {
    "plan": "#8c8c8c",
    "cluster": "#1f77b4",
    "pull": "#17becf",
    "build": "#ff7f0e",
    "load": "#9467bd",
    "deploy": "#2ca02c",
    "wait": "#bcbd22",
    "envctl-overhead": "#7f7f7f",
}
CRITICAL_COLOUR = "#d62728"
_UNKNOWN = "#555555"


def phase_colour(kind: str) -> str:
    return PHASE_COLOURS.get(kind, _UNKNOWN)
