"""A hand-made run with known answers (worked out by hand in test_analysis.py)."""

from __future__ import annotations

from envctl.timing.history import RunMeta, RunRecord
from envctl.timing.spans import Span


def span(name, kind, start, end, service=None, after=(), outcome="ok", task=None, **attrs):
    return Span(name, kind, start, end, outcome, service, {"task": task or name, "after": list(after), **attrs})


def sample_run(run_id: str = "20261129T070000Z-abcd") -> RunRecord:
    meta = RunMeta(
        run_id=run_id,
        started_at="2026-11-29T07:00:00Z",
        command="up --changed-only",
        git_commit="0123456789abcdef0123456789abcdef01234567",
        git_branch="feature",
        changed_services=("api", "web"),
        ci=True,
        host="runner-1",
        envctl_version="0.1.0",
        outcome="ok",
        exit_code=0,
        duration_seconds=20.5,
    )
    spans = (
        span("plan", "plan", 0.0, 0.5),
        span("cluster", "cluster", 0.0, 10.0, action="created"),
        span("build:api", "build", 0.5, 4.0, "api", ["plan"], cache_hit=False, backend="buildkit"),
        span("build:web", "build", 0.5, 6.0, "web", ["plan"], cache_hit=True, backend="buildkit"),
        span("load:api", "load", 10.0, 13.0, "api", ["build:api", "cluster"], load_mode="import",
             bytes_moved=100_000_000, bytes_new=8_000_000),
        span("load:web", "load", 10.0, 12.0, "web", ["build:web", "cluster"], load_mode="import",
             bytes_moved=50_000_000, bytes_new=2_000_000),
        span("deploy", "deploy", 13.0, 15.0, None, ["load:api", "load:web"]),
        span("wait", "wait", 15.0, 20.0, None, ["deploy"]),
    )
    return RunRecord(meta, tuple(sorted(spans, key=lambda s: (s.start, s.end))))
