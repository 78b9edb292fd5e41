"""Analysis on hand-made spans whose answers were worked out by hand."""

from __future__ import annotations

import pytest

from envctl.timing.advice import advise
from envctl.timing.analysis import analyze, compare_runs, critical_path, p95, union_seconds
from envctl.timing.history import RunMeta, RunRecord
from envctl.timing.spans import Span
from tests.timing.sample import sample_run, span


def test_critical_path_follows_the_dependency_that_ended_last():
    analysis = analyze(sample_run())
    # wait ← deploy ← load:api (ends 13 > load:web 12) ← cluster (ends 10 > build:api 4)
    assert [s.name for s in analysis.critical] == ["cluster", "load:api", "deploy", "wait"]
    assert analysis.critical_by_phase == (
        ("cluster", 10.0),
        ("wait", 5.0),
        ("load", 3.0),
        ("deploy", 2.0),
        ("envctl-overhead", 0.5),  # 20.5 s wall - 20 s of path spans
    )


def test_without_edges_the_path_is_the_chain_of_spans_ending_last():
    spans = [Span("a", "build", 0, 2), Span("b", "cluster", 0, 5), Span("c", "deploy", 5, 7), Span("d", "plan", 5.5, 6)]
    assert [s.name for s in critical_path(spans)] == ["b", "c"]
    assert critical_path([]) == []


def test_a_task_recorded_as_several_spans_joins_the_path_by_its_last_one():
    spans = [
        span("load api → server-0", "load", 0, 3, "api", task="load:api"),
        span("load api → agent-0", "load", 0, 4, "api", task="load:api"),
        span("deploy", "deploy", 4, 5, None, ["load:api"]),
    ]
    assert [s.name for s in critical_path(spans)] == ["load api → agent-0", "deploy"]


def test_totals_by_tool_count_parallel_work_once_and_overhead_is_the_uncovered_rest():
    analysis = analyze(sample_run())
    assert dict(analysis.tools) == {
        "k3d": 10.0,
        "docker": pytest.approx(8.5),  # builds 0.5–6 and loads 10–13, parallel bars counted once
        "helm": 2.0,
        "pod readiness": 5.0,
        "envctl overhead": pytest.approx(1.0),  # 0.5 s after the last span + the 0.5 s plan under the cluster bar
    }
    assert analysis.phases == (
        ("plan", 0.5, "ok"),
        ("cluster", 10.0, "ok"),
        ("build", 5.5, "ok"),
        ("load", 3.0, "ok"),
        ("deploy", 2.0, "ok"),
        ("wait", 5.0, "ok"),
    )
    assert union_seconds([(0, 2), (1, 3), (5, 6), (5.5, 5.7)]) == 4.0


def test_advice_names_the_bottleneck_with_its_figures():
    run = sample_run()
    history = [sample_run(f"20261129T06000{i}Z-abcd") for i in range(3)]
    texts = [a.text for a in advise(run, analyze(run), history)]
    assert texts == [
        "cluster is 49% of the critical path (10.0 s of 20.5 s)",
        ("2 of 2 loads were imports of mostly unchanged layers (150.0 MB moved, 10.0 MB new) — registry load mode "
        "would move 93% fewer bytes (set `load: {mode: registry}` in envctl.yaml)"),
        ("1 of 2 builds had no cache hits (3.5 s of build time) — keep a BuildKit layer cache between runs "
        "(`build.cache_from`/`cache_to`: type=gha in CI, a local directory on a laptop)"),
        ("the cluster was created this run (10.0 s, 49% of the critical path; created in 3 of the last 3 runs) — "
        "keep it between runs (`envctl down` without --delete-cluster) so `envctl up` reuses it"),
    ]


def test_a_fast_reused_run_gets_no_advice():
    meta = RunMeta(run_id="r", started_at="t", command="up", duration_seconds=1.2)
    spans = (
        span("cluster", "cluster", 0.0, 0.3, action="reused"),
        span("build:api", "build", 0.0, 0.1, "api", outcome="skipped"),
        span("wait", "wait", 0.3, 1.1, None, ["cluster"]),
    )
    run = RunRecord(meta, spans)
    assert advise(run, analyze(run)) == []


def _run(index: int, build: float, deploy: float) -> RunRecord:
    meta = RunMeta(run_id=f"2026112{index}", started_at="t", command="up", duration_seconds=build + deploy)
    return RunRecord(meta, (span("build:api", "build", 0, build, "api"), span("deploy", "deploy", build, build + deploy)))


def test_compare_gives_median_p95_and_flags_only_real_regressions():
    runs = [_run(0, 2.0, 0.2), _run(1, 2.2, 0.25), _run(2, 1.8, 0.2), _run(3, 4.0, 0.5)]
    stats = {(s.kind, s.service): s for s in compare_runs(runs)}
    build = stats[("build", None)]
    assert (build.runs, build.median, build.p95, build.latest, build.baseline) == (4, pytest.approx(2.1), 4.0, 4.0, 2.0)
    assert build.regression  # 4.0 ≥ 1.5 × 2.0 and 2 s more
    assert stats[("build", "api")].regression and stats[("build", "api")].label == "api build"
    deploy = stats[("deploy", None)]
    assert deploy.latest / deploy.baseline == pytest.approx(2.5) and not deploy.regression  # only 0.3 s more: noise
    assert stats[("total", None)].regression
    assert [s.label for s in compare_runs(runs)][:3] == ["total", "image build", "deploy"]
    assert not any(s.regression for s in compare_runs([*runs[:1], _run(3, 9.0, 0.2)]))  # one earlier run is no baseline


def test_p95_is_nearest_rank():
    assert p95(list(range(1, 21))) == 19
    assert p95([3.0]) == 3.0
    assert p95([1, 2, 3, 4, 100]) == 100


def test_a_phase_that_did_work_is_ok_even_when_some_of_its_steps_were_skipped():
    meta = RunMeta(run_id="20261129T070000Z-cccc", started_at="2026-11-29T07:00:00Z", command="up", outcome="ok")
    spans = (
        span("load:api", "load", 0.0, 9.0, "api", load_mode="import", bytes_moved=402_000_000),
        span("load:web", "load", 0.0, 0.1, "web", outcome="skipped", reason="node has the image"),
        span("build:web", "build", 0.0, 0.1, "web", outcome="skipped"),
        span("wait:a", "wait", 9.0, 10.0, outcome="cancelled"),
        span("wait:b", "wait", 9.0, 9.5),
    )
    phases = {kind: outcome for kind, _, outcome in analyze(RunRecord(meta, spans)).phases}
    assert phases == {"load": "ok", "build": "skipped", "wait": "cancelled"}
