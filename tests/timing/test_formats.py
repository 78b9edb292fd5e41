"""Golden tests for the JSON contract, markdown and Chrome trace; CI outputs; the end-of-run lines.

Regenerate goldens after an intended change with ENVCTL_UPDATE_GOLDEN=1 and review the diff.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from envctl.execute import CiOutputs, write_ci_outputs
from envctl.timing.advice import advise
from envctl.timing.analysis import analyze, compare_runs
from envctl.timing.history import RunRecord
from envctl.views.timings_formats import chrome_trace, markdown, phase_summary_lines, timings_json
from tests.timing.sample import sample_run, span

GOLDEN = Path(__file__).parent / "golden"


def _slower(run_id: str) -> RunRecord:
    base = sample_run(run_id)
    spans = tuple(span(s.name, s.kind, s.start, s.end + (4.0 if s.name == "wait" else 0.0), s.service,
                       s.attrs["after"], s.outcome, **{k: v for k, v in s.attrs.items() if k not in ("task", "after")})
                  for s in base.spans)
    return RunRecord(base.meta.finish("ok", 0, 24.5), spans)


def _check(name: str, text: str) -> None:
    path = GOLDEN / name
    if os.environ.get("ENVCTL_UPDATE_GOLDEN"):
        path.write_text(text, encoding="utf-8")
    assert text == path.read_text(encoding="utf-8"), f"{name} changed; review and regenerate with ENVCTL_UPDATE_GOLDEN=1"


@pytest.fixture
def compared():
    runs = [sample_run(f"20261129T06000{i}Z-abcd") for i in range(3)] + [_slower("20261129T070000Z-abcd")]
    run = runs[-1]
    analysis = analyze(run)
    return run, analysis, advise(run, analysis, runs), runs, compare_runs(runs)


def test_json_contract_is_pinned(compared):
    run, analysis, advice, runs, stats = compared
    data = timings_json(run, analysis, advice, (runs, stats), [Path("/ws/.envctl/runs/broken.json")])
    assert data["version"] == 1 and set(data) == {"version", "run", "compare", "unreadable"}
    _check("timings.json", json.dumps(data, indent=2) + "\n")


def test_markdown_is_pinned(compared):
    run, analysis, advice, _, stats = compared
    text = markdown(run, analysis, advice, stats)
    assert "| pod readiness | 9.0 | ok | 9.0 |" in text and "⚠ regression" in text
    _check("timings.md", text)


def test_chrome_trace_is_pinned_and_well_formed():
    run = sample_run()
    trace = chrome_trace(run, analyze(run))
    complete = [e for e in trace["traceEvents"] if e["ph"] == "X"]
    assert len(complete) == len(run.spans)
    load_api = next(e for e in complete if e["name"] == "load:api")
    assert (load_api["ts"], load_api["dur"], load_api["args"]["critical"]) == (10_000_000, 3_000_000, True)
    names = {(e["pid"], e["tid"]): e["args"]["name"] for e in trace["traceEvents"] if e["name"] == "thread_name"}
    assert names[(load_api["pid"], load_api["tid"])] == "api"
    _check("trace.json", json.dumps(trace, indent=1) + "\n")


def test_phase_summary_lines_one_per_phase():
    assert phase_summary_lines(sample_run()) == [
        "plan               0.5 s  ok",
        "cluster           10.0 s  ok",
        "image build        5.5 s  ok",
        "image load         3.0 s  ok",
        "deploy             2.0 s  ok",
        "pod readiness      5.0 s  ok",
        "total             20.5 s  ok",
    ]


def test_ci_outputs_go_to_the_github_files_only_when_set(tmp_path: Path):
    run = sample_run()
    assert write_ci_outputs(run, {}) == CiOutputs()
    summary, outputs = tmp_path / "summary.md", tmp_path / "output"
    outputs.write_text("needs_cluster=true\n")
    written = write_ci_outputs(run, {"GITHUB_STEP_SUMMARY": str(summary), "GITHUB_OUTPUT": str(outputs)})
    assert written == CiOutputs((summary, outputs))
    assert summary.read_text().startswith("### envctl `up --changed-only` — ok, 20.5 s\n")
    assert outputs.read_text().splitlines() == [
        "needs_cluster=true",
        'changed_services=["api","web"]',
        "duration_seconds=20.5",
        "run_id=20261129T070000Z-abcd",
    ]


def test_a_ci_file_that_cannot_be_written_is_a_problem_not_an_error_and_the_other_is_written(tmp_path: Path):
    outputs = tmp_path / "output"
    done = write_ci_outputs(sample_run(), {"GITHUB_STEP_SUMMARY": "/dev/full", "GITHUB_OUTPUT": str(outputs)})
    assert done.written == (outputs,)
    assert done.problems == ("CI output /dev/full not written: No space left on device",)
    assert outputs.read_text().splitlines()[-1] == "run_id=20261129T070000Z-abcd"


def test_the_ci_summary_carries_the_advice(tmp_path: Path):
    summary = tmp_path / "summary.md"
    write_ci_outputs(sample_run(), {"GITHUB_STEP_SUMMARY": str(summary)})
    assert "- cluster is 49% of the critical path (10.0 s of 20.5 s)" in summary.read_text().splitlines()
