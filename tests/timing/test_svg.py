"""The SVG waterfall, rendered to PNG and looked at the way a person would."""

from __future__ import annotations

import shutil
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from PIL import Image

from envctl.timing.analysis import analyze
from envctl.timing.history import RunRecord
from envctl.views.palette import CRITICAL_COLOUR, PHASE_COLOURS
from envctl.views.timings_svg import waterfall_svg
from tests.timing.sample import sample_run, span


def _hex(colour: str) -> tuple[int, int, int]:
    return tuple(int(colour[i : i + 2], 16) for i in (1, 3, 5))  # type: ignore[return-value]


def _with_failure() -> RunRecord:
    base = sample_run()
    extra = (
        span("build:worker", "build", 0.5, 2.5, "worker", ["plan"], "failed", error="exit 1"),
        span("load:worker", "load", 2.5, 2.5, "worker", ["build:worker"], "cancelled", reason="dependency build:worker failed"),
    )
    return RunRecord(base.meta, tuple(sorted(base.spans + extra, key=lambda s: (s.start, s.end))))


def test_svg_is_valid_xml_with_one_bar_per_span():
    run = _with_failure()
    root = ET.fromstring(waterfall_svg(run, analyze(run)))  # noqa: S314 - the SVG envctl just wrote
    bars = [r for r in root.iter("{http://www.w3.org/2000/svg}rect") if r.find("{http://www.w3.org/2000/svg}title") is not None]
    assert len(bars) == len(run.spans)
    outlined = [b for b in bars if b.get("stroke") == CRITICAL_COLOUR]
    assert [b.find("{http://www.w3.org/2000/svg}title").text.split(": ")[0] for b in outlined] == ["cluster", "load:api", "deploy", "wait"]


@pytest.mark.skipif(shutil.which("rsvg-convert") is None, reason="needs rsvg-convert (apt-get install librsvg2-bin)")
def test_rendered_waterfall_shows_coloured_bars_on_a_shared_axis(tmp_path: Path):
    run = _with_failure()
    svg = tmp_path / "w.svg"
    svg.write_text(waterfall_svg(run, analyze(run)))
    png = tmp_path / "w.png"
    subprocess.run(["rsvg-convert", "-o", str(png), str(svg)], check=True)
    image = Image.open(png).convert("RGB")
    assert image.size[0] == 1000 and 400 <= image.size[1] <= 700
    pixels = image.load()
    width, height = image.size

    def columns_of(colour: str, tolerance: int = 0) -> list[int]:
        r, g, b = _hex(colour)
        def near(p):
            return abs(p[0] - r) + abs(p[1] - g) + abs(p[2] - b) <= tolerance
        # Only the chart area: phase headings on the left are drawn in the phase colours too.
        return sorted({x for x in range(240, width) for y in range(0, height, 2) if near(pixels[x, y])})

    cluster = columns_of(PHASE_COLOURS["cluster"])
    wait = columns_of(PHASE_COLOURS["wait"])
    build = columns_of(PHASE_COLOURS["build"])
    assert cluster and wait and build, "bars of each phase are drawn"
    assert cluster[0] < build[0] < cluster[-1]  # builds overlap the cluster bar on the shared axis
    assert wait[0] > cluster[-1]  # readiness comes after the cluster, to the right
    assert len(cluster) > 3 * len(columns_of(PHASE_COLOURS["deploy"]))  # 10 s bar vs 2 s bar
    assert len(columns_of(CRITICAL_COLOUR)) > 100  # the critical path outline is visible
    hatched = columns_of("#f2b8b8", tolerance=12)  # the pale ground between the (anti-aliased) stripes
    assert 40 <= len(hatched) <= 80, "the failed 2 s build is hatched over about 2/20.5 of the 660 px axis"
