"""The terminal waterfall: one bar per span on a shared axis, grouped by phase, critical path marked."""

from __future__ import annotations

from rich.console import Console

from envctl.timing.advice import advise
from envctl.timing.analysis import analyze, compare_runs
from envctl.views.timings import timings_view
from tests.timing.sample import sample_run
from tests.timing.test_svg import _with_failure


def render(renderable) -> list[str]:
    console = Console(width=150, record=True, color_system=None)
    console.print(renderable)
    return console.export_text().splitlines()


def test_waterfall_rows_share_one_time_axis():
    run = sample_run()
    analysis = analyze(run)
    lines = render(timings_view(run, analysis, advise(run, analysis), compare_runs([run, run]), 2))
    cluster = next(line for line in lines if line.startswith("★ cluster"))
    wait = next(line for line in lines if line.startswith("★ wait"))
    web_build = next(line for line in lines if line.startswith("  web") and "5.5" in line)
    assert cluster.index("█") < web_build.index("█") < cluster.rindex("█")  # builds overlap the cluster
    assert wait.index("█") > cluster.rindex("█")  # readiness after the cluster on the same axis
    assert cluster.rindex("█") - cluster.index("█") > 1.5 * (wait.rindex("█") - wait.index("█"))  # 10 s vs 5 s
    headings = [line.strip() for line in lines if line.strip() in ("plan", "cluster", "image build", "image load", "deploy", "pod readiness")]
    assert headings == ["plan", "cluster", "image build", "image load", "deploy", "pod readiness"]
    assert "★ critical path: cluster 10.0 s → load:api 3.0 s → deploy 2.0 s → wait 5.0 s" in lines
    assert any(line.startswith("• cluster is 49% of the critical path") for line in lines)


def test_failed_and_cancelled_steps_say_why():
    run = _with_failure()
    lines = render(timings_view(run, analyze(run)))
    assert any("worker" in line and line.rstrip().endswith("failed") for line in lines)
    assert any("worker" in line and "cancelled (dependency build:worker failed)" in line for line in lines)
